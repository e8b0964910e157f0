//! The `ringcache` binary end to end: flags refused with memcached's
//! messages, the Prometheus endpoint, and SIGTERM → graceful exit 0.
//!
//! Ports: a free one is found by binding `127.0.0.1:0` and releasing it just
//! before the child binds it (the binary takes `-p`, as memcached does).

// Test helpers outside #[test] fns: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

mod ports;

use ports::free_port;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringcache");
const DEADLINE: Duration = Duration::from_secs(10);

/// Kills the child if a test fails before it stops it.
struct Reap<'a>(&'a mut Child);

impl Drop for Reap<'_> {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Connects once the child listens (or fails at the deadline).
fn connect(port: u16, child: &mut Child) -> TcpStream {
    let start = Instant::now();
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            return stream;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ringcache exited early: {status}");
        }
        assert!(
            start.elapsed() < DEADLINE,
            "ringcache did not start listening"
        );
        std::thread::yield_now();
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "ringcache did not exit");
        std::thread::yield_now();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn flags_out_of_bounds_are_refused_like_memcached() {
    let cases: [(&[&str], &str); 4] = [
        (&["node", "-U", "11211"], "does not serve UDP"),
        (
            &["node", "-I", "512"],
            "Item max size cannot be less than 1024 bytes.",
        ),
        (
            &["node", "-m", "1", "-I", "1m"],
            "Cannot set item size limit higher than 1/2 of memory max.",
        ),
        (
            &["node", "-t", "0"],
            "Number of threads must be greater than 0",
        ),
    ];
    for (args, message) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn serves_metrics_and_exits_zero_on_sigterm() {
    let port = free_port();
    let metrics_port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "node",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "16",
            "-t",
            "2",
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reap = Reap(&mut child);
    let child = &mut *reap.0;
    let mut stream = connect(port, child);
    stream
        .write_all(b"set k 0 0 1\r\nx\r\nget k\r\nversion\r\n")
        .unwrap();
    let expected = b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nVERSION 1.6.18\r\n";
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, expected);

    let body = http_get(metrics_port, "/metrics");
    assert!(
        body.contains(r#"ringcache_commands_total{command="set",status="stored"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"ringcache_commands_total{command="get",status="hit"} 1"#),
        "{body}"
    );
    assert!(body.contains("ringcache_connections_total"), "{body}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(child);
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

/// Out of file descriptors (EMFILE), the node keeps its clients, backs off
/// and accepts the waiting ones once descriptors free up; it never exits.
#[test]
fn survives_running_out_of_file_descriptors() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit not installed; skipping");
        return;
    }
    let port = free_port();
    let mut child = Command::new("prlimit")
        .args(["--nofile=48", "--", BIN, "node", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reap = Reap(&mut child);
    let child = &mut *reap.0;
    let mut first = connect(port, child);
    // More clients than the node has descriptors for. The kernel completes
    // their handshakes; the node accepts as many as it can.
    let mut clients: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for c in &mut clients {
        c.write_all(b"version\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    // Keep the served ones open: closing them would free descriptors.
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for mut c in clients {
        let mut buf = [0u8; 16];
        match c.read_exact(&mut buf) {
            Ok(()) => {
                assert_eq!(&buf, b"VERSION 1.6.18\r\n");
                served.push(c);
            }
            Err(_) => waiting.push(c),
        }
    }
    // With 48 descriptors the node cannot hold 80 clients at once.
    assert!(served.len() < 48, "served {}", served.len());
    assert_eq!(served.len() + waiting.len(), 80);
    // The node is alive and serving its existing clients.
    assert!(child.try_wait().unwrap().is_none(), "node exited on EMFILE");
    first.write_all(b"version\r\n").unwrap();
    let mut buf = [0u8; 16];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"VERSION 1.6.18\r\n");
    // Free descriptors: everyone who waited is served.
    drop(first);
    drop(served);
    for mut c in waiting {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 16];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"VERSION 1.6.18\r\n");
        drop(c); // frees a descriptor for the next one
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(wait_exit(child).code(), Some(0));
}
