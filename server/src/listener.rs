//! Accepting connections: the only place that calls `accept`.
//!
//! # `-c` (max connections)
//!
//! memcached 1.6.18 with `maxconns_fast` (its default) accepts every
//! connection, and past the limit writes `ERROR Too many open
//! connections\r\n`, closes it and counts `rejected_connections`. We do the
//! same, with one difference: memcached compares the new socket's *file
//! descriptor number* with `maxconns - 1`, so its real limit is `-c` minus
//! the descriptors it already holds (listeners, epoll, thread pipes: with
//! `-t 4`, `-c 100` admits 75 clients and `-c 30` admits 5; `-c 10` does not
//! even start). ringcache counts client connections exactly: `-c N` admits
//! N clients and refuses the N+1th.
//!
//! Because memcached's rule needs the connection accepted first, the permit
//! is taken *after* `accept` (a `try_acquire` that never waits), not before
//! as mini-redis does; a refused client still gets its error line.
//!
//! With TLS, each connection's task runs the handshake (under a timeout)
//! before the connection loop; a failed handshake ends that connection
//! only and counts in `tls_handshake_errors`.
//!
//! Accept errors (EMFILE, ENFILE, ECONNABORTED...) are logged, backed off
//! (10 ms doubling to 1 s, cut short when one of our connections closes and
//! frees a descriptor) and retried; a cache node never exits over them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

use crate::conn;
use crate::exec::Execute;
use crate::metrics;
use crate::shutdown::Shutdown;
use crate::store::now_unix;
use crate::store::stats::Counter;
use crate::tls;
use crate::ServeConfig;

/// Connection counters shown by `stats` (`curr_connections`,
/// `total_connections`, `rejected_connections`, `bytes_read`,
/// `bytes_written`) and the registry behind `stats conns`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub(crate) curr: Counter,
    pub(crate) total: Counter,
    pub(crate) rejected: Counter,
    pub(crate) bytes_read: Counter,
    pub(crate) bytes_written: Counter,
    /// Batches cut short by the per-batch request cap (`conn_yields`).
    pub(crate) yields: Counter,
    /// TLS handshakes that failed or timed out (`ssl_handshake_errors`).
    pub(crate) tls_handshake_errors: Counter,
    /// Open connections by id (the socket's file descriptor, as memcached
    /// numbers them). Locked only when a connection opens or closes and by
    /// `stats conns`.
    registry: Mutex<BTreeMap<i64, ConnEntry>>,
    /// The listening socket: (id, local address, unix second it started).
    listener: Mutex<Option<ListenerEntry>>,
    /// Signalled when a connection closes: an accept loop out of file
    /// descriptors retries at once instead of waiting out its backoff
    /// (memcached likewise re-enables accepting when a connection closes).
    closed: Notify,
}

/// The listening socket as `stats conns` shows it: id, local address,
/// unix second it started listening.
pub(crate) type ListenerEntry = (i64, SocketAddr, u64);

/// What `stats conns` shows for one client connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnEntry {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) activity: Arc<Activity>,
}

/// A connection's live state, written by its task once per batch.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Unix second of the last batch of commands.
    pub(crate) last_cmd: AtomicU64,
    /// Executing a batch now (memcached's `conn_parse_cmd`, else
    /// `conn_read`).
    pub(crate) busy: AtomicBool,
}

impl ConnStats {
    /// Connections open now.
    pub fn current(&self) -> u64 {
        self.curr.get()
    }

    /// Connections refused past `-c` since start (or `stats reset`).
    pub fn rejected(&self) -> u64 {
        self.rejected.get()
    }

    /// Connections admitted since start (or `stats reset`); refused ones
    /// are not included, as in memcached.
    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// TLS handshakes that failed or timed out since start.
    pub fn tls_handshake_errors(&self) -> u64 {
        self.tls_handshake_errors.get()
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.total,
            &self.rejected,
            &self.bytes_read,
            &self.bytes_written,
            &self.yields,
        ] {
            c.reset();
        }
    }

    fn register(&self, id: i64, entry: ConnEntry) {
        if let Ok(mut map) = self.registry.lock() {
            map.insert(id, entry);
        }
    }

    fn unregister(&self, id: i64) {
        if let Ok(mut map) = self.registry.lock() {
            map.remove(&id);
        }
    }

    /// The listener and the open connections, for `stats conns`.
    pub(crate) fn snapshot(&self) -> (Option<ListenerEntry>, Vec<(i64, ConnEntry)>) {
        let listener = self.listener.lock().ok().and_then(|l| *l);
        let conns = self
            .registry
            .lock()
            .map(|m| m.iter().map(|(id, e)| (*id, e.clone())).collect())
            .unwrap_or_default();
        (listener, conns)
    }
}

/// A connection's id: its file descriptor where there is one.
#[cfg(unix)]
fn id_of(socket: &impl std::os::fd::AsRawFd, _fallback: i64) -> i64 {
    i64::from(socket.as_raw_fd())
}

#[cfg(not(unix))]
fn id_of<T>(_socket: &T, fallback: i64) -> i64 {
    fallback
}

/// Decrements `curr_connections` and leaves the registry when a connection
/// task ends, however it ends.
struct OpenGuard {
    stats: Arc<ConnStats>,
    id: i64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.stats.unregister(self.id);
        self.stats.curr.decr();
        self.stats.closed.notify_one();
        metrics::connection_open(-1.0);
    }
}

const REJECT_LINE: &[u8] = b"ERROR Too many open connections\r\n";

/// Accepts until cancelled, spawning one tracked task per connection.
pub(crate) async fn run<E: Execute>(
    listener: TcpListener,
    exec: Arc<E>,
    config: Arc<ServeConfig>,
    shutdown: Shutdown,
) {
    let permits = Arc::new(Semaphore::new(config.max_conns));
    let stats = Arc::clone(&config.conn_stats);
    let mut backoff = Duration::from_millis(10);
    if let (Ok(local), Ok(mut slot)) = (listener.local_addr(), stats.listener.lock()) {
        *slot = Some((id_of(&listener, 0), local, now_unix()));
    }
    let mut next_id: i64 = 1 << 32;
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.token().cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(10);
                pair
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "accept failed; retrying");
                tokio::select! {
                    () = shutdown.token().cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                    () = stats.closed.notified() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            stats.rejected.incr();
            metrics::connection_accepted(true);
            tracing::debug!(%peer, "refusing connection past -c");
            shutdown.tracker().spawn(reject(stream));
            continue;
        };
        metrics::connection_accepted(false);
        // Refused connections are not counted here: memcached closes them
        // before conn_new(), which is where total_connections moves.
        stats.total.incr();
        stats.curr.incr();
        metrics::connection_open(1.0);
        next_id += 1;
        let id = id_of(&stream, next_id);
        let activity = Arc::new(Activity::default());
        activity.last_cmd.store(now_unix(), Ordering::Relaxed);
        stats.register(
            id,
            ConnEntry {
                peer,
                local: stream.local_addr().unwrap_or(peer),
                activity: Arc::clone(&activity),
            },
        );
        let guard = OpenGuard {
            stats: Arc::clone(&stats),
            id,
        };
        let exec = Arc::clone(&exec);
        let config = Arc::clone(&config);
        let token = shutdown.token().clone();
        shutdown.tracker().spawn(async move {
            let _permit = permit;
            let _guard = guard;
            let _ = stream.set_nodelay(true);
            let result = match &config.tls {
                None => conn::run(stream, &*exec, &config, token, &activity).await,
                Some(server_tls) => {
                    let handshake = tokio::select! {
                        () = token.cancelled() => return,
                        handshake = tls::handshake(server_tls, stream) => handshake,
                    };
                    match handshake {
                        Ok(stream) => conn::run(stream, &*exec, &config, token, &activity).await,
                        Err(error) => {
                            config.conn_stats.tls_handshake_errors.incr();
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

/// memcached's `maxconns_fast` refusal: one error line, then close. Bounded
/// by a short timeout so a peer that does not read cannot hold the task.
async fn reject(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(REJECT_LINE).await?;
        stream.shutdown().await
    })
    .await;
}
