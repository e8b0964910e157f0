//! `STAT` lines.

use bytes::Bytes;

/// One `STAT <name> <value>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The name, e.g. `curr_items` (use `Bytes::from_static`).
    pub name: Bytes,
    /// The value.
    pub value: StatValue,
}

impl Stat {
    /// A numeric stat with a static name.
    pub fn uint(name: &'static str, value: u64) -> Self {
        Stat {
            name: Bytes::from_static(name.as_bytes()),
            value: StatValue::Unsigned(value),
        }
    }

    /// A text stat with a static name.
    pub fn text(name: &'static str, value: impl Into<Bytes>) -> Self {
        Stat {
            name: Bytes::from_static(name.as_bytes()),
            value: StatValue::Text(value.into()),
        }
    }
}

/// A stat's value; numbers are formatted by the encoder without allocating.
/// Replies parsed by the client always carry [`StatValue::Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatValue {
    /// Unsigned decimal.
    Unsigned(u64),
    /// Signed decimal.
    Signed(i64),
    /// Verbatim text (versions, `rusage_user` as `0.123456`, `yes`/`no`...).
    Text(Bytes),
}
