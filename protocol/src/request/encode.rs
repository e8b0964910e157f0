//! Client side: writing requests in memcached's text format.

use bytes::{BufMut, Bytes, BytesMut};

use crate::meta::base64;
use crate::meta::FlagOrder;
use crate::request::{
    Cas, MetaArithmeticFlags, MetaDeleteFlags, MetaGetFlags, MetaSetFlags, Request, Shutdown, Store,
};
use crate::text::write::{put_i64, put_u64};

/// Appends `request` to `dst` as a client would send it.
///
/// Classic commands are written in their canonical form (`noreply` last
/// when set). Meta flags are written in `order`, each letter with its
/// argument from the flags struct; a flag set in the struct but missing
/// from `order` is appended after them (so building a request needs only
/// the struct fields, plus `order` for return-only flags such as `k`, `c`,
/// `s`, `t`). A base64 key (`base64: true`) is encoded and `b` added.
///
/// [`Request::Invalid`] and [`Request::TooLarge`] write nothing: they are
/// answers to bad input, not requests that can be sent.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use ringcache_protocol::{encode_request, MetaGet, MetaGetFlags, FlagOrder, Request};
///
/// let mut out = BytesMut::new();
/// let flags = MetaGetFlags {
///     order: b"v".iter().collect::<FlagOrder>(),
///     value: true,
///     ttl: Some(30),
///     ..MetaGetFlags::default()
/// };
/// encode_request(&Request::MetaGet(MetaGet { key: Bytes::from_static(b"k"), flags }), &mut out);
/// assert_eq!(&out[..], b"mg k v T30\r\n");
/// ```
pub fn encode_request(request: &Request, dst: &mut BytesMut) {
    match request {
        Request::Get(g) => keys_line(dst, b"get", None, &g.keys),
        Request::Gets(g) => keys_line(dst, b"gets", None, &g.keys),
        Request::Gat(g) => keys_line(dst, b"gat", Some(g.exptime), &g.keys),
        Request::Gats(g) => keys_line(dst, b"gats", Some(g.exptime), &g.keys),
        Request::Set(s) => store(dst, b"set", s),
        Request::Add(s) => store(dst, b"add", s),
        Request::Replace(s) => store(dst, b"replace", s),
        Request::Append(s) => store(dst, b"append", s),
        Request::Prepend(s) => store(dst, b"prepend", s),
        Request::Cas(c) => cas(dst, c),
        Request::Delete(d) => {
            dst.put_slice(b"delete ");
            dst.put_slice(&d.key);
            end(dst, d.noreply);
        }
        Request::Incr(a) | Request::Decr(a) => {
            let verb: &[u8] = if matches!(request, Request::Incr(_)) {
                b"incr "
            } else {
                b"decr "
            };
            dst.put_slice(verb);
            dst.put_slice(&a.key);
            dst.put_u8(b' ');
            put_u64(dst, a.delta);
            end(dst, a.noreply);
        }
        Request::Touch(t) => {
            dst.put_slice(b"touch ");
            dst.put_slice(&t.key);
            dst.put_u8(b' ');
            put_i64(dst, t.exptime);
            end(dst, t.noreply);
        }
        Request::FlushAll(f) => {
            dst.put_slice(b"flush_all");
            if let Some(d) = f.delay {
                dst.put_u8(b' ');
                put_i64(dst, d);
            }
            end(dst, f.noreply);
        }
        Request::Version => dst.put_slice(b"version\r\n"),
        Request::Verbosity(v) => {
            dst.put_slice(b"verbosity ");
            put_u64(dst, u64::from(v.level));
            end(dst, v.noreply);
        }
        Request::Stats(s) => {
            dst.put_slice(b"stats");
            for t in s.group.iter().chain(s.args.iter()) {
                dst.put_u8(b' ');
                dst.put_slice(t);
            }
            dst.put_slice(b"\r\n");
        }
        Request::Quit => dst.put_slice(b"quit\r\n"),
        Request::Shutdown(s) => dst.put_slice(match s {
            Shutdown::Immediate => b"shutdown\r\n",
            Shutdown::Graceful => b"shutdown graceful\r\n",
            Shutdown::InvalidMode => b"shutdown invalid\r\n",
        }),
        Request::Admin(a) => {
            dst.put_slice(&a.command);
            for t in &a.args {
                dst.put_u8(b' ');
                dst.put_slice(t);
            }
            dst.put_slice(b"\r\n");
        }
        Request::MetaGet(m) => {
            meta_head(dst, b"mg", &m.key, m.flags.base64, None);
            meta_get_flags(dst, &m.flags);
            dst.put_slice(b"\r\n");
        }
        Request::MetaSet(m) => {
            meta_head(dst, b"ms", &m.key, m.flags.base64, Some(m.value.len()));
            meta_set_flags(dst, &m.flags);
            dst.put_slice(b"\r\n");
            dst.put_slice(&m.value);
            dst.put_slice(b"\r\n");
        }
        Request::MetaDelete(m) => {
            meta_head(dst, b"md", &m.key, m.flags.base64, None);
            meta_delete_flags(dst, &m.flags);
            dst.put_slice(b"\r\n");
        }
        Request::MetaArithmetic(m) => {
            meta_head(dst, b"ma", &m.key, m.flags.base64, None);
            meta_arithmetic_flags(dst, &m.flags);
            dst.put_slice(b"\r\n");
        }
        Request::MetaNoop => dst.put_slice(b"mn\r\n"),
        Request::MetaDebug(m) => {
            meta_head(dst, b"me", &m.key, m.base64, None);
            if m.base64 {
                dst.put_slice(b" b");
            }
            dst.put_slice(b"\r\n");
        }
        Request::TooLarge(_) | Request::Invalid(_) => {}
    }
}

fn end(dst: &mut BytesMut, noreply: bool) {
    if noreply {
        dst.put_slice(b" noreply");
    }
    dst.put_slice(b"\r\n");
}

fn keys_line(dst: &mut BytesMut, verb: &[u8], exptime: Option<i64>, keys: &[Bytes]) {
    dst.reserve(verb.len() + 24 + keys.iter().map(|k| k.len() + 1).sum::<usize>());
    dst.put_slice(verb);
    if let Some(e) = exptime {
        dst.put_u8(b' ');
        put_i64(dst, e);
    }
    for k in keys {
        dst.put_u8(b' ');
        dst.put_slice(k);
    }
    dst.put_slice(b"\r\n");
}

fn store_head(dst: &mut BytesMut, verb: &[u8], key: &[u8], flags: u32, exptime: i64, len: usize) {
    dst.reserve(verb.len() + key.len() + 48 + len + 2);
    dst.put_slice(verb);
    dst.put_u8(b' ');
    dst.put_slice(key);
    dst.put_u8(b' ');
    put_u64(dst, u64::from(flags));
    dst.put_u8(b' ');
    put_i64(dst, exptime);
    dst.put_u8(b' ');
    put_u64(dst, len as u64);
}

fn store(dst: &mut BytesMut, verb: &[u8], s: &Store) {
    store_head(dst, verb, &s.key, s.flags, s.exptime, s.value.len());
    end(dst, s.noreply);
    dst.put_slice(&s.value);
    dst.put_slice(b"\r\n");
}

fn cas(dst: &mut BytesMut, c: &Cas) {
    store_head(dst, b"cas", &c.key, c.flags, c.exptime, c.value.len());
    dst.put_u8(b' ');
    put_u64(dst, c.cas);
    end(dst, c.noreply);
    dst.put_slice(&c.value);
    dst.put_slice(b"\r\n");
}

fn meta_head(dst: &mut BytesMut, verb: &[u8], key: &[u8], b64: bool, len: Option<usize>) {
    dst.reserve(verb.len() + key.len() * 2 + 64);
    dst.put_slice(verb);
    dst.put_u8(b' ');
    if b64 {
        base64::encode_into(key, dst);
    } else {
        dst.put_slice(key);
    }
    if let Some(len) = len {
        dst.put_u8(b' ');
        put_u64(dst, len as u64);
    }
}

/// One flag token: the letter and, when `arg` writes one, its argument.
/// Returns false when the flag has no value to write (left out).
type FlagWriter<'a> = dyn Fn(u8, &mut BytesMut) -> bool + 'a;

/// Writes the flags in `order`, then `extra` letters not in `order`.
fn flags(dst: &mut BytesMut, order: &FlagOrder, extra: &[u8], write: &FlagWriter<'_>) {
    for &letter in order.as_slice() {
        let mark = dst.len();
        dst.put_u8(b' ');
        if !write(letter, dst) {
            dst.truncate(mark);
        }
    }
    for &letter in extra {
        if order.contains(letter) {
            continue;
        }
        let mark = dst.len();
        dst.put_u8(b' ');
        if !write(letter, dst) {
            dst.truncate(mark);
        }
    }
}

fn bare(dst: &mut BytesMut, letter: u8, on: bool) -> bool {
    if on {
        dst.put_u8(letter);
    }
    on
}

fn with_i64(dst: &mut BytesMut, letter: u8, v: Option<i64>) -> bool {
    match v {
        Some(v) => {
            dst.put_u8(letter);
            put_i64(dst, v);
            true
        }
        None => false,
    }
}

fn with_u64(dst: &mut BytesMut, letter: u8, v: Option<u64>) -> bool {
    match v {
        Some(v) => {
            dst.put_u8(letter);
            put_u64(dst, v);
            true
        }
        None => false,
    }
}

fn with_opaque(dst: &mut BytesMut, v: &Option<Bytes>) -> bool {
    match v {
        Some(o) => {
            dst.put_u8(b'O');
            dst.put_slice(o);
            true
        }
        None => false,
    }
}

/// Return-only flags: written bare when in `order`.
fn return_flag(dst: &mut BytesMut, letter: u8, allowed: &[u8]) -> bool {
    bare(dst, letter, allowed.contains(&letter))
}

fn meta_get_flags(dst: &mut BytesMut, f: &MetaGetFlags) {
    flags(dst, &f.order, b"bvquONRT", &|l, d| match l {
        b'b' => bare(d, l, f.base64),
        b'v' => bare(d, l, f.value),
        b'q' => bare(d, l, f.quiet),
        b'u' => bare(d, l, f.no_update),
        b'O' => with_opaque(d, &f.opaque),
        b'N' => with_i64(d, l, f.vivify),
        b'R' => with_i64(d, l, f.recache),
        b'T' => with_i64(d, l, f.ttl),
        _ => return_flag(d, l, b"kstcfhl"),
    });
}

fn meta_set_flags(dst: &mut BytesMut, f: &MetaSetFlags) {
    let mode = f.mode.letter();
    flags(dst, &f.order, b"bqOFCTIM", &|l, d| match l {
        b'b' => bare(d, l, f.base64),
        b'q' => bare(d, l, f.quiet),
        b'I' => bare(d, l, f.invalidate),
        b'O' => with_opaque(d, &f.opaque),
        b'F' => with_u64(
            d,
            l,
            (f.client_flags != 0 || f.order.contains(b'F')).then_some(u64::from(f.client_flags)),
        ),
        b'C' => with_u64(d, l, f.compare_cas),
        b'T' => with_i64(d, l, f.ttl),
        b'M' => {
            let set = f.mode != crate::meta::SetMode::Set || f.order.contains(b'M');
            if set {
                d.put_slice(&[b'M', mode]);
            }
            set
        }
        _ => return_flag(d, l, b"kc"),
    });
}

fn meta_delete_flags(dst: &mut BytesMut, f: &MetaDeleteFlags) {
    flags(dst, &f.order, b"bqOCIT", &|l, d| match l {
        b'b' => bare(d, l, f.base64),
        b'q' => bare(d, l, f.quiet),
        b'I' => bare(d, l, f.invalidate),
        b'O' => with_opaque(d, &f.opaque),
        b'C' => with_u64(d, l, f.compare_cas),
        b'T' => with_i64(d, l, f.ttl),
        _ => return_flag(d, l, b"k"),
    });
}

fn meta_arithmetic_flags(dst: &mut BytesMut, f: &MetaArithmeticFlags) {
    use crate::meta::ArithmeticMode;
    flags(dst, &f.order, b"bqvONJDTCM", &|l, d| match l {
        b'b' => bare(d, l, f.base64),
        b'q' => bare(d, l, f.quiet),
        b'v' => bare(d, l, f.value),
        b'O' => with_opaque(d, &f.opaque),
        b'N' => with_i64(d, l, f.vivify),
        b'J' => with_u64(
            d,
            l,
            (f.initial != 0 || f.order.contains(b'J')).then_some(f.initial),
        ),
        b'D' => with_u64(
            d,
            l,
            (f.delta != 1 || f.order.contains(b'D')).then_some(f.delta),
        ),
        b'T' => with_i64(d, l, f.ttl),
        b'C' => with_u64(d, l, f.compare_cas),
        b'M' => {
            let set = f.mode != ArithmeticMode::Increment || f.order.contains(b'M');
            if set {
                d.put_slice(match f.mode {
                    ArithmeticMode::Increment => b"MI",
                    ArithmeticMode::Decrement => b"MD",
                });
            }
            set
        }
        _ => return_flag(d, l, b"ctk"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Arithmetic, FlushAll, Get, MetaArithmetic, MetaSet};
    use crate::SetMode;

    fn enc(r: &Request) -> String {
        let mut out = BytesMut::new();
        encode_request(r, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn classic() {
        let k = || Bytes::from_static(b"k");
        assert_eq!(
            enc(&Request::Get(Get {
                keys: vec![k(), k()]
            })),
            "get k k\r\n"
        );
        assert_eq!(
            enc(&Request::Set(Store {
                key: k(),
                flags: 1,
                exptime: -1,
                value: Bytes::from_static(b"v"),
                noreply: true
            })),
            "set k 1 -1 1 noreply\r\nv\r\n"
        );
        assert_eq!(
            enc(&Request::Cas(Cas {
                key: k(),
                flags: 0,
                exptime: 0,
                value: Bytes::new(),
                cas: 7,
                noreply: false
            })),
            "cas k 0 0 0 7\r\n\r\n"
        );
        assert_eq!(
            enc(&Request::Decr(Arithmetic {
                key: k(),
                delta: 3,
                noreply: false
            })),
            "decr k 3\r\n"
        );
        assert_eq!(
            enc(&Request::FlushAll(FlushAll {
                delay: Some(5),
                noreply: true
            })),
            "flush_all 5 noreply\r\n"
        );
    }

    #[test]
    fn meta_flags_follow_order_then_fields() {
        let flags = MetaSetFlags {
            order: b"kc".iter().collect(),
            quiet: true,
            opaque: Some(Bytes::from_static(b"7")),
            ttl: Some(60),
            mode: SetMode::Add,
            ..MetaSetFlags::default()
        };
        let r = Request::MetaSet(MetaSet {
            key: Bytes::from_static(b"foo"),
            value: Bytes::from_static(b"bar"),
            flags: MetaSetFlags {
                base64: true,
                ..flags
            },
        });
        assert_eq!(enc(&r), "ms Zm9v 3 k c b q O7 T60 ME\r\nbar\r\n");
        let r = Request::MetaArithmetic(MetaArithmetic {
            key: Bytes::from_static(b"n"),
            flags: MetaArithmeticFlags {
                order: b"v".iter().collect(),
                value: true,
                delta: 5,
                mode: crate::ArithmeticMode::Decrement,
                ..MetaArithmeticFlags::default()
            },
        });
        assert_eq!(enc(&r), "ma n v D5 MD\r\n");
    }
}
