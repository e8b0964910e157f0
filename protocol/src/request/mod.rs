//! Requests: one type per command, gathered by [`Request`], and the
//! server-side parser.

mod admin;
mod arithmetic;
mod delete;
mod encode;
mod get;
mod meta;
mod parse;
mod rejection;
mod store;
mod touch;

pub use self::admin::{Admin, FlushAll, Shutdown, Stats, Verbosity};
pub use self::arithmetic::Arithmetic;
pub use self::delete::Delete;
pub use self::encode::encode_request;
pub use self::get::{Gat, Get};
pub use self::meta::{
    MetaArithmetic, MetaArithmeticFlags, MetaDebug, MetaDelete, MetaDeleteFlags, MetaGet,
    MetaGetFlags, MetaSet, MetaSetFlags,
};
pub use self::rejection::{Reason, Rejection, TooLarge};
pub use self::store::{Cas, Store};
pub use self::touch::Touch;

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::response::{MetaStatus, Response};

/// One client request, as memcached 1.6.18 would understand it.
///
/// Besides the commands, two variants carry input memcached answers without
/// executing a command: [`Request::Invalid`] (an error reply, or closing the
/// connection) and [`Request::TooLarge`] (an item over `-I`; the executor
/// must unlink the key for `set`/`ms`).
///
/// Keys and values are `Bytes` slices of the frame they came in (except
/// base64 meta keys, which are decoded into their own small buffer).
///
/// # Table of contents
///
/// | variant | wire |
/// |---|---|
/// | [`Get`](Request::Get), [`Gets`](Request::Gets), [`Gat`](Request::Gat), [`Gats`](Request::Gats) | `get`/`bget`, `gets`, `gat`, `gats` |
/// | [`Set`](Request::Set) … [`Prepend`](Request::Prepend), [`Cas`](Request::Cas) | storage commands |
/// | [`Delete`](Request::Delete), [`Incr`](Request::Incr), [`Decr`](Request::Decr), [`Touch`](Request::Touch) | |
/// | [`FlushAll`](Request::FlushAll), [`Version`](Request::Version), [`Verbosity`](Request::Verbosity), [`Stats`](Request::Stats), [`Quit`](Request::Quit), [`Shutdown`](Request::Shutdown), [`Admin`](Request::Admin) | admin |
/// | [`MetaGet`](Request::MetaGet), [`MetaSet`](Request::MetaSet), [`MetaDelete`](Request::MetaDelete), [`MetaArithmetic`](Request::MetaArithmetic), [`MetaNoop`](Request::MetaNoop), [`MetaDebug`](Request::MetaDebug) | `mg ms md ma mn me` |
/// | [`TooLarge`](Request::TooLarge), [`Invalid`](Request::Invalid) | refused input |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `get <key>*` (also the ancient alias `bget`).
    Get(Get),
    /// `gets <key>*`: like get, with CAS uniques.
    Gets(Get),
    /// `gat <exptime> <key>*`.
    Gat(Gat),
    /// `gats <exptime> <key>*`.
    Gats(Gat),
    /// `set`: store unconditionally.
    Set(Store),
    /// `add`: store if absent.
    Add(Store),
    /// `replace`: store if present.
    Replace(Store),
    /// `append`: add data after an existing value.
    Append(Store),
    /// `prepend`: add data before an existing value.
    Prepend(Store),
    /// `cas`: store if the CAS unique still matches.
    Cas(Cas),
    /// `delete`.
    Delete(Delete),
    /// `incr`.
    Incr(Arithmetic),
    /// `decr`.
    Decr(Arithmetic),
    /// `touch`.
    Touch(Touch),
    /// `flush_all`.
    FlushAll(FlushAll),
    /// `version`.
    Version,
    /// `verbosity`.
    Verbosity(Verbosity),
    /// `stats`.
    Stats(Stats),
    /// `quit`: close the connection, no reply.
    Quit,
    /// `shutdown`.
    Shutdown(Shutdown),
    /// memcached admin verbs ringcache does not model.
    Admin(Admin),
    /// `mg`.
    MetaGet(MetaGet),
    /// `ms`.
    MetaSet(MetaSet),
    /// `md`.
    MetaDelete(MetaDelete),
    /// `ma`.
    MetaArithmetic(MetaArithmetic),
    /// `mn`: replies `MN` (a pipeline barrier for quiet mode).
    MetaNoop,
    /// `me`.
    MetaDebug(MetaDebug),
    /// A storage command over `-I`: see [`TooLarge`].
    TooLarge(TooLarge),
    /// Refused input: see [`Rejection`].
    Invalid(Rejection),
}

/// The command a request names: for metrics labels and stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the wire verb of `as_str`
pub enum Command {
    Get,
    Gets,
    Gat,
    Gats,
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
    Delete,
    Incr,
    Decr,
    Touch,
    FlushAll,
    Version,
    Verbosity,
    Stats,
    Quit,
    Shutdown,
    Admin,
    MetaGet,
    MetaSet,
    MetaDelete,
    MetaArithmetic,
    MetaNoop,
    MetaDebug,
}

impl Command {
    /// The wire verb (`"get"`, `"mg"`...; `"admin"` for [`Command::Admin`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Get => "get",
            Command::Gets => "gets",
            Command::Gat => "gat",
            Command::Gats => "gats",
            Command::Set => "set",
            Command::Add => "add",
            Command::Replace => "replace",
            Command::Append => "append",
            Command::Prepend => "prepend",
            Command::Cas => "cas",
            Command::Delete => "delete",
            Command::Incr => "incr",
            Command::Decr => "decr",
            Command::Touch => "touch",
            Command::FlushAll => "flush_all",
            Command::Version => "version",
            Command::Verbosity => "verbosity",
            Command::Stats => "stats",
            Command::Quit => "quit",
            Command::Shutdown => "shutdown",
            Command::Admin => "admin",
            Command::MetaGet => "mg",
            Command::MetaSet => "ms",
            Command::MetaDelete => "md",
            Command::MetaArithmetic => "ma",
            Command::MetaNoop => "mn",
            Command::MetaDebug => "me",
        }
    }
}

impl Request {
    /// The command this request names (`None` for a rejection of an
    /// unknown command).
    pub fn command(&self) -> Option<Command> {
        Some(match self {
            Request::Get(_) => Command::Get,
            Request::Gets(_) => Command::Gets,
            Request::Gat(_) => Command::Gat,
            Request::Gats(_) => Command::Gats,
            Request::Set(_) => Command::Set,
            Request::Add(_) => Command::Add,
            Request::Replace(_) => Command::Replace,
            Request::Append(_) => Command::Append,
            Request::Prepend(_) => Command::Prepend,
            Request::Cas(_) => Command::Cas,
            Request::Delete(_) => Command::Delete,
            Request::Incr(_) => Command::Incr,
            Request::Decr(_) => Command::Decr,
            Request::Touch(_) => Command::Touch,
            Request::FlushAll(_) => Command::FlushAll,
            Request::Version => Command::Version,
            Request::Verbosity(_) => Command::Verbosity,
            Request::Stats(_) => Command::Stats,
            Request::Quit => Command::Quit,
            Request::Shutdown(_) => Command::Shutdown,
            Request::Admin(_) => Command::Admin,
            Request::MetaGet(_) => Command::MetaGet,
            Request::MetaSet(_) => Command::MetaSet,
            Request::MetaDelete(_) => Command::MetaDelete,
            Request::MetaArithmetic(_) => Command::MetaArithmetic,
            Request::MetaNoop => Command::MetaNoop,
            Request::MetaDebug(_) => Command::MetaDebug,
            Request::TooLarge(t) => t.command,
            Request::Invalid(r) => return r.command,
        })
    }

    /// Whether `response`, the outcome of executing this request, is
    /// withheld from the wire. **The protocol crate decides suppression**;
    /// the executor always returns the full outcome and the connection
    /// loop calls this before encoding.
    ///
    /// memcached 1.6.18's rules:
    /// - classic `noreply` (storage, `delete`, `incr`/`decr`, `touch`,
    ///   `flush_all`, `verbosity`): *every* reply is withheld, errors
    ///   included (`SERVER_ERROR`, `CLIENT_ERROR`, `NOT_FOUND`...);
    /// - `mg q`: `EN` only; `ms q`: `HD` only; `md q`: `HD` only (`NF` is
    ///   still sent); `ma q`: the success reply (`HD` or `VA`) to an
    ///   existing counter only (not `NF`, `EX`, nor the reply to a counter
    ///   `N` just created, see [`ReturnValues::vivified`](crate::ReturnValues::vivified));
    /// - [`Request::Invalid`] / [`Request::TooLarge`]: their `noreply`;
    /// - everything else: never. [`Response::NoReply`] is never sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ringcache_protocol::{Delete, Request, Response};
    ///
    /// let req = Request::Delete(Delete { key: Bytes::from_static(b"k"), noreply: true });
    /// assert!(req.suppresses(&Response::NotFound));
    /// ```
    pub fn suppresses(&self, response: &Response) -> bool {
        if matches!(response, Response::NoReply) {
            return true;
        }
        let (meta_status, vivified) = match response {
            Response::Meta(m) => (Some(m.status), m.flags.vivified),
            _ => (None, false),
        };
        match self {
            Request::Set(s)
            | Request::Add(s)
            | Request::Replace(s)
            | Request::Append(s)
            | Request::Prepend(s) => s.noreply,
            Request::Cas(c) => c.noreply,
            Request::Delete(d) => d.noreply,
            Request::Incr(a) | Request::Decr(a) => a.noreply,
            Request::Touch(t) => t.noreply,
            Request::FlushAll(f) => f.noreply,
            Request::Verbosity(v) => v.noreply,
            Request::MetaGet(m) => m.flags.quiet && meta_status == Some(MetaStatus::En),
            Request::MetaSet(m) => m.flags.quiet && meta_status == Some(MetaStatus::Hd),
            Request::MetaDelete(m) => m.flags.quiet && meta_status == Some(MetaStatus::Hd),
            Request::MetaArithmetic(m) => {
                m.flags.quiet
                    && !vivified
                    && matches!(meta_status, Some(MetaStatus::Hd | MetaStatus::Va))
            }
            Request::TooLarge(t) => t.noreply,
            Request::Invalid(r) => r.noreply,
            Request::Get(_)
            | Request::Gets(_)
            | Request::Gat(_)
            | Request::Gats(_)
            | Request::Version
            | Request::Stats(_)
            | Request::Quit
            | Request::Shutdown(_)
            | Request::Admin(_)
            | Request::MetaNoop
            | Request::MetaDebug(_) => false,
        }
    }

    /// The keys this request names, as sent (base64 meta keys decoded);
    /// empty for commands that name none (admin verbs, `mn`, rejections).
    /// A [`Request::TooLarge`] names its key: the executor may unlink it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ringcache_protocol::{Get, Request};
    ///
    /// let keys = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    /// assert_eq!(Request::Get(Get { keys: keys.clone() }).keys(), &keys[..]);
    /// assert!(Request::Version.keys().is_empty());
    /// ```
    pub fn keys(&self) -> &[Bytes] {
        use std::slice::from_ref;
        match self {
            Request::Get(g) | Request::Gets(g) => &g.keys,
            Request::Gat(g) | Request::Gats(g) => &g.keys,
            Request::Set(s)
            | Request::Add(s)
            | Request::Replace(s)
            | Request::Append(s)
            | Request::Prepend(s) => from_ref(&s.key),
            Request::Cas(c) => from_ref(&c.key),
            Request::Delete(d) => from_ref(&d.key),
            Request::Incr(a) | Request::Decr(a) => from_ref(&a.key),
            Request::Touch(t) => from_ref(&t.key),
            Request::MetaGet(m) => from_ref(&m.key),
            Request::MetaSet(m) => from_ref(&m.key),
            Request::MetaDelete(m) => from_ref(&m.key),
            Request::MetaArithmetic(m) => from_ref(&m.key),
            Request::MetaDebug(m) => from_ref(&m.key),
            Request::TooLarge(t) => from_ref(&t.key),
            Request::FlushAll(_)
            | Request::Version
            | Request::Verbosity(_)
            | Request::Stats(_)
            | Request::Quit
            | Request::Shutdown(_)
            | Request::Admin(_)
            | Request::MetaNoop
            | Request::Invalid(_) => &[],
        }
    }

    /// Whether the connection closes after this request (`quit`, and
    /// rejections that close).
    ///
    /// The two differ in what happens to replies still queued: `quit`
    /// writes them first. A closing rejection (line over 2048 bytes, HTTP)
    /// makes memcached 1.6.18 close *without* writing the replies it has
    /// queued since its last flush (observed: `version\r\nGET /
    /// HTTP/1.1\r\n` in one packet gets nothing back, `mn\r\nGET /
    /// HTTP/1.1\r\n` gets `MN`). See [`Request::forces_flush`] for when
    /// memcached flushes.
    pub fn closes_connection(&self) -> bool {
        match self {
            Request::Quit => true,
            Request::Invalid(r) => r.closes(),
            _ => false,
        }
    }
}

impl Request {
    /// Whether memcached 1.6.18 writes all queued replies right after this
    /// request, instead of parsing on: after a `get`/`gets`/`gat`/`gats`
    /// that succeeded, after `mn` ("forces immediate writeback"), and after
    /// `quit`. It also flushes whenever it has parsed all buffered input and
    /// waits for more, and when it yields to other connections: after the
    /// 21st request parsed from one read and every 20th after that
    /// (`-R 20`; observed: 21, 25 and 45 `version`s followed by an HTTP line
    /// get 21, 21 and 41 replies).
    /// This only shows when a closing rejection follows in the same read:
    /// replies not yet flushed are lost (see [`Request::closes_connection`]).
    pub fn forces_flush(&self) -> bool {
        matches!(
            self,
            Request::Get(_)
                | Request::Gets(_)
                | Request::Gat(_)
                | Request::Gats(_)
                | Request::MetaNoop
                | Request::Quit
        )
    }
}

/// A parsed request and how much input it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The request.
    pub request: Request,
    /// Bytes taken off the front of the buffer (the line and whatever part
    /// of the data block was buffered).
    pub consumed: usize,
    /// Bytes of a refused data block that had not arrived yet and must be
    /// dropped as they come in, *without buffering them* (memcached's
    /// swallow state). [`RequestDecoder`] does this for you.
    pub discard: usize,
}

/// Parses the next request at the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete, leaving `buf` as it
/// was (nothing is allocated). Otherwise splits the frame off `buf`
/// (`split_to(n).freeze()`), so keys and values are zero-copy slices of it.
/// Key length and `<bytes>` are checked as soon as the command line is
/// complete, before waiting for the data block.
///
/// # Errors
///
/// None today: every bad request becomes [`Request::Invalid`] or
/// [`Request::TooLarge`]. The `Result` is kept for fatal conditions.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use ringcache_protocol::{parse_request, Limits, Request};
///
/// let mut buf = BytesMut::from(&b"get foo\r\n"[..]);
/// let parsed = parse_request(&mut buf, &Limits::default()).unwrap().unwrap();
/// assert!(matches!(parsed.request, Request::Get(_)));
/// assert!(buf.is_empty());
/// ```
pub fn parse_request(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    Ok(parse::parse(buf, limits, &mut parse::Hint::default()))
}

/// A sans-IO, stateful request decoder: [`parse_request`] plus the discard
/// state for refused data blocks, and a memory of how far an incomplete
/// frame has been scanned (a frame arriving a few bytes per read costs
/// linear, not quadratic, time). [`ServerCodec`](crate::ServerCodec) wraps
/// it for tokio; a hand-written connection loop can use it directly.
///
/// The read buffer never needs to hold more than
/// [`Limits::max_frame`] bytes.
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    limits: Limits,
    discarding: usize,
    hint: parse::Hint,
}

impl RequestDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder {
            limits,
            discarding: 0,
            hint: parse::Hint::default(),
        }
    }

    /// The limits in use.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the decoder is dropping a refused data block.
    pub fn is_discarding(&self) -> bool {
        self.discarding > 0
    }

    /// Takes the next request off `buf`: `Ok(None)` until one is complete.
    ///
    /// # Errors
    ///
    /// As [`parse_request`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        if self.discarding > 0 {
            let n = self.discarding.min(buf.len());
            let _ = buf.split_to(n);
            self.discarding -= n;
            if self.discarding > 0 {
                return Ok(None);
            }
        }
        match parse::parse(buf, &self.limits, &mut self.hint) {
            None => Ok(None),
            Some(parsed) => {
                self.discarding = parsed.discard;
                Ok(Some(parsed.request))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FlagOrder;
    use crate::response::MetaReply;
    use crate::testing::one;

    fn meta(status: MetaStatus) -> Response {
        Response::Meta(MetaReply::new(status, FlagOrder::new()))
    }

    /// memcached 1.6.18's noreply / q rules, as observed on the real
    /// server (see the module docs of `request::meta`).
    #[test]
    fn suppression() {
        use MetaStatus::*;
        let all = [
            Response::Stored,
            Response::NotFound,
            Response::Error,
            Response::ServerError(bytes::Bytes::from_static(b"out of memory")),
        ];
        for input in [
            &b"set k 0 0 1 noreply\r\nx\r\n"[..],
            b"delete k noreply\r\n",
            b"incr k 1 noreply\r\n",
            b"touch k 1 noreply\r\n",
            b"flush_all noreply\r\n",
            b"verbosity 1 noreply\r\n",
        ] {
            let r = one(input);
            assert!(all.iter().all(|resp| r.suppresses(resp)), "{r:?}");
        }
        let get = one(b"get a noreply\r\n");
        assert!(!get.suppresses(&Response::Values(vec![])));
        let mg = one(b"mg k q\r\n");
        assert!(mg.suppresses(&meta(En)));
        assert!(!mg.suppresses(&meta(Hd)) && !mg.suppresses(&meta(Va)));
        assert!(!mg.suppresses(&Response::ClientError(bytes::Bytes::new())));
        let ms = one(b"ms k 1 q\r\nx\r\n");
        assert!(ms.suppresses(&meta(Hd)));
        assert!(
            !ms.suppresses(&meta(Ns)) && !ms.suppresses(&meta(Ex)) && !ms.suppresses(&meta(Nf))
        );
        let md = one(b"md k q\r\n");
        assert!(md.suppresses(&meta(Hd)) && !md.suppresses(&meta(Nf)) && !md.suppresses(&meta(Ex)));
        let ma = one(b"ma k q\r\n");
        assert!(ma.suppresses(&meta(Hd)) && ma.suppresses(&meta(Va)));
        assert!(!ma.suppresses(&meta(Nf)) && !ma.suppresses(&meta(Ex)));
        let mut created = MetaReply::new(Va, FlagOrder::new());
        created.flags.vivified = true;
        assert!(!ma.suppresses(&Response::Meta(created)));
        assert!(!one(b"mn\r\n").suppresses(&Response::MetaNoop));
        assert!(mg.suppresses(&Response::NoReply));
    }

    #[test]
    fn token_count_errors_name_no_command() {
        let Request::Invalid(r) = one(b"flush_all 1 2 3\r\n") else {
            panic!()
        };
        assert_eq!(r.command, None);
        let Request::Invalid(r) = one(b"flush_all x\r\n") else {
            panic!()
        };
        assert_eq!(r.command, Some(Command::FlushAll));
        let Request::Invalid(r) = one(b"set k 0 0\r\n") else {
            panic!()
        };
        assert_eq!(r.command, None);
    }

    #[test]
    fn flush_points() {
        assert!(one(b"get a\r\n").forces_flush());
        assert!(one(b"gat 1 a\r\n").forces_flush());
        assert!(one(b"mn\r\n").forces_flush());
        assert!(!one(b"version\r\n").forces_flush());
        assert!(!one(b"mg a v\r\n").forces_flush());
        assert!(!one(b"get\r\n").forces_flush());
    }

    #[test]
    fn quit_and_closing_rejections_close() {
        assert!(one(b"quit\r\n").closes_connection());
        assert!(one(b"GET / HTTP/1.1\r\n").closes_connection());
        assert!(!one(b"bogus\r\n").closes_connection());
    }
}
