//! A node dies under load behind the proxy: the proxy keeps answering on
//! every application connection, errors stop within a bounded time (the
//! node is ejected and its keys go to the next node), nothing panics, and
//! the node is taken back once it is restarted.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proxy_support::{connect, fast_client, roundtrip, stat, wait_for, Harness};
use ringcache_client::NodeState;

/// Errors seen by the load, with when they happened.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    ops: AtomicU64,
    errors: Mutex<Vec<Instant>>,
}

impl Load {
    fn last_error(&self) -> Option<Instant> {
        self.errors.lock().unwrap().last().copied()
    }
}

/// One application connection doing set + get on a rotating key set until
/// told to stop. A closed connection panics the thread (and fails the test).
fn worker(addr: SocketAddr, id: usize, load: Arc<Load>) {
    let mut s = connect(addr);
    let mut i = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let key = format!("load:{id}:{}", i % 500);
        i += 1;
        let set = roundtrip(
            &mut s,
            format!("set {key} 0 0 2\r\nok\r\n").as_bytes(),
            b"\r\n",
        );
        let get = roundtrip(&mut s, format!("get {key}\r\n").as_bytes(), b"END\r\n");
        if set != b"STORED\r\n" {
            assert!(
                set.starts_with(b"SERVER_ERROR "),
                "{}",
                String::from_utf8_lossy(&set)
            );
            load.errors.lock().unwrap().push(Instant::now());
        }
        // A get may miss (the key's node died with it) but never errors.
        assert!(get.ends_with(b"END\r\n") && !get.starts_with(b"SERVER_ERROR"));
        load.ops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn killing_a_node_under_load_is_survived_and_the_node_comes_back() {
    let mut h = Harness::with_proxy(3, fast_client());
    let proxy = h.proxy_addr();
    let client = h.proxy().client().clone();
    let victim = h.node_addrs[1].to_string();
    let load = Arc::new(Load::default());
    let workers: Vec<_> = (0..4)
        .map(|id| {
            let load = Arc::clone(&load);
            std::thread::spawn(move || worker(proxy, id, load))
        })
        .collect();
    wait_for("load running", Duration::from_secs(5), || {
        load.ops.load(Ordering::Relaxed) > 200
    });
    assert!(load.last_error().is_none(), "no errors before the kill");

    let killed = Instant::now();
    h.kill_node(1);
    // Errors stop: the node is ejected and a quiet window follows.
    wait_for("the dead node's ejection", Duration::from_secs(5), || {
        client
            .node_states()
            .iter()
            .any(|(n, s)| *n == victim && *s == NodeState::Ejected)
    });
    let ejected_after = killed.elapsed();
    let quiet = Duration::from_millis(500);
    wait_for(
        "a quiet window without errors",
        Duration::from_secs(5),
        || {
            let since = load.last_error().unwrap_or(killed);
            let ops_before = load.ops.load(Ordering::Relaxed);
            since.elapsed() > quiet && ops_before > 0
        },
    );
    let ops_mark = load.ops.load(Ordering::Relaxed);
    wait_for("load still flowing", Duration::from_secs(5), || {
        load.ops.load(Ordering::Relaxed) > ops_mark + 100
    });
    let errors = load.errors.lock().unwrap().len();
    let last = load.last_error().map(|t| t.duration_since(killed));
    eprintln!(
        "killed node: ejected after {ejected_after:?}, {errors} errors, last error {last:?} after the kill"
    );
    assert!(
        last.is_none_or(|d| d < Duration::from_secs(3)),
        "errors stopped within 3 s of the kill, last at {last:?}"
    );
    assert_eq!(stat(proxy, "ejected_nodes"), 1);
    wait_for("the ejection counted", Duration::from_secs(5), || {
        stat(proxy, "ejections") == 1
    });

    // Restart it: a probe finds it, it is taken back and gets its keys again.
    h.restart_node(1);
    wait_for(
        "the restarted node's return",
        Duration::from_secs(10),
        || {
            client
                .node_states()
                .iter()
                .all(|(_, s)| *s == NodeState::Up)
        },
    );
    let ops_mark = load.ops.load(Ordering::Relaxed);
    wait_for("load on the restarted node", Duration::from_secs(5), || {
        load.ops.load(Ordering::Relaxed) > ops_mark + 100 && h.curr_items(1) > 0
    });
    let errors_before = load.errors.lock().unwrap().len();
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .expect("no load connection was dropped and nothing panicked");
    }
    assert_eq!(load.errors.lock().unwrap().len(), errors_before);
    assert_eq!(stat(proxy, "ejected_nodes"), 0);
    let mut s = connect(proxy);
    assert_eq!(
        roundtrip(&mut s, b"version\r\n", b"\r\n"),
        b"VERSION 1.6.18\r\n"
    );
}

#[test]
fn fast_miss_policy_answers_at_once_while_the_node_is_out() {
    let mut client = fast_client();
    client.failure_policy = ringcache_client::FailurePolicy::FastMiss;
    let mut h = Harness::with_proxy(3, client);
    let proxy = h.proxy_addr();
    let owner = h.node_addrs[2].to_string();
    let handle = h.proxy().client().clone();
    let key = (0..1000)
        .map(|i| format!("fm:{i}"))
        .find(|k| handle.node_for(k).unwrap() == owner)
        .unwrap();
    let other = (0..1000)
        .map(|i| format!("fm:other:{i}"))
        .find(|k| handle.node_for(k).unwrap() != owner)
        .unwrap();
    let mut s = connect(proxy);
    h.kill_node(2);
    wait_for("the node out", Duration::from_secs(5), || {
        // Requests to the dead node are what detects it.
        let _ = roundtrip(&mut s, format!("get {key}\r\n").as_bytes(), b"END\r\n");
        handle
            .node_states()
            .iter()
            .any(|(n, st)| *n == owner && *st == NodeState::Ejected)
    });
    // Its keys stay on it: reads miss, writes fail at once, others work.
    assert_eq!(
        roundtrip(
            &mut s,
            format!("get {key} {other}\r\n").as_bytes(),
            b"END\r\n"
        ),
        b"END\r\n"
    );
    let reply = roundtrip(
        &mut s,
        format!("set {key} 0 0 1\r\nx\r\n").as_bytes(),
        b"\r\n",
    );
    assert!(
        reply.starts_with(b"SERVER_ERROR node ") && reply.ends_with(b" is down\r\n"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let reply = roundtrip(
        &mut s,
        format!("set {other} 0 0 1\r\ny\r\n").as_bytes(),
        b"\r\n",
    );
    assert_eq!(reply, b"STORED\r\n");
    assert_eq!(
        roundtrip(
            &mut s,
            format!("get {key} {other}\r\n").as_bytes(),
            b"END\r\n"
        ),
        format!("VALUE {other} 0 1\r\ny\r\nEND\r\n").as_bytes()
    );
    h.restart_node(2);
    wait_for("the node back", Duration::from_secs(10), || {
        handle
            .node_states()
            .iter()
            .all(|(_, st)| *st == NodeState::Up)
    });
    let reply = roundtrip(
        &mut s,
        format!("set {key} 0 0 1\r\nz\r\n").as_bytes(),
        b"\r\n",
    );
    assert_eq!(reply, b"STORED\r\n");
    assert_eq!(h.curr_items(2), 1, "the key went back to its own node");
}
