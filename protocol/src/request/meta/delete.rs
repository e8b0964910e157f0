//! `md <key> <flags>*`: meta delete.

use bytes::Bytes;

use super::{common, key, opaque, reject};
use crate::meta::parse::preparse;
use crate::meta::FlagOrder;
use crate::request::{Command, Reason, Request};
use crate::text::tokens::Tokens;

/// `md <key> <flags>*`: meta delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDelete {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaDeleteFlags,
}

/// Flags of `md`. Return flags it echoes: `k`, `O`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaDeleteFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `q`: withhold `HD`.
    pub quiet: bool,
    /// `O<token>`: opaque.
    pub opaque: Option<Bytes>,
    /// `C<cas>`: delete only if the CAS matches (else `EX`).
    pub compare_cas: Option<u64>,
    /// `I`: invalidate: mark stale, bump CAS, keep the item.
    pub invalidate: bool,
    /// `T<ttl>`: with `I`, the new TTL of the stale item.
    pub ttl: Option<i64>,
}

impl MetaDeleteFlags {
    /// Whether return flag `letter` was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// Parses an `md` line; any flag error is `invalid or duplicate flag`.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaDelete;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let Ok(f) = preparse(t, 2) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    Request::MetaDelete(MetaDelete {
        key,
        flags: MetaDeleteFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            opaque: opaque(frame, &f),
            compare_cas: f.cas,
            invalidate: f.invalidate,
            ttl: f.ttl.map(i64::from),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    #[test]
    fn parses() {
        let Request::MetaDelete(d) = one(b"md k q C5 I T30 k Ox\r\n") else {
            panic!()
        };
        assert_eq!(
            (
                d.flags.quiet,
                d.flags.compare_cas,
                d.flags.invalidate,
                d.flags.ttl
            ),
            (true, Some(5), true, Some(30))
        );
        assert_eq!(d.flags.order.as_slice(), b"qCITkO");
        assert_eq!(d.flags.opaque.as_deref(), Some(&b"x"[..]));
        let Request::MetaDelete(d) = one(b"md Zm9v b\r\n") else {
            panic!()
        };
        assert_eq!(&d.key[..], b"foo");
    }

    #[test]
    fn refusals() {
        let iod = "CLIENT_ERROR invalid or duplicate flag\r\n";
        for (input, reply) in [
            ("md\r\n", "ERROR\r\n"),
            ("md k x\r\n", iod),
            ("md k s s\r\n", iod),
            ("md k 0\r\n", iod),
            ("md k b\r\n", iod),
            ("md k Nx\r\n", iod),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
        let opaque = format!("md k O{}\r\n", "1".repeat(32));
        assert_eq!(
            replies(opaque.as_bytes()),
            "CLIENT_ERROR opaque token too long\r\n"
        );
        let long = format!("md {}\r\n", "k".repeat(251));
        assert_eq!(
            replies(long.as_bytes()),
            "CLIENT_ERROR bad command line format\r\n"
        );
        let many = format!("md k{}\r\n", " q".repeat(18));
        assert_eq!(
            replies(many.as_bytes()),
            "CLIENT_ERROR options flags too long\r\n"
        );
    }
}
