//! `ma <key> <flags>*`: meta arithmetic.

use bytes::Bytes;

use super::{common, key, opaque, reject};
use crate::meta::parse::preparse;
use crate::meta::{ArithmeticMode, FlagOrder};
use crate::request::{Command, Reason, Request};
use crate::text::tokens::Tokens;

/// `ma <key> <flags>*`: meta arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArithmetic {
    /// The key (decoded when `flags.base64`).
    pub key: Bytes,
    /// The parsed flags.
    pub flags: MetaArithmeticFlags,
}

/// Flags of `ma`. Return flags it echoes: `c`, `t`, `k`, `O`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArithmeticFlags {
    /// Every flag letter, in request order.
    pub order: FlagOrder,
    /// `b`: the key was sent in base64.
    pub base64: bool,
    /// `q`: withhold the success reply.
    pub quiet: bool,
    /// `v`: return the new value (`VA`).
    pub value: bool,
    /// `O<token>`: opaque.
    pub opaque: Option<Bytes>,
    /// `N<ttl>`: on miss, create the item with `initial` and this TTL.
    pub vivify: Option<i64>,
    /// `J<n>`: initial value on vivify (default 0).
    pub initial: u64,
    /// `D<n>`: delta (default 1).
    pub delta: u64,
    /// `T<ttl>`: update the TTL on success.
    pub ttl: Option<i64>,
    /// `C<cas>`: apply only if the CAS matches (else `EX`).
    pub compare_cas: Option<u64>,
    /// `M<mode>`.
    pub mode: ArithmeticMode,
}

impl Default for MetaArithmeticFlags {
    fn default() -> Self {
        MetaArithmeticFlags {
            order: FlagOrder::new(),
            base64: false,
            quiet: false,
            value: false,
            opaque: None,
            vivify: None,
            initial: 0,
            delta: 1,
            ttl: None,
            compare_cas: None,
            mode: ArithmeticMode::Increment,
        }
    }
}

impl MetaArithmeticFlags {
    /// Whether return flag `letter` was requested.
    pub fn returns(&self, letter: u8) -> bool {
        self.order.contains(letter)
    }
}

/// Parses an `ma` line; flag errors as `md`, then the mode, then `O`.
pub(crate) fn parse(frame: &Bytes, t: &Tokens<'_>) -> Request {
    let cmd = Command::MetaArithmetic;
    if let Err(r) = common(t, cmd) {
        return reject(r, cmd);
    }
    let Ok(f) = preparse(t, 2) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    let mode = match f.mode {
        None => ArithmeticMode::Increment,
        Some(m) => match ArithmeticMode::from_letter(m) {
            Some(mode) => mode,
            None => return reject(Reason::InvalidArithmeticMode, cmd),
        },
    };
    if f.opaque_too_long() {
        return reject(Reason::OpaqueTooLong, cmd);
    }
    let Some(key) = key(frame, t.span(1), f.base64) else {
        return reject(Reason::InvalidOrDuplicateFlag, cmd);
    };
    Request::MetaArithmetic(MetaArithmetic {
        key,
        flags: MetaArithmeticFlags {
            order: f.order,
            base64: f.base64,
            quiet: f.quiet,
            value: f.value,
            opaque: opaque(frame, &f),
            vivify: f.vivify.map(i64::from),
            initial: f.initial,
            delta: f.delta.unwrap_or(1),
            ttl: f.ttl.map(i64::from),
            compare_cas: f.cas,
            mode,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one, replies};

    #[test]
    fn parses() {
        let Request::MetaArithmetic(a) = one(b"ma k\r\n") else {
            panic!()
        };
        assert_eq!(
            (a.flags.delta, a.flags.initial, a.flags.mode),
            (1, 0, ArithmeticMode::Increment)
        );
        let Request::MetaArithmetic(a) = one(b"ma k N0 J5 D7 MD v q t c\r\n") else {
            panic!()
        };
        assert_eq!(
            (
                a.flags.vivify,
                a.flags.initial,
                a.flags.delta,
                a.flags.mode,
                a.flags.value
            ),
            (Some(0), 5, 7, ArithmeticMode::Decrement, true)
        );
        for m in ["M+", "MI"] {
            let Request::MetaArithmetic(a) = one(format!("ma k {m}\r\n").as_bytes()) else {
                panic!()
            };
            assert_eq!(a.flags.mode, ArithmeticMode::Increment);
        }
        let Request::MetaArithmetic(a) = one(b"ma k M-\r\n") else {
            panic!()
        };
        assert_eq!(a.flags.mode, ArithmeticMode::Decrement);
    }

    #[test]
    fn refusals() {
        let iod = "CLIENT_ERROR invalid or duplicate flag\r\n";
        for (input, reply) in [
            ("ma\r\n", "ERROR\r\n"),
            ("ma k Dx\r\n", iod),
            ("ma k Jx\r\n", iod),
            ("ma k Mxx\r\n", iod),
            ("ma k b\r\n", iod),
            (
                "ma k Mx\r\n",
                "CLIENT_ERROR invalid mode for ma M token\r\n",
            ),
            ("ma k Mx Mx\r\n", iod),
        ] {
            assert_eq!(replies(input.as_bytes()), reply, "{input:?}");
        }
    }
}
