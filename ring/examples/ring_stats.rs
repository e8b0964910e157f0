//! Prints the ring's measured figures: balance with 1,000,000 keys, weighted
//! balance, the share moved on add and remove against the ideal, build time
//! and memory at 10 / 100 / 1,000 nodes.
//!
//! Run optimised, or the build times are meaningless:
//! `cargo run --release -p ringcache-ring --example ring_stats`

use std::time::Instant;

use ringcache_ring::{diff, Node, Ring, Scheme};

const KEYS: usize = 1_000_000;

/// Pseudo-random keys (splitmix64), the same every run.
fn keys() -> Vec<Vec<u8>> {
    let mut x = 0u64;
    (0..KEYS)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            format!("key:{:016x}", z ^ (z >> 31)).into_bytes()
        })
        .collect()
}

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)))
        .collect()
}

/// Keys per node (by id) for a ring.
fn counts(ring: &Ring, keys: &[Vec<u8>]) -> Vec<usize> {
    let mut c = vec![0usize; ring.nodes().len()];
    for k in keys {
        if let Some(id) = ring.lookup_id(k) {
            c[id.index()] += 1;
        }
    }
    c
}

/// Exact share of the key space per node, from the arcs.
fn arc_shares(ring: &Ring) -> Vec<f64> {
    let empty = Ring::with_scheme(Vec::new(), ring.scheme()).expect("empty ring");
    let d = diff(&empty, ring).expect("same scheme");
    let mut s = vec![0.0; ring.nodes().len()];
    for f in d.flows() {
        if let Some(to) = f.to {
            if let Some(id) = ring.id_of(to.name()) {
                s[id.index()] += f.share;
            }
        }
    }
    s
}

fn balance(scheme: Scheme, n: usize, keys: &[Vec<u8>]) {
    let ring = Ring::with_scheme(nodes(n), scheme).expect("ring");
    let c = counts(&ring, keys);
    let mean = keys.len() as f64 / n as f64;
    let max = *c.iter().max().unwrap_or(&0) as f64;
    let min = *c.iter().min().unwrap_or(&0) as f64;
    let s = arc_shares(&ring);
    let smax = s.iter().cloned().fold(0.0, f64::max) * n as f64;
    let smin = s.iter().cloned().fold(f64::MAX, f64::min) * n as f64;
    println!(
        "balance {scheme:?} {n:>4} nodes: keys max/mean {:.4} min/mean {:.4} | arcs max/mean {smax:.4} min/mean {smin:.4}",
        max / mean,
        min / mean
    );
}

fn weighted(scheme: Scheme, keys: &[Vec<u8>]) {
    let weights = [1u32, 2, 3, 4, 1, 2, 3, 4, 1, 2];
    let ring = Ring::with_scheme(
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Node::weighted(format!("10.1.0.{i}:11211"), w)),
        scheme,
    )
    .expect("ring");
    let c = counts(&ring, keys);
    let total_w: u32 = weights.iter().sum();
    let mut worst_hi: f64 = 0.0;
    let mut worst_lo: f64 = f64::MAX;
    for (id, node) in ring.nodes().iter().enumerate() {
        let expected = keys.len() as f64 * f64::from(node.weight()) / f64::from(total_w);
        let r = c[id] as f64 / expected;
        worst_hi = worst_hi.max(r);
        worst_lo = worst_lo.min(r);
    }
    println!(
        "weighted {scheme:?} weights {weights:?}: keys/expected max {worst_hi:.4} min {worst_lo:.4}"
    );
}

fn disruption(scheme: Scheme, n: usize, keys: &[Vec<u8>]) {
    let base = Ring::with_scheme(nodes(n), scheme).expect("ring");
    let added = base.with_node(Node::new("10.9.9.9:11211")).expect("add");
    let d = diff(&base, &added).expect("diff");
    let only_to_new = d
        .flows()
        .iter()
        .all(|f| f.to.map(Node::name) == Some("10.9.9.9:11211"));
    let sampled = keys
        .iter()
        .filter(|k| base.lookup(k).map(Node::name) != added.lookup(k).map(Node::name))
        .count() as f64
        / keys.len() as f64;
    let ideal = 1.0 / (n as f64 + 1.0);
    println!(
        "add    {scheme:?} {n:>4}+1: diff moved {:.5} keys moved {sampled:.5} ideal {ideal:.5} (rel {:+.2}%) only to new: {only_to_new}",
        d.moved(),
        (d.moved() / ideal - 1.0) * 100.0
    );
    let victim = base.nodes()[n / 2].name().to_owned();
    let removed = base.without_node(&victim).expect("remove");
    let d = diff(&base, &removed).expect("diff");
    let only_from = d
        .flows()
        .iter()
        .all(|f| f.from.map(Node::name) == Some(victim.as_str()));
    let ideal = 1.0 / n as f64;
    println!(
        "remove {scheme:?} {n:>4}-1: diff moved {:.5} ideal {ideal:.5} (rel {:+.2}%) only from removed: {only_from}",
        d.moved(),
        (d.moved() / ideal - 1.0) * 100.0
    );
}

fn build_and_memory(scheme: Scheme, n: usize) {
    let list = nodes(n);
    let rounds = if n >= 1000 { 5 } else { 20 };
    let start = Instant::now();
    let mut ring = None;
    for _ in 0..rounds {
        ring = Some(Ring::with_scheme(list.clone(), scheme).expect("ring"));
    }
    let per = start.elapsed() / rounds;
    let ring = ring.expect("built");
    println!(
        "build  {scheme:?} {n:>4} nodes: {per:>10.2?} per build, {} points, {:.2} MiB heap",
        ring.point_count(),
        ring.heap_bytes() as f64 / (1024.0 * 1024.0)
    );
}

fn main() {
    let keys = keys();
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        for n in [10, 100] {
            balance(scheme, n, &keys);
        }
        weighted(scheme, &keys);
        for n in [10, 100] {
            disruption(scheme, n, &keys);
        }
        for n in [10, 100, 1000] {
            build_and_memory(scheme, n);
        }
    }
}
