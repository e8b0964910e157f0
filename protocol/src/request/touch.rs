//! `touch <key> <exptime> [noreply]`.

use bytes::Bytes;

/// `touch <key> <exptime> [noreply]`: set a new expiration time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// Key as sent.
    pub key: Bytes,
    /// See [`Store::exptime`](crate::Store::exptime).
    pub exptime: i64,
    /// Withhold the reply.
    pub noreply: bool,
}
