//! Every metric name the server emits, each with its description, in one
//! place. Only `main` installs an exporter; without one the `metrics`
//! macros are no-ops, so this costs nothing in tests.
//!
//! Kept minimal for now (issue 3): commands by `command` and `status`, and
//! connections. Latency histograms and store gauges come with the metrics
//! issue.

use std::sync::OnceLock;

use ringcache_protocol::{Command, MetaStatus, Response};

/// Counter: requests executed, by `command` (wire verb) and `status` (the
/// reply word, lower case: `hit`, `miss`, `stored`, `not_found`, `error`...).
pub const COMMANDS_TOTAL: &str = "ringcache_commands_total";
/// Counter: connections accepted (including ones refused past `-c`).
pub const CONNECTIONS_TOTAL: &str = "ringcache_connections_total";
/// Counter: connections refused past `-c`.
pub const CONNECTIONS_REJECTED_TOTAL: &str = "ringcache_connections_rejected_total";
/// Gauge: connections open now.
pub const CONNECTIONS: &str = "ringcache_connections";

/// Registers the descriptions with the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        COMMANDS_TOTAL,
        "Requests executed, by command and reply status."
    );
    metrics::describe_counter!(
        CONNECTIONS_TOTAL,
        "Client connections accepted, including those refused past -c."
    );
    metrics::describe_counter!(
        CONNECTIONS_REJECTED_TOTAL,
        "Client connections refused because -c was reached."
    );
    metrics::describe_gauge!(CONNECTIONS, "Client connections currently open.");
}

/// Every `status` label value, in the order of [`status_index`].
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

fn status_index(response: &Response) -> usize {
    let label = status(response);
    STATUSES
        .iter()
        .position(|s| *s == label)
        .unwrap_or(STATUSES.len() - 1)
}

fn command_index(command: Option<Command>) -> usize {
    let label = command.map_or("unknown", Command::as_str);
    COMMANDS
        .iter()
        .position(|c| *c == label)
        .unwrap_or(COMMANDS.len() - 1)
}

/// The `ringcache_commands_total` series of one node, registered on first
/// use and then incremented without a registry lookup: building a labelled
/// key per request would allocate on the hot path even with no exporter
/// installed.
#[derive(Debug)]
pub(crate) struct CommandCounters {
    slots: Box<[OnceLock<metrics::Counter>]>,
}

impl Default for CommandCounters {
    fn default() -> Self {
        CommandCounters {
            slots: (0..COMMANDS.len() * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
        }
    }
}

impl CommandCounters {
    /// Counts one executed request.
    pub(crate) fn record(&self, command: Option<Command>, response: &Response) {
        let (c, s) = (command_index(command), status_index(response));
        if let Some(slot) = self.slots.get(c * STATUSES.len() + s) {
            slot.get_or_init(|| {
                metrics::counter!(COMMANDS_TOTAL, "command" => COMMANDS[c], "status" => STATUSES[s])
            })
            .increment(1);
        }
    }
}

/// The `status` label of a reply.
fn status(response: &Response) -> &'static str {
    match response {
        Response::Stored => "stored",
        Response::NotStored => "not_stored",
        Response::Exists => "exists",
        Response::NotFound => "not_found",
        Response::Deleted => "deleted",
        Response::Touched => "touched",
        Response::Ok | Response::Reset | Response::Version(_) | Response::Stats(_) => "ok",
        Response::Values(v) if v.is_empty() => "miss",
        Response::Values(_) => "hit",
        Response::Number(_) => "ok",
        Response::Error | Response::ClientError(_) | Response::ServerError(_) => "error",
        Response::Line(_) => "error",
        Response::Meta(m) => match m.status {
            MetaStatus::Hd => "hd",
            MetaStatus::Va => "va",
            MetaStatus::En => "en",
            MetaStatus::Nf => "nf",
            MetaStatus::Ns => "ns",
            MetaStatus::Ex => "ex",
        },
        Response::MetaNoop | Response::MetaDebug(_) => "ok",
        Response::NoReply => "none",
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
    metrics::gauge!(CONNECTIONS).increment(delta);
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn every_command_has_a_label() {
        for c in [
            Command::Get,
            Command::MetaDebug,
            Command::Admin,
            Command::FlushAll,
        ] {
            assert_eq!(COMMANDS[command_index(Some(c))], c.as_str());
        }
        assert_eq!(COMMANDS[command_index(None)], "unknown");
    }

    #[test]
    fn commands_are_counted_by_command_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            let counters = CommandCounters::default();
            counters.record(Some(Command::Get), &Response::Values(vec![]));
            counters.record(Some(Command::Set), &Response::Stored);
            counters.record(Some(Command::Set), &Response::Stored);
            connection_accepted(true);
        });
        let text = handle.render();
        assert!(text.contains(r#"ringcache_commands_total{command="get",status="miss"} 1"#));
        assert!(text.contains(r#"ringcache_commands_total{command="set",status="stored"} 2"#));
        assert!(text.contains("ringcache_connections_rejected_total 1"));
    }
}
