//! `ringcache cluster`: in process (`Cluster::start` on free ports) and as
//! the binary (`--base-port 0`, endpoints read from its banner, SIGTERM
//! stops it with exit code 0). Also the `ringcache proxy` binary's start,
//! stop and flag errors.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proxy_support::{connect, roundtrip, stat, DEADLINE};
use ringcache_server::cluster::{Cluster, ClusterArgs};

fn args(nodes: u16) -> ClusterArgs {
    ClusterArgs {
        nodes,
        base_port: 0,
        memory_mb: 16,
        metrics: None,
        ring: None,
        replicas: 1,
        verbose: 0,
    }
}

#[test]
fn in_process_cluster_serves_through_its_proxy_and_stops() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt.block_on(Cluster::start(&args(3))).unwrap();
    assert_eq!(cluster.nodes().len(), 3);
    let proxy = cluster.proxy_addr();
    let mut s = connect(proxy);
    for i in 0..90 {
        let reply = roundtrip(
            &mut s,
            format!("set cl:{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
    let total: u64 = cluster.nodes().iter().map(|&a| stat(a, "curr_items")).sum();
    assert_eq!(total, 90, "every key on exactly one node");
    assert_eq!(stat(proxy, "ring_nodes"), 3);
    drop(s);
    // A connection left open across the shutdown shows that the proxy is
    // gone: the shutdown closes it. (Connecting afresh proves nothing: a test
    // running in parallel may already have been given the freed port.)
    let mut idle = connect(proxy);
    let started = Instant::now();
    rt.block_on(cluster.shutdown());
    assert!(started.elapsed() < DEADLINE);
    idle.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut byte = [0u8; 1];
    let read = idle.read(&mut byte);
    assert!(
        matches!(read, Ok(0)) || read.is_err() && !timed_out(&read),
        "the proxy is gone: an idle connection is closed, got {read:?}"
    );
}

#[test]
fn with_two_replicas_every_key_is_on_two_nodes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut a = args(3);
    a.replicas = 2;
    let cluster = rt.block_on(Cluster::start(&a)).unwrap();
    let mut s = connect(cluster.proxy_addr());
    for i in 0..90 {
        let reply = roundtrip(
            &mut s,
            format!("set cl:{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
    let total: u64 = cluster.nodes().iter().map(|&a| stat(a, "curr_items")).sum();
    assert_eq!(total, 180, "every key on exactly two nodes");
    rt.block_on(cluster.shutdown());
}

/// Whether a read failed only because its timeout ran out.
fn timed_out(read: &std::io::Result<usize>) -> bool {
    matches!(read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

#[test]
fn a_port_in_use_fails_the_start_and_leaves_nothing_running() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Take the would-be proxy port (base + 100) of a base whose node ports are free.
    let (taken, base) = loop {
        let base = proxy_support::free_port();
        let Some(proxy_port) = base.checked_add(100) else {
            continue;
        };
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", proxy_port)) {
            break (l, base);
        }
    };
    let mut a = args(2);
    a.base_port = base;
    let error = rt.block_on(Cluster::start(&a)).unwrap_err();
    assert!(error.to_string().contains("cannot listen"), "{error}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", base)).is_err(),
        "no node was left running"
    );
    drop(taken);
}

/// A spawned binary, killed if the test ends (a failed assertion
/// included) before the process has exited.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Spawns the binary and forwards its output lines (stdout and stderr).
fn spawn(args: &[&str]) -> (Spawned, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    (Spawned(child), rx)
}

/// The first line for which `pick` gives something, within the deadline.
fn first<T>(rx: &mpsc::Receiver<String>, mut pick: impl FnMut(&str) -> Option<T>) -> T {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let line = strip_ansi(&line);
                if let Some(v) = pick(&line) {
                    return v;
                }
                seen.push(line);
            }
            Err(_) => panic!("no expected line; output so far:\n{}", seen.join("\n")),
        }
    }
}

/// The line without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn terminate_and_wait(child: &mut Child) -> i32 {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the process exits after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn cluster_binary_prints_its_endpoints_and_exits_0_on_sigterm() {
    let (mut child, rx) = spawn(&["cluster", "--nodes", "2", "--base-port", "0"]);
    let mut nodes: Vec<SocketAddr> = Vec::new();
    let proxy: SocketAddr = first(&rx, |line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("node ") {
            nodes.push(rest.split_whitespace().nth(1)?.parse().ok()?);
        }
        line.strip_prefix("proxy")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    assert_eq!(nodes.len(), 2, "both nodes printed");
    let mut s = connect(proxy);
    assert_eq!(
        roundtrip(&mut s, b"set bin:k 0 0 2\r\nhi\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(
        roundtrip(&mut s, b"get bin:k\r\n", b"END\r\n"),
        b"VALUE bin:k 0 2\r\nhi\r\nEND\r\n"
    );
    let held: u64 = nodes.iter().map(|&a| stat(a, "curr_items")).sum();
    assert_eq!(held, 1);
    drop(s);
    assert_eq!(terminate_and_wait(&mut child), 0);
}

/// `GET path` over plain HTTP/1.0: the status line, the `Content-Type`
/// and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("");
    (
        head.lines().next().unwrap_or("").to_owned(),
        content_type.to_owned(),
        body.to_owned(),
    )
}

/// `GET /metrics`: the body.
fn scrape(addr: SocketAddr) -> String {
    http_get(addr, "/metrics").2
}

#[test]
fn cluster_binary_serves_node_proxy_and_client_metrics() {
    let metrics: SocketAddr = format!("127.0.0.1:{}", proxy_support::free_port())
        .parse()
        .unwrap();
    let metrics_arg = metrics.to_string();
    let (mut child, rx) = spawn(&[
        "cluster",
        "--nodes",
        "2",
        "--base-port",
        "0",
        "--metrics",
        &metrics_arg,
    ]);
    let mut nodes: Vec<String> = Vec::new();
    let proxy: SocketAddr = first(&rx, |line| {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("node ") {
            nodes.push(rest.split_whitespace().nth(1)?.to_owned());
        }
        line.strip_prefix("proxy")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    // The banner's status URL (printed after the proxy's line).
    let status_url = first(&rx, |line| {
        line.trim()
            .strip_prefix("status")
            .map(|rest| rest.trim().to_owned())
    });
    assert_eq!(status_url, format!("http://{metrics}/status"));
    assert_eq!(nodes.len(), 2, "both nodes printed");
    let mut s = connect(proxy);
    for i in 0..20 {
        let reply = roundtrip(
            &mut s,
            format!("set m:{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
    let text = scrape(metrics);
    for series in [
        // The proxy's and the nodes' commands (one endpoint per process).
        "ringcache_commands_total{command=\"set\",status=\"stored\"}",
        // The client inside the proxy: per-node requests and the ring.
        "ringcache_client_requests_total{",
        "ringcache_client_ring_nodes 2",
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }

    // The status page, and the JSON it polls: both nodes, up, sharing
    // the ring (tests/status_page.rs renders it in Chromium, on a proxy).
    let (status, content_type, page) = http_get(metrics, "/status");
    assert_eq!(status, "HTTP/1.1 200 OK", "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("<svg id=\"ring\""), "{page}");
    assert!(page.contains("fetch(\"status.json\""), "{page}");
    let (status, content_type, json) = http_get(metrics, "/status.json");
    assert_eq!(status, "HTTP/1.1 200 OK", "{json}");
    assert_eq!(content_type, "application/json");
    assert!(json.contains("\"ejected\":0,"), "{json}");
    let mut total_share = 0.0;
    for node in &nodes {
        let at = json
            .find(&format!("\"name\":\"{node}\""))
            .unwrap_or_else(|| panic!("{node} in {json}"));
        let object = json[at..].split('}').next().unwrap();
        assert!(object.contains("\"state\":\"up\""), "{object}");
        let share = object.split("\"share\":").nth(1).unwrap();
        total_share += share.split(',').next().unwrap().parse::<f64>().unwrap();
    }
    assert!((total_share - 1.0).abs() < 1e-4, "{json}");
    drop(s);
    assert_eq!(terminate_and_wait(&mut child), 0);
}

#[test]
fn proxy_binary_starts_serves_and_exits_0_on_sigterm() {
    let (mut node, node_rx) = spawn(&["node", "-p", "0"]);
    let node_addr: SocketAddr = first(&node_rx, |line| {
        line.split("addr=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    let nodes = node_addr.to_string();
    let (mut proxy, rx) = spawn(&["proxy", "-p", "0", "--nodes", &nodes, "--ring", "ketama"]);
    let proxy_addr: SocketAddr = first(&rx, |line| {
        if !line.contains("ringcache proxy listening") {
            return None;
        }
        line.split("addr=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    let mut s = connect(proxy_addr);
    assert_eq!(
        roundtrip(&mut s, b"set p 0 0 1\r\nx\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(stat(node_addr, "curr_items"), 1);
    let reply = String::from_utf8(roundtrip(&mut s, b"stats settings\r\n", b"END\r\n")).unwrap();
    assert!(reply.contains("STAT ring_scheme ketama\r\n"), "{reply}");
    // The client's failover defaults (failover journal and TTL cap).
    assert!(reply.contains("STAT failover_ttl_ms 60000\r\n"), "{reply}");
    assert!(
        reply.contains("STAT failover_journal_keys 65536\r\n"),
        "{reply}"
    );
    // One backend connection per worker thread (4 by default), each with
    // up to 1,024 requests in flight.
    assert!(reply.contains("STAT connections_per_node 4\r\n"), "{reply}");
    assert!(reply.contains("STAT max_in_flight 1024\r\n"), "{reply}");
    drop(s);
    assert_eq!(terminate_and_wait(&mut proxy), 0);
    assert_eq!(terminate_and_wait(&mut node), 0);
}

#[test]
fn proxy_binary_refuses_bad_flags_with_ex_usage() {
    for args in [
        vec!["proxy"],
        vec!["proxy", "--nodes", "a:1", "--dns", "b:2"],
        vec!["proxy", "--dns", "no-port"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(&args)
            .output()
            .unwrap();
        let code = out.status.code();
        // clap's own errors exit 2; ours exit 64 like memcached's.
        assert!(
            code == Some(64) || code == Some(2),
            "{args:?}: {code:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
