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

use std::ops::Range;

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection};
use crate::text::number::{parse_i32, parse_u32, parse_u64};
use crate::text::tokens::Tokens;

/// A checked storage command line: everything but the data block.
#[derive(Debug)]
pub(crate) struct StoreHead {
    pub(crate) command: Command,
    pub(crate) key: Range<usize>,
    pub(crate) flags: u32,
    pub(crate) exptime: i64,
    pub(crate) len: usize,
    pub(crate) cas: u64,
    pub(crate) noreply: bool,
}

/// Checks a `set add replace append prepend cas` line the way
/// `process_update_command` does, before any data is awaited.
pub(crate) fn parse_head(command: Command, t: &Tokens<'_>) -> Result<StoreHead, Rejection> {
    let is_cas = command == Command::Cas;
    let n = t.ntokens();
    let count_ok = if is_cas {
        n == 7 || n == 8
    } else {
        n == 6 || n == 7
    };
    if !count_ok {
        return Err(Rejection::new(Reason::UnknownCommand, Some(command)));
    }
    let noreply = t.noreply();
    let bad = || Rejection {
        reason: Reason::BadCommandLineFormat,
        noreply,
        command: Some(command),
    };
    let key = t.span(1);
    if key.len() > MAX_KEY_LEN {
        return Err(bad());
    }
    let (Some(flags), Some(exptime), Some(len)) = (
        parse_u32(t.get(2)),
        parse_i32(t.get(3)),
        parse_i32(t.get(4)),
    ) else {
        return Err(bad());
    };
    let cas = if is_cas {
        parse_u64(t.get(5)).ok_or_else(bad)?
    } else {
        0
    };
    if !(0..=i32::MAX - 2).contains(&len) {
        return Err(bad());
    }
    Ok(StoreHead {
        command,
        key,
        flags,
        exptime: i64::from(exptime),
        len: len as usize,
        cas,
        noreply,
    })
}
