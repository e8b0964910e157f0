//! How evenly a ring spreads keys over its nodes: keys per node relative to
//! the mean, for the `ringcache-ring-balance` binary (`ring_balance.sh`, the
//! ring balance histogram in `benches/RESULTS.md`).
//!
//! Two figures per node: the share of a set of sampled keys it owns, and the
//! exact share of the hash circle it owns ([`ringcache_ring::diff`] against an
//! empty ring). Both are given relative to the mean (1.0 is a perfectly fair
//! share). The sampled figure is what a cache sees; it carries a sampling
//! noise of about `1 / sqrt(keys / nodes)` on top of the ring's own spread,
//! which the exact figure does not.

use bytes::BytesMut;
use ringcache_ring::{diff, Node, Ring, Scheme};
use serde::Serialize;

use crate::text;

/// Node names used for balance runs: `10.0.<i / 256>.<i % 256>:11211`, as
/// in the ring crate's benches and `ring_stats` example.
pub fn node_names(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)))
        .collect()
}

/// Minimum, maximum and spread of a set of relative loads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Population standard deviation (for loads relative to the mean, the
    /// coefficient of variation).
    pub stddev: f64,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread {
                min: 0.0,
                max: 0.0,
                stddev: 0.0,
            };
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev: var.sqrt(),
        }
    }
}

/// One ring's balance.
#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    /// `xxh3` or `ketama`.
    pub scheme: &'static str,
    /// Nodes in the ring (all weight 1).
    pub nodes: usize,
    /// Points on the circle, all nodes together.
    pub points: usize,
    /// Keys sampled.
    pub keys: u64,
    /// Sampled keys owned, per node (in node id order).
    pub keys_per_node: Vec<u64>,
    /// `keys_per_node` over the mean.
    pub relative: Vec<f64>,
    /// Spread of `relative`.
    pub relative_spread: Spread,
    /// Exact share of the circle per node, over the mean share `1 / nodes`.
    pub arc_relative: Vec<f64>,
    /// Spread of `arc_relative`.
    pub arc_spread: Spread,
    /// Sampling noise expected on `relative`: `1 / sqrt(keys / nodes)`.
    pub sampling_noise: f64,
}

/// Keys `0..keys` in the load generator's format (`k` and the zero-padded
/// id, `key_size` bytes in all), counted per owner in `ring`.
///
/// # Panics
/// If `key_size` cannot hold `k` and the digits of `keys - 1`.
pub fn keys_per_node(ring: &Ring, keys: u64, key_size: usize) -> Vec<u64> {
    let digits = keys.saturating_sub(1).checked_ilog10().map_or(1, |d| d + 1) as usize;
    assert!(
        key_size > digits,
        "key size {key_size} too short for {keys} keys"
    );
    let mut counts = vec![0u64; ring.nodes().len()];
    let mut key = BytesMut::with_capacity(key_size);
    for id in 0..keys {
        key.clear();
        key.extend_from_slice(b"k");
        text::put_padded(&mut key, id, key_size - 1);
        if let Some(node) = ring.lookup_id(&key) {
            counts[node.index()] += 1;
        }
    }
    counts
}

/// Exact share of the circle each node owns (in node id order), summing to 1.
pub fn arc_shares(ring: &Ring) -> Vec<f64> {
    let mut shares = vec![0.0; ring.nodes().len()];
    // An empty ring of the same scheme: every arc of `ring` is a flow from
    // "no node" to its owner. Same scheme on both sides, so diff succeeds.
    let Ok(empty) = Ring::with_scheme(Vec::new(), ring.scheme()) else {
        return shares;
    };
    let Ok(d) = diff(&empty, ring) else {
        return shares;
    };
    for flow in d.flows() {
        if let Some(id) = flow.to.and_then(|n| ring.id_of(n.name())) {
            shares[id.index()] += flow.share;
        }
    }
    shares
}

/// Builds a ring of `nodes` weight-1 nodes with `scheme` and measures it
/// with `keys` sampled keys of `key_size` bytes.
///
/// # Errors
/// The ring's own, if it cannot be built.
///
/// # Panics
/// As [`keys_per_node`].
pub fn measure(
    scheme: Scheme,
    nodes: usize,
    keys: u64,
    key_size: usize,
) -> Result<Balance, ringcache_ring::RingError> {
    let ring = Ring::with_scheme(node_names(nodes), scheme)?;
    let counts = keys_per_node(&ring, keys, key_size);
    let n = counts.len().max(1) as f64;
    let mean = keys as f64 / n;
    let relative: Vec<f64> = counts.iter().map(|&c| c as f64 / mean).collect();
    let arc_relative: Vec<f64> = arc_shares(&ring).iter().map(|s| s * n).collect();
    Ok(Balance {
        scheme: scheme.as_str(),
        nodes: counts.len(),
        points: ring.point_count(),
        keys,
        relative_spread: Spread::of(&relative),
        arc_spread: Spread::of(&arc_relative),
        keys_per_node: counts,
        relative,
        arc_relative,
        sampling_noise: 1.0 / mean.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_known_values() {
        let s = Spread::of(&[0.5, 1.0, 1.5]);
        assert_eq!((s.min, s.max), (0.5, 1.5));
        assert!((s.stddev - (1.0f64 / 6.0).sqrt()).abs() < 1e-12);
        assert_eq!(Spread::of(&[]).max, 0.0);
    }

    #[test]
    fn every_key_is_counted_once() {
        for scheme in [Scheme::Xxh3, Scheme::Ketama] {
            let b = measure(scheme, 10, 20_000, 20).expect("ring");
            assert_eq!(b.keys_per_node.iter().sum::<u64>(), 20_000);
            assert_eq!(b.nodes, 10);
            let mean: f64 = b.relative.iter().sum::<f64>() / 10.0;
            assert!((mean - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn arc_shares_cover_the_circle() {
        for scheme in [Scheme::Xxh3, Scheme::Ketama] {
            let ring = Ring::with_scheme(node_names(7), scheme).expect("ring");
            let total: f64 = arc_shares(&ring).iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "{scheme}: {total}");
        }
    }

    #[test]
    fn keys_use_the_load_generators_format() {
        // One node owns everything: only the count matters here.
        let ring = Ring::new(node_names(1)).expect("ring");
        assert_eq!(keys_per_node(&ring, 1000, 5), vec![1000]);
    }

    #[test]
    #[should_panic(expected = "too short")]
    fn a_key_size_too_short_for_the_ids_panics() {
        let ring = Ring::new(node_names(1)).expect("ring");
        keys_per_node(&ring, 1000, 3);
    }
}
