//! The glue between membership sources and [`Client`]: builder hooks and
//! the watcher's sink.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Weak;

use ringcache_ring::Node;

use super::{watch, Membership, MembershipError, MembershipWatcher, NodeSink};
use crate::config::{ClientBuilder, Config};
use crate::error::Error;
use crate::{Client, Inner};

/// Feeds a client through a weak reference: the watcher must not keep a
/// dropped client alive, and stops at the first tick after it is gone.
struct ClientSink {
    client: Weak<Inner>,
}

impl NodeSink for ClientSink {
    fn install(&mut self, nodes: Vec<Node>) -> ControlFlow<()> {
        let Some(inner) = self.client.upgrade() else {
            return ControlFlow::Break(());
        };
        // `set_nodes` logs the change and the moved share itself.
        if let Err(error) = (Client { inner }).set_nodes(nodes) {
            tracing::warn!(%error, "membership change refused; keeping the old ring");
        }
        ControlFlow::Continue(())
    }

    fn is_closed(&self) -> bool {
        self.client.strong_count() == 0
    }
}

impl Client {
    /// Keeps this client's nodes in step with `source`: a background task
    /// re-reads it every interval and calls [`set_nodes`](Client::set_nodes)
    /// when its content differs from the current ring's nodes. See
    /// [`Membership`] for what each source does on failure (the old list
    /// stays).
    ///
    /// Returns `None` for [`Membership::Static`]. Dropping the returned
    /// watcher stops it; [`detach`](MembershipWatcher::detach) it to keep it
    /// running until the client is dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn watch_membership(&self, source: Membership) -> Option<MembershipWatcher> {
        let sink = ClientSink {
            client: std::sync::Arc::downgrade(&self.inner),
        };
        watch(source, self.nodes(), sink)
    }
}

impl ClientBuilder {
    /// Takes the nodes from a file, polled every second: edit it to add or
    /// remove nodes (format in [`Membership::file`]). Replaces any nodes
    /// given before. Call it last: it returns a [`WatchedBuilder`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    /// use ringcache_client::Client;
    ///
    /// let client = Client::builder()
    ///     .request_timeout(Duration::from_millis(200))
    ///     .nodes_file("/etc/ringcache/nodes")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn nodes_file(self, path: impl Into<PathBuf>) -> WatchedBuilder {
        self.membership(Membership::file(path))
    }

    /// Takes the nodes from DNS: `name:port` is re-resolved every 5 s and
    /// every address is a node (a Kubernetes headless service). Replaces
    /// any nodes given before. Call it last: it returns a
    /// [`WatchedBuilder`]; a malformed `name:port` fails its `build`.
    pub fn dns(self, name_port: &str) -> WatchedBuilder {
        WatchedBuilder {
            builder: self,
            source: Membership::dns(name_port),
        }
    }

    /// Takes the nodes from any [`Membership`] source (with its interval).
    pub fn membership(self, source: Membership) -> WatchedBuilder {
        WatchedBuilder {
            builder: self,
            source: Ok(source),
        }
    }
}

/// A [`ClientBuilder`] whose nodes come from a [`Membership`] source.
#[derive(Debug)]
#[must_use]
pub struct WatchedBuilder {
    builder: ClientBuilder,
    source: Result<Membership, MembershipError>,
}

impl WatchedBuilder {
    /// The source's interval, changed (how often the file is polled or the
    /// name re-resolved).
    pub fn interval(mut self, interval: std::time::Duration) -> Self {
        self.source = self.source.map(|s| s.with_interval(interval));
        self
    }

    /// Reads the source once, builds the client on that list, and starts
    /// watching the source for as long as the client lives.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the source gives no list at start (an
    /// unreadable or malformed file, a failed lookup, no address), and as
    /// [`ClientBuilder::build`].
    pub async fn build(self) -> Result<Client, Error> {
        let source = self
            .source
            .map_err(|e| Error::Config(format!("membership: {e}")))?;
        let nodes = source
            .load()
            .await
            .map_err(|e| Error::Config(format!("membership: {e}")))?;
        let config = Config {
            nodes,
            ..self.builder.config().clone()
        };
        let client = ClientBuilder::from_config(config).build().await?;
        if let Some(watcher) = client.watch_membership(source) {
            watcher.detach();
        }
        Ok(client)
    }
}
