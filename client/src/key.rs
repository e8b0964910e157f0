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

/// Whether `key` can travel as a text-protocol token (else it goes in a
/// meta command's base64 form).
#[inline]
pub(crate) fn is_text_key(key: &[u8]) -> bool {
    validate_key(key).is_ok()
}

/// The bytes a key is routed by. Keys a node accepts but the text
/// protocol cannot carry as a token, because they hold control bytes or
/// (decoded from a meta command's base64 `b` form) spaces, are routed with
/// each such byte `b` replaced by `b | 0x80`: a fixed rule, so every client
/// and proxy places them alike. Such keys cannot be sent in the classic
/// protocol's key-as-token form, so no other placement exists to agree
/// with; a collision only puts two keys on one node.
pub(crate) fn routing_key(key: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if key.iter().all(|&b| b > b' ' && b != 0x7f) {
        std::borrow::Cow::Borrowed(key)
    } else {
        std::borrow::Cow::Owned(
            key.iter()
                .map(|&b| if b <= b' ' || b == 0x7f { b | 0x80 } else { b })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_are_valid_keys() {
        assert_eq!(&routing_key(b"user:1")[..], b"user:1");
        assert!(matches!(
            routing_key(b"user:1"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(&routing_key(b"a b\x01\x7f")[..], b"a\xa0b\x81\xff");
        assert!(validate_key(&routing_key(b" \t\r\n")).is_ok());
    }

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
