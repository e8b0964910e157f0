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

use bytes::Bytes;

use crate::meta::{ArithmeticMode, FlagOrder, SetMode};

/// `mg <key> <flags>*`: meta get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaGet {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaGetFlags,
}

/// Flags of `mg`.
///
/// Return flags (`s t c f l h k O`) are not fields: test them with
/// [`MetaGetFlags::returns`] and echo them in `order`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaGetFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `v`: return the value (`VA <len> ...` instead of `HD`).
    pub value: bool,
    /// `q`: withhold `EN`.
    pub quiet: bool,
    /// `u`: do not bump the item in the LRU / mark it fetched.
    pub no_update: bool,
    /// `O<token>`: opaque echoed back (the bytes after `O`, at most 31).
    pub opaque: Option<Bytes>,
    /// `N<ttl>`: on miss, create an empty item with this TTL and win the
    /// recache token (`W`).
    pub vivify: Option<i64>,
    /// `R<ttl>`: if the item's remaining TTL is below this, win the recache
    /// token (`W`).
    pub recache: Option<i64>,
    /// `T<ttl>`: update the item's TTL (touch).
    pub ttl: Option<i64>,
}

impl MetaGetFlags {
    /// Whether return flag `letter` (`s t c f l h k O`...) was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// `ms <key> <datalen> <flags>*\r\n<data>\r\n`: meta set.
///
/// `value` pins the read frame; copy it before storing (see
/// [`Store`](crate::Store)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSet {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The data block without its CRLF.
    pub value: Bytes,
    /// The parsed flags.
    pub flags: MetaSetFlags,
}

/// Flags of `ms`. Return flags it echoes: `k`, `c`, `O`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaSetFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `q`: withhold `HD`.
    pub quiet: bool,
    /// `O<token>`: opaque.
    pub opaque: Option<Bytes>,
    /// `F<flags>`: client flags (default 0).
    pub client_flags: u32,
    /// `C<cas>`: compare CAS. With mode set or replace this makes the
    /// store a CAS; append/prepend check it too; add ignores it.
    pub compare_cas: Option<u64>,
    /// `T<ttl>`: exptime (default 0, never).
    pub ttl: Option<i64>,
    /// `I`: invalidate. With a CAS store whose CAS is *older*, memcached
    /// stores the item marked stale instead of failing.
    pub invalidate: bool,
    /// `M<mode>`.
    pub mode: SetMode,
}

impl MetaSetFlags {
    /// Whether return flag `letter` was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// `md <key> <flags>*`: meta delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDelete {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaDeleteFlags,
}

/// Flags of `md`. Return flags it echoes: `k`, `O`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaDeleteFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `q`: withhold `HD`.
    pub quiet: bool,
    /// `O<token>`: opaque.
    pub opaque: Option<Bytes>,
    /// `C<cas>`: delete only if the CAS matches (else `EX`).
    pub compare_cas: Option<u64>,
    /// `I`: invalidate: mark stale, bump CAS, keep the item.
    pub invalidate: bool,
    /// `T<ttl>`: with `I`, the new TTL of the stale item.
    pub ttl: Option<i64>,
}

impl MetaDeleteFlags {
    /// Whether return flag `letter` was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// `ma <key> <flags>*`: meta arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArithmetic {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaArithmeticFlags,
}

/// Flags of `ma`. Return flags it echoes: `c`, `t`, `k`, `O`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArithmeticFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `q`: withhold the success reply.
    pub quiet: bool,
    /// `v`: return the new value (`VA`).
    pub value: bool,
    /// `O<token>`: opaque.
    pub opaque: Option<Bytes>,
    /// `N<ttl>`: on miss, create the item with `initial` and this TTL.
    pub vivify: Option<i64>,
    /// `J<n>`: initial value on vivify (default 0).
    pub initial: u64,
    /// `D<n>`: delta (default 1).
    pub delta: u64,
    /// `T<ttl>`: update the TTL on success.
    pub ttl: Option<i64>,
    /// `C<cas>`: apply only if the CAS matches (else `EX`).
    pub compare_cas: Option<u64>,
    /// `M<mode>`.
    pub mode: ArithmeticMode,
}

impl Default for MetaArithmeticFlags {
    fn default() -> Self {
        MetaArithmeticFlags {
            order: FlagOrder::new(),
            base64: false,
            quiet: false,
            value: false,
            opaque: None,
            vivify: None,
            initial: 0,
            delta: 1,
            ttl: None,
            compare_cas: None,
            mode: ArithmeticMode::Increment,
        }
    }
}

impl MetaArithmeticFlags {
    /// Whether return flag `letter` was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// `me <key> [b]`: meta debug. Replies [`Response::MetaDebug`] or `EN`.
///
/// [`Response::MetaDebug`]: crate::Response::MetaDebug
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDebug {
    /// The key (decoded when `base64`).
    pub key: Bytes,
    /// The key was sent in base64 (`me <key> b`).
    pub base64: bool,
}

use std::ops::Range;

use crate::limits::MAX_KEY_LEN;
use crate::meta::base64;
use crate::meta::parse::{preparse, RawFlags, MAX_META_TOKENS};
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::number::parse_i32;
use crate::text::tokens::Tokens;

fn reject(reason: Reason, command: Command) -> Request {
    Request::Invalid(Rejection::new(reason, Some(command)))
}

/// The key: a slice of the frame, or decoded from base64.
fn key(frame: &Bytes, span: Range<usize>, base64: bool) -> Option<Bytes> {
    if base64 {
        base64::decode(frame.get(span)?)
    } else {
        Some(frame.slice(span))
    }
}

fn opaque(frame: &Bytes, f: &RawFlags) -> Option<Bytes> {
    f.opaque_value().map(|r| frame.slice(r))
}

/// The checks every `mg md ma` line starts with.
fn common(t: &Tokens<'_>, command: Command) -> Result<(), Reason> {
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

pub(crate) fn parse_get(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaGet;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let f = match preparse(t, 2) {
        Ok(f) => f,
        Err(r) => return reject(r, cmd),
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::KeyDecoding, cmd);
    };
    Request::MetaGet(MetaGet {
        key,
        flags: MetaGetFlags {
            order: f.order,
            base64: f.base64,
            value: f.value,
            quiet: f.quiet,
            no_update: f.no_update,
            opaque: opaque(frame, &f),
            vivify: f.vivify.map(i64::from),
            recache: f.recache.map(i64::from),
            ttl: f.ttl.map(i64::from),
        },
    })
}

pub(crate) fn parse_delete(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaDelete;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let Ok(f) = preparse(t, 2) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    Request::MetaDelete(MetaDelete {
        key,
        flags: MetaDeleteFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            opaque: opaque(frame, &f),
            compare_cas: f.cas,
            invalidate: f.invalidate,
            ttl: f.ttl.map(i64::from),
        },
    })
}

pub(crate) fn parse_arithmetic(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaArithmetic;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let Ok(f) = preparse(t, 2) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    let mode = match f.mode {
        None => ArithmeticMode::Increment,
        Some(m) => match ArithmeticMode::from_letter(m) {
            Some(mode) => mode,
            None => return reject(Reason::InvalidArithmeticMode, cmd),
        },
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    Request::MetaArithmetic(MetaArithmetic {
        key,
        flags: MetaArithmeticFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            value: f.value,
            opaque: opaque(frame, &f),
            vivify: f.vivify.map(i64::from),
            initial: f.initial,
            delta: f.delta.unwrap_or(1),
            ttl: f.ttl.map(i64::from),
            compare_cas: f.cas,
            mode,
        },
    })
}

pub(crate) fn parse_debug(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaDebug;
    if t.ntokens() < 3 || t.span(1).len() > MAX_KEY_LEN {
        return reject(Reason::BadCommandLineFormat, cmd);
    }
    let base64 = t.ntokens() >= 4 && t.get(2) == b"b";
    match key(frame, t.span(1), base64) {
        Some(key) => Request::MetaDebug(MetaDebug { key, base64 }),
        None => reject(Reason::BadCommandLineFormat, cmd),
    }
}

/// A checked `ms` line.
#[derive(Debug)]
pub(crate) struct MetaSetHead {
    pub(crate) key: Range<usize>,
    /// Key length as stored (decoded for `b`).
    pub(crate) key_len: usize,
    pub(crate) len: usize,
    pub(crate) flags: RawFlags,
    pub(crate) mode: SetMode,
}

/// What an `ms` line amounts to before its data block.
#[derive(Debug)]
pub(crate) enum MetaSetLine {
    /// Read the data block.
    Accept(MetaSetHead),
    /// Refuse without touching the data block (it will be read as commands,
    /// as memcached does).
    Refuse(Reason),
    /// Refuse and swallow `len + 2` bytes of data block.
    Swallow(Reason, usize),
}

/// `process_mset_command`'s checks, in its order.
pub(crate) fn parse_set_head(t: &Tokens<'_>) -> MetaSetLine {
    if t.ntokens() < 3 {
        return MetaSetLine::Refuse(Reason::UnknownCommand);
    }
    if t.span(1).len() > MAX_KEY_LEN || t.ntokens() == 3 {
        return MetaSetLine::Refuse(Reason::BadCommandLineFormat);
    }
    if t.ntokens() > MAX_META_TOKENS {
        return MetaSetLine::Refuse(Reason::OptionsTooLong);
    }
    let len = match parse_i32(t.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return MetaSetLine::Refuse(Reason::BadCommandLineFormat),
    };
    let f = match preparse(t, 3) {
        Ok(f) => f,
        Err(r) => return MetaSetLine::Swallow(r, len),
    };
    let mode = match f.mode {
        None => SetMode::Set,
        Some(m) => match SetMode::from_letter(m) {
            Some(mode) => mode,
            None => return MetaSetLine::Swallow(Reason::InvalidSetMode, len),
        },
    };
    if f.opaque_too_long() {
        return MetaSetLine::Swallow(Reason::OpaqueTooLong, len);
    }
    let key_len = if f.base64 {
        base64::decoded_len(t.get(1)).unwrap_or(0)
    } else {
        t.span(1).len()
    };
    MetaSetLine::Accept(MetaSetHead {
        key: t.span(1),
        key_len,
        len,
        flags: f,
        mode,
    })
}

/// Builds the request once the whole frame (line + data + CRLF) is in
/// `frame`; `value` is the data span.
pub(crate) fn build_set(frame: &Bytes, head: MetaSetHead, value: Range<usize>) -> Request {
    let f = &head.flags;
    let Some(key) = key(frame, head.key.clone(), f.base64) else {
        return reject(Reason::KeyDecoding, Command::MetaSet);
    };
    Request::MetaSet(MetaSet {
        key,
        value: frame.slice(value),
        flags: MetaSetFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            opaque: opaque(frame, f),
            client_flags: f.client_flags,
            compare_cas: f.cas,
            ttl: f.ttl.map(i64::from),
            invalidate: f.invalidate,
            mode: head.mode,
        },
    })
}
