//! moka's hasher for [`ItemKey`](super::ItemKey)s: a pass-through.
//!
//! An `ItemKey` is already a seeded 128-bit xxh3 of the key bytes, so
//! hashing it again would only cost time. moka hashes a key several times
//! per write (its table, its per-key locks, its frequency sketch); with
//! std's SipHash over the key bytes that was a third of the server's CPU on
//! a set-heavy load, and with xxh3 over them still a memcmp and a pointer
//! chase per probe. The seed (random per process) lives with the store,
//! which computes each key's `ItemKey` once per request, so clients cannot
//! choose keys that collide.

use std::hash::{BuildHasher, Hasher};

/// Builds [`PassHasher`]s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassHasher;

    #[inline]
    fn build_hasher(&self) -> PassHasher {
        PassHasher { state: 0 }
    }
}

/// Takes the `u64` an `ItemKey` writes as the hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassHasher {
    state: u64,
}

impl Hasher for PassHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used by ItemKey; anything else hashed through here (nothing
        // is) still gets a proper hash rather than a constant.
        self.state = twox_hash::XxHash3_64::oneshot_with_seed(self.state, bytes);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.state ^= n;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ItemKey;

    #[test]
    fn an_item_key_hashes_to_its_low_64_bits() {
        let key = ItemKey(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(PassThrough.hash_one(key), 0xfedc_ba98_7654_3210);
    }
}
