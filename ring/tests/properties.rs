//! Property tests of the ring: placement is a function of the node set only,
//! adding or removing a node moves only that node's keys, replicas are
//! distinct, weights are respected.

// Tests may unwrap: a panic is a failed assertion (clippy.toml allows it
// only inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use ringcache_ring::{diff, Node, Ring, Scheme};

/// Keys to probe placement with: short, long, binary.
fn keys() -> Vec<Vec<u8>> {
    (0u32..400)
        .map(|i| match i % 3 {
            0 => format!("user:{i}").into_bytes(),
            1 => i.to_le_bytes().to_vec(),
            _ => format!("{i:x}-a-longer-key-that-spans-more-than-one-xxh3-block-{i}").into_bytes(),
        })
        .collect()
}

/// 1 to `max` distinct names with weights in `weights`.
fn node_set(
    max: usize,
    weights: std::ops::RangeInclusive<u32>,
) -> impl Strategy<Value = Vec<Node>> {
    prop::collection::btree_map("[a-z0-9.:-]{1,20}", weights, 1..=max).prop_map(|m| {
        m.into_iter()
            .map(|(name, w)| Node::weighted(name, w))
            .collect()
    })
}

fn name(n: Option<&Node>) -> Option<&str> {
    n.map(Node::name)
}

/// Share of the key space each node owns, from the arcs.
fn shares(ring: &Ring) -> Vec<f64> {
    let empty = Ring::with_scheme(Vec::new(), ring.scheme()).unwrap();
    let d = diff(&empty, ring).unwrap();
    let mut out = vec![0.0; ring.nodes().len()];
    for f in d.flows() {
        out[ring.id_of(f.to.unwrap().name()).unwrap().index()] += f.share;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn placement_ignores_input_order(
        nodes in node_set(10, 0..=3),
        seed in any::<u64>(),
        ketama in any::<bool>(),
    ) {
        let scheme = if ketama { Scheme::Ketama } else { Scheme::Xxh3 };
        let mut shuffled = nodes.clone();
        // A deterministic shuffle driven by the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = Ring::with_scheme(nodes, scheme).unwrap();
        let b = Ring::with_scheme(shuffled, scheme).unwrap();
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(diff(&a, &b).unwrap().moved(), 0.0);
        for key in keys() {
            prop_assert_eq!(name(a.lookup(&key)), name(b.lookup(&key)));
        }
    }

    #[test]
    fn adding_a_node_moves_keys_only_to_it(nodes in node_set(12, 1..=1), extra in "[A-Z]{1,8}") {
        let before = Ring::new(nodes.clone()).unwrap();
        let after = before.with_node(Node::new(extra.clone())).unwrap();
        for key in keys() {
            let (old, new) = (name(before.lookup(&key)), name(after.lookup(&key)));
            prop_assert!(old == new || new == Some(extra.as_str()), "{:?} -> {:?}", old, new);
        }
        let d = diff(&before, &after).unwrap();
        for f in d.flows() {
            prop_assert_eq!(name(f.to), Some(extra.as_str()));
        }
        let ideal = 1.0 / (nodes.len() as f64 + 1.0);
        prop_assert!((d.moved() / ideal - 1.0).abs() < 0.10, "moved {} ideal {}", d.moved(), ideal);
    }

    #[test]
    fn removing_a_node_moves_only_its_keys(nodes in node_set(12, 1..=1), pick in any::<prop::sample::Index>()) {
        prop_assume!(nodes.len() >= 2);
        let before = Ring::new(nodes.clone()).unwrap();
        let victim = nodes[pick.index(nodes.len())].name().to_owned();
        let after = before.without_node(&victim).unwrap();
        for key in keys() {
            let (old, new) = (name(before.lookup(&key)), name(after.lookup(&key)));
            prop_assert!(old == new || old == Some(victim.as_str()), "{:?} -> {:?}", old, new);
        }
        let d = diff(&before, &after).unwrap();
        for f in d.flows() {
            prop_assert_eq!(name(f.from), Some(victim.as_str()));
        }
        let ideal = 1.0 / nodes.len() as f64;
        prop_assert!((d.moved() / ideal - 1.0).abs() < 0.10, "moved {} ideal {}", d.moved(), ideal);
    }

    #[test]
    fn reweighting_moves_keys_only_to_or_from_that_node(
        nodes in node_set(8, 1..=3),
        pick in any::<prop::sample::Index>(),
        weight in 0u32..=4,
    ) {
        let before = Ring::new(nodes.clone()).unwrap();
        let target = nodes[pick.index(nodes.len())].name().to_owned();
        let after = before.with_weight(&target, weight).unwrap();
        for f in diff(&before, &after).unwrap().flows() {
            prop_assert!(name(f.from) == Some(target.as_str()) || name(f.to) == Some(target.as_str()));
        }
    }

    #[test]
    fn replicas_are_distinct_and_as_many_as_possible(
        nodes in node_set(10, 0..=2),
        n in 0usize..14,
        ketama in any::<bool>(),
    ) {
        let scheme = if ketama { Scheme::Ketama } else { Scheme::Xxh3 };
        let ring = Ring::with_scheme(nodes.clone(), scheme).unwrap();
        let holders = ring.nodes().iter().filter(|node| node.weight() > 0).count();
        for key in keys().iter().take(60) {
            let got: Vec<&str> = ring.replicas(key, n).map(Node::name).collect();
            prop_assert_eq!(got.len(), n.min(holders));
            let mut dedup = got.clone();
            dedup.sort_unstable();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), got.len());
            prop_assert_eq!(got.first().copied(), name(ring.lookup(key)).filter(|_| n > 0));
            prop_assert!(got.iter().all(|g| ring.nodes()[ring.id_of(g).unwrap().index()].weight() > 0));
        }
    }

    #[test]
    fn shares_follow_weights(nodes in node_set(8, 0..=4)) {
        let ring = Ring::new(nodes.clone()).unwrap();
        let total: u32 = ring.nodes().iter().map(Node::weight).sum();
        prop_assume!(total > 0);
        for (node, share) in ring.nodes().iter().zip(shares(&ring)) {
            let expected = f64::from(node.weight()) / f64::from(total);
            if expected == 0.0 {
                prop_assert_eq!(share, 0.0);
            } else {
                prop_assert!((share / expected - 1.0).abs() < 0.10, "{}: {} vs {}", node.name(), share, expected);
            }
        }
    }

    #[test]
    fn any_node_list_builds_or_errors_without_panicking(
        nodes in prop::collection::vec((".{0,12}", prop_oneof![0u32..4, any::<u32>()]), 0..6),
        ketama in any::<bool>(),
    ) {
        let scheme = if ketama { Scheme::Ketama } else { Scheme::Xxh3 };
        let nodes: Vec<Node> = nodes.into_iter().map(|(n, w)| Node::weighted(n, w)).collect();
        if let Ok(ring) = Ring::with_scheme(nodes, scheme) {
            for key in keys().iter().take(20) {
                let _ = ring.lookup(key);
                prop_assert!(ring.replicas(key, 2).count() <= 2);
            }
        }
    }

    #[test]
    fn diff_is_symmetric_in_size(a in node_set(6, 0..=2), b in node_set(6, 0..=2)) {
        let (a, b) = (Ring::new(a).unwrap(), Ring::new(b).unwrap());
        let (ab, ba) = (diff(&a, &b).unwrap(), diff(&b, &a).unwrap());
        prop_assert!((ab.moved() - ba.moved()).abs() < 1e-12);
        let sum: f64 = ab.flows().iter().map(|f| f.share).sum();
        prop_assert!((sum - ab.moved()).abs() < 1e-9);
        prop_assert!((0.0..=1.0).contains(&ab.moved()));
    }

    #[test]
    fn lookup_never_panics(key in prop::collection::vec(any::<u8>(), 0..300), nodes in node_set(5, 0..=2)) {
        for scheme in [Scheme::Xxh3, Scheme::Ketama] {
            let ring = Ring::with_scheme(nodes.clone(), scheme).unwrap();
            let _ = ring.lookup(&key);
            let _ = ring.replicas(&key, 3).count();
        }
    }
}
