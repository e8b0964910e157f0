//! `set`, `add`, `replace`, `append`, `prepend`, `cas`.

use bytes::Bytes;

/// `<verb> <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n`
///
/// Shared by `set`, `add`, `replace`, `append` and `prepend`; the
/// [`Request`](crate::Request) variant says which.
///
/// `value` is a slice of the frozen read frame: holding it pins the whole
/// frame. The store must copy it into a buffer of its own size
/// (`Bytes::copy_from_slice`) before keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Key as sent (at most 250 bytes).
    pub key: Bytes,
    /// Client flags, opaque to the server.
    pub flags: u32,
    /// Expiration time *as memcached reads it*: the decimal is parsed as a
    /// 64-bit `strtol` and then truncated to 32 bits (so `4294967297` is
    /// `1`); the value is that `i32`, widened. The exptime rules (0 = never,
    /// ≤ 30 days relative, else absolute, negative = expired) are the
    /// store's.
    pub exptime: i64,
    /// The data block, without its trailing CRLF.
    pub value: Bytes,
    /// The last token was `noreply`: every reply to this request, errors
    /// included, is withheld (see [`Request::suppresses`](crate::Request::suppresses)).
    pub noreply: bool,
}

/// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]\r\n<data>\r\n`
///
/// Like [`Store`], plus the CAS unique the item must still have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cas {
    /// Key as sent.
    pub key: Bytes,
    /// Client flags.
    pub flags: u32,
    /// See [`Store::exptime`].
    pub exptime: i64,
    /// The data block (pins the frame, see [`Store`]).
    pub value: Bytes,
    /// The CAS unique from the client.
    pub cas: u64,
    /// See [`Store::noreply`].
    pub noreply: bool,
}
