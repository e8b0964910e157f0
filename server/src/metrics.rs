//! Every metric name the server emits, each with its description, in one
//! place. Only `main` installs an exporter; without one the `metrics`
//! macros are no-ops, so this costs nothing in tests.
//!
//! Kept minimal for now (issue 3): commands by `command` and `status`, and
//! connections. Latency histograms and store gauges come with the metrics
//! issue.

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

/// Counts one executed request.
pub(crate) fn command(command: Option<Command>, response: &Response) {
    let command = command.map_or("unknown", Command::as_str);
    metrics::counter!(COMMANDS_TOTAL, "command" => command, "status" => status(response))
        .increment(1);
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
    fn commands_are_counted_by_command_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            command(Some(Command::Get), &Response::Values(vec![]));
            command(Some(Command::Set), &Response::Stored);
            connection_accepted(true);
        });
        let text = handle.render();
        assert!(text.contains(r#"ringcache_commands_total{command="get",status="miss"} 1"#));
        assert!(text.contains(r#"ringcache_commands_total{command="set",status="stored"} 1"#));
        assert!(text.contains("ringcache_connections_rejected_total 1"));
    }
}
