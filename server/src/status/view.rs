//! `/status.json`: the proxy's view of the cluster.
//!
//! - **share**: each node's fraction of the key space on the membership
//!   ring, exact (from [`ringcache_ring::diff`] against an empty ring, so
//!   the arcs of every virtual node are summed), recomputed only when the
//!   ring's digest changes;
//! - **serving_share**: the fraction it serves now: under the eject policy
//!   an ejected node's keys go to the next node of the ring, so this is the
//!   share on the ring without the ejected nodes (under fast-miss the
//!   ejected node keeps its keys, answered as misses);
//! - **state**: `up` or `ejected`, from the client's failure detection;
//! - **hit_ratio**: `get_hits / (get_hits + get_misses)` of the node's own
//!   `stats` (every client of the node counts, not only this proxy), and
//!   **recent_hit_ratio** over the last few seconds. Asked of nodes that
//!   are up, at most once a second, with a short timeout; these `stats`
//!   requests show in `ringcache_client_requests_total` like any other.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringcache_client::{Client, FailurePolicy, NodeHandle, NodeState};
use ringcache_protocol::{Request, Response, StatValue, Stats};
use ringcache_ring::{diff, Node, Ring};

/// How long a node has to answer `stats`.
const STATS_TIMEOUT: Duration = Duration::from_millis(500);
/// Nodes are asked for `stats` at most this often.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// The window of `recent_hit_ratio`: at least this long once warm.
const RECENT_WINDOW: Duration = Duration::from_secs(5);

/// One node's counters from its `stats`.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    hits: u64,
    misses: u64,
    items: u64,
}

/// What the shares depend on: the ring's digest and the ejected nodes.
type SharesKey = (u64, Vec<String>);
/// (share, serving share) per node name.
type Shares = HashMap<String, (f64, f64)>;

#[derive(Debug, Default)]
struct Cache {
    /// (ring digest, ejected names) → (share, serving share) per node.
    shares: Option<(SharesKey, Shares)>,
    /// Latest `stats` per node and when they were taken.
    latest: HashMap<String, Counters>,
    polled: Option<Instant>,
    /// Recent samples per node, oldest first: the window of
    /// `recent_hit_ratio`.
    history: HashMap<String, VecDeque<(Counters, Instant)>>,
}

/// The cluster behind a proxy, as `/status.json` shows it.
#[derive(Debug)]
pub(super) struct ClusterView {
    client: Client,
    cache: Mutex<Cache>,
}

impl ClusterView {
    pub(super) fn new(client: Client) -> ClusterView {
        ClusterView {
            client,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The JSON document.
    pub(super) async fn json(&self) -> String {
        let handles = self.client.node_handles();
        let policy = self.client.config().failure_policy;
        let scheme = self.client.config().scheme;
        let ejected: Vec<String> = handles
            .iter()
            .filter(|h| h.state() == NodeState::Ejected)
            .map(|h| h.name().to_owned())
            .collect();
        let shares = self.shares(&ejected, policy);
        self.poll(&handles).await;
        let cache = self.cache();
        let mut out = String::with_capacity(256 + 256 * handles.len());
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let _ = write!(
            out,
            "{{\"time_ms\":{now_ms},\"scheme\":\"{}\",\"policy\":\"{}\",\"digest\":\"{:016x}\",\
             \"ejected\":{},\"nodes\":[",
            scheme.as_str(),
            match policy {
                FailurePolicy::FastMiss => "fast_miss",
                _ => "eject",
            },
            self.client.ring_digest(),
            ejected.len()
        );
        for (i, handle) in handles.iter().enumerate() {
            let name = handle.name();
            let (share, serving) = shares.get(name).copied().unwrap_or((0.0, 0.0));
            let state = match handle.state() {
                NodeState::Ejected => "ejected",
                _ => "up",
            };
            let counters = cache.latest.get(name).filter(|_| state == "up");
            let recent = counters.and_then(|now| {
                let (then, _) = cache.history.get(name)?.front()?;
                ratio(
                    now.hits.saturating_sub(then.hits),
                    now.misses.saturating_sub(then.misses),
                )
            });
            let _ = write!(
                out,
                "{}{{\"name\":{},\"weight\":{},\"share\":{},\"serving_share\":{},\
                 \"state\":\"{state}\",\"hit_ratio\":{},\"recent_hit_ratio\":{},\
                 \"gets\":{},\"items\":{}}}",
                if i == 0 { "" } else { "," },
                json_string(name),
                handle.node().weight(),
                number(Some(share)),
                number(Some(serving)),
                number(counters.and_then(|c| ratio(c.hits, c.misses))),
                number(recent),
                counters.map_or("null".to_owned(), |c| (c.hits + c.misses).to_string()),
                counters.map_or("null".to_owned(), |c| c.items.to_string()),
            );
        }
        out.push_str("]}");
        out
    }

    /// Shares per node, cached by ring digest and ejected set.
    fn shares(&self, ejected: &[String], policy: FailurePolicy) -> Shares {
        let key = (self.client.ring_digest(), ejected.to_vec());
        if let Some((k, shares)) = &self.cache().shares {
            if *k == key {
                return shares.clone();
            }
        }
        let nodes = self.client.nodes();
        let scheme = self.client.config().scheme;
        let full = ring_shares(&nodes, scheme);
        let serving = if policy == FailurePolicy::FastMiss || ejected.is_empty() {
            full.clone()
        } else {
            let up = nodes
                .iter()
                .filter(|n| !ejected.iter().any(|e| e == n.name()))
                .cloned();
            ring_shares(&up.collect::<Vec<_>>(), scheme)
        };
        let shares: Shares = nodes
            .iter()
            .map(|n| {
                let name = n.name().to_owned();
                let s = full.get(&name).copied().unwrap_or(0.0);
                let v = serving.get(&name).copied().unwrap_or(0.0);
                (name, (s, v))
            })
            .collect();
        self.cache().shares = Some((key, shares.clone()));
        shares
    }

    /// Asks every node that is up for its `stats`, unless that was done
    /// less than [`STATS_EVERY`] ago.
    async fn poll(&self, handles: &[NodeHandle]) {
        {
            let mut cache = self.cache();
            if cache.polled.is_some_and(|t| t.elapsed() < STATS_EVERY) {
                return;
            }
            cache.polled = Some(Instant::now());
        }
        let tasks: Vec<_> = handles
            .iter()
            .filter(|h| h.state() == NodeState::Up)
            .map(|h| {
                let h = h.clone();
                tokio::spawn(async move {
                    let request = Request::Stats(Stats {
                        group: None,
                        args: Vec::new(),
                    });
                    let reply = tokio::time::timeout(STATS_TIMEOUT, h.call(request)).await;
                    (h.name().to_owned(), reply)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            if let Ok((name, Ok(Ok(Response::Stats(stats))))) = task.await {
                let get = |field: &str| {
                    stats
                        .iter()
                        .find(|s| s.name == field.as_bytes())
                        .and_then(|s| match &s.value {
                            StatValue::Unsigned(v) => Some(*v),
                            StatValue::Text(t) => std::str::from_utf8(t).ok()?.parse().ok(),
                            StatValue::Signed(v) => u64::try_from(*v).ok(),
                        })
                };
                results.push((
                    name,
                    Counters {
                        hits: get("get_hits").unwrap_or(0),
                        misses: get("get_misses").unwrap_or(0),
                        items: get("curr_items").unwrap_or(0),
                    },
                ));
            }
        }
        let mut cache = self.cache();
        let now = Instant::now();
        cache.latest.clear();
        for (name, counters) in results {
            let history = cache.history.entry(name.clone()).or_default();
            // Counters went back: the node restarted or was reset.
            if history
                .back()
                .is_some_and(|(last, _)| counters.hits < last.hits || counters.misses < last.misses)
            {
                history.clear();
            }
            history.push_back((counters, now));
            // Keep the newest sample at least RECENT_WINDOW old as the
            // window's start, and nothing older.
            while history
                .get(1)
                .is_some_and(|(_, at)| now.duration_since(*at) >= RECENT_WINDOW)
            {
                history.pop_front();
            }
            cache.latest.insert(name, counters);
        }
        let Cache {
            latest, history, ..
        } = &mut *cache;
        history.retain(|name, _| latest.contains_key(name));
    }
}

/// `hits / (hits + misses)`, or `None` without gets.
fn ratio(hits: u64, misses: u64) -> Option<f64> {
    let total = hits + misses;
    (total > 0).then(|| hits as f64 / total as f64)
}

/// Each node's share of the key space on a ring of `nodes`.
fn ring_shares(nodes: &[Node], scheme: ringcache_ring::Scheme) -> HashMap<String, f64> {
    let (Ok(empty), Ok(ring)) = (
        Ring::with_scheme([], scheme),
        Ring::with_scheme(nodes.iter().cloned(), scheme),
    ) else {
        return HashMap::new();
    };
    let Ok(d) = diff(&empty, &ring) else {
        return HashMap::new();
    };
    let mut shares = HashMap::new();
    for flow in d.flows() {
        if let Some(to) = flow.to {
            *shares.entry(to.name().to_owned()).or_insert(0.0) += flow.share;
        }
    }
    shares
}

/// A JSON number, or `null`.
fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{:.6}", v),
        _ => "null".to_owned(),
    }
}

/// A JSON string literal.
pub(super) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_a_ring_add_up_to_one() {
        let nodes: Vec<Node> = (0..3)
            .map(|i| Node::new(format!("10.0.0.{i}:11211")))
            .collect();
        let shares = ring_shares(&nodes, ringcache_ring::Scheme::Xxh3);
        assert_eq!(shares.len(), 3);
        let total: f64 = shares.values().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(shares.values().all(|s| (s - 1.0 / 3.0).abs() < 0.1));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c<\n"), r#""a\"b\\c\u003c\u000a""#);
    }
}
