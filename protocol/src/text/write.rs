//! Writes decimal integers straight into a `BytesMut`, no `fmt` machinery.

use bytes::{BufMut, BytesMut};

/// Appends `n` in decimal.
pub(crate) fn put_u64(dst: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    dst.put_slice(tmp.get(i..).unwrap_or(&[]));
}

/// Appends `n` in decimal, with a leading `-` when negative.
pub(crate) fn put_i64(dst: &mut BytesMut, n: i64) {
    if n < 0 {
        dst.put_u8(b'-');
    }
    put_u64(dst, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_display() {
        for n in [0u64, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut b = BytesMut::new();
            put_u64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
        for n in [0i64, -1, i64::MIN, i64::MAX, -42] {
            let mut b = BytesMut::new();
            put_i64(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }
}
