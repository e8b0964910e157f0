//! `mg <key> <flags>*`: meta get.

use bytes::Bytes;

use super::{common, key, opaque, reject};
use crate::meta::parse::preparse;
use crate::meta::FlagOrder;
use crate::request::{Command, Reason, Request};
use crate::text::tokens::Tokens;

/// `mg <key> <flags>*`: meta get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaGet {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaGetFlags,
}

/// Flags of `mg`.
///
/// Return flags (`s t c f l h k O`) are not fields: test them with
/// [`MetaGetFlags::returns`] and echo them in `order`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaGetFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `v`: return the value (`VA <len> ...` instead of `HD`).
    pub value: bool,
    /// `q`: withhold `EN`.
    pub quiet: bool,
    /// `u`: do not bump the item in the LRU / mark it fetched.
    pub no_update: bool,
    /// `O<token>`: opaque echoed back (the bytes after `O`, at most 31).
    pub opaque: Option<Bytes>,
    /// `N<ttl>`: on miss, create an empty item with this TTL and win the
    /// recache token (`W`).
    pub vivify: Option<i64>,
    /// `R<ttl>`: if the item's remaining TTL is below this, win the recache
    /// token (`W`).
    pub recache: Option<i64>,
    /// `T<ttl>`: update the item's TTL (touch).
    pub ttl: Option<i64>,
}

impl MetaGetFlags {
    /// Whether return flag `letter` (`s t c f l h k O`...) was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// Parses an `mg` line with `process_mget_command`'s checks, in its order.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaGet;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let f = match preparse(t, 2) {
        Ok(f) => f,
        Err(r) => return reject(r, cmd),
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::KeyDecoding, cmd);
    };
    Request::MetaGet(MetaGet {
        key,
        flags: MetaGetFlags {
            order: f.order,
            base64: f.base64,
            value: f.value,
            quiet: f.quiet,
            no_update: f.no_update,
            opaque: opaque(frame, &f),
            vivify: f.vivify.map(i64::from),
            recache: f.recache.map(i64::from),
            ttl: f.ttl.map(i64::from),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    fn mg(input: &str) -> MetaGet {
        match one(input.as_bytes()) {
            Request::MetaGet(m) => m,
            other => panic!("{input:?} -> {other:?}"),
        }
    }

    #[test]
    fn meta_get_flags() {
        let m = mg("mg k s v t f c k Oxyz h l q u N30 R5 T-1\r\n");
        assert_eq!(&m.key[..], b"k");
        assert_eq!(m.flags.order.as_slice(), b"svtfckOhlquNRT");
        assert!(m.flags.value && m.flags.quiet && m.flags.no_update && !m.flags.base64);
        assert!(m.flags.returns(b's') && m.flags.returns(b'h') && !m.flags.returns(b'W'));
        assert_eq!(m.flags.opaque.as_deref(), Some(&b"xyz"[..]));
        assert_eq!(
            (m.flags.vivify, m.flags.recache, m.flags.ttl),
            (Some(30), Some(5), Some(-1))
        );
        // base64 keys are decoded
        let m = mg("mg Zm9v b k\r\n");
        assert_eq!(&m.key[..], b"foo");
        assert!(m.flags.base64);
        // letters that mg ignores are still accepted (one pre-parse for all)
        let m = mg("mg k F5 C1 Mx J1 D1 I P L\r\n");
        assert_eq!(m.flags.order.len(), 8);
        // a bare flag with trailing junk is just the flag
        assert!(mg("mg k vjunk\r\n").flags.value);
    }

    #[test]
    fn meta_get_refusals() {
        let long = "k".repeat(251);
        let opaque31 = format!("mg k O{}\r\n", "1".repeat(31));
        let opaque32 = format!("mg k O{}\r\n", "1".repeat(32));
        let flags17: String = (0..17).map(|_| " v").collect();
        let flags18: String = (0..18).map(|_| " v").collect();
        for (input, reply) in [
            ("mg\r\n", "ERROR\r\n"),
            ("mg k s s\r\n", "CLIENT_ERROR duplicate flag\r\n"),
            ("mg k E\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k x\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k 0\r\n", "CLIENT_ERROR invalid flag\r\n"),
            ("mg k \u{7f}\r\n", "CLIENT_ERROR duplicate flag\r\n"),
            (
                "mg k Nx\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            (
                "mg k T\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            ("mg k Fx\r\n", "CLIENT_ERROR bad command line format\r\n"),
            // the last error wins; an unknown flag stops at once
            (
                "mg k Nx Fx\r\n",
                "CLIENT_ERROR bad token in command line format\r\n",
            ),
            (
                "mg k Nx Mxx\r\n",
                "CLIENT_ERROR incorrect length for M token\r\n",
            ),
            ("mg k Nx Z\r\n", "CLIENT_ERROR invalid flag\r\n"),
            (
                "mg k M\r\n",
                "CLIENT_ERROR incorrect length for M token\r\n",
            ),
            ("mg k b\r\n", "CLIENT_ERROR error decoding key\r\n"),
            (&opaque31, "<mg>"),
            (&opaque32, "CLIENT_ERROR opaque token too long\r\n"),
            (
                &format!("mg {long} v\r\n"),
                "CLIENT_ERROR bad command line format\r\n",
            ),
            (
                &format!("mg k{flags17}\r\n"),
                "CLIENT_ERROR duplicate flag\r\n",
            ),
            (
                &format!("mg k{flags18}\r\n"),
                "CLIENT_ERROR options flags are too long\r\n",
            ),
            ("mx k\r\n", "ERROR\r\n"),
            ("mgg k\r\n", "ERROR\r\n"),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }
}
