//! ringcache's cache node: a memcached 1.6–compatible server whose items
//! live in a [moka] cache.
//!
//! `ringcache node` is meant as a drop-in replacement for a memcached
//! process: same flags (`-p -l -m -c -t -I -U 0 -A -v`), same wire behaviour
//! byte for byte (replies, error strings, `noreply`, pipelining, split
//! reads), same `stats` field names. The protocol itself (parsing and
//! encoding) lives in `ringcache-protocol`; this crate owns sockets,
//! execution and storage.
//!
//! # Layout
//!
//! - [`serve`] / [`serve_with`] (this file): the entry point. The caller
//!   binds the listener and passes a shutdown future.
//! - `listener.rs`: accepts, applies `-c` as memcached does, backs off on
//!   accept errors; [`ConnStats`].
//! - `conn.rs`: the connection loop, the only code that reads or writes a
//!   socket.
//! - `exec.rs`: [`Execute`] (request in, response out) and [`Node`], the
//!   node's executor; `exec/stats.rs`: `stats` and its groups;
//!   `exec/detail.rs`: `stats detail`; `exec/meta/`: the meta commands.
//! - `store/`: [`store::Store`] on moka: items, exptime rules
//!   (`store/expiry.rs`), counters (`store/stats.rs`).
//! - `shutdown.rs`: cancellation token + task tracker, with a deadline.
//! - [`tls`]: TLS on the listener (`-Z`, `--tls-cert`...); [`auth`]:
//!   memcached's text-protocol authentication (`-Y FILE`).
//! - [`config`]: the command line; [`metrics`]: metric names and the
//!   request-path handles; [`status`]: the `--metrics` HTTP endpoint
//!   (`/metrics`, and the proxy's `/status` page).
//! - `bin/ringcache.rs`: `main`: CLI, runtime, logging, signals, exporter.
//! - [`proxy`]: `ringcache proxy`, a node whose executor is the client;
//!   [`cluster`]: `ringcache cluster`, N nodes and a proxy in one process.
//! - [`runtime`]: the tokio runtime for `-t` threads (current-thread for one).
//!
//! # Tasks and data flow
//!
//! ```text
//!  main ── binds TcpListener, installs signals + metrics exporter
//!   │
//!   └─ serve_with(listener, Node, config, shutdown)
//!        │
//!        ├─ listener task ── accept ──┬─ under -c: spawn conn task (tracked)
//!        │                            └─ past -c: "ERROR Too many open connections", close
//!        │
//!        └─ conn task (one per client)
//!             socket ─▶ BytesMut ─▶ RequestDecoder ─▶ Request
//!                                                      │ Node::execute
//!                                                      ▼
//!                          store (moka, per-key and_compute_with) ─▶ Response
//!                                                      │ encode unless suppressed
//!                                                      ▼
//!             socket ◀── one write per batch ◀── write buffer
//!
//!  shutdown future fires ─▶ token cancelled: stop accepting; each conn
//!  finishes and writes its batch, ends at its next read; wait ≤ deadline.
//! ```
//!
//! # Left out (for now)
//!
//! - UDP (`-U` other than 0 is refused), unix sockets, SASL, the binary
//!   protocol; `-l` takes one address. TLS and `-Y` are in, see
//!   `docs/security.md`.
//! - Slab machinery: `stats slabs`/`items`/`sizes` answer as memcached
//!   does with no slab classes; slab and hash-table fields in `stats` keep
//!   memcached's names with constant values (the LRU crawler's show its
//!   settings and starts, its reclaim counters stay 0).
//! - memcached's admin verbs other than `cache_memlimit` and `lru_crawler`
//!   (`slabs`, `lru`, `watch`...) answer `ERROR`. `lru_crawler metadump`
//!   lists every live item with memcached's fields; `crawl`, `enable`,
//!   `disable`, `sleep` and `tocrawl` give memcached's replies with no
//!   crawler behind them (moka reclaims expired items itself); see
//!   `exec/crawler.rs`, which also says what a dump of millions of items
//!   costs (it is built whole, not streamed).
//! - `-c` counts client connections exactly; memcached's limit is a file
//!   descriptor number (see `listener.rs`).
//! - `stats detail dump` lists prefixes sorted; memcached lists them in
//!   its hash-table order.
//! - Memory: moka costs ~500 bytes per entry beyond key and value
//!   (`store::ENTRY_OVERHEAD`), against memcached's ~56, so small items
//!   fit fewer per megabyte of `-m`.

pub mod auth;
pub mod cluster;
pub mod config;
mod conn;
pub mod exec;
mod listener;
pub mod metrics;
pub mod proxy;
pub mod runtime;
mod shutdown;
pub mod status;
pub mod store;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ringcache_protocol::Limits;
use tokio::net::TcpListener;

pub use crate::config::{NodeArgs, NodeConfig};
pub use crate::exec::{Execute, Node, MEMCACHED_VERSION};
pub use crate::listener::ConnStats;

/// How [`serve_with`] runs connections.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// `-c`: client connections served at once; more are refused with
    /// memcached's error line.
    pub max_conns: usize,
    /// Close a connection after this long without input.
    pub idle_timeout: Option<Duration>,
    /// The parser's bounds (`-I`).
    pub limits: Limits,
    /// How long shutdown waits for connections to finish their batch.
    pub shutdown_deadline: Duration,
    /// Connection counters (shared with the executor's `stats`).
    pub conn_stats: Arc<ConnStats>,
    /// TLS on every accepted connection (`-Z`); `None`: plain TCP.
    pub tls: Option<tls::ServerTls>,
    /// memcached's `-Y`: nothing but authentication is served until a
    /// connection authenticates.
    pub auth: Option<Arc<auth::AuthFile>>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_conns: 1024,
            idle_timeout: None,
            limits: Limits::default(),
            shutdown_deadline: Duration::from_secs(5),
            conn_stats: Arc::new(ConnStats::default()),
            tls: None,
            auth: None,
        }
    }
}

impl Node {
    /// The [`ServeConfig`] matching this node's flags, sharing its
    /// connection counters.
    pub fn serve_config(&self) -> ServeConfig {
        let config = self.config();
        ServeConfig {
            max_conns: config.max_conns,
            idle_timeout: config.idle_timeout,
            limits: Limits::default().max_item_size(config.max_item_size),
            shutdown_deadline: Duration::from_secs(5),
            conn_stats: self.conn_stats(),
            tls: config.tls.clone(),
            auth: config.auth.clone(),
        }
    }
}

/// Serves `listener` with `exec` and default connection settings until
/// `shutdown` completes. See [`serve_with`].
pub async fn serve<E: Execute>(listener: TcpListener, exec: E, shutdown: impl Future) {
    serve_with(listener, exec, ServeConfig::default(), shutdown).await;
}

/// Serves `listener` with `exec` until `shutdown` completes, then stops
/// accepting, lets every connection finish and write its current batch,
/// and returns once they have ended or `config.shutdown_deadline` passed.
///
/// The caller binds the listener (tests pass `127.0.0.1:0`), so the server
/// is ready as soon as this is called.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use ringcache_server::{serve_with, Node, NodeConfig};
///
/// let node = Node::new(NodeConfig::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let config = node.serve_config();
/// serve_with(listener, node, config, tokio::signal::ctrl_c()).await;
/// # Ok(())
/// # }
/// ```
pub async fn serve_with<E: Execute>(
    listener: TcpListener,
    exec: E,
    config: ServeConfig,
    shutdown: impl Future,
) {
    let handles = shutdown::Shutdown::default();
    let deadline = config.shutdown_deadline;
    let accept = listener::run(listener, Arc::new(exec), Arc::new(config), handles.clone());
    tokio::select! {
        () = accept => {}
        _ = shutdown => {}
    }
    // The listener was dropped with `accept`: no new connections.
    handles.finish(deadline).await;
}
