//! `ringcache node --metrics`: the binary's `/metrics` over real HTTP,
//! after real traffic, holds every node series of docs/metrics.md with
//! the values that traffic implies.

mod ports;

use ports::free_port;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(10);

/// A node with `--metrics`, killed on drop.
struct Node {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(extra: &[&str]) -> Node {
    for _ in 0..5 {
        let (port, mport) = (free_port(), free_port());
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let metrics: SocketAddr = format!("127.0.0.1:{mport}").parse().expect("addr");
        let mut args = vec![
            "node".to_owned(),
            "-p".to_owned(),
            port.to_string(),
            "--metrics".to_owned(),
            metrics.to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let child = Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ringcache");
        let mut node = Node {
            child,
            addr,
            metrics,
        };
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Ok(Some(_)) = node.child.try_wait() {
                break; // lost a port race: try other ports
            }
            if TcpStream::connect(addr).is_ok() && TcpStream::connect(metrics).is_ok() {
                return node;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("ringcache node did not start");
}

/// One HTTP GET; returns (status line, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// Sends `request` and reads until the reply ends with `end`.
fn roundtrip(s: &mut TcpStream, request: &[u8], end: &[u8]) -> Vec<u8> {
    s.write_all(request).expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
    }
    reply
}

/// The value of the series whose line starts with `series ` exactly.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn node_metrics_over_http_follow_the_traffic() {
    let node = start_node(&["-m", "8", "-c", "77"]);
    let mut s = TcpStream::connect(node.addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    assert_eq!(
        roundtrip(&mut s, b"set a 0 0 1\r\nx\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(
        roundtrip(&mut s, b"set b 0 0 1\r\ny\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    // noreply: no reply, but counted as what was done.
    s.write_all(b"set c 0 0 1 noreply\r\nz\r\n").expect("write");
    // get a b c d: 3 hits and 1 miss, counted per key.
    let reply = roundtrip(&mut s, b"get a b c d\r\n", b"END\r\n");
    assert_eq!(reply.windows(5).filter(|w| w == b"VALUE").count(), 3);
    // mg: a hit and a miss.
    assert_eq!(roundtrip(&mut s, b"mg a v\r\n", b"\r\n"), b"VA 1\r\nx\r\n");
    assert_eq!(roundtrip(&mut s, b"mg nope v\r\n", b"\r\n"), b"EN\r\n");
    // Protocol errors.
    assert_eq!(roundtrip(&mut s, b"bogus\r\n", b"\r\n"), b"ERROR\r\n");
    let too_large = format!("set big 0 0 {}\r\n{}\r\n", 2 << 20, "x".repeat(2 << 20));
    assert_eq!(
        roundtrip(&mut s, too_large.as_bytes(), b"\r\n"),
        b"SERVER_ERROR object too large for cache\r\n"
    );
    // The error comes as soon as the line is read, like memcached's, while
    // the node may still be swallowing the 2 MiB data block: a reply to the
    // next request proves it has read all of it (read_bytes_total below).
    assert_eq!(
        roundtrip(&mut s, b"version\r\n", b"\r\n"),
        b"VERSION 1.6.18\r\n"
    );

    let (status, text) = http_get(node.metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let c = |series: &str| value(&text, series);
    assert_eq!(
        c(r#"ringcache_commands_total{command="get",status="hit"}"#),
        3.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="get",status="miss"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="mg",status="hit"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="mg",status="miss"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="set",status="stored"}"#),
        3.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="set",status="error"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_commands_total{command="unknown",status="error"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_protocol_errors_total{kind="unknown_command"}"#),
        1.0
    );
    assert_eq!(
        c(r#"ringcache_protocol_errors_total{kind="too_large"}"#),
        1.0
    );
    assert_eq!(c("ringcache_current_connections"), 1.0);
    assert_eq!(c("ringcache_max_connections"), 77.0);
    assert_eq!(c("ringcache_limit_bytes"), 8.0 * 1024.0 * 1024.0);
    assert_eq!(c("ringcache_items_total"), 3.0);
    assert_eq!(c("ringcache_items_evicted_total"), 0.0);
    assert_eq!(c("ringcache_items_expired_total"), 0.0);
    assert!(c("ringcache_current_items") <= 3.0);
    assert!(c("ringcache_current_bytes") > 0.0);
    assert!(c("ringcache_uptime_seconds") >= 0.0);
    assert!(c("ringcache_read_bytes_total") > f64::from(2 << 20));
    assert!(c("ringcache_written_bytes_total") > 0.0);
    // Latency: a Prometheus histogram with the contract's buckets.
    assert_eq!(
        c(r#"ringcache_request_duration_seconds_bucket{command="get",le="+Inf"}"#),
        1.0
    );
    assert!(
        text.contains(r#"ringcache_request_duration_seconds_bucket{command="get",le="0.00005"}"#)
    );
    assert!(text.contains(r#"ringcache_request_duration_seconds_bucket{command="get",le="1"}"#));
    assert!(text.contains("# TYPE ringcache_request_duration_seconds histogram"));
    assert!(
        !text.contains("ringcache_connections "),
        "the old name is gone"
    );

    // A node has no ring to draw; unknown paths are 404.
    assert_eq!(
        http_get(node.metrics, "/status").0,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(http_get(node.metrics, "/nope").0, "HTTP/1.1 404 Not Found");

    // Counters move between scrapes; gauges follow the connection count.
    assert_eq!(roundtrip(&mut s, b"get a\r\n", b"END\r\n").len(), 21);
    drop(s);
    let start = Instant::now();
    loop {
        let (_, text) = http_get(node.metrics, "/metrics");
        if value(&text, "ringcache_current_connections") == 0.0 {
            assert_eq!(
                value(
                    &text,
                    r#"ringcache_commands_total{command="get",status="hit"}"#
                ),
                4.0
            );
            break;
        }
        assert!(start.elapsed() < DEADLINE, "connection gauge stuck");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_http_path_deploy_probes_or_scrapes_answers_ok() {
    // The Kubernetes manifests probe and scrape the metrics port by path
    // (`path: /health`, `path: /metrics`); a path the binary does not
    // serve would restart every pod or lose every series. The node and the
    // proxy share this endpoint's routes.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kubernetes");
    let mut paths: Vec<String> = std::fs::read_dir(dir)
        .expect("deploy/kubernetes")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("read"))
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix("path: "))
                .map(|path| path.trim().trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    paths.sort();
    paths.dedup();
    assert!(
        paths.iter().any(|p| p == "/health"),
        "the manifests' liveness probe path: {paths:?}"
    );
    let node = start_node(&[]);
    for path in &paths {
        let (status, body) = http_get(node.metrics, path);
        assert_eq!(status, "HTTP/1.1 200 OK", "GET {path}: {body}");
    }
}
