//! Hostile clients against a live node and a live proxy (child processes):
//! garbage, a line that never ends, absurd declared lengths, a value that
//! never arrives, thousands of half-open connections, a client that never
//! reads its replies, key and item size boundaries. Throughout, a
//! well-behaved client keeps getting correct answers (correctness is
//! asserted; latency only through generous deadlines), and nothing panics.
//!
//! Where memcached's reply is the contract, the same bytes go to Debian's
//! memcached and the replies are compared.

#![allow(clippy::unwrap_used)]

mod common;
mod hostile_support;
mod ports;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hostile_support::{
    closed_within, connect, probe, read_until, roundtrip, stat, wait_for, End, Proc, DEADLINE,
};

/// A tiny deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sends `input` followed by `mn` on a fresh connection and collects what
/// comes back until the `MN` barrier, a close, or a second of quiet (a
/// refused data block may swallow the barrier).
fn transcript(addr: SocketAddr, input: &[u8]) -> (Vec<u8>, bool) {
    let mut s = connect(addr);
    s.write_all(input).unwrap();
    s.write_all(b"mn\r\n").unwrap();
    let mut buf = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    let mut last_len = usize::MAX;
    while Instant::now() < deadline {
        match read_until(&mut s, &mut buf, b"MN\r\n", Duration::from_secs(1)) {
            End::Closed => return (buf, true),
            End::Done => return (buf, false),
            End::TimedOut if buf.len() == last_len => break,
            End::TimedOut => last_len = buf.len(),
        }
    }
    (buf, false)
}

/// Garbage: random bytes (newlines included) on several connections at
/// once; each gets error lines or is closed, and the server stays up.
fn garbage(addr: SocketAddr) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut conns = Vec::new();
    for _ in 0..8 {
        let mut s = connect(addr);
        let mut junk = vec![0u8; 32 * 1024];
        for b in junk.iter_mut() {
            let r = rng.next();
            // Mostly binary, some newlines, some letters of verbs.
            *b = match r % 16 {
                0 => b'\n',
                1 => b' ',
                2..=5 => b"gsetmadinc"[(r >> 8) as usize % 10],
                _ => (r >> 16) as u8,
            };
        }
        let _ = s.write_all(&junk);
        conns.push(s);
    }
    probe(addr, "after-garbage");
    for mut s in conns {
        // Replies or a close; either way the read ends within the deadline.
        let _ = read_until(&mut s, &mut Vec::new(), b"", Duration::from_millis(200));
    }
    probe(addr, "after-garbage-2");
}

/// A line without a newline that never ends: closed once it passes
/// memcached's 2048 bytes. Written in small pieces so it arrives as
/// memcached's case (no newline buffered).
fn endless_line(addr: SocketAddr) {
    let mut s = connect(addr);
    let mut sent = 0;
    let mut closed = false;
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline && sent < 64 * 1024 {
        if s.write_all(&[b'x'; 512]).is_err() {
            closed = true;
            break;
        }
        sent += 512;
        let (c, _) = closed_within(&mut s, Duration::from_millis(20));
        if c {
            closed = true;
            break;
        }
    }
    assert!(closed, "a {sent}-byte line without newline was not closed");
    assert!(sent <= 16 * 1024, "closed only after {sent} bytes");
    probe(addr, "after-endless");
}

/// An unterminated `get` line: memcached lets it grow without bound; the
/// node closes it past `Limits::max_multiget_line` (1 MiB), a documented
/// difference that keeps the read buffer bounded.
fn endless_get_line(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(b"get ").unwrap();
    let piece = b"key ".repeat(16 * 1024);
    let mut sent = 4;
    let mut closed = false;
    while sent < 4 << 20 {
        if s.write_all(&piece).is_err() {
            closed = true;
            break;
        }
        sent += piece.len();
        if sent > 1 << 20 && closed_within(&mut s, Duration::from_millis(20)).0 {
            closed = true;
            break;
        }
    }
    assert!(closed, "a {sent}-byte get line was not closed");
    assert!(sent > 1 << 20, "closed before the multi-get bound: {sent}");
    println!("endless get line: closed after {sent} bytes");
    probe(addr, "after-endless-get");
}

/// `set` with a declared length of 2^32, 2^31 and other absurd values:
/// an error line, no buffering, and the connection goes on.
const LENGTH_CASES: [&[u8]; 5] = [
    b"set k 0 0 4294967296\r\nget k\r\n",
    b"set k 0 0 2147483648\r\nget k\r\n",
    b"set k 0 0 2147483647\r\nget k\r\n",
    b"set k 0 0 18446744073709551616\r\nget k\r\n",
    b"set k 0 0 -1\r\nget k\r\n",
];

/// A value that never arrives: with an idle timeout the connection goes
/// after it; others are served meanwhile.
fn value_never_arrives(addr: SocketAddr, idle: Option<Duration>) {
    let mut s = connect(addr);
    s.write_all(b"set stuck 0 0 100000\r\nonly a few bytes")
        .unwrap();
    probe(addr, "beside-stuck");
    if let Some(idle) = idle {
        let started = Instant::now();
        let (closed, _) = closed_within(&mut s, idle + DEADLINE);
        assert!(closed, "idle connection with a pending value not closed");
        println!("stuck value: closed after {:?}", started.elapsed());
    }
    probe(addr, "beside-stuck-2");
}

/// How many descriptors this process may open (soft `RLIMIT_NOFILE`).
fn nofile_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Half-open connections: `n` clients connect, half send a partial line,
/// none finish. The server holds them all and still serves a well-behaved
/// client; closing them frees their slots.
fn half_open(addr: SocketAddr, n: usize, with_stats: bool) {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = std::net::TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(b"get half-open-key");
        }
        conns.push(s);
    }
    if with_stats {
        assert!(
            wait_for(DEADLINE, || stat(addr, "curr_connections") as usize > n),
            "server did not hold {n} connections"
        );
    }
    probe(addr, "among-half-open");
    drop(conns);
    if with_stats {
        assert!(
            wait_for(DEADLINE, || (stat(addr, "curr_connections") as usize) < 10),
            "half-open connections not released"
        );
    }
    probe(addr, "after-half-open");
}

/// A client that pipelines gets of a 100 KB value and never reads: the
/// server must stop reading from it (bounded write buffer), so its memory
/// stays bounded. Returns the RSS growth in KiB when `rss` is given.
fn never_reads(addr: SocketAddr, rss: Option<&dyn Fn() -> u64>) -> Option<u64> {
    let value = vec![b'v'; 100 * 1024];
    let mut setter = connect(addr);
    let mut req = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    assert_eq!(roundtrip(&mut setter, &req, b"\r\n"), b"STORED\r\n");
    let before = rss.map(|f| f());

    let mut s = connect(addr);
    s.set_nonblocking(true).unwrap();
    let gets = b"get big\r\n".repeat(4096);
    let mut sent = 0usize;
    let mut stalled_since = None;
    let deadline = Instant::now() + DEADLINE;
    // Write until the pipe has been full for 500 ms (the server stopped
    // reading), or a cap past what the kernel can buffer on loopback
    // (tcp_rmem's 32 MiB maximum here plus the sender's 4 MiB).
    while Instant::now() < deadline && sent < 64 << 20 {
        match s.write(&gets) {
            Ok(n) => {
                sent += n;
                stalled_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    let requested = sent / 9;
    println!(
        "never-reading client: {requested} gets sent ({} MB of replies asked for) before the pipe filled",
        requested * value.len() / (1024 * 1024)
    );
    assert!(
        stalled_since.is_some(),
        "the server kept reading {sent} bytes of requests whose replies were never read"
    );
    probe(addr, "beside-non-reader");
    let growth = before.map(|b| rss.unwrap()().saturating_sub(b));
    drop(s);
    probe(addr, "after-non-reader");
    growth
}

/// Key length 250 is stored, 251 refused; a value exactly at `-I` is
/// stored, one byte more refused (with memcached's item arithmetic).
fn size_boundaries(addr: SocketAddr) -> Vec<u8> {
    let mut input = Vec::new();
    for len in [250usize, 251] {
        let key = "k".repeat(len);
        input.extend(format!("set {key} 0 0 1\r\nx\r\nget {key}\r\n").bytes());
    }
    // -I 1m: header 48 + key 1 + NUL 1 + CRLF 2 + CAS 8 = 60 bytes beside
    // the value.
    let at_limit = 1024 * 1024 - 60;
    for len in [at_limit - 1, at_limit, at_limit + 1] {
        input.extend(format!("set b 0 0 {len}\r\n").bytes());
        input.extend(std::iter::repeat_n(b'z', len));
        input.extend_from_slice(b"\r\nmg b s\r\n");
    }
    let (out, closed) = transcript(addr, &input);
    assert!(!closed);
    out
}

#[test]
fn hostile_clients_against_a_node() {
    let node = Proc::node(&["-m", "64", "-c", "4096"]);
    let addr = node.addr();
    garbage(addr);
    endless_line(addr);
    endless_get_line(addr);
    value_never_arrives(addr, None);
    {
        let idle = Proc::node(&["--idle-timeout", "2"]);
        value_never_arrives(idle.addr(), Some(Duration::from_secs(2)));
        idle.assert_no_panic("node with idle timeout");
    }

    let limit = nofile_limit();
    let n = 2000.min(limit.saturating_sub(200) / 2).max(100);
    if n < 2000 {
        println!("RLIMIT_NOFILE {limit}: scaled half-open connections down to {n}");
    }
    half_open(addr, n, true);

    let growth = never_reads(addr, Some(&|| node.rss_kib())).unwrap();
    println!("never-reading client: node RSS grew {growth} KiB");
    assert!(
        growth < 32 * 1024,
        "node RSS grew {growth} KiB for a client that never reads"
    );
    node.assert_no_panic("node");
}

#[test]
fn declared_lengths_and_boundaries_match_memcached() {
    let node = Proc::node(&["-m", "64"]);
    let memcached = common::Server::memcached();
    for case in LENGTH_CASES {
        let ours = transcript(node.addr(), case);
        let theirs = transcript(memcached.addr(), case);
        assert_eq!(
            String::from_utf8_lossy(&ours.0),
            String::from_utf8_lossy(&theirs.0),
            "reply to {:?}",
            String::from_utf8_lossy(case)
        );
        assert_eq!(
            ours.1,
            theirs.1,
            "close after {:?}",
            String::from_utf8_lossy(case)
        );
    }
    let ours = size_boundaries(node.addr());
    let theirs = size_boundaries(memcached.addr());
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "key/item size boundaries"
    );
    // Both close an endless non-get line.
    endless_line(memcached.addr());
    endless_line(node.addr());
    node.assert_no_panic("node");
}

#[test]
fn hostile_clients_against_the_proxy() {
    let backend = Proc::node(&["-m", "64", "-c", "4096"]);
    let proxy = Proc::proxy(&[backend.port], &["-c", "4096"]);
    let addr = proxy.addr();
    garbage(addr);
    endless_line(addr);
    value_never_arrives(addr, None);
    for case in LENGTH_CASES {
        // Through the proxy: an error line or a close, never a hang, and
        // the proxy keeps serving.
        let (reply, _) = transcript(addr, case);
        assert!(
            reply.is_empty() || reply.ends_with(b"\r\n"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    let n = 1000.min(nofile_limit().saturating_sub(200) / 2);
    half_open(addr, n, false);
    if let Some(growth) = never_reads(addr, Some(&|| proxy.rss_kib())) {
        println!("never-reading client: proxy RSS grew {growth} KiB");
        assert!(growth < 32 * 1024, "proxy RSS grew {growth} KiB");
    }
    probe(addr, "proxy-end");
    proxy.assert_no_panic("proxy");
    backend.assert_no_panic("node behind the proxy");
}
