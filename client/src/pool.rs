//! One node's handle: its pipelined connections, health and metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ringcache_protocol::{Limits, Request, Response};
use ringcache_ring::Node;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Config;
use crate::conn::{is_pipelinable, Conn, ConnSettings, Job};
use crate::error::Error;
use crate::health::{Coordinator, Health, NodeState};
use crate::journal::Journal;
use crate::metrics::{NodeMetrics, Status, EJECTED, IN_FLIGHT};

/// A cache node as the client holds it: its name and weight, a small pool
/// of pipelined connections ([`Config::connections_per_node`]) and its
/// health. Cheap to clone.
///
/// [`Client`](crate::Client) routes keys to handles; [`NodeHandle::call`]
/// is the lower-level entry point that sends one request to this node,
/// whatever the ring says (cache-aside leases, admin commands, probes).
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub(crate) inner: Arc<NodeInner>,
}

#[derive(Debug)]
pub(crate) struct NodeInner {
    pub(crate) node: Node,
    conns: Vec<Conn>,
    next: AtomicUsize,
    pub(crate) health: Health,
    /// Keys written elsewhere while the node is ejected (`journal.rs`).
    pub(crate) journal: Journal,
    metrics: NodeMetrics,
    pub(crate) coordinator: Arc<Coordinator>,
    /// How the connections dial; `dump.rs` dials its own connection with
    /// it (a metadump reply is too large for the pipelined ones).
    pub(crate) settings: Arc<ConnSettings>,
    pub(crate) request_timeout: std::time::Duration,
    queue_wait: std::time::Duration,
}

impl NodeInner {
    pub(crate) fn reconnect_now(&self) {
        for c in &self.conns {
            c.reconnect_now();
        }
    }
}

/// A request on its way: await [`Pending::wait`] for the reply.
#[derive(Debug)]
pub(crate) struct Pending {
    handle: NodeHandle,
    rx: oneshot::Receiver<Result<Response, Error>>,
    start: Instant,
}

impl NodeHandle {
    /// A handle for `node`, whose connections start connecting at once.
    pub(crate) fn new(
        node: Node,
        config: &Config,
        coordinator: Arc<Coordinator>,
        runtime: &tokio::runtime::Handle,
    ) -> NodeHandle {
        let settings = Arc::new(ConnSettings {
            node: node.name().to_owned(),
            dialer: crate::tls::Dialer::new(config),
            reconnect_backoff: config.reconnect_backoff,
            reconnect_max_backoff: config.reconnect_max_backoff.max(config.reconnect_backoff),
            max_in_flight: config.max_in_flight,
            limits: Limits::default().max_item_size(config.max_item_size),
            in_flight: metrics::gauge!(IN_FLIGHT, "node" => node.name().to_owned()),
        });
        metrics::gauge!(EJECTED, "node" => node.name().to_owned()).set(0.0);
        let node_name = node.name();
        let conns = (0..config.connections_per_node)
            .map(|_| Conn::spawn(Arc::clone(&settings), config.queue_depth, runtime))
            .collect();
        NodeHandle {
            inner: Arc::new(NodeInner {
                metrics: NodeMetrics::new(node_name),
                journal: Journal::new(node_name, config.failover_journal_keys),
                node,
                conns,
                next: AtomicUsize::new(0),
                health: Health::default(),
                coordinator,
                settings,
                request_timeout: config.request_timeout,
                queue_wait: config.queue_wait,
            }),
        }
    }

    /// The node's name (`host:port`), which is also the address dialled.
    pub fn name(&self) -> &str {
        self.inner.node.name()
    }

    /// The node as the ring sees it (name and weight).
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Whether the node is in service or ejected.
    pub fn state(&self) -> NodeState {
        self.inner.health.state()
    }

    #[inline]
    pub(crate) fn is_ejected(&self) -> bool {
        self.inner.health.is_ejected()
    }

    /// Sends `request` to this node on one of its pipelined connections and
    /// waits for the reply, within the request timeout. The outcome counts
    /// for the node's health and metrics. The node is called even when it
    /// is ejected (routing decides that, not the handle).
    ///
    /// Only requests that always get exactly one reply may be sent: replies
    /// are matched to requests in order.
    ///
    /// # Errors
    ///
    /// - [`Error::Client`] for a request that may get no reply or several
    ///   (classic `noreply`, meta `q`, `quit`, `shutdown`);
    /// - [`Error::Overloaded`] when every connection's queue stayed full
    ///   for [`Config::queue_wait`];
    /// - [`Error::NodeDown`] while the connection backs off after a failed
    ///   connect;
    /// - [`Error::Io`], [`Error::Timeout`], [`Error::Protocol`] when the
    ///   request failed on the wire.
    ///
    /// A reply such as `SERVER_ERROR ...` is `Ok`: it is the server's answer.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use ringcache_protocol::{Request, Response};
    ///
    /// for node in client.node_handles() {
    ///     if let Response::Version(v) = node.call(Request::Version).await? {
    ///         println!("{} runs {}", node.name(), String::from_utf8_lossy(&v));
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn call(&self, request: Request) -> Result<Response, Error> {
        if !is_pipelinable(&request) {
            return Err(Error::Client(
                "request may get no reply or several (noreply, quiet mode, quit, shutdown): \
                 it cannot be pipelined"
                    .into(),
            ));
        }
        match self.submit(request).await {
            Ok(pending) => pending.wait().await,
            Err(e) => Err(e),
        }
    }

    /// Queues `request` on the connection chosen round-robin, or on the
    /// next one with room; waits up to `queue_wait` when all are full. The
    /// outcome of a refused submission is recorded here.
    pub(crate) async fn submit(&self, request: Request) -> Result<Pending, Error> {
        let start = Instant::now();
        let deadline = start + self.inner.request_timeout;
        let (tx, rx) = oneshot::channel();
        let mut job = Job {
            request,
            reply: tx,
            deadline,
        };
        let conns = &self.inner.conns;
        let first = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..conns.len() {
            match conns[(first + i) % conns.len()].try_submit(job) {
                Ok(()) => return Ok(self.pending(rx, start)),
                Err(back) => job = back,
            }
        }
        // Every queue is full: wait for room. Boxed, so that the future of
        // every request does not carry this rare one inside it.
        if Box::pin(self.wait_for_room(job, first)).await {
            return Ok(self.pending(rx, start));
        }
        let error = Error::Overloaded {
            node: self.name().to_owned(),
        };
        self.finish(&Err(error.clone()), start);
        Err(error)
    }

    /// Queues `job` on connection `first`, waiting up to `queue_wait` for
    /// room; whether it was queued.
    async fn wait_for_room(&self, job: Job, first: usize) -> bool {
        let conns = &self.inner.conns;
        let wait = self.inner.queue_wait.min(self.inner.request_timeout);
        match conns.get(first % conns.len().max(1)) {
            Some(conn) if !wait.is_zero() => conn.submit(job, wait).await.is_ok(),
            _ => false,
        }
    }

    fn pending(&self, rx: oneshot::Receiver<Result<Response, Error>>, start: Instant) -> Pending {
        Pending {
            handle: self.clone(),
            rx,
            start,
        }
    }

    /// Counts the outcome for metrics and health.
    fn finish(&self, result: &Result<Response, Error>, start: Instant) {
        let status = Status::of(result);
        self.inner
            .metrics
            .record(status, start.elapsed().as_secs_f64());
        let failed = matches!(result, Err(e) if e.is_node_failure());
        self.inner.coordinator.record(&self.inner, failed);
    }
}

impl Pending {
    /// Waits for the reply. The connection's task answers every request by
    /// its deadline (with [`Error::Timeout`] if need be: `conn.rs`), so the
    /// caller keeps no timer of its own.
    pub(crate) async fn wait(self) -> Result<Response, Error> {
        let result = match self.rx.await {
            Ok(result) => result,
            Err(_) => Err(Error::Closed),
        };
        self.handle.finish(&result, self.start);
        result
    }
}
