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
