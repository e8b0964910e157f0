//! `incr` and `decr`.

use bytes::Bytes;

/// `incr <key> <delta> [noreply]` / `decr <key> <delta> [noreply]`.
///
/// The store keeps memcached's rules: incr wraps at 2^64, decr stops at 0,
/// a value that is not a decimal gets `CLIENT_ERROR cannot increment or
/// decrement non-numeric value`, and a shorter result is written in place
/// padded with spaces (memcached's in-place rewrite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arithmetic {
    /// Key as sent.
    pub key: Bytes,
    /// Amount to add or subtract.
    pub delta: u64,
    /// Withhold the reply.
    pub noreply: bool,
}

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::number::parse_u64;
use crate::text::tokens::Tokens;

/// Parses an `incr`/`decr` line.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>, command: Command) -> Request {
    let n = t.ntokens();
    if n != 4 && n != 5 {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, Some(command)));
    }
    let noreply = t.noreply();
    let reject = |reason| {
        Request::Invalid(Rejection {
            reason,
            noreply,
            command: Some(command),
        })
    };
    let key = t.span(1);
    if key.len() > MAX_KEY_LEN {
        return reject(Reason::BadCommandLineFormat);
    }
    let Some(delta) = parse_u64(t.get(2)) else {
        return reject(Reason::InvalidDelta);
    };
    let a = Arithmetic {
        key: frame.slice(key),
        delta,
        noreply,
    };
    if command == Command::Decr {
        Request::Decr(a)
    } else {
        Request::Incr(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    fn arith(key: &'static str, delta: u64, noreply: bool) -> Arithmetic {
        Arithmetic {
            key: Bytes::from_static(key.as_bytes()),
            delta,
            noreply,
        }
    }

    #[test]
    fn parses() {
        assert_eq!(one(b"incr n 1\r\n"), Request::Incr(arith("n", 1, false)));
        assert_eq!(
            one(b"decr n 5 noreply\r\n"),
            Request::Decr(arith("n", 5, true))
        );
        assert_eq!(
            one(b"incr n 18446744073709551615\r\n"),
            Request::Incr(arith("n", u64::MAX, false))
        );
        assert_eq!(
            one(b"incr n -18446744073709551615\r\n"),
            Request::Incr(arith("n", 1, false))
        );
        assert_eq!(
            one(b"incr n 1 junk\r\n"),
            Request::Incr(arith("n", 1, false))
        );
    }

    #[test]
    fn refusals() {
        let bad = "CLIENT_ERROR invalid numeric delta argument\r\n";
        for (input, reply) in [
            ("incr n\r\n", "ERROR\r\n"),
            ("incr n 1 2 3\r\n", "ERROR\r\n"),
            ("incr n -1\r\n", bad),
            ("incr n 18446744073709551616\r\n", bad),
            ("decr n x\r\n", bad),
            ("decr n x noreply\r\n", ""),
            ("incrx n 1\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }
}
