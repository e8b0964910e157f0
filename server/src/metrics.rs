//! Every metric name the server emits, each with its description, in one
//! place (docs/metrics.md is the contract: names, labels, meanings).
//!
//! Only the binary's entry points install a recorder (see
//! [`crate::status`]); without one the `metrics` macros are no-ops.
//!
//! # Cost on the request path
//!
//! A `counter!`/`histogram!` call with labels builds a key and looks it up
//! in the recorder's registry: too slow for every request. Each executor
//! owns a `CommandCounters` table instead, one lazily registered handle
//! per (command, status) pair and per command histogram; a request then
//! costs two clock reads, one atomic add per counter and one histogram
//! push. Gauges and counters that mirror the store's own atomics (items,
//! bytes, evictions, uptime, bytes read/written) are not touched on the
//! request path at all: [`NodeMirror::refresh`] copies them at scrape time.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use ringcache_protocol::{Command, MetaStatus, Reason, Request, Response};

use crate::exec::Node;

/// Counter: requests executed, by `command` (wire verb) and `status` (the
/// reply word, lower case: `hit`, `miss`, `stored`, `not_found`, `error`...).
pub const COMMANDS_TOTAL: &str = "ringcache_commands_total";
/// Counter: connections accepted (including ones refused past `-c`).
pub const CONNECTIONS_TOTAL: &str = "ringcache_connections_total";
/// Counter: connections refused past `-c`.
pub const CONNECTIONS_REJECTED_TOTAL: &str = "ringcache_connections_rejected_total";
/// Gauge: connections open now.
pub const CURRENT_CONNECTIONS: &str = "ringcache_current_connections";
/// Gauge: the `-c` limit.
pub const MAX_CONNECTIONS: &str = "ringcache_max_connections";
/// Gauge: seconds since the node started.
pub const UPTIME_SECONDS: &str = "ringcache_uptime_seconds";
/// Gauge: items stored now.
pub const CURRENT_ITEMS: &str = "ringcache_current_items";
/// Counter: items stored since start.
pub const ITEMS_TOTAL: &str = "ringcache_items_total";
/// Gauge: bytes used by items, as counted against `-m`.
pub const CURRENT_BYTES: &str = "ringcache_current_bytes";
/// Gauge: `-m` in bytes.
pub const LIMIT_BYTES: &str = "ringcache_limit_bytes";
/// Counter: live items evicted for space.
pub const ITEMS_EVICTED_TOTAL: &str = "ringcache_items_evicted_total";
/// Counter: items removed because their exptime passed.
pub const ITEMS_EXPIRED_TOTAL: &str = "ringcache_items_expired_total";
/// Counter: bytes read from client sockets.
pub const READ_BYTES_TOTAL: &str = "ringcache_read_bytes_total";
/// Counter: bytes written to client sockets.
pub const WRITTEN_BYTES_TOTAL: &str = "ringcache_written_bytes_total";
/// Counter: requests answered with an error line or that closed the
/// connection, by `kind`.
pub const PROTOCOL_ERRORS_TOTAL: &str = "ringcache_protocol_errors_total";
/// Histogram: time from a parsed request to its reply, by `command`.
pub const REQUEST_DURATION_SECONDS: &str = "ringcache_request_duration_seconds";

/// Bucket bounds of every `*_duration_seconds` histogram (node, proxy and
/// client), as docs/metrics.md lists them: 50µs .. 1s.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The exporter configuration every ringcache process uses: histograms
/// named `*_duration_seconds` rendered with [`DURATION_BUCKETS`] as
/// Prometheus histograms (`_bucket` series, which `histogram_quantile`
/// aggregates across nodes) rather than as summaries.
pub fn prometheus_builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            &DURATION_BUCKETS,
        )
        // The bounds are a non-empty constant: this cannot fail.
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

/// Registers the descriptions with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        COMMANDS_TOTAL,
        "Requests executed, by command and reply status."
    );
    describe_counter!(
        CONNECTIONS_TOTAL,
        "Client connections accepted, including those refused past -c."
    );
    describe_counter!(
        CONNECTIONS_REJECTED_TOTAL,
        "Client connections refused because -c was reached."
    );
    describe_gauge!(CURRENT_CONNECTIONS, "Client connections currently open.");
    describe_gauge!(MAX_CONNECTIONS, "The -c limit on client connections.");
    describe_gauge!(
        UPTIME_SECONDS,
        Unit::Seconds,
        "Seconds since the node started."
    );
    describe_gauge!(CURRENT_ITEMS, "Items stored now (curr_items).");
    describe_counter!(ITEMS_TOTAL, "Items stored since start (total_items).");
    describe_gauge!(
        CURRENT_BYTES,
        Unit::Bytes,
        "Bytes used by items, as counted against -m (bytes)."
    );
    describe_gauge!(
        LIMIT_BYTES,
        Unit::Bytes,
        "The memory limit -m in bytes (limit_maxbytes)."
    );
    describe_counter!(
        ITEMS_EVICTED_TOTAL,
        "Live items removed to make room for new ones (evictions)."
    );
    describe_counter!(
        ITEMS_EXPIRED_TOTAL,
        "Items removed because their exptime passed."
    );
    describe_counter!(
        READ_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes read from client sockets (bytes_read)."
    );
    describe_counter!(
        WRITTEN_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes written to client sockets (bytes_written)."
    );
    describe_counter!(
        PROTOCOL_ERRORS_TOTAL,
        "Requests answered with an error line or that closed the connection, by kind."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from a parsed request to its reply, inside the process, by command."
    );
}

/// Every `status` label value, in the order of [`Status`].
const STATUSES: [&str; 17] = [
    "stored",
    "not_stored",
    "exists",
    "not_found",
    "deleted",
    "touched",
    "ok",
    "miss",
    "hit",
    "error",
    "hd",
    "va",
    "en",
    "nf",
    "ns",
    "ex",
    "none",
];

/// Index into [`STATUSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Ok,
    Miss,
    Hit,
    Error,
    Hd,
    Va,
    En,
    Nf,
    Ns,
    Ex,
    None,
}

/// Every `command` label value, in the order of [`command_index`].
const COMMANDS: [&str; 28] = [
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "flush_all",
    "version",
    "verbosity",
    "stats",
    "quit",
    "shutdown",
    "admin",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "unknown",
];

/// Every `kind` label value of `ringcache_protocol_errors_total`, in the
/// order of [`ErrorKind`].
const ERROR_KINDS: [&str; 5] = [
    "unknown_command",
    "bad_format",
    "too_large",
    "line_too_long",
    "server_error",
];

/// Index into [`ERROR_KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    UnknownCommand,
    BadFormat,
    TooLarge,
    LineTooLong,
    ServerError,
}

fn command_index(command: Option<Command>) -> usize {
    // `Command` is a plain enum in wire order; match on it so that adding a
    // verb without a label fails to compile rather than mislabels.
    let Some(command) = command else {
        return COMMANDS.len() - 1;
    };
    match command {
        Command::Get => 0,
        Command::Gets => 1,
        Command::Gat => 2,
        Command::Gats => 3,
        Command::Set => 4,
        Command::Add => 5,
        Command::Replace => 6,
        Command::Append => 7,
        Command::Prepend => 8,
        Command::Cas => 9,
        Command::Delete => 10,
        Command::Incr => 11,
        Command::Decr => 12,
        Command::Touch => 13,
        Command::FlushAll => 14,
        Command::Version => 15,
        Command::Verbosity => 16,
        Command::Stats => 17,
        Command::Quit => 18,
        Command::Shutdown => 19,
        Command::Admin => 20,
        Command::MetaGet => 21,
        Command::MetaSet => 22,
        Command::MetaDelete => 23,
        Command::MetaArithmetic => 24,
        Command::MetaNoop => 25,
        Command::MetaDebug => 26,
    }
}

/// The `ringcache_commands_total`, `ringcache_request_duration_seconds` and
/// `ringcache_protocol_errors_total` series of one executor (a node or the
/// proxy's front side), each registered on first use and then updated
/// without a registry lookup: building a labelled key per request would
/// cost a hash lookup (and allocate) on the hot path.
#[derive(Debug)]
pub(crate) struct CommandCounters {
    slots: Box<[OnceLock<Counter>]>,
    durations: Box<[OnceLock<Histogram>]>,
    errors: [OnceLock<Counter>; ERROR_KINDS.len()],
}

impl Default for CommandCounters {
    fn default() -> Self {
        CommandCounters {
            slots: (0..COMMANDS.len() * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            durations: (0..COMMANDS.len()).map(|_| OnceLock::new()).collect(),
            errors: Default::default(),
        }
    }
}

impl CommandCounters {
    /// Counts one executed request: `ringcache_commands_total` (per key for
    /// `get`/`gets`/`gat`/`gats`, as memcached's `get_hits`/`get_misses`),
    /// its time since `started`, and a protocol error if it was one.
    pub(crate) fn record_request(&self, request: &Request, response: &Response, started: Instant) {
        let c = command_index(request.command());
        match (request, response) {
            (Request::Get(g) | Request::Gets(g), Response::Values(values)) => {
                self.count_keys(c, g.keys.len(), values.len())
            }
            (Request::Gat(g) | Request::Gats(g), Response::Values(values)) => {
                self.count_keys(c, g.keys.len(), values.len())
            }
            (Request::Invalid(_) | Request::TooLarge(_), _) => self.count(c, Status::Error, 1),
            // `cache_memlimit ... noreply`: done, reply withheld.
            (Request::Admin(_), Response::NoReply) => self.count(c, Status::Ok, 1),
            (Request::MetaGet(_), Response::Meta(m)) => {
                let s = match m.status {
                    MetaStatus::Va | MetaStatus::Hd => Status::Hit,
                    MetaStatus::En => Status::Miss,
                    _ => status(response),
                };
                self.count(c, s, 1);
            }
            _ => self.count(c, status(response), 1),
        }
        if let Some(kind) = error_kind(request, response) {
            self.errors[kind as usize]
                .get_or_init(|| {
                    metrics::counter!(PROTOCOL_ERRORS_TOTAL, "kind" => ERROR_KINDS[kind as usize])
                })
                .increment(1);
        }
        if let Some(histogram) = self.duration(c) {
            histogram.record(started.elapsed().as_secs_f64());
        }
    }

    /// Registers the `hit` and `miss` series of the retrieval commands, and
    /// the latency histograms of the common commands, at 0, so that
    /// Prometheus sees them before the first request (a series that first
    /// appears at 300 shows no increase to `rate()`).
    pub(crate) fn preregister(&self) {
        use Command::{Delete, Gat, Gats, Get, Gets, MetaGet, MetaSet, Set};
        for command in [Get, Gets, Gat, Gats, MetaGet] {
            for status in [Status::Hit, Status::Miss] {
                self.count(command_index(Some(command)), status, 0);
            }
        }
        for command in [Get, Gets, Gat, Gats, MetaGet, Set, MetaSet, Delete] {
            self.duration(command_index(Some(command)));
        }
    }

    fn duration(&self, c: usize) -> Option<&Histogram> {
        let slot = self.durations.get(c)?;
        Some(slot.get_or_init(
            || metrics::histogram!(REQUEST_DURATION_SECONDS, "command" => COMMANDS[c]),
        ))
    }

    fn count_keys(&self, c: usize, keys: usize, hits: usize) {
        if hits > 0 {
            self.count(c, Status::Hit, hits as u64);
        }
        let misses = keys.saturating_sub(hits);
        if misses > 0 {
            self.count(c, Status::Miss, misses as u64);
        }
    }

    fn count(&self, c: usize, s: Status, n: u64) {
        let s = s as usize;
        if let Some(slot) = self.slots.get(c * STATUSES.len() + s) {
            slot.get_or_init(|| {
                metrics::counter!(COMMANDS_TOTAL, "command" => COMMANDS[c], "status" => STATUSES[s])
            })
            .increment(n);
        }
    }
}

/// The `status` label of a reply.
fn status(response: &Response) -> Status {
    match response {
        Response::Stored => Status::Stored,
        Response::NotStored => Status::NotStored,
        Response::Exists => Status::Exists,
        Response::NotFound => Status::NotFound,
        Response::Deleted => Status::Deleted,
        Response::Touched => Status::Touched,
        Response::Ok | Response::Reset | Response::Version(_) | Response::Stats(_) => Status::Ok,
        Response::Values(v) if v.is_empty() => Status::Miss,
        Response::Values(_) => Status::Hit,
        Response::Number(_) => Status::Ok,
        Response::Error | Response::ClientError(_) | Response::ServerError(_) => Status::Error,
        Response::Line(_) => Status::Error,
        Response::Meta(m) => match m.status {
            MetaStatus::Hd => Status::Hd,
            MetaStatus::Va => Status::Va,
            MetaStatus::En => Status::En,
            MetaStatus::Nf => Status::Nf,
            MetaStatus::Ns => Status::Ns,
            MetaStatus::Ex => Status::Ex,
        },
        Response::MetaNoop | Response::MetaDebug(_) | Response::MetaDump(_) => Status::Ok,
        Response::NoReply => Status::None,
    }
}

/// The `kind` of a protocol error, or `None` for a request that is not one.
fn error_kind(request: &Request, response: &Response) -> Option<ErrorKind> {
    match request {
        Request::TooLarge(_) => return Some(ErrorKind::TooLarge),
        Request::Invalid(r) => {
            return Some(match r.reason {
                Reason::UnknownCommand | Reason::Http => ErrorKind::UnknownCommand,
                Reason::LineTooLong | Reason::MultigetTooLong => ErrorKind::LineTooLong,
                _ => ErrorKind::BadFormat,
            })
        }
        _ => {}
    }
    match response {
        Response::Error => Some(ErrorKind::UnknownCommand),
        Response::ClientError(_) => Some(ErrorKind::BadFormat),
        Response::ServerError(_) => Some(ErrorKind::ServerError),
        _ => None,
    }
}

/// Counts an accepted connection and whether it was refused.
pub(crate) fn connection_accepted(rejected: bool) {
    metrics::counter!(CONNECTIONS_TOTAL).increment(1);
    if rejected {
        metrics::counter!(CONNECTIONS_REJECTED_TOTAL).increment(1);
    }
}

/// Moves the open-connections gauge.
pub(crate) fn connection_open(delta: f64) {
    metrics::gauge!(CURRENT_CONNECTIONS).increment(delta);
}

/// Copies a node's own counters (the ones `stats` prints) into its
/// Prometheus series at scrape time, so that the request path pays nothing
/// for them. Counters stay monotonic across `stats reset`: each refresh adds
/// the growth since the previous one (after a reset, the whole new value).
///
/// The handles are registered on the first refresh, with whatever recorder
/// is current then.
///
/// Cheap to clone (clones share their state).
#[derive(Debug, Clone)]
pub struct NodeMirror {
    node: Node,
    handles: Arc<OnceLock<MirrorHandles>>,
    last: Arc<Mutex<[u64; 5]>>,
}

#[derive(Debug)]
struct MirrorHandles {
    max_connections: Gauge,
    uptime: Gauge,
    current_items: Gauge,
    current_bytes: Gauge,
    limit_bytes: Gauge,
    /// items_total, evicted, expired, read bytes, written bytes.
    counters: [Counter; 5],
}

impl NodeMirror {
    /// A mirror of `node` (sharing its state).
    pub fn new(node: &Node) -> NodeMirror {
        NodeMirror {
            node: node.clone(),
            handles: Arc::new(OnceLock::new()),
            last: Arc::new(Mutex::new([0; 5])),
        }
    }

    /// Sets the gauges and advances the counters to the node's values now,
    /// after letting moka finish its pending housekeeping (item and byte
    /// counts are estimates until then, as for `stats`).
    pub async fn refresh(&self) {
        self.node.store().sync().await;
        let h = self.handles.get_or_init(|| {
            self.node.commands().preregister();
            MirrorHandles {
                max_connections: metrics::gauge!(MAX_CONNECTIONS),
                uptime: metrics::gauge!(UPTIME_SECONDS),
                current_items: metrics::gauge!(CURRENT_ITEMS),
                current_bytes: metrics::gauge!(CURRENT_BYTES),
                limit_bytes: metrics::gauge!(LIMIT_BYTES),
                counters: [
                    metrics::counter!(ITEMS_TOTAL),
                    metrics::counter!(ITEMS_EVICTED_TOTAL),
                    metrics::counter!(ITEMS_EXPIRED_TOTAL),
                    metrics::counter!(READ_BYTES_TOTAL),
                    metrics::counter!(WRITTEN_BYTES_TOTAL),
                ],
            }
        });
        let node = &self.node;
        let store = node.store();
        let stats = store.stats();
        let conns = node.conn_stats();
        h.max_connections.set(node.config().max_conns as f64);
        h.uptime.set(node.uptime().as_secs() as f64);
        h.current_items.set(store.item_count() as f64);
        h.current_bytes.set(store.weighted_bytes() as f64);
        h.limit_bytes.set(store.max_bytes() as f64);
        let now = [
            stats.total_items.get(),
            stats.evictions(),
            stats.expirations(),
            conns.bytes_read.get(),
            conns.bytes_written.get(),
        ];
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        for ((counter, last), now) in h.counters.iter().zip(last.iter_mut()).zip(now) {
            // Below the last value: `stats reset` zeroed it since.
            counter.increment(now.checked_sub(*last).unwrap_or(now));
            *last = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use ringcache_protocol::{Get, Value};

    fn value(key: &'static [u8]) -> Value {
        Value {
            key: Bytes::from_static(key),
            flags: 0,
            cas: None,
            data: Bytes::from_static(b"v"),
        }
    }

    #[test]
    fn every_command_has_its_label() {
        for c in [
            Command::Get,
            Command::MetaDebug,
            Command::MetaGet,
            Command::Admin,
            Command::FlushAll,
            Command::Quit,
        ] {
            assert_eq!(COMMANDS[command_index(Some(c))], c.as_str());
        }
        assert_eq!(COMMANDS[command_index(None)], "unknown");
    }

    #[test]
    fn statuses_and_kinds_match_their_labels() {
        assert_eq!(STATUSES[Status::None as usize], "none");
        assert_eq!(STATUSES[Status::Hit as usize], "hit");
        assert_eq!(STATUSES[Status::Ex as usize], "ex");
        assert_eq!(ERROR_KINDS[ErrorKind::ServerError as usize], "server_error");
    }

    #[test]
    fn commands_are_counted_by_command_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            let counters = CommandCounters::default();
            let get = Request::Get(Get {
                keys: vec![Bytes::from_static(b"a")],
            });
            counters.record_request(&get, &Response::Values(vec![]), Instant::now());
            counters.record_request(&Request::Version, &Response::Ok, Instant::now());
            counters.record_request(&Request::Version, &Response::Ok, Instant::now());
            counters.record_request(&Request::Quit, &Response::NoReply, Instant::now());
            connection_accepted(true);
            connection_open(1.0);
        });
        let text = handle.render();
        assert!(text.contains(r#"ringcache_commands_total{command="get",status="miss"} 1"#));
        assert!(text.contains(r#"ringcache_commands_total{command="version",status="ok"} 2"#));
        assert!(text.contains(r#"ringcache_commands_total{command="quit",status="none"} 1"#));
        assert!(text.contains("ringcache_connections_rejected_total 1"));
        assert!(text.contains("ringcache_current_connections 1"));
    }

    #[test]
    fn gets_count_per_key() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let counters = CommandCounters::default();
            let get = Request::Get(Get {
                keys: vec![
                    Bytes::from_static(b"a"),
                    Bytes::from_static(b"b"),
                    Bytes::from_static(b"c"),
                ],
            });
            let reply = Response::Values(vec![value(b"a")]);
            counters.record_request(&get, &reply, Instant::now());
        });
        let text = handle.render();
        assert!(text.contains(r#"ringcache_commands_total{command="get",status="hit"} 1"#));
        assert!(text.contains(r#"ringcache_commands_total{command="get",status="miss"} 2"#));
    }

    #[test]
    fn durations_render_as_buckets() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let counters = CommandCounters::default();
            let get = Request::Get(Get {
                keys: vec![Bytes::from_static(b"a")],
            });
            counters.record_request(&get, &Response::Values(vec![]), Instant::now());
        });
        let text = handle.render();
        assert!(
            text.contains(
                r#"ringcache_request_duration_seconds_bucket{command="get",le="0.00005"}"#
            ),
            "{text}"
        );
        assert!(text
            .contains(r#"ringcache_request_duration_seconds_bucket{command="get",le="+Inf"} 1"#));
        assert!(text.contains(r#"ringcache_request_duration_seconds_count{command="get"} 1"#));
    }

    #[test]
    fn the_mirror_copies_store_counters_and_stays_monotonic() {
        use crate::exec::Execute;
        use crate::NodeConfig;
        use ringcache_protocol::{Stats as StatsRequest, Store as StoreRequest};

        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let node = Node::new(NodeConfig {
            memory_mb: 8,
            ..NodeConfig::default()
        });
        let mirror = NodeMirror::new(&node);
        let set = |key: &'static [u8]| {
            Request::Set(StoreRequest {
                key: Bytes::from_static(key),
                flags: 0,
                exptime: 0,
                value: Bytes::from_static(b"value"),
                noreply: false,
            })
        };
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                node.execute(&set(b"a")).await;
                node.execute(&set(b"b")).await;
                mirror.refresh().await;
            });
        });
        let text = handle.render();
        assert!(text.contains("ringcache_current_items 2"), "{text}");
        assert!(text.contains("ringcache_items_total 2"), "{text}");
        assert!(text.contains("ringcache_limit_bytes 8388608"), "{text}");
        assert!(text.contains("ringcache_max_connections 1024"), "{text}");
        assert!(text.contains(r#"ringcache_commands_total{command="gets",status="miss"} 0"#));
        assert!(text.contains(r#"ringcache_request_duration_seconds_count{command="mg"} 0"#));
        assert!(!text.contains("ringcache_current_bytes 0\n"), "{text}");
        // `stats reset` zeroes the node's counters, not the exported ones.
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(async {
                let reset = Request::Stats(StatsRequest {
                    group: Some(Bytes::from_static(b"reset")),
                    args: Vec::new(),
                });
                assert_eq!(node.execute(&reset).await, Response::Reset);
                node.execute(&set(b"c")).await;
                mirror.refresh().await;
            });
        });
        let text = handle.render();
        assert!(text.contains("ringcache_items_total 3"), "{text}");
        assert!(text.contains("ringcache_current_items 3"), "{text}");
    }

    /// What one request costs in metrics, with a Prometheus recorder: the
    /// per-request work of `Node::execute` (two clock reads, a counter, a
    /// histogram sample), without the request. Run it in release:
    /// `cargo test --release -p ringcache-server --lib -- --ignored measure_request_metrics --nocapture`
    #[test]
    #[ignore = "measurement, not a test: prints ns per request"]
    fn measure_request_metrics() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        let get = Request::Get(Get {
            keys: vec![Bytes::from_static(b"key:000000000001")],
        });
        let reply = Response::Values(vec![value(b"key:000000000001")]);
        let n = 2_000_000u32;
        metrics::with_local_recorder(&recorder, || {
            let counters = CommandCounters::default();
            for round in 0..3 {
                let start = Instant::now();
                for i in 0..n {
                    counters.record_request(&get, &reply, Instant::now());
                    if i % 100_000 == 0 {
                        handle.run_upkeep();
                    }
                }
                let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
                println!(
                    "round {round}: {ns:.1} ns per request (record_request, recorder installed)"
                );
            }
        });
    }
}
