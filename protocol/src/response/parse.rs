//! Client side: parsing replies.

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::limits::{Limits, MAX_LINE_LEN};
use crate::meta::base64;
use crate::request::Command;
use crate::response::dump::parse_dump;
use crate::response::{
    MetaDebugReply, MetaReply, MetaStatus, Response, ReturnValues, Stat, StatValue, Value,
};
use crate::text::number::parse_u64;

/// Longest reply line accepted without a newline.
pub(crate) const MAX_REPLY_LINE: usize = 4 * MAX_LINE_LEN;

/// Parses the reply at the front of `buf` to a request of kind `command`.
///
/// Returns `Ok(None)` while the reply is incomplete, leaving `buf`
/// untouched; otherwise splits the reply off (values are zero-copy slices
/// of it) and returns it with the number of bytes used. `command` is needed
/// only where replies are ambiguous: a lone `END` is an empty get reply
/// ([`Response::Values`]) except after `stats` ([`Response::Stats`]) and
/// after an admin command (an empty [`Response::MetaDump`]: of the admin
/// verbs only `lru_crawler metadump` ends in `END`), and a bare number is
/// an `incr`/`decr` result. Meta replies (`HD VA EN NF NS
/// EX MN ME`) and error lines parse the same after any command, which is
/// what quiet-mode pipelines need.
///
/// Unknown single lines (`ERROR: shutdown not enabled`, ...) come back as
/// [`Response::Line`].
///
/// # Errors
///
/// [`ProtocolError::BadResponse`] for a reply that breaks the protocol (a
/// malformed `VALUE` or `VA` line, a data block without CRLF),
/// [`ProtocolError::ResponseLineTooLong`] and
/// [`ProtocolError::ValueTooLarge`] when the server sends more than the
/// limits allow, [`ProtocolError::DumpTooLarge`] for a metadump reply
/// longer than [`Limits::max_frame`] plus one line (read those with a
/// [`DumpDecoder`](crate::DumpDecoder)). The connection cannot be
/// resynchronised after these.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use ringcache_protocol::{parse_response, Command, Limits, Response};
///
/// let mut buf = BytesMut::from(&b"VALUE k 0 2\r\nhi\r\nEND\r\nSTORED\r\n"[..]);
/// let (r, used) = parse_response(&mut buf, Command::Get, &Limits::default()).unwrap().unwrap();
/// assert!(matches!(r, Response::Values(ref v) if v.len() == 1));
/// assert_eq!(used, 22);
/// let (r, _) = parse_response(&mut buf, Command::Set, &Limits::default()).unwrap().unwrap();
/// assert_eq!(r, Response::Stored);
/// ```
pub fn parse_response(
    buf: &mut BytesMut,
    command: Command,
    limits: &Limits,
) -> Result<Option<(Response, usize)>, ProtocolError> {
    let Some(len) = frame_len(buf, limits)? else {
        let max = limits.max_frame() + MAX_REPLY_LINE;
        if buf.len() > max {
            if buf.starts_with(b"key=") {
                return Err(ProtocolError::DumpTooLarge { max });
            }
            return Err(ProtocolError::ResponseLineTooLong {
                max: MAX_REPLY_LINE,
            });
        }
        return Ok(None);
    };
    let frame = buf.split_to(len).freeze();
    let response = build(&frame, command)?;
    Ok(Some((response, len)))
}

/// The next line's end (index of `\n`) from `from`, bounded.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => Ok(Some(from + i)),
        None if rest.len() > MAX_REPLY_LINE => Err(ProtocolError::ResponseLineTooLong {
            max: MAX_REPLY_LINE,
        }),
        None => Ok(None),
    }
}

/// The line `from..nl` without its `\r`.
fn line(buf: &[u8], from: usize, nl: usize) -> &[u8] {
    let l = buf.get(from..nl).unwrap_or(&[]);
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn words(l: &[u8]) -> impl Iterator<Item = &[u8]> {
    l.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

fn bad(what: &'static str) -> ProtocolError {
    ProtocolError::BadResponse(what)
}

fn data_len(word: Option<&[u8]>, limits: &Limits) -> Result<usize, ProtocolError> {
    let n = word
        .filter(|w| w.iter().all(u8::is_ascii_digit))
        .and_then(parse_u64)
        .ok_or(bad("bad data length"))?;
    let n = usize::try_from(n).map_err(|_| bad("bad data length"))?;
    if n > limits.item_size() {
        return Err(ProtocolError::ValueTooLarge {
            len: n,
            max: limits.item_size(),
        });
    }
    Ok(n)
}

/// Total bytes of the complete reply at the front, or `None` if incomplete.
fn frame_len(buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    let Some(nl) = line_end(buf, 0)? else {
        return Ok(None);
    };
    let first = line(buf, 0, nl);
    let head = words(first).next().unwrap_or(&[]);
    match head {
        b"VALUE" => {
            // VALUE blocks until END
            let mut at = 0;
            loop {
                let Some(nl) = line_end(buf, at)? else {
                    return Ok(None);
                };
                let l = line(buf, at, nl);
                if l == b"END" {
                    return Ok(Some(nl + 1));
                }
                let mut w = words(l);
                if w.next() != Some(&b"VALUE"[..]) {
                    return Err(bad("expected VALUE or END"));
                }
                let n = data_len(w.nth(2), limits)?;
                let end = nl + 1 + n + 2;
                if buf.len() < end {
                    return Ok(None);
                }
                if buf.get(end - 2..end) != Some(&b"\r\n"[..]) {
                    return Err(bad("value block without CRLF"));
                }
                at = end;
            }
        }
        // `STAT` lines, or `lru_crawler metadump` item lines, until END. A
        // dump's first line starts with `key=` itself, as `DumpDecoder`
        // requires (` key=...` is a one-line reply to both).
        _ if head == b"STAT" || first.starts_with(b"key=") => {
            let mut at = 0;
            loop {
                let Some(nl) = line_end(buf, at)? else {
                    return Ok(None);
                };
                if line(buf, at, nl) == b"END" {
                    return Ok(Some(nl + 1));
                }
                at = nl + 1;
            }
        }
        b"VA" => {
            let n = data_len(words(first).nth(1), limits)?;
            let end = nl + 1 + n + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if buf.get(end - 2..end) != Some(&b"\r\n"[..]) {
                return Err(bad("VA block without CRLF"));
            }
            Ok(Some(end))
        }
        _ => Ok(Some(nl + 1)),
    }
}

fn build(frame: &Bytes, command: Command) -> Result<Response, ProtocolError> {
    let nl = frame
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(frame.len());
    let first = line(frame, 0, nl);
    let head = words(first).next().unwrap_or(&[]);
    let slice_of = |s: &[u8]| frame.slice_ref(s);
    Ok(match head {
        b"VALUE" => Response::Values(values(frame)?),
        b"STAT" => Response::Stats(stats(frame)),
        _ if first.starts_with(b"key=") => Response::MetaDump(parse_dump(frame)?),
        b"END" if first == b"END" => match command {
            Command::Stats => Response::Stats(Vec::new()),
            // Of the admin verbs only `lru_crawler metadump` ends in END.
            Command::Admin => Response::MetaDump(Vec::new()),
            _ => Response::Values(Vec::new()),
        },
        b"HD" | b"VA" | b"EN" | b"NF" | b"NS" | b"EX"
            if first.get(2).is_none_or(|&b| b == b' ') =>
        {
            Response::Meta(meta(frame, first, nl)?)
        }
        b"MN" if first == b"MN" => Response::MetaNoop,
        b"ME" => Response::MetaDebug(meta_debug(frame, first)?),
        _ => match first {
            b"STORED" => Response::Stored,
            b"NOT_STORED" => Response::NotStored,
            b"EXISTS" => Response::Exists,
            b"NOT_FOUND" => Response::NotFound,
            b"DELETED" => Response::Deleted,
            b"TOUCHED" => Response::Touched,
            b"OK" => Response::Ok,
            b"RESET" => Response::Reset,
            b"ERROR" => Response::Error,
            _ => {
                if let Some(m) = first.strip_prefix(b"CLIENT_ERROR ") {
                    Response::ClientError(slice_of(m))
                } else if let Some(m) = first.strip_prefix(b"SERVER_ERROR ") {
                    Response::ServerError(slice_of(m))
                } else if let Some(v) = first.strip_prefix(b"VERSION ") {
                    Response::Version(slice_of(v))
                } else if matches!(command, Command::Incr | Command::Decr)
                    && !first.is_empty()
                    && first.iter().all(u8::is_ascii_digit)
                {
                    Response::Number(parse_u64(first).ok_or(bad("bad number"))?)
                } else {
                    Response::Line(slice_of(first))
                }
            }
        },
    })
}

fn values(frame: &Bytes) -> Result<Vec<Value>, ProtocolError> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = frame
        .get(at..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let nl = at + i;
        let l = line(frame, at, nl);
        if l == b"END" {
            break;
        }
        let mut w = words(l).skip(1);
        let key = w.next().ok_or(bad("VALUE without key"))?;
        let flags = w
            .next()
            .and_then(parse_u64)
            .and_then(|f| u32::try_from(f).ok())
            .ok_or(bad("bad VALUE flags"))?;
        let n = w
            .next()
            .and_then(parse_u64)
            .ok_or(bad("bad VALUE length"))? as usize;
        let cas = match w.next() {
            Some(c) => Some(parse_u64(c).ok_or(bad("bad VALUE cas"))?),
            None => None,
        };
        let start = nl + 1;
        out.push(Value {
            key: frame.slice_ref(key),
            flags,
            cas,
            data: frame.slice(start..start + n),
        });
        at = start + n + 2;
    }
    Ok(out)
}

fn stats(frame: &Bytes) -> Vec<Stat> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = frame
        .get(at..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let nl = at + i;
        let l = line(frame, at, nl);
        at = nl + 1;
        let Some(rest) = l.strip_prefix(b"STAT ") else {
            continue;
        };
        let (name, value) = match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (rest, &b""[..]),
        };
        out.push(Stat {
            name: frame.slice_ref(name),
            value: StatValue::Text(frame.slice_ref(value)),
        });
    }
    out
}

fn meta(frame: &Bytes, first: &[u8], nl: usize) -> Result<MetaReply, ProtocolError> {
    let mut w = words(first);
    let status = match w.next() {
        Some(b"HD") => MetaStatus::Hd,
        Some(b"VA") => MetaStatus::Va,
        Some(b"EN") => MetaStatus::En,
        Some(b"NF") => MetaStatus::Nf,
        Some(b"NS") => MetaStatus::Ns,
        Some(b"EX") => MetaStatus::Ex,
        _ => return Err(bad("bad meta status")),
    };
    let mut value = None;
    if status == MetaStatus::Va {
        let n = w.next().and_then(parse_u64).ok_or(bad("bad VA length"))? as usize;
        value = Some(frame.slice(nl + 1..nl + 1 + n));
    }
    let mut f = ReturnValues::default();
    let num = |arg: &[u8]| parse_u64(arg).ok_or(bad("bad meta flag value"));
    for tok in w {
        let Some((&letter, arg)) = tok.split_first() else {
            continue;
        };
        match letter {
            b'k' => f.key = Some(frame.slice_ref(arg)),
            b'b' => f.key_base64 = true,
            b'O' => f.opaque = Some(frame.slice_ref(arg)),
            b'c' => f.cas = Some(num(arg)?),
            b't' => {
                f.ttl = Some(if arg == b"-1" {
                    -1
                } else {
                    i64::try_from(num(arg)?).map_err(|_| bad("bad ttl"))?
                })
            }
            b'f' => f.client_flags = Some(num(arg)? as u32),
            b's' => f.size = Some(num(arg)? as u32),
            b'h' => f.hit_before = Some(num(arg)? != 0),
            b'l' => f.last_access = Some(num(arg)? as u32),
            b'Z' => f.token_sent = true,
            b'X' => f.stale = true,
            b'W' => f.won = true,
            _ => continue,
        }
        if !matches!(letter, b'b' | b'Z' | b'X' | b'W') {
            f.order.push(letter);
        }
    }
    if f.key_base64 {
        if let Some(k) = &f.key {
            f.key = Some(base64::decode(k).ok_or(bad("bad base64 key"))?);
        }
    }
    Ok(MetaReply {
        status,
        value,
        flags: f,
    })
}

fn meta_debug(frame: &Bytes, first: &[u8]) -> Result<MetaDebugReply, ProtocolError> {
    let mut w = words(first).skip(1);
    let key = w.next().ok_or(bad("ME without key"))?;
    let mut r = MetaDebugReply {
        key: frame.slice_ref(key),
        key_base64: false,
        exp: 0,
        last_access: 0,
        cas: 0,
        fetched: false,
        class: 0,
        size: 0,
    };
    for kv in w {
        let Some(eq) = kv.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (k, v) = (&kv[..eq], &kv[eq + 1..]);
        let n = || parse_u64(v).ok_or(bad("bad ME value"));
        match k {
            b"exp" => {
                r.exp = match v.strip_prefix(b"-") {
                    Some(m) => {
                        -(i64::try_from(parse_u64(m).ok_or(bad("bad ME exp"))?)
                            .map_err(|_| bad("bad ME exp"))?)
                    }
                    None => i64::try_from(n()?).map_err(|_| bad("bad ME exp"))?,
                }
            }
            b"la" => r.last_access = n()?,
            b"cas" => r.cas = n()?,
            b"fetch" => r.fetched = v == b"yes",
            b"cls" => r.class = n()? as u32,
            b"size" => r.size = n()?,
            _ => {}
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::encode_response;

    /// Parses `input` whole and fed in two reads at every split point.
    fn parse(input: &[u8], command: Command) -> Response {
        let limits = Limits::default();
        let mut buf = BytesMut::from(input);
        let (r, used) = parse_response(&mut buf, command, &limits).unwrap().unwrap();
        assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(input));
        for at in 0..input.len() {
            let mut buf = BytesMut::from(&input[..at]);
            assert_eq!(parse_response(&mut buf, command, &limits).unwrap(), None);
            assert_eq!(buf.len(), at);
        }
        r
    }

    /// Replies captured from memcached 1.6.18 parse, and re-encode to the
    /// same bytes.
    #[test]
    fn real_replies() {
        for (input, command) in [
            (
                &b"VA 3 s3 t-1 f5 c16 ka Oxyz h0 l0\r\nabc\r\n"[..],
                Command::MetaGet,
            ),
            (b"HD t-1 s3\r\n", Command::MetaGet),
            (b"EN kmissing Oab\r\n", Command::MetaGet),
            (b"NS kzz c0 O9\r\n", Command::MetaSet),
            (b"VA 1 t-1 c22 kn O1\r\n4\r\n", Command::MetaArithmetic),
            (b"HD kZm9v b W\r\n", Command::MetaGet),
            (b"HD Z X W\r\n", Command::MetaGet),
            (
                b"ME a exp=-1 la=1 cas=16 fetch=yes cls=1 size=67\r\n",
                Command::MetaDebug,
            ),
            (b"MN\r\n", Command::MetaNoop),
            (
                b"VALUE a 0 1 4\r\nx\r\nVALUE a 0 1 4\r\nx\r\nEND\r\n",
                Command::Gets,
            ),
            (b"VALUE a 5 0\r\n\r\nEND\r\n", Command::Get),
            (b"END\r\n", Command::Get),
            (
                b"STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n",
                Command::Stats,
            ),
            (b"STORED\r\n", Command::Set),
            (b"9\r\n", Command::Incr),
            (b"VERSION 1.6.18\r\n", Command::Version),
            (b"CLIENT_ERROR bad data chunk\r\n", Command::Set),
            (b"SERVER_ERROR object too large for cache\r\n", Command::Set),
            (b"ERROR\r\n", Command::Get),
            (b"ERROR: shutdown not enabled\r\n", Command::Shutdown),
        ] {
            let r = parse(input, command);
            let mut out = BytesMut::new();
            encode_response(&r, &mut out);
            assert_eq!(&out[..], input, "{r:?}");
        }
        let Response::Meta(m) = parse(b"HD kZm9v b W\r\n", Command::MetaGet) else {
            panic!()
        };
        assert_eq!(m.flags.key.as_deref(), Some(&b"foo"[..]));
        assert!(m.flags.key_base64 && m.flags.won);
        assert_eq!(parse(b"END\r\n", Command::Stats), Response::Stats(vec![]));
        // a bare number only means something after incr/decr
        assert_eq!(
            parse(b"9\r\n", Command::Get),
            Response::Line(Bytes::from_static(b"9"))
        );
    }

    #[test]
    fn broken_replies_are_errors() {
        let limits = Limits::default().max_item_size(10);
        for input in [
            &b"VALUE k 0 x\r\n"[..],
            b"VALUE k 0 1\r\nxyz\r\n",
            b"VALUE k 0 1\r\nx\r\nSTORED\r\n",
            b"VALUE k 0 11\r\n",
            b"VA x\r\n",
            b"VA 1\r\nxyz",
        ] {
            let mut buf = BytesMut::from(input);
            assert!(
                parse_response(&mut buf, Command::Get, &limits).is_err(),
                "{input:?}"
            );
        }
        let mut buf = BytesMut::from(&vec![b'x'; 10 * MAX_LINE_LEN][..]);
        assert!(parse_response(&mut buf, Command::Get, &limits).is_err());
    }
}
