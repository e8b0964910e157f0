//! Every knob of the client, its default, the builder and the TOML file.

use std::path::Path;
use std::time::Duration;

use ringcache_ring::{Node, Scheme};
use serde::Deserialize;

use crate::auth::Credentials;
use crate::error::Error;
use crate::failover::MAX_RELATIVE_EXPTIME;
use crate::placement::MAX_REPLICAS;
use crate::tls::TlsConfig;
use crate::Client;

/// What the client does with a node that failed
/// [`failure_threshold`](ClientBuilder::failure_threshold) times in a row.
///
/// Either way the node comes back only after an active probe (`version` on a
/// fresh connection) succeeds; probes back off exponentially from
/// [`probe_interval`](ClientBuilder::probe_interval) to
/// [`probe_max_interval`](ClientBuilder::probe_max_interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Route the node's keys to the next node of the ring's replica walk
    /// (twemproxy's `auto_eject_hosts`, libmemcached's and mcrouter's
    /// failover). Keeps the hit rate up while the node is away.
    ///
    /// What the node still holds when it returns would be stale (writes
    /// went to the failover node meanwhile), so every write routed around
    /// it is first recorded in its **failover journal**, and before it is
    /// taken back the journaled keys are deleted on it (or, when the
    /// journal overflowed [`failover_journal_keys`](Config::failover_journal_keys),
    /// the node is flushed); writes landing on the failover node get their
    /// TTL capped at [`failover_ttl`](Config::failover_ttl), so the copies
    /// left there expire. This covers the writes made through *this*
    /// client (or proxy) only; docs/hardening.md ("Stale reads after an
    /// ejection") lists exactly what it does not cover.
    #[default]
    Eject,
    /// Keep the node's keys on it and answer at once without a round trip:
    /// reads miss (`Ok(None)`, `get_many` lists them as failed), writes fail
    /// with [`Error::NodeDown`]. No key moves; the cost is misses (and load
    /// on the backing store) while it is away. A write refused meanwhile (a
    /// `delete` after a database update, say) is still recorded in the
    /// node's failover journal, so the value it meant to replace is
    /// deleted on the node before the node is taken back (with more than
    /// one replica, the same for the writes that reached only the others).
    FastMiss,
}

/// The client's settings, every field with a default ([`Config::default`]).
///
/// Build one through [`Client::builder`] or read one from TOML with
/// [`Config::from_toml`] / [`Client::from_config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The cache nodes (name `host:port`, weight). Default: none.
    pub nodes: Vec<Node>,
    /// Placement scheme of the ring. Default: [`Scheme::Xxh3`].
    pub scheme: Scheme,
    /// Pipelined TCP connections per node. Default: 2.
    pub connections_per_node: usize,
    /// Bound on one TCP connect. Default: 1 s.
    pub connect_timeout: Duration,
    /// Bound on one request, from the moment it is queued until its reply
    /// is read. Default: 1 s.
    pub request_timeout: Duration,
    /// Requests written and not yet answered on one connection. Further
    /// requests wait in the connection's queue. Default: 256.
    pub max_in_flight: usize,
    /// Requests waiting in one connection's queue. Default: 1024.
    pub queue_depth: usize,
    /// How long a request waits for room when every queue of its node is
    /// full, before failing with [`Error::Overloaded`] (never longer than
    /// the request timeout). Zero fails at once. Default: 100 ms.
    pub queue_wait: Duration,
    /// First wait before reconnecting after a failed connect; doubles up to
    /// `reconnect_max_backoff`. Requests arriving meanwhile fail at once
    /// with [`Error::NodeDown`]. Default: 50 ms.
    pub reconnect_backoff: Duration,
    /// Longest wait between reconnects. Default: 2 s.
    pub reconnect_max_backoff: Duration,
    /// What to do with a failing node. Default: [`FailurePolicy::Eject`].
    pub failure_policy: FailurePolicy,
    /// Consecutive failures (I/O errors, timeouts, broken replies) that
    /// take a node out. Default: 3.
    pub failure_threshold: u32,
    /// First wait before probing an ejected node; doubles after each failed
    /// probe. Default: 500 ms.
    pub probe_interval: Duration,
    /// Longest wait between probes. Default: 30 s.
    pub probe_max_interval: Duration,
    /// Most of the nodes (a fraction, `0.0..=1.0`) that may be out at once;
    /// a node that would pass it stays in and keeps failing, so a network
    /// blip cannot empty the ring. Default: 0.5.
    pub max_ejected_share: f64,
    /// Largest value accepted in a reply (memcached's `-I`). Default: 1 MiB.
    pub max_item_size: usize,
    /// TLS to the nodes. Default: none (plain TCP).
    pub tls: Option<TlsConfig>,
    /// memcached `-Y` credentials, sent on every new connection. Default:
    /// none.
    pub credentials: Option<Credentials>,
    /// Nodes that hold each key (`1..=4`): writes go to the first
    /// `replicas` healthy nodes of the key's replica walk, reads to the
    /// first and fall through the others on a miss or a failure, deletes
    /// reach all of them. Default: 1 (no replication).
    pub replicas: usize,
    /// How long after a ring change a read whose key moved may still be
    /// answered from (and copied from) its previous owner: see the
    /// `warmup` module docs. Ends early once the new owners answer for
    /// themselves. Zero turns warm-up off. Default: 30 s.
    pub warmup: Duration,
    /// Copies per second a drain walk may make (read-driven warm-up copies
    /// are not limited: each answers a read). Default: 2000.
    pub copy_rate: u32,
    /// When a membership change removes a node that still answers, walk
    /// its items in the background and copy them to their new owners, for
    /// the warm-up window (the `drain` module). Every client that sees the
    /// change walks, so turn it on where few do: the proxy does. Default:
    /// false.
    pub drain_removed: bool,
    /// Share of this client's recent reads (`0.0..1.0`) above which a key
    /// counts as hot; zero turns detection off. Hot reads are spread over
    /// the key's replicas (with `replicas > 1`) and served from a near
    /// cache when `hot_near_ttl` is set. Default: 0.01.
    pub hot_share: f64,
    /// How long a hot key's value may be served from this process's memory
    /// (a staleness bound for values replaced by other processes); zero
    /// keeps hot keys out of memory. Default: zero.
    pub hot_near_ttl: Duration,
    /// Longest TTL a write gets on a node that is not the key's owner
    /// because the owner is ejected under [`FailurePolicy::Eject`]
    /// (mcrouter's `failover_exptime`): an exptime of 0 (never), a longer
    /// relative one or an absolute one further away becomes this, so the
    /// copies left on the failover node expire instead of resurfacing when
    /// the owner is ejected again. Rounded up to whole seconds, at most 30
    /// days; zero: no cap. Commands that keep an item's TTL (`append`,
    /// `prepend`, `incr`, `decr`) are left alone. Default: 60 s.
    pub failover_ttl: Duration,
    /// Most keys remembered per ejected node (its failover journal, see
    /// [`FailurePolicy::Eject`]). Past it the journal stops recording and
    /// the node is sent `flush_all` instead of deletes before it is taken
    /// back. Memory, held only while the node is out and freed when it
    /// returns: per key about 34 bytes of hash table plus the key's own
    /// allocation (its length plus 8, rounded up to 16: 48 bytes for a
    /// 30-byte key), so a full default journal costs about 5 MiB with
    /// 30-byte keys and at most about 20 MiB with 250-byte keys, per
    /// ejected node. Zero: no journal, a node that missed any write is
    /// flushed before it returns. Default: 65,536.
    pub failover_journal_keys: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            nodes: Vec::new(),
            scheme: Scheme::Xxh3,
            connections_per_node: 2,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            max_in_flight: 256,
            queue_depth: 1024,
            queue_wait: Duration::from_millis(100),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_max_backoff: Duration::from_secs(2),
            failure_policy: FailurePolicy::Eject,
            failure_threshold: 3,
            probe_interval: Duration::from_millis(500),
            probe_max_interval: Duration::from_secs(30),
            max_ejected_share: 0.5,
            max_item_size: 1024 * 1024,
            tls: None,
            credentials: None,
            replicas: 1,
            warmup: Duration::from_secs(30),
            copy_rate: 2000,
            drain_removed: false,
            hot_share: 0.01,
            hot_near_ttl: Duration::ZERO,
            failover_ttl: Duration::from_secs(60),
            failover_journal_keys: 65_536,
        }
    }
}

/// A node in the TOML file: `"host:port"` or `{ name = "host:port", weight = 2 }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileNode {
    Name(String),
    Weighted { name: String, weight: u32 },
}

/// The TOML layout; every key optional. Durations are in milliseconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    nodes: Option<Vec<FileNode>>,
    scheme: Option<String>,
    connections_per_node: Option<usize>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_in_flight: Option<usize>,
    queue_depth: Option<usize>,
    queue_wait_ms: Option<u64>,
    reconnect_backoff_ms: Option<u64>,
    reconnect_max_backoff_ms: Option<u64>,
    failure_policy: Option<FailurePolicy>,
    failure_threshold: Option<u32>,
    probe_interval_ms: Option<u64>,
    probe_max_interval_ms: Option<u64>,
    max_ejected_share: Option<f64>,
    max_item_size: Option<usize>,
    replicas: Option<usize>,
    warmup_ms: Option<u64>,
    copy_rate: Option<u32>,
    drain_removed: Option<bool>,
    hot_share: Option<f64>,
    hot_near_ttl_ms: Option<u64>,
    failover_ttl_ms: Option<u64>,
    failover_journal_keys: Option<usize>,
}

impl Config {
    /// Reads a configuration from TOML text. Every key is optional and
    /// defaults as in [`Config::default`]; durations are milliseconds.
    ///
    /// ```toml
    /// nodes = ["10.0.0.5:11211", { name = "10.0.0.6:11211", weight = 2 }]
    /// scheme = "xxh3"              # or "ketama"
    /// connections_per_node = 2
    /// connect_timeout_ms = 1000
    /// request_timeout_ms = 1000
    /// max_in_flight = 256
    /// queue_depth = 1024
    /// queue_wait_ms = 100
    /// reconnect_backoff_ms = 50
    /// reconnect_max_backoff_ms = 2000
    /// failure_policy = "eject"     # or "fast_miss"
    /// failure_threshold = 3
    /// probe_interval_ms = 500
    /// probe_max_interval_ms = 30000
    /// max_ejected_share = 0.5
    /// max_item_size = 1048576
    /// replicas = 1
    /// warmup_ms = 30000            # 0: no warm-up after ring changes
    /// copy_rate = 2000             # drain copies per second
    /// drain_removed = false        # walk nodes that leave the list
    /// hot_share = 0.01             # 0: no hot-key detection
    /// hot_near_ttl_ms = 0          # hot keys served from memory this long
    /// failover_ttl_ms = 60000      # TTL cap on failover writes; 0: none
    /// failover_journal_keys = 65536 # keys remembered per ejected node
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for malformed TOML, an unknown key, an unknown
    /// scheme or policy, or a value out of range (see [`Config::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_client::{Config, FailurePolicy};
    ///
    /// let config = Config::from_toml(r#"
    ///     nodes = ["127.0.0.1:11211", { name = "127.0.0.1:11212", weight = 2 }]
    ///     failure_policy = "fast_miss"
    ///     request_timeout_ms = 250
    /// "#)?;
    /// assert_eq!(config.nodes.len(), 2);
    /// assert_eq!(config.failure_policy, FailurePolicy::FastMiss);
    /// assert_eq!(config.connections_per_node, 2); // the default
    /// # Ok::<(), ringcache_client::Error>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let mut c = Config::default();
        c.apply_toml(text)?;
        Ok(c)
    }

    /// Sets the keys that TOML `text` names (as [`Config::from_toml`]
    /// reads them) and keeps every other field as it is: for a program
    /// whose own defaults differ from the client's (the proxy sets one
    /// connection per node per worker thread, unless the file says).
    ///
    /// # Errors
    ///
    /// As [`Config::from_toml`]; `self` may then be partly changed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut config = ringcache_client::Config::default();
    /// config.connections_per_node = 1;
    /// config.apply_toml("request_timeout_ms = 250")?;
    /// assert_eq!(config.connections_per_node, 1);
    /// assert_eq!(config.request_timeout.as_millis(), 250);
    /// # Ok::<(), ringcache_client::Error>(())
    /// ```
    pub fn apply_toml(&mut self, text: &str) -> Result<(), Error> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| Error::Config(format!("bad client config: {e}")))?;
        let c = self;
        if let Some(nodes) = file.nodes {
            c.nodes = nodes
                .into_iter()
                .map(|n| match n {
                    FileNode::Name(name) => Node::new(name),
                    FileNode::Weighted { name, weight } => Node::weighted(name, weight),
                })
                .collect();
        }
        if let Some(s) = file.scheme {
            c.scheme = s.parse().map_err(|e| Error::Config(format!("{e}")))?;
        }
        let ms = Duration::from_millis;
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = file.$field { c.$field = v; } )* };
        }
        take!(
            connections_per_node,
            max_in_flight,
            queue_depth,
            failure_policy,
            failure_threshold,
            max_ejected_share,
            max_item_size,
            replicas,
            copy_rate,
            drain_removed,
            hot_share,
            failover_journal_keys
        );
        macro_rules! take_ms {
            ($($file:ident => $field:ident),*) => { $( if let Some(v) = file.$file { c.$field = ms(v); } )* };
        }
        take_ms!(
            connect_timeout_ms => connect_timeout,
            request_timeout_ms => request_timeout,
            queue_wait_ms => queue_wait,
            reconnect_backoff_ms => reconnect_backoff,
            reconnect_max_backoff_ms => reconnect_max_backoff,
            probe_interval_ms => probe_interval,
            probe_max_interval_ms => probe_max_interval,
            warmup_ms => warmup,
            hot_near_ttl_ms => hot_near_ttl,
            failover_ttl_ms => failover_ttl
        );
        c.validate()
    }

    /// Checks the ranges: at least one connection per node, non-zero
    /// in-flight bound and queue depth, non-zero timeouts, a failure
    /// threshold of at least 1, `max_ejected_share` within `0.0..=1.0`,
    /// `replicas` within `1..=4`, `hot_share` within `0.0..1.0`, a
    /// non-zero `copy_rate`, a `failover_ttl` of at most 30 days.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_owned()));
        if let Some(credentials) = &self.credentials {
            credentials.check()?;
        }
        if self.connections_per_node == 0 {
            return bad("connections_per_node must be at least 1");
        }
        if self.max_in_flight == 0 || self.queue_depth == 0 {
            return bad("max_in_flight and queue_depth must be at least 1");
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return bad("timeouts must be greater than zero");
        }
        if self.failure_threshold == 0 {
            return bad("failure_threshold must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.max_ejected_share) {
            return bad("max_ejected_share must be within 0.0..=1.0");
        }
        if self.probe_interval.is_zero() || self.reconnect_backoff.is_zero() {
            return bad("probe_interval and reconnect_backoff must be greater than zero");
        }
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return bad("replicas must be within 1..=4");
        }
        if !(0.0..1.0).contains(&self.hot_share) {
            return bad("hot_share must be within 0.0..1.0");
        }
        if self.copy_rate == 0 {
            return bad("copy_rate must be at least 1");
        }
        if self.failover_ttl > Duration::from_secs(MAX_RELATIVE_EXPTIME as u64) {
            // Longer would be read as an absolute Unix time by the nodes.
            return bad("failover_ttl must be at most 30 days");
        }
        Ok(())
    }
}

/// Builds a [`Client`]: consuming setters over a [`Config`], then
/// [`build`](ClientBuilder::build).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), ringcache_client::Error> {
/// use std::time::Duration;
/// use ringcache_client::{Client, FailurePolicy, Scheme};
///
/// let client = Client::builder()
///     .nodes(["10.0.0.5:11211", "10.0.0.6:11211"])
///     .scheme(Scheme::Xxh3)
///     .request_timeout(Duration::from_millis(200))
///     .failure_policy(FailurePolicy::Eject)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientBuilder {
    config: Config,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl ClientBuilder {
    /// A builder holding `config`.
    pub fn from_config(config: Config) -> Self {
        ClientBuilder { config }
    }

    /// Adds nodes of weight 1, named `host:port`.
    pub fn nodes<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.config
            .nodes
            .extend(names.into_iter().map(|n| Node::new(n)));
        self
    }

    /// Adds one node (for a weight other than 1).
    pub fn node(mut self, node: Node) -> Self {
        self.config.nodes.push(node);
        self
    }

    setter!(
        /// Placement scheme. Default [`Scheme::Xxh3`].
        scheme: Scheme
    );
    setter!(
        /// Pipelined connections per node. Default 2.
        connections_per_node: usize
    );
    setter!(
        /// Bound on one TCP connect. Default 1 s.
        connect_timeout: Duration
    );
    setter!(
        /// Bound on one request, queueing included. Default 1 s.
        request_timeout: Duration
    );
    setter!(
        /// Requests in flight per connection. Default 256.
        max_in_flight: usize
    );
    setter!(
        /// Requests queued per connection. Default 1024.
        queue_depth: usize
    );
    setter!(
        /// Wait for queue room before [`Error::Overloaded`]. Default 100 ms.
        queue_wait: Duration
    );
    setter!(
        /// First reconnect backoff. Default 50 ms.
        reconnect_backoff: Duration
    );
    setter!(
        /// Longest reconnect backoff. Default 2 s.
        reconnect_max_backoff: Duration
    );
    setter!(
        /// Failure policy. Default [`FailurePolicy::Eject`].
        failure_policy: FailurePolicy
    );
    setter!(
        /// Consecutive failures before a node is taken out. Default 3.
        failure_threshold: u32
    );
    setter!(
        /// First probe wait. Default 500 ms.
        probe_interval: Duration
    );
    setter!(
        /// Longest probe wait. Default 30 s.
        probe_max_interval: Duration
    );
    setter!(
        /// Largest share of nodes out at once. Default 0.5.
        max_ejected_share: f64
    );
    setter!(
        /// Largest value accepted in a reply. Default 1 MiB.
        max_item_size: usize
    );
    setter!(
        /// Nodes that hold each key (`1..=4`). Default 1.
        replicas: usize
    );
    setter!(
        /// Warm-up window after a ring change (zero: off). Default 30 s.
        warmup: Duration
    );
    setter!(
        /// Drain copies per second. Default 2000.
        copy_rate: u32
    );
    setter!(
        /// Drain nodes that leave the membership while still up. Default false.
        drain_removed: bool
    );
    setter!(
        /// Share of recent reads that makes a key hot (zero: off). Default 0.01.
        hot_share: f64
    );
    setter!(
        /// How long hot values may be served from memory (zero: never). Default zero.
        hot_near_ttl: Duration
    );
    setter!(
        /// TTL cap on writes routed around an ejected owner (zero: none). Default 60 s.
        failover_ttl: Duration
    );
    setter!(
        /// Keys remembered per ejected node before it is flushed instead. Default 65,536.
        failover_journal_keys: usize
    );

    /// Connects to the nodes over TLS ([`TlsConfig`]). Default: plain TCP.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Authenticates every new connection with memcached's text-protocol
    /// authentication (the nodes' `-Y`) before any request is sent. Checked
    /// by [`build`](ClientBuilder::build): neither may be empty or hold a
    /// space or line break.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.credentials = Some(Credentials::new(user, password));
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Builds the client: validates the settings, builds the ring and
    /// starts connecting to every node in the background. It does not wait
    /// for the connections: a node that is down at start fails its first
    /// requests and is then handled by the failure policy.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for bad settings or a node list the ring refuses
    /// (duplicate or invalid names, too many points).
    pub async fn build(self) -> Result<Client, Error> {
        self.config.validate()?;
        Client::start(self.config)
    }
}

impl Client {
    /// Reads a TOML file (see [`Config::from_toml`]) and builds a client.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read or is invalid, and as
    /// [`ClientBuilder::build`].
    pub async fn from_config(path: impl AsRef<Path>) -> Result<Client, Error> {
        let path = path.as_ref();
        // A small file read once at start-up: blocking std I/O is fine here.
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        ClientBuilder::from_config(Config::from_toml(&text)?)
            .build()
            .await
    }
}
