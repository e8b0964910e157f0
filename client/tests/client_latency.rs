//! `get_many` latency against a single `get`: the target is that
//! 100 keys over 10 nodes take at most 1.5× one `get`, because the per-node
//! requests go out together and the call waits for the slowest node only.
//!
//! A measurement, not a unit test: ignored by default, meaningful only in
//! release mode on a quiet machine. Run:
//! `cargo test --release -p ringcache-client --test client_latency -- --ignored --nocapture --test-threads 1`.
//!
//! Two settings, both on loopback:
//! - **loopback**: the client straight to 10 in-process nodes. There is no
//!   network delay at all: a round trip is only CPU (syscalls, wake-ups,
//!   parsing), and the nodes share the client's 2 worker threads, so 10
//!   parallel round trips cost about 10 times the CPU of one. This bounds
//!   what fan-out can hide on a 2-core machine, not what it hides on a
//!   network.
//! - **relayed**: each node behind a relay that holds every chunk for
//!   [`ONE_WAY`] before passing it on (no netem on these machines, so the
//!   delay is a thread sleeping to a deadline), a round trip of about 1 ms
//!   as between hosts. Here a `get_many` that sent its 10 requests one
//!   after another would take about 10 round trips; sent together, about
//!   one.

#![allow(clippy::unwrap_used)]

mod live;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use live::{builder, InProcNode};

/// Delay each relay adds per direction.
const ONE_WAY: Duration = Duration::from_micros(500);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Listens on `127.0.0.1:0` and relays every connection to `upstream`,
/// holding each chunk, in both directions, until `delay` after it was read.
fn relay(upstream: String, delay: Duration) -> SocketAddr {
    fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let due = Instant::now() + delay;
            // Sleep to the deadline, not for `delay`: the read itself took
            // time. std's sleep overshoots by tens of microseconds.
            let left = due.saturating_duration_since(Instant::now());
            std::thread::sleep(left);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        while let Ok((down, _)) = listener.accept() {
            let up = TcpStream::connect(&upstream).unwrap();
            down.set_nodelay(true).unwrap();
            up.set_nodelay(true).unwrap();
            let (down2, up2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || pipe(down, up, delay));
            std::thread::spawn(move || pipe(up2, down2, delay));
        }
    });
    addr
}

/// Medians of `rounds` single gets and `rounds` get_many calls of 100 keys,
/// alternating, against `names`.
async fn measure(names: &[String], rounds: usize) -> (Duration, Duration) {
    let client = builder(names).build().await.unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("lat:{i}")).collect();
    let owners: std::collections::HashSet<String> =
        keys.iter().map(|k| client.node_for(k).unwrap()).collect();
    assert_eq!(owners.len(), names.len(), "the 100 keys span every node");
    for k in &keys {
        client
            .set(k, vec![b'v'; 100], Duration::ZERO)
            .await
            .unwrap();
    }
    // Warm up every connection.
    for _ in 0..50 {
        client.get_many(&keys).await.unwrap();
    }
    let mut single = Vec::with_capacity(rounds);
    let mut many = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        client.get(&keys[i % keys.len()]).await.unwrap().unwrap();
        single.push(t.elapsed());
        let t = Instant::now();
        let found = client.get_many(&keys).await.unwrap();
        many.push(t.elapsed());
        assert_eq!(found.items.len(), 100);
    }
    (median(single), median(many))
}

fn report(setting: &str, (s, m): (Duration, Duration)) {
    println!(
        "{setting}: get median {s:?}; get_many 100 keys / 10 nodes median {m:?}; ratio {:.2}",
        m.as_secs_f64() / s.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release mode with --ignored"]
async fn get_many_of_100_keys_over_10_nodes_against_one_get() {
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(InProcNode::start().await);
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    report("loopback", measure(&names, 2000).await);
    let relayed: Vec<String> = names
        .iter()
        .map(|n| relay(n.clone(), ONE_WAY).to_string())
        .collect();
    report(
        &format!("relayed, {ONE_WAY:?} each way"),
        measure(&relayed, 500).await,
    );
}
