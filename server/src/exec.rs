//! Executing requests: [`Execute`] (request in, [`Response`] out, never a
//! socket) and [`Node`], the cache node's executor over the [`Store`].
//!
//! The connection loop is generic over [`Execute`]; the proxy will
//! implement it with the client. Whether a response is written at all
//! (`noreply`, meta `q`) is the protocol crate's call
//! ([`Request::suppresses`]), so executors always return the full outcome.
//!
//! # Layout
//!
//! - this file: the trait, [`Node`], and the classic text commands;
//! - `exec/crawler.rs`: `lru_crawler` (`metadump`, `crawl`, the settings);
//! - `exec/stats.rs`: `stats` and its groups, in memcached 1.6.18's order;
//! - `exec/detail.rs`: `stats detail` prefix counters;
//! - `exec/meta/`: `mg ms md ma me` (`mn` is answered here).

mod crawler;
mod detail;
mod meta;
mod stats;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ringcache_protocol::{
    Arithmetic, Cas, Command, Gat, Get, Request, Response, Shutdown, Store as StoreRequest,
    TooLarge, Value,
};
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::listener::ConnStats;
use crate::metrics;
use crate::store::{now_unix, DeltaOutcome, Store, StoreConfig, StoreMode, StoreOutcome};

/// The memcached version a node reports (`version`, `STAT version`).
///
/// A node answers `VERSION 1.6.18`, the release whose wire behaviour it
/// matches byte for byte, and not its own crate version: clients parse this
/// string (libmemcached reads `major.minor.micro` as numbers; some clients
/// enable meta commands only from 1.6 on), so a ringcache version number
/// there would mislead them. The ringcache version is in the startup log,
/// `ringcache --version`, and `stats settings` (`ringcache_version`... is
/// *not* added there either, to keep memcached's field list exact).
pub const MEMCACHED_VERSION: &str = "1.6.18";

/// Runs one request and returns its outcome. Implementations never touch a
/// socket; the caller decides whether and how the response is written.
pub trait Execute: Send + Sync + 'static {
    /// How many requests of one connection may run at once. The connection
    /// loop runs a *window* of pipelined requests concurrently when this is
    /// above 1, as long as no two of them name the same key (so a `set`
    /// then a `get` of one key still reads what it wrote); replies are
    /// written in request order either way. A node executes in memory and
    /// keeps 1; the proxy waits on network round trips and forwards a
    /// whole window at once, as twemproxy and mcrouter do.
    const WINDOW: usize = 1;

    /// Executes `request`. Always returns the full outcome (the caller applies
    /// `noreply`/`q` through [`Request::suppresses`]).
    fn execute<'a>(&'a self, request: &'a Request) -> impl Future<Output = Response> + Send + 'a;
}

/// The cache node's executor: the store plus what `stats` reports.
/// Cheap to clone (all state is shared).
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

#[derive(Debug)]
pub(crate) struct NodeInner {
    store: Store,
    config: NodeConfig,
    conns: Arc<ConnStats>,
    verbosity: AtomicU32,
    /// `stats detail on|off` and the per-prefix counters it collects.
    pub(crate) detail: detail::Detail,
    /// `lru_crawler`'s settings and its one dump slot.
    pub(crate) crawler: crawler::Crawler,
    commands: metrics::CommandCounters,
    started: Instant,
    /// Unix second the node started (meta's clock mirrors memcached's
    /// `process_started`).
    pub(crate) started_unix: u64,
    shutdown: CancellationToken,
}

impl Node {
    /// A node with an empty store sized by `config`.
    pub fn new(config: NodeConfig) -> Self {
        let store = Store::new(&StoreConfig {
            max_bytes: config.max_bytes(),
            eviction: config.eviction,
            max_item_size: config.max_item_size,
        });
        let conns = Arc::new(ConnStats::default());
        Node {
            inner: Arc::new(NodeInner {
                store,
                verbosity: AtomicU32::new(u32::from(config.verbose)),
                detail: detail::Detail::default(),
                crawler: crawler::Crawler::default(),
                commands: metrics::CommandCounters::default(),
                config,
                conns,
                started: Instant::now(),
                started_unix: now_unix(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The connection counters the listener must update (`curr_connections`
    /// and friends in `stats`).
    pub fn conn_stats(&self) -> Arc<ConnStats> {
        Arc::clone(&self.inner.conns)
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Completes when a client has sent `shutdown` (only possible with
    /// `-A`). Pass it, together with the signals, as `serve`'s shutdown
    /// future.
    pub fn shutdown_requested(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.shutdown.clone().cancelled_owned()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Time since the node started (`uptime`).
    pub(crate) fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// The node's request-path metric handles.
    pub(crate) fn commands(&self) -> &metrics::CommandCounters {
        &self.inner.commands
    }

    async fn get(&self, get: &Get, with_cas: bool) -> Response {
        let store = self.store();
        let stats = store.stats();
        let now = now_unix();
        let mut values = Vec::with_capacity(get.keys.len());
        let detail = self.inner.detail.enabled();
        for key in &get.keys {
            stats.cmd_get.incr();
            let item = store.get(key, now).await;
            if detail {
                self.inner.detail.record_get(key, item.is_some());
            }
            match item {
                Some(item) => {
                    stats.get_hits.incr();
                    values.push(Value {
                        key: key.clone(),
                        flags: item.flags,
                        cas: with_cas.then_some(item.cas),
                        data: item.value_bytes(),
                    });
                }
                None => stats.get_misses.incr(),
            }
        }
        Response::Values(values)
    }

    async fn gat(&self, gat: &Gat, with_cas: bool) -> Response {
        let store = self.store();
        let stats = store.stats();
        let now = now_unix();
        let mut values = Vec::with_capacity(gat.keys.len());
        let detail = self.inner.detail.enabled();
        for key in &gat.keys {
            // memcached counts gat as touches only, never as gets.
            stats.cmd_touch.incr();
            let item = store.touch(key, gat.exptime, now).await;
            if detail {
                self.inner.detail.record_get(key, item.is_some());
            }
            match item {
                Some(item) => {
                    stats.touch_hits.incr();
                    values.push(Value {
                        key: key.clone(),
                        flags: item.flags,
                        cas: with_cas.then_some(item.cas),
                        data: item.value_bytes(),
                    });
                }
                None => stats.touch_misses.incr(),
            }
        }
        Response::Values(values)
    }

    async fn store_cmd(&self, mode: StoreMode, req: &StoreRequest) -> Response {
        let store = self.store();
        store.stats().cmd_set.incr();
        self.inner.detail.record_set(&req.key);
        let outcome = store
            .store(
                mode,
                &req.key,
                &req.value,
                req.flags,
                req.exptime,
                now_unix(),
            )
            .await;
        self.store_response(outcome)
    }

    async fn cas(&self, req: &Cas) -> Response {
        let store = self.store();
        let stats = store.stats();
        stats.cmd_set.incr();
        self.inner.detail.record_set(&req.key);
        let outcome = store
            .store(
                StoreMode::Cas(req.cas),
                &req.key,
                &req.value,
                req.flags,
                req.exptime,
                now_unix(),
            )
            .await;
        match outcome {
            StoreOutcome::Stored(_) => stats.cas_hits.incr(),
            StoreOutcome::Exists => stats.cas_badval.incr(),
            StoreOutcome::NotFound => stats.cas_misses.incr(),
            StoreOutcome::NotStored => {}
        }
        self.store_response(outcome)
    }

    fn store_response(&self, outcome: StoreOutcome) -> Response {
        match outcome {
            StoreOutcome::Stored(_) => {
                self.store().stats().total_items.incr();
                Response::Stored
            }
            StoreOutcome::NotStored => Response::NotStored,
            StoreOutcome::Exists => Response::Exists,
            StoreOutcome::NotFound => Response::NotFound,
        }
    }

    async fn delta(&self, req: &Arithmetic, incr: bool) -> Response {
        let store = self.store();
        let stats = store.stats();
        match store.delta(&req.key, incr, req.delta, now_unix()).await {
            DeltaOutcome::Value(n, _) => {
                if incr {
                    stats.incr_hits.incr();
                } else {
                    stats.decr_hits.incr();
                }
                Response::Number(n)
            }
            DeltaOutcome::NotFound => {
                if incr {
                    stats.incr_misses.incr();
                } else {
                    stats.decr_misses.incr();
                }
                Response::NotFound
            }
            DeltaOutcome::NonNumeric => Response::ClientError(Bytes::from_static(
                b"cannot increment or decrement non-numeric value",
            )),
        }
    }

    async fn too_large(&self, req: &TooLarge) -> Response {
        let store = self.store();
        store.stats().store_too_large.incr();
        if matches!(
            req.command,
            Command::Set
                | Command::Add
                | Command::Replace
                | Command::Append
                | Command::Prepend
                | Command::Cas
        ) {
            self.inner.detail.record_set(&req.key);
        }
        if req.unlink {
            // memcached drops the old value "to avoid stale data".
            store.delete(&req.key, now_unix()).await;
        }
        req.response()
    }

    /// `cache_memlimit <megabytes> [noreply]`: moves the memory limit, with
    /// memcached's bounds and replies.
    fn memlimit(&self, args: &[Bytes]) -> Response {
        let noreply = args.last().is_some_and(|a| &a[..] == b"noreply");
        let valid_count = args.len() == 1 || args.len() == 2;
        let reply = match args.first() {
            // memcached reads it with safe_strtoul into a uint32_t.
            Some(arg) if valid_count => match crate::store::parse_counter(arg) {
                None => Response::Error,
                Some(mb) => {
                    let mb = mb as u32;
                    if mb < 8 {
                        Response::Line(Bytes::from_static(
                            b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m",
                        ))
                    } else if mb > 1_000_000_000 {
                        Response::Line(Bytes::from_static(
                            b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes",
                        ))
                    } else {
                        self.store().set_max_bytes(u64::from(mb) * 1024 * 1024);
                        Response::Ok
                    }
                }
            },
            _ => return Response::Error,
        };
        if noreply && args.len() == 2 {
            Response::NoReply
        } else {
            reply
        }
    }

    fn shutdown(&self, mode: Shutdown) -> Response {
        if !self.inner.config.enable_shutdown {
            return Response::Line(Bytes::from_static(b"ERROR: shutdown not enabled"));
        }
        match mode {
            Shutdown::Immediate | Shutdown::Graceful => {
                tracing::info!(?mode, "shutdown requested by a client");
                self.inner.shutdown.cancel();
                Response::NoReply
            }
            Shutdown::InvalidMode => {
                Response::ClientError(Bytes::from_static(b"invalid shutdown mode"))
            }
        }
    }

    async fn execute_inner(&self, request: &Request) -> Response {
        let store = self.store();
        match request {
            Request::Get(g) => self.get(g, false).await,
            Request::Gets(g) => self.get(g, true).await,
            Request::Gat(g) => self.gat(g, false).await,
            Request::Gats(g) => self.gat(g, true).await,
            Request::Set(s) => self.store_cmd(StoreMode::Set, s).await,
            Request::Add(s) => self.store_cmd(StoreMode::Add, s).await,
            Request::Replace(s) => self.store_cmd(StoreMode::Replace, s).await,
            Request::Append(s) => self.store_cmd(StoreMode::Append, s).await,
            Request::Prepend(s) => self.store_cmd(StoreMode::Prepend, s).await,
            Request::Cas(c) => self.cas(c).await,
            Request::Delete(d) => {
                self.inner.detail.record_delete(&d.key);
                if store.delete(&d.key, now_unix()).await {
                    store.stats().delete_hits.incr();
                    Response::Deleted
                } else {
                    store.stats().delete_misses.incr();
                    Response::NotFound
                }
            }
            Request::Incr(a) => self.delta(a, true).await,
            Request::Decr(a) => self.delta(a, false).await,
            Request::Touch(t) => {
                store.stats().cmd_touch.incr();
                if store.touch(&t.key, t.exptime, now_unix()).await.is_some() {
                    store.stats().touch_hits.incr();
                    Response::Touched
                } else {
                    store.stats().touch_misses.incr();
                    Response::NotFound
                }
            }
            Request::FlushAll(f) => {
                store.stats().cmd_flush.incr();
                store.flush_all(f.delay.unwrap_or(0), now_unix());
                Response::Ok
            }
            Request::Version => Response::Version(Bytes::from_static(MEMCACHED_VERSION.as_bytes())),
            Request::Verbosity(v) => {
                self.inner.verbosity.store(v.level, Ordering::Relaxed);
                Response::Ok
            }
            Request::Stats(s) => self.stats(s).await,
            Request::Quit => Response::NoReply,
            Request::Shutdown(mode) => self.shutdown(*mode),
            // slabs, lru, watch...: nothing to tune on moka, and memcached
            // answers ERROR to what it does not know.
            Request::Admin(a) if &a.command[..] == b"cache_memlimit" => self.memlimit(&a.args),
            Request::Admin(a) if &a.command[..] == b"lru_crawler" => {
                self.lru_crawler(&a.args).await
            }
            Request::Admin(_) => Response::Error,
            Request::MetaGet(m) => meta::get(self, m).await,
            Request::MetaSet(m) => meta::set(self, m).await,
            Request::MetaDelete(m) => meta::delete(self, m).await,
            Request::MetaArithmetic(m) => meta::arithmetic(self, m).await,
            Request::MetaNoop => Response::MetaNoop,
            Request::MetaDebug(m) => meta::debug(self, m).await,
            Request::TooLarge(t) => self.too_large(t).await,
            Request::Invalid(r) => {
                if r.command == Some(Command::FlushAll) {
                    // memcached counts a refused flush_all too.
                    store.stats().cmd_flush.incr();
                }
                r.response()
            }
        }
    }
}

impl Execute for Node {
    async fn execute(&self, request: &Request) -> Response {
        let started = Instant::now();
        let response = self.execute_inner(request).await;
        self.inner
            .commands
            .record_request(request, &response, started);
        response
    }
}
