//! The crate's one error type.
//!
//! Bad *requests* are not errors: they parse to [`Request::Invalid`] or
//! [`Request::TooLarge`] so the server can answer as memcached does (see
//! [`Rejection`]). `ProtocolError` is for what a connection cannot recover
//! from: I/O failures in the codecs, and replies from a server that do not
//! follow the protocol (the client cannot find the next reply boundary).
//!
//! [`Request::Invalid`]: crate::Request::Invalid
//! [`Request::TooLarge`]: crate::Request::TooLarge
//! [`Rejection`]: crate::Rejection

use std::io;

/// A condition after which the connection cannot continue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line from the server that this crate cannot parse.
    #[error("malformed reply from server: {0}")]
    BadResponse(&'static str),
    /// A reply line longer than the client accepts without a newline.
    #[error("reply line longer than {max} bytes")]
    ResponseLineTooLong {
        /// The bound that was passed.
        max: usize,
    },
    /// A value block in a reply larger than the client accepts.
    #[error("reply value of {len} bytes exceeds {max}")]
    ValueTooLarge {
        /// Announced length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A `lru_crawler metadump` reply longer than one reply may be: read
    /// large dumps line by line with a [`DumpDecoder`](crate::DumpDecoder).
    #[error("metadump reply longer than {max} bytes: read it with a DumpDecoder")]
    DumpTooLarge {
        /// The bound that was passed.
        max: usize,
    },
    /// The underlying transport failed (codecs only).
    #[error(transparent)]
    Io(#[from] io::Error),
}
