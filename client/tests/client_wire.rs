//! Connection-level behaviour against a scripted server: a timed-out
//! request poisons its connection (no late reply reaches another caller),
//! broken replies close the connection, a refused connect fails fast; and
//! the metrics a client records.

#![allow(clippy::unwrap_used)]

mod live;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use live::{builder, InProcNode};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A server answering `get KEY` with `KEY-value`: for `slow` only once the
/// test releases it (so the reply comes after the client's timeout, however
/// loaded the machine), with a malformed `VALUE` line for `garbage`. Counts
/// accepted connections.
async fn scripted_server() -> (String, Arc<AtomicUsize>, Arc<Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let name = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let count = Arc::clone(&accepted);
    let held = Arc::clone(&release);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let held = Arc::clone(&held);
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut lines = BufReader::new(rd).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Some(key) = line.strip_prefix("get ") else {
                        let _ = wr.write_all(b"ERROR\r\n").await;
                        continue;
                    };
                    let reply = match key {
                        "garbage" => "VALUE garbage zero 5\r\nhello\r\nEND\r\n".to_owned(),
                        _ => {
                            if key == "slow" {
                                held.notified().await;
                            }
                            let value = format!("{key}-value");
                            format!("VALUE {key} 0 {}\r\n{value}\r\nEND\r\n", value.len())
                        }
                    };
                    if wr.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (name, accepted, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_closes_its_connection_and_no_late_reply_leaks() {
    let (name, accepted, release) = scripted_server().await;
    let client = builder(std::slice::from_ref(&name))
        .connections_per_node(1)
        .request_timeout(Duration::from_millis(100))
        .failure_threshold(100)
        .build()
        .await
        .unwrap();
    assert_eq!(
        client.get("warm").await.unwrap().unwrap().value,
        "warm-value"
    );
    // `fast` is pipelined behind `slow` on the one connection.
    let (slow, fast) = tokio::join!(client.get("slow"), client.get("fast"));
    assert!(
        matches!(slow, Err(ringcache_client::Error::Timeout { .. })),
        "{slow:?}"
    );
    assert!(
        fast.is_err(),
        "fast must not get slow's late reply: {fast:?}"
    );
    // Now the late reply goes out, onto the connection the timeout closed.
    release.notify_one();
    // The next request goes out on a new connection and gets its own value.
    let got = client.get("after").await.unwrap().unwrap();
    assert_eq!(got.value, "after-value");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_malformed_reply_is_a_protocol_error_and_closes_the_connection() {
    let (name, accepted, _release) = scripted_server().await;
    let client = builder(std::slice::from_ref(&name))
        .connections_per_node(1)
        .build()
        .await
        .unwrap();
    let err = client.get("garbage").await.unwrap_err();
    assert!(
        matches!(err, ringcache_client::Error::Protocol { .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(client.get("ok").await.unwrap().unwrap().value, "ok-value");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_connect_fails_then_backs_off() {
    // A port nobody listens on: bind, read the port, close.
    let name = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let client = builder(std::slice::from_ref(&name))
        .connections_per_node(1)
        .reconnect_backoff(Duration::from_secs(30))
        .failure_threshold(1000)
        .build()
        .await
        .unwrap();
    let first = client.get("k").await.unwrap_err();
    assert!(
        matches!(
            first,
            ringcache_client::Error::Io { .. } | ringcache_client::Error::NodeDown { .. }
        ),
        "{first:?}"
    );
    // During the backoff: at once, without dialling.
    let started = std::time::Instant::now();
    let err = client.get("k").await.unwrap_err();
    assert!(
        matches!(err, ringcache_client::Error::NodeDown { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(100));
}

#[tokio::test]
async fn a_request_is_answered_by_its_deadline_while_its_connection_is_stuck_connecting() {
    // The server accepts and never says a word, so the client's
    // authentication (part of connecting) waits out the 10 s connect
    // timeout. Requests queued meanwhile fail at their own 200 ms deadline:
    // the connection's task holds them and times them out (callers keep no
    // timer of their own).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let name = listener.local_addr().unwrap().to_string();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = builder(std::slice::from_ref(&name))
        .connections_per_node(1)
        .credentials("user", "secret")
        .connect_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_millis(200))
        .failure_threshold(1000)
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(client.get("a"), client.get("b"));
    let waited = started.elapsed();
    for result in [&a, &b] {
        assert!(
            matches!(result, Err(ringcache_client::Error::Timeout { .. })),
            "{result:?}"
        );
    }
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}, not by the 200 ms deadline"
    );
    silent.abort();
}

#[test]
fn requests_are_counted_per_node_and_status() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (node, client) = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let node = InProcNode::start().await;
            let client = builder(&[node.name()]).build().await.unwrap();
            (node, client)
        })
    });
    runtime.block_on(async {
        client.set("k", "v", Duration::from_secs(60)).await.unwrap();
        client.get("k").await.unwrap();
        client.get("absent").await.unwrap();
    });
    let text = handle.render();
    let ok = format!(
        "ringcache_client_requests_total{{node=\"{}\",status=\"ok\"}} 3",
        node.name()
    );
    assert!(text.contains(&ok), "{text}");
    assert!(
        text.contains("ringcache_client_request_duration_seconds"),
        "{text}"
    );
    assert!(text.contains("ringcache_client_ring_nodes 1"), "{text}");
    // per-node gauges: nothing left in flight, not ejected
    for gauge in ["ringcache_client_in_flight", "ringcache_client_ejected"] {
        let line = format!("{gauge}{{node=\"{}\"}} 0", node.name());
        assert!(text.contains(&line), "{line} in {text}");
    }
    drop(client);
    runtime.block_on(async move {
        let mut node = node;
        node.stop().await;
    });
}
