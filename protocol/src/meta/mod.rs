//! What the meta commands (`mg ms md ma mn me`) share: the flag letters in
//! request order, the mode switches, and memcached's lenient base64.
//!
//! memcached 1.6.18 parses every meta command's flags with one routine, so
//! each command *accepts* the same letters (`b N T R l O P L k s t c f v h
//! u q F C M J D I`) and ignores those it has no use for; any other letter is
//! `CLIENT_ERROR invalid flag` and a repeated letter is
//! `CLIENT_ERROR duplicate flag` (for `md`/`ma` both become
//! `CLIENT_ERROR invalid or duplicate flag`). Newer memcached flags (`E`,
//! `x`, lowercase modes) are *not* in 1.6.18 and are rejected the same way.

pub(crate) mod base64;
pub(crate) mod flags;
pub(crate) mod parse;

pub use self::flags::{ArithmeticMode, FlagOrder, SetMode, MAX_META_FLAGS};
