//! Routing: key → node handle, on a topology snapshot.
//!
//! The owner is [`Ring::lookup_id`](ringcache_ring::Ring::lookup_id). When
//! the owner is ejected under [`FailurePolicy::Eject`], the key goes to the
//! next node of the ring's replica walk that is up: for the `Xxh3` scheme
//! exactly the node a ring without the ejected node would pick (other
//! nodes' points do not depend on it), and for `Ketama` it keeps every
//! other key in place where rebuilding the ring would renormalise the point
//! counts. Ejecting or restoring a node is one atomic flag: no ring rebuild.

use ringcache_protocol::{Request, Response};
use ringcache_ring::NodeId;

use crate::config::FailurePolicy;
use crate::dispatch::{classify, Kind};
use crate::error::Error;
use crate::health::NodeState;
use crate::key::{routing_key, validate_key};
use crate::metrics::HOT_READS_TOTAL;
use crate::placement::Placement;
use crate::pool::NodeHandle;
use crate::topology::Topology;
use crate::Client;

/// Where a key goes.
#[derive(Debug)]
pub(crate) enum Route<'a> {
    /// Send to this node.
    Up(&'a NodeHandle),
    /// The owner is ejected under [`FailurePolicy::FastMiss`]: answer now.
    FastMiss(&'a NodeHandle),
}

/// Where a key goes, as indexes into a topology's handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    /// The owner, in service.
    Owner(usize),
    /// The owner, ejected under [`FailurePolicy::FastMiss`].
    FastMiss(usize),
    /// The owner is ejected under [`FailurePolicy::Eject`]: the next node
    /// of the replica walk that is up.
    Failover(usize),
}

impl Topology {
    /// Routes `key` (already validated).
    #[inline]
    pub(crate) fn route(&self, key: &[u8], policy: FailurePolicy) -> Result<Route<'_>, Error> {
        let (i, fast_miss) = match self.route_index(key, policy)? {
            Routed::Owner(i) | Routed::Failover(i) => (i, false),
            Routed::FastMiss(i) => (i, true),
        };
        let h = self.handles.get(i).ok_or(Error::NoNodes)?;
        Ok(if fast_miss {
            Route::FastMiss(h)
        } else {
            Route::Up(h)
        })
    }

    /// Routes `key` to an index into `handles`.
    #[inline]
    pub(crate) fn route_index(&self, key: &[u8], policy: FailurePolicy) -> Result<Routed, Error> {
        let id = self.ring.lookup_id(key).ok_or(Error::NoNodes)?;
        if !self.is_ejected(id) {
            return Ok(Routed::Owner(id.index()));
        }
        match policy {
            FailurePolicy::FastMiss => Ok(Routed::FastMiss(id.index())),
            FailurePolicy::Eject => self.failover(key),
        }
    }

    #[cold]
    fn failover(&self, key: &[u8]) -> Result<Routed, Error> {
        self.ring
            .replica_ids(key, self.handles.len())
            .skip(1)
            .find(|&id| !self.is_ejected(id))
            .map(|id| Routed::Failover(id.index()))
            .ok_or(Error::NoNodes)
    }

    #[inline]
    fn is_ejected(&self, id: NodeId) -> bool {
        // Ids come from this snapshot's ring, so the handle exists.
        self.handles.get(id.index()).is_none_or(|h| h.is_ejected())
    }
}

impl Client {
    /// The name of the node `key` is routed to now: the ring's owner, or
    /// the failover node while the owner is ejected under
    /// [`FailurePolicy::Eject`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] for a key memcached would refuse;
    /// [`Error::NoNodes`] when no node can take it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// println!("user:42 lives on {}", client.node_for("user:42")?);
    /// # Ok(()) }
    /// ```
    pub fn node_for(&self, key: impl AsRef<[u8]>) -> Result<String, Error> {
        let key = key.as_ref();
        validate_key(key)?;
        let topology = self.inner.topology.load();
        let name = match topology.route(key, self.inner.config.failure_policy)? {
            Route::Up(h) | Route::FastMiss(h) => h.name().to_owned(),
        };
        Ok(name)
    }

    /// The handle of the node `key` is routed to (see [`Client::node_for`]),
    /// for sending it requests of one's own with [`NodeHandle::call`].
    ///
    /// # Errors
    ///
    /// As [`Client::node_for`].
    pub fn handle_for(&self, key: impl AsRef<[u8]>) -> Result<NodeHandle, Error> {
        let key = key.as_ref();
        validate_key(key)?;
        let topology = self.inner.topology.load();
        match topology.route(key, self.inner.config.failure_policy)? {
            Route::Up(h) | Route::FastMiss(h) => Ok(h.clone()),
        }
    }

    /// Sends `request`, routed by `key`, and returns its raw reply: the
    /// lower-level entry point under the typed methods, for commands they
    /// do not cover (meta commands with leases, say). Single-key requests
    /// get replicas, warm-up and repair exactly as the typed methods
    /// (`dispatch.rs`); any other request goes to `key`'s first node.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`], [`Error::NoNodes`];
    /// [`Error::NodeDown`] at once when the key's nodes are ejected under
    /// [`FailurePolicy::FastMiss`]; otherwise as [`NodeHandle::call`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use bytes::Bytes;
    /// use ringcache_protocol::{MetaGet, MetaGetFlags, Request};
    ///
    /// let flags = MetaGetFlags { value: true, ttl: Some(30), ..MetaGetFlags::default() };
    /// let request = Request::MetaGet(MetaGet { key: Bytes::from_static(b"k"), flags });
    /// let reply = client.execute_on("k", request).await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute_on(
        &self,
        key: impl AsRef<[u8]>,
        mut request: Request,
    ) -> Result<Response, Error> {
        let key = key.as_ref();
        validate_key(key)?;
        let placement = self.place_request(key, &mut request)?;
        self.run(placement, request).await
    }

    /// Executes a single-key request (any storage, read, delete,
    /// arithmetic, touch or meta command naming one key), routed by its
    /// own key, with replicas, warm-up and repair: what the proxy runs for
    /// every single-key command. Keys the text protocol cannot carry
    /// (decoded from a meta command's base64 form) route by the fixed rule
    /// of [`Client::execute_read`].
    ///
    /// # Errors
    ///
    /// [`Error::Client`] for a request that does not name exactly one key;
    /// otherwise as [`Client::execute_on`].
    pub async fn execute(&self, mut request: Request) -> Result<Response, Error> {
        let Some((_, key)) = classify(&request) else {
            return Err(Error::Client(
                "execute takes a request naming one key".into(),
            ));
        };
        // The key borrows the request: place first, and only a write
        // routed around an ejected node (cold) copies the routing key to
        // journal and cap the request.
        let (placement, around) = {
            let route = routing_key(key);
            let placement = self.place(&route)?;
            let around = placement.routes_around().then(|| route.into_owned());
            (placement, around)
        };
        let placement = match around {
            Some(route) => self.fail_over(&route, placement, &mut request)?,
            None => placement,
        };
        self.run(placement, request).await
    }

    /// Places a routing key on the current topology.
    pub(crate) fn place(&self, route: &[u8]) -> Result<Placement, Error> {
        self.inner.topology.load().place(route, &self.inner.config)
    }

    /// Runs `request` over `placement`: the hot-key near cache for plain
    /// reads, then [`dispatch`](Client::dispatch).
    pub(crate) async fn run(
        &self,
        placement: Placement,
        request: Request,
    ) -> Result<Response, Error> {
        let Some((kind, key)) = classify(&request) else {
            let h = placement.primary().ok_or_else(|| placement.unavailable())?;
            return h.call(request).await;
        };
        let key = key.clone();
        let hot = self.inner.hot_reads_on() && kind == Kind::PlainRead && self.record_read(&key);
        // The near cache's futures are boxed, and made only when it is on:
        // inline, they would make every request's future (moved at each
        // level of the call) about 1.2 KB larger.
        let near = self.inner.hot.near_enabled();
        if hot {
            if near {
                if let Some(value) = Box::pin(self.inner.hot.near_get(&key)).await {
                    return Ok(Response::Values(vec![value]));
                }
            }
            metrics::counter!(HOT_READS_TOTAL, "kind" => "node").increment(1);
        } else if near && kind != Kind::PlainRead && kind != Kind::ExactRead {
            Box::pin(self.inner.hot.invalidate(&key)).await;
        }
        let response = self.dispatch(placement, kind, &key, request, hot).await?;
        if hot && near {
            if let Response::Values(values) = &response {
                if let Some(value) = values.first() {
                    Box::pin(self.inner.hot.near_put(value)).await;
                }
            }
        }
        Ok(response)
    }

    /// Counts one plain read of `key` for hot-key detection; whether the
    /// key is hot now.
    pub(crate) fn record_read(&self, key: &[u8]) -> bool {
        self.inner.hot.record(key)
    }

    /// Every node of the current topology, in name order.
    pub fn node_handles(&self) -> Vec<NodeHandle> {
        self.inner.topology.load().handles.clone()
    }

    /// Every node's name and state, in name order.
    pub fn node_states(&self) -> Vec<(String, NodeState)> {
        self.inner
            .topology
            .load()
            .handles
            .iter()
            .map(|h| (h.name().to_owned(), h.state()))
            .collect()
    }

    /// The current membership ring's [`digest`](ringcache_ring::Ring::digest):
    /// clients (and proxies) with equal digests place every key alike.
    /// Ejections do not change it (they are local and temporary).
    pub fn ring_digest(&self) -> u64 {
        self.inner.topology.load().ring.digest()
    }

    /// The current membership: nodes in name order.
    pub fn nodes(&self) -> Vec<ringcache_ring::Node> {
        self.inner.topology.load().ring.nodes().to_vec()
    }
}
