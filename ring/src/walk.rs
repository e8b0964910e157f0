//! The replica walk: distinct physical nodes in ring order from a key's point.

use crate::{Node, NodeId, Ring};

/// Iterator over the distinct nodes that hold a key, in ring order: the
/// owner first (the node [`Ring::lookup`] returns), then each next node met
/// walking clockwise, skipping virtual nodes of nodes already yielded.
///
/// Created by [`Ring::replica_ids`]. It borrows the ring and remembers the
/// nodes it has yielded in one bit per node, kept inline up to 256 nodes and
/// allocated beyond; it never copies points.
#[derive(Debug, Clone)]
pub struct ReplicaIds<'a> {
    ring: &'a Ring,
    /// Next point to look at.
    cursor: usize,
    /// Points not yet looked at.
    remaining_points: usize,
    /// Nodes still to yield.
    wanted: usize,
    seen: Seen,
}

/// Words of the inline bit set: 256 nodes without allocating.
const INLINE_WORDS: usize = 4;

/// A bit per node.
#[derive(Debug, Clone)]
enum Seen {
    Inline([u64; INLINE_WORDS]),
    Heap(Vec<u64>),
}

impl Seen {
    fn new(nodes: usize) -> Self {
        let words = nodes.div_ceil(64);
        if words <= INLINE_WORDS {
            Seen::Inline([0; INLINE_WORDS])
        } else {
            Seen::Heap(vec![0; words])
        }
    }

    /// Marks `id`; true if it was not marked before.
    fn insert(&mut self, id: u32) -> bool {
        let words: &mut [u64] = match self {
            Seen::Inline(w) => w,
            Seen::Heap(w) => w,
        };
        let bit = 1u64 << (id % 64);
        match words.get_mut(id as usize / 64) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }
}

impl<'a> ReplicaIds<'a> {
    pub(crate) fn new(ring: &'a Ring, start: Option<usize>, n: usize) -> Self {
        let continuum = ring.continuum();
        ReplicaIds {
            ring,
            cursor: start.unwrap_or(0),
            remaining_points: if start.is_some() { continuum.len() } else { 0 },
            wanted: n.min(ring.holder_count()),
            seen: Seen::new(ring.nodes().len()),
        }
    }
}

impl Iterator for ReplicaIds<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let continuum = self.ring.continuum();
        while self.wanted > 0 && self.remaining_points > 0 {
            let owner = continuum.owner(self.cursor);
            self.remaining_points -= 1;
            self.cursor += 1;
            if self.cursor == continuum.len() {
                self.cursor = 0;
            }
            if self.seen.insert(owner) {
                self.wanted -= 1;
                return Some(NodeId(owner));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every node with points is met before the walk ends, so exactly
        // `wanted` more items come.
        (self.wanted, Some(self.wanted))
    }
}

impl ExactSizeIterator for ReplicaIds<'_> {}

impl std::iter::FusedIterator for ReplicaIds<'_> {}

/// Like [`ReplicaIds`], yielding the nodes themselves.
///
/// Created by [`Ring::replicas`].
#[derive(Debug, Clone)]
pub struct Replicas<'a> {
    pub(crate) ids: ReplicaIds<'a>,
}

impl<'a> Iterator for Replicas<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        let id = self.ids.next()?;
        self.ids.ring.node(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

impl ExactSizeIterator for Replicas<'_> {}

impl std::iter::FusedIterator for Replicas<'_> {}

#[cfg(test)]
mod tests {
    use crate::{Node, Ring, Scheme};

    fn names<'a>(it: impl Iterator<Item = &'a Node>) -> Vec<&'a str> {
        it.map(Node::name).collect()
    }

    #[test]
    fn first_replica_is_the_owner_and_all_are_distinct() {
        for scheme in [Scheme::Xxh3, Scheme::Ketama] {
            let ring =
                Ring::with_scheme((0..7).map(|i| Node::new(format!("n{i}"))), scheme).unwrap();
            for k in 0..500u32 {
                let key = k.to_le_bytes();
                let all = names(ring.replicas(&key, 3));
                assert_eq!(all.len(), 3);
                assert_eq!(all[0], ring.lookup(&key).unwrap().name());
                let mut dedup = all.clone();
                dedup.sort_unstable();
                dedup.dedup();
                assert_eq!(dedup.len(), 3);
            }
        }
    }

    #[test]
    fn more_replicas_than_nodes_gives_every_node_once() {
        let ring = Ring::new([Node::new("a"), Node::new("b"), Node::new("c")]).unwrap();
        let it = ring.replicas(b"k", 10);
        assert_eq!(it.len(), 3);
        let mut all = names(it);
        all.sort_unstable();
        assert_eq!(all, ["a", "b", "c"]);
    }

    #[test]
    fn zero_replicas_and_empty_ring() {
        let ring = Ring::new([Node::new("a")]).unwrap();
        assert_eq!(ring.replicas(b"k", 0).count(), 0);
        let empty = Ring::new(Vec::<Node>::new()).unwrap();
        assert_eq!(empty.replicas(b"k", 3).count(), 0);
    }

    #[test]
    fn zero_weight_nodes_are_never_replicas() {
        let ring =
            Ring::new([Node::new("a"), Node::weighted("drained", 0), Node::new("c")]).unwrap();
        let all = names(ring.replicas(b"k", 5));
        assert_eq!(all.len(), 2);
        assert!(!all.contains(&"drained"));
    }

    #[test]
    fn many_nodes_use_the_heap_bit_set() {
        let ring = Ring::with_scheme((0..300).map(|i| Node::new(format!("n{i}"))), Scheme::Ketama)
            .unwrap();
        let all = names(ring.replicas(b"k", 1000));
        assert_eq!(all.len(), 300);
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), 300);
    }

    #[test]
    fn prefix_property() {
        // Asking for fewer replicas gives a prefix of asking for more.
        let ring = Ring::new((0..20).map(|i| Node::new(format!("n{i}")))).unwrap();
        for k in 0..200u32 {
            let key = k.to_be_bytes();
            let five = names(ring.replicas(&key, 5));
            assert_eq!(names(ring.replicas(&key, 2)), five[..2]);
        }
    }
}
