//! The HTTP endpoint of a ringcache process (`--metrics ADDR:PORT`):
//!
//! | path | what | who |
//! |---|---|---|
//! | `/metrics` | Prometheus text format | every process |
//! | `/health` | `OK`: the process answers (Kubernetes' liveness probe in `deploy/`) | every process |
//! | `/status` | a page drawing the ring: each node's share, health and hit ratio, refreshed every second | the proxy, `ringcache cluster` |
//! | `/status.json` | what the page draws (see `view.rs`) | the proxy, `ringcache cluster` |
//!
//! metrics-exporter-prometheus's own listener serves only `/metrics` and
//! renders without a hook, so ringcache serves its endpoint itself: the
//! recorder is built with [`crate::metrics::prometheus_builder`] and
//! installed by [`install_recorder`], and an [`Endpoint`] (a minimal
//! HTTP/1.1 server, `http.rs`) renders it. Before each render it runs the
//! scrape hooks ([`Endpoint::on_scrape`]), which copy the node's own
//! counters into gauges ([`crate::metrics::NodeMirror`]), so those cost
//! nothing on the request path and are never stale.
//!
//! # Layout
//!
//! - this file: [`Endpoint`] (accept loop, routes, upkeep), [`install_recorder`];
//! - `http.rs`: reading one request head, writing one reply;
//! - `view.rs`: `/status.json`, the proxy's view of the ring;
//! - `page.html`: the status page (one file, inline CSS and JS, no
//!   external resources).
//!
//! # Left out
//!
//! - keep-alive, chunked bodies, compression, TLS, authentication: bind it
//!   to a private address, as one does memcached's port;
//! - the page on a plain node (`/status` answers 404 there): a node has no
//!   ring to draw.

mod http;
mod view;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use ringcache_client::Client;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use self::http::Reply;
use self::view::ClusterView;

/// The status page.
const PAGE: &str = include_str!("page.html");

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (rendering does it too).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A global recorder was already installed.
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
}

type HookFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
type Hook = Box<dyn Fn() -> HookFuture + Send + Sync>;

struct Shared {
    metrics: Mutex<Option<PrometheusHandle>>,
    hooks: Mutex<Vec<Hook>>,
    cluster: Mutex<Option<Arc<ClusterView>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the Prometheus recorder ([`crate::metrics::prometheus_builder`]:
/// duration histograms with buckets), installs it as the process's global
/// recorder and registers every description (node, proxy, client).
/// Only a binary's entry point calls this (tests use local recorders).
///
/// # Errors
///
/// [`EndpointError::Recorder`] when a global recorder is already set.
pub fn install_recorder() -> Result<PrometheusHandle, EndpointError> {
    let recorder = crate::metrics::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| EndpointError::Recorder(e.to_string()))?;
    crate::metrics::describe();
    ringcache_client::metrics::describe_metrics();
    Ok(handle)
}

/// A running HTTP endpoint; it serves until dropped.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ringcache_server::status::{install_recorder, Endpoint};
///
/// let handle = install_recorder()?;
/// let endpoint = Endpoint::bind("127.0.0.1:9150".parse()?).await?;
/// endpoint.serve_metrics(handle);
/// // ... run the node; `GET /metrics` renders what it records.
/// // (`Endpoint::start(addr)` does these three steps.)
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Endpoint {
    /// What a binary's entry point calls for `--metrics ADDR:PORT`:
    /// [`install_recorder`], then [`Endpoint::bind`] serving it.
    ///
    /// # Errors
    ///
    /// As [`install_recorder`] and [`Endpoint::bind`].
    pub async fn start(addr: SocketAddr) -> Result<Endpoint, EndpointError> {
        let handle = install_recorder()?;
        let endpoint = Endpoint::bind(addr).await?;
        endpoint.serve_metrics(handle);
        Ok(endpoint)
    }

    /// Binds `addr` and starts serving (`/metrics` answers 404 until
    /// [`Endpoint::serve_metrics`], `/status` until
    /// [`Endpoint::show_cluster`]). Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`EndpointError::Bind`] when the address cannot be bound.
    pub async fn bind(addr: SocketAddr) -> Result<Endpoint, EndpointError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EndpointError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EndpointError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            metrics: Mutex::new(None),
            hooks: Mutex::new(Vec::new()),
            cluster: Mutex::new(None),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        let upkeep_shared = Arc::clone(&shared);
        let upkeep = tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP_EVERY).await;
                let handle = lock(&upkeep_shared.metrics).clone();
                if let Some(handle) = handle {
                    handle.run_upkeep();
                }
            }
        });
        Ok(Endpoint {
            addr,
            shared,
            tasks: vec![accept, upkeep],
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `handle`'s metrics at `/metrics`.
    pub fn serve_metrics(&self, handle: PrometheusHandle) {
        *lock(&self.shared.metrics) = Some(handle);
    }

    /// Runs `hook` (and awaits its future) before every `/metrics` render,
    /// to copy state into gauges, e.g. [`crate::metrics::NodeMirror::refresh`].
    /// Hooks run on the endpoint's task and must be quick.
    pub fn on_scrape<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        lock(&self.shared.hooks).push(Box::new(move || Box::pin(hook())));
    }

    /// Serves the status page of the cluster `client` routes over.
    pub fn show_cluster(&self, client: Client) {
        *lock(&self.shared.cluster) = Some(Arc::new(ClusterView::new(client)));
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(http::MAX_CONNS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::debug!(%error, "metrics endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = serve_one(stream, &shared).await {
                tracing::debug!(%error, "metrics endpoint: request failed");
            }
        });
    }
}

async fn serve_one(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let head = match tokio::time::timeout(http::IO_TIMEOUT, http::read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) | Err(_) => return Ok(()),
        Ok(Err(error)) => return Err(error),
    };
    let (reply, with_body) = match http::parse_head(&head) {
        None => (Reply::error(400, "bad request"), true),
        Some(h) if h.method != "GET" && h.method != "HEAD" => {
            (Reply::error(405, "only GET and HEAD"), true)
        }
        Some(h) => (route(h.path, shared).await, h.method == "GET"),
    };
    tokio::time::timeout(
        http::IO_TIMEOUT,
        http::write_reply(&mut stream, &reply, with_body),
    )
    .await
    .unwrap_or(Ok(()))
}

async fn route(path: &str, shared: &Shared) -> Reply {
    match path {
        // Cheap on purpose: a liveness probe must not render every series.
        "/health" => Reply::ok("text/plain; charset=utf-8", "OK\n"),
        "/metrics" => {
            let Some(handle) = lock(&shared.metrics).clone() else {
                return Reply::error(404, "metrics are not enabled");
            };
            let pending: Vec<HookFuture> = lock(&shared.hooks).iter().map(|h| h()).collect();
            for hook in pending {
                hook.await;
            }
            Reply::ok("text/plain; version=0.0.4; charset=utf-8", handle.render())
        }
        "/" | "/status" | "/status.json" => {
            let Some(view) = lock(&shared.cluster).clone() else {
                return Reply::error(404, "no status page here: this process has no ring");
            };
            if path == "/status.json" {
                Reply::ok("application/json", view.json().await)
            } else {
                Reply::ok("text/html; charset=utf-8", PAGE)
            }
        }
        _ => Reply::error(404, "not found"),
    }
}
