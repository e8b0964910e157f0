//! The small administrative commands: `flush_all`, `version`, `verbosity`,
//! `stats`, `shutdown`, and memcached-only admin verbs.

use bytes::Bytes;

/// `flush_all [delay] [noreply]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushAll {
    /// Delay in seconds as memcached reads it (a 32-bit `strtol`); `None`
    /// when absent. memcached treats `Some(0)` and negative values like
    /// `None` (flush now).
    pub delay: Option<i64>,
    /// Withhold the reply.
    pub noreply: bool,
}

/// `verbosity <level> [noreply]`. The reply is always `OK` (memcached clamps
/// the level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verbosity {
    /// The requested level.
    pub level: u32,
    /// Withhold the reply.
    pub noreply: bool,
}

/// `stats [<group> [args...]]`.
///
/// The executor answers: no group is the general block; `settings`,
/// `items`, `slabs`, `sizes`, `conns` are groups; `reset` replies `RESET`;
/// `detail on|off|dump`; an unknown group is `ERROR` (memcached asks its
/// engine, which knows none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The group name (`None` for plain `stats`).
    pub group: Option<Bytes>,
    /// Further tokens after the group.
    pub args: Vec<Bytes>,
}

/// `shutdown [graceful]`: refused with `ERROR: shutdown not enabled` unless
/// the node was started with memcached's `-A`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// `shutdown`.
    Immediate,
    /// `shutdown graceful`.
    Graceful,
    /// Anything else: when enabled, memcached replies
    /// `CLIENT_ERROR invalid shutdown mode`.
    InvalidMode,
}

/// A memcached administrative verb that ringcache does not model
/// (`cache_memlimit`, `lru_crawler`, `lru`, `slabs`, `watch`,
/// `extstore`...). The tokens are passed through so the executor can reply
/// as it sees fit (`ERROR` is the safe answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The verb.
    pub command: Bytes,
    /// The remaining tokens.
    pub args: Vec<Bytes>,
}
