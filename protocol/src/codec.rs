//! tokio-util codecs: thin adapters over [`RequestDecoder`] /
//! [`encode_response`] (server side).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::request::{Request, RequestDecoder};
use crate::response::{encode_response, Response};

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
