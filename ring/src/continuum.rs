//! The sorted point list shared by both schemes, and the bucket index that
//! makes a lookup one or two comparisons instead of a full binary search.

/// At most 2^22 buckets (16 MiB of index), however large the ring.
const MAX_BUCKET_BITS: u32 = 22;

/// Bits of the first radix pass: 1,024 write streams, which the cache holds.
const TOP_BITS: u32 = 10;

/// Virtual-node positions in ascending order, with the owner of each one.
///
/// Kept as two parallel vectors (8 + 2 bytes per point) rather than a vector
/// of pairs so that the search touches only positions. `buckets[b]` is the
/// first point whose top `bits` bits are `>= b`; the points of bucket `b` are
/// `positions[buckets[b]..buckets[b + 1]]`. With about two to four points per
/// bucket a lookup reads two adjacent index entries and one cache line of
/// positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Continuum {
    positions: Vec<u64>,
    /// Node ids; 16 bits because a ring holds at most `MAX_NODES` = 2^16.
    owners: Vec<u16>,
    buckets: Vec<u32>,
    /// `space_bits - bits`: how far to shift a hash to get its bucket.
    shift: u32,
}

impl Continuum {
    /// Builds the continuum from unsorted points: `positions` holds the
    /// points of each owner in runs, `runs` says whose they are, in order
    /// (`(owner, number of points)`), so the hashing loop stores 8 bytes per
    /// point rather than 16.
    ///
    /// Equal positions are ordered by owner, and owners are numbered in name
    /// order by the caller, so ties never depend on input order. Every
    /// position must be below `2^space_bits`; the runs must cover
    /// `positions` exactly (points beyond them are dropped).
    ///
    /// Hashed positions are uniform, so this is a two-pass radix sort on the
    /// bucket bits (top bits first, then the rest within each top group, so
    /// every pass writes to a cache-sized region), then an insertion sort of
    /// each bucket of a few points. At a million points and more it is
    /// several times faster than `sort_unstable`, whose random accesses miss
    /// the cache.
    pub(crate) fn build(positions: &[u64], runs: &[(u16, usize)], space_bits: u32) -> Self {
        let len = runs
            .iter()
            .map(|&(_, n)| n)
            .sum::<usize>()
            .min(positions.len());
        let positions = &positions[..len];
        // About two to four points per bucket: the scan of a bucket stays in
        // one cache line, and the index costs 1 to 2 bytes per point.
        let bits = match len {
            0 | 1 => 0,
            len => (len.ilog2() - 1).min(MAX_BUCKET_BITS).min(space_bits),
        };
        let shift = space_bits - bits;
        let top_bits = bits.min(TOP_BITS);
        let sub_bits = bits - top_bits;
        let top_shift = shift + sub_bits;

        // Pass 1: scatter by the top bits into `by_top`, attaching owners.
        let top_count = 1usize << top_bits;
        let mut top_start = vec![0usize; top_count + 1];
        for &pos in positions {
            top_start[bucket_of(pos, top_shift) as usize + 1] += 1;
        }
        for t in 0..top_count {
            top_start[t + 1] += top_start[t];
        }
        let mut cursor = top_start.clone();
        let mut by_top = vec![(0u64, 0u16); len];
        let mut run_start = 0usize;
        for &(owner, count) in runs {
            let run_end = (run_start + count).min(len);
            for &pos in &positions[run_start..run_end] {
                let slot = &mut cursor[bucket_of(pos, top_shift) as usize];
                by_top[*slot] = (pos, owner);
                *slot += 1;
            }
            run_start = run_end;
        }

        // Pass 2: within each top group, count and scatter by the remaining
        // bits into a group-sized scratch buffer, filling in the bucket index
        // as we go, sort each bucket, and append the group to the output.
        let sub_count = 1usize << sub_bits;
        let sub_mask = sub_count - 1;
        let mut buckets = vec![0u32; (1usize << bits) + 1];
        let mut sub_cursor = vec![0usize; sub_count];
        let mut scratch: Vec<(u64, u16)> = Vec::new();
        let mut sorted_positions = Vec::with_capacity(len);
        let mut owners = Vec::with_capacity(len);
        for t in 0..top_count {
            let group_start = top_start[t];
            let group = &by_top[group_start..top_start[t + 1]];
            let base = t << sub_bits;
            // `buckets[base]` already holds the group's start (0, or the end
            // of the previous group); `buckets[b + 1]` counts bucket `b`.
            for &(pos, _) in group {
                buckets[base + 1 + (bucket_of(pos, shift) as usize & sub_mask)] += 1;
            }
            for k in 0..sub_count {
                buckets[base + k + 1] += buckets[base + k];
                sub_cursor[k] = buckets[base + k] as usize - group_start;
            }
            scratch.clear();
            scratch.resize(group.len(), (0, 0));
            for &point in group {
                let slot = &mut sub_cursor[bucket_of(point.0, shift) as usize & sub_mask];
                scratch[*slot] = point;
                *slot += 1;
            }
            for k in 0..sub_count {
                let lo = buckets[base + k] as usize - group_start;
                let hi = buckets[base + k + 1] as usize - group_start;
                insertion_sort(&mut scratch[lo..hi]);
            }
            sorted_positions.extend(scratch.iter().map(|&(pos, _)| pos));
            owners.extend(scratch.iter().map(|&(_, owner)| owner));
        }
        Continuum {
            positions: sorted_positions,
            owners,
            buckets,
            shift,
        }
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    /// Positions, ascending.
    pub(crate) fn positions(&self) -> &[u64] {
        &self.positions
    }

    /// Owner of point `i`.
    pub(crate) fn owner(&self, i: usize) -> u32 {
        u32::from(self.owners[i])
    }

    /// Index of the first point at or after `hash`, wrapping to the first
    /// point past the end; `None` when there are no points.
    #[inline]
    pub(crate) fn locate(&self, hash: u64) -> Option<usize> {
        if self.positions.is_empty() {
            return None;
        }
        let b = bucket_of(hash, self.shift) as usize;
        // `b < buckets.len() - 1` because every hash is below 2^space_bits.
        let lo = self.buckets.get(b).copied().unwrap_or(0) as usize;
        let hi = self
            .buckets
            .get(b + 1)
            .copied()
            .unwrap_or(self.positions.len() as u32) as usize;
        let bucket = self.positions.get(lo..hi).unwrap_or(&[]);
        let i = lo + bucket.partition_point(|&p| p < hash);
        // `i == hi` means "first point of a later bucket", which is `hi`
        // itself, or the wrap to point 0 when `hi` is the end.
        Some(if i >= self.positions.len() { 0 } else { i })
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.positions.capacity() * 8 + self.owners.capacity() * 2 + self.buckets.capacity() * 4
    }
}

/// Sorts a handful of points (a bucket holds a few on average).
fn insertion_sort(points: &mut [(u64, u16)]) {
    for i in 1..points.len() {
        let mut j = i;
        while j > 0 && points[j - 1] > points[j] {
            points.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[inline]
fn bucket_of(hash: u64, shift: u32) -> u64 {
    hash.checked_shr(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A continuum from `(position, owner)` pairs.
    fn from_pairs(pairs: Vec<(u64, u32)>, space_bits: u32) -> Continuum {
        let positions: Vec<u64> = pairs.iter().map(|&(p, _)| p).collect();
        let runs: Vec<(u16, usize)> = pairs.iter().map(|&(_, o)| (o as u16, 1)).collect();
        Continuum::build(&positions, &runs, space_bits)
    }

    /// The answer a plain binary search over the whole list gives.
    fn reference(c: &Continuum, hash: u64) -> Option<usize> {
        if c.len() == 0 {
            return None;
        }
        let i = c.positions().partition_point(|&p| p < hash);
        Some(if i == c.len() { 0 } else { i })
    }

    #[test]
    fn empty_locates_nothing() {
        let c = from_pairs(Vec::new(), 64);
        assert_eq!(c.locate(0), None);
        assert_eq!(c.locate(u64::MAX), None);
    }

    #[test]
    fn single_point_takes_everything() {
        let c = from_pairs(vec![(1000, 7)], 64);
        for h in [0, 999, 1000, 1001, u64::MAX] {
            assert_eq!(c.locate(h), Some(0));
        }
    }

    #[test]
    fn ties_are_ordered_by_owner() {
        let c = from_pairs(vec![(5, 3), (5, 1), (9, 0)], 32);
        assert_eq!(c.owner(c.locate(4).unwrap()), 1);
        assert_eq!(c.owner(c.locate(5).unwrap()), 1);
        assert_eq!(c.owner(c.locate(6).unwrap()), 0);
        assert_eq!(c.owner(c.locate(10).unwrap()), 1);
    }

    #[test]
    fn sorts_by_position_then_owner() {
        let mut x = 1u64;
        let mut pts = Vec::new();
        for i in 0..50_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Many duplicates and a few extremes, in both key spaces' ranges.
            let pos = match i % 5 {
                0 => x >> 40,
                1 => u64::MAX - (x >> 50),
                _ => x,
            };
            pts.push((pos, (x >> 7) as u32 % 9));
        }
        pts.extend_from_within(..1000);
        let c = from_pairs(pts.clone(), 64);
        pts.sort_unstable();
        let got: Vec<(u64, u32)> = (0..c.len())
            .map(|i| (c.positions()[i], c.owner(i)))
            .collect();
        assert_eq!(got, pts);
    }

    #[test]
    fn runs_assign_owners() {
        let c = Continuum::build(&[30, 10, 20, 5], &[(2, 3), (0, 1)], 64);
        let got: Vec<(u64, u32)> = (0..c.len())
            .map(|i| (c.positions()[i], c.owner(i)))
            .collect();
        assert_eq!(got, [(5, 0), (10, 2), (20, 2), (30, 2)]);
    }

    #[test]
    fn bucket_index_matches_binary_search() {
        // Clustered and spread points, both key spaces, edges of every bucket.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for (space, n) in [(64u32, 1usize), (64, 2), (64, 1000), (32, 3), (32, 777)] {
            let mask = if space == 64 {
                u64::MAX
            } else {
                (1u64 << space) - 1
            };
            let mut pts = Vec::new();
            for i in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pos = if i % 3 == 0 {
                    (x >> 7) & mask & !0xffff
                } else {
                    x & mask
                };
                pts.push((pos, i as u32));
            }
            let c = from_pairs(pts, space);
            let mut probes = vec![0, mask, mask - 1, 1];
            for &p in c.positions() {
                probes.extend([p, p.saturating_sub(1), p.saturating_add(1) & mask]);
            }
            for _ in 0..2000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                probes.push(x & mask);
            }
            for h in probes {
                assert_eq!(
                    c.locate(h),
                    reference(&c, h),
                    "space {space} n {n} hash {h:#x}"
                );
            }
        }
    }
}
