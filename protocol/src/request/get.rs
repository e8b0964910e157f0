//! `get`, `gets`, `gat`, `gats` (and the ancient alias `bget`).

use bytes::Bytes;

/// `get <key>*` / `gets <key>*`: fetch one or more items.
///
/// Replies with [`Response::Values`](crate::Response::Values) (hits only, in
/// request order, then `END`); `gets` includes each item's CAS unique.
/// A repeated key is looked up (and returned) once per occurrence, as in
/// memcached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// Keys as sent, each a slice of the request frame. Never empty; each
    /// at most [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes.
    pub keys: Vec<Bytes>,
}

/// `gat <exptime> <key>*` / `gats <exptime> <key>*`: fetch and touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gat {
    /// The new expiration time, as memcached reads it (see
    /// [`Store::exptime`](crate::Store::exptime)).
    pub exptime: i64,
    /// Keys as sent. May be empty: memcached answers `gat 10` with `END`.
    pub keys: Vec<Bytes>,
}

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection, Request};
use crate::text::number::parse_i32;
use crate::text::tokens::{all_spans, Tokens};

/// `get`/`gets`/`gat`/`gats`/`bget`. Every key after the verb (and after
/// the exptime for `gat`) is a key, however many there are; one key over
/// 250 bytes fails the whole line (memcached discards the hits it had
/// gathered and sends only the error).
pub(crate) fn parse(frame: &Bytes, line: &[u8], t: &Tokens<'_>, command: Command) -> Request {
    if t.ntokens() < 3 {
        return Request::Invalid(Rejection::new(Reason::UnknownCommand, Some(command)));
    }
    let touch = matches!(command, Command::Gat | Command::Gats);
    let mut exptime = 0;
    let skip = if touch { 2 } else { 1 };
    if touch {
        match parse_i32(t.get(1)) {
            Some(v) => exptime = i64::from(v),
            None => return Request::Invalid(Rejection::new(Reason::InvalidExptime, Some(command))),
        }
    }
    let mut count = 0;
    for span in all_spans(line).skip(skip) {
        if span.len() > MAX_KEY_LEN {
            return Request::Invalid(Rejection::new(Reason::BadCommandLineFormat, Some(command)));
        }
        count += 1;
    }
    let mut keys = Vec::with_capacity(count);
    keys.extend(all_spans(line).skip(skip).map(|s| frame.slice(s)));
    match command {
        Command::Gets => Request::Gets(Get { keys }),
        Command::Gat => Request::Gat(Gat { exptime, keys }),
        Command::Gats => Request::Gats(Gat { exptime, keys }),
        _ => Request::Get(Get { keys }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    fn keys(ks: &[&'static str]) -> Vec<Bytes> {
        ks.iter()
            .map(|k| Bytes::from_static(k.as_bytes()))
            .collect()
    }

    #[test]
    fn parses() {
        assert_eq!(one(b"get a\r\n"), Request::Get(Get { keys: keys(&["a"]) }));
        assert_eq!(
            one(b"get a b  c\r\n"),
            Request::Get(Get {
                keys: keys(&["a", "b", "c"])
            })
        );
        assert_eq!(one(b"bget a\r\n"), Request::Get(Get { keys: keys(&["a"]) }));
        assert_eq!(
            one(b"gets a a\n"),
            Request::Gets(Get {
                keys: keys(&["a", "a"])
            })
        );
        assert_eq!(
            one(b"gat 10 a b\r\n"),
            Request::Gat(Gat {
                exptime: 10,
                keys: keys(&["a", "b"])
            })
        );
        assert_eq!(
            one(b"gats -1 a\r\n"),
            Request::Gats(Gat {
                exptime: -1,
                keys: keys(&["a"])
            })
        );
        // memcached answers `gat 10` with END
        assert_eq!(
            one(b"gat 10\r\n"),
            Request::Gat(Gat {
                exptime: 10,
                keys: vec![]
            })
        );
        // a NUL ends the line; a tab is part of a key
        assert_eq!(
            one(b"get a\0b c\r\n"),
            Request::Get(Get { keys: keys(&["a"]) })
        );
        assert_eq!(
            one(b"get a\tb\r\n"),
            Request::Get(Get {
                keys: keys(&["a\tb"])
            })
        );
    }

    #[test]
    fn many_keys_past_the_token_limit() {
        let line: String = (0..100).map(|i| format!(" k{i}")).collect();
        let r = one(format!("get{line}\r\n").as_bytes());
        let Request::Get(g) = r else { panic!() };
        assert_eq!(g.keys.len(), 100);
        assert_eq!(&g.keys[99][..], b"k99");
    }

    #[test]
    fn errors() {
        let long = "k".repeat(251);
        let ok = "k".repeat(250);
        for (input, reply) in [
            ("get\r\n", "ERROR\r\n"),
            ("get \r\n", "ERROR\r\n"),
            ("gets\r\n", "ERROR\r\n"),
            ("gat 10\r\n", "<gat>"),
            ("gat\r\n", "ERROR\r\n"),
            ("gat x a\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
            ("gatx 1 a\r\n", "ERROR\r\n"),
            ("GET a\r\n", "ERROR\r\n"),
            (
                &format!("get a {long} b\r\n"),
                "CLIENT_ERROR bad command line format\r\n",
            ),
            (&format!("get a {ok} b\r\n"), "<get>"),
            ("get a noreply\r\n", "<get>"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input}");
        }
    }
}
