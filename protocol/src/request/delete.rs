//! `delete <key> [0] [noreply]`.

use bytes::Bytes;

/// `delete <key> [0] [noreply]`: remove an item.
///
/// A legacy hold time of `0` is accepted and ignored, as in memcached;
/// anything else there is rejected with memcached's usage message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Key as sent.
    pub key: Bytes,
    /// Withhold the reply.
    pub noreply: bool,
}
