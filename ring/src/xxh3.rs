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

/// Appends the positions of the virtual nodes of `node` to `points`:
/// `weight * VNODES_PER_WEIGHT` of them, `xxh3("{name}#{i}")` for
/// `i = 0, 1, ...` in decimal.
pub(crate) fn push_points(node: &Node, label: &mut Vec<u8>, points: &mut Vec<u64>) {
    let count = u64::from(node.weight()) * VNODES_PER_WEIGHT;
    label.clear();
    label.extend_from_slice(node.name().as_bytes());
    label.push(b'#');
    let digits_start = label.len();
    label.push(b'0');
    for _ in 0..count {
        points.push(XxHash3_64::oneshot(label));
        increment_decimal(label, digits_start);
    }
}

/// Adds one to the decimal number in `label[start..]`, in place: the same
/// text as formatting `i + 1`, without dividing or copying on every point.
fn increment_decimal(label: &mut Vec<u8>, start: usize) {
    for digit in label[start..].iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
    // All nines: 99 becomes 100.
    label.insert(start, b'1');
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
    fn decimal_counter_matches_to_string() {
        let mut label = b"n#0".to_vec();
        for i in 0..100_000u64 {
            assert_eq!(&label[2..], i.to_string().as_bytes());
            increment_decimal(&mut label, 2);
        }
    }

    #[test]
    fn labels_follow_the_documented_format() {
        let node = Node::new("10.0.0.5:11211");
        let mut label = Vec::new();
        let mut points = Vec::new();
        push_points(&node, &mut label, &mut points);
        assert_eq!(points.len() as u64, VNODES_PER_WEIGHT);
        assert_eq!(points[0], XxHash3_64::oneshot(b"10.0.0.5:11211#0"));
        assert_eq!(points[17], XxHash3_64::oneshot(b"10.0.0.5:11211#17"));
        assert_eq!(points[4095], XxHash3_64::oneshot(b"10.0.0.5:11211#4095"));
    }
}
