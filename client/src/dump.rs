//! [`NodeHandle::metadump`]: every item a node holds, with its last-access
//! time, from memcached's `lru_crawler metadump` (a ringcache node answers
//! it too). The client uses it to drain a leaving node (copy its most
//! recently used items to their new owners) and to hand off the keys a
//! joining node takes over.
//!
//! # Why a connection of its own
//!
//! A node with millions of items answers with hundreds of megabytes. The
//! pipelined connections bound every reply to [`Limits::max_frame`] and
//! hold it whole before parsing it, and a long dump would stall the
//! requests queued behind it. So the dump dials its own connection (TLS and
//! credentials as configured), sends `lru_crawler metadump hash`, and reads
//! the reply line by line with a [`DumpDecoder`]: the read buffer never
//! holds more than a read and one line, and only the entries are kept.
//!
//! `hash` rather than `all`: memcached then walks its hash table instead of
//! its LRUs, which protocol.txt says makes it more likely that every item
//! is visited once (LRU reordering can make the LRU walk miss busy items).
//! A ringcache node walks its hash table either way.
//!
//! # Bounds
//!
//! - Entries: at most [`NodeHandle::METADUMP_MAX_ENTRIES`] (or the bound
//!   given to [`NodeHandle::metadump_with_limit`]); past it the dump fails
//!   with [`Error::Client`] and the connection is closed. An entry costs
//!   about 80 bytes plus its key.
//! - Time: each read must make progress within [`Config::request_timeout`]
//!   (the dump as a whole may take longer), connecting within
//!   [`Config::connect_timeout`].
//!
//! The dump does not count for the node's health or request metrics: it is
//! an operator's or rebalancer's call on a node that may be on its way out.
//!
//! [`Limits::max_frame`]: ringcache_protocol::Limits::max_frame
//! [`Config::request_timeout`]: crate::Config::request_timeout
//! [`Config::connect_timeout`]: crate::Config::connect_timeout

use bytes::{Bytes, BytesMut};
use ringcache_protocol::{
    encode_request, Admin, DumpDecoder, DumpEntry, DumpLine, Request, Response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::pool::NodeHandle;

/// Read in chunks of at least this size.
const READ_CHUNK: usize = 64 * 1024;

impl NodeHandle {
    /// The most entries [`NodeHandle::metadump`] collects: about 450 MB of
    /// entries with 20-byte keys (more while the vector grows).
    pub const METADUMP_MAX_ENTRIES: usize = 4_000_000;

    /// Every live item on this node, as `lru_crawler metadump hash` lists
    /// it: key (raw bytes), expiry, last access (unix seconds), CAS unique,
    /// whether it was fetched, and size. The order is the server's (a hash
    /// table walk); sort by [`DumpEntry::last_access`] for most recently
    /// used first.
    ///
    /// Runs on a connection of its own, so it neither waits behind nor
    /// holds up the node's other requests; see the `dump` module docs.
    /// Works against ringcache nodes and memcached 1.6.
    ///
    /// # Errors
    ///
    /// - [`Error::Client`] when the node holds more than
    ///   [`NodeHandle::METADUMP_MAX_ENTRIES`] items (use
    ///   [`NodeHandle::metadump_with_limit`]), or answers
    ///   `CLIENT_ERROR lru crawler disabled`;
    /// - [`Error::Server`] for the other refusals, with the server's line:
    ///   `BUSY currently processing crawler request` (another dump is
    ///   running: retry later), `ERROR` (a server without the command, such
    ///   as the ringcache proxy);
    /// - [`Error::Io`], [`Error::Timeout`] (no progress within the request
    ///   timeout), [`Error::Protocol`] (a line that is not a dump line).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// for node in client.node_handles() {
    ///     let mut items = node.metadump().await?;
    ///     // most recently used first
    ///     items.sort_by(|a, b| b.last_access.cmp(&a.last_access));
    ///     for item in items.iter().take(10) {
    ///         println!("{} {:?} fetched={}", node.name(), item.key, item.fetched);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn metadump(&self) -> Result<Vec<DumpEntry>, Error> {
        self.metadump_with_limit(Self::METADUMP_MAX_ENTRIES).await
    }

    /// [`NodeHandle::metadump`] with a bound of `max_entries` instead of
    /// [`NodeHandle::METADUMP_MAX_ENTRIES`].
    ///
    /// # Errors
    ///
    /// As [`NodeHandle::metadump`]; [`Error::Client`] once the node lists
    /// more than `max_entries` items.
    pub async fn metadump_with_limit(&self, max_entries: usize) -> Result<Vec<DumpEntry>, Error> {
        let settings = &self.inner.settings;
        let node = settings.node.as_str();
        let timeout = self.inner.request_timeout;
        let mut stream = settings.dialer.dial(node).await?;
        let mut wbuf = BytesMut::new();
        encode_request(
            &Request::Admin(Admin {
                command: Bytes::from_static(b"lru_crawler"),
                args: vec![Bytes::from_static(b"metadump"), Bytes::from_static(b"hash")],
            }),
            &mut wbuf,
        );
        tokio::time::timeout(timeout, stream.write_all(&wbuf))
            .await
            .map_err(|_| Error::timeout(node))?
            .map_err(|e| Error::io(node, e))?;
        let mut decoder = DumpDecoder::new();
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut entries = Vec::new();
        loop {
            match decoder.decode(&mut rbuf) {
                Ok(Some(DumpLine::Entry(entry))) => {
                    if entries.len() == max_entries {
                        return Err(Error::Client(format!(
                            "metadump of {node}: more than {max_entries} items (the bound; \
                             NodeHandle::metadump_with_limit takes another)"
                        )));
                    }
                    entries.push(entry);
                    continue;
                }
                Ok(Some(DumpLine::End)) => return Ok(entries),
                Ok(Some(DumpLine::Refused(reply))) => return Err(refused(reply)),
                Ok(None) => {}
                Err(e) => return Err(Error::protocol(node, e.to_string())),
            }
            if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
                rbuf.reserve(READ_CHUNK);
            }
            let read = tokio::time::timeout(timeout, stream.read_buf(&mut rbuf))
                .await
                .map_err(|_| Error::timeout(node))?
                .map_err(|e| Error::io(node, e))?;
            if read == 0 {
                let eof = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a metadump",
                );
                return Err(Error::io(node, eof));
            }
        }
    }
}

/// The error for a reply that refused the dump.
fn refused(reply: Response) -> Error {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    match reply {
        Response::ClientError(m) => Error::Client(text(&m)),
        Response::ServerError(m) | Response::Line(m) => Error::Server(text(&m)),
        Response::Error => Error::Server("ERROR".into()),
        other => Error::Server(format!("{other:?}")),
    }
}
