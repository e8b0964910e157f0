//! Properties of the real connection handler under hostile input:
//!
//! 1. Any byte sequence, split any way across reads, never panics a
//!    connection task of an in-process node (served on `127.0.0.1:0`), and
//!    the node keeps serving other clients correctly.
//! 2. A well-formed request after a malformed one gets what memcached
//!    gives it: a bounded set of malformed prefixes (hand-picked plus
//!    seeded random ones), each followed by the same well-formed requests,
//!    sent to a ringcache node and to Debian's memcached, transcripts
//!    compared byte for byte.

#![allow(clippy::unwrap_used)]

mod common;
mod hostile_support;
mod ports;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use ringcache_server::{serve_with, Node, NodeConfig};

use hostile_support::{probe, DEADLINE};

/// Panics on the node's runtime threads (connection tasks), counted by a
/// panic hook; a test thread's own assertion failures are not counted.
static WORKER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_worker_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("hostile-node"))
            {
                WORKER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// An in-process node on its own runtime; lives for the whole test binary.
fn node() -> SocketAddr {
    static ADDR: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        count_worker_panics();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("hostile-node")
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let node = Node::new(NodeConfig {
                    max_item_size: 4096,
                    ..NodeConfig::default()
                });
                let config = node.serve_config();
                serve_with(listener, node, config, std::future::pending::<()>()).await;
            });
        });
        rx.recv().unwrap()
    })
}

/// Command fragments for generated input. No `flush_all`: the in-process
/// node is shared by this binary's tests, and a flush would make another
/// test's probe miss.
const FRAGMENTS: &[&[u8]] = &[
    b"get ",
    b"gets ",
    b"gat 1 ",
    b"set ",
    b"add ",
    b"cas ",
    b"prepend ",
    b"incr ",
    b"decr ",
    b"delete ",
    b"touch ",
    b"mg ",
    b"ms ",
    b"md ",
    b"ma ",
    b"mn",
    b"k ",
    b"0 ",
    b"3 ",
    b"5000 ",
    b"4294967296 ",
    b"noreply",
    b" v",
    b" q",
    b" b",
    b" T1",
    b" MS",
    b"\r\n",
    b"\n",
    b" ",
];

fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        2 => vec(any::<u8>(), 0..64),
        1 => (1usize..4000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ];
    vec(piece, 0..24).prop_map(|p| p.concat())
}

/// Writes `data` in the given pieces (each its own write, so the node sees
/// most of them as separate reads), then half-closes and reads to EOF.
fn drive(addr: SocketAddr, data: &[u8], cuts: &[usize]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let mut from = 0;
    let mut sink = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    for &to in cuts.iter().chain(std::iter::once(&data.len())) {
        if s.write_all(&data[from..to.max(from)]).is_err() {
            break; // the node closed (as memcached would): fine
        }
        from = to.max(from);
        // Drain replies as we go so the node never stalls on us.
        if let Ok(n) = s.read(&mut buf) {
            sink.extend_from_slice(&buf[..n]);
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "node did not close after EOF");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

proptest! {
    // No regression file: a failing case is printed, and the inputs are
    // cheap to regenerate.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_split_anyhow_never_panic_the_handler(
        data in hostile_bytes(),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let addr = node();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        drive(addr, &data, &points);
        prop_assert_eq!(WORKER_PANICS.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn node_serves_correctly_after_hostile_connections() {
    let addr = node();
    // A handful of fixed nasty cases alongside the generated ones.
    let long = vec![b'x'; 10_000];
    drive(addr, &long, &[1, 2048, 2049, 4000]);
    drive(addr, b"set k 0 0 4294967296\r\nxx", &[5]);
    drive(addr, b"set k 0 0 100\r\nabc", &[]);
    drive(addr, b"get k\r\nset a 0 0 9999\r\n", &[3, 9]);
    probe(addr, "in-process");
    assert_eq!(WORKER_PANICS.load(Ordering::SeqCst), 0);
}

/// Sends `input` and reads until the reply ends with `end`, the peer
/// closes, or it is quiet for a second (a refused data block can swallow the
/// request that would have produced `end`); returns (bytes, closed).
fn transcript(addr: SocketAddr, input: &[u8], end: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s.write_all(input).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline && !out.ends_with(end) {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false)
            }
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// The malformed prefixes: hand-picked, then seeded random ones built from
/// command fragments (no `stats`/`version`/`me`, whose replies differ by
/// design).
fn malformed_prefixes() -> Vec<Vec<u8>> {
    let mut cases: Vec<Vec<u8>> = [
        &b"bogus\r\n"[..],
        b"set k 0 0 abc\r\n",
        b"set k 0 0 3\r\nabcd\r\n",
        b"set k 0 0 1 noreply\r\nxyz\r\n",
        b"get\r\n",
        b"incr k x\r\n",
        b"\x00\x01\x02\r\n",
        b"mg k zz\r\n",
        b"ms k abc\r\n",
        b"ms k 2 MZ\r\nhi\r\n",
        b"delete k 0\r\n",
        b"touch k\r\n",
        b"gat\r\n",
        b"cas k 0 0 1\r\nx\r\n",
        b"ma k MZ\r\n",
        b"set k 0 0 4294967296\r\n",
        b"set k 0 0 -1\r\n",
        b"\r\n\r\n\n",
        b"GET / HTTP/1.1\r\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    let mut rng: u64 = 0xdead_beef_cafe_f00d;
    for _ in 0..16 {
        let mut c = Vec::new();
        for _ in 0..6 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            c.extend_from_slice(FRAGMENTS[(rng % FRAGMENTS.len() as u64) as usize]);
        }
        c.extend_from_slice(b"\r\n");
        cases.push(c);
    }
    cases
}

#[test]
fn well_formed_after_malformed_matches_memcached() {
    let ours = common::Server::ringcache();
    let theirs = common::Server::memcached();
    // Ends with a value no prefix can produce, so the reader knows the
    // transcript is complete (a prefix may contain `mn` itself).
    let well_formed =
        b"set wf 0 0 2\r\nok\r\nget wf\r\nset wfend 0 0 7\r\nzz-done\r\nget wfend\r\n";
    let end = b"zz-done\r\nEND\r\n";
    let mut mismatches = Vec::new();
    for (i, prefix) in malformed_prefixes().into_iter().enumerate() {
        let mut input = prefix.clone();
        input.extend_from_slice(well_formed);
        // A fresh key space per case: flush first on both.
        for server in [&ours, &theirs] {
            let _ = transcript(server.addr(), b"flush_all\r\n", b"OK\r\n");
        }
        let a = transcript(ours.addr(), &input, end);
        let b = transcript(theirs.addr(), &input, end);
        if a != b {
            mismatches.push(format!(
                "case {i} {:?}:\n  ringcache {:?} closed={}\n  memcached {:?} closed={}",
                String::from_utf8_lossy(&prefix),
                String::from_utf8_lossy(&a.0),
                a.1,
                String::from_utf8_lossy(&b.0),
                b.1
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
