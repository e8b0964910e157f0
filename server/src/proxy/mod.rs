//! `ringcache proxy`: one memcached endpoint in front of the whole cluster,
//! for applications in any language (what twemproxy and mcrouter do).
//!
//! ```text
//! ringcache proxy --nodes 10.0.0.5:11211,10.0.0.6:11211,10.0.0.7:11211
//! ringcache proxy --nodes-file /etc/ringcache/nodes   # edits picked up live
//! ringcache proxy --dns cache.default.svc.cluster.local:11211 --ring ketama
//! ```
//!
//! Point any memcached client at `127.0.0.1:11311` (`-p`, `-l`): it sees one
//! memcached 1.6 server speaking the text and meta protocols.
//!
//! # How it works
//!
//! The proxy is a node whose executor is the smart client: the same
//! listener and connection loop as `ringcache node` ([`crate::serve_with`]),
//! with [`Proxy`] as the [`Execute`] implementation.
//!
//! ```text
//!  client ─▶ conn.rs (parse, batch, noreply/q) ─▶ Proxy::execute
//!                                                  │
//!        ┌──────────── single key ─────────────────┤ ring lookup (ringcache-client)
//!        │                                         │
//!        ▼                                         ▼
//!   node of the key                     get/gets/gat/gats k1 k2 ...: one request
//!                                       per node, in parallel, merged back in
//!                                       the request's key order
//! ```
//!
//! - **Single-key commands** (storage, `delete`, `incr`/`decr`, `touch`,
//!   `mg ms md ma me`) go to the key's node (its replicas, with
//!   `--replicas`) through the client's `execute`. Classic `noreply` and meta `q`
//!   are taken off before forwarding (the client pipelines only requests
//!   that always get one reply) and applied again by the connection loop
//!   on the way back, so the application sees memcached's quiet
//!   semantics.
//! - **Multi-key reads** are split per node, sent in parallel, and merged in
//!   the request's key order. A node that fails turns its keys into misses;
//!   the other nodes' values are still returned.
//! - **`flush_all`** goes to every node (`OK` only if every node said `OK`).
//! - **Answered by the proxy itself**: `version` (memcached's version, like
//!   a node), `verbosity`, `mn`, `quit`, and `stats` (the proxy's own
//!   counters: see `stats.rs`).
//! - **Failures**: the client's policy decides (`--failure-policy`, default
//!   eject: after a few consecutive failures a node's keys go to the next
//!   node of the ring until a probe finds it back). Until then, and for any
//!   other backend failure, reads answer a miss and everything else
//!   `SERVER_ERROR <reason>`, the way memcached reports a server-side
//!   failure. A backend failure never closes the application's connection.
//! - **Membership** from `--nodes` (fixed), `--nodes-file` (polled) or
//!   `--dns` (re-resolved), through the client's membership sources; a
//!   change swaps the ring whole and moves only the keys it must.
//! - **Warm rebalancing** (`--warmup SECS`, default 30): after a ring
//!   change, a read whose key moved and misses at its new node is answered
//!   by the previous one and the item copied over (flags and remaining
//!   TTL kept), so a scale-out does not send the moved share of reads to
//!   the database; deletes reach both. A node that leaves the list while
//!   still up is drained in the background: its items, most recently used
//!   first, are copied to their new owners during the window (`--no-drain`
//!   to skip; keep the node up that long). See `ringcache_client`'s
//!   `warmup` and `drain` modules.
//! - **Replicas** (`--replicas N`): every write reaches N nodes of the
//!   key's replica walk, reads fall through them on a miss or a failure
//!   (and repair the ones that missed), deletes reach all N.
//! - **Hot keys**: the client counts reads, spreads the reads of its
//!   hottest keys over their replicas and, with `--hot-near-ttl MS`,
//!   serves them from memory for that long.
//!
//! A connection's pipelined requests are forwarded together, a window of
//! up to 64 at a time (`Execute::WINDOW`), and answered in request order: a
//! client that pipelines 100 `get`s waits about one backend round trip per
//! window, not 100. Two requests that name the same key never share a
//! window, so a `set` followed by a `get` of that key reads what it wrote;
//! a command that names no key (`flush_all`, `stats`, `mn`...) runs alone,
//! after everything before it. All connections share the client's
//! pipelined backend connections, whose writes batch every request waiting
//! at that moment.
//!
//! # Operating it
//!
//! - `-t 1` runs the proxy on a current-thread runtime (the fastest choice
//!   on a core shared with other processes); `-t N` on N worker threads.
//!   The proxy opens one connection per node per thread, each holding up
//!   to 1,024 requests in flight (the config file's `connections_per_node`
//!   and `max_in_flight` win).
//! - `--config FILE` is the client's TOML (timeouts, queue bounds,
//!   `failure_policy`, `failure_threshold`, probe intervals; see
//!   `ringcache_client::Config::from_toml`); flags win over it.
//! - `stats` shows `proxy_requests`, `cmd_get`/`get_hits`/`get_misses`,
//!   `backend_errors`, `ring_nodes`, `ring_scheme`, `ejected_nodes`,
//!   `ejections`, `warmup_active` (1 while a warm-up window is open),
//!   `hot_keys`, and per node `node_state:<host:port> up|ejected` and
//!   `node_errors:<host:port>`;
//!   `stats settings` the client's settings (`connections_per_node`,
//!   `max_in_flight`, `replicas`, `warmup_ms`, `drain_removed`,
//!   `hot_share`, `hot_near_ttl_ms`, `failover_ttl_ms`,
//!   `failover_journal_keys` among them); `stats
//!   reset` zeroes the counters.
//! - `--metrics ADDR:PORT` serves Prometheus text at `/metrics`: the
//!   node's `ringcache_commands_total{command,status}`, latency, protocol
//!   error and connection series, as seen by the proxy, plus the client's
//!   `ringcache_client_*` series (per-node requests by status and latency,
//!   ejections, probes, ring size, keys moved by membership changes); and
//!   the status page at `/status` (the ring, each node's share, health and
//!   hit ratio; see [`crate::status`]).
//!
//! # Layout
//!
//! - this file: [`Proxy`] (start-up, membership watch, [`Execute`]);
//! - `config.rs`: [`ProxyArgs`] (the command line), [`ProxyConfig`];
//! - `stats.rs`: the proxy's counters and its `stats` reply.
//!
//! # Left out
//!
//! - `cache_memlimit`, `shutdown` and memcached's other admin verbs answer
//!   `ERROR` (they are per node; talk to the node);
//! - `stats` groups other than the general block, `settings` and `reset`
//!   answer `ERROR`;
//! - `ma q` on a counter that `N` just created: a node withholds nothing
//!   there, the proxy cannot tell that case from the wire and withholds the
//!   `HD` like any quiet success.

mod config;
mod stats;

use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use ringcache_client::{
    Client, ClientBuilder, Error as ClientError, MembershipError, MembershipWatcher, NodeState,
};
use ringcache_protocol::{Delete, Gat, Get, Limits, Request, Response};

pub use self::config::{
    PolicyArg, ProxyArgs, ProxyConfig, RingArg, DEFAULT_PROXY_PORT, PROXY_MAX_IN_FLIGHT,
};

use self::stats::ProxyStats;
use crate::exec::{Execute, MEMCACHED_VERSION};
use crate::listener::ConnStats;
use crate::metrics::CommandCounters;
use crate::{serve_with, ServeConfig};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The membership source gave no node list at start-up.
    #[error("cannot read the node list: {0}")]
    Membership(#[from] MembershipError),
    /// The client refused its configuration or the node list.
    #[error("cannot build the client: {0}")]
    Client(#[from] ClientError),
}

/// The proxy's executor: every request goes through the smart client.
/// Cheap to clone (all state is shared).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ringcache_server::proxy::{Proxy, ProxyConfig};
/// use ringcache_server::serve_with;
///
/// let proxy = Proxy::start(ProxyConfig::with_nodes(["127.0.0.1:11211"])).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:11311").await?;
/// let config = proxy.serve_config();
/// serve_with(listener, proxy, config, tokio::signal::ctrl_c()).await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<ProxyInner>,
}

#[derive(Debug)]
struct ProxyInner {
    client: Client,
    stats: ProxyStats,
    conns: Arc<ConnStats>,
    commands: CommandCounters,
    max_conns: usize,
    /// TLS and authentication on the listener.
    security: crate::tls::Security,
    /// Kept for its lifetime: dropping it stops the membership watch.
    watcher: Mutex<Option<MembershipWatcher>>,
}

impl Proxy {
    /// Reads the membership source once, builds the client (which starts
    /// connecting to every node in the background) and starts watching the
    /// source for changes (nodes file, DNS).
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ProxyError::Membership`] when the source gives no node list now
    /// (unreadable file, failed lookup, empty list);
    /// [`ProxyError::Client`] when the client refuses the configuration.
    pub async fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let nodes = config.membership.load().await?;
        let mut client_config = config.client.clone();
        client_config.nodes = nodes.clone();
        let client = ClientBuilder::from_config(client_config).build().await?;
        // Holds the client weakly; stops with the proxy.
        let watcher = client.watch_membership(config.membership.clone());
        let proxy = Proxy {
            inner: Arc::new(ProxyInner {
                client,
                stats: ProxyStats::default(),
                conns: Arc::new(ConnStats::default()),
                commands: CommandCounters::default(),
                max_conns: config.max_conns,
                security: config.security.clone(),
                watcher: Mutex::new(watcher),
            }),
        };
        tokio::spawn(count_ejections(Arc::downgrade(&proxy.inner)));
        Ok(proxy)
    }

    /// The client the proxy forwards through (for its ring and handles).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// How many times the membership source has been re-read (0 for a
    /// fixed list). Tests wait on it after editing a nodes file.
    pub fn membership_polls(&self) -> u64 {
        let watcher = self.inner.watcher.lock().unwrap_or_else(|e| e.into_inner());
        watcher.as_ref().map_or(0, MembershipWatcher::polls)
    }

    /// The [`ServeConfig`] for [`serve_with`]: the
    /// proxy's `-c` and its connection counters (shown by `stats`).
    pub fn serve_config(&self) -> ServeConfig {
        ServeConfig {
            max_conns: self.inner.max_conns,
            idle_timeout: None,
            limits: Limits::default().max_item_size(self.inner.client.config().max_item_size),
            shutdown_deadline: Duration::from_secs(5),
            conn_stats: Arc::clone(&self.inner.conns),
            tls: self.inner.security.tls.clone(),
            auth: self.inner.security.auth.clone(),
        }
    }

    fn stats(&self) -> &ProxyStats {
        &self.inner.stats
    }

    /// Turns a backend failure into the reply memcached gives for a
    /// server-side failure, and counts it.
    fn failure(&self, error: &ClientError) -> Response {
        self.stats().record_error(error);
        tracing::debug!(%error, "backend request failed");
        Response::ServerError(one_line(&error.to_string()))
    }

    /// A single-key request (already stripped of `noreply`/`q`), with the
    /// client's replicas, warm-up and repair.
    async fn forward(&self, request: Request) -> Response {
        match self.inner.client.execute(request).await {
            Ok(response) => response,
            Err(error) => self.failure(&error),
        }
    }

    /// `get`/`gets`/`gat`/`gats`: one request per node, in parallel, merged
    /// in the request's key order (the client's
    /// [`execute_read`](Client::execute_read)). A failed node's keys miss.
    async fn read(&self, request: &Request, keys: &[Bytes]) -> Response {
        let stats = self.stats();
        stats.cmd_get.add(keys.len() as u64);
        let response = match self.inner.client.execute_read(request).await {
            Ok(reply) => {
                for failure in &reply.failed {
                    self.stats().record_error(&failure.error);
                }
                match reply.error_reply {
                    // An error line from a node (e.g. SERVER_ERROR): memcached
                    // would have sent it for the whole request.
                    Some(error) => error,
                    None => Response::Values(reply.values),
                }
            }
            Err(error) => {
                self.stats().record_error(&error);
                Response::Values(Vec::new())
            }
        };
        if let Response::Values(values) = &response {
            stats.get_hits.add(values.len() as u64);
            stats
                .get_misses
                .add(keys.len().saturating_sub(values.len()) as u64);
        }
        response
    }

    /// `flush_all` on every node, in parallel.
    async fn flush_all(&self, request: Request) -> Response {
        self.stats().cmd_flush.incr();
        let mut reply = Response::Ok;
        for (_, result) in self.inner.client.execute_on_all(request).await {
            match result {
                Ok(Response::Ok) => {}
                Ok(other) => reply = other,
                Err(error) => reply = self.failure(&error),
            }
        }
        reply
    }

    /// An item over `-I`: memcached unlinks the old value of a `set`/`ms`
    /// ("to avoid stale data"); the key's node must do that.
    async fn too_large(&self, key: &Bytes, unlink: bool) {
        if unlink {
            let delete = Request::Delete(Delete {
                key: key.clone(),
                noreply: false,
            });
            if let Err(error) = self.inner.client.execute(delete).await {
                self.stats().record_error(&error);
            }
        }
    }

    async fn execute_inner(&self, request: &Request) -> Response {
        let stats = self.stats();
        match request {
            Request::Get(Get { keys })
            | Request::Gets(Get { keys })
            | Request::Gat(Gat { keys, .. })
            | Request::Gats(Gat { keys, .. }) => {
                if matches!(request, Request::Gat(_) | Request::Gats(_)) {
                    stats.cmd_touch.add(keys.len() as u64);
                }
                self.read(request, keys).await
            }
            Request::Set(_)
            | Request::Add(_)
            | Request::Replace(_)
            | Request::Append(_)
            | Request::Prepend(_) => {
                stats.cmd_set.incr();
                self.forward(loud(request)).await
            }
            Request::Cas(_) => {
                stats.cmd_set.incr();
                self.forward(loud(request)).await
            }
            Request::Delete(_) => self.forward(loud(request)).await,
            Request::Incr(_) | Request::Decr(_) => self.forward(loud(request)).await,
            Request::Touch(_) => {
                stats.cmd_touch.incr();
                self.forward(loud(request)).await
            }
            Request::MetaGet(_) => {
                stats.cmd_get.incr();
                self.forward(loud(request)).await
            }
            Request::MetaSet(_) => {
                stats.cmd_set.incr();
                self.forward(loud(request)).await
            }
            Request::MetaDelete(_) => self.forward(loud(request)).await,
            Request::MetaArithmetic(_) => self.forward(loud(request)).await,
            Request::MetaDebug(_) => self.forward(request.clone()).await,
            Request::FlushAll(_) => self.flush_all(loud(request)).await,
            Request::Version => Response::Version(Bytes::from_static(MEMCACHED_VERSION.as_bytes())),
            Request::Verbosity(_) => Response::Ok,
            Request::Stats(s) => match s.group.as_deref() {
                None => Response::Stats(stats.general(&self.inner.conns, &self.inner.client)),
                Some(b"settings") => {
                    Response::Stats(stats.settings(&self.inner.client, self.inner.max_conns))
                }
                Some(b"reset") => {
                    stats.reset();
                    Response::Reset
                }
                Some(_) => Response::Error,
            },
            Request::MetaNoop => Response::MetaNoop,
            Request::Quit => Response::NoReply,
            Request::Shutdown(_) => {
                Response::Line(Bytes::from_static(b"ERROR: shutdown not enabled"))
            }
            Request::Admin(_) => Response::Error,
            Request::TooLarge(t) => {
                self.too_large(&t.key, t.unlink).await;
                t.response()
            }
            Request::Invalid(r) => r.response(),
        }
    }
}

impl Execute for Proxy {
    // Every request waits on a backend round trip: forward a connection's
    // pipelined requests together (conn.rs keeps same-key requests apart).
    const WINDOW: usize = 64;

    async fn execute(&self, request: &Request) -> Response {
        self.stats().requests.incr();
        let started = std::time::Instant::now();
        let response = self.execute_inner(request).await;
        self.inner
            .commands
            .record_request(request, &response, started);
        response
    }
}

/// `ringcache proxy`: resolves the flags, starts the runtime, the metrics
/// exporter and the proxy, and serves until `shutdown` completes (`main`
/// passes SIGINT/SIGTERM). Exit code 0 on a clean stop, 64 (`EX_USAGE`, as
/// memcached) for bad flags.
pub fn run(args: ProxyArgs, shutdown: impl Future<Output = ()> + Send) -> ExitCode {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(64);
        }
    };
    let runtime = match crate::runtime::build(config.threads, "ringcache-proxy") {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(proxy_main(config, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn proxy_main(
    config: ProxyConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error>> {
    // /metrics and the status page (the recorder must be installed before
    // the client registers its per-node series).
    let endpoint = match config.metrics {
        Some(addr) => Some(crate::status::Endpoint::start(addr).await?),
        None => None,
    };
    let addr = (config.listen.as_str(), config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("failed to listen on {}:{}: {e}", config.listen, config.port))?;
    let membership = format!("{:?}", config.membership);
    let scheme = config.client.scheme;
    let proxy = Proxy::start(config).await?;
    if let Some(endpoint) = &endpoint {
        endpoint.show_cluster(proxy.client().clone());
    }
    // Poll the shutdown future once before announcing the address: a signal
    // future installs its handler on first poll, and a SIGTERM sent right
    // after the log line must stop the proxy cleanly, not kill it.
    let mut shutdown = std::pin::pin!(shutdown);
    let fired = poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        addr = %listener.local_addr()?,
        nodes = proxy.client().node_handles().len(),
        %scheme,
        %membership,
        tls = proxy.inner.security.tls.is_some(),
        auth = proxy.inner.security.auth.is_some(),
        "ringcache proxy listening"
    );
    let serve_config = proxy.serve_config();
    serve_with(listener, proxy, serve_config, async move {
        if !fired {
            shutdown.await;
        }
        tracing::info!("shutting down");
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// How often the proxy looks at its nodes' states to count ejections.
const EJECTION_SAMPLE: Duration = Duration::from_millis(50);

/// Counts nodes going from up to ejected, for `stats` (`ejections`), by
/// sampling the client's node states (the client counts ejections only as
/// a Prometheus counter). A node ejected and back within one sample is not
/// seen; a probe waits at least the client's probe interval, 500 ms by
/// default. Ends when the proxy is dropped.
async fn count_ejections(proxy: Weak<ProxyInner>) {
    let mut ticks = tokio::time::interval(EJECTION_SAMPLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut ejected: HashSet<String> = HashSet::new();
    loop {
        ticks.tick().await;
        let Some(inner) = proxy.upgrade() else {
            return;
        };
        let mut now = HashSet::new();
        for (name, state) in inner.client.node_states() {
            if state == NodeState::Ejected {
                if !ejected.contains(&name) {
                    inner.stats.ejections.incr();
                }
                now.insert(name);
            }
        }
        ejected = now;
    }
}

/// `request` with classic `noreply` and meta `q` taken off: the backend
/// must always answer (the client matches replies in order). The
/// connection loop withholds the reply again, from the original request.
fn loud(request: &Request) -> Request {
    let mut request = request.clone();
    match &mut request {
        Request::Set(s)
        | Request::Add(s)
        | Request::Replace(s)
        | Request::Append(s)
        | Request::Prepend(s) => s.noreply = false,
        Request::Cas(c) => c.noreply = false,
        Request::Delete(d) => d.noreply = false,
        Request::Incr(a) | Request::Decr(a) => a.noreply = false,
        Request::Touch(t) => t.noreply = false,
        Request::FlushAll(f) => f.noreply = false,
        Request::Verbosity(v) => v.noreply = false,
        Request::MetaGet(m) => m.flags.quiet = false,
        Request::MetaSet(m) => m.flags.quiet = false,
        Request::MetaDelete(m) => m.flags.quiet = false,
        Request::MetaArithmetic(m) => m.flags.quiet = false,
        _ => {}
    }
    request
}

/// An error text made safe for one reply line.
fn one_line(text: &str) -> Bytes {
    let clean: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Bytes::from(clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringcache_protocol::{Delete, MetaGet, MetaGetFlags};

    #[test]
    fn loud_takes_off_noreply_and_quiet_only() {
        let k = || Bytes::from_static(b"k");
        let quiet = Request::Delete(Delete {
            key: k(),
            noreply: true,
        });
        assert_eq!(
            loud(&quiet),
            Request::Delete(Delete {
                key: k(),
                noreply: false
            })
        );
        let flags = MetaGetFlags {
            quiet: true,
            value: true,
            ..MetaGetFlags::default()
        };
        let mg = Request::MetaGet(MetaGet { key: k(), flags });
        let Request::MetaGet(loud_mg) = loud(&mg) else {
            panic!("still mg")
        };
        assert!(!loud_mg.flags.quiet);
        assert!(loud_mg.flags.value);
    }

    #[test]
    fn one_line_strips_line_breaks() {
        assert_eq!(&one_line("a\r\nb")[..], b"a  b");
    }
}
