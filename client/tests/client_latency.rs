//! `get_many` latency against a single `get`: the target is that
//! 100 keys over 10 nodes take at most 1.5× one `get`, because the per-node
//! requests go out together and the call waits for the slowest node only.
//!
//! A measurement, not a unit test: ignored by default, meaningful only in
//! release mode on a quiet machine. Run:
//! `cargo test --release -p ringcache-client --test client_latency -- --ignored --nocapture`.
//! In-process nodes share the runtime with the client, so the figure
//! includes the nodes' own work; loopback only.

#![allow(clippy::unwrap_used)]

mod live;

use std::time::{Duration, Instant};

use live::{builder, InProcNode};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release mode with --ignored"]
async fn get_many_of_100_keys_over_10_nodes_against_one_get() {
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(InProcNode::start().await);
    }
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    let client = builder(&names).build().await.unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("lat:{i}")).collect();
    for k in &keys {
        client
            .set(k, vec![b'v'; 100], Duration::ZERO)
            .await
            .unwrap();
    }
    let rounds = 2000;
    // warm up every connection
    for _ in 0..100 {
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
    let (s, m) = (median(single), median(many));
    println!(
        "get: median {s:?}; get_many 100 keys / 10 nodes: median {m:?}; ratio {:.2}",
        m.as_secs_f64() / s.as_secs_f64()
    );
}
