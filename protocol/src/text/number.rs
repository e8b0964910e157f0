//! memcached's number parsing, reproduced quirk for quirk.
//!
//! memcached reads numbers with `strtol`/`strtoul`/`strtoull` wrapped in
//! `safe_strto*` (util.c) on a 64-bit build, so:
//! - leading whitespace (space, `\t \n \v \f \r`) and one `+` or `-` are
//!   accepted; at least one digit is required;
//! - the number may be followed by whitespace but by nothing else (`1x` is
//!   refused);
//! - out-of-range for the 64-bit C type is refused (`ERANGE`);
//! - unsigned parses *negate* a leading `-` modulo 2^64, and refuse the
//!   result only when it looks negative as a signed 64-bit number, so
//!   `-1` is refused but `-18446744073709551615` is `1`;
//! - the 32-bit variants parse 64 bits and then **truncate**: flags
//!   `4294967296` are `0`, an exptime or length of `4294967297` is `1`.

/// C's `isspace` in the "C" locale.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtoull`/`strtol` see: sign and magnitude of the leading number,
/// and where it ends. `None` when no digit was found.
struct Scan {
    negative: bool,
    /// `None` when the magnitude overflowed 64 bits.
    magnitude: Option<u64>,
    end: usize,
}

fn scan(s: &[u8]) -> Option<Scan> {
    let mut i = s.iter().take_while(|&&b| is_space(b)).count();
    let mut negative = false;
    match s.get(i) {
        Some(b'+') => i += 1,
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        _ => {}
    }
    let start = i;
    let mut magnitude = Some(0u64);
    while let Some(&b) = s.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        magnitude = magnitude
            .and_then(|m| m.checked_mul(10))
            .and_then(|m| m.checked_add(u64::from(b - b'0')));
        i += 1;
    }
    if i == start {
        return None;
    }
    Some(Scan {
        negative,
        magnitude,
        end: i,
    })
}

/// The `safe_strto*` tail check: the number must end the token or be
/// followed by whitespace.
fn tail_ok(s: &[u8], end: usize) -> bool {
    s.get(end).is_none_or(|&b| is_space(b))
}

/// `safe_strtoull`: a 64-bit unsigned.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    let sc = scan(s)?;
    let m = sc.magnitude?;
    if !tail_ok(s, sc.end) {
        return None;
    }
    let v = if sc.negative { m.wrapping_neg() } else { m };
    // Looks negative as a signed number and a '-' appears anywhere.
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// `safe_strtoul` on LP64: `unsigned long` is 64 bits, stored into a
/// `uint32_t` (truncation).
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).map(|v| v as u32)
}

/// `safe_strtol` on LP64: a 64-bit `strtol` stored into an `int32_t`
/// (truncation).
pub(crate) fn parse_i32(s: &[u8]) -> Option<i32> {
    let sc = scan(s)?;
    let m = sc.magnitude?;
    let v: i64 = if sc.negative {
        if m > i64::MAX as u64 + 1 {
            return None;
        }
        (m as i64).wrapping_neg()
    } else {
        i64::try_from(m).ok()?
    };
    if !tail_ok(s, sc.end) {
        return None;
    }
    Some(v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_quirks() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"+5"), Some(5));
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"\t7"), Some(7));
        assert_eq!(parse_u64(b"7\r"), Some(7));
        assert_eq!(parse_u64(b"7x"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+"), None);
        assert_eq!(parse_u64(b"x"), None);
        assert_eq!(parse_u64(b"9223372036854775808"), Some(1 << 63));
        assert_eq!(parse_u32(b"4294967296"), Some(0));
        assert_eq!(parse_u32(b"4294967297"), Some(1));
        assert_eq!(parse_u32(b"-18446744073709551615"), Some(1));
    }

    #[test]
    fn signed_quirks() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"+1"), Some(1));
        assert_eq!(parse_i32(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"-4294967295"), Some(1));
        assert_eq!(parse_i32(b"2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"9223372036854775807"), Some(-1));
        assert_eq!(parse_i32(b"9223372036854775808"), None);
        assert_eq!(parse_i32(b"-9223372036854775808"), Some(0));
        assert_eq!(parse_i32(b"-9223372036854775809"), None);
        assert_eq!(parse_i32(b"1 "), Some(1));
        assert_eq!(parse_i32(b"1.5"), None);
    }
}
