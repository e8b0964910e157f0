//! `set`, `add`, `replace`, `append`, `prepend`, `cas`.

use bytes::Bytes;

/// `<verb> <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n`
///
/// Shared by `set`, `add`, `replace`, `append` and `prepend`; the
/// [`Request`](crate::Request) variant says which.
///
/// `value` is a slice of the frozen read frame: holding it pins the whole
/// frame. The store must copy it into a buffer of its own size
/// (`Bytes::copy_from_slice`) before keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Key as sent (at most 250 bytes).
    pub key: Bytes,
    /// Client flags, opaque to the server.
    pub flags: u32,
    /// Expiration time *as memcached reads it*: the decimal is parsed as a
    /// 64-bit `strtol` and then truncated to 32 bits (so `4294967297` is
    /// `1`); the value is that `i32`, widened. The exptime rules (0 = never,
    /// ≤ 30 days relative, else absolute, negative = expired) are the
    /// store's.
    pub exptime: i64,
    /// The data block, without its trailing CRLF.
    pub value: Bytes,
    /// The last token was `noreply`: every reply to this request, errors
    /// included, is withheld (see [`Request::suppresses`](crate::Request::suppresses)).
    pub noreply: bool,
}

/// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]\r\n<data>\r\n`
///
/// Like [`Store`], plus the CAS unique the item must still have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cas {
    /// Key as sent.
    pub key: Bytes,
    /// Client flags.
    pub flags: u32,
    /// See [`Store::exptime`].
    pub exptime: i64,
    /// The data block (pins the frame, see [`Store`]).
    pub value: Bytes,
    /// The CAS unique from the client.
    pub cas: u64,
    /// See [`Store::noreply`].
    pub noreply: bool,
}

use std::ops::Range;

use crate::limits::MAX_KEY_LEN;
use crate::request::{Command, Reason, Rejection};
use crate::text::number::{parse_i32, parse_u32, parse_u64};
use crate::text::tokens::Tokens;

/// A checked storage command line: everything but the data block.
#[derive(Debug)]
pub(crate) struct StoreHead {
    pub(crate) command: Command,
    pub(crate) key: Range<usize>,
    pub(crate) flags: u32,
    pub(crate) exptime: i64,
    pub(crate) len: usize,
    pub(crate) cas: u64,
    pub(crate) noreply: bool,
}

/// Checks a `set add replace append prepend cas` line the way
/// `process_update_command` does, before any data is awaited.
pub(crate) fn parse_head(command: Command, t: &Tokens<'_>) -> Result<StoreHead, Rejection> {
    let is_cas = command == Command::Cas;
    let n = t.ntokens();
    let count_ok = if is_cas {
        n == 7 || n == 8
    } else {
        n == 6 || n == 7
    };
    if !count_ok {
        return Err(Rejection::new(Reason::UnknownCommand, Some(command)));
    }
    let noreply = t.noreply();
    let bad = || Rejection {
        reason: Reason::BadCommandLineFormat,
        noreply,
        command: Some(command),
    };
    let key = t.span(1);
    if key.len() > MAX_KEY_LEN {
        return Err(bad());
    }
    let (Some(flags), Some(exptime), Some(len)) = (
        parse_u32(t.get(2)),
        parse_i32(t.get(3)),
        parse_i32(t.get(4)),
    ) else {
        return Err(bad());
    };
    let cas = if is_cas {
        parse_u64(t.get(5)).ok_or_else(bad)?
    } else {
        0
    };
    if !(0..=i32::MAX - 2).contains(&len) {
        return Err(bad());
    }
    Ok(StoreHead {
        command,
        key,
        flags,
        exptime: i64::from(exptime),
        len: len as usize,
        cas,
        noreply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::request::Request;
    use crate::testing::{one, replies, replies_with, requests, requests_with};

    fn store(
        key: &'static str,
        flags: u32,
        exptime: i64,
        value: &'static str,
        noreply: bool,
    ) -> Store {
        Store {
            key: Bytes::from_static(key.as_bytes()),
            flags,
            exptime,
            value: Bytes::from_static(value.as_bytes()),
            noreply,
        }
    }

    #[test]
    fn parses_each_verb() {
        assert_eq!(
            one(b"set k 5 10 3\r\nabc\r\n"),
            Request::Set(store("k", 5, 10, "abc", false))
        );
        assert_eq!(
            one(b"add k 0 0 0\r\n\r\n"),
            Request::Add(store("k", 0, 0, "", false))
        );
        assert_eq!(
            one(b"replace k 1 -1 2 noreply\r\nab\r\n"),
            Request::Replace(store("k", 1, -1, "ab", true))
        );
        assert_eq!(
            one(b"append k 0 0 1\r\nx\r\n"),
            Request::Append(store("k", 0, 0, "x", false))
        );
        assert_eq!(
            one(b"prepend k 0 0 1\nx\r\n"),
            Request::Prepend(store("k", 0, 0, "x", false))
        );
        assert_eq!(
            one(b"cas k 0 0 1 99 noreply\r\nx\r\n"),
            Request::Cas(Cas {
                key: Bytes::from_static(b"k"),
                flags: 0,
                exptime: 0,
                value: Bytes::from_static(b"x"),
                cas: 99,
                noreply: true,
            })
        );
        // the value may contain CRLF: only the length counts
        assert_eq!(
            one(b"set k 0 0 4\r\n\r\n\r\n\r\n"),
            Request::Set(store("k", 0, 0, "\r\n\r\n", false))
        );
        // a sixth token that is not noreply is ignored
        assert_eq!(
            one(b"set k 0 0 1 junk\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
    }

    #[test]
    fn number_quirks() {
        assert_eq!(
            one(b"set k +5 0 1\r\nx\r\n"),
            Request::Set(store("k", 5, 0, "x", false))
        );
        assert_eq!(
            one(b"set k -0 0 1\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
        assert_eq!(
            one(b"set k 4294967296 0 1\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
        assert_eq!(
            one(b"set k -18446744073709551615 0 1\r\nx\r\n"),
            Request::Set(store("k", 1, 0, "x", false))
        );
        assert_eq!(
            one(b"set k 0 4294967297 1\r\nx\r\n"),
            Request::Set(store("k", 0, 1, "x", false))
        );
        assert_eq!(
            one(b"set k 0 0 4294967297\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
        assert_eq!(
            one(b"set k 0 0 +1\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
        // tab is not a separator but strtol skips it as leading space
        assert_eq!(
            one(b"set k 0 0 \t1\r\nx\r\n"),
            Request::Set(store("k", 0, 0, "x", false))
        );
    }

    #[test]
    fn refusals() {
        let bclf = "CLIENT_ERROR bad command line format\r\n";
        let long = "k".repeat(251);
        for (input, reply) in [
            ("set k 0 0\r\n", "ERROR\r\n".to_string()),
            (
                "set k 0 0 1 noreply junk\r\nx\r\n",
                "ERROR\r\nERROR\r\n".into(),
            ),
            ("cas k 0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n".into()),
            ("set k -1 0 1\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            ("set k 0 0 -1\r\n", bclf.into()),
            ("set k 0 0 1x\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            ("set k x 0 1\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            ("set k 0 x 1\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            ("cas k 0 0 1 -1\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            (
                "set k 0 0 2147483645\r\n",
                "SERVER_ERROR object too large for cache\r\n".into(),
            ),
            ("set k 0 0 2147483646\r\n", bclf.into()),
            ("set k 0 0 2147483647\r\nx\r\n", format!("{bclf}ERROR\r\n")),
            (
                &format!("set {long} 0 0 1\r\nx\r\n"),
                format!("{bclf}ERROR\r\n"),
            ),
            // noreply withholds the error; the data line is then a command
            ("set k x 0 1 noreply\r\nx\r\n", "ERROR\r\n".into()),
            // the block is exactly <bytes> + CRLF, or 'bad data chunk'
            (
                "set k 0 0 1\r\nabc\r\n",
                "CLIENT_ERROR bad data chunk\r\nERROR\r\n".into(),
            ),
            (
                "set k 0 0 5\r\nhello\n\r\nget a\r\n",
                "CLIENT_ERROR bad data chunk\r\nERROR\r\n<get>".into(),
            ),
            ("set k 0 0 1 noreply\r\nabc\r\n", "ERROR\r\n".into()),
            ("set k\t0 0 1\r\nx\r\n", "ERROR\r\nERROR\r\n".into()),
            ("setx k 0 0 1\r\n", "ERROR\r\n".into()),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn waits_for_the_whole_block() {
        // incomplete: nothing parsed (the splitting helper also checks
        // that every prefix yields nothing)
        assert!(requests(b"set k 0 0 5\r\nhel").is_empty());
        assert!(requests(b"set k 0 0 1\r\nx\n").is_empty());
        assert!(requests(b"set k 0 0 1\r\nx").is_empty());
    }

    #[test]
    fn too_large_is_swallowed_and_unlinks_for_set() {
        let limits = Limits::default().max_item_size(100);
        // 48 + 1 + 1 + 40 + 2 + 8 = 100 fits; 41 does not
        let fits = format!("set k 0 0 40\r\n{}\r\n", "v".repeat(40));
        assert_eq!(replies_with(fits.as_bytes(), limits), "<set>");
        let flags = format!("set k 1 0 40\r\n{}\r\nget k\r\n", "v".repeat(40));
        assert_eq!(
            replies_with(flags.as_bytes(), limits),
            "SERVER_ERROR object too large for cache\r\n<get>"
        );
        let big = format!("set k 0 0 41\r\n{}\r\nget k\r\n", "v".repeat(41));
        let r = requests_with(big.as_bytes(), limits);
        assert_eq!(r.len(), 2);
        let Request::TooLarge(t) = &r[0] else {
            panic!("{r:?}")
        };
        assert!(t.unlink && !t.noreply);
        assert_eq!(&t.key[..], b"k");
        assert_eq!(t.len, 41);
        let add = format!("add k 0 0 41 noreply\r\n{}\r\n", "v".repeat(41));
        let r = requests_with(add.as_bytes(), limits);
        let Request::TooLarge(t) = &r[0] else {
            panic!("{r:?}")
        };
        assert!(!t.unlink && t.noreply);
        assert_eq!(replies_with(add.as_bytes(), limits), "");
        // CAS disabled (-C) saves 8 bytes
        let nocas = format!("set k 0 0 48\r\n{}\r\n", "v".repeat(48));
        assert_eq!(
            replies_with(nocas.as_bytes(), limits.cas_enabled(false)),
            "<set>"
        );
    }

    #[test]
    fn too_large_block_is_never_buffered() {
        use crate::request::RequestDecoder;
        use bytes::BytesMut;
        let mut d = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"set k 0 0 2000000000\r\n"[..]);
        assert!(matches!(
            d.decode(&mut buf).unwrap(),
            Some(Request::TooLarge(_))
        ));
        assert!(d.is_discarding());
        let chunk = vec![b'x'; 64 * 1024];
        let mut fed = 0usize;
        while fed < 2_000_000_002 - chunk.len() {
            buf.extend_from_slice(&chunk);
            fed += chunk.len();
            assert!(d.decode(&mut buf).unwrap().is_none());
            assert!(buf.is_empty());
            if fed > 10 * 1024 * 1024 {
                break;
            }
        }
        assert!(d.is_discarding());
    }
}
