//! Every metric the client records, with its description.
//!
//! The library only calls the `metrics` macros; the application installs a
//! recorder (for example `metrics-exporter-prometheus`) **before** building
//! the client, because per-node handles are registered when a node joins.
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `ringcache_client_requests_total` | counter | `node`, `status` | requests by outcome: `ok`, `server_error`, `timeout`, `io_error`, `protocol_error`, `overloaded`, `down`, `error` |
//! | `ringcache_client_request_duration_seconds` | histogram | `node` | time from queueing to reply |
//! | `ringcache_client_errors_total` | counter | `node`, `kind` | connection-level failures: `connect` (a connect failed or timed out), `closed` (the node closed an open connection) |
//! | `ringcache_client_in_flight` | gauge | `node` | requests written (or about to be) and not yet answered |
//! | `ringcache_client_ejected` | gauge | `node` | 1 while the node is ejected, else 0 |
//! | `ringcache_client_ejections_total` | counter | `node` | nodes taken out after consecutive failures |
//! | `ringcache_client_ejections_refused_total` | counter | `node` | ejections refused by the max ejected share |
//! | `ringcache_client_returns_total` | counter | `node` | nodes back after a successful probe |
//! | `ringcache_client_probes_total` | counter | `node`, `status` | probes of ejected nodes (`ok`, `error`) |
//! | `ringcache_client_failover_writes_total` | counter | `node` | writes routed around (eject) or refused for (fast-miss) the ejected `node`, recorded in its failover journal |
//! | `ringcache_client_failover_invalidations_total` | counter | `node`, `kind` | what a returning node's journal replay did: `delete` (keys deleted), `flush` (`flush_all` after an overflow) |
//! | `ringcache_client_ring_nodes` | gauge | | nodes in the membership ring |
//! | `ringcache_client_ejected_nodes` | gauge | | nodes out right now |
//! | `ringcache_client_ring_changes_total` | counter | | membership changes applied |
//! | `ringcache_client_keys_moved_ratio` | gauge | | share of the key space the last change moved |
//! | `ringcache_client_warmup_copies_total` | counter | `kind`, `status` | items copied between nodes: `kind` `warmup`, `repair`, `drain`; `status` `copied`, `source_miss`, `target_held`, `expiring`, `undone`, `skipped`, `error` |
//! | `ringcache_client_replica_fallthrough_total` | counter | | requests that went past a key's first node |
//! | `ringcache_client_warmup_active` | gauge | | 1 while a warm-up window is open |
//! | `ringcache_client_hot_keys` | gauge | | keys in the hot set |
//! | `ringcache_client_hot_reads_total` | counter | `kind` | reads of hot keys: `near` (this process's memory), `node` |
//! | `ringcache_client_singleflight_coalesced_total` | counter | | `get_or_load` calls that shared another caller's load in this process |
//! | `ringcache_client_lease_wait_expired_total` | counter | | lease waits that ran out and loaded without the lease |

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, Counter, Histogram, Unit,
};

use crate::error::Error;

pub(crate) const REQUESTS_TOTAL: &str = "ringcache_client_requests_total";
pub(crate) const REQUEST_DURATION: &str = "ringcache_client_request_duration_seconds";
pub(crate) const ERRORS_TOTAL: &str = "ringcache_client_errors_total";
pub(crate) const IN_FLIGHT: &str = "ringcache_client_in_flight";
pub(crate) const EJECTED: &str = "ringcache_client_ejected";
pub(crate) const EJECTIONS_TOTAL: &str = "ringcache_client_ejections_total";
pub(crate) const EJECTIONS_REFUSED_TOTAL: &str = "ringcache_client_ejections_refused_total";
pub(crate) const RETURNS_TOTAL: &str = "ringcache_client_returns_total";
pub(crate) const PROBES_TOTAL: &str = "ringcache_client_probes_total";
pub(crate) const RING_NODES: &str = "ringcache_client_ring_nodes";
pub(crate) const EJECTED_NODES: &str = "ringcache_client_ejected_nodes";
pub(crate) const RING_CHANGES_TOTAL: &str = "ringcache_client_ring_changes_total";
pub(crate) const KEYS_MOVED_RATIO: &str = "ringcache_client_keys_moved_ratio";
/// Counter: writes routed around the ejected `node` (eject: sent
/// elsewhere) or refused for it (fast-miss), recorded in its failover
/// journal (`journal.rs`).
pub(crate) const FAILOVER_WRITES_TOTAL: &str = "ringcache_client_failover_writes_total";
/// Counter: what the journal replay did to a returning node, by `kind`:
/// `delete` (keys deleted), `flush` (`flush_all`, the journal having
/// overflowed).
pub(crate) const FAILOVER_INVALIDATIONS_TOTAL: &str =
    "ringcache_client_failover_invalidations_total";
/// Counter: `get_or_load` calls that shared another caller's load in this
/// process instead of running their own (`aside.rs`).
pub(crate) const SINGLEFLIGHT_COALESCED_TOTAL: &str =
    "ringcache_client_singleflight_coalesced_total";
/// Counter: lease waits that ran out of the cache-aside lease wait and
/// loaded without the lease (`aside.rs`).
pub(crate) const LEASE_WAIT_EXPIRED_TOTAL: &str = "ringcache_client_lease_wait_expired_total";
/// Counter: items copied between nodes, by `kind` (`warmup`: from a
/// moved key's previous owner; `repair`: from a replica to one that
/// missed; `drain`: from a leaving node) and `status` (`copied`,
/// `source_miss`, `target_held`, `expiring`, `undone`, `skipped`,
/// `error`), `copy.rs`.
pub(crate) const WARMUP_COPIES_TOTAL: &str = "ringcache_client_warmup_copies_total";
/// Counter: requests that went past a key's first node (a miss or a
/// failure there) to another replica or a previous owner.
pub(crate) const REPLICA_FALLTHROUGH_TOTAL: &str = "ringcache_client_replica_fallthrough_total";
/// Gauge: 1 while a warm-up window is open (reads of moved keys may be
/// answered by their previous owner), else 0.
pub(crate) const WARMUP_ACTIVE: &str = "ringcache_client_warmup_active";
/// Gauge: keys in the client's hot set now.
pub(crate) const HOT_KEYS: &str = "ringcache_client_hot_keys";
/// Counter: reads of hot keys, by `kind` (`near`: from this process's
/// memory; `node`: from a node, spread over the key's replicas).
pub(crate) const HOT_READS_TOTAL: &str = "ringcache_client_hot_reads_total";

/// Describes every metric of the client to the installed recorder (names,
/// units, help text). Call it once after installing the recorder; metrics
/// work without it, only their `# HELP` lines are missing.
pub fn describe_metrics() {
    describe_counter!(REQUESTS_TOTAL, "Client requests by node and outcome.");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Client request latency by node, queueing included."
    );
    describe_counter!(
        ERRORS_TOTAL,
        "Connection-level failures by node and kind (connect, closed)."
    );
    describe_gauge!(
        IN_FLIGHT,
        "Requests written to a node and not yet answered."
    );
    describe_gauge!(
        EJECTED,
        "1 while the node is ejected, 0 while it serves its keys."
    );
    describe_counter!(
        EJECTIONS_TOTAL,
        "Nodes taken out after consecutive failures."
    );
    describe_counter!(
        EJECTIONS_REFUSED_TOTAL,
        "Ejections refused because too many nodes were already out."
    );
    describe_counter!(
        RETURNS_TOTAL,
        "Ejected nodes back after a successful probe."
    );
    describe_counter!(PROBES_TOTAL, "Probes of ejected nodes by outcome.");
    describe_counter!(
        FAILOVER_WRITES_TOTAL,
        "Writes routed around (or refused for) an ejected node and recorded in its failover journal."
    );
    describe_counter!(
        FAILOVER_INVALIDATIONS_TOTAL,
        "Invalidations sent to a returning node before it is taken back, by kind (delete, flush)."
    );
    describe_counter!(
        SINGLEFLIGHT_COALESCED_TOTAL,
        "Cache-aside loads that waited for another caller's load of the same key."
    );
    describe_counter!(
        LEASE_WAIT_EXPIRED_TOTAL,
        "Cache-aside lease waits that ran out and loaded without the lease."
    );
    describe_gauge!(RING_NODES, "Nodes in the client's membership ring.");
    describe_gauge!(
        EJECTED_NODES,
        "Nodes currently ejected (or answered as fast misses)."
    );
    describe_counter!(
        RING_CHANGES_TOTAL,
        "Membership changes applied to the ring."
    );
    describe_gauge!(
        KEYS_MOVED_RATIO,
        "Share of the key space moved by the last membership change."
    );
    describe_counter!(
        WARMUP_COPIES_TOTAL,
        "Items copied between nodes (warm-up, replica repair, drain) by outcome."
    );
    describe_counter!(
        REPLICA_FALLTHROUGH_TOTAL,
        "Requests that went past a key's first node to another replica or a previous owner."
    );
    describe_gauge!(WARMUP_ACTIVE, "1 while a warm-up window is open.");
    describe_gauge!(HOT_KEYS, "Keys in the client's hot set.");
    describe_counter!(
        HOT_READS_TOTAL,
        "Reads of hot keys, by where they were served (near, node)."
    );
}

/// Outcome label of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Status {
    Ok,
    ServerError,
    Timeout,
    IoError,
    ProtocolError,
    Overloaded,
    Down,
    Error,
}

const STATUSES: [&str; 8] = [
    "ok",
    "server_error",
    "timeout",
    "io_error",
    "protocol_error",
    "overloaded",
    "down",
    "error",
];

impl Status {
    pub(crate) fn of(result: &Result<ringcache_protocol::Response, Error>) -> Status {
        match result {
            Ok(
                ringcache_protocol::Response::ServerError(_) | ringcache_protocol::Response::Error,
            ) => Status::ServerError,
            Ok(_) => Status::Ok,
            Err(Error::Timeout { .. }) => Status::Timeout,
            Err(Error::Io { .. }) => Status::IoError,
            Err(Error::Protocol { .. }) => Status::ProtocolError,
            Err(Error::Overloaded { .. }) => Status::Overloaded,
            Err(Error::NodeDown { .. }) => Status::Down,
            Err(_) => Status::Error,
        }
    }
}

/// A node's metric handles, registered once so the request path does no
/// registry lookup.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    requests: [Counter; 8],
    duration: Histogram,
}

impl NodeMetrics {
    pub(crate) fn new(node: &str) -> NodeMetrics {
        let requests = STATUSES
            .map(|status| counter!(REQUESTS_TOTAL, "node" => node.to_owned(), "status" => status));
        NodeMetrics {
            requests,
            duration: metrics::histogram!(REQUEST_DURATION, "node" => node.to_owned()),
        }
    }

    pub(crate) fn record(&self, status: Status, seconds: f64) {
        self.requests[status as usize].increment(1);
        self.duration.record(seconds);
    }
}
