//! `incr` and `decr`.

use bytes::Bytes;

/// `incr <key> <delta> [noreply]` / `decr <key> <delta> [noreply]`.
///
/// The store keeps memcached's rules: incr wraps at 2^64, decr stops at 0,
/// a value that is not a decimal gets `CLIENT_ERROR cannot increment or
/// decrement non-numeric value`, and a shorter result is written in place
/// padded with spaces (memcached's in-place rewrite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arithmetic {
    /// Key as sent.
    pub key: Bytes,
    /// Amount to add or subtract.
    pub delta: u64,
    /// Withhold the reply.
    pub noreply: bool,
}
