//! `touch <key> <exptime> [noreply]`.

use bytes::Bytes;

/// `touch <key> <exptime> [noreply]`: set a new expiration time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// Key as sent.
    pub key: Bytes,
    /// See [`Store::exptime`](crate::Store::exptime).
    pub exptime: i64,
    /// Withhold the reply.
    pub noreply: bool,
}

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::number::parse_i32;
use crate::text::tokens::Tokens;

/// Parses a `touch` line.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Some(Command::Touch);
    let n = t.ntokens();
    if n != 4 && n != 5 {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, cmd));
    }
    let noreply = t.noreply();
    let reject = |reason| {
        Request::Invalid(Rejection {
            reason,
            noreply,
            command: cmd,
        })
    };
    let key = t.span(1);
    if key.len() > MAX_KEY_LEN {
        return reject(Reason::BadCommandLineFormat);
    }
    let Some(exptime) = parse_i32(t.get(2)) else {
        return reject(Reason::InvalidExptime);
    };
    Request::Touch(Touch {
        key: frame.slice(key),
        exptime: i64::from(exptime),
        noreply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    #[test]
    fn parses() {
        assert_eq!(
            one(b"touch k 10\r\n"),
            Request::Touch(Touch {
                key: Bytes::from_static(b"k"),
                exptime: 10,
                noreply: false
            })
        );
        assert_eq!(
            one(b"touch k -1 noreply\r\n"),
            Request::Touch(Touch {
                key: Bytes::from_static(b"k"),
                exptime: -1,
                noreply: true
            })
        );
    }

    #[test]
    fn refusals() {
        for (input, reply) in [
            ("touch a\r\n", "ERROR\r\n"),
            ("touch a x\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
            ("touch a x noreply\r\n", ""),
            ("touch a 10 junk\r\n", "<touch>"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }
}
