//! Client-side key checks: memcached's text-protocol rules, applied before
//! anything is sent.

use ringcache_protocol::MAX_KEY_LEN;

use crate::error::Error;

/// Checks `key` against the rules a node (and memcached 1.6) applies to
/// text-protocol keys: 1 to 250 bytes, no ASCII whitespace or control
/// bytes (a space or newline would split the command line; memcached
/// accepts other control bytes but no client should send them).
///
/// # Errors
///
/// [`Error::InvalidKey`] saying which rule the key breaks.
///
/// # Examples
///
/// ```
/// use ringcache_client::validate_key;
///
/// assert!(validate_key(b"user:42").is_ok());
/// assert!(validate_key(b"").is_err());
/// assert!(validate_key(b"two words").is_err());
/// assert!(validate_key(&[b'k'; 251]).is_err());
/// ```
#[inline]
pub fn validate_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey("key is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("key is longer than 250 bytes"));
    }
    if key.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Error::InvalidKey("key holds whitespace or control bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate_key(b"a").is_ok());
        assert!(validate_key(&[b'k'; 250]).is_ok());
        assert!(validate_key("ключ".as_bytes()).is_ok());
        for bad in [
            &b""[..],
            &[b'k'; 251],
            b"a b",
            b"a\r\n",
            b"a\tb",
            b"\x00",
            b"a\x7f",
        ] {
            assert!(
                matches!(validate_key(bad), Err(Error::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }
}
