//! The store's key hasher: xxh3 with a per-process random seed.
//!
//! moka defaults to std's SipHash-1-3, which showed up as a third of the
//! server's CPU on a set-heavy load (a key is hashed several times per
//! write: the table, the per-key lock, the frequency sketch). xxh3 is
//! several times faster on short keys. The seed comes from std's
//! `RandomState` (the OS's randomness), so clients cannot precompute keys
//! that collide, which a fixed-seed hash would allow.
//!
//! `Hash for Bytes` feeds the hasher the length, then the bytes; every
//! `write` folds its input into the state with one seeded xxh3 call.

use std::hash::{BuildHasher, Hasher};

use twox_hash::XxHash3_64;

/// Builds [`KeyHasher`]s sharing one random seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHashBuilder {
    seed: u64,
}

impl Default for KeyHashBuilder {
    fn default() -> Self {
        let seed = std::hash::RandomState::new().hash_one(0x5eed_u64);
        KeyHashBuilder { seed }
    }
}

impl BuildHasher for KeyHashBuilder {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { state: self.seed }
    }
}

/// One hash computation; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    state: u64,
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.state = XxHash3_64::oneshot_with_seed(self.state, bytes);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // The length prefix: mix it in without a full hash call.
        self.state = (self.state ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn same_key_same_hash_different_keys_differ() {
        let b = KeyHashBuilder::default();
        let k1 = Bytes::from_static(b"user:1");
        let k2 = Bytes::from_static(b"user:2");
        assert_eq!(
            b.hash_one(&k1),
            b.hash_one(Bytes::copy_from_slice(b"user:1"))
        );
        assert_ne!(b.hash_one(&k1), b.hash_one(&k2));
        // Bytes and [u8] hash alike (moka looks keys up by &[u8]).
        assert_eq!(b.hash_one(&k1), b.hash_one(&b"user:1"[..]));
    }

    #[test]
    fn seeds_differ_between_builders() {
        let k = Bytes::from_static(b"k");
        let a = KeyHashBuilder::default().hash_one(&k);
        let b = KeyHashBuilder::default().hash_one(&k);
        assert_ne!(a, b);
    }
}
