//! Shared harness of the hardening tests (`hostile_*`, `limits_*`,
//! `chaos*`, `shutdown_*`): the `ringcache` binary as a *child process*,
//! so its RSS is real and it can be signalled (SIGKILL, SIGSTOP, SIGTERM),
//! plus small blocking-socket helpers. `tests/common` starts servers too,
//! but keeps the child private; these tests need its pid.
//!
//! Loopback only, ports picked by the OS, waits on conditions with
//! deadlines.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Longest any single wait may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A `ringcache` child process (node or proxy), killed and reaped on drop.
pub struct Proc {
    pub port: u16,
    child: Child,
    log: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub use crate::ports::free_port;

impl Proc {
    /// `ringcache node -l 127.0.0.1 -p <free> -t 2` plus `extra`.
    pub fn node(extra: &[&str]) -> Proc {
        Self::node_with_env(extra, &[])
    }

    /// [`Proc::node`] with extra environment variables for the child.
    pub fn node_with_env(extra: &[&str], env: &[(&str, &str)]) -> Proc {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::start_retrying(&env, |port| {
            let mut v: Vec<String> = ["node", "-l", "127.0.0.1", "-t", "2", "-p"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            v.push(port.to_string());
            v.extend(extra.iter().map(|s| (*s).to_owned()));
            v
        })
    }

    /// `ringcache proxy -l 127.0.0.1 -p <free> -t 2 --nodes ...` plus `extra`.
    pub fn proxy(nodes: &[u16], extra: &[&str]) -> Proc {
        let list = nodes
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        Self::start_retrying(&[], |port| {
            let mut v: Vec<String> = ["proxy", "-l", "127.0.0.1", "-t", "2", "-p"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            v.push(port.to_string());
            v.push("--nodes".to_owned());
            v.push(list.clone());
            v.extend(extra.iter().map(|s| (*s).to_owned()));
            v
        })
    }

    fn start_retrying(env: &[(String, String)], args: impl Fn(u16) -> Vec<String>) -> Proc {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::spawn(port, args(port), env.to_vec()) {
                Ok(p) => return p,
                Err(why) => last = why,
            }
        }
        panic!("ringcache did not start: {last}");
    }

    /// Starts the same command again on the same port (after a kill).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + DEADLINE;
        loop {
            match spawn_child(self.port, &self.args, &self.env, &self.log) {
                Ok(child) => {
                    self.child = child;
                    return;
                }
                Err(why) if Instant::now() > deadline => panic!("restart: {why}"),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn spawn(port: u16, args: Vec<String>, env: Vec<(String, String)>) -> Result<Proc, String> {
        let log = std::env::temp_dir().join(format!(
            "ringcache-hard-{}-{port}-{}.log",
            std::process::id(),
            args[0]
        ));
        let child = spawn_child(port, &args, &env, &log)?;
        Ok(Proc {
            port,
            child,
            log,
            args,
            env,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB (`VmRSS` from `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Sends `signal` (`"KILL"`, `"STOP"`, `"CONT"`, `"TERM"`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} {}", self.pid());
    }

    /// Waits for the process to exit, up to `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > end {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the process (and its earlier incarnations) wrote to stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test if stderr shows a panic.
    pub fn assert_no_panic(&self, what: &str) {
        let text = self.stderr();
        assert!(!text.contains("panicked"), "{what} panicked:\n{text}");
    }
}

/// Spawns `ringcache ARGS` and waits until it accepts on `port`.
fn spawn_child(
    port: u16,
    args: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Result<Child, String> {
    let bin = env!("CARGO_BIN_EXE_ringcache");
    // Append: a restarted process adds to the same log, so a panic in any
    // incarnation is found.
    let file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("exited with {status}: {text}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("did not accept within 10 s".to_owned());
        }
        thread::sleep(Duration::from_millis(15));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A blocking connection with a short read timeout (callers keep their
/// own deadlines through [`read_until`]).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    s
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Done,
    Closed,
    TimedOut,
}

/// Reads into `buf` until it ends with `suffix` (any suffix when empty:
/// read to EOF), the peer closes, or `timeout` passes.
pub fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, suffix: &[u8], timeout: Duration) -> End {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if !suffix.is_empty() && buf.ends_with(suffix) {
            return End::Done;
        }
        if Instant::now() >= deadline {
            return End::TimedOut;
        }
        match s.read(&mut chunk) {
            Ok(0) => return End::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return End::Closed,
        }
    }
}

/// Sends `request`, reads until the reply ends with `suffix`; panics past
/// [`DEADLINE`] or on close.
pub fn roundtrip(s: &mut TcpStream, request: &[u8], suffix: &[u8]) -> Vec<u8> {
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let end = read_until(s, &mut buf, suffix, DEADLINE);
    assert_eq!(
        end,
        End::Done,
        "reply to {:?}: {:?}",
        String::from_utf8_lossy(&request[..request.len().min(80)]),
        String::from_utf8_lossy(&buf[..buf.len().min(200)])
    );
    buf
}

/// Whether the peer has closed `s` (EOF or reset) within `timeout`; bytes
/// read meanwhile are returned too.
pub fn closed_within(s: &mut TcpStream, timeout: Duration) -> (bool, Vec<u8>) {
    let mut buf = Vec::new();
    let end = read_until(s, &mut buf, b"", timeout);
    (end == End::Closed, buf)
}

/// Polls `cond` until it holds or `deadline` passes.
pub fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A well-behaved client's check: set a fresh value, read it back, within
/// [`DEADLINE`]. Returns on success, panics otherwise.
pub fn probe(addr: SocketAddr, tag: &str) {
    let mut s = connect(addr);
    let value = format!("v-{tag}");
    let set = roundtrip(
        &mut s,
        format!("set probe:{tag} 0 0 {}\r\n{value}\r\n", value.len()).as_bytes(),
        b"\r\n",
    );
    assert_eq!(set, b"STORED\r\n", "probe {tag}");
    let get = roundtrip(
        &mut s,
        format!("get probe:{tag}\r\n").as_bytes(),
        b"END\r\n",
    );
    let want = format!("VALUE probe:{tag} 0 {}\r\n{value}\r\nEND\r\n", value.len());
    assert_eq!(String::from_utf8_lossy(&get), want, "probe {tag}");
}

/// One `stats` field of the server at `addr`.
pub fn stat(addr: SocketAddr, name: &str) -> u64 {
    let mut s = connect(addr);
    let reply = roundtrip(&mut s, b"stats\r\n", b"END\r\n");
    let text = String::from_utf8_lossy(&reply);
    let prefix = format!("STAT {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in stats: {text}"))
}

/// Writes all of `bytes`, ignoring a reset (the peer may close first).
pub fn write_lossy(s: &mut TcpStream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}
