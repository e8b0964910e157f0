//! The proxy's own counters and its `stats` reply.
//!
//! A proxy has no items, so `stats` cannot be a node's block. It answers in
//! memcached's `STAT name value` format with what an operator of a proxy
//! wants (the names of memcached's where one exists, so dashboards and
//! `memcstat` keep working): process and connection fields, command and
//! hit/miss counters as seen by the proxy, and the backend side: ring size
//! and scheme, nodes ejected now, ejections seen so far, backend errors in total
//! and per node (`node_errors:<host:port>`), and the state of each node
//! (`node_state:<host:port> up|ejected`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use ringcache_client::{Client, Error, NodeState};
use ringcache_protocol::{Stat, StatValue};

use crate::exec::MEMCACHED_VERSION;
use crate::listener::ConnStats;
use crate::store::now_unix;
use crate::store::stats::Counter;

/// Counters the proxy keeps itself (relaxed atomics, like the node's).
#[derive(Debug)]
pub(crate) struct ProxyStats {
    started: Instant,
    /// Every request executed (`proxy_requests`).
    pub(crate) requests: Counter,
    /// Keys asked for by get/gets/gat/gats/mg.
    pub(crate) cmd_get: Counter,
    pub(crate) get_hits: Counter,
    pub(crate) get_misses: Counter,
    /// Storage commands (set/add/replace/append/prepend/cas/ms).
    pub(crate) cmd_set: Counter,
    pub(crate) cmd_touch: Counter,
    pub(crate) cmd_flush: Counter,
    /// Requests (or parts of a multi-get) a backend failed: I/O, timeout,
    /// broken reply, node down, overloaded, no node.
    pub(crate) backend_errors: Counter,
    /// Nodes seen going from up to ejected.
    pub(crate) ejections: Counter,
    /// Backend errors by node name. Locked only on an error and by `stats`.
    node_errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for ProxyStats {
    fn default() -> Self {
        ProxyStats {
            started: Instant::now(),
            requests: Counter::default(),
            cmd_get: Counter::default(),
            get_hits: Counter::default(),
            get_misses: Counter::default(),
            cmd_set: Counter::default(),
            cmd_touch: Counter::default(),
            cmd_flush: Counter::default(),
            backend_errors: Counter::default(),
            ejections: Counter::default(),
            node_errors: Mutex::new(BTreeMap::new()),
        }
    }
}

/// The node an error names, if it names one.
fn error_node(error: &Error) -> Option<&str> {
    match error {
        Error::Io { node, .. }
        | Error::Timeout { node }
        | Error::Protocol { node, .. }
        | Error::NodeDown { node }
        | Error::Overloaded { node } => Some(node),
        _ => None,
    }
}

impl ProxyStats {
    /// Counts a backend failure, by node when the error names one.
    pub(crate) fn record_error(&self, error: &Error) {
        self.backend_errors.incr();
        let name = error_node(error).unwrap_or("-");
        let mut map = self.node_errors.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                map.insert(name.to_owned(), 1);
            }
        }
    }

    /// Backend errors of one node so far.
    pub(crate) fn node_errors(&self, name: &str) -> u64 {
        let map = self.node_errors.lock().unwrap_or_else(|e| e.into_inner());
        map.get(name).copied().unwrap_or(0)
    }

    /// `stats reset`.
    pub(crate) fn reset(&self) {
        for c in [
            &self.requests,
            &self.cmd_get,
            &self.get_hits,
            &self.get_misses,
            &self.cmd_set,
            &self.cmd_touch,
            &self.cmd_flush,
            &self.backend_errors,
            &self.ejections,
        ] {
            c.reset();
        }
        self.node_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Seconds since the proxy started.
    pub(crate) fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The general `stats` block.
    pub(crate) fn general(&self, conns: &ConnStats, client: &Client) -> Vec<Stat> {
        let handles = client.node_handles();
        let ejected = handles
            .iter()
            .filter(|h| h.state() == NodeState::Ejected)
            .count();
        let mut stats = vec![
            Stat::uint("pid", u64::from(std::process::id())),
            Stat::uint("uptime", self.uptime()),
            Stat::uint("time", now_unix()),
            Stat::text("version", MEMCACHED_VERSION),
            Stat::text("ringcache_role", "proxy"),
            Stat::text("ringcache_version", env!("CARGO_PKG_VERSION")),
            Stat::uint("pointer_size", usize::BITS.into()),
            Stat::uint("curr_connections", conns.curr.get()),
            Stat::uint("total_connections", conns.total.get()),
            Stat::uint("rejected_connections", conns.rejected.get()),
            Stat::uint("bytes_read", conns.bytes_read.get()),
            Stat::uint("bytes_written", conns.bytes_written.get()),
            Stat::uint("cmd_get", self.cmd_get.get()),
            Stat::uint("cmd_set", self.cmd_set.get()),
            Stat::uint("cmd_flush", self.cmd_flush.get()),
            Stat::uint("cmd_touch", self.cmd_touch.get()),
            Stat::uint("get_hits", self.get_hits.get()),
            Stat::uint("get_misses", self.get_misses.get()),
            Stat::uint("proxy_requests", self.requests.get()),
            Stat::uint("backend_errors", self.backend_errors.get()),
            Stat::uint("ring_nodes", handles.len() as u64),
            Stat::text("ring_scheme", client.config().scheme.as_str()),
            Stat::uint("ejected_nodes", ejected as u64),
            Stat::uint("ejections", self.ejections.get()),
            Stat::uint("warmup_active", u64::from(client.warming())),
            Stat::uint("hot_keys", client.hot_keys().len() as u64),
        ];
        for h in &handles {
            let state = match h.state() {
                NodeState::Ejected => "ejected",
                _ => "up",
            };
            stats.push(named(
                format!("node_state:{}", h.name()),
                StatValue::Text(Bytes::from_static(state.as_bytes())),
            ));
            stats.push(named(
                format!("node_errors:{}", h.name()),
                StatValue::Unsigned(self.node_errors(h.name())),
            ));
        }
        stats
    }

    /// `stats settings`: what the proxy was started with.
    pub(crate) fn settings(&self, client: &Client, max_conns: usize) -> Vec<Stat> {
        let config = client.config();
        vec![
            Stat::uint("maxconns", max_conns as u64),
            Stat::text("ring_scheme", config.scheme.as_str()),
            Stat::text(
                "failure_policy",
                format!("{:?}", config.failure_policy).to_lowercase(),
            ),
            Stat::uint("failure_threshold", config.failure_threshold.into()),
            Stat::uint("failover_ttl_ms", config.failover_ttl.as_millis() as u64),
            Stat::uint("failover_journal_keys", config.failover_journal_keys as u64),
            Stat::uint("connections_per_node", config.connections_per_node as u64),
            Stat::uint("max_in_flight", config.max_in_flight as u64),
            Stat::uint(
                "request_timeout_ms",
                config.request_timeout.as_millis() as u64,
            ),
            Stat::uint(
                "connect_timeout_ms",
                config.connect_timeout.as_millis() as u64,
            ),
            Stat::uint("item_size_max", config.max_item_size as u64),
            Stat::uint("replicas", config.replicas as u64),
            Stat::uint("warmup_ms", config.warmup.as_millis() as u64),
            Stat::text(
                "drain_removed",
                if config.drain_removed { "yes" } else { "no" },
            ),
            Stat::text("hot_share", format!("{}", config.hot_share)),
            Stat::uint("hot_near_ttl_ms", config.hot_near_ttl.as_millis() as u64),
        ]
    }
}

fn named(name: String, value: StatValue) -> Stat {
    Stat {
        name: Bytes::from(name),
        value,
    }
}
