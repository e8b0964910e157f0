//! `ringcache cluster`: a whole cluster on loopback in one process, for
//! development: N cache nodes and a proxy in front of them.
//!
//! ```text
//! $ ringcache cluster --nodes 3
//! ringcache cluster: 3 nodes + proxy on 127.0.0.1
//!   node 1   127.0.0.1:11211
//!   node 2   127.0.0.1:11212
//!   node 3   127.0.0.1:11213
//!   proxy    127.0.0.1:11311   <- point your memcached client here
//!   metrics  http://127.0.0.1:11411/metrics
//!   status   http://127.0.0.1:11411/status
//! Ctrl-C stops everything.
//! ```
//!
//! Ports: nodes on `--base-port` .. `--base-port + N - 1`, the proxy on
//! `--base-port + 100`, metrics on `--base-port + 200` (or `--metrics`).
//! `--base-port 0` picks free ports (printed). Each node is a full
//! [`Node`] with its own store (`-m` megabytes each) served by its own
//! [`serve_with`] on its own listener; the proxy is a
//! [`Proxy`] over them (`--replicas 2` keeps every key on two nodes).
//! SIGINT/SIGTERM stop the proxy first, then the
//! nodes, each finishing its connections' current batch; the process exits
//! 0.
//!
//! The metrics endpoint is one per process, so the nodes' and the proxy's
//! series add up there (node series carry no node label); per-node numbers
//! are in each node's `stats`.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::task::Poll;

use clap::Args;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::proxy::{Proxy, ProxyConfig, ProxyError};
use crate::{serve_with, Node};

/// Offset of the proxy's port from the base port.
pub const PROXY_PORT_OFFSET: u16 = 100;
/// Offset of the metrics port from the base port.
pub const METRICS_PORT_OFFSET: u16 = 200;

/// The flags of `ringcache cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Number of cache nodes.
    #[arg(long = "nodes", default_value_t = 3)]
    pub nodes: u16,
    /// First node's port; the proxy listens on base+100, metrics on base+200.
    /// 0 picks free ports.
    #[arg(long = "base-port", default_value_t = 11211)]
    pub base_port: u16,
    /// Item memory of each node, in megabytes.
    #[arg(short = 'm', long = "memory-limit", default_value_t = 64)]
    pub memory_mb: u64,
    /// Serve Prometheus metrics here instead of 127.0.0.1:base+200.
    #[arg(long = "metrics")]
    pub metrics: Option<SocketAddr>,
    /// Placement scheme of the proxy's ring.
    #[arg(long = "ring", value_enum)]
    pub ring: Option<crate::proxy::RingArg>,
    /// Nodes that hold each key (1 to 4): the proxy writes to that many
    /// and reads fall through them, so stopping a node loses nothing.
    #[arg(long = "replicas", default_value_t = 1)]
    pub replicas: usize,
    /// Verbose logging (-v, -vv).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The flags are out of range.
    #[error("{0}")]
    Invalid(String),
    /// The proxy refused to start.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// A running local cluster: nodes and proxy, each on its own listener.
/// [`Cluster::shutdown`] stops it; dropping it without that leaves the
/// tasks running until the runtime ends.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<SocketAddr>,
    proxy: SocketAddr,
    proxy_handle: Proxy,
    proxy_stop: CancellationToken,
    nodes_stop: CancellationToken,
    proxy_task: JoinHandle<()>,
    node_tasks: Vec<JoinHandle<()>>,
}

async fn bind(port: u16) -> Result<TcpListener, ClusterError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| ClusterError::Bind {
            addr: format!("127.0.0.1:{port}"),
            source,
        })
}

/// `base + offset`, or 0 (a free port) when `base` is 0.
fn port(base: u16, offset: u16) -> Result<u16, ClusterError> {
    if base == 0 {
        return Ok(0);
    }
    base.checked_add(offset)
        .ok_or_else(|| ClusterError::Invalid(format!("--base-port {base} leaves no room")))
}

impl Cluster {
    /// Binds and starts `args.nodes` nodes and a proxy over them.
    ///
    /// # Errors
    ///
    /// A port already taken, zero nodes, or ports past 65535 (nothing is
    /// left running then).
    pub async fn start(args: &ClusterArgs) -> Result<Cluster, ClusterError> {
        if args.nodes == 0 {
            return Err(ClusterError::Invalid(
                "--nodes must be at least 1".to_owned(),
            ));
        }
        // Bind every port first: a port in use fails the start before
        // anything runs.
        let mut listeners = Vec::new();
        for i in 0..args.nodes {
            listeners.push(bind(port(args.base_port, i)?).await?);
        }
        let proxy_listener = bind(port(args.base_port, PROXY_PORT_OFFSET)?).await?;
        let local = |l: &TcpListener| {
            l.local_addr().map_err(|source| ClusterError::Bind {
                addr: "127.0.0.1".to_owned(),
                source,
            })
        };
        let proxy_addr = local(&proxy_listener)?;
        let nodes = listeners.iter().map(local).collect::<Result<Vec<_>, _>>()?;
        let nodes_stop = CancellationToken::new();
        let mut node_tasks = Vec::new();
        for (listener, addr) in listeners.into_iter().zip(&nodes) {
            let node = Node::new(NodeConfig {
                port: addr.port(),
                memory_mb: args.memory_mb,
                ..NodeConfig::default()
            });
            let config = node.serve_config();
            let stop = nodes_stop.clone().cancelled_owned();
            node_tasks.push(tokio::spawn(serve_with(listener, node, config, stop)));
        }
        let mut config = ProxyConfig::with_nodes(nodes.iter().map(ToString::to_string));
        config.client.replicas = args.replicas;
        if let Some(ring) = args.ring {
            config = config.scheme(match ring {
                crate::proxy::RingArg::Xxh3 => ringcache_client::Scheme::Xxh3,
                crate::proxy::RingArg::Ketama => ringcache_client::Scheme::Ketama,
            });
        }
        let proxy = match Proxy::start(config).await {
            Ok(proxy) => proxy,
            Err(error) => {
                nodes_stop.cancel();
                return Err(error.into());
            }
        };
        let proxy_stop = CancellationToken::new();
        let serve_config = proxy.serve_config();
        let proxy_task = tokio::spawn(serve_with(
            proxy_listener,
            proxy.clone(),
            serve_config,
            proxy_stop.clone().cancelled_owned(),
        ));
        Ok(Cluster {
            nodes,
            proxy: proxy_addr,
            proxy_handle: proxy,
            proxy_stop,
            nodes_stop,
            proxy_task,
            node_tasks,
        })
    }

    /// The nodes' addresses, in port order.
    pub fn nodes(&self) -> &[SocketAddr] {
        &self.nodes
    }

    /// The proxy's address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy
    }

    /// The proxy's executor (its client, ring and counters).
    pub fn proxy(&self) -> &Proxy {
        &self.proxy_handle
    }

    /// Stops the proxy, then the nodes (so no request the proxy accepted
    /// finds its node gone), and waits for every server to finish.
    pub async fn shutdown(self) {
        self.proxy_stop.cancel();
        let _ = self.proxy_task.await;
        self.nodes_stop.cancel();
        for task in self.node_tasks {
            let _ = task.await;
        }
    }
}

/// The endpoints, as printed at start-up.
fn banner(cluster: &Cluster, metrics: Option<SocketAddr>) -> String {
    let mut text = format!(
        "ringcache cluster: {} nodes + proxy on 127.0.0.1\n",
        cluster.nodes.len()
    );
    for (i, addr) in cluster.nodes.iter().enumerate() {
        text.push_str(&format!("  node {:<3} {addr}\n", i + 1));
    }
    text.push_str(&format!(
        "  proxy    {}   <- point your memcached client here\n",
        cluster.proxy
    ));
    if let Some(addr) = metrics {
        text.push_str(&format!("  metrics  http://{addr}/metrics\n"));
        text.push_str(&format!("  status   http://{addr}/status\n"));
    }
    text.push_str("Ctrl-C stops everything.");
    text
}

/// `ringcache cluster`: runs until `shutdown` completes (`main` passes
/// SIGINT/SIGTERM), then stops everything. Exit code 0 on a clean stop.
pub fn run(args: ClusterArgs, shutdown: impl Future<Output = ()> + Send) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("ringcache-cluster")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let metrics = match args.metrics {
            Some(addr) => Some(addr),
            None if args.base_port == 0 => None,
            None => match port(args.base_port, METRICS_PORT_OFFSET) {
                Ok(p) => Some(SocketAddr::from(([127, 0, 0, 1], p))),
                Err(error) => {
                    eprintln!("{error}");
                    return ExitCode::from(64);
                }
            },
        };
        let endpoint = match metrics {
            Some(addr) => match crate::status::Endpoint::start(addr).await {
                Ok(endpoint) => Some(endpoint),
                Err(error) => {
                    eprintln!("{error}");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        let metrics = endpoint.as_ref().map(crate::status::Endpoint::local_addr);
        let cluster = match Cluster::start(&args).await {
            Ok(cluster) => cluster,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(endpoint) = &endpoint {
            endpoint.show_cluster(cluster.proxy().client().clone());
        }
        // Poll the shutdown future once before announcing the endpoints: a
        // signal future installs its handler on first poll, and a SIGTERM
        // sent right after the banner must stop us cleanly, not kill us.
        let mut shutdown = std::pin::pin!(shutdown);
        let fired =
            std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
        println!("{}", banner(&cluster, metrics));
        if !fired {
            shutdown.await;
        }
        tracing::info!("shutting down the cluster");
        cluster.shutdown().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_base() {
        assert_eq!(port(11211, 0).expect("ok"), 11211);
        assert_eq!(port(11211, PROXY_PORT_OFFSET).expect("ok"), 11311);
        assert_eq!(port(0, PROXY_PORT_OFFSET).expect("ok"), 0);
        assert!(port(65500, PROXY_PORT_OFFSET).is_err());
    }
}
