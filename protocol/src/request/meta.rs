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
