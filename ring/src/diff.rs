//! What moved between two rings: an exact walk over both point lists.

use std::collections::BTreeMap;

use crate::{Node, Ring, RingError};

/// The key space that changed owner between two rings, and where it went.
///
/// Shares are fractions of the whole key space (`0.0..=1.0`) computed
/// exactly from the ring arcs, not by sampling keys: the key space is cut
/// at every point of either ring, and each piece is charged to the pair
/// (old owner, new owner). With uniformly hashed keys a share is also the
/// expected fraction of keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff<'a> {
    moved: f64,
    flows: Vec<Flow<'a>>,
}

/// One stream of moving keys: the share of the key space that `from` owned
/// in the old ring and `to` owns in the new one.
///
/// `None` stands for "no node": the old ring was empty (or held only
/// zero-weight nodes) for `from`, the new one for `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flow<'a> {
    /// Owner in the old ring.
    pub from: Option<&'a Node>,
    /// Owner in the new ring.
    pub to: Option<&'a Node>,
    /// Fraction of the key space, `0.0..=1.0`.
    pub share: f64,
}

impl<'a> Diff<'a> {
    /// Fraction of the key space whose owner changed (the sum of all flows).
    pub fn moved(&self) -> f64 {
        self.moved
    }

    /// Every (from, to) pair with a non-empty share, ordered by old node
    /// name, then new node name (`None` first).
    pub fn flows(&self) -> &[Flow<'a>] {
        &self.flows
    }
}

/// Compares two rings of the same scheme. See [`Diff`].
///
/// Cost: one pass over both point lists, `O(points_old + points_new)`.
/// Nodes are matched by name, so a node re-added under the same name is the
/// same node.
///
/// # Errors
///
/// [`RingError::SchemeMismatch`] when the rings use different schemes.
///
/// # Examples
///
/// ```
/// use ringcache_ring::{diff, Node, Ring};
///
/// let old = Ring::new((0..4).map(|i| Node::new(format!("10.0.0.{i}:11211"))))?;
/// let new = old.with_node(Node::new("10.0.0.9:11211"))?;
/// let d = diff(&old, &new)?;
/// assert!((d.moved() - 0.2).abs() < 0.02); // ideal: 1/5 of the keys move
/// assert!(d.flows().iter().all(|f| f.to.map(|n| n.name()) == Some("10.0.0.9:11211")));
/// # Ok::<(), ringcache_ring::RingError>(())
/// ```
pub fn diff<'a>(old: &'a Ring, new: &'a Ring) -> Result<Diff<'a>, RingError> {
    if old.scheme() != new.scheme() {
        return Err(RingError::SchemeMismatch);
    }
    let same = same_node_map(old, new);
    let (po, pn) = (old.continuum().positions(), new.continuum().positions());

    // Owner (as a node id) of the first point at or after a boundary, in
    // each ring; `io`/`inew` always index the first point not yet passed.
    let owner = |ring: &Ring, i: usize| -> Option<u32> {
        let c = ring.continuum();
        match c.len() {
            0 => None,
            len => Some(c.owner(if i < len { i } else { 0 })),
        }
    };

    let mut flows: BTreeMap<(Option<u32>, Option<u32>), u128> = BTreeMap::new();
    let mut charge = |o: Option<u32>, n: Option<u32>, len: u128| {
        let moved = match (o, n) {
            (Some(o), Some(n)) => same.get(o as usize).copied().flatten() != Some(n),
            (None, None) => false,
            _ => true,
        };
        if moved && len > 0 {
            *flows.entry((o, n)).or_insert(0) += len;
        }
    };

    let (mut io, mut inew) = (0usize, 0usize);
    let mut first_and_prev: Option<(u64, u64)> = None;
    loop {
        let boundary = match (po.get(io), pn.get(inew)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        // Keys in (prev, boundary] go to the first point at or after
        // `boundary` in each ring: no point of either lies inside the piece.
        match first_and_prev {
            Some((first, prev)) => {
                charge(
                    owner(old, io),
                    owner(new, inew),
                    u128::from(boundary - prev),
                );
                first_and_prev = Some((first, boundary));
            }
            None => first_and_prev = Some((boundary, boundary)),
        }
        while po.get(io) == Some(&boundary) {
            io += 1;
        }
        while pn.get(inew) == Some(&boundary) {
            inew += 1;
        }
    }
    let space: u128 = 1u128 << old.scheme().space_bits();
    if let Some((first, last)) = first_and_prev {
        // The wrap-around piece (last, 2^bits) + [0, first]: point 0 of each ring.
        charge(
            owner(old, 0),
            owner(new, 0),
            space - u128::from(last) + u128::from(first),
        );
    }

    let node = |ring: &'a Ring, id: Option<u32>| id.and_then(|id| ring.nodes().get(id as usize));
    let mut moved_len: u128 = 0;
    let mut out: Vec<Flow<'a>> = flows
        .into_iter()
        .map(|((o, n), len)| {
            moved_len += len;
            Flow {
                from: node(old, o),
                to: node(new, n),
                share: len as f64 / space as f64,
            }
        })
        .collect();
    // Node ids follow name order in each ring, so this is already sorted by
    // (from name, to name); sort anyway to keep that a stated property.
    out.sort_by(|a, b| {
        (a.from.map(Node::name), a.to.map(Node::name))
            .cmp(&(b.from.map(Node::name), b.to.map(Node::name)))
    });
    Ok(Diff {
        moved: moved_len as f64 / space as f64,
        flows: out,
    })
}

/// For each old node id, the id of the node with the same name in `new`.
/// Both node lists are sorted by name, so this is a merge.
fn same_node_map(old: &Ring, new: &Ring) -> Vec<Option<u32>> {
    let mut map = vec![None; old.nodes().len()];
    let (mut i, mut j) = (0usize, 0usize);
    let (a, b) = (old.nodes(), new.nodes());
    while i < a.len() && j < b.len() {
        match a[i].name().cmp(b[j].name()) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                map[i] = Some(j as u32);
                i += 1;
                j += 1;
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheme;

    fn ring(names: &[&str]) -> Ring {
        Ring::new(names.iter().map(|&n| Node::new(n))).unwrap()
    }

    #[test]
    fn identical_rings_move_nothing() {
        let a = ring(&["a", "b", "c"]);
        let b = a.clone();
        let d = diff(&a, &b).unwrap();
        assert_eq!(d.moved(), 0.0);
        assert!(d.flows().is_empty());
    }

    #[test]
    fn empty_to_full_moves_everything_from_nobody() {
        let empty = ring(&[]);
        let full = ring(&["a", "b"]);
        let d = diff(&empty, &full).unwrap();
        assert_eq!(d.moved(), 1.0);
        assert_eq!(d.flows().len(), 2);
        assert!(d.flows().iter().all(|f| f.from.is_none()));
        let total: f64 = d.flows().iter().map(|f| f.share).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let back = diff(&full, &empty).unwrap();
        assert_eq!(back.moved(), 1.0);
        assert!(back.flows().iter().all(|f| f.to.is_none()));
        assert_eq!(diff(&empty, &empty).unwrap().moved(), 0.0);
    }

    #[test]
    fn removing_a_node_moves_exactly_its_share() {
        let before = ring(&["a", "b", "c", "d"]);
        let after = ring(&["a", "b", "d"]);
        let d = diff(&before, &after).unwrap();
        assert!(d
            .flows()
            .iter()
            .all(|f| f.from.map(Node::name) == Some("c")));
        // The share c owned, measured independently by sampling keys.
        let keys = 200_000u32;
        let owned = (0..keys)
            .filter(|k| before.lookup(&k.to_le_bytes()).map(Node::name) == Some("c"))
            .count();
        let sampled = owned as f64 / f64::from(keys);
        assert!(
            (d.moved() - sampled).abs() < 0.005,
            "{} vs {sampled}",
            d.moved()
        );
    }

    #[test]
    fn diff_agrees_with_sampled_keys() {
        for scheme in [Scheme::Xxh3, Scheme::Ketama] {
            let old =
                Ring::with_scheme((0..5).map(|i| Node::new(format!("n{i}"))), scheme).unwrap();
            let new = Ring::with_scheme(
                [
                    Node::new("n0"),
                    Node::weighted("n1", 3),
                    Node::new("n3"),
                    Node::new("x"),
                ],
                scheme,
            )
            .unwrap();
            let d = diff(&old, &new).unwrap();
            let keys = 200_000u32;
            let moved = (0..keys)
                .filter(|k| {
                    let key = k.to_le_bytes();
                    old.lookup(&key).map(Node::name) != new.lookup(&key).map(Node::name)
                })
                .count();
            let sampled = moved as f64 / f64::from(keys);
            assert!(
                (d.moved() - sampled).abs() < 0.01,
                "{scheme:?}: {} vs {sampled}",
                d.moved()
            );
            let sum: f64 = d.flows().iter().map(|f| f.share).sum();
            assert!((sum - d.moved()).abs() < 1e-9);
        }
    }

    #[test]
    fn scheme_mismatch_is_an_error() {
        let a = Ring::with_scheme([Node::new("a")], Scheme::Xxh3).unwrap();
        let b = Ring::with_scheme([Node::new("a")], Scheme::Ketama).unwrap();
        assert_eq!(diff(&a, &b), Err(RingError::SchemeMismatch));
    }
}
