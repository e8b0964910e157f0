//! Replies: one [`Response`] enum whose variants carry the wire words, and
//! the encoder that writes them straight into a `BytesMut`.

mod dump;
mod meta;
mod parse;
mod stats;
mod value;

pub use self::dump::{DumpDecoder, DumpEntry, DumpLine};
pub use self::meta::{MetaDebugReply, MetaReply, MetaStatus, ReturnValues};
pub use self::parse::parse_response;
pub use self::stats::{Stat, StatValue};
pub use self::value::Value;

use bytes::{BufMut, Bytes, BytesMut};

use crate::meta::base64;
use crate::text::write::{put_i64, put_u64};

/// One reply, as the server sends it.
///
/// The executor returns one `Response` per request; whether it is sent at
/// all is [`Request::suppresses`](crate::Request::suppresses)'s call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
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
    /// `TOUCHED`
    Touched,
    /// `OK` (`flush_all`, `verbosity`)
    Ok,
    /// `RESET` (`stats reset`)
    Reset,
    /// Zero or more `VALUE` blocks, then `END`. A full miss is
    /// `Values(vec![])`, i.e. just `END`.
    Values(Vec<Value>),
    /// `<n>`: the new value after `incr`/`decr`.
    Number(u64),
    /// `VERSION <version>`
    Version(Bytes),
    /// `STAT <name> <value>` lines, then `END`.
    Stats(Vec<Stat>),
    /// `ERROR`
    Error,
    /// `CLIENT_ERROR <message>` (message without the prefix).
    ClientError(Bytes),
    /// `SERVER_ERROR <message>` (message without the prefix).
    ServerError(Bytes),
    /// A meta reply (`HD VA EN NF NS EX` and flags).
    Meta(MetaReply),
    /// `MN`
    MetaNoop,
    /// `ME <key> ...`
    MetaDebug(MetaDebugReply),
    /// `lru_crawler metadump`: one `key=... exp=... la=...` line per item
    /// (each ending in a bare `\n`, as memcached writes them), then
    /// `END\r\n`. See [`DumpEntry`], and [`DumpDecoder`] for dumps too
    /// large to hold as one reply.
    MetaDump(Vec<DumpEntry>),
    /// A verbatim line (CRLF added), for memcached's one-off replies such as
    /// `ERROR: shutdown not enabled`.
    Line(Bytes),
    /// Nothing is written (e.g. `quit`).
    NoReply,
}

const CRLF: &[u8] = b"\r\n";

/// Appends `response` to `dst` in memcached's text format.
///
/// Allocation-free apart from growing `dst`: integers are formatted in place
/// and values are copied once, from the store's buffers into `dst`.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use ringcache_protocol::{encode_response, Response, Value};
///
/// let mut out = BytesMut::new();
/// encode_response(&Response::Values(vec![Value {
///     key: Bytes::from_static(b"k"),
///     flags: 5,
///     cas: None,
///     data: Bytes::from_static(b"abc"),
/// }]), &mut out);
/// assert_eq!(&out[..], b"VALUE k 5 3\r\nabc\r\nEND\r\n");
/// ```
pub fn encode_response(response: &Response, dst: &mut BytesMut) {
    let word: &[u8] = match response {
        Response::Stored => b"STORED",
        Response::NotStored => b"NOT_STORED",
        Response::Exists => b"EXISTS",
        Response::NotFound => b"NOT_FOUND",
        Response::Deleted => b"DELETED",
        Response::Touched => b"TOUCHED",
        Response::Ok => b"OK",
        Response::Reset => b"RESET",
        Response::Error => b"ERROR",
        Response::MetaNoop => b"MN",
        Response::NoReply => return,
        Response::Values(values) => return encode_values(values, dst),
        Response::Number(n) => {
            put_u64(dst, *n);
            dst.put_slice(CRLF);
            return;
        }
        Response::Version(v) => {
            dst.put_slice(b"VERSION ");
            dst.put_slice(v);
            dst.put_slice(CRLF);
            return;
        }
        Response::Stats(stats) => return encode_stats(stats, dst),
        Response::ClientError(m) => {
            dst.put_slice(b"CLIENT_ERROR ");
            dst.put_slice(m);
            dst.put_slice(CRLF);
            return;
        }
        Response::ServerError(m) => {
            dst.put_slice(b"SERVER_ERROR ");
            dst.put_slice(m);
            dst.put_slice(CRLF);
            return;
        }
        Response::Meta(m) => return encode_meta(m, dst),
        Response::MetaDebug(m) => return encode_meta_debug(m, dst),
        Response::MetaDump(entries) => return dump::encode_dump(entries, dst),
        Response::Line(l) => l,
    };
    dst.reserve(word.len() + 2);
    dst.put_slice(word);
    dst.put_slice(CRLF);
}

fn encode_values(values: &[Value], dst: &mut BytesMut) {
    let need: usize = values
        .iter()
        .map(|v| v.key.len() + v.data.len() + 64)
        .sum::<usize>()
        + 5;
    dst.reserve(need);
    for v in values {
        dst.put_slice(b"VALUE ");
        dst.put_slice(&v.key);
        dst.put_u8(b' ');
        put_u64(dst, u64::from(v.flags));
        dst.put_u8(b' ');
        put_u64(dst, v.data.len() as u64);
        if let Some(cas) = v.cas {
            dst.put_u8(b' ');
            put_u64(dst, cas);
        }
        dst.put_slice(CRLF);
        dst.put_slice(&v.data);
        dst.put_slice(CRLF);
    }
    dst.put_slice(b"END\r\n");
}

fn encode_stats(stats: &[Stat], dst: &mut BytesMut) {
    for s in stats {
        dst.put_slice(b"STAT ");
        dst.put_slice(&s.name);
        dst.put_u8(b' ');
        match &s.value {
            StatValue::Unsigned(n) => put_u64(dst, *n),
            StatValue::Signed(n) => put_i64(dst, *n),
            StatValue::Text(t) => dst.put_slice(t),
        }
        dst.put_slice(CRLF);
    }
    dst.put_slice(b"END\r\n");
}

fn put_key(dst: &mut BytesMut, key: &[u8], base64: bool) {
    if base64 {
        base64::encode_into(key, dst);
    } else {
        dst.put_slice(key);
    }
}

fn encode_meta(m: &MetaReply, dst: &mut BytesMut) {
    let f = &m.flags;
    let value = match (m.status, &m.value) {
        (MetaStatus::Va, Some(v)) => Some(v.as_ref()),
        (MetaStatus::Va, None) => Some(&b""[..]),
        _ => None,
    };
    dst.reserve(64 + value.map_or(0, |v| v.len()) + f.key.as_ref().map_or(0, |k| k.len() * 2));
    dst.put_slice(m.status.as_bytes());
    if let Some(v) = value {
        dst.put_u8(b' ');
        put_u64(dst, v.len() as u64);
    }
    for &letter in f.order.as_slice() {
        match letter {
            b'k' => {
                if let Some(key) = &f.key {
                    dst.put_slice(b" k");
                    put_key(dst, key, f.key_base64);
                    if f.key_base64 {
                        dst.put_slice(b" b");
                    }
                }
            }
            b'O' => {
                if let Some(o) = &f.opaque {
                    dst.put_slice(b" O");
                    dst.put_slice(o);
                }
            }
            b'c' => put_flag_u64(dst, b'c', f.cas),
            b't' => {
                if let Some(t) = f.ttl {
                    dst.put_slice(b" t");
                    put_i64(dst, t);
                }
            }
            b'f' => put_flag_u64(dst, b'f', f.client_flags.map(u64::from)),
            b's' => put_flag_u64(dst, b's', f.size.map(u64::from)),
            b'h' => put_flag_u64(dst, b'h', f.hit_before.map(u64::from)),
            b'l' => put_flag_u64(dst, b'l', f.last_access.map(u64::from)),
            _ => {}
        }
    }
    if f.token_sent {
        dst.put_slice(b" Z");
    }
    if f.stale {
        dst.put_slice(b" X");
    }
    if f.won {
        dst.put_slice(b" W");
    }
    dst.put_slice(CRLF);
    if let Some(v) = value {
        dst.put_slice(v);
        dst.put_slice(CRLF);
    }
}

fn put_flag_u64(dst: &mut BytesMut, letter: u8, v: Option<u64>) {
    if let Some(v) = v {
        dst.put_u8(b' ');
        dst.put_u8(letter);
        put_u64(dst, v);
    }
}

fn encode_meta_debug(m: &MetaDebugReply, dst: &mut BytesMut) {
    dst.put_slice(b"ME ");
    put_key(dst, &m.key, m.key_base64);
    dst.put_slice(b" exp=");
    put_i64(dst, m.exp);
    dst.put_slice(b" la=");
    put_u64(dst, m.last_access);
    dst.put_slice(b" cas=");
    put_u64(dst, m.cas);
    dst.put_slice(if m.fetched {
        &b" fetch=yes"[..]
    } else {
        &b" fetch=no"[..]
    });
    dst.put_slice(b" cls=");
    put_u64(dst, u64::from(m.class));
    dst.put_slice(b" size=");
    put_u64(dst, m.size);
    dst.put_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FlagOrder;

    fn enc(r: &Response) -> String {
        let mut out = BytesMut::new();
        encode_response(r, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn words() {
        for (r, s) in [
            (Response::Stored, "STORED\r\n"),
            (Response::NotStored, "NOT_STORED\r\n"),
            (Response::Exists, "EXISTS\r\n"),
            (Response::NotFound, "NOT_FOUND\r\n"),
            (Response::Deleted, "DELETED\r\n"),
            (Response::Touched, "TOUCHED\r\n"),
            (Response::Ok, "OK\r\n"),
            (Response::Reset, "RESET\r\n"),
            (Response::Error, "ERROR\r\n"),
            (Response::MetaNoop, "MN\r\n"),
            (Response::NoReply, ""),
            (
                Response::Number(18446744073709551615),
                "18446744073709551615\r\n",
            ),
            (
                Response::Version(Bytes::from_static(b"1.6.18")),
                "VERSION 1.6.18\r\n",
            ),
            (
                Response::ClientError(Bytes::from_static(b"bad data chunk")),
                "CLIENT_ERROR bad data chunk\r\n",
            ),
            (
                Response::ServerError(Bytes::from_static(b"out of memory")),
                "SERVER_ERROR out of memory\r\n",
            ),
            (
                Response::Line(Bytes::from_static(b"ERROR: shutdown not enabled")),
                "ERROR: shutdown not enabled\r\n",
            ),
            (Response::Values(vec![]), "END\r\n"),
        ] {
            assert_eq!(enc(&r), s);
        }
    }

    #[test]
    fn values_and_stats() {
        let v = |cas| Value {
            key: Bytes::from_static(b"a"),
            flags: 0,
            cas,
            data: Bytes::from_static(b"x"),
        };
        assert_eq!(
            enc(&Response::Values(vec![v(None), v(None)])),
            "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
        );
        assert_eq!(
            enc(&Response::Values(vec![v(Some(4))])),
            "VALUE a 0 1 4\r\nx\r\nEND\r\n"
        );
        let stats = vec![
            Stat::uint("pid", 42),
            Stat {
                name: Bytes::from_static(b"delta"),
                value: StatValue::Signed(-3),
            },
            Stat::text("version", Bytes::from_static(b"1.6.18")),
        ];
        assert_eq!(
            enc(&Response::Stats(stats)),
            "STAT pid 42\r\nSTAT delta -3\r\nSTAT version 1.6.18\r\nEND\r\n"
        );
    }

    #[test]
    fn meta_in_request_order() {
        // what memcached sent for `mg a s v t f c k Oxyz h l` on a hit
        let mut m = MetaReply::new(MetaStatus::Va, b"svtfckOhl".iter().collect::<FlagOrder>());
        m.value = Some(Bytes::from_static(b"abc"));
        m.flags.size = Some(3);
        m.flags.ttl = Some(-1);
        m.flags.client_flags = Some(5);
        m.flags.cas = Some(16);
        m.flags.key = Some(Bytes::from_static(b"a"));
        m.flags.opaque = Some(Bytes::from_static(b"xyz"));
        m.flags.hit_before = Some(false);
        m.flags.last_access = Some(0);
        assert_eq!(
            enc(&Response::Meta(m.clone())),
            "VA 3 s3 t-1 f5 c16 ka Oxyz h0 l0\r\nabc\r\n"
        );
        // W X Z come last, in memcached's order
        m.flags.won = true;
        m.flags.stale = true;
        m.flags.token_sent = true;
        m.status = MetaStatus::Hd;
        assert_eq!(
            enc(&Response::Meta(m)),
            "HD s3 t-1 f5 c16 ka Oxyz h0 l0 Z X W\r\n"
        );
        // binary keys are re-encoded, with ` b`
        let mut m = MetaReply::new(MetaStatus::En, b"kb".iter().collect::<FlagOrder>());
        m.flags.key = Some(Bytes::from_static(b"foo"));
        m.flags.key_base64 = true;
        assert_eq!(enc(&Response::Meta(m)), "EN kZm9v b\r\n");
        let me = MetaDebugReply {
            key: Bytes::from_static(b"a"),
            key_base64: false,
            exp: -1,
            last_access: 1,
            cas: 16,
            fetched: true,
            class: 1,
            size: 67,
        };
        assert_eq!(
            enc(&Response::MetaDebug(me)),
            "ME a exp=-1 la=1 cas=16 fetch=yes cls=1 size=67\r\n"
        );
    }
}
