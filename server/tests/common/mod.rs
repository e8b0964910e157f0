//! Shared harness for the wire-level tests: starts the real memcached and a
//! ringcache node as child processes on free loopback ports, and talks to them
//! with blocking sockets.
//!
//! Every `tests/*.rs` file compiles this module on its own, so helpers that one
//! file does not use would warn; hence the `dead_code` allowance on the module.
#![allow(dead_code)]

pub(crate) mod diff;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where Debian's `memcached` lives once `.ci/setup` has run.
const MEMCACHED: &str = "/usr/bin/memcached";
/// How long a server gets to start accepting connections.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How often the start-up probe tries to connect.
const START_POLL: Duration = Duration::from_millis(15);
/// How many times a start is retried (a free port can be taken in between).
const START_ATTEMPTS: usize = 5;

/// Which program a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Debian's memcached 1.6.18, the oracle.
    Memcached,
    /// Our node: `ringcache node`.
    Ringcache,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Memcached => "memcached",
            Kind::Ringcache => "ringcache",
        }
    }
}

/// The server the differential suite compares with memcached. It is a
/// ringcache node, unless `RINGCACHE_DIFF_AGAINST=memcached` asks for a second
/// memcached, which validates the harness itself (every case must then pass).
pub(crate) fn subject_kind() -> Kind {
    match std::env::var("RINGCACHE_DIFF_AGAINST").as_deref() {
        Ok("memcached") => Kind::Memcached,
        Ok("ringcache") | Err(_) => Kind::Ringcache,
        Ok(other) => panic!("RINGCACHE_DIFF_AGAINST={other}: expected memcached or ringcache"),
    }
}

/// A running child server, killed and reaped on drop (also when a test panics).
pub(crate) struct Server {
    pub(crate) kind: Kind,
    pub(crate) port: u16,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `kind` with the standard flags (`-m 64 -t 2`) plus `extra`.
    pub(crate) fn start(kind: Kind, extra: &[&str]) -> Server {
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match Self::try_start(kind, port, extra) {
                Ok(server) => return server,
                Err(why) => last_failure = why,
            }
        }
        panic!(
            "{} did not start after {START_ATTEMPTS} attempts: {last_failure}",
            kind.label()
        );
    }

    pub(crate) fn memcached() -> Server {
        Server::start(Kind::Memcached, &[])
    }

    pub(crate) fn ringcache() -> Server {
        Server::start(Kind::Ringcache, &[])
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// A fresh connection with a short read timeout, so that callers can keep
    /// their own deadlines.
    pub(crate) fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {} on {}: {e}", self.kind.label(), self.port));
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// What the child wrote to stderr so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_start(kind: Kind, port: u16, extra: &[&str]) -> Result<Server, String> {
        let port_s = port.to_string();
        let mut cmd = match kind {
            Kind::Memcached => {
                if !std::path::Path::new(MEMCACHED).exists() {
                    panic!("{MEMCACHED} is missing: run .ci/setup to install Debian's memcached");
                }
                let mut cmd = Command::new(MEMCACHED);
                // `-u root` is only read when running as root (CI does), where
                // memcached refuses to start without it.
                cmd.args([
                    "-U",
                    "0",
                    "-l",
                    "127.0.0.1",
                    "-p",
                    &port_s,
                    "-m",
                    "64",
                    "-t",
                    "2",
                ]);
                cmd.args(["-u", "root"]);
                cmd
            }
            Kind::Ringcache => {
                let bin = env!("CARGO_BIN_EXE_ringcache");
                if !std::path::Path::new(bin).exists() {
                    panic!("{bin} is missing: build it with `cargo build -p ringcache-server`");
                }
                let mut cmd = Command::new(bin);
                cmd.args([
                    "node",
                    "-l",
                    "127.0.0.1",
                    "-p",
                    &port_s,
                    "-m",
                    "64",
                    "-t",
                    "2",
                ]);
                cmd
            }
        };
        cmd.args(extra);
        let log = std::env::temp_dir().join(format!(
            "ringcache-test-{}-{}-{port}.log",
            kind.label(),
            std::process::id()
        ));
        let log_file = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {:?}: {e}", cmd.get_program()))?;
        let mut server = Server {
            kind,
            port,
            child,
            log,
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "{} on port {port} exited with {status} before accepting: {}",
                    kind.label(),
                    server.log()
                ));
            }
            if TcpStream::connect_timeout(&server.addr(), Duration::from_millis(100)).is_ok() {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} on port {port} did not accept within {START_DEADLINE:?}: {}",
                    kind.label(),
                    server.log()
                ));
            }
            thread::sleep(START_POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.kind == Kind::Ringcache {
            // Graceful first: the node promises a clean exit on SIGTERM.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    let _ = std::fs::remove_file(&self.log);
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub(crate) use crate::ports::free_port;

/// How a read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The wanted end was seen.
    Done,
    /// The peer closed (FIN or reset).
    Closed,
    /// The deadline passed first.
    TimedOut,
}

/// Says whether the bytes read so far hold the whole reply.
pub(crate) type Done<'a> = &'a dyn Fn(&[u8]) -> bool;

/// Reads into `buf` until `done(buf)` holds, the peer closes, or `timeout`
/// passes. `done` is never consulted when it is `None` (read to EOF).
pub(crate) fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: Option<Done<'_>>,
    timeout: Duration,
) -> ReadEnd {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if let Some(done) = done {
            if done(buf) {
                return ReadEnd::Done;
            }
        }
        if Instant::now() >= deadline {
            return ReadEnd::TimedOut;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return ReadEnd::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return ReadEnd::Closed,
        }
    }
}

/// Sends one request and reads its reply up to a line equal to `end`, for the
/// simple request/reply exchanges of the real-client tests.
pub(crate) fn roundtrip(server: &Server, request: &[u8], end: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(request).unwrap();
    let mut buf = Vec::new();
    let done = |b: &[u8]| b.ends_with(end);
    let how = read_until(&mut stream, &mut buf, Some(&done), Duration::from_secs(5));
    assert_eq!(
        how,
        ReadEnd::Done,
        "{}: no {:?} in reply to {:?}: {:?}",
        server.kind.label(),
        String::from_utf8_lossy(end),
        String::from_utf8_lossy(request),
        String::from_utf8_lossy(&buf)
    );
    buf
}
