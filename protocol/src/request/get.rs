//! `get`, `gets`, `gat`, `gats` (and the ancient alias `bget`).

use bytes::Bytes;

/// `get <key>*` / `gets <key>*`: fetch one or more items.
///
/// Replies with [`Response::Values`](crate::Response::Values) (hits only, in
/// request order, then `END`); `gets` includes each item's CAS unique.
/// A repeated key is looked up (and returned) once per occurrence, as in
/// memcached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// Keys as sent, each a slice of the request frame. Never empty; each
    /// at most [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes.
    pub keys: Vec<Bytes>,
}

/// `gat <exptime> <key>*` / `gats <exptime> <key>*`: fetch and touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gat {
    /// The new expiration time, as memcached reads it (see
    /// [`Store::exptime`](crate::Store::exptime)).
    pub exptime: i64,
    /// Keys as sent. Never empty.
    pub keys: Vec<Bytes>,
}
