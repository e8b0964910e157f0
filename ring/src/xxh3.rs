//! The default scheme: seedless xxh3 over raw key bytes and over
//! `"{name}#{index}"` virtual-node labels. The contract is spelled out in the
//! crate docs; this file is its only implementation.

use twox_hash::XxHash3_64;

use crate::{Node, VNODES_PER_WEIGHT};

/// The key's position: xxh3-64, seed 0, over the key's bytes exactly as given.
#[inline]
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    XxHash3_64::oneshot(key)
}

/// Appends the virtual nodes of `node` (owner `id`) to `points`:
/// `weight * VNODES_PER_WEIGHT` positions, `xxh3("{name}#{i}")` for
/// `i = 0, 1, ...` in decimal.
pub(crate) fn push_points(node: &Node, id: u32, label: &mut Vec<u8>, points: &mut Vec<(u64, u32)>) {
    let count = u64::from(node.weight()) * VNODES_PER_WEIGHT;
    label.clear();
    label.extend_from_slice(node.name().as_bytes());
    label.push(b'#');
    let prefix = label.len();
    let mut digits = [0u8; 20];
    for i in 0..count {
        label.truncate(prefix);
        label.extend_from_slice(decimal(i, &mut digits));
        points.push((XxHash3_64::oneshot(label), id));
    }
}

/// `i` in decimal ASCII without leading zeros, written into `buf`: the same
/// text as `i.to_string()`, without its formatting machinery (it is called
/// millions of times per build).
fn decimal(mut i: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xxh3-64 of the empty input with seed 0, from the reference
    /// implementation (`XXH3_64bits("", 0)`): guards against a seeded or
    /// otherwise different hash sneaking in.
    #[test]
    fn key_hash_is_seedless_xxh3() {
        assert_eq!(key_hash(b""), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn decimal_matches_to_string() {
        let mut buf = [0u8; 20];
        for i in [0, 1, 9, 10, 99, 100, 4095, 123_456_789, u64::MAX] {
            assert_eq!(decimal(i, &mut buf), i.to_string().as_bytes());
        }
    }

    #[test]
    fn labels_follow_the_documented_format() {
        let node = Node::new("10.0.0.5:11211");
        let mut label = Vec::new();
        let mut points = Vec::new();
        push_points(&node, 3, &mut label, &mut points);
        assert_eq!(points.len() as u64, VNODES_PER_WEIGHT);
        assert_eq!(points[0], (XxHash3_64::oneshot(b"10.0.0.5:11211#0"), 3));
        assert_eq!(points[17], (XxHash3_64::oneshot(b"10.0.0.5:11211#17"), 3));
    }
}
