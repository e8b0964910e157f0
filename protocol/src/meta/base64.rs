//! Base64 for `b` keys, with memcached 1.6.18's decoding rules: characters
//! outside the alphabet are skipped, the count of alphabet characters must
//! be a positive multiple of four, and decoding stops after the first block
//! that carries padding. An empty result is a failure.

use bytes::{BufMut, Bytes, BytesMut};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// Decodes `src`; `None` where memcached's decoder returns 0.
pub(crate) fn decode(src: &[u8]) -> Option<Bytes> {
    let count = src.iter().filter(|&&c| sextet(c).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut out = BytesMut::with_capacity(count / 4 * 3);
    let mut block = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &c in src {
        let Some(v) = sextet(c) else { continue };
        if c == b'=' {
            pad += 1;
        }
        if let Some(slot) = block.get_mut(n) {
            *slot = v;
        }
        n += 1;
        if n == 4 {
            let [a, b, c2, d] = block;
            let bytes = [(a << 2) | (b >> 4), (b << 4) | (c2 >> 2), (c2 << 6) | d];
            n = 0;
            match pad {
                0 => out.put_slice(&bytes),
                1 => {
                    out.put_slice(&bytes[..2]);
                    break;
                }
                2 => {
                    out.put_slice(&bytes[..1]);
                    break;
                }
                _ => return None,
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.freeze())
    }
}

/// The length [`decode`] would produce, without allocating; `None` where
/// it would fail.
pub(crate) fn decoded_len(src: &[u8]) -> Option<usize> {
    let count = src.iter().filter(|&&c| sextet(c).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let (mut len, mut n, mut pad) = (0usize, 0, 0);
    for &c in src {
        if sextet(c).is_none() {
            continue;
        }
        if c == b'=' {
            pad += 1;
        }
        n += 1;
        if n == 4 {
            n = 0;
            match pad {
                0 => len += 3,
                1 => return Some(len + 2),
                2 => return Some(len + 1),
                _ => return None,
            }
        }
    }
    (len > 0).then_some(len)
}

/// Appends the padded encoding of `src` to `dst`.
pub(crate) fn encode_into(src: &[u8], dst: &mut BytesMut) {
    dst.reserve(src.len().div_ceil(3) * 4);
    let sym = |i: u8| ALPHABET.get(usize::from(i & 0x3f)).copied().unwrap_or(b'A');
    let mut chunks = src.chunks_exact(3);
    for c in &mut chunks {
        let (a, b, d) = (c[0], c[1], c[2]);
        dst.put_slice(&[
            sym(a >> 2),
            sym((a << 4) | (b >> 4)),
            sym((b << 2) | (d >> 6)),
            sym(d),
        ]);
    }
    match *chunks.remainder() {
        [a] => dst.put_slice(&[sym(a >> 2), sym(a << 4), b'=', b'=']),
        [a, b] => dst.put_slice(&[sym(a >> 2), sym((a << 4) | (b >> 4)), sym(b << 2), b'=']),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_quirks() {
        for s in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
            let mut e = BytesMut::new();
            encode_into(s, &mut e);
            assert_eq!(decode(&e).as_deref(), Some(s));
        }
        assert_eq!(decode(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        // junk between alphabet characters is skipped
        assert_eq!(decode(b"Zm!9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode(b"Zm9"), None);
        assert_eq!(decode(b""), None);
        // decoding stops after the first padded block
        assert_eq!(decode(b"Zg==Zm9v").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode(b"Z==="), None);
        for s in [
            &b"Zm9v"[..],
            b"Zm!9v",
            b"Zm9",
            b"",
            b"Zg==Zm9v",
            b"Z===",
            b"====",
            b"AA==",
        ] {
            assert_eq!(decoded_len(s), decode(s).map(|d| d.len()), "{s:?}");
        }
    }
}
