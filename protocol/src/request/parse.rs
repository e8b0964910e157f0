//! The server-side parser: framing, dispatch in memcached's order, and the
//! data block of storage commands.

use bytes::{Buf, Bytes, BytesMut};

use crate::limits::{Limits, MAX_LINE_LEN};
use crate::request::meta::{self as meta_cmd, MetaSetLine};
use crate::request::store::{parse_head, StoreHead};
use crate::request::{
    admin, arithmetic, delete, get, touch, Cas, Command, Parsed, Reason, Rejection, Request, Store,
    TooLarge,
};
use crate::text::tokens::{line_content, Tokens};

/// How memcached routes a verb (`process_command_ascii`'s if-chain).
enum Route {
    Simple(Command),
    Store(Command),
    MetaSet,
    Admin,
    /// `ERROR`, unless the last token starts with `HTTP/` (close).
    Unknown,
    /// `ERROR`, no `HTTP/` check (a branch memcached already entered).
    Error,
}

fn route(verb: &[u8], ntokens: usize) -> Route {
    use Command as C;
    if ntokens < 2 || verb.len() < 2 {
        return Route::Error;
    }
    match verb {
        [b'm', second] => match second {
            b'g' => Route::Simple(C::MetaGet),
            b's' => Route::MetaSet,
            b'd' => Route::Simple(C::MetaDelete),
            b'n' => Route::Simple(C::MetaNoop),
            b'a' => Route::Simple(C::MetaArithmetic),
            b'e' => Route::Simple(C::MetaDebug),
            _ => Route::Error,
        },
        [b'g', ..] => match verb {
            b"get" => Route::Simple(C::Get),
            b"gets" => Route::Simple(C::Gets),
            b"gat" => Route::Simple(C::Gat),
            b"gats" => Route::Simple(C::Gats),
            // memcached checks the token count before the verb here
            _ if ntokens < 3 => Route::Error,
            _ => Route::Error,
        },
        [b's', ..] => match verb {
            b"set" => Route::Store(C::Set),
            b"stats" => Route::Simple(C::Stats),
            b"shutdown" => Route::Simple(C::Shutdown),
            b"slabs" => Route::Admin,
            _ => Route::Error,
        },
        [b'a', ..] => match verb {
            b"add" => Route::Store(C::Add),
            b"append" => Route::Store(C::Append),
            _ => Route::Error,
        },
        [b'c', ..] => match verb {
            b"cas" => Route::Store(C::Cas),
            b"cache_memlimit" if ntokens == 3 || ntokens == 4 => Route::Admin,
            _ => Route::Error,
        },
        [b'i', ..] => match verb {
            b"incr" => Route::Simple(C::Incr),
            _ => Route::Error,
        },
        [b'd', ..] => match verb {
            b"delete" => Route::Simple(C::Delete),
            b"decr" => Route::Simple(C::Decr),
            _ => Route::Error,
        },
        [b't', ..] => match verb {
            b"touch" => Route::Simple(C::Touch),
            _ => Route::Error,
        },
        b"replace" => Route::Store(C::Replace),
        b"prepend" => Route::Store(C::Prepend),
        b"bget" => Route::Simple(C::Get),
        b"flush_all" => Route::Simple(C::FlushAll),
        b"version" => Route::Simple(C::Version),
        b"quit" => Route::Simple(C::Quit),
        b"verbosity" => Route::Simple(C::Verbosity),
        b"lru_crawler" | b"watch" | b"refresh_certs" => Route::Admin,
        b"lru" | b"extstore" if ntokens >= 3 => Route::Admin,
        b"lru" | b"extstore" => Route::Error,
        _ => Route::Unknown,
    }
}

fn simple(frame: &Bytes, line: &[u8], t: &Tokens<'_>, command: Command) -> Request {
    use Command as C;
    match command {
        C::Get | C::Gets | C::Gat | C::Gats => get::parse(frame, line, t, command),
        C::Delete => delete::parse(frame, t),
        C::Incr | C::Decr => arithmetic::parse(frame, t, command),
        C::Touch => touch::parse(frame, t),
        C::FlushAll => admin::parse_flush_all(t),
        C::Version => Request::Version,
        C::Verbosity => admin::parse_verbosity(t),
        C::Stats => admin::parse_stats(frame, t),
        C::Quit => Request::Quit,
        C::Shutdown => admin::parse_shutdown(t),
        C::MetaGet => meta_cmd::parse_get(frame, t),
        C::MetaDelete => meta_cmd::parse_delete(frame, t),
        C::MetaArithmetic => meta_cmd::parse_arithmetic(frame, t),
        C::MetaNoop => Request::MetaNoop,
        C::MetaDebug => meta_cmd::parse_debug(frame, t),
        // routed elsewhere
        C::Set | C::Add | C::Replace | C::Append | C::Prepend | C::Cas | C::MetaSet | C::Admin => {
            admin::parse_admin(frame, t)
        }
    }
}

/// Whether an unterminated buffer may keep growing: memcached only lets a
/// `get`/`gets` line (after at most 100 leading spaces) pass 2048 bytes.
fn may_grow(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    let rest = buf.get(spaces..).unwrap_or(&[]);
    spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

fn parsed(request: Request, consumed: usize, discard: usize) -> Option<Parsed> {
    Some(Parsed {
        request,
        consumed,
        discard,
    })
}

pub(crate) fn parse(buf: &mut BytesMut, limits: &Limits) -> Option<Parsed> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LINE_LEN {
            let reason = if !may_grow(buf) {
                Some(Reason::LineTooLong)
            } else if buf.len() > limits.max_multiget_line {
                Some(Reason::MultigetTooLong)
            } else {
                None
            };
            if let Some(reason) = reason {
                let consumed = buf.len();
                buf.clear();
                return parsed(Request::Invalid(Rejection::new(reason, None)), consumed, 0);
            }
        }
        return None;
    };
    let line_total = nl + 1;
    let content_len = line_content(buf.get(..nl).unwrap_or(&[])).len();

    // Storage commands need their data block: check the line first and
    // look at the buffer length before splitting anything off.
    let (route, store) = {
        let line = buf.get(..content_len).unwrap_or(&[]);
        let t = Tokens::new(line);
        let r = route(t.get(0), t.ntokens());
        let store = match &r {
            Route::Store(c) => Some(StoreLine::Classic(parse_head(*c, &t))),
            Route::MetaSet => Some(StoreLine::Meta(meta_cmd::parse_set_head(&t))),
            _ => None,
        };
        (r, store)
    };
    if let Some(store) = store {
        return parse_store(buf, limits, line_total, store);
    }

    let frame = buf.split_to(line_total).freeze();
    let line = frame.get(..content_len).unwrap_or(&[]);
    let t = Tokens::new(line);
    let request = match route {
        Route::Simple(c) => simple(&frame, line, &t, c),
        Route::Admin => admin::parse_admin(&frame, &t),
        Route::Error => Request::Invalid(Rejection::new(Reason::UnknownCommand, None)),
        Route::Unknown if t.last().starts_with(b"HTTP/") => {
            Request::Invalid(Rejection::new(Reason::Http, None))
        }
        Route::Unknown => Request::Invalid(Rejection::new(Reason::UnknownCommand, None)),
        Route::Store(_) | Route::MetaSet => {
            Request::Invalid(Rejection::new(Reason::UnknownCommand, None))
        }
    };
    parsed(request, line_total, 0)
}

enum StoreLine {
    Classic(Result<StoreHead, Rejection>),
    Meta(MetaSetLine),
}

fn parse_store(
    buf: &mut BytesMut,
    limits: &Limits,
    line_total: usize,
    store: StoreLine,
) -> Option<Parsed> {
    /// What to do with the data block.
    enum Plan {
        /// Refuse; the block (if any) is read as commands, as memcached does.
        Refuse(Rejection),
        /// Refuse and swallow the block unbuffered.
        Swallow(Request, usize),
        Classic(StoreHead),
        Meta(meta_cmd::MetaSetHead),
    }
    let plan = match store {
        StoreLine::Classic(Err(r)) => Plan::Refuse(r),
        StoreLine::Classic(Ok(h)) if limits.item_fits(h.key.len(), h.flags, h.len) => {
            Plan::Classic(h)
        }
        StoreLine::Classic(Ok(h)) => {
            let line = buf.split_to(line_total).freeze();
            let too_large = TooLarge {
                command: h.command,
                key: line.slice(h.key),
                len: h.len,
                // memcached unlinks the old item "to avoid stale data",
                // for plain set only
                unlink: h.command == Command::Set,
                noreply: h.noreply,
            };
            return swallowed(buf, line_total, Request::TooLarge(too_large), h.len + 2);
        }
        StoreLine::Meta(MetaSetLine::Refuse(r)) => {
            Plan::Refuse(Rejection::new(r, Some(Command::MetaSet)))
        }
        StoreLine::Meta(MetaSetLine::Swallow(r, len)) => Plan::Swallow(
            Request::Invalid(Rejection::new(r, Some(Command::MetaSet))),
            len + 2,
        ),
        StoreLine::Meta(MetaSetLine::Accept(h))
            if limits.item_fits(h.key_len, h.flags.client_flags, h.len) =>
        {
            Plan::Meta(h)
        }
        StoreLine::Meta(MetaSetLine::Accept(h)) => {
            let line = buf.split_to(line_total).freeze();
            let raw = line.slice(h.key);
            let key = if h.flags.base64 {
                crate::meta::base64::decode(&raw).unwrap_or(raw)
            } else {
                raw
            };
            let too_large = TooLarge {
                command: Command::MetaSet,
                key,
                len: h.len,
                // ms unlinks in every mode, and its errors ignore q
                unlink: true,
                noreply: false,
            };
            return swallowed(buf, line_total, Request::TooLarge(too_large), h.len + 2);
        }
    };
    let len = match &plan {
        Plan::Refuse(r) => {
            let request = Request::Invalid(r.clone());
            buf.advance(line_total);
            return parsed(request, line_total, 0);
        }
        Plan::Swallow(request, n) => {
            let (request, n) = (request.clone(), *n);
            buf.advance(line_total);
            return swallowed(buf, line_total, request, n);
        }
        Plan::Classic(h) => h.len,
        Plan::Meta(h) => h.len,
    };
    let total = line_total + len + 2;
    if buf.len() < total {
        // Room for the rest of the frame, so the next read lands in place.
        buf.reserve(total - buf.len());
        return None;
    }
    let frame = buf.split_to(total).freeze();
    let value = line_total..line_total + len;
    if frame.get(line_total + len..) != Some(&b"\r\n"[..]) {
        let (command, noreply) = match &plan {
            Plan::Classic(h) => (h.command, h.noreply),
            _ => (Command::MetaSet, false),
        };
        let r = Rejection {
            reason: Reason::BadDataChunk,
            noreply,
            command: Some(command),
        };
        return parsed(Request::Invalid(r), total, 0);
    }
    let request = match plan {
        Plan::Classic(h) => classic(&frame, h, value),
        Plan::Meta(h) => meta_cmd::build_set(&frame, h, value),
        Plan::Refuse(r) => Request::Invalid(r),
        Plan::Swallow(r, _) => r,
    };
    parsed(request, total, 0)
}

/// The line is already off `buf`; drop up to `n` bytes of data block now
/// and report the rest for the caller to discard as it arrives.
fn swallowed(buf: &mut BytesMut, line_total: usize, request: Request, n: usize) -> Option<Parsed> {
    let now = n.min(buf.len());
    buf.advance(now);
    parsed(request, line_total + now, n - now)
}

fn classic(frame: &Bytes, h: StoreHead, value: std::ops::Range<usize>) -> Request {
    let key = frame.slice(h.key);
    let value = frame.slice(value);
    if h.command == Command::Cas {
        return Request::Cas(Cas {
            key,
            flags: h.flags,
            exptime: h.exptime,
            value,
            cas: h.cas,
            noreply: h.noreply,
        });
    }
    let s = Store {
        key,
        flags: h.flags,
        exptime: h.exptime,
        value,
        noreply: h.noreply,
    };
    match h.command {
        Command::Add => Request::Add(s),
        Command::Replace => Request::Replace(s),
        Command::Append => Request::Append(s),
        Command::Prepend => Request::Prepend(s),
        _ => Request::Set(s),
    }
}
