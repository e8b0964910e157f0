//! The topology: the ring plus one handle per node, an immutable snapshot
//! swapped whole when the membership changes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ringcache_ring::{diff, Node, Ring};

use crate::error::Error;
use crate::metrics::{KEYS_MOVED_RATIO, RING_CHANGES_TOTAL, RING_NODES, WARMUP_ACTIVE};
use crate::pool::NodeHandle;
use crate::warmup::Warmup;
use crate::{Client, Inner};

/// One snapshot: the membership ring and the node handles, indexed by the
/// ring's [`NodeId`](ringcache_ring::NodeId). Never changed once built;
/// request paths load it lock-free from the client's `ArcSwap`.
#[derive(Debug)]
pub(crate) struct Topology {
    pub(crate) ring: Arc<Ring>,
    pub(crate) handles: Vec<NodeHandle>,
    /// The ring before the last change, while its warm-up window (and the
    /// deletes' grace after it) lasts: `warmup.rs`.
    pub(crate) warmup: Option<Arc<Warmup>>,
}

/// What a membership change did, as [`Client::set_nodes`] reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RingChange {
    /// [`Ring::digest`] before the change.
    pub old_digest: u64,
    /// [`Ring::digest`] after it (equal to `old_digest`: nothing changed).
    pub new_digest: u64,
    /// Names of the nodes that joined.
    pub added: Vec<String>,
    /// Names of the nodes that left.
    pub removed: Vec<String>,
    /// Share of the key space that changed owner (`0.0..=1.0`), computed
    /// exactly by [`ringcache_ring::diff`].
    pub moved: f64,
}

impl Topology {
    pub(crate) fn empty(scheme: ringcache_ring::Scheme) -> Result<Topology, Error> {
        Ok(Topology {
            ring: Arc::new(
                Ring::with_scheme([], scheme).map_err(|e| Error::Config(e.to_string()))?,
            ),
            handles: Vec::new(),
            warmup: None,
        })
    }
}

impl Client {
    /// Installs a new node list: builds the new ring, keeps the handles
    /// (and so the open connections and health) of nodes that stay, opens
    /// handles for new nodes, retires the handles of nodes that left, logs
    /// the share of keys moved and swaps the topology in one step. Requests
    /// already routed finish on the old snapshot.
    ///
    /// With [`Config::warmup`](crate::Config::warmup) set, the old ring is
    /// kept for that window: reads of moved keys that miss at their new
    /// owner are answered (and copied) from the old one, deletes reach both
    /// (the `warmup` module docs). The handles of nodes that left stay open
    /// until the window closes.
    ///
    /// Membership is compared by content: the same list (in any order)
    /// changes nothing and returns equal digests.
    ///
    /// Building a ring costs about 0.2 ms per node under
    /// [`Scheme::Xxh3`](ringcache_ring::Scheme::Xxh3); concurrent calls are
    /// applied one at a time.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the ring refuses the list (duplicate or
    /// invalid names, too many points); the old topology stays.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use ringcache_ring::Node;
    ///
    /// let change = client.set_nodes(vec![
    ///     Node::new("10.0.0.5:11211"),
    ///     Node::new("10.0.0.6:11211"),
    ///     Node::new("10.0.0.7:11211"),
    /// ])?;
    /// println!("{:.1}% of the keys moved", change.moved * 100.0);
    /// # Ok(()) }
    /// ```
    pub fn set_nodes(&self, nodes: Vec<Node>) -> Result<RingChange, Error> {
        let config = &self.inner.config;
        self.change_nodes(nodes, config.warmup, config.drain_removed)
    }

    /// [`Client::set_nodes`] with a warm-up window of `window` (zero: none)
    /// and, if `drain_removed`, a background drain walk (`drain.rs`) over
    /// each removed node that is still up.
    pub(crate) fn change_nodes(
        &self,
        nodes: Vec<Node>,
        window: Duration,
        drain_removed: bool,
    ) -> Result<RingChange, Error> {
        let inner = &self.inner;
        let _writer = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = inner.topology.load_full();
        let ring = Ring::with_scheme(nodes, inner.config.scheme)
            .map_err(|e| Error::Config(format!("bad node list: {e}")))?;
        let (old_digest, new_digest) = (old.ring.digest(), ring.digest());
        if old_digest == new_digest {
            return Ok(RingChange {
                old_digest,
                new_digest,
                added: Vec::new(),
                removed: Vec::new(),
                moved: 0.0,
            });
        }
        let existing: HashMap<&str, &NodeHandle> =
            old.handles.iter().map(|h| (h.name(), h)).collect();
        let mut added = Vec::new();
        let handles: Vec<NodeHandle> = ring
            .nodes()
            .iter()
            .map(|node| match existing.get(node.name()) {
                // Same name (a new weight perhaps): keep connections and health.
                Some(&h) => h.clone(),
                None => {
                    added.push(node.name().to_owned());
                    NodeHandle::new(
                        node.clone(),
                        &inner.config,
                        Arc::clone(&inner.coordinator),
                        &inner.runtime,
                    )
                }
            })
            .collect();
        let removed: Vec<String> = old
            .handles
            .iter()
            .filter(|h| ring.id_of(h.name()).is_none())
            .map(|h| h.name().to_owned())
            .collect();
        let moved = diff(&old.ring, &ring).map(|d| d.moved()).unwrap_or(1.0);
        inner.coordinator.set_members(ring.nodes().len());
        for h in old
            .handles
            .iter()
            .filter(|h| removed.iter().any(|r| r == h.name()))
        {
            inner.coordinator.retire(&h.inner);
        }
        tracing::info!(
            nodes = ring.nodes().len(),
            ?added,
            ?removed,
            moved = format_args!("{:.2}%", moved * 100.0),
            digest = format_args!("{new_digest:016x}"),
            "ring changed"
        );
        metrics::gauge!(RING_NODES).set(ring.nodes().len() as f64);
        metrics::gauge!(KEYS_MOVED_RATIO).set(moved);
        metrics::counter!(RING_CHANGES_TOTAL).increment(1);
        let warmup = self.start_warmup(&old, window);
        let walk = drain_removed && warmup.is_some();
        inner.topology.store(Arc::new(Topology {
            ring: Arc::new(ring),
            handles,
            warmup,
        }));
        if walk {
            let leaving = old
                .handles
                .iter()
                .filter(|h| removed.iter().any(|r| r == h.name()))
                .filter(|h| h.state() == crate::NodeState::Up);
            for h in leaving {
                let (client, h) = (self.clone(), h.clone());
                let started = std::time::Instant::now();
                self.inner.runtime.spawn(async move {
                    client.walk(&h, started, window).await;
                });
            }
        }
        Ok(RingChange {
            old_digest,
            new_digest,
            added,
            removed,
            moved,
        })
    }
}

impl Client {
    /// Whether a warm-up window is open: reads of keys that moved in the
    /// last ring change may still be answered by their previous owner.
    pub fn warming(&self) -> bool {
        self.inner
            .topology
            .load()
            .warmup
            .as_ref()
            .is_some_and(|w| w.warming())
    }

    /// A warm-up window from the topology being replaced, and the task that
    /// closes it; `None` when warm-up is off or the old ring was empty.
    fn start_warmup(&self, old: &Topology, window: Duration) -> Option<Arc<Warmup>> {
        let config = &self.inner.config;
        if window.is_zero() || old.handles.is_empty() {
            return None;
        }
        // The longest a copy started inside the window can take: a read, a
        // write and a check, each within the request timeout, and an undo.
        let grace = config.request_timeout * 4;
        let warmup = Arc::new(Warmup::new(
            Arc::clone(&old.ring),
            old.handles.clone(),
            window,
            grace,
        ));
        metrics::gauge!(WARMUP_ACTIVE).set(1.0);
        let client = Arc::downgrade(&self.inner);
        self.inner
            .runtime
            .spawn(close_warmup(client, Arc::downgrade(&warmup)));
        Some(warmup)
    }
}

/// Waits for the end of `warmup`'s grace (it moves earlier when the window
/// ends early), then drops the old ring from the topology if it is still
/// there, closing the handles of nodes that left.
async fn close_warmup(client: Weak<Inner>, warmup: Weak<Warmup>) {
    loop {
        let Some(w) = warmup.upgrade() else {
            // A newer change replaced this window.
            return;
        };
        let end = w.fence_end();
        drop(w);
        tokio::time::sleep_until(end.into()).await;
        let Some(w) = warmup.upgrade() else {
            return;
        };
        if std::time::Instant::now() < w.fence_end() {
            continue;
        }
        let Some(inner) = client.upgrade() else {
            return;
        };
        let _writer = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = inner.topology.load_full();
        if current.warmup.as_ref().is_some_and(|c| Arc::ptr_eq(c, &w)) {
            inner.topology.store(Arc::new(Topology {
                ring: Arc::clone(&current.ring),
                handles: current.handles.clone(),
                warmup: None,
            }));
            metrics::gauge!(WARMUP_ACTIVE).set(0.0);
            tracing::info!("warm-up window closed");
        }
        return;
    }
}
