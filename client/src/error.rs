//! The one error type of the crate.

use std::sync::Arc;

/// Why a client call failed.
///
/// Outcomes the protocol defines are not errors: a miss is `Ok(None)`,
/// `NOT_STORED` / `EXISTS` / `NOT_FOUND` are `Ok` of an outcome enum
/// ([`StoreOutcome`](crate::StoreOutcome), [`CasOutcome`](crate::CasOutcome),
/// ...). An `Err` means the request failed, was refused before it was sent,
/// or the server rejected it.
///
/// `Error` is `Clone` (I/O errors are shared behind an `Arc`) so that one
/// connection failure can be handed to every request it took down.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, writing or reading failed; the connection was closed.
    #[error("i/o error talking to {node}: {source}")]
    Io {
        /// The node's name.
        node: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The connect or request timeout passed. A request that timed out on a
    /// pipelined connection closes that connection (its reply would arrive
    /// out of turn), so the other requests in flight on it fail too.
    #[error("timed out waiting for {node}")]
    Timeout {
        /// The node's name.
        node: String,
    },
    /// The server's reply broke the protocol; the connection was closed.
    #[error("protocol error from {node}: {message}")]
    Protocol {
        /// The node's name.
        node: String,
        /// What was wrong.
        message: String,
    },
    /// The server answered `SERVER_ERROR <message>` (for example `object too
    /// large for cache` or `out of memory storing object`) or `ERROR`.
    #[error("server error: {0}")]
    Server(String),
    /// The server answered `CLIENT_ERROR <message>` (for example `cannot
    /// increment or decrement non-numeric value`), or the client refused a
    /// request it could not send correctly.
    #[error("client error: {0}")]
    Client(String),
    /// The key breaks memcached's key rules; nothing was sent.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The cluster has no node that can take the key (empty node list, or
    /// every node ejected).
    #[error("no node available")]
    NoNodes,
    /// The node is down: ejected under [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss),
    /// or its connection is waiting to reconnect. Nothing was sent.
    #[error("node {node} is down")]
    NodeDown {
        /// The node's name.
        node: String,
    },
    /// Every connection to the node has a full queue; nothing was sent.
    /// Back off and retry, or shed load.
    #[error("node {node} is overloaded: request queues are full")]
    Overloaded {
        /// The node's name.
        node: String,
    },
    /// Building the client failed: a bad node list or configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// The client was shut down while the request was queued.
    #[error("client closed")]
    Closed,
}

impl Error {
    /// Whether trying the same request again may succeed: transport
    /// failures, timeouts, overload and down nodes are; bad keys, server
    /// and client errors, configuration errors are not.
    ///
    /// Note that a timed-out write may have been applied by the server.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_client::Error;
    ///
    /// assert!(Error::Timeout { node: "a:11211".into() }.is_retryable());
    /// assert!(!Error::InvalidKey("key is empty").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Timeout { .. }
                | Error::Protocol { .. }
                | Error::NodeDown { .. }
                | Error::Overloaded { .. }
                | Error::NoNodes
        )
    }

    /// Whether this failure counts against the node's health: the node did
    /// not answer properly (I/O, timeout, broken reply, refused connection,
    /// or a connection still backing off after one). Server replies, bad
    /// keys and local overload do not.
    pub(crate) fn is_node_failure(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Timeout { .. }
                | Error::Protocol { .. }
                | Error::NodeDown { .. }
        )
    }

    pub(crate) fn io(node: &str, source: std::io::Error) -> Error {
        Error::Io {
            node: node.to_owned(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn timeout(node: &str) -> Error {
        Error::Timeout {
            node: node.to_owned(),
        }
    }

    pub(crate) fn protocol(node: &str, message: impl Into<String>) -> Error {
        Error::Protocol {
            node: node.to_owned(),
            message: message.into(),
        }
    }
}
