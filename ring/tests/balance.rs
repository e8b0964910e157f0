//! Balance of the default scheme with 1,000,000 keys, against the targets:
//! max/mean keys per node at most 1.05 at 10 equal nodes and 1.10 at 100,
//! and weighted nodes within the same tolerance of their weighted share.
//! Run with `--nocapture` to see the figures.

// Tests may unwrap: a panic is a failed assertion (clippy.toml allows it
// only inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used)]

use ringcache_ring::{Node, Ring};

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

/// Keys per node, indexed by node id.
fn counts(ring: &Ring, keys: &[Vec<u8>]) -> Vec<usize> {
    let mut c = vec![0usize; ring.nodes().len()];
    for k in keys {
        c[ring.lookup_id(k).unwrap().index()] += 1;
    }
    c
}

fn equal(n: usize) -> Ring {
    Ring::new((0..n).map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)))).unwrap()
}

/// Largest and smallest ratio of keys held to keys expected from the weights.
fn spread(ring: &Ring, keys: &[Vec<u8>]) -> (f64, f64) {
    let total: u32 = ring.nodes().iter().map(Node::weight).sum();
    let c = counts(ring, keys);
    let ratios = ring.nodes().iter().zip(c).map(|(node, held)| {
        held as f64 / (keys.len() as f64 * f64::from(node.weight()) / f64::from(total))
    });
    ratios.fold((0.0f64, f64::MAX), |(hi, lo), r| (hi.max(r), lo.min(r)))
}

#[test]
fn balance_at_10_and_100_nodes_and_with_weights() {
    let keys = keys();

    let (max, min) = spread(&equal(10), &keys);
    println!("10 equal nodes, 1M keys: max/mean {max:.4}, min/mean {min:.4}");
    assert!(max <= 1.05, "10 nodes: max/mean {max}");

    let (max, min) = spread(&equal(100), &keys);
    println!("100 equal nodes, 1M keys: max/mean {max:.4}, min/mean {min:.4}");
    assert!(max <= 1.10, "100 nodes: max/mean {max}");

    let weights = [1u32, 2, 3, 4, 1, 2, 3, 4, 1, 2];
    let ring = Ring::new(
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Node::weighted(format!("10.1.0.{i}:11211"), w)),
    )
    .unwrap();
    let (max, min) = spread(&ring, &keys);
    println!("10 nodes weighted {weights:?}, 1M keys: held/expected max {max:.4}, min {min:.4}");
    assert!(max <= 1.05 && min >= 0.95, "weighted: {max} {min}");
}
