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

/// A memcached administrative verb without a request type of its own
/// (`cache_memlimit`, `lru_crawler`, `lru`, `slabs`, `watch`,
/// `extstore`...). The tokens are passed through so the executor can reply
/// as it sees fit (`ERROR` is the safe answer). `lru_crawler metadump`'s
/// reply is [`Response::MetaDump`](crate::Response::MetaDump).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The verb.
    pub command: Bytes,
    /// The remaining tokens.
    pub args: Vec<Bytes>,
}

use crate::request::{Command, Reason, Rejection, Request};
use crate::text::number::{parse_i32, parse_u32};
use crate::text::tokens::Tokens;

fn rest(frame: &Bytes, t: &Tokens<'_>, from: usize) -> Vec<Bytes> {
    (from..t.ntokens() - 1)
        .map(|i| frame.slice(t.span(i)))
        .collect()
}

pub(crate) fn parse_flush_all(t: &Tokens<'_>) -> Request {
    let cmd = Some(Command::FlushAll);
    let n = t.ntokens();
    if !(2..=4).contains(&n) {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, cmd));
    }
    let noreply = t.noreply();
    let mut delay = None;
    if n != if noreply { 3 } else { 2 } {
        match parse_i32(t.get(1)) {
            Some(v) => delay = Some(i64::from(v)),
            None => {
                return Request::Invalid(Rejection {
                    reason: Reason::InvalidExptime,
                    noreply,
                    command: cmd,
                })
            }
        }
    }
    Request::FlushAll(FlushAll { delay, noreply })
}

pub(crate) fn parse_verbosity(t: &Tokens<'_>) -> Request {
    let cmd = Some(Command::Verbosity);
    let n = t.ntokens();
    if n != 3 && n != 4 {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, cmd));
    }
    let noreply = t.noreply();
    match parse_u32(t.get(1)) {
        Some(level) => Request::Verbosity(Verbosity { level, noreply }),
        None => Request::Invalid(Rejection {
            reason: Reason::BadCommandLineFormat,
            noreply,
            command: cmd,
        }),
    }
}

pub(crate) fn parse_stats(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let group = (t.ntokens() > 2).then(|| frame.slice(t.span(1)));
    Request::Stats(Stats {
        group,
        args: rest(frame, t, 2),
    })
}

pub(crate) fn parse_shutdown(t: &Tokens<'_>) -> Request {
    Request::Shutdown(match t.ntokens() {
        2 => Shutdown::Immediate,
        3 if t.get(1) == b"graceful" => Shutdown::Graceful,
        _ => Shutdown::InvalidMode,
    })
}

pub(crate) fn parse_admin(frame: &Bytes, t: &Tokens<'_>) -> Request {
    Request::Admin(Admin {
        command: frame.slice(t.span(0)),
        args: rest(frame, t, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    #[test]
    fn flush_all() {
        let f = |delay, noreply| Request::FlushAll(FlushAll { delay, noreply });
        assert_eq!(one(b"flush_all\r\n"), f(None, false));
        assert_eq!(one(b"flush_all noreply\r\n"), f(None, true));
        assert_eq!(one(b"flush_all 10\r\n"), f(Some(10), false));
        assert_eq!(one(b"flush_all 0 noreply\r\n"), f(Some(0), true));
        assert_eq!(one(b"flush_all 0 junk\r\n"), f(Some(0), false));
        for (input, reply) in [
            (
                "flush_all junk\r\n",
                "CLIENT_ERROR invalid exptime argument\r\n",
            ),
            ("flush_all noreply noreply\r\n", ""),
            ("flush_all 1 2 3\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn verbosity() {
        let v = |level, noreply| Request::Verbosity(Verbosity { level, noreply });
        assert_eq!(one(b"verbosity 1\r\n"), v(1, false));
        assert_eq!(one(b"verbosity 1 2\r\n"), v(1, false));
        assert_eq!(one(b"verbosity 1 noreply\r\n"), v(1, true));
        for (input, reply) in [
            ("verbosity\r\n", "ERROR\r\n"),
            (
                "verbosity x\r\n",
                "CLIENT_ERROR bad command line format\r\n",
            ),
            ("verbosity noreply\r\n", ""),
            ("verbosity 1 2 3\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn stats_version_quit_shutdown() {
        assert_eq!(
            one(b"stats\r\n"),
            Request::Stats(Stats {
                group: None,
                args: vec![]
            })
        );
        assert_eq!(
            one(b"stats detail on\r\n"),
            Request::Stats(Stats {
                group: Some(Bytes::from_static(b"detail")),
                args: vec![Bytes::from_static(b"on")]
            })
        );
        assert_eq!(one(b"version junk\r\n"), Request::Version);
        assert_eq!(one(b"quit\r\n"), Request::Quit);
        assert_eq!(replies(b"quit junk\r\nversion\r\n"), "<quit>");
        assert_eq!(one(b"shutdown\r\n"), Request::Shutdown(Shutdown::Immediate));
        assert_eq!(
            one(b"shutdown graceful\r\n"),
            Request::Shutdown(Shutdown::Graceful)
        );
        assert_eq!(
            one(b"shutdown x\r\n"),
            Request::Shutdown(Shutdown::InvalidMode)
        );
        assert_eq!(
            one(b"cache_memlimit 100\r\n"),
            Request::Admin(Admin {
                command: Bytes::from_static(b"cache_memlimit"),
                args: vec![Bytes::from_static(b"100")]
            })
        );
        assert_eq!(replies(b"cache_memlimit\r\n"), "ERROR\r\n");
        assert_eq!(replies(b"lru\r\n"), "ERROR\r\n");
        assert_eq!(replies(b"slabs\r\n"), "<admin>");
    }
}
