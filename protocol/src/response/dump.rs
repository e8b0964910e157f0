//! `lru_crawler metadump` replies: one `key=... exp=... la=... cas=...
//! fetch=... cls=... size=...` line per item, then `END`.
//!
//! memcached 1.6.18 ends each item line with a bare `\n` and the reply with
//! `END\r\n`; keys are URL-encoded (every byte but `A-Z a-z 0-9 - . _ ~`
//! becomes `%XX`, upper-case hex), binary keys too (in their raw form, not
//! base64), so a line never holds a space, `\r` or `\n` of its key.
//!
//! A small dump arrives whole through [`parse_response`](crate::parse_response)
//! as [`Response::MetaDump`]; a dump of a node with millions of items is read
//! line by line with a [`DumpDecoder`], which buffers one line at a time.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::response::parse::MAX_REPLY_LINE;
use crate::response::Response;
use crate::text::write::{put_i64, put_u64};

/// One item of a `lru_crawler metadump` reply.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use ringcache_protocol::DumpEntry;
///
/// let line = b"key=b%2520c exp=-1 la=1795598459 cas=2 fetch=no cls=1 size=66";
/// let entry = DumpEntry::parse(line).unwrap();
/// assert_eq!(&entry.key[..], b"b%20c");
/// assert_eq!(entry.exptime, None);
/// assert!(!entry.fetched);
///
/// let mut out = BytesMut::new();
/// entry.encode(&mut out);
/// assert_eq!(&out[..], &[&line[..], b"\n"].concat()[..]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpEntry {
    /// The key's raw bytes (URL-decoded).
    pub key: Bytes,
    /// Unix second at which the item expires; `None` for never (`exp=-1`).
    pub exptime: Option<u64>,
    /// Unix second of the item's last access (`la=`). memcached moves it at
    /// most once a minute per item (`ITEM_UPDATE_INTERVAL`); a ringcache
    /// node on every hit in a new second.
    pub last_access: u64,
    /// The CAS unique.
    pub cas: u64,
    /// Whether the item was fetched since it was stored (`fetch=yes`).
    pub fetched: bool,
    /// memcached's slab class (`cls=`); a ringcache node reports the class
    /// memcached would use with its default slab settings.
    pub class: u32,
    /// The item's footprint in memcached's accounting (`size=`: header,
    /// key, value and their terminators).
    pub size: u64,
}

/// What a [`DumpDecoder`] found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpLine {
    /// An item.
    Entry(DumpEntry),
    /// `END`: the dump is complete.
    End,
    /// The server refused the dump instead of starting it: the reply as
    /// [`parse_response`](crate::parse_response) would read it, e.g.
    /// `Response::Line("BUSY currently processing crawler request")`,
    /// `Response::ClientError("lru crawler disabled")`, `Response::Error`.
    Refused(Response),
}

/// Reads a `lru_crawler metadump` reply one line at a time, so that a dump
/// of any length needs only one line of buffer (at most
/// [`DumpDecoder::MAX_LINE`] bytes) and each byte is scanned once.
///
/// Feed it the bytes that follow the request; it takes each complete line
/// off the front of the buffer and leaves an incomplete one in place.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use ringcache_protocol::{DumpDecoder, DumpLine};
///
/// let mut decoder = DumpDecoder::new();
/// let mut buf = BytesMut::from(&b"key=a exp=-1 la=5 cas=1 fetch=no cls=1 size=63\nEN"[..]);
/// assert!(matches!(decoder.decode(&mut buf), Ok(Some(DumpLine::Entry(_)))));
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None);
/// buf.extend_from_slice(b"D\r\n");
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Some(DumpLine::End));
/// ```
#[derive(Debug, Clone, Default)]
pub struct DumpDecoder {
    /// Bytes at the front of the buffer already searched for a newline.
    scanned: usize,
    /// Whether an item line has been read (a refusal can only come first).
    started: bool,
    /// Whether `END` has been read.
    done: bool,
}

impl DumpDecoder {
    /// The longest line accepted: a 250-byte key, URL-encoded to three
    /// bytes a byte, fits with room for any fields memcached may add.
    pub const MAX_LINE: usize = MAX_REPLY_LINE;

    /// A decoder at the start of a reply.
    pub fn new() -> Self {
        DumpDecoder::default()
    }

    /// Takes the next line off `buf`: `Ok(None)` until one is complete.
    /// After [`DumpLine::End`] or [`DumpLine::Refused`] the reply is over
    /// and further calls return `Ok(None)` without touching `buf`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::ResponseLineTooLong`] for a line longer than
    /// [`DumpDecoder::MAX_LINE`], [`ProtocolError::BadResponse`] for a line
    /// that is neither an item nor `END` once items have started, or an
    /// item line without the fields memcached always sends (`key exp la
    /// cas fetch`). The connection cannot be resynchronised after these.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<DumpLine>, ProtocolError> {
        if self.done {
            return Ok(None);
        }
        let from = self.scanned.min(buf.len());
        let Some(nl) = buf[from..].iter().position(|&b| b == b'\n') else {
            if buf.len() > Self::MAX_LINE {
                return Err(ProtocolError::ResponseLineTooLong {
                    max: Self::MAX_LINE,
                });
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        let nl = from + nl;
        self.scanned = 0;
        let line = &buf[..nl];
        if !self.started && !is_dump_line(line) {
            self.done = true;
            let frame = buf.split_to(nl + 1).freeze();
            return Ok(Some(DumpLine::Refused(refusal(&frame))));
        }
        let found = match dump_line(line)? {
            Some(entry) => {
                self.started = true;
                DumpLine::Entry(entry)
            }
            None => {
                self.done = true;
                DumpLine::End
            }
        };
        buf.advance(nl + 1);
        Ok(Some(found))
    }
}

/// Whether a line (without its `\n`) belongs to a dump: an item or `END`.
fn is_dump_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.starts_with(b"key=") || line == b"END"
}

/// One line of a dump (without its `\n`; a `\r` before it is allowed):
/// an item, or `None` for `END`. The one reading of a dump line, shared
/// by [`DumpDecoder`] and [`parse_response`](crate::parse_response), so
/// that a dump read whole and one read line by line never differ.
fn dump_line(line: &[u8]) -> Result<Option<DumpEntry>, ProtocolError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.starts_with(b"key=") {
        DumpEntry::parse(line).map(Some)
    } else if line == b"END" {
        Ok(None)
    } else {
        Err(ProtocolError::BadResponse(
            "expected key= or END in metadump",
        ))
    }
}

/// The one-line reply that refused a dump (the line without its CRLF, as
/// a slice of `frame`).
fn refusal(frame: &Bytes) -> Response {
    let end = frame.len() - usize::from(frame.ends_with(b"\n"));
    let end = end - usize::from(frame[..end].ends_with(b"\r"));
    let line = frame.slice(..end);
    if &line[..] == b"ERROR" {
        Response::Error
    } else if line.starts_with(b"CLIENT_ERROR ") {
        Response::ClientError(line.slice(13..))
    } else if line.starts_with(b"SERVER_ERROR ") {
        Response::ServerError(line.slice(13..))
    } else {
        Response::Line(line)
    }
}

impl DumpEntry {
    /// Parses one item line (without its `\n`). Fields may come in any
    /// order; fields this crate does not know are skipped (protocol.txt:
    /// "the exact keys available are subject to change"); `cls` and `size`
    /// default to 0 when absent.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadResponse`] when `key`, `exp`, `la`, `cas` or
    /// `fetch` is missing or malformed (a bad `%` escape, `exp` negative
    /// other than `-1`, a number with anything but digits).
    pub fn parse(line: &[u8]) -> Result<DumpEntry, ProtocolError> {
        let bad = ProtocolError::BadResponse;
        let (mut key, mut exptime, mut last_access, mut cas, mut fetched) =
            (None, None, None, None, None);
        let (mut class, mut size) = (0, 0);
        for field in line.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
            let Some(eq) = field.iter().position(|&b| b == b'=') else {
                return Err(bad("metadump field without ="));
            };
            let (name, value) = (&field[..eq], &field[eq + 1..]);
            match name {
                b"key" => key = Some(url_decode(value).ok_or(bad("bad metadump key"))?),
                b"exp" => {
                    exptime = Some(match value {
                        b"-1" => None,
                        _ => Some(digits(value).ok_or(bad("bad metadump exp"))?),
                    })
                }
                b"la" => last_access = Some(digits(value).ok_or(bad("bad metadump la"))?),
                b"cas" => cas = Some(digits(value).ok_or(bad("bad metadump cas"))?),
                b"fetch" => {
                    fetched = Some(match value {
                        b"yes" => true,
                        b"no" => false,
                        _ => return Err(bad("bad metadump fetch")),
                    })
                }
                b"cls" => {
                    class = digits(value)
                        .and_then(|c| u32::try_from(c).ok())
                        .ok_or(bad("bad metadump cls"))?
                }
                b"size" => size = digits(value).ok_or(bad("bad metadump size"))?,
                _ => {}
            }
        }
        Ok(DumpEntry {
            key: key.ok_or(bad("metadump line without key"))?,
            exptime: exptime.ok_or(bad("metadump line without exp"))?,
            last_access: last_access.ok_or(bad("metadump line without la"))?,
            cas: cas.ok_or(bad("metadump line without cas"))?,
            fetched: fetched.ok_or(bad("metadump line without fetch"))?,
            class,
            size,
        })
    }

    /// Appends this item as memcached 1.6.18 writes it: the fields in its
    /// order, the key URL-encoded, and a bare `\n`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.key.len() + 96);
        dst.put_slice(b"key=");
        url_encode(&self.key, dst);
        dst.put_slice(b" exp=");
        match self.exptime {
            None => put_i64(dst, -1),
            Some(t) => put_u64(dst, t),
        }
        dst.put_slice(b" la=");
        put_u64(dst, self.last_access);
        dst.put_slice(b" cas=");
        put_u64(dst, self.cas);
        dst.put_slice(if self.fetched {
            &b" fetch=yes"[..]
        } else {
            &b" fetch=no"[..]
        });
        dst.put_slice(b" cls=");
        put_u64(dst, u64::from(self.class));
        dst.put_slice(b" size=");
        put_u64(dst, self.size);
        dst.put_u8(b'\n');
    }
}

/// Writes a whole dump: every entry, then `END\r\n`.
pub(crate) fn encode_dump(entries: &[DumpEntry], dst: &mut BytesMut) {
    // A line is the key (once, unless it needs escapes) plus at most ~90
    // bytes of fields; reserving once spares the doublings of a large reply.
    let need: usize = entries.iter().map(|e| e.key.len() + 72).sum();
    dst.reserve(need + 5);
    for e in entries {
        e.encode(dst);
    }
    dst.put_slice(b"END\r\n");
}

/// Every item of a complete dump frame (item lines, then `END`), each
/// line read as [`DumpDecoder`] reads it.
pub(crate) fn parse_dump(frame: &[u8]) -> Result<Vec<DumpEntry>, ProtocolError> {
    let mut entries = Vec::new();
    for line in frame.split(|&b| b == b'\n') {
        match dump_line(line)? {
            Some(entry) => entries.push(entry),
            None => return Ok(entries),
        }
    }
    Err(ProtocolError::BadResponse("metadump without END"))
}

/// Bytes memcached leaves as they are in a metadump key (RFC 3986's
/// unreserved set); everything else is `%XX`.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn url_encode(key: &[u8], dst: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if unreserved(b) {
            dst.put_u8(b);
        } else {
            dst.put_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
        }
    }
}

/// Decodes `%XX` escapes (either case); other bytes stand for themselves
/// (`+` is a plus, not a space: memcached escapes it). `None` for an
/// empty key or a broken escape.
fn url_decode(s: &[u8]) -> Option<Bytes> {
    if s.is_empty() {
        return None;
    }
    if !s.contains(&b'%') {
        return Some(Bytes::copy_from_slice(s));
    }
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(Bytes::from(out))
}

/// A decimal number of digits only, without overflow.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::request::Command;
    use crate::response::{encode_response, parse_response};

    /// What memcached 1.6.18 sent for `lru_crawler metadump all` after
    /// `set a 0 100 3`, `set b%20c 0 0 3`, `set d\x01e 5 0 1`, `get a`.
    const REAL: &[u8] = b"key=a exp=1795598696 la=1795598596 cas=1 fetch=yes cls=1 size=63\n\
key=b%2520c exp=-1 la=1795598596 cas=2 fetch=no cls=1 size=67\n\
key=d%01e exp=-1 la=1795598596 cas=3 fetch=no cls=1 size=67\n\
END\r\n";

    fn entry(key: &'static [u8]) -> DumpEntry {
        DumpEntry {
            key: Bytes::from_static(key),
            exptime: None,
            last_access: 1_795_598_596,
            cas: 2,
            fetched: false,
            class: 1,
            size: 67,
        }
    }

    #[test]
    fn memcached_reply_parses_and_encodes_back() {
        let mut buf = BytesMut::from(REAL);
        let (r, used) = parse_response(&mut buf, Command::Admin, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(used, REAL.len());
        let Response::MetaDump(entries) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(&entries[0].key[..], b"a");
        assert_eq!(entries[0].exptime, Some(1_795_598_696));
        assert!(entries[0].fetched);
        assert_eq!(entries[1], entry(b"b%20c"));
        assert_eq!(&entries[2].key[..], b"d\x01e");
        let mut out = BytesMut::new();
        encode_response(&r, &mut out);
        assert_eq!(&out[..], REAL);
    }

    #[test]
    fn keys_escape_as_memcached_escapes_them() {
        // The key memcached 1.6.18 was given, and the line it printed.
        let key = b"a-b_c.d~e!f*g'h(i)j;k:l@m&n=o+p$q,r/s?t#u[v]w%x\"y<z>0{1}2|3\\4^5`6\x7f7\xff8\xc3\xa9";
        let printed = &b"a-b_c.d~e%21f%2Ag%27h%28i%29j%3Bk%3Al%40m%26n%3Do%2Bp%24q%2Cr%2Fs%3Ft%23u%5Bv%5Dw%25x%22y%3Cz%3E0%7B1%7D2%7C3%5C4%5E5%606%7F7%FF8%C3%A9"[..];
        let mut out = BytesMut::new();
        url_encode(key, &mut out);
        assert_eq!(&out[..], printed);
        assert_eq!(url_decode(printed).as_deref(), Some(&key[..]));
        assert_eq!(
            url_decode(b"%00%01%02").as_deref(),
            Some(&b"\0\x01\x02"[..])
        );
        assert_eq!(url_decode(b"%c3%a9").as_deref(), Some(&b"\xc3\xa9"[..]));
        assert_eq!(url_decode(b"a+b").as_deref(), Some(&b"a+b"[..]));
        for broken in [&b""[..], b"%", b"%4", b"%G0", b"a%2"] {
            assert_eq!(url_decode(broken), None, "{broken:?}");
        }
    }

    #[test]
    fn lines_need_the_fields_memcached_always_sends() {
        let ok = b"key=k exp=-1 la=1 cas=2 fetch=no cls=1 size=63";
        assert!(DumpEntry::parse(ok).is_ok());
        // unknown fields and any order are fine; cls and size may be absent
        let e = DumpEntry::parse(b"fetch=yes flags=5 cas=3 la=2 exp=9 key=k").unwrap();
        assert_eq!((e.exptime, e.cas, e.class, e.size), (Some(9), 3, 0, 0));
        for broken in [
            &b"exp=-1 la=1 cas=2 fetch=no"[..],
            b"key=k la=1 cas=2 fetch=no",
            b"key=k exp=-1 cas=2 fetch=no",
            b"key=k exp=-1 la=1 fetch=no",
            b"key=k exp=-1 la=1 cas=2",
            b"key=k exp=-2 la=1 cas=2 fetch=no",
            b"key=k exp=-1 la=+1 cas=2 fetch=no",
            b"key=k exp=-1 la=1 cas=18446744073709551616 fetch=no",
            b"key=k exp=-1 la=1 cas=2 fetch=maybe",
            b"key=k exp=-1 la=1 cas=2 fetch=no cls=4294967296",
            b"key=%zz exp=-1 la=1 cas=2 fetch=no",
            b"key= exp=-1 la=1 cas=2 fetch=no",
            b"key=k exp=-1 la=1 cas=2 fetch=no junk",
        ] {
            assert!(DumpEntry::parse(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn an_empty_dump_is_end_after_an_admin_command() {
        let mut buf = BytesMut::from(&b"END\r\n"[..]);
        let (r, _) = parse_response(&mut buf, Command::Admin, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(r, Response::MetaDump(vec![]));
        let mut out = BytesMut::new();
        encode_response(&r, &mut out);
        assert_eq!(&out[..], b"END\r\n");
    }

    /// Every line of `input` through a decoder, fed `step` bytes at a time.
    fn decode_all(input: &[u8], step: usize) -> Result<Vec<DumpLine>, ProtocolError> {
        let mut d = DumpDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step.max(1)) {
            buf.extend_from_slice(chunk);
            while let Some(line) = d.decode(&mut buf)? {
                out.push(line);
            }
        }
        Ok(out)
    }

    #[test]
    fn decoder_reads_the_same_lines_however_the_bytes_arrive() {
        let whole = decode_all(REAL, REAL.len()).unwrap();
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[3], DumpLine::End);
        for step in 1..REAL.len() {
            assert_eq!(decode_all(REAL, step).unwrap(), whole, "step {step}");
        }
        // What follows END is the next reply's: left alone.
        let mut buf = BytesMut::from(&b"END\r\nVERSION 1.6.18\r\n"[..]);
        let mut d = DumpDecoder::new();
        assert_eq!(d.decode(&mut buf).unwrap(), Some(DumpLine::End));
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"VERSION 1.6.18\r\n");
    }

    #[test]
    fn decoder_hands_back_refusals_and_rejects_junk() {
        for (input, reply) in [
            (
                &b"BUSY currently processing crawler request\r\n"[..],
                Response::Line(Bytes::from_static(
                    b"BUSY currently processing crawler request",
                )),
            ),
            (
                b"BADCLASS invalid class id\r\n",
                Response::Line(Bytes::from_static(b"BADCLASS invalid class id")),
            ),
            (
                b"CLIENT_ERROR lru crawler disabled\r\n",
                Response::ClientError(Bytes::from_static(b"lru crawler disabled")),
            ),
            (b"ERROR\r\n", Response::Error),
            // not a refusal memcached sends, but one line is all it is
            (
                b"VALUE k 0 100\r\n",
                Response::Line(Bytes::from_static(b"VALUE k 0 100")),
            ),
        ] {
            assert_eq!(
                decode_all(input, 1).unwrap(),
                vec![DumpLine::Refused(reply)]
            );
        }
        let junk = b"key=a exp=-1 la=1 cas=1 fetch=no cls=1 size=63\nSTORED\r\n";
        assert!(decode_all(junk, 5).is_err());
        let mut long = vec![b'k'; DumpDecoder::MAX_LINE + 1];
        long.splice(0..0, b"key=".iter().copied());
        assert!(matches!(
            decode_all(&long, 4096),
            Err(ProtocolError::ResponseLineTooLong { .. })
        ));
    }

    /// Found by the `dump_decoder` fuzz target (a first line ` key=...`,
    /// which `parse_response` took for a dump and the decoder for a
    /// refusal), with the other lines the two used to read differently:
    /// whole or line by line, a reply reads the same.
    #[test]
    fn whole_and_line_by_line_read_a_dump_alike() {
        let item = Response::MetaDump(vec![DumpEntry {
            key: Bytes::from_static(b"a"),
            exptime: None,
            last_access: 1,
            cas: 2,
            fetched: false,
            class: 0,
            size: 0,
        }]);
        let leading_space = &b" key=a exp=-1 la=1 cas=2 fetch=no\nEND\r\n"[..];
        let cases: [(&[u8], Option<Response>); 4] = [
            // not a dump: one line, a refusal
            (
                leading_space,
                Some(Response::Line(Bytes::from_static(
                    b" key=a exp=-1 la=1 cas=2 fetch=no",
                ))),
            ),
            // a CR before an item's LF is dropped, as after END
            (b"key=a exp=-1 la=1 cas=2 fetch=no\r\nEND\r\n", Some(item)),
            // an item line starts with key=, whatever DumpEntry::parse takes
            (
                b"key=a exp=-1 la=1 cas=2 fetch=no\nexp=-1 key=b la=1 cas=2 fetch=no\nEND\r\n",
                None,
            ),
            (
                b"key=a exp=-1 la=1 cas=2 fetch=no\n key=b exp=-1 la=1 cas=2 fetch=no\nEND\r\n",
                None,
            ),
        ];
        for (input, want) in cases {
            let mut buf = BytesMut::from(input);
            let whole = parse_response(&mut buf, Command::Admin, &Limits::default());
            let lines = decode_all(input, 1);
            match want {
                Some(Response::MetaDump(entries)) => {
                    let (r, _) = whole.unwrap().unwrap();
                    assert_eq!(r, Response::MetaDump(entries.clone()), "{input:?}");
                    let mut expect: Vec<DumpLine> =
                        entries.into_iter().map(DumpLine::Entry).collect();
                    expect.push(DumpLine::End);
                    assert_eq!(lines.unwrap(), expect, "{input:?}");
                }
                Some(refusal) => {
                    let (r, _) = whole.unwrap().unwrap();
                    assert_eq!(r, refusal, "{input:?}");
                    assert_eq!(lines.unwrap(), vec![DumpLine::Refused(refusal)]);
                }
                None => {
                    assert!(whole.is_err(), "{input:?}: {whole:?}");
                    assert!(lines.is_err(), "{input:?}: {lines:?}");
                }
            }
        }
    }

    #[test]
    fn a_dump_too_large_for_one_frame_says_so() {
        let limits = Limits::default().max_item_size(1024);
        let mut wire = BytesMut::new();
        let mut e = entry(b"k");
        while wire.len() <= limits.max_frame() + MAX_REPLY_LINE {
            e.cas += 1;
            e.encode(&mut wire);
        }
        assert!(matches!(
            parse_response(&mut wire, Command::Admin, &limits),
            Err(ProtocolError::DumpTooLarge { .. })
        ));
    }
}
