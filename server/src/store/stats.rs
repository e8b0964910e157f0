//! The node's counters, as relaxed atomics: each is one uncontended-enough
//! `fetch_add` on the hot path, and `stats` reads them without stopping
//! anyone. They are not a consistent snapshot, and memcached's are not
//! either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One monotonic counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub(crate) fn incr(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts one, never below zero (a gauge).
    #[inline]
    pub(crate) fn decr(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    /// The current value.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Every counter `stats` prints that the node keeps itself.
        #[derive(Debug, Default)]
        pub(crate) struct Stats {
            $( $(#[$doc])* pub(crate) $name: Counter, )*
            /// Items evicted for space (moka's eviction listener adds here).
            evictions: Arc<AtomicU64>,
            /// Items removed by moka because their exptime passed (the
            /// eviction listener adds here; `ringcache_items_expired_total`).
            expirations: Arc<AtomicU64>,
        }

        impl Stats {
            /// `stats reset`: zeroes the counters (not the gauges such as
            /// `curr_connections`, which memcached keeps too).
            pub(crate) fn reset(&self) {
                $( self.$name.reset(); )*
                self.evictions.store(0, Ordering::Relaxed);
                self.expirations.store(0, Ordering::Relaxed);
            }
        }
    };
}

counters! {
    /// Fetch keys requested (`get`/`gets`/`gat`/`gats`, per key).
    cmd_get,
    /// Storage commands.
    cmd_set,
    /// `flush_all` commands.
    cmd_flush,
    /// `touch`/`gat`/`gats` keys.
    cmd_touch,
    /// Meta commands.
    cmd_meta,
    /// Fetches that found a live item.
    get_hits,
    /// Fetches that found nothing.
    get_misses,
    /// Fetches that found an expired item.
    get_expired,
    /// Fetches that found an item invalidated by `flush_all`.
    get_flushed,
    /// `delete` on an absent key.
    delete_misses,
    /// `delete` that removed an item.
    delete_hits,
    /// `incr` on an absent key.
    incr_misses,
    /// `incr` that changed an item.
    incr_hits,
    /// `decr` on an absent key.
    decr_misses,
    /// `decr` that changed an item.
    decr_hits,
    /// `cas` on an absent key.
    cas_misses,
    /// `cas` that stored.
    cas_hits,
    /// `cas` with a stale unique.
    cas_badval,
    /// `touch`/`gat` that found the item.
    touch_hits,
    /// `touch`/`gat` that found nothing.
    touch_misses,
    /// Storage commands refused for exceeding `-I`.
    store_too_large,
    /// Items ever stored.
    total_items,
    // Connection counters live in `listener::ConnStats`.
}

impl Stats {
    /// The shared cell moka's eviction listener adds to.
    pub(crate) fn evictions_handle(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.evictions)
    }

    /// Items evicted for space.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// The shared cell moka's eviction listener adds expirations to.
    pub(crate) fn expirations_handle(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.expirations)
    }

    /// Items removed because their exptime passed.
    pub(crate) fn expirations(&self) -> u64 {
        self.expirations.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_zeroes_counters() {
        let stats = Stats::default();
        stats.cmd_get.add(3);
        stats.evictions_handle().fetch_add(2, Ordering::Relaxed);
        assert_eq!(stats.cmd_get.get(), 3);
        assert_eq!(stats.evictions(), 2);
        stats.reset();
        assert_eq!(stats.cmd_get.get(), 0);
        assert_eq!(stats.evictions(), 0);
    }

    #[test]
    fn gauge_never_goes_below_zero() {
        let c = Counter::default();
        c.decr();
        assert_eq!(c.get(), 0);
        c.incr();
        c.decr();
        assert_eq!(c.get(), 0);
    }
}
