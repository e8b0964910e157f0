//! The ringcache smart client: one cache over a cluster of ringcache nodes
//! or plain memcached servers.
//!
//! Every key is routed over the consistent-hash ring of
//! [`ringcache_ring`], so the cluster needs no coordinator and a
//! membership change moves only about `1/N` of the keys. Each node gets a
//! small pool of pipelined TCP connections; `get_many` fans out to all
//! nodes at once; a failing node is ejected (or answered as a fast miss)
//! and comes back only after an active probe succeeds.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringcache_client::{Client, Scheme};
//!
//! # async fn run() -> Result<(), ringcache_client::Error> {
//! let client = Client::builder()
//!     .nodes(["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"])
//!     .scheme(Scheme::Xxh3)
//!     .build()
//!     .await?;
//!
//! client.set("user:42", "Ada", Duration::from_secs(300)).await?;
//! let item = client.get("user:42").await?; // Ok(None) on a miss
//! assert_eq!(item.map(|i| i.value), Some("Ada".into()));
//!
//! let found = client.get_many(["user:1", "user:42"]).await?;
//! println!("{} hits, {} nodes failed", found.items.len(), found.failed.len());
//! println!("user:42 is on {}, ring {:016x}", client.node_for("user:42")?, client.ring_digest());
//! # Ok(()) }
//! ```
//!
//! # How a request travels
//!
//! API call → key check ([`validate_key`]) → topology snapshot (an
//! `ArcSwap` load: no lock) → placement: the ring's replica walk, past
//! ejected nodes, plus the previous owners during a warm-up window → the
//! request's kind decides which of those nodes it visits (`dispatch.rs`) →
//! node handle → one of its connections, round-robin, through a bounded
//! queue → the connection's task writes every queued request in one write
//! and matches replies in FIFO order → result. With one replica and no
//! window open that is one node and one round trip.
//!
//! - **Wire commands**: classic text commands, never `noreply` (STYLE §6:
//!   an error reply to a malformed `noreply` line would break FIFO
//!   matching). A multi-key read is one `get k1 k2 ...` per node, which
//!   every memcached understands and which always ends in one `END`; meta
//!   commands are available through [`Client::execute_on`].
//! - **Backpressure**: each connection holds at most
//!   [`Config::max_in_flight`] unanswered requests and queues at most
//!   [`Config::queue_depth`] more. When every queue of a node is full, a
//!   request waits up to [`Config::queue_wait`] (100 ms) for room and then
//!   fails with [`Error::Overloaded`]: memory stays bounded and the caller
//!   decides whether to retry or shed load.
//! - **Timeouts**: connect ([`Config::connect_timeout`]) and request
//!   ([`Config::request_timeout`], queueing included). A request that
//!   times out closes its connection: its reply would otherwise be taken
//!   for the next request's.
//! - **Reconnects**: on demand, with exponential backoff
//!   ([`Config::reconnect_backoff`] up to [`Config::reconnect_max_backoff`]);
//!   while a connection backs off its requests fail at once with
//!   [`Error::NodeDown`].
//! - **Failures**: see [`FailurePolicy`] and the `health` module docs:
//!   [`Config::failure_threshold`] consecutive failures take a node out
//!   (never more than [`Config::max_ejected_share`] of the nodes), a probe
//!   (`version` on a fresh connection, exponential backoff) brings it back.
//! - **Returning nodes are never stale** for this client's writes: under
//!   [`FailurePolicy::Eject`] every write routed around an ejected node is
//!   first recorded in that node's failover journal (at most
//!   [`Config::failover_journal_keys`] keys), and before the node is taken
//!   back those keys are deleted on it (or it is flushed, if the journal
//!   overflowed); writes landing on the failover node get their TTL capped
//!   at [`Config::failover_ttl`]. Writes by other processes are not in this
//!   process's journal: `docs/hardening.md` ("Stale reads after an
//!   ejection") lists what is and is not covered.
//!
//! # Layout
//!
//! - `lib.rs`: [`Client`], this overview.
//! - `config.rs`: [`Config`] (every knob and its default), [`ClientBuilder`],
//!   the TOML file ([`Config::from_toml`], [`Client::from_config`]),
//!   [`FailurePolicy`].
//! - `topology.rs`: the ring + handles snapshot, [`Client::set_nodes`],
//!   [`RingChange`].
//! - `route.rs`: key → node, failover walk, [`Client::execute_on`],
//!   [`Client::execute`], [`Client::node_for`], [`Client::ring_digest`].
//! - `placement.rs`: a key's replica set ([`Config::replicas`]) and, during
//!   a warm-up window, its previous owners.
//! - `dispatch.rs`: how each kind of request runs over its placement
//!   (reads fall through, writes reach every replica, deletes go last to
//!   first); `multi.rs`: multi-key reads ([`Client::execute_read`]).
//! - `warmup.rs`: the window after a ring change ([`Config::warmup`]);
//!   `copy.rs`: copying an item between nodes safely;
//!   `drain.rs`: [`Client::drain`]. See `docs/rebalancing.md`.
//! - `hot.rs`: the hot-key detector; `hot_reads.rs`: what reads do with hot
//!   keys ([`Client::hot_keys`]).
//! - `pool.rs`: [`NodeHandle`]: a node's connections, [`NodeHandle::call`].
//! - `dump.rs`: [`NodeHandle::metadump`], a node's items and their last
//!   access, over a connection of its own.
//! - `conn.rs`: the task that owns one pipelined TCP connection.
//! - `health.rs`: failure counting, ejection, probes, [`NodeState`].
//! - `journal.rs`: the failover journal and its replay before a return;
//!   `failover.rs`: which requests are writes, journaling them before they
//!   are sent around an ejected node, the TTL cap.
//! - `ops.rs`: the typed commands and their outcomes ([`Item`],
//!   [`StoreOutcome`], [`CasOutcome`], [`GetMany`], ...).
//! - `key.rs`: [`validate_key`]. `error.rs`: [`Error`].
//! - [`metrics`]: every metric name, with [`metrics::describe_metrics`].
//! - `tests/`: live tests against in-process ringcache nodes and Debian
//!   `memcached` processes on ephemeral ports.
//!
//! # Left out
//!
//! - Membership sources (file, DNS), cache-aside helpers and the near
//!   cache live in their own modules (issue 4, second part); they build on
//!   [`Client::set_nodes`], [`Client::execute_on`] and [`NodeHandle::call`].
//! - TLS ([`TlsConfig`], `tls.rs`) and memcached's `-Y` authentication
//!   ([`ClientBuilder::credentials`], `auth.rs`) are in; see
//!   `docs/security.md`.
//! - The binary protocol, SASL, UDP; retries (the caller decides, see
//!   [`Error::is_retryable`]).
//! - Meta-protocol typed methods (leases, stale-while-revalidate): send
//!   them raw through [`Client::execute_on`] (never with `q`).

mod aside;
mod auth;
mod config;
mod conn;
mod copy;
mod dispatch;
mod drain;
mod dump;
mod error;
mod failover;
mod health;
mod hot;
mod hot_reads;
mod journal;
mod key;
mod membership;
pub mod metrics;
mod multi;
mod near;
mod ops;
mod placement;
mod pool;
mod route;
mod tls;
mod topology;
mod warmup;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

pub use crate::aside::{AsideBackend, AsideError, CacheAside, CacheAsideBuilder};
pub use crate::auth::Credentials;
pub use crate::config::{ClientBuilder, Config, FailurePolicy};
pub use crate::drain::DrainReport;
pub use crate::error::Error;
pub use crate::health::NodeState;
pub use crate::hot::HotKey;
pub use crate::key::validate_key;
pub use crate::membership::{
    watch, Membership, MembershipError, MembershipWatcher, NodeSink, WatchedBuilder,
};
pub use crate::multi::ReadReply;
pub use crate::near::NearCache;
pub use crate::ops::{
    CasOutcome, DeleteOutcome, GetMany, Item, NodeFailure, StoreMode, StoreOutcome, TouchOutcome,
};
pub use crate::pool::NodeHandle;
pub use crate::tls::TlsConfig;
pub use crate::topology::RingChange;
pub use ringcache_protocol::DumpEntry;
pub use ringcache_ring::{Node, Scheme};

use crate::copy::Copier;
use crate::health::Coordinator;
use crate::hot_reads::HotReads;
use crate::topology::Topology;

/// A client of a ringcache cluster (or a pool of memcached servers).
///
/// Cheap to clone: clones share the topology, connections and health.
///
/// # Contents
///
/// - Build: [`builder`](Client::builder), [`from_config`](Client::from_config).
/// - Read: [`get`](Client::get), [`gets`](Client::gets),
///   [`get_and_touch`](Client::get_and_touch), [`get_many`](Client::get_many).
/// - Write: [`set`](Client::set), [`add`](Client::add),
///   [`replace`](Client::replace), [`append`](Client::append),
///   [`prepend`](Client::prepend), [`store`](Client::store) (any mode, with
///   flags), [`cas`](Client::cas), [`delete`](Client::delete),
///   [`incr`](Client::incr), [`decr`](Client::decr), [`touch`](Client::touch).
/// - All nodes: [`flush_all`](Client::flush_all), [`versions`](Client::versions).
/// - Routing: [`node_for`](Client::node_for), [`handle_for`](Client::handle_for),
///   [`execute_on`](Client::execute_on), [`ring_digest`](Client::ring_digest),
///   [`nodes`](Client::nodes), [`node_handles`](Client::node_handles),
///   [`node_states`](Client::node_states).
/// - Membership: [`set_nodes`](Client::set_nodes).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    topology: ArcSwap<Topology>,
    /// Serialises membership changes (readers never take it).
    writer: Mutex<()>,
    coordinator: Arc<Coordinator>,
    runtime: tokio::runtime::Handle,
    /// Background copies (warm-up, replica repair).
    copier: Copier,
    /// Hot-key detection and the hot keys' near cache.
    hot: HotReads,
    /// Turns of hot reads over replicas.
    hot_turn: AtomicUsize,
}

impl Inner {
    /// Whether plain reads are counted for hot-key detection.
    #[inline]
    fn hot_reads_on(&self) -> bool {
        self.config.hot_share > 0.0
    }
}

impl Client {
    /// A [`ClientBuilder`] with every knob at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The settings the client runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn start(config: Config) -> Result<Client, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("a client must be built inside a tokio runtime".into()))?;
        let nodes = config.nodes.clone();
        let coordinator = Arc::new(Coordinator::new(&config, runtime.clone()));
        let client = Client {
            inner: Arc::new(Inner {
                topology: ArcSwap::from_pointee(Topology::empty(config.scheme)?),
                hot: HotReads::new(&config),
                config,
                writer: Mutex::new(()),
                coordinator,
                copier: Copier::new(runtime.clone()),
                runtime,
                hot_turn: AtomicUsize::new(0),
            }),
        };
        client.set_nodes(nodes)?;
        Ok(client)
    }
}
