//! tokio-util codecs: thin adapters over [`RequestDecoder`] /
//! [`encode_response`] (server side) and [`encode_request`] /
//! [`parse_response`] (client side).

use std::collections::VecDeque;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::request::{encode_request, Command, Request, RequestDecoder};
use crate::response::{encode_response, parse_response, Response};

/// Server side: decodes [`Request`]s, encodes [`Response`]s.
///
/// Bad requests are *items* ([`Request::Invalid`], [`Request::TooLarge`]),
/// not errors, so a `Framed` stream keeps going after them, as memcached
/// does. The caller must check [`Request::suppresses`] before sending a
/// reply and [`Request::closes_connection`] after.
///
/// The read buffer stays under [`Limits::max_frame`]: over-long lines turn
/// into a closing rejection and oversized data blocks are discarded as they
/// arrive.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::Decoder;
/// use ringcache_protocol::{Limits, ServerCodec};
///
/// let mut codec = ServerCodec::new(Limits::default());
/// let mut buf = BytesMut::from(&b"version\r\n"[..]);
/// assert!(codec.decode(&mut buf).unwrap().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct ServerCodec {
    decoder: RequestDecoder,
}

impl ServerCodec {
    /// A codec with these limits.
    pub fn new(limits: Limits) -> Self {
        ServerCodec {
            decoder: RequestDecoder::new(limits),
        }
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        ServerCodec::new(Limits::default())
    }
}

impl Decoder for ServerCodec {
    type Item = Request;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        self.decoder.decode(src)
    }
}

impl Encoder<&Response> for ServerCodec {
    type Error = ProtocolError;

    fn encode(&mut self, item: &Response, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        encode_response(item, dst);
        Ok(())
    }
}

/// Client side: encodes [`Request`]s, decodes [`Response`]s.
///
/// Every encoded request that memcached always answers (no classic
/// `noreply`, no meta `q`) pushes its [`Command`] on a FIFO; each decoded
/// reply pops one, and the popped command tells [`parse_response`] how to
/// read an ambiguous `END` or number. Replies to quiet requests are not
/// tracked: meta replies parse the same after any command, and pairing
/// them is the caller's job (`O` opaque tokens and an `mn` barrier, as
/// STYLE.md §6 prescribes). Such a reply does not pop a classic command
/// off the FIFO.
///
/// # Examples
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::{Decoder, Encoder};
/// use ringcache_protocol::{ClientCodec, Get, Limits, Request, Response};
///
/// let mut codec = ClientCodec::new(Limits::default());
/// let mut out = BytesMut::new();
/// let get = Request::Get(Get { keys: vec![Bytes::from_static(b"k")] });
/// codec.encode(&get, &mut out).unwrap();
/// assert_eq!(&out[..], b"get k\r\n");
/// let mut input = BytesMut::from(&b"END\r\n"[..]);
/// assert_eq!(codec.decode(&mut input).unwrap(), Some(Response::Values(vec![])));
/// ```
#[derive(Debug, Clone)]
pub struct ClientCodec {
    limits: Limits,
    in_flight: VecDeque<Command>,
}

impl ClientCodec {
    /// A codec accepting values up to `limits`' item size.
    pub fn new(limits: Limits) -> Self {
        ClientCodec {
            limits,
            in_flight: VecDeque::new(),
        }
    }

    /// Requests sent and not yet answered (tracked ones only).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// Whether memcached may withhold the reply to `request`.
fn may_be_silent(request: &Request) -> bool {
    use crate::response::Response as R;
    // Any reply that some outcome suppresses: test with an outcome each
    // rule covers.
    request.suppresses(&R::Stored)
        || request.suppresses(&R::Meta(crate::response::MetaReply::new(
            crate::response::MetaStatus::Hd,
            crate::meta::FlagOrder::new(),
        )))
        || request.suppresses(&R::Meta(crate::response::MetaReply::new(
            crate::response::MetaStatus::En,
            crate::meta::FlagOrder::new(),
        )))
}

impl Encoder<&Request> for ClientCodec {
    type Error = ProtocolError;

    fn encode(&mut self, item: &Request, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        encode_request(item, dst);
        if let Some(command) = item.command() {
            let silent = may_be_silent(item) || matches!(item, Request::Quit);
            if !silent && !matches!(item, Request::Invalid(_) | Request::TooLarge(_)) {
                self.in_flight.push_back(command);
            }
        }
        Ok(())
    }
}

impl Decoder for ClientCodec {
    type Item = Response;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Response>, ProtocolError> {
        let expected = self.in_flight.front().copied().unwrap_or(Command::MetaNoop);
        let Some((response, _)) = parse_response(src, expected, &self.limits)? else {
            return Ok(None);
        };
        let is_meta_status = matches!(response, Response::Meta(_));
        let front_is_meta = matches!(
            expected,
            Command::MetaGet | Command::MetaSet | Command::MetaDelete | Command::MetaArithmetic
        );
        // a meta status with a classic command in front answers a quiet
        // request that was not tracked
        if !is_meta_status || front_is_meta {
            self.in_flight.pop_front();
        }
        Ok(Some(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Get, MetaGet, MetaGetFlags, Stats};
    use bytes::Bytes;

    #[test]
    fn client_pairs_ambiguous_replies_fifo() {
        let mut c = ClientCodec::new(Limits::default());
        let mut out = BytesMut::new();
        let get = Request::Get(Get {
            keys: vec![Bytes::from_static(b"k")],
        });
        let quiet = Request::MetaGet(MetaGet {
            key: Bytes::from_static(b"q"),
            flags: MetaGetFlags {
                quiet: true,
                ..MetaGetFlags::default()
            },
        });
        let stats = Request::Stats(Stats {
            group: Some(Bytes::from_static(b"slabs")),
            args: vec![],
        });
        for r in [&get, &quiet, &stats, &Request::MetaNoop] {
            c.encode(r, &mut out).unwrap();
        }
        assert_eq!(c.in_flight(), 3);
        // the quiet mg's hit (HD) arrives between the get and the stats
        let mut input = BytesMut::from(&b"END\r\nHD\r\nEND\r\nMN\r\n"[..]);
        assert_eq!(
            c.decode(&mut input).unwrap(),
            Some(Response::Values(vec![]))
        );
        assert!(matches!(
            c.decode(&mut input).unwrap(),
            Some(Response::Meta(_))
        ));
        assert_eq!(c.decode(&mut input).unwrap(), Some(Response::Stats(vec![])));
        assert_eq!(c.decode(&mut input).unwrap(), Some(Response::MetaNoop));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn server_codec_round_trip() {
        let mut s = ServerCodec::default();
        let mut buf = BytesMut::from(&b"get a\r\nset b 0 0 1\r\nx\r\n"[..]);
        assert!(matches!(s.decode(&mut buf).unwrap(), Some(Request::Get(_))));
        assert!(matches!(s.decode(&mut buf).unwrap(), Some(Request::Set(_))));
        assert_eq!(s.decode(&mut buf).unwrap(), None);
        let mut out = BytesMut::new();
        s.encode(&Response::Stored, &mut out).unwrap();
        assert_eq!(&out[..], b"STORED\r\n");
    }
}
