//! memcached 1.6.18's meta flag pre-parse, shared by `mg ms md ma`.

use std::ops::Range;

use crate::meta::base64;
use crate::meta::flags::FlagOrder;
use crate::request::Reason;
use crate::text::number::{parse_i32, parse_u32, parse_u64};
use crate::text::tokens::Tokens;

/// Meta commands refuse more than this many tokens (`MFLAG_MAX_OPT_LENGTH`,
/// counting memcached's terminal token).
pub(crate) const MAX_META_TOKENS: usize = 20;

/// Longest `O` token, including the `O`.
pub(crate) const MAX_OPAQUE_TOKEN: usize = 32;

/// Every flag memcached's pre-parse understands, parsed.
#[derive(Debug, Default)]
pub(crate) struct RawFlags {
    pub(crate) order: FlagOrder,
    pub(crate) base64: bool,
    pub(crate) value: bool,
    pub(crate) quiet: bool,
    pub(crate) no_update: bool,
    pub(crate) invalidate: bool,
    /// Span of the whole `O...` token.
    pub(crate) opaque: Option<Range<usize>>,
    pub(crate) vivify: Option<i32>,
    pub(crate) recache: Option<i32>,
    pub(crate) ttl: Option<i32>,
    pub(crate) client_flags: u32,
    pub(crate) cas: Option<u64>,
    pub(crate) mode: Option<u8>,
    pub(crate) initial: u64,
    pub(crate) delta: Option<u64>,
}

impl RawFlags {
    /// The opaque token without its `O`, and whether it is too long.
    pub(crate) fn opaque_too_long(&self) -> bool {
        self.opaque
            .as_ref()
            .is_some_and(|r| r.len() > MAX_OPAQUE_TOKEN)
    }

    /// The opaque value span (after the `O`).
    pub(crate) fn opaque_value(&self) -> Option<Range<usize>> {
        self.opaque.as_ref().map(|r| r.start + 1..r.end)
    }
}

/// Parses tokens `start..` as flags. Like memcached, a repeated letter (or
/// a byte ≥ 127) or an unknown letter stops at once; other errors are
/// remembered (the last one wins) and reported after all tokens are read.
pub(crate) fn preparse(t: &Tokens<'_>, start: usize) -> Result<RawFlags, Reason> {
    let mut f = RawFlags::default();
    let mut seen = [false; 128];
    let mut error: Option<Reason> = None;
    let mut has_error = false;
    let mut fail = |error: &mut Option<Reason>, reason: Option<Reason>| {
        has_error = true;
        if reason.is_some() {
            *error = reason;
        }
    };
    for i in start..t.ntokens() - 1 {
        let tok = t.get(i);
        let Some((&letter, arg)) = tok.split_first() else {
            continue;
        };
        match seen.get_mut(usize::from(letter)) {
            Some(s) if letter < 127 && !*s => *s = true,
            _ => return Err(Reason::DuplicateFlag),
        }
        match letter {
            b'b' => {
                if base64::decoded_len(t.get(1)).is_none() {
                    fail(&mut error, Some(Reason::KeyDecoding));
                }
                f.base64 = true;
            }
            b'N' | b'T' | b'R' => match parse_i32(arg) {
                None => fail(&mut error, Some(Reason::BadToken)),
                Some(v) => match letter {
                    b'N' => f.vivify = Some(v),
                    b'T' => f.ttl = Some(v),
                    _ => f.recache = Some(v),
                },
            },
            b'O' => f.opaque = Some(t.span(i)),
            b'l' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'h' => {}
            b'v' => f.value = true,
            b'u' => f.no_update = true,
            b'q' => f.quiet = true,
            b'F' => match parse_u32(arg) {
                Some(v) => f.client_flags = v,
                None => fail(&mut error, None),
            },
            b'C' => match parse_u64(arg) {
                Some(v) => f.cas = Some(v),
                None => fail(&mut error, Some(Reason::BadToken)),
            },
            b'M' => match arg {
                [m] => f.mode = Some(*m),
                _ => fail(&mut error, Some(Reason::ModeLength)),
            },
            b'J' => match parse_u64(arg) {
                Some(v) => f.initial = v,
                None => fail(&mut error, Some(Reason::InvalidInitial)),
            },
            b'D' => match parse_u64(arg) {
                Some(v) => f.delta = Some(v),
                None => fail(&mut error, Some(Reason::InvalidDeltaValue)),
            },
            b'I' => f.invalidate = true,
            _ => return Err(Reason::InvalidFlag),
        }
        f.order.push(letter);
    }
    if has_error {
        return Err(error.unwrap_or(Reason::BadCommandLineFormat));
    }
    Ok(f)
}
