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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::testing::{one, replies, replies_with, requests_with};

    fn mg(input: &str) -> MetaGet {
        match one(input.as_bytes()) {
            Request::MetaGet(m) => m,
            other => panic!("{input:?} -> {other:?}"),
        }
    }

    #[test]
    fn meta_get_flags() {
        let m = mg("mg k s v t f c k Oxyz h l q u N30 R5 T-1\r\n");
        assert_eq!(&m.key[..], b"k");
        assert_eq!(m.flags.order.as_slice(), b"svtfckOhlquNRT");
        assert!(m.flags.value && m.flags.quiet && m.flags.no_update && !m.flags.base64);
        assert!(m.flags.returns(b's') && m.flags.returns(b'h') && !m.flags.returns(b'W'));
        assert_eq!(m.flags.opaque.as_deref(), Some(&b"xyz"[..]));
        assert_eq!(
            (m.flags.vivify, m.flags.recache, m.flags.ttl),
            (Some(30), Some(5), Some(-1))
        );
        // base64 keys are decoded
        let m = mg("mg Zm9v b k\r\n");
        assert_eq!(&m.key[..], b"foo");
        assert!(m.flags.base64);
        // letters that mg ignores are still accepted (one pre-parse for all)
        let m = mg("mg k F5 C1 Mx J1 D1 I P L\r\n");
        assert_eq!(m.flags.order.len(), 8);
        // a bare flag with trailing junk is just the flag
        assert!(mg("mg k vjunk\r\n").flags.value);
    }

    #[test]
    fn meta_get_refusals() {
        let long = "k".repeat(251);
        let opaque31 = format!("mg k O{}\r\n", "1".repeat(31));
        let opaque32 = format!("mg k O{}\r\n", "1".repeat(32));
        let flags17: String = (0..17).map(|_| " v").collect();
        let flags18: String = (0..18).map(|_| " v").collect();
        for (input, reply) in [
            ("mg\r\n", "ERROR\r\n"),
            ("mg k s s\r\n", "CLIENT_ERROR duplicate flag\r\n"),
            ("mg k E\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k x\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k 0\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k \u{7f}\r\n", "CLIENT_ERROR duplicate flag\r\n"),
            (
                "mg k Nx\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            (
                "mg k T\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            ("mg k Fx\r\n", "CLIENT_ERROR bad command line format\r\n"),
            // the last error wins; an unknown flag stops at once
            (
                "mg k Nx Fx\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            (
                "mg k Nx Mxx\r\n",
                "CLIENT_ERROR incorrect length for M token\r\n",
            ),
            ("mg k Nx Z\r\n", "CLIENT_ERROR invalid flag\r\n"),
            (
                "mg k M\r\n",
                "CLIENT_ERROR incorrect length for M token\r\n",
            ),
            ("mg k b\r\n", "CLIENT_ERROR error decoding key\r\n"),
            (&opaque31, "<mg>"),
            (&opaque32, "CLIENT_ERROR opaque token too long\r\n"),
            (
                &format!("mg {long} v\r\n"),
                "CLIENT_ERROR bad command line format\r\n",
            ),
            (
                &format!("mg k{flags17}\r\n"),
                "CLIENT_ERROR duplicate flag\r\n",
            ),
            (
                &format!("mg k{flags18}\r\n"),
                "CLIENT_ERROR options flags are too long\r\n",
            ),
            ("mx k\r\n", "ERROR\r\n"),
            ("mgg k\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn meta_set() {
        let Request::MetaSet(m) = one(b"ms k 3 T10 F5 C9 I MR q k c Oab\r\nabc\r\n") else {
            panic!()
        };
        assert_eq!((&m.key[..], &m.value[..]), (&b"k"[..], &b"abc"[..]));
        let f = &m.flags;
        assert_eq!(
            (f.ttl, f.client_flags, f.compare_cas),
            (Some(10), 5, Some(9))
        );
        assert!(f.invalidate && f.quiet && f.returns(b'k') && f.returns(b'c'));
        assert_eq!(f.mode, SetMode::Replace);
        assert_eq!(f.opaque.as_deref(), Some(&b"ab"[..]));
        for (mode, want) in [
            ("MS", SetMode::Set),
            ("ME", SetMode::Add),
            ("MA", SetMode::Append),
            ("MP", SetMode::Prepend),
            ("MR", SetMode::Replace),
        ] {
            let Request::MetaSet(m) = one(format!("ms k 1 {mode}\r\nx\r\n").as_bytes()) else {
                panic!()
            };
            assert_eq!(m.flags.mode, want);
        }
        let Request::MetaSet(m) = one(b"ms Zm9v 1 b\r\nx\r\n") else {
            panic!()
        };
        assert_eq!(&m.key[..], b"foo");
        // the length is a truncated 32-bit strtol, like classic set
        let Request::MetaSet(m) = one(b"ms k 4294967297\r\nx\r\n") else {
            panic!()
        };
        assert_eq!(&m.value[..], b"x");
    }

    #[test]
    fn meta_set_refusals() {
        let bclf = "CLIENT_ERROR bad command line format\r\n";
        let flags16: String = (0..16).map(|i| format!(" O{i}")).collect();
        let flags17: String = (0..17).map(|i| format!(" O{i}")).collect();
        for (input, reply) in [
            ("ms\r\n", "ERROR\r\n".to_string()),
            // refused before the block: the block is read as a command
            ("ms k\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            ("ms k x\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            ("ms k -1\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            (
                &format!("ms k 2{flags17}\r\nxx\r\n"),
                "CLIENT_ERROR options flags too long\r\nERROR\r\n".into(),
            ),
            // flag errors swallow the block
            (
                &format!("ms k 2{flags16}\r\nxx\r\n"),
                "CLIENT_ERROR duplicate flag\r\n".into(),
            ),
            (
                "ms k 2 Z\r\nxx\r\nmn\r\n",
                "CLIENT_ERROR invalid flag\r\n<mn>".into(),
            ),
            (
                "ms k 2 MZ\r\nxx\r\nmn\r\n",
                "CLIENT_ERROR invalid mode for ms M token\r\n<mn>".into(),
            ),
            ("ms k 2 T-1 Fx\r\nxx\r\n", bclf.into()),
            (
                "ms k 2 b\r\nxx\r\n",
                "CLIENT_ERROR error decoding key\r\n".into(),
            ),
            (
                &format!("ms k 2 O{}\r\nxx\r\n", "1".repeat(32)),
                "CLIENT_ERROR opaque token too long\r\n".into(),
            ),
            // mode errors win over opaque errors
            (
                &format!("ms k 2 O{} MZ\r\nxx\r\n", "1".repeat(32)),
                "CLIENT_ERROR invalid mode for ms M token\r\n".into(),
            ),
            // q never withholds errors
            (
                "ms k 2 q\r\nxxx\r\n",
                "CLIENT_ERROR bad data chunk\r\nERROR\r\n".into(),
            ),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn meta_set_too_large_unlinks_in_every_mode() {
        let limits = Limits::default().max_item_size(100);
        let input = format!("ms Zm9v 60 MA q b\r\n{}\r\nmn\r\n", "v".repeat(60));
        let r = requests_with(input.as_bytes(), limits);
        let Request::TooLarge(t) = &r[0] else {
            panic!("{r:?}")
        };
        assert!(t.unlink && !t.noreply);
        assert_eq!(&t.key[..], b"foo");
        assert_eq!(
            replies_with(input.as_bytes(), limits),
            "SERVER_ERROR object too large for cache\r\n<mn>"
        );
    }

    #[test]
    fn meta_delete_and_arithmetic() {
        let Request::MetaDelete(d) = one(b"md k q C5 I T30 k Ox\r\n") else {
            panic!()
        };
        assert_eq!(
            (
                d.flags.quiet,
                d.flags.compare_cas,
                d.flags.invalidate,
                d.flags.ttl
            ),
            (true, Some(5), true, Some(30))
        );
        let Request::MetaArithmetic(a) = one(b"ma k\r\n") else {
            panic!()
        };
        assert_eq!(
            (a.flags.delta, a.flags.initial, a.flags.mode),
            (1, 0, ArithmeticMode::Increment)
        );
        let Request::MetaArithmetic(a) = one(b"ma k N0 J5 D7 MD v q t c\r\n") else {
            panic!()
        };
        assert_eq!(
            (
                a.flags.vivify,
                a.flags.initial,
                a.flags.delta,
                a.flags.mode,
                a.flags.value
            ),
            (Some(0), 5, 7, ArithmeticMode::Decrement, true)
        );
        for m in ["M+", "MI"] {
            let Request::MetaArithmetic(a) = one(format!("ma k {m}\r\n").as_bytes()) else {
                panic!()
            };
            assert_eq!(a.flags.mode, ArithmeticMode::Increment);
        }
        let Request::MetaArithmetic(a) = one(b"ma k M-\r\n") else {
            panic!()
        };
        assert_eq!(a.flags.mode, ArithmeticMode::Decrement);
        let iod = "CLIENT_ERROR invalid or duplicate flag\r\n";
        for (input, reply) in [
            ("md\r\n", "ERROR\r\n"),
            ("md k x\r\n", iod),
            ("md k s s\r\n", iod),
            ("md k 0\r\n", iod),
            ("md k b\r\n", iod),
            ("ma k Dx\r\n", iod),
            ("ma k Jx\r\n", iod),
            ("ma k Mxx\r\n", iod),
            (
                "ma k Mx\r\n",
                "CLIENT_ERROR invalid mode for ma M token\r\n",
            ),
            ("ma\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn meta_noop_and_debug() {
        assert_eq!(one(b"mn\r\n"), Request::MetaNoop);
        assert_eq!(one(b"mn junk\r\n"), Request::MetaNoop);
        assert_eq!(
            one(b"me Zm9v b\r\n"),
            Request::MetaDebug(MetaDebug {
                key: Bytes::from_static(b"foo"),
                base64: true
            })
        );
        assert_eq!(
            one(b"me k x\r\n"),
            Request::MetaDebug(MetaDebug {
                key: Bytes::from_static(b"k"),
                base64: false
            })
        );
        assert_eq!(
            replies(b"me\r\n"),
            "CLIENT_ERROR bad command line format\r\n"
        );
        assert_eq!(
            replies(b"me k= b\r\n"),
            "CLIENT_ERROR bad command line format\r\n"
        );
    }
}
