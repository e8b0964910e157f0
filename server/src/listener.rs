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
//! Accept errors (EMFILE, ENFILE, ECONNABORTED...) are logged, backed off
//! (10 ms doubling to 1 s) and retried; a cache node never exits over them.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::conn;
use crate::exec::Execute;
use crate::metrics;
use crate::shutdown::Shutdown;
use crate::store::stats::Counter;
use crate::ServeConfig;

/// Connection counters shown by `stats` (`curr_connections`,
/// `total_connections`, `rejected_connections`, `bytes_read`,
/// `bytes_written`).
#[derive(Debug, Default)]
pub struct ConnStats {
    pub(crate) curr: Counter,
    pub(crate) total: Counter,
    pub(crate) rejected: Counter,
    pub(crate) bytes_read: Counter,
    pub(crate) bytes_written: Counter,
    /// Batches cut short by the per-batch request cap (`conn_yields`).
    pub(crate) yields: Counter,
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
}

/// Decrements `curr_connections` when a connection task ends, however it
/// ends.
struct OpenGuard(Arc<ConnStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.curr.decr();
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
        let guard = OpenGuard(Arc::clone(&stats));
        let exec = Arc::clone(&exec);
        let config = Arc::clone(&config);
        let token = shutdown.token().clone();
        shutdown.tracker().spawn(async move {
            let _permit = permit;
            let _guard = guard;
            if let Err(error) = conn::run(stream, &*exec, &config, token).await {
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
