//! `ms <key> <datalen> <flags>*`: meta set.

use std::ops::Range;

use bytes::Bytes;

use super::{key, opaque, reject};
use crate::limits::MAX_KEY_LEN;
use crate::meta::parse::{preparse, RawFlags, MAX_META_TOKENS};
use crate::meta::{base64, FlagOrder, SetMode};
use crate::request::{Command, Reason, Request};
use crate::text::number::parse_i32;
use crate::text::tokens::Tokens;

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

/// A checked `ms` line.
#[derive(Debug)]
pub(crate) struct MetaSetHead {
    pub(crate) key: Range<usize>,
    /// Key length as stored (decoded for `b`).
    pub(crate) key_len: usize,
    pub(crate) len: usize,
    pub(crate) flags: RawFlags,
    pub(crate) mode: SetMode,
}

/// What an `ms` line amounts to before its data block.
#[derive(Debug)]
pub(crate) enum MetaSetLine {
    /// Read the data block.
    Accept(MetaSetHead),
    /// Refuse without touching the data block (it will be read as commands,
    /// as memcached does).
    Refuse(Reason),
    /// Refuse and swallow `len + 2` bytes of data block.
    Swallow(Reason, usize),
}

/// `process_mset_command`'s checks, in its order.
pub(crate) fn parse_head(t: &Tokens<'_>) -> MetaSetLine {
    if t.ntokens() < 3 {
        return MetaSetLine::Refuse(Reason::UnknownCommand);
    }
    if t.span(1).len() > MAX_KEY_LEN || t.ntokens() == 3 {
        return MetaSetLine::Refuse(Reason::BadCommandLineFormat);
    }
    if t.ntokens() > MAX_META_TOKENS {
        return MetaSetLine::Refuse(Reason::OptionsTooLong);
    }
    let len = match parse_i32(t.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return MetaSetLine::Refuse(Reason::BadCommandLineFormat),
    };
    let f = match preparse(t, 3) {
        Ok(f) => f,
        Err(r) => return MetaSetLine::Swallow(r, len),
    };
    let mode = match f.mode {
        None => SetMode::Set,
        Some(m) => match SetMode::from_letter(m) {
            Some(mode) => mode,
            None => return MetaSetLine::Swallow(Reason::InvalidSetMode, len),
        },
    };
    if f.opaque_too_long() {
        return MetaSetLine::Swallow(Reason::OpaqueTooLong, len);
    }
    let key_len = if f.base64 {
        base64::decoded_len(t.get(1)).unwrap_or(0)
    } else {
        t.span(1).len()
    };
    MetaSetLine::Accept(MetaSetHead {
        key: t.span(1),
        key_len,
        len,
        flags: f,
        mode,
    })
}

/// Builds the request once the whole frame (line + data + CRLF) is in
/// `frame`; `value` is the data span.
pub(crate) fn build(frame: &Bytes, head: MetaSetHead, value: Range<usize>) -> Request {
    let f = &head.flags;
    let Some(key) = key(frame, head.key.clone(), f.base64) else {
        return reject(Reason::KeyDecoding, Command::MetaSet);
    };
    Request::MetaSet(MetaSet {
        key,
        value: frame.slice(value),
        flags: MetaSetFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            opaque: opaque(frame, f),
            client_flags: f.client_flags,
            compare_cas: f.cas,
            ttl: f.ttl.map(i64::from),
            invalidate: f.invalidate,
            mode: head.mode,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::testing::{one, replies, replies_with, requests_with};

    #[test]
    fn meta_set() {
        let Request::MetaSet(m) = one(b"ms k 3 T10 F5 C9 I MR q k c Oab\r\nabc\r\n") else {
            panic!()
        };
        assert_eq!((&m.key[..], &m.value[..]), (&b"k"[..], &b"abc"[..]));
        let f = &m.flags;
        assert_eq!(
            (f.ttl, f.client_flags, f.compare_cas),
            (Some(10), 5, Some(9))
        );
        assert!(f.invalidate && f.quiet && f.returns(b'k') && f.returns(b'c'));
        assert_eq!(f.mode, SetMode::Replace);
        assert_eq!(f.opaque.as_deref(), Some(&b"ab"[..]));
        for (mode, want) in [
            ("MS", SetMode::Set),
            ("ME", SetMode::Add),
            ("MA", SetMode::Append),
            ("MP", SetMode::Prepend),
            ("MR", SetMode::Replace),
        ] {
            let Request::MetaSet(m) = one(format!("ms k 1 {mode}\r\nx\r\n").as_bytes()) else {
                panic!()
            };
            assert_eq!(m.flags.mode, want);
        }
        let Request::MetaSet(m) = one(b"ms Zm9v 1 b\r\nx\r\n") else {
            panic!()
        };
        assert_eq!(&m.key[..], b"foo");
        // the length is a truncated 32-bit strtol, like classic set
        let Request::MetaSet(m) = one(b"ms k 4294967297\r\nx\r\n") else {
            panic!()
        };
        assert_eq!(&m.value[..], b"x");
    }

    #[test]
    fn meta_set_refusals() {
        let bclf = "CLIENT_ERROR bad command line format\r\n";
        let flags16: String = (0..16).map(|i| format!(" O{i}")).collect();
        let flags17: String = (0..17).map(|i| format!(" O{i}")).collect();
        for (input, reply) in [
            ("ms\r\n", "ERROR\r\n".to_string()),
            // refused before the block: the block is read as a command
            ("ms k\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            ("ms k x\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            ("ms k -1\r\nxx\r\n", format!("{bclf}ERROR\r\n")),
            (
                &format!("ms k 2{flags17}\r\nxx\r\n"),
                "CLIENT_ERROR options flags too long\r\nERROR\r\n".into(),
            ),
            // flag errors swallow the block
            (
                &format!("ms k 2{flags16}\r\nxx\r\n"),
                "CLIENT_ERROR duplicate flag\r\n".into(),
            ),
            (
                "ms k 2 Z\r\nxx\r\nmn\r\n",
                "CLIENT_ERROR invalid flag\r\n<mn>".into(),
            ),
            (
                "ms k 2 MZ\r\nxx\r\nmn\r\n",
                "CLIENT_ERROR invalid mode for ms M token\r\n<mn>".into(),
            ),
            ("ms k 2 T-1 Fx\r\nxx\r\n", bclf.into()),
            (
                "ms k 2 b\r\nxx\r\n",
                "CLIENT_ERROR error decoding key\r\n".into(),
            ),
            (
                &format!("ms k 2 O{}\r\nxx\r\n", "1".repeat(32)),
                "CLIENT_ERROR opaque token too long\r\n".into(),
            ),
            // mode errors win over opaque errors
            (
                &format!("ms k 2 O{} MZ\r\nxx\r\n", "1".repeat(32)),
                "CLIENT_ERROR invalid mode for ms M token\r\n".into(),
            ),
            // q never withholds errors
            (
                "ms k 2 q\r\nxxx\r\n",
                "CLIENT_ERROR bad data chunk\r\nERROR\r\n".into(),
            ),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }

    #[test]
    fn meta_set_too_large_unlinks_in_every_mode() {
        let limits = Limits::default().max_item_size(100);
        let input = format!("ms Zm9v 60 MA q b\r\n{}\r\nmn\r\n", "v".repeat(60));
        let r = requests_with(input.as_bytes(), limits);
        let Request::TooLarge(t) = &r[0] else {
            panic!("{r:?}")
        };
        assert!(t.unlink && !t.noreply);
        assert_eq!(&t.key[..], b"foo");
        assert_eq!(
            replies_with(input.as_bytes(), limits),
            "SERVER_ERROR object too large for cache\r\n<mn>"
        );
    }
}
