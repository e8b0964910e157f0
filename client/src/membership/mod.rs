//! Membership: where the client's node list comes from, and the background
//! task that changes the ring live when that list changes.
//!
//! Three sources ([`Membership`]):
//!
//! - [`Membership::Static`]: a fixed list, never re-read.
//! - [`Membership::File`]: a nodes file, polled; edit it to add or remove
//!   nodes (format in [`Membership::file`]).
//! - [`Membership::Dns`]: a name re-resolved every few seconds; every A/AAAA
//!   address is a node (a Kubernetes headless service).
//!
//! [`watch`] runs one task per client that reloads the source every interval
//! and hands the list on only when its *content* changed (sorted by name and
//! compared node by node, weights included), so two clients reading the same
//! source converge on the same ring whatever order they saw changes in.
//!
//! A source that fails (unreadable or malformed file, DNS error, an empty
//! answer) never changes the ring: the old list stays and the failure is
//! logged once, then again only when it changes. An empty list is always
//! refused: a truncated file or a DNS blip must not turn every read into a
//! miss.

mod client;
mod dns;
mod file;

pub use self::client::WatchedBuilder;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringcache_ring::Node;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// How often a nodes file is re-read by default.
pub(crate) const DEFAULT_FILE_POLL: Duration = Duration::from_secs(1);
/// How often a DNS name is re-resolved by default.
pub(crate) const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(5);
/// The longest a DNS lookup may take before it counts as failed.
const MAX_DNS_WAIT: Duration = Duration::from_secs(5);

/// Where the node list comes from.
///
/// A watcher ([`watch`], [`Client::watch_membership`](crate::Client::watch_membership),
/// or the builder's [`nodes_file`](crate::ClientBuilder::nodes_file) /
/// [`dns`](crate::ClientBuilder::dns)) re-reads it every interval and
/// installs the list only when its content (sorted by name, weights
/// included) changed. A source that fails (unreadable or malformed file,
/// DNS error) or names no node never changes the ring: the old list stays
/// and the failure is logged once, then again only when it changes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcache_client::Membership;
///
/// let file = Membership::file("/etc/ringcache/nodes");
/// let dns = Membership::dns("cache.default.svc.cluster.local:11211")?
///     .with_interval(Duration::from_secs(10));
/// assert_eq!(dns.interval(), Some(Duration::from_secs(10)));
/// # let _ = file;
/// # Ok::<(), ringcache_client::MembershipError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Membership {
    /// A fixed list.
    Static(Vec<Node>),
    /// A nodes file, re-read every `poll_interval`.
    File {
        /// The file.
        path: PathBuf,
        /// How often it is re-read.
        poll_interval: Duration,
    },
    /// A DNS name re-resolved every `interval`; each address becomes a node
    /// `ip:port` of weight 1.
    Dns {
        /// The name to resolve (resolved by the system resolver, so
        /// `/etc/hosts` and search domains apply).
        name: String,
        /// The port every node listens on.
        port: u16,
        /// How often the name is re-resolved.
        interval: Duration,
    },
}

impl Membership {
    /// A nodes file polled every second.
    ///
    /// One node per line, `host:port` with an optional weight after a
    /// space, `#` starting a comment:
    ///
    /// ```text
    /// 10.0.0.5:11211
    /// 10.0.0.6:11211 2    # twice the keys
    /// ```
    ///
    /// A file that fails to parse keeps the old list (and is logged), so
    /// replace it atomically (write a temporary file, then `rename`):
    /// a reader that catches an editor half-way through a write may see a
    /// shorter but valid list.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Membership::File {
            path: path.into(),
            poll_interval: DEFAULT_FILE_POLL,
        }
    }

    /// A DNS source from `name:port`, re-resolved every 5 s.
    ///
    /// # Errors
    ///
    /// [`MembershipError::BadAddress`] if `name_port` is not `name:port`
    /// with a port in 1..=65535.
    pub fn dns(name_port: &str) -> Result<Self, MembershipError> {
        file::check_address(name_port).map_err(MembershipError::BadAddress)?;
        let (name, port) = name_port
            .rsplit_once(':')
            .and_then(|(n, p)| Some((n, p.parse::<u16>().ok()?)))
            .ok_or_else(|| MembershipError::BadAddress(name_port.to_owned()))?;
        let name = name.trim_start_matches('[').trim_end_matches(']');
        Ok(Membership::Dns {
            name: name.to_owned(),
            port,
            interval: DEFAULT_DNS_INTERVAL,
        })
    }

    /// The same source re-read every `interval` (no effect on
    /// [`Membership::Static`]).
    pub fn with_interval(self, interval: Duration) -> Self {
        match self {
            Membership::Static(nodes) => Membership::Static(nodes),
            Membership::File { path, .. } => Membership::File {
                path,
                poll_interval: interval,
            },
            Membership::Dns { name, port, .. } => Membership::Dns {
                name,
                port,
                interval,
            },
        }
    }

    /// How often the source is re-read; `None` for a static list.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Membership::Static(_) => None,
            Membership::File { poll_interval, .. } => Some(*poll_interval),
            Membership::Dns { interval, .. } => Some(*interval),
        }
    }

    /// Reads the source once: the node list, sorted by name.
    ///
    /// # Errors
    ///
    /// [`MembershipError::Io`] or [`MembershipError::Parse`] for a file,
    /// [`MembershipError::Dns`] for a failed lookup, and
    /// [`MembershipError::Empty`] for a list without nodes (any source).
    pub async fn load(&self) -> Result<Vec<Node>, MembershipError> {
        let mut nodes = match self {
            Membership::Static(nodes) if nodes.is_empty() => return Err(MembershipError::Empty),
            Membership::Static(nodes) => nodes.clone(),
            Membership::File { path, .. } => {
                let file = path.clone();
                let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(file));
                let io = |source| MembershipError::Io {
                    path: path.clone(),
                    source,
                };
                let text = read
                    .await
                    .map_err(|join| io(std::io::Error::other(join)))?
                    .map_err(io)?;
                file::parse(&text)?
            }
            Membership::Dns {
                name,
                port,
                interval,
            } => dns::resolve(name, *port, (*interval).min(MAX_DNS_WAIT)).await?,
        };
        normalize(&mut nodes);
        Ok(nodes)
    }
}

/// Sorts by name, so lists compare by content.
fn normalize(nodes: &mut [Node]) {
    nodes.sort_by(|a, b| a.name().cmp(b.name()));
}

/// Why a membership source gave no node list. The client keeps its old list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The nodes file could not be read.
    #[error("nodes file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the nodes file is malformed.
    #[error("nodes file line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The DNS lookup failed.
    #[error("DNS lookup of {name} failed: {reason}")]
    Dns {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        reason: String,
    },
    /// The source named no node; an empty ring is never installed.
    #[error("the membership source names no node")]
    Empty,
    /// A `name:port` argument is malformed.
    #[error("bad address: {0}")]
    BadAddress(String),
}

/// Where [`watch`] hands a changed node list.
///
/// Closures `FnMut(Vec<Node>) -> ControlFlow<()>` implement it; the
/// [`Client`](crate::Client) glue implements it with a weak reference, so a
/// watcher stops once its client is dropped.
pub trait NodeSink: Send + 'static {
    /// Installs `nodes` (sorted by name, never empty).
    /// [`ControlFlow::Break`] stops the watcher.
    fn install(&mut self, nodes: Vec<Node>) -> ControlFlow<()>;

    /// Whether the receiver is gone; checked every interval, so the
    /// watcher stops even when the source never changes.
    fn is_closed(&self) -> bool {
        false
    }
}

impl<F> NodeSink for F
where
    F: FnMut(Vec<Node>) -> ControlFlow<()> + Send + 'static,
{
    fn install(&mut self, nodes: Vec<Node>) -> ControlFlow<()> {
        self(nodes)
    }
}

/// The background task of [`watch`]. Dropping it stops the task, unless
/// it was [`detach`](MembershipWatcher::detach)ed.
#[derive(Debug)]
pub struct MembershipWatcher {
    task: Option<JoinHandle<()>>,
    polls: Arc<AtomicU64>,
}

impl MembershipWatcher {
    /// How many times the source has been re-read so far, successfully or
    /// not (tests wait on it; operators can tell a stuck watcher).
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Whether the task has stopped (its sink is closed or asked it to).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Lets the task run on its own until its sink is closed (for a
    /// client: until the client is dropped).
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for MembershipWatcher {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Watches `source` in a background task: every interval it reloads the
/// list and, when the content differs from the last list installed
/// (initially `current`), hands the new list (sorted by name) to `sink`.
/// Failures keep the old list and are logged.
///
/// Returns `None` for [`Membership::Static`], which never changes.
///
/// # Panics
///
/// Outside a tokio runtime (it spawns the task).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), ringcache_client::MembershipError> {
/// use std::ops::ControlFlow;
/// use ringcache_client::{watch, Membership};
///
/// let source = Membership::file("/etc/ringcache/nodes");
/// let first = source.load().await?;
/// let watcher = watch(source, first, |nodes: Vec<ringcache_client::Node>| {
///     println!("now {} nodes", nodes.len());
///     ControlFlow::Continue(())
/// });
/// # drop(watcher);
/// # Ok(()) }
/// ```
pub fn watch(
    source: Membership,
    current: Vec<Node>,
    sink: impl NodeSink,
) -> Option<MembershipWatcher> {
    let period = source.interval()?;
    let polls = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(run(source, period, current, sink, polls.clone()));
    Some(MembershipWatcher {
        task: Some(task),
        polls,
    })
}

async fn run(
    source: Membership,
    period: Duration,
    mut current: Vec<Node>,
    mut sink: impl NodeSink,
    polls: Arc<AtomicU64>,
) {
    normalize(&mut current);
    // The first tick is one period away: the caller has just loaded the list.
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        ticks.tick().await;
        if sink.is_closed() {
            return;
        }
        let loaded = source.load().await;
        polls.fetch_add(1, Ordering::Relaxed);
        match loaded {
            Ok(nodes) => {
                if last_error.take().is_some() {
                    tracing::info!(?source, "membership source readable again");
                }
                if nodes == current {
                    continue;
                }
                let (added, removed) = changes(&current, &nodes);
                tracing::info!(?added, ?removed, nodes = nodes.len(), "membership changed");
                current = nodes.clone();
                if sink.install(nodes).is_break() {
                    return;
                }
            }
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() == Some(text.as_str()) {
                    tracing::debug!(error = %text, "membership source still failing; keeping the old list");
                } else {
                    tracing::warn!(error = %text, "membership source failed; keeping the old list");
                    last_error = Some(text);
                }
            }
        }
    }
}

/// Nodes added and removed (a re-weighted node counts in both), for logs.
fn changes(old: &[Node], new: &[Node]) -> (Vec<String>, Vec<String>) {
    let label = |n: &Node| format!("{} {}", n.name(), n.weight());
    let added = new.iter().filter(|n| !old.contains(n)).map(label).collect();
    let removed = old.iter().filter(|n| !new.contains(n)).map(label).collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn dns_source_from_name_and_port() {
        let m = Membership::dns("cache.svc:11211").unwrap();
        assert_eq!(
            m,
            Membership::Dns {
                name: "cache.svc".into(),
                port: 11211,
                interval: DEFAULT_DNS_INTERVAL
            }
        );
        let v6 = Membership::dns("[::1]:11211").unwrap();
        assert!(matches!(v6, Membership::Dns { ref name, .. } if name == "::1"));
        for bad in ["cache.svc", "cache.svc:0", "cache.svc:x", ":11211"] {
            assert!(Membership::dns(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn static_lists_are_sorted_and_never_watched() {
        let m = Membership::Static(vec![Node::new("b:1"), Node::new("a:1")]);
        let nodes = m.load().await.unwrap();
        assert_eq!(nodes, [Node::new("a:1"), Node::new("b:1")]);
        assert!(watch(m, nodes, |_| ControlFlow::Continue(())).is_none());
        assert!(matches!(
            Membership::Static(vec![]).load().await,
            Err(MembershipError::Empty)
        ));
    }

    #[test]
    fn changes_name_added_removed_and_reweighted_nodes() {
        let old = [Node::new("a:1"), Node::new("b:1")];
        let new = [Node::weighted("b:1", 2), Node::new("c:1")];
        let (added, removed) = changes(&old, &new);
        assert_eq!(added, ["b:1 2", "c:1 1"]);
        assert_eq!(removed, ["a:1 1", "b:1 1"]);
    }

    /// The watcher installs a changed file, ignores a rewrite with the same
    /// content in another order, and keeps the old list on a bad file.
    #[tokio::test]
    async fn file_watch_installs_content_changes_only() {
        let dir = std::env::temp_dir().join(format!("ringcache-membership-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes");
        std::fs::write(&path, "a:1\nb:1\n").unwrap();
        let source = Membership::file(&path).with_interval(Duration::from_millis(10));
        let first = source.load().await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::<Vec<Node>>::new()));
        let sink = seen.clone();
        let watcher = watch(source, first, move |nodes| {
            sink.lock().unwrap().push(nodes);
            ControlFlow::Continue(())
        })
        .unwrap();
        // Two more polls guarantee one that started after the write.
        let settle = || async {
            let target = watcher.polls() + 2;
            let deadline = Instant::now() + Duration::from_secs(10);
            while watcher.polls() < target {
                assert!(Instant::now() < deadline, "watcher stopped polling");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        for text in [
            "b:1\na:1\n",
            "a:1\nb:1\nc:1 2\n",
            "a:1\nbroken\n",
            "",
            "a:1\n",
        ] {
            // Replace atomically, as the docs ask: a poll never sees half a file.
            let tmp = dir.join("nodes.tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
            settle().await;
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                vec![Node::new("a:1"), Node::new("b:1"), Node::weighted("c:1", 2)],
                vec![Node::new("a:1")],
            ]
        );
        drop(watcher);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
