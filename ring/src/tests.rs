//! Edge cases of building and looking up, and the golden placement vectors.

use super::*;

fn names(ring: &Ring) -> Vec<&str> {
    ring.nodes().iter().map(Node::name).collect()
}

#[test]
fn empty_ring_finds_nothing() {
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        let ring = Ring::with_scheme(Vec::new(), scheme).unwrap();
        assert!(ring.lookup(b"k").is_none());
        assert!(ring.lookup_id(b"").is_none());
        assert_eq!(ring.point_count(), 0);
        assert!(ring.nodes().is_empty());
    }
}

#[test]
fn one_node_takes_every_key() {
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        let ring = Ring::with_scheme([Node::new("only:11211")], scheme).unwrap();
        for k in 0..1000u32 {
            assert_eq!(ring.lookup(&k.to_le_bytes()).unwrap().name(), "only:11211");
        }
        assert_eq!(ring.lookup(b"").unwrap().name(), "only:11211");
    }
}

#[test]
fn duplicate_names_are_rejected() {
    let err = Ring::new([Node::new("a"), Node::new("b"), Node::weighted("a", 2)]).unwrap_err();
    assert_eq!(err, RingError::DuplicateNode("a".into()));
    let ring = Ring::new([Node::new("a")]).unwrap();
    assert_eq!(
        ring.with_node(Node::new("a")).unwrap_err(),
        RingError::DuplicateNode("a".into())
    );
}

#[test]
fn bad_names_are_rejected() {
    let long = "x".repeat(MAX_NAME_LEN + 1);
    for bad in ["", "a b", "a\nb", "\t", "a\u{0}b", long.as_str()] {
        assert_eq!(
            Ring::new([Node::new(bad)]).unwrap_err(),
            RingError::InvalidName(bad.into()),
            "{bad:?}"
        );
    }
    assert!(Ring::new([Node::new("x".repeat(MAX_NAME_LEN))]).is_ok());
}

#[test]
fn zero_weight_nodes_hold_no_keys() {
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        let ring = Ring::with_scheme([Node::new("a"), Node::weighted("z", 0)], scheme).unwrap();
        assert_eq!(names(&ring), ["a", "z"]);
        for k in 0..2000u32 {
            assert_eq!(ring.lookup(&k.to_le_bytes()).unwrap().name(), "a");
        }
        let drained = Ring::with_scheme([Node::weighted("z", 0)], scheme).unwrap();
        assert!(drained.lookup(b"k").is_none());
        assert_eq!(drained.replicas(b"k", 2).count(), 0);
    }
}

#[test]
fn too_many_points_is_an_error_not_an_allocation() {
    let err = Ring::new([Node::weighted("huge", u32::MAX)]).unwrap_err();
    assert!(matches!(err, RingError::TooManyPoints { .. }), "{err}");
    // Ketama normalises weights, so any weight is fine there.
    let ring = Ring::with_scheme(
        [Node::weighted("huge", u32::MAX), Node::new("small")],
        Scheme::Ketama,
    )
    .unwrap();
    // As in libmemcached's f32 arithmetic: "huge" rounds to 100 % of the
    // weight and takes all 2 × 160 points, "small" rounds to none.
    assert_eq!(ring.point_count(), 320);
    assert_eq!(ring.replicas(b"k", 2).count(), 1);
}

#[test]
fn too_many_nodes_is_an_error() {
    let nodes = (0..=MAX_NODES).map(|i| Node::weighted(format!("n{i}"), 0));
    assert_eq!(
        Ring::new(nodes).unwrap_err(),
        RingError::TooManyNodes {
            nodes: MAX_NODES + 1,
            max: MAX_NODES
        }
    );
    // The largest allowed ring of zero-weight nodes builds (and holds nothing).
    let nodes = (0..MAX_NODES).map(|i| Node::weighted(format!("n{i}"), 0));
    assert!(Ring::new(nodes).unwrap().lookup(b"k").is_none());
}

#[test]
fn rebuild_helpers() {
    let ring = Ring::new([Node::new("a"), Node::new("b")]).unwrap();
    let more = ring.with_node(Node::weighted("c", 2)).unwrap();
    assert_eq!(names(&more), ["a", "b", "c"]);
    assert_eq!(more.point_count() as u64, 4 * VNODES_PER_WEIGHT);
    let less = more.without_node("a").unwrap();
    assert_eq!(names(&less), ["b", "c"]);
    let heavier = less.with_weight("b", 3).unwrap();
    assert_eq!(heavier.nodes()[0].weight(), 3);
    assert_eq!(
        less.without_node("nope").unwrap_err(),
        RingError::UnknownNode("nope".into())
    );
    assert_eq!(
        less.with_weight("nope", 1).unwrap_err(),
        RingError::UnknownNode("nope".into())
    );
    // The original is untouched.
    assert_eq!(names(&ring), ["a", "b"]);
}

#[test]
fn ids_follow_name_order() {
    let ring = Ring::new([Node::new("c"), Node::new("a"), Node::new("b")]).unwrap();
    assert_eq!(names(&ring), ["a", "b", "c"]);
    let id = ring.id_of("b").unwrap();
    assert_eq!(id.index(), 1);
    assert_eq!(ring.node(id).unwrap().name(), "b");
    assert!(ring.id_of("d").is_none());
    let id = ring.lookup_id(b"k").unwrap();
    assert_eq!(ring.node(id), ring.lookup(b"k"));
}

#[test]
fn digest_covers_scheme_names_and_weights_only() {
    let a = Ring::new([Node::new("x"), Node::new("y")]).unwrap();
    assert_eq!(
        a.digest(),
        Ring::new([Node::new("y"), Node::new("x")])
            .unwrap()
            .digest()
    );
    assert_ne!(a.digest(), a.with_weight("x", 2).unwrap().digest());
    assert_ne!(a.digest(), a.without_node("x").unwrap().digest());
    let k = Ring::with_scheme([Node::new("x"), Node::new("y")], Scheme::Ketama).unwrap();
    assert_ne!(a.digest(), k.digest());
    // The documented text, hashed by hand.
    let text = format!(
        "ringcache-ring digest v1\nscheme xxh3 vnodes-per-weight {VNODES_PER_WEIGHT}\nx 1\ny 1\n"
    );
    assert_eq!(a.digest(), twox_hash::XxHash3_64::oneshot(text.as_bytes()));
    let text = "ringcache-ring digest v1\nscheme ketama\nx 1\ny 1\n";
    assert_eq!(k.digest(), twox_hash::XxHash3_64::oneshot(text.as_bytes()));
}

#[test]
fn str_and_bytes_keys_agree() {
    // Keys are hashed as raw bytes; `&str` and `&[u8]` of one key must agree
    // (std::hash::Hash would not: it appends 0xff to str).
    let ring = Ring::new((0..10).map(|i| Node::new(format!("n{i}")))).unwrap();
    let key = String::from("user:1234");
    assert_eq!(ring.lookup(key.as_bytes()), ring.lookup(&b"user:1234"[..]));
}

/// Placement of the default scheme, pinned.
///
/// A change here is a cluster-wide cache flush: every client of every
/// release must place these keys on these nodes. Never update this table to
/// make a test pass; change the scheme under a new name instead.
#[test]
fn golden_placement_xxh3() {
    let mut nodes = golden_nodes();
    let ring = Ring::new(nodes.clone()).unwrap();
    assert_eq!(ring.digest(), GOLDEN_DIGEST);
    for (key, node) in GOLDEN {
        assert_eq!(
            ring.lookup(key.as_bytes()).unwrap().name(),
            node,
            "key {key:?}"
        );
    }
    // Any input order gives the same ring.
    nodes.reverse();
    let ring = Ring::new(nodes).unwrap();
    assert_eq!(ring.digest(), GOLDEN_DIGEST);
    for (key, node) in GOLDEN {
        assert_eq!(
            ring.lookup(key.as_bytes()).unwrap().name(),
            node,
            "key {key:?}"
        );
    }
}

/// The contract as the crate docs state it, implemented the slow and
/// obvious way: every point from its label text, then for each key a linear
/// scan for the first point at or after it, ties to the smaller name.
fn reference_lookups<'a>(nodes: &'a [Node], keys: &[&str]) -> Vec<&'a str> {
    let mut points: Vec<(u64, &str)> = Vec::new();
    for node in nodes {
        for i in 0..u64::from(node.weight()) * 4096 {
            let label = format!("{}#{}", node.name(), i);
            points.push((
                twox_hash::XxHash3_64::oneshot(label.as_bytes()),
                node.name(),
            ));
        }
    }
    let lowest = points.iter().min().copied();
    keys.iter()
        .map(|key| {
            let h = twox_hash::XxHash3_64::oneshot(key.as_bytes());
            let at_or_after = points.iter().filter(|&&(p, _)| p >= h).min().copied();
            at_or_after.or(lowest).map(|(_, name)| name).unwrap_or("")
        })
        .collect()
}

fn golden_nodes() -> Vec<Node> {
    vec![
        Node::new("10.0.0.1:11211"),
        Node::new("10.0.0.2:11211"),
        Node::weighted("10.0.0.3:11211", 2),
        Node::new("10.0.0.4:11212"),
        Node::new("cache-e.internal:11211"),
    ]
}

#[test]
fn golden_vectors_follow_the_documented_contract() {
    let nodes = golden_nodes();
    let keys: Vec<&str> = GOLDEN.iter().map(|&(key, _)| key).collect();
    let expected: Vec<&str> = GOLDEN.iter().map(|&(_, node)| node).collect();
    assert_eq!(reference_lookups(&nodes, &keys), expected);
}

const GOLDEN_DIGEST: u64 = 0xf29e_7eeb_6b33_41cb;

const GOLDEN: [(&str, &str); 22] = [
    ("", "10.0.0.4:11212"),
    ("a", "10.0.0.2:11211"),
    ("foo", "10.0.0.3:11211"),
    ("bar", "cache-e.internal:11211"),
    ("user:1", "10.0.0.2:11211"),
    ("user:2", "10.0.0.3:11211"),
    ("user:42", "10.0.0.3:11211"),
    ("session:9f8e7d", "10.0.0.1:11211"),
    ("page:/index.html", "cache-e.internal:11211"),
    ("k0", "10.0.0.3:11211"),
    ("k1", "10.0.0.3:11211"),
    ("k2", "10.0.0.3:11211"),
    ("k3", "10.0.0.3:11211"),
    ("k4", "10.0.0.2:11211"),
    ("k5", "10.0.0.4:11212"),
    ("k6", "10.0.0.3:11211"),
    ("k7", "10.0.0.2:11211"),
    ("k8", "10.0.0.4:11212"),
    ("k9", "10.0.0.3:11211"),
    (
        "a-much-longer-key-with-more-than-thirty-two-bytes-in-it",
        "10.0.0.4:11212",
    ),
    ("\u{e9}t\u{e9}", "10.0.0.4:11212"),
    ("key with spaces", "cache-e.internal:11211"),
];
