//! The memcached wire protocol (text and meta commands), both directions,
//! sans-IO over [`bytes`], with tokio-util codecs on top.
//!
//! The compatibility target is memcached 1.6.18 byte for byte: what a
//! request parses to, which error line a bad request gets, what `noreply`
//! and `q` withhold, and when the connection is closed.
//!
//! # Server direction
//!
//! ```
//! use bytes::BytesMut;
//! use ringcache_protocol::{encode_response, Limits, Request, RequestDecoder, Response};
//!
//! let mut decoder = RequestDecoder::new(Limits::default());
//! let mut input = BytesMut::from(&b"set k 0 0 2\r\nhi\r\ndelete k noreply\r\n"[..]);
//! let mut output = BytesMut::new();
//! while let Some(request) = decoder.decode(&mut input).unwrap() {
//!     // an executor would run the request here
//!     let response = match &request {
//!         Request::Set(_) => Response::Stored,
//!         Request::Delete(_) => Response::Deleted,
//!         _ => Response::Error,
//!     };
//!     if !request.suppresses(&response) {
//!         encode_response(&response, &mut output);
//!     }
//! }
//! assert_eq!(&output[..], b"STORED\r\n");
//! ```
//!
//! 1. [`parse_request`] / [`RequestDecoder::decode`] return `Ok(None)`
//!    until a whole frame is buffered, allocating nothing meanwhile. Keys
//!    and values are `Bytes` slices of the frame; a stored value must be
//!    copied by the store so it does not pin the read buffer.
//! 2. Bad input is data, not `Err`: [`Request::Invalid`] carries a
//!    [`Rejection`] (memcached's exact reply, whether `noreply` withholds
//!    it, whether to close), [`Request::TooLarge`] an item over `-I`
//!    (whose data block is discarded unbuffered, and whose key the executor
//!    unlinks for `set`/`ms`).
//! 3. The executor returns a [`Response`]; [`Request::suppresses`] decides
//!    whether it is written (classic `noreply`, meta `q`);
//!    [`encode_response`] writes it.
//!
//! # Client direction
//!
//! [`encode_request`] writes a request; [`parse_response`] reads the reply,
//! given the [`Command`] it answers (only `END` after `stats` or an admin
//! command and bare numbers after `incr`/`decr` need it). [`ClientCodec`]
//! pairs them for tokio with a FIFO of in-flight commands. A
//! `lru_crawler metadump` reply parses to [`Response::MetaDump`] when it
//! fits in one reply; [`DumpDecoder`] reads a dump of any length line by
//! line.
//!
//! # Layout
//!
//! - `request/`: [`Request`] in `mod.rs`; one file per command family
//!   (`get.rs`, `store.rs`, `delete.rs`, `arithmetic.rs`, `touch.rs`,
//!   `admin.rs`) and per meta command (`meta/{get,set,delete,arithmetic,
//!   debug}.rs`), each with its type, parser and tests; `rejection.rs` for
//!   refused input; `parse.rs` frames and dispatches; `encode.rs` writes
//!   requests (client side).
//! - `response/`: [`Response`] and its encoder in `mod.rs`, [`Value`],
//!   [`Stat`], [`MetaReply`] in their files, [`DumpEntry`] and
//!   [`DumpDecoder`] in `dump.rs`, `parse.rs` reads replies (client side).
//! - `text/`: line framing, memcached's tokenizer, its `strtol`-style number
//!   parsing, integer formatting.
//! - `meta/`: flag order, mode switches, base64 keys.
//! - `limits.rs`: [`Limits`]; `codec.rs`: tokio-util codecs; `error.rs`.
//!
//! # Left out
//!
//! The binary protocol, SASL/`-Y` authentication, UDP framing, and
//! typed requests for memcached's admin verbs: they are passed through as
//! [`Request::Admin`] (`cache_memlimit`, `lru`, `lru_crawler`, `slabs`,
//! `watch`, `extstore`, `refresh_certs`) for the executor to interpret.
//! Their replies are one line ([`Response::Ok`], [`Response::Line`]...),
//! except `lru_crawler metadump`'s, which has its own
//! [`Response::MetaDump`]. Meta flags newer than 1.6.18
//! (`E`, `x`, lowercase modes) are refused, as 1.6.18 refuses them.
//!
//! # Known differences from memcached 1.6.18
//!
//! Where memcached's behaviour depends on timing or on side effects it
//! performs before failing, this crate picks the deterministic reading:
//! - a command line longer than 2048 bytes is parsed when its newline is
//!   already buffered and closes the connection otherwise; memcached does
//!   the same, so the outcome depends on how the bytes arrive (for both);
//! - `get`/`gets` lines are bounded by [`Limits::max_multiget_line`]
//!   (memcached has no bound);
//! - `mg`/`ma` with an `O` token over 32 bytes are refused before
//!   executing; memcached sends the same error, but `ma` has applied its
//!   delta by then and `mg` the `T`/`N` flags written before the `O`;
//! - `SERVER_ERROR object too large for cache` is available at once;
//!   memcached writes it after the discarded block has arrived.

mod codec;
mod error;
mod limits;
pub mod meta;
mod request;
mod response;
mod text;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testing;

pub use crate::codec::{ClientCodec, ServerCodec};
pub use crate::error::ProtocolError;
pub use crate::limits::{Limits, ITEM_HEADER_LEN, MAX_KEY_LEN, MAX_LINE_LEN};
pub use crate::meta::{ArithmeticMode, FlagOrder, SetMode};
pub use crate::request::{
    encode_request, parse_request, Admin, Arithmetic, Cas, Command, Delete, FlushAll, Gat, Get,
    MetaArithmetic, MetaArithmeticFlags, MetaDebug, MetaDelete, MetaDeleteFlags, MetaGet,
    MetaGetFlags, MetaSet, MetaSetFlags, Parsed, Reason, Rejection, Request, RequestDecoder,
    Shutdown, Stats, Store, TooLarge, Touch, Verbosity,
};
pub use crate::response::{
    encode_response, parse_response, DumpDecoder, DumpEntry, DumpLine, MetaDebugReply, MetaReply,
    MetaStatus, Response, ReturnValues, Stat, StatValue, Value,
};
