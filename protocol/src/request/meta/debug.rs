//! `me <key> [b]`: meta debug, and `mn`.

use bytes::Bytes;

use super::{key, reject};
use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Request};
use crate::text::tokens::Tokens;

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

/// Parses an `me` line: only a third token of exactly `b` means base64.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

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
