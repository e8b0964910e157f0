//! Requests memcached answers with an error (or a closed connection)
//! without executing anything.

use bytes::Bytes;

use crate::request::Command;
use crate::response::Response;

/// Why a request line was refused; each maps to memcached 1.6.18's exact
/// reply (see [`Reason::message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// `ERROR`: unknown command, or a known one with the wrong token count.
    UnknownCommand,
    /// `CLIENT_ERROR bad command line format`.
    BadCommandLineFormat,
    /// `CLIENT_ERROR bad data chunk`: the data block did not end in CRLF.
    BadDataChunk,
    /// `CLIENT_ERROR invalid exptime argument` (`touch`, `gat`, `flush_all`).
    InvalidExptime,
    /// `CLIENT_ERROR invalid numeric delta argument` (`incr`, `decr`).
    InvalidDelta,
    /// `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]`.
    DeleteUsage,
    /// `CLIENT_ERROR invalid flag` (meta: unknown flag letter).
    InvalidFlag,
    /// `CLIENT_ERROR duplicate flag` (meta: repeated letter or byte ≥ 127).
    DuplicateFlag,
    /// `CLIENT_ERROR invalid or duplicate flag` (`md`, `ma`: any flag error).
    InvalidOrDuplicateFlag,
    /// `CLIENT_ERROR bad token in command line format` (meta: bad `N T R C`).
    BadToken,
    /// `CLIENT_ERROR error decoding key` (meta `b` with a bad key).
    KeyDecoding,
    /// `CLIENT_ERROR options flags are too long` (`mg`: over 20 tokens).
    GetOptionsTooLong,
    /// `CLIENT_ERROR options flags too long` (`ms md ma`: over 20 tokens).
    OptionsTooLong,
    /// `CLIENT_ERROR opaque token too long` (`O` over 32 bytes).
    OpaqueTooLong,
    /// `CLIENT_ERROR incorrect length for M token`.
    ModeLength,
    /// `CLIENT_ERROR invalid mode for ms M token`.
    InvalidSetMode,
    /// `CLIENT_ERROR invalid mode for ma M token`.
    InvalidArithmeticMode,
    /// `CLIENT_ERROR invalid numeric initial value` (`J`).
    InvalidInitial,
    /// `CLIENT_ERROR invalid numeric delta value` (`D`).
    InvalidDeltaValue,
    /// No reply; close the connection: more than 2048 bytes arrived without
    /// a newline and the line is not a `get`/`gets`.
    LineTooLong,
    /// No reply; close: a `get`/`gets` line passed
    /// [`Limits::max_multiget_line`](crate::Limits::max_multiget_line)
    /// (ringcache's bound; memcached has none).
    MultigetTooLong,
    /// No reply; close: an unknown command whose last token starts with
    /// `HTTP/` (memcached drops HTTP clients).
    Http,
}

impl Reason {
    /// The reply line without CRLF, or `None` when the connection closes
    /// without a reply.
    pub fn message(self) -> Option<&'static str> {
        Some(match self {
            Reason::UnknownCommand => "ERROR",
            Reason::BadCommandLineFormat => "CLIENT_ERROR bad command line format",
            Reason::BadDataChunk => "CLIENT_ERROR bad data chunk",
            Reason::InvalidExptime => "CLIENT_ERROR invalid exptime argument",
            Reason::InvalidDelta => "CLIENT_ERROR invalid numeric delta argument",
            Reason::DeleteUsage => {
                "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
            }
            Reason::InvalidFlag => "CLIENT_ERROR invalid flag",
            Reason::DuplicateFlag => "CLIENT_ERROR duplicate flag",
            Reason::InvalidOrDuplicateFlag => "CLIENT_ERROR invalid or duplicate flag",
            Reason::BadToken => "CLIENT_ERROR bad token in command line format",
            Reason::KeyDecoding => "CLIENT_ERROR error decoding key",
            Reason::GetOptionsTooLong => "CLIENT_ERROR options flags are too long",
            Reason::OptionsTooLong => "CLIENT_ERROR options flags too long",
            Reason::OpaqueTooLong => "CLIENT_ERROR opaque token too long",
            Reason::ModeLength => "CLIENT_ERROR incorrect length for M token",
            Reason::InvalidSetMode => "CLIENT_ERROR invalid mode for ms M token",
            Reason::InvalidArithmeticMode => "CLIENT_ERROR invalid mode for ma M token",
            Reason::InvalidInitial => "CLIENT_ERROR invalid numeric initial value",
            Reason::InvalidDeltaValue => "CLIENT_ERROR invalid numeric delta value",
            Reason::LineTooLong | Reason::MultigetTooLong | Reason::Http => return None,
        })
    }

    /// The reply as a [`Response`] ([`Response::NoReply`] when closing).
    pub fn response(self) -> Response {
        const CLIENT: &str = "CLIENT_ERROR ";
        match self.message() {
            None => Response::NoReply,
            Some("ERROR") => Response::Error,
            Some(m) => match m.strip_prefix(CLIENT) {
                Some(rest) => Response::ClientError(Bytes::from_static(rest.as_bytes())),
                None => Response::Line(Bytes::from_static(m.as_bytes())),
            },
        }
    }

    /// Whether the connection must be closed (after flushing earlier
    /// replies) instead of answering.
    pub fn closes(self) -> bool {
        self.message().is_none()
    }
}

/// A request memcached refuses before executing it.
///
/// The server answers [`Rejection::response`] unless [`Rejection::noreply`]
/// is set, and closes the connection when [`Rejection::closes`]. The parser
/// has already consumed the offending line (and any data block memcached
/// swallows), so the next request parses normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// What was wrong.
    pub reason: Reason,
    /// memcached would withhold this error: the line was a classic command
    /// whose last token is `noreply` (e.g. `set k x 0 1 noreply` gets no
    /// `CLIENT_ERROR bad command line format`). Never set for meta commands,
    /// whose errors are always sent.
    pub noreply: bool,
    /// The command whose handler refused the line, for stats and metrics
    /// (memcached counts some refused commands, e.g. `flush_all` with a bad
    /// delay). `None` for `ERROR` replies: memcached refuses a wrong token
    /// count before any handler runs, and counts nothing.
    pub command: Option<Command>,
}

impl Rejection {
    /// A rejection that is not withheld. `command` is dropped for
    /// [`Reason::UnknownCommand`] (see [`Rejection::command`]).
    pub fn new(reason: Reason, command: Option<Command>) -> Self {
        Rejection {
            reason,
            noreply: false,
            command: command.filter(|_| reason != Reason::UnknownCommand),
        }
    }

    /// The reply to send (unless withheld).
    pub fn response(&self) -> Response {
        self.reason.response()
    }

    /// Whether to close the connection instead of replying.
    pub fn closes(&self) -> bool {
        self.reason.closes()
    }
}

/// A storage command whose item cannot fit under `-I`.
///
/// memcached answers `SERVER_ERROR object too large for cache` and discards
/// the data block *without buffering it* (the parser does this, see
/// [`Parsed::discard`](crate::Parsed::discard)). It also **removes the
/// existing item** under the key when `unlink` is set, "to avoid stale
/// data": for classic `set` only, and for `ms` in every mode. The executor
/// must do that removal and then reply [`TooLarge::response`].
///
/// Timing: memcached queues the error and writes it only once the whole
/// discarded block has arrived (it flushes when it next waits for a
/// command). The bytes are the same either way; a server that wants the
/// same timing holds the reply while
/// [`RequestDecoder::is_discarding`](crate::RequestDecoder::is_discarding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    /// Which command.
    pub command: Command,
    /// The key (decoded for `ms ... b`).
    pub key: Bytes,
    /// The announced data length (without CRLF).
    pub len: usize,
    /// Remove the current item under `key`.
    pub unlink: bool,
    /// Withhold the error (classic `noreply`; never for `ms`).
    pub noreply: bool,
}

impl TooLarge {
    /// `SERVER_ERROR object too large for cache`.
    pub fn response(&self) -> Response {
        Response::ServerError(Bytes::from_static(b"object too large for cache"))
    }
}
