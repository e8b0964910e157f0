//! The `ringcache` binary end to end: flags refused with memcached's
//! messages, the Prometheus endpoint, and SIGTERM → graceful exit 0.
//!
//! Ports: a free one is found by binding `127.0.0.1:0` and releasing it just
//! before the child binds it (the binary takes `-p`, as memcached does).

// Test helpers outside #[test] fns: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringcache");
const DEADLINE: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let mut stream = connect(port, &mut child);
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
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}
