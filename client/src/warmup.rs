//! Warm rebalancing: the previous ring, kept for a window after a change.
//!
//! Consistent hashing moves about `1/N` of the keys when a node joins, and
//! every moved key would be a miss, so a database query, just when the
//! cluster was scaled out because it was busy. For [`Config::warmup`] after
//! a change the client keeps the previous ring and its node handles:
//!
//! - **Reads** go to the key's new owner; on a miss there, to its previous
//!   owner, and a hit there is returned *and copied* to the new owner with
//!   its flags and remaining TTL (`copy.rs`: never over a newer value,
//!   never resurrecting a delete, never extending the TTL).
//! - **Writes** go to the new owner only.
//! - **Deletes** go to the previous owner *first*, then to the new one, for
//!   the window plus a grace period (four request timeouts, the longest a
//!   copy started inside the window can take): a copy that read the item
//!   before the delete either lands before the delete reaches the new owner
//!   (and is deleted with it) or checks the source after the delete (and
//!   undoes itself).
//! - **Early end**: the window closes once the previous owners stop being
//!   useful: when fewer than 1 in [`EARLY_END_SHARE_INV`] of a batch of
//!   [`EARLY_END_BATCH`] reads of moved keys was answered by a previous
//!   owner (the hot moved keys have all been copied), unless a drain walk
//!   (`drain.rs`) is still copying.
//!
//! A second change during a window starts a new window from the ring just
//! replaced: keys that moved twice warm from their latest owner only.
//!
//! The guarantees hold between clients whose windows overlap (every client
//! and proxy of a cluster sees a membership change within its poll
//! interval); a client that learned of the change after another client's
//! window and grace ended deletes at the new owner only.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringcache_ring::Ring;

use crate::pool::NodeHandle;

/// Reads of moved keys per early-end check.
pub(crate) const EARLY_END_BATCH: u64 = 2048;
/// A batch in which fewer than `1/EARLY_END_SHARE_INV` of the moved reads
/// came from a previous owner ends the window.
pub(crate) const EARLY_END_SHARE_INV: u64 = 200;

/// One warm-up window: the ring before a change, and until when it counts.
#[derive(Debug)]
pub(crate) struct Warmup {
    /// The ring before the change.
    pub(crate) ring: Arc<Ring>,
    /// Its node handles, indexed by the old ring's ids (nodes that left
    /// included: they may still answer).
    pub(crate) handles: Vec<NodeHandle>,
    started: Instant,
    /// Milliseconds after `started` when reads stop warming (lowered by an
    /// early end).
    read_end_ms: AtomicU64,
    /// How long deletes keep reaching previous owners after reads stop.
    grace: Duration,
    /// Reads of moved keys in the current batch, and how many of them a
    /// previous owner answered.
    moved_reads: AtomicU64,
    answered: AtomicU64,
    /// Drain walks copying now (`drain.rs`): no early end meanwhile.
    walkers: AtomicUsize,
}

impl Warmup {
    pub(crate) fn new(
        ring: Arc<Ring>,
        handles: Vec<NodeHandle>,
        window: Duration,
        grace: Duration,
    ) -> Warmup {
        let started = Instant::now();
        Warmup {
            ring,
            handles,
            started,
            read_end_ms: AtomicU64::new(u64::try_from(window.as_millis()).unwrap_or(u64::MAX)),
            grace,
            moved_reads: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            walkers: AtomicUsize::new(0),
        }
    }

    fn read_end(&self) -> Instant {
        self.started + Duration::from_millis(self.read_end_ms.load(Ordering::Relaxed))
    }

    /// Whether reads of moved keys may still ask (and copy from) the
    /// previous owner.
    #[inline]
    pub(crate) fn warming(&self) -> bool {
        Instant::now() < self.read_end()
    }

    /// Whether deletes must still reach the previous owner.
    #[inline]
    pub(crate) fn fencing(&self) -> bool {
        Instant::now() < self.fence_end()
    }

    /// When deletes stop reaching the previous owners.
    pub(crate) fn fence_end(&self) -> Instant {
        self.read_end() + self.grace
    }

    /// Closes the window for reads now (deletes keep fencing for the grace
    /// period).
    pub(crate) fn end(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.read_end_ms.fetch_min(now, Ordering::Relaxed);
    }

    /// Counts one read of a moved key that its new owner missed, and
    /// whether a previous owner answered it; ends the window when a whole
    /// batch found almost nothing left to warm.
    pub(crate) fn note_moved_read(&self, answered_by_previous: bool) {
        if answered_by_previous {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        let n = self.moved_reads.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(EARLY_END_BATCH) {
            return;
        }
        let answered = self.answered.swap(0, Ordering::Relaxed);
        if answered * EARLY_END_SHARE_INV < EARLY_END_BATCH
            && self.walkers.load(Ordering::Relaxed) == 0
        {
            tracing::info!(
                after = ?self.started.elapsed(),
                answered,
                batch = EARLY_END_BATCH,
                "warm-up done: previous owners answer almost no moved reads"
            );
            self.end();
        }
    }

    /// Marks a drain walk as copying until the guard drops: the window
    /// does not end early meanwhile (its reads are what the walk makes
    /// safe).
    pub(crate) fn walker(self: &Arc<Self>) -> WalkerGuard {
        self.walkers.fetch_add(1, Ordering::Relaxed);
        WalkerGuard(Arc::clone(self))
    }
}

/// Holds a window open for a walk ([`Warmup::walker`]).
#[derive(Debug)]
pub(crate) struct WalkerGuard(Arc<Warmup>);

impl Drop for WalkerGuard {
    fn drop(&mut self) {
        self.0.walkers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warmup(window: Duration) -> Arc<Warmup> {
        let ring = Ring::new([]).map(Arc::new);
        let ring = ring.unwrap_or_else(|e| panic!("empty ring: {e}"));
        Arc::new(Warmup::new(
            ring,
            Vec::new(),
            window,
            Duration::from_secs(3600),
        ))
    }

    #[test]
    fn a_batch_that_found_nothing_ends_reads_but_not_deletes() {
        let w = warmup(Duration::from_secs(3600));
        assert!(w.warming() && w.fencing());
        for _ in 0..EARLY_END_BATCH {
            w.note_moved_read(false);
        }
        assert!(!w.warming(), "reads stop warming");
        assert!(w.fencing(), "deletes keep reaching the previous owner");
    }

    #[test]
    fn a_useful_batch_keeps_the_window_open() {
        let w = warmup(Duration::from_secs(3600));
        for i in 0..EARLY_END_BATCH {
            w.note_moved_read(i % 50 == 0);
        }
        assert!(w.warming());
    }

    #[test]
    fn a_walk_keeps_the_window_open() {
        let w = warmup(Duration::from_secs(3600));
        let guard = w.walker();
        for _ in 0..EARLY_END_BATCH {
            w.note_moved_read(false);
        }
        assert!(w.warming(), "no early end while a walk copies");
        drop(guard);
        for _ in 0..EARLY_END_BATCH {
            w.note_moved_read(false);
        }
        assert!(!w.warming());
    }

    #[test]
    fn a_zero_window_never_warms() {
        let w = warmup(Duration::ZERO);
        assert!(!w.warming());
    }
}
