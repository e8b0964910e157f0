//! `VALUE` lines of get replies.

use bytes::Bytes;

/// One hit in a get reply: `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The key as stored (memcached echoes the stored key).
    pub key: Bytes,
    /// Client flags.
    pub flags: u32,
    /// The CAS unique: `Some` for `gets`/`gats`, `None` for `get`/`gat`.
    pub cas: Option<u64>,
    /// The data.
    pub data: Bytes,
}
