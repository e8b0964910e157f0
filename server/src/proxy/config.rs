//! `ringcache proxy`'s command line and configuration.
//!
//! ```text
//! ringcache proxy [-p PORT=11311] [-l ADDR=127.0.0.1]
//!                 (--nodes H:P,H:P,... | --nodes-file FILE | --dns NAME:PORT)
//!                 [--ring xxh3|ketama] [--metrics ADDR:PORT] [--config FILE]
//!                 [-c MAXCONNS=1024] [-t THREADS=4] [-I MAX_ITEM_SIZE=1m]
//!                 [--failure-policy eject|fast-miss] [--replicas N=1]
//!                 [--warmup SECS=30] [--no-drain] [--hot-near-ttl MS=0]
//! ```
//!
//! `-I` is the largest item the proxy accepts and reads back; give it the
//! nodes' `-I`.
//!
//! `--config FILE` is the smart client's TOML file
//! ([`ringcache_client::Config::from_toml`]): timeouts, queue bounds,
//! failure policy, scheme, and optionally `nodes`. Flags on the command line
//! win over the file; the node list comes from exactly one of `--nodes`,
//! `--nodes-file`, `--dns`, or else the file's `nodes`. The proxy opens one
//! connection per node per worker thread (`-t`), as mcrouter does, each
//! with up to [`PROXY_MAX_IN_FLIGHT`] requests in flight, unless the file
//! sets `connections_per_node` or `max_in_flight`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};
use ringcache_client::{Config as ClientConfig, FailurePolicy, Membership, Node, Scheme};

use crate::config::ConfigError;

/// Requests a proxy's backend connection holds in flight, unless the
/// config file says (the client library's default is 256 per connection).
pub const PROXY_MAX_IN_FLIGHT: usize = 1024;

/// The client settings a proxy with `threads` worker threads starts from:
/// one connection per node per thread, as mcrouter (on one thread a second
/// connection to a node buys no parallelism and only splits the batches
/// both ends write and read), each holding up to [`PROXY_MAX_IN_FLIGHT`]
/// requests, since it carries every application connection's pipeline
/// (the library's 256 throttled pipelined load).
fn client_defaults(threads: usize) -> ClientConfig {
    let mut client = ClientConfig::default();
    client.connections_per_node = threads.max(1);
    client.max_in_flight = PROXY_MAX_IN_FLIGHT;
    client
}

/// The proxy's default port: memcached's plus 100, so a proxy and a node
/// can share a host with their defaults.
pub const DEFAULT_PROXY_PORT: u16 = 11311;

/// `--ring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RingArg {
    /// xxh3 virtual nodes (ringcache's own placement).
    Xxh3,
    /// libmemcached / twemproxy ketama (MD5), to take over their pools.
    Ketama,
}

/// `--failure-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Route an ejected node's keys to the next node of the ring.
    Eject,
    /// Keep the keys on the node: reads miss, writes fail, until it is back.
    FastMiss,
}

/// The flags of `ringcache proxy`.
#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct ProxyArgs {
    /// TCP port to listen on.
    #[arg(short = 'p', long = "port", default_value_t = DEFAULT_PROXY_PORT)]
    pub port: u16,
    /// Interface to listen on.
    #[arg(short = 'l', long = "listen", default_value = "127.0.0.1")]
    pub listen: String,
    /// The cache nodes, `host:port` separated by commas.
    #[arg(long = "nodes", value_delimiter = ',', conflicts_with_all = ["nodes_file", "dns"])]
    pub nodes: Vec<String>,
    /// A nodes file (one `host:port [weight]` per line), re-read live.
    #[arg(long = "nodes-file", conflicts_with = "dns")]
    pub nodes_file: Option<PathBuf>,
    /// A DNS name whose addresses are the nodes, re-resolved live.
    #[arg(long = "dns", value_name = "NAME:PORT")]
    pub dns: Option<String>,
    /// Placement scheme (default xxh3, or the config file's `scheme`).
    #[arg(long = "ring", value_enum)]
    pub ring: Option<RingArg>,
    /// What to do with a failing node (default eject).
    #[arg(long = "failure-policy", value_enum)]
    pub failure_policy: Option<PolicyArg>,
    /// Max simultaneous client connections.
    #[arg(short = 'c', long = "conn-limit", default_value_t = 1024)]
    pub max_conns: usize,
    /// Number of worker threads (1: a single-threaded runtime).
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    pub threads: usize,
    /// Max item size, as the nodes' `-I` (default 1m, or the config file's
    /// `max_item_size`).
    #[arg(short = 'I', long = "max-item-size")]
    pub max_item_size: Option<String>,
    /// Nodes that hold each key, 1 to 4 (default 1, or the config file's
    /// `replicas`): writes reach all, reads fall through them.
    #[arg(long = "replicas")]
    pub replicas: Option<usize>,
    /// Seconds after a ring change during which moved keys are read from
    /// (and copied from) their previous owner; 0 turns warm-up off
    /// (default 30, or the config file's `warmup_ms`).
    #[arg(long = "warmup", value_name = "SECS")]
    pub warmup: Option<u64>,
    /// Do not walk a node that leaves the node list while still up (by
    /// default its items are copied to their new owners during the
    /// warm-up window).
    #[arg(long = "no-drain")]
    pub no_drain: bool,
    /// Milliseconds a hot key's value may be served from the proxy's
    /// memory; 0 never (default 0, or the config file's `hot_near_ttl_ms`).
    #[arg(long = "hot-near-ttl", value_name = "MS")]
    pub hot_near_ttl: Option<u64>,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long = "metrics")]
    pub metrics: Option<SocketAddr>,
    /// The client's TOML configuration (timeouts, failure policy, nodes...).
    #[arg(long = "config")]
    pub config: Option<PathBuf>,
    /// Verbose logging (-v, -vv).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// TLS (-Z with --tls-cert...) and authentication (-Y) on the listener.
    #[command(flatten)]
    pub security: crate::tls::SecurityArgs,
    /// TLS and credentials towards the nodes (--backend-*).
    #[command(flatten)]
    pub backend: crate::tls::BackendArgs,
}

/// The proxy's resolved configuration.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Interface to listen on.
    pub listen: String,
    /// Port to listen on.
    pub port: u16,
    /// Where the node list comes from.
    pub membership: Membership,
    /// The client's settings (its `nodes` are ignored: `membership` wins).
    pub client: ClientConfig,
    /// Client connections served at once.
    pub max_conns: usize,
    /// Worker threads.
    pub threads: usize,
    /// Prometheus listener.
    pub metrics: Option<SocketAddr>,
    /// `-v` count.
    pub verbose: u8,
    /// TLS and authentication on the listener; off by default.
    pub security: crate::tls::Security,
}

impl ProxyConfig {
    /// A proxy in front of a fixed node list, with the proxy's client
    /// defaults for 4 threads (as `ringcache proxy` without flags), listening
    /// on `127.0.0.1:11311` (tests bind their own listener).
    pub fn with_nodes<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        let nodes = nodes.into_iter().map(Node::new).collect();
        ProxyConfig {
            listen: "127.0.0.1".to_owned(),
            port: DEFAULT_PROXY_PORT,
            membership: Membership::Static(nodes),
            client: client_defaults(4),
            max_conns: 1024,
            threads: 4,
            metrics: None,
            verbose: 0,
            security: crate::tls::Security::default(),
        }
    }

    /// The same configuration with another membership source.
    pub fn membership(mut self, membership: Membership) -> Self {
        self.membership = membership;
        self
    }

    /// The same configuration with another placement scheme.
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.client.scheme = scheme;
        self
    }
}

impl ProxyArgs {
    /// Resolves the flags (reading `--config` if given).
    ///
    /// # Errors
    ///
    /// No node source, an unreadable or invalid `--config`, a bad
    /// `--dns` address, or out-of-range numbers.
    pub fn resolve(&self) -> Result<ProxyConfig, ConfigError> {
        let mut client = client_defaults(self.threads);
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                path: path.clone(),
                source,
            })?;
            client
                .apply_toml(&text)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        if let Some(ring) = self.ring {
            client.scheme = match ring {
                RingArg::Xxh3 => Scheme::Xxh3,
                RingArg::Ketama => Scheme::Ketama,
            };
        }
        if let Some(size) = &self.max_item_size {
            let bytes = crate::config::parse_item_size(size)?;
            client.max_item_size = usize::try_from(bytes).unwrap_or(usize::MAX);
        }
        if let Some(replicas) = self.replicas {
            client.replicas = replicas;
        }
        if let Some(secs) = self.warmup {
            client.warmup = std::time::Duration::from_secs(secs);
        }
        client.drain_removed = !self.no_drain;
        if let Some(ms) = self.hot_near_ttl {
            client.hot_near_ttl = std::time::Duration::from_millis(ms);
        }
        client
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(policy) = self.failure_policy {
            client.failure_policy = match policy {
                PolicyArg::Eject => FailurePolicy::Eject,
                PolicyArg::FastMiss => FailurePolicy::FastMiss,
            };
        }
        let membership = if !self.nodes.is_empty() {
            let nodes: Vec<Node> = self
                .nodes
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(Node::new)
                .collect();
            if nodes.is_empty() {
                return Err(ConfigError::Invalid("--nodes names no node".to_owned()));
            }
            Membership::Static(nodes)
        } else if let Some(path) = &self.nodes_file {
            Membership::file(path.clone())
        } else if let Some(dns) = &self.dns {
            Membership::dns(dns).map_err(|e| ConfigError::Invalid(format!("--dns: {e}")))?
        } else if !client.nodes.is_empty() {
            Membership::Static(client.nodes.clone())
        } else {
            return Err(ConfigError::Invalid(
                "the proxy needs its nodes: --nodes H:P,..., --nodes-file FILE, --dns NAME:PORT, or `nodes` in --config".to_owned(),
            ));
        };
        crate::config::check_threads_and_conns(self.threads, self.max_conns)?;
        self.backend
            .apply(&mut client)
            .map_err(ConfigError::Invalid)?;
        let security = self.security.resolve(&[]).map_err(ConfigError::Invalid)?;
        Ok(ProxyConfig {
            listen: self.listen.clone(),
            port: self.port,
            membership,
            client,
            max_conns: self.max_conns,
            threads: self.threads,
            metrics: self.metrics,
            verbose: self.verbose,
            security,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }

    fn parse(args: &[&str]) -> Result<ProxyConfig, String> {
        let argv = std::iter::once("proxy").chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.proxy.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_static_nodes() {
        let c = parse(&["--nodes", "127.0.0.1:11211,127.0.0.1:11212"]).expect("ok");
        assert_eq!(c.port, 11311);
        assert_eq!(c.listen, "127.0.0.1");
        assert_eq!(c.client.scheme, Scheme::Xxh3);
        assert_eq!(
            c.membership,
            Membership::Static(vec![
                Node::new("127.0.0.1:11211"),
                Node::new("127.0.0.1:11212")
            ])
        );
    }

    #[test]
    fn one_node_source_is_required_and_exclusive() {
        assert!(parse(&[]).expect_err("none").contains("needs its nodes"));
        assert!(parse(&["--nodes", "a:1", "--dns", "x:1"]).is_err());
        assert!(parse(&["--nodes-file", "/x", "--dns", "x:1"]).is_err());
        assert!(parse(&["--dns", "nope"]).is_err());
        let c = parse(&["--dns", "cache.svc:11211"]).expect("dns");
        assert!(matches!(c.membership, Membership::Dns { port: 11211, .. }));
        let c = parse(&["--nodes-file", "/etc/nodes"]).expect("file");
        assert!(matches!(c.membership, Membership::File { .. }));
    }

    #[test]
    fn ring_and_policy_flags() {
        let c = parse(&[
            "--nodes",
            "a:1",
            "--ring",
            "ketama",
            "--failure-policy",
            "fast-miss",
        ])
        .expect("ok");
        assert_eq!(c.client.scheme, Scheme::Ketama);
        assert_eq!(c.client.failure_policy, FailurePolicy::FastMiss);
        assert!(parse(&["--nodes", "a:1", "--ring", "md5"]).is_err());
        let c = parse(&["--nodes", "a:1", "-I", "2m"]).expect("-I");
        assert_eq!(c.client.max_item_size, 2 << 20);
        assert!(parse(&["--nodes", "a:1", "-I", "lots"]).is_err());
    }

    #[test]
    fn config_file_gives_settings_and_nodes_flags_win() {
        let dir = std::env::temp_dir().join(format!("ringcache-proxycfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("proxy.toml");
        std::fs::write(
            &file,
            "nodes = [\"10.0.0.1:11211\"]\nscheme = \"ketama\"\nrequest_timeout_ms = 250\n",
        )
        .expect("write");
        let path = file.display().to_string();
        let c = parse(&["--config", &path]).expect("file nodes");
        assert_eq!(
            c.membership,
            Membership::Static(vec![Node::new("10.0.0.1:11211")])
        );
        assert_eq!(c.client.scheme, Scheme::Ketama);
        assert_eq!(c.client.request_timeout, Duration::from_millis(250));
        let c = parse(&["--config", &path, "--ring", "xxh3", "--nodes", "b:2"]).expect("flags");
        assert_eq!(c.client.scheme, Scheme::Xxh3);
        assert_eq!(c.membership, Membership::Static(vec![Node::new("b:2")]));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn one_connection_per_node_per_thread_unless_the_file_says() {
        let c = parse(&["--nodes", "a:1", "-t", "1"]).expect("-t 1");
        assert_eq!(c.client.connections_per_node, 1);
        assert_eq!(c.client.max_in_flight, PROXY_MAX_IN_FLIGHT);
        let c = parse(&["--nodes", "a:1"]).expect("default -t");
        assert_eq!(c.client.connections_per_node, c.threads);
        let dir = std::env::temp_dir().join(format!("ringcache-proxyconns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("proxy.toml");
        std::fs::write(&file, "connections_per_node = 3\nmax_in_flight = 64\n").expect("write");
        let path = file.display().to_string();
        let c = parse(&["--nodes", "a:1", "-t", "1", "--config", &path]).expect("file");
        assert_eq!(c.client.connections_per_node, 3);
        assert_eq!(c.client.max_in_flight, 64);
        std::fs::remove_dir_all(&dir).ok();
    }
}
