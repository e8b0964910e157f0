//! The meta commands: `mg`, `ms`, `md`, `ma`, `mn`, `me`.
//!
//! # Keys and base64
//!
//! With the `b` flag the key is sent base64-encoded. **The parser decodes
//! it**: `key` is always the binary key the store uses (for `b` keys a small
//! new buffer, otherwise a slice of the frame) and `base64` records that the
//! client used `b`. The reply encoder re-encodes a returned key (`k` flag)
//! when [`ReturnValues::key_base64`](crate::ReturnValues::key_base64) is set
//! and appends ` b`, as memcached does; for a key the client sent in base64
//! that is the key as sent. The 250-byte limit applies to the key *as sent*.
//!
//! # Quiet mode
//!
//! `q` is recorded as `quiet`; which replies it withholds is decided by
//! [`Request::suppresses`](crate::Request::suppresses), following 1.6.18:
//! `mg` withholds `EN`, `ms` withholds `HD`, `md` withholds `HD`, `ma`
//! withholds its success reply (`HD` or `VA`). Errors are never withheld.

mod arithmetic;
mod debug;
mod delete;
mod get;
mod set;

pub use self::arithmetic::{MetaArithmetic, MetaArithmeticFlags};
pub use self::debug::MetaDebug;
pub use self::delete::{MetaDelete, MetaDeleteFlags};
pub use self::get::{MetaGet, MetaGetFlags};
pub use self::set::{MetaSet, MetaSetFlags};

pub(crate) use self::arithmetic::parse as parse_arithmetic;
pub(crate) use self::debug::parse as parse_debug;
pub(crate) use self::delete::parse as parse_delete;
pub(crate) use self::get::parse as parse_get;
pub(crate) use self::set::{
    build as build_set, parse_head as parse_set_head, MetaSetHead, MetaSetLine,
};

use std::ops::Range;

use bytes::Bytes;

use crate::limits::MAX_KEY_LEN;
use crate::meta::base64;
use crate::meta::parse::{RawFlags, MAX_META_TOKENS};
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::tokens::Tokens;

pub(super) fn reject(reason: Reason, command: Command) -> Request {
    Request::Invalid(Rejection::new(reason, Some(command)))
}

/// The key: a slice of the frame, or decoded from base64.
pub(super) fn key(frame: &Bytes, span: Range<usize>, base64: bool) -> Option<Bytes> {
    if base64 {
        base64::decode(frame.get(span)?)
    } else {
        Some(frame.slice(span))
    }
}

pub(super) fn opaque(frame: &Bytes, f: &RawFlags) -> Option<Bytes> {
    f.opaque_value().map(|r| frame.slice(r))
}

/// The checks every `mg md ma` line starts with.
pub(super) fn common(t: &Tokens<'_>, command: Command) -> Result<(), Reason> {
    if t.ntokens() < 3 {
        return Err(Reason::UnknownCommand);
    }
    if t.span(1).len() > MAX_KEY_LEN {
        return Err(Reason::BadCommandLineFormat);
    }
    if t.ntokens() > MAX_META_TOKENS {
        return Err(if command == Command::MetaGet {
            Reason::GetOptionsTooLong
        } else {
            Reason::OptionsTooLong
        });
    }
    Ok(())
}
