//! Draining a node that leaves on purpose (a scale-in, a Kubernetes
//! scale-down, a host to retire): its most recently used items are copied
//! to their new owners before it goes, so its departure costs the database
//! nothing.
//!
//! [`Client::drain`]:
//!
//! 1. takes the node out of the ring with a warm-up window of at least the
//!    drain's time budget (`warmup.rs`): from then on writes go to the new
//!    owners, reads that miss there are answered and copied from the
//!    leaving node, deletes reach it first;
//! 2. lists the node's items (`lru_crawler metadump`, `dump.rs`), most
//!    recently used first, skipping those about to expire;
//! 3. copies each to its new replica set with the copy protocol of
//!    `copy.rs` (never over a newer value, never resurrecting a delete,
//!    never extending a TTL), at most [`Config::copy_rate`] items per
//!    second, until the list or the time budget runs out; the window stays
//!    open while it copies.
//!
//! After it returns, the node can be stopped: nothing routes to it, and
//! the reads of whatever was not copied still find it until the window
//! closes.
//!
//! With [`Config::drain_removed`] (the proxy turns it on), a membership
//! change that removes a node still answering (a nodes file edited, a DNS
//! name that lost an address: a scale-in) starts the same walk in the
//! background, for the warm-up window ([`Config::warmup`]): keep the node
//! serving that long after it leaves the list (`deploy/kubernetes` delays
//! its stop for this).
//!
//! [`Config::warmup`]: crate::Config::warmup
//! [`Config::drain_removed`]: crate::Config::drain_removed
//!
//! # Limits
//!
//! - The list comes from the node's `lru_crawler metadump`: memcached 1.5+
//!   and ringcache nodes have it; a node that refuses it (or holds more
//!   than [`NodeHandle::METADUMP_MAX_ENTRIES`] items) is drained by reads
//!   alone, for the window.
//! - A node that joins cannot be filled this way without listing every
//!   other node: reads warm its keys instead (`warmup.rs`).
//!
//! [`Config::copy_rate`]: crate::Config::copy_rate

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringcache_protocol::DumpEntry;

use crate::copy::{self, Outcome};
use crate::error::Error;
use crate::key::routing_key;
use crate::pool::NodeHandle;
use crate::Client;
use futures_util::future::join_all;

/// Copies in flight at once during a walk.
const WALK_CONCURRENCY: usize = 32;

/// What a [`Client::drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Items the node listed (live, with more than a second to live).
    pub listed: usize,
    /// Items now on their new owners (copied, or already there).
    pub copied: usize,
    /// Items gone from the node before their turn (deleted, expired,
    /// evicted) or taken back because a write raced with the copy.
    pub skipped: usize,
    /// Copies that failed (a node error or timeout).
    pub failed: usize,
    /// Items not reached: the time budget ran out first.
    pub unreached: usize,
    /// Why the node could not be listed, if it could not: it is then
    /// drained by reads alone.
    pub list_error: Option<String>,
}

impl Client {
    /// Takes `node` out of the ring and copies its most recently used
    /// items to their new owners, within `budget` and at most
    /// [`Config::copy_rate`](crate::Config::copy_rate) items per second
    /// (see the `drain` module docs). Stop the node after it returns.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `node` is not in the ring (or is its only
    /// node).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    ///
    /// let report = client.drain("10.0.0.7:11211", Duration::from_secs(60)).await?;
    /// println!("{} of {} items moved", report.copied, report.listed);
    /// # Ok(()) }
    /// ```
    pub async fn drain(&self, node: &str, budget: Duration) -> Result<DrainReport, Error> {
        let started = Instant::now();
        let leaving = self
            .node_handles()
            .into_iter()
            .find(|h| h.name() == node)
            .ok_or_else(|| Error::Config(format!("{node} is not in the ring")))?;
        let staying: Vec<_> = self
            .nodes()
            .into_iter()
            .filter(|n| n.name() != node)
            .collect();
        if staying.is_empty() {
            return Err(Error::Config(format!("{node} is the only node")));
        }
        let window = budget.max(self.inner.config.warmup);
        // No walk from set_nodes: this one is ours, with its own budget.
        self.change_nodes(staying, window, false)?;
        Ok(self.walk(&leaving, started, budget).await)
    }

    /// Copies the items of `leaving` (out of the ring already) to their
    /// owners, most recently used first, until `started + budget`.
    pub(crate) async fn walk(
        &self,
        leaving: &NodeHandle,
        started: Instant,
        budget: Duration,
    ) -> DrainReport {
        let node = leaving.name();
        let warmup = self.inner.topology.load().warmup.clone();
        let _open = warmup.as_ref().map(|w| w.walker());
        let mut report = DrainReport::default();
        let entries = match leaving.metadump().await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(node, error = %e, "drain: cannot list the node's items; reads alone will warm its keys");
                report.list_error = Some(e.to_string());
                return report;
            }
        };
        let keys = hottest_first(entries);
        report.listed = keys.len();
        let deadline = started + budget;
        let rate = f64::from(self.inner.config.copy_rate.max(1));
        let mut done = 0usize;
        for batch in keys.chunks(WALK_CONCURRENCY) {
            // Pace: item `done` may start `done / rate` seconds in.
            let due = started + Duration::from_secs_f64(done as f64 / rate);
            if due >= deadline || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let copies: Vec<_> = batch
                .iter()
                .map(|key| self.drain_one(leaving, key))
                .collect();
            for outcome in join_all(copies).await {
                match outcome {
                    Ok(Outcome::Copied | Outcome::TargetHeld) => report.copied += 1,
                    Ok(_) => report.skipped += 1,
                    Err(_) => report.failed += 1,
                }
            }
            done += batch.len();
        }
        report.unreached = report.listed - done.min(report.listed);
        tracing::info!(
            node,
            listed = report.listed,
            copied = report.copied,
            skipped = report.skipped,
            failed = report.failed,
            unreached = report.unreached,
            elapsed = ?started.elapsed(),
            "drain done"
        );
        report
    }

    /// Copies one key from the leaving node to its replica set in the
    /// current ring.
    async fn drain_one(&self, leaving: &NodeHandle, key: &Bytes) -> Result<Outcome, Error> {
        let placement = self.place(&routing_key(key))?;
        let result = match copy::read(leaving, key).await? {
            None => Ok(Outcome::SourceMiss),
            Some(item) => {
                let mut last = Ok(Outcome::SourceMiss);
                for target in placement.current() {
                    last = copy::write(leaving, target, key, &item).await;
                    if last.is_err() {
                        break;
                    }
                }
                last
            }
        };
        copy::record("drain", &result);
        result
    }
}

/// The keys of `entries` that are worth copying (more than a second to
/// live), most recently used first.
fn hottest_first(mut entries: Vec<DumpEntry>) -> Vec<Bytes> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    entries.retain(|e| e.exptime.is_none_or(|t| t > now + 1));
    entries.sort_by_key(|e| std::cmp::Reverse(e.last_access));
    entries.into_iter().map(|e| e.key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &'static str, last_access: u64, exptime: Option<u64>) -> DumpEntry {
        DumpEntry {
            key: Bytes::from_static(key.as_bytes()),
            exptime,
            last_access,
            cas: 1,
            fetched: false,
            class: 1,
            size: 10,
        }
    }

    #[test]
    fn most_recent_first_and_expiring_items_left_out() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let keys = hottest_first(vec![
            entry("old", 100, None),
            entry("new", 300, Some(now + 600)),
            entry("mid", 200, None),
            entry("dying", 400, Some(now)),
        ]);
        assert_eq!(
            keys,
            [b"new", b"mid", b"old"].map(|k| Bytes::from_static(k))
        );
    }
}
