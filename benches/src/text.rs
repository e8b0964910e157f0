//! A minimal client side of memcached's text protocol: encode `get`, multi-key
//! `get` and `set`; parse the replies incrementally.
//!
//! Self-contained on purpose: the load generator must be able to measure any
//! memcached-protocol server, and must not change its own cost when
//! `ringcache-protocol` changes. Values are counted, never copied out.

use bytes::{BufMut, BytesMut};

/// The longest reply line accepted before the stream is declared garbage.
/// memcached's longest lines are `VALUE <250-byte key> <flags> <bytes> <cas>`.
pub const MAX_LINE: usize = 2048;

/// One parsed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The reply to a `get`: how many `VALUE` blocks came before `END`.
    Values {
        /// Keys found.
        hits: u32,
    },
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS`
    Exists,
    /// `NOT_FOUND`
    NotFound,
    /// `DELETED`
    Deleted,
    /// `ERROR`
    Error,
    /// `CLIENT_ERROR <message>`
    ClientError,
    /// `SERVER_ERROR <message>`
    ServerError,
}

impl Reply {
    /// Whether this reply reports a failure (`ERROR`, `CLIENT_ERROR`,
    /// `SERVER_ERROR`); a miss or `NOT_STORED` is not one.
    pub fn is_error(self) -> bool {
        matches!(self, Reply::Error | Reply::ClientError | Reply::ServerError)
    }
}

/// The byte stream is not a sequence of memcached replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbage(pub String);

impl std::fmt::Display for Garbage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unparseable reply: {}", self.0)
    }
}

impl std::error::Error for Garbage {}

/// Finds the next `\r\n` at or after `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut i = 0;
    while let Some(pos) = rest[i..].iter().position(|&b| b == b'\n') {
        let nl = i + pos;
        if nl > 0 && rest[nl - 1] == b'\r' {
            return Some(from + nl - 1);
        }
        i = nl + 1;
    }
    None
}

/// The line starting at `from`, without its `\r\n`, and the index after it.
/// `Ok(None)` when the line is not complete yet.
fn line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, Garbage> {
    match find_crlf(buf, from) {
        Some(cr) if cr - from > MAX_LINE => Err(Garbage("reply line too long".into())),
        Some(cr) => Ok(Some((&buf[from..cr], cr + 2))),
        None if buf.len() - from > MAX_LINE => Err(Garbage("reply line too long".into())),
        None => Ok(None),
    }
}

fn printable(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned()
}

/// Parses the data length (fourth token) of a `VALUE key flags bytes [cas]` line.
fn value_len(line: &[u8]) -> Result<usize, Garbage> {
    let bad = || Garbage(format!("bad VALUE line {:?}", printable(line)));
    let token = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .nth(3)
        .ok_or_else(bad)?;
    if token.is_empty() || token.len() > 10 || !token.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    Ok(token
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')))
}

/// Parses one complete reply from the front of `buf`.
///
/// Returns `Ok(None)` while the reply is incomplete (nothing is consumed; call
/// again with more bytes), or the reply and the number of bytes it took.
///
/// # Errors
/// [`Garbage`] when the bytes cannot be a memcached reply; the connection
/// should then be dropped, since nothing after it can be trusted.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, Garbage> {
    let Some((first, mut pos)) = line(buf, 0)? else {
        return Ok(None);
    };
    let simple = match first {
        b"END" => Some(Reply::Values { hits: 0 }),
        b"STORED" => Some(Reply::Stored),
        b"NOT_STORED" => Some(Reply::NotStored),
        b"EXISTS" => Some(Reply::Exists),
        b"NOT_FOUND" => Some(Reply::NotFound),
        b"DELETED" => Some(Reply::Deleted),
        b"ERROR" => Some(Reply::Error),
        _ if first.starts_with(b"CLIENT_ERROR") => Some(Reply::ClientError),
        _ if first.starts_with(b"SERVER_ERROR") => Some(Reply::ServerError),
        _ => None,
    };
    if let Some(reply) = simple {
        return Ok(Some((reply, pos)));
    }
    if !first.starts_with(b"VALUE ") {
        return Err(Garbage(format!("unexpected line {:?}", printable(first))));
    }
    // A get reply: VALUE blocks, then END.
    let mut hits = 0u32;
    let mut header = first;
    loop {
        let len = value_len(header)?;
        let end = pos + len + 2;
        if buf.len() < end {
            return Ok(None);
        }
        if &buf[end - 2..end] != b"\r\n" {
            return Err(Garbage("data block not ended by \\r\\n".into()));
        }
        hits += 1;
        pos = end;
        let Some((next, after)) = line(buf, pos)? else {
            return Ok(None);
        };
        if next == b"END" {
            return Ok(Some((Reply::Values { hits }, after)));
        }
        if !next.starts_with(b"VALUE ") {
            return Err(Garbage(format!("unexpected line {:?}", printable(next))));
        }
        header = next;
        pos = after;
    }
}

/// Appends `get <key>\r\n`.
pub fn encode_get(out: &mut BytesMut, key: &[u8]) {
    out.reserve(key.len() + 6);
    out.put_slice(b"get ");
    out.put_slice(key);
    out.put_slice(b"\r\n");
}

/// Appends `get <k1> <k2> ...\r\n`, writing each key with `write_key`.
pub fn encode_multi_get<I, F>(out: &mut BytesMut, ids: I, mut write_key: F)
where
    I: IntoIterator<Item = u64>,
    F: FnMut(&mut BytesMut, u64),
{
    out.put_slice(b"get");
    for id in ids {
        out.put_u8(b' ');
        write_key(out, id);
    }
    out.put_slice(b"\r\n");
}

/// Appends `set <key> 0 0 <len>\r\n<value>\r\n`.
pub fn encode_set(out: &mut BytesMut, key: &[u8], value: &[u8]) {
    out.reserve(key.len() + value.len() + 32);
    out.put_slice(b"set ");
    out.put_slice(key);
    out.put_slice(b" 0 0 ");
    put_decimal(out, value.len() as u64);
    out.put_slice(b"\r\n");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
pub fn put_padded(out: &mut BytesMut, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    for _ in len..width {
        out.put_u8(b'0');
    }
    out.put_slice(&digits[i..]);
}

/// Appends `n` in decimal.
pub fn put_decimal(out: &mut BytesMut, n: u64) {
    put_padded(out, n, 0);
}

/// Parses the body of a `stats` reply (`STAT name value` lines up to `END`).
/// `Ok(None)` while incomplete.
///
/// # Errors
/// [`Garbage`] on a line that is neither `STAT ...` nor `END`.
#[allow(clippy::type_complexity)]
pub fn parse_stats(buf: &[u8]) -> Result<Option<Vec<(String, String)>>, Garbage> {
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        let Some((l, after)) = line(buf, pos)? else {
            return Ok(None);
        };
        if l == b"END" {
            return Ok(Some(out));
        }
        let text = String::from_utf8_lossy(l);
        let mut parts = text.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("STAT"), Some(name), value) => {
                out.push((name.to_string(), value.unwrap_or("").to_string()));
            }
            _ => return Err(Garbage(format!("unexpected stats line {:?}", printable(l)))),
        }
        pos = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipelined stream of replies and what each should parse to.
    fn fixture() -> (Vec<u8>, Vec<Reply>) {
        let mut buf = Vec::new();
        let mut want = Vec::new();
        let mut push = |bytes: &[u8], r: Reply| {
            buf.extend_from_slice(bytes);
            want.push(r);
        };
        push(b"STORED\r\n", Reply::Stored);
        push(b"END\r\n", Reply::Values { hits: 0 });
        push(
            b"VALUE k1 0 5\r\nhello\r\nEND\r\n",
            Reply::Values { hits: 1 },
        );
        // A value containing \r\n and "END", and one with a CAS column.
        push(
            b"VALUE k1 3 7\r\na\r\nEND\r\r\nVALUE key2 0 0 99\r\n\r\nEND\r\n",
            Reply::Values { hits: 2 },
        );
        push(b"NOT_STORED\r\n", Reply::NotStored);
        push(b"SERVER_ERROR out of memory\r\n", Reply::ServerError);
        push(b"CLIENT_ERROR bad data chunk\r\n", Reply::ClientError);
        push(b"ERROR\r\n", Reply::Error);
        push(b"EXISTS\r\nNOT_FOUND\r\n", Reply::Exists);
        want.push(Reply::NotFound);
        (buf, want)
    }

    /// Drains every complete reply from `buf`, like the load generator does.
    fn drain(buf: &mut BytesMut, out: &mut Vec<Reply>) {
        while let Some((r, n)) = parse_reply(buf).unwrap() {
            let _ = buf.split_to(n);
            out.push(r);
        }
    }

    #[test]
    fn whole_stream_parses() {
        let (bytes, want) = fixture();
        let mut buf = BytesMut::from(&bytes[..]);
        let mut got = Vec::new();
        drain(&mut buf, &mut got);
        assert_eq!(got, want);
        assert!(buf.is_empty());
    }

    #[test]
    fn split_at_every_byte() {
        let (bytes, want) = fixture();
        for split in 0..=bytes.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            buf.extend_from_slice(&bytes[..split]);
            drain(&mut buf, &mut got);
            buf.extend_from_slice(&bytes[split..]);
            drain(&mut buf, &mut got);
            assert_eq!(got, want, "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let (bytes, want) = fixture();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &bytes {
            buf.put_u8(b);
            drain(&mut buf, &mut got);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"HELLO\r\n"[..],
            b"VALUE k 0 x\r\n",
            b"VALUE k 0\r\n",
            b"VALUE k 0 99999999999\r\n",
            b"VALUE k 0 1\r\nab\r\nEND\r\n",
            b"VALUE k 0 1\r\na\r\nSTORED\r\n",
        ] {
            assert!(
                parse_reply(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'A'; MAX_LINE + 10];
        assert!(parse_reply(&long).is_err());
    }

    #[test]
    fn encoders() {
        let mut out = BytesMut::new();
        encode_get(&mut out, b"k1");
        encode_set(&mut out, b"k2", b"abc");
        encode_multi_get(&mut out, [7u64, 8], |o, id| {
            o.put_u8(b'k');
            put_padded(o, id, 3);
        });
        assert_eq!(
            &out[..],
            &b"get k1\r\nset k2 0 0 3\r\nabc\r\nget k007 k008\r\n"[..]
        );
    }

    #[test]
    fn stats_reply() {
        let body = b"STAT pid 12\r\nSTAT version 1.6.18\r\nSTAT curr_items 3\r\nEND\r\n";
        assert_eq!(parse_stats(&body[..10]).unwrap(), None);
        let stats = parse_stats(body).unwrap().unwrap();
        assert_eq!(stats[2], ("curr_items".to_string(), "3".to_string()));
        assert!(parse_stats(b"OOPS\r\n").is_err());
    }
}
