//! Free loopback ports for the tests that start servers on a port of
//! their own (child processes, servers that must restart on the same port).
//! One copy per test binary: every support module takes its ports from
//! here, so two servers of one test process never get the same port.

// Test helpers: a panic is a failed assertion.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Mutex;

/// A port that was free a moment ago. The OS picks it and the probe
/// listener is dropped at once, so a start can still race another process
/// (callers retry); ports already handed out in this process are never
/// handed out again, because the OS may offer a port again as soon as its
/// probe is dropped and tests run in parallel.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
