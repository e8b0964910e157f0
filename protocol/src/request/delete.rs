//! `delete <key> [0] [noreply]`.

use bytes::Bytes;

/// `delete <key> [0] [noreply]`: remove an item.
///
/// A legacy hold time of `0` is accepted and ignored, as in memcached;
/// anything else there is rejected with memcached's usage message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Key as sent.
    pub key: Bytes,
    /// Withhold the reply.
    pub noreply: bool,
}

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::tokens::Tokens;

/// Parses a `delete` line (`process_delete_command`'s checks, in order).
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Some(Command::Delete);
    let n = t.ntokens();
    if !(3..=5).contains(&n) {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, cmd));
    }
    let mut noreply = false;
    if n > 3 {
        let hold_is_zero = t.get(2) == b"0";
        noreply = t.noreply();
        let valid = (n == 4 && (hold_is_zero || noreply)) || (n == 5 && hold_is_zero && noreply);
        if !valid {
            return Request::Invalid(Rejection {
                reason: Reason::DeleteUsage,
                noreply,
                command: cmd,
            });
        }
    }
    let key = t.span(1);
    if key.len() > MAX_KEY_LEN {
        return Request::Invalid(Rejection {
            reason: Reason::BadCommandLineFormat,
            noreply,
            command: cmd,
        });
    }
    Request::Delete(Delete {
        key: frame.slice(key),
        noreply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    fn del(key: &'static str, noreply: bool) -> Request {
        Request::Delete(Delete {
            key: Bytes::from_static(key.as_bytes()),
            noreply,
        })
    }

    #[test]
    fn parses() {
        assert_eq!(one(b"delete k\r\n"), del("k", false));
        assert_eq!(one(b"delete k 0\r\n"), del("k", false));
        assert_eq!(one(b"delete k noreply\r\n"), del("k", true));
        assert_eq!(one(b"delete k 0 noreply\r\n"), del("k", true));
    }

    #[test]
    fn refusals() {
        let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
        let long = "k".repeat(251);
        for (input, reply) in [
            ("delete\r\n", "ERROR\r\n"),
            ("delete a x y z\r\n", "ERROR\r\n"),
            ("delete a 1\r\n", usage),
            ("delete a 0 0\r\n", usage),
            // the usage error is withheld under noreply
            ("delete a 1 noreply\r\n", ""),
            (
                &format!("delete {long}\r\n"),
                "CLIENT_ERROR bad command line format\r\n",
            ),
            (&format!("delete {long} noreply\r\n"), ""),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }
}
