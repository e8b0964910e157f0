// Owned by the meta-executor helper (M).
//! The meta commands `mg ms md ma me` (`mn` is answered in `exec.rs`),
//! byte-compatible with memcached 1.6.18's `proto_text.c`.
//!
//! # Layout
//!
//! - this file: the entry points `exec.rs` calls, memcached's clock
//!   ([`Clock`]) and the walk over the request's flags ([`walk`]) that
//!   `mg` and `ma` share;
//! - `get.rs` (`mg`, with the lease flags `N R T` and `W X Z`), `set.rs`
//!   (`ms`), `delete.rs` (`md`), `arithmetic.rs` (`ma`), `debug.rs` (`me`).
//!
//! # Why the flags are walked in request order
//!
//! memcached answers while it walks the flag tokens: `T` and `N` change the
//! item's exptime at their position, and `t` prints the exptime as it is
//! at *its* position. So `mg k t T30` prints the old TTL and `mg k T30 t`
//! the new one, and `R` compares against the exptime as `T` left it.
//! [`walk`] replays that walk, so the reply's single `t` value is the one
//! memcached would print.
//!
//! # Atomicity
//!
//! Every change goes through `Store::compute` (moka's per-key
//! `and_compute_with`). The win token (`W`) is decided inside it, so two
//! clients racing on one key can never both win. Only a plain `mg` on an
//! item that is not stale, which cannot win, reads without the compute.
//!
//! # Left out
//!
//! - `l` and `me la=`: the first fetch of an item only marks it fetched and
//!   later ones move its access time, as memcached's segmented LRU does on
//!   a quick sequence. memcached's background LRU maintainer decides when
//!   an item becomes bumpable again, and its seconds tick from its own
//!   start, so after real time has passed `l` can differ by a second or
//!   by a skipped bump.
//! - `ma` with `T` on a number that keeps its length: we keep the new TTL,
//!   as memcached does when the item is not referenced elsewhere. When an
//!   earlier reply in the same pipelined batch still holds the item,
//!   memcached copies it instead of rewriting in place and the `T` (and the
//!   space padding) is lost; that depends on its buffer lifetimes and is
//!   not reproduced. A number that grows always gets a new item, and then
//!   we drop `T` as memcached does.
//! - `get_expired`/`get_flushed` are not counted when `mg N/R/T`, `ms`,
//!   `md` or `ma` meet a dead item (the store's compute hides it).
//! - `me` reports the slab class and `ITEM_ntotal` memcached would use with
//!   its default slab settings (`-n 48 -f 1.25`, 1 MiB pages).

mod arithmetic;
mod debug;
mod delete;
mod get;
mod set;
#[cfg(test)]
mod wire;

use ringcache_protocol::{
    FlagOrder, MetaArithmetic, MetaDebug, MetaDelete, MetaGet, MetaSet, Response,
};

use super::Node;
use crate::store::expiry::MAX_RELATIVE_EXPTIME;

// `lru_crawler metadump` reports the same size and class as `me`.
pub(super) use self::debug::{ntotal, slab_class};
use crate::store::now_unix;

pub(super) async fn get(node: &Node, req: &MetaGet) -> Response {
    get::execute(node, req).await
}

pub(super) async fn set(node: &Node, req: &MetaSet) -> Response {
    set::execute(node, req).await
}

pub(super) async fn delete(node: &Node, req: &MetaDelete) -> Response {
    delete::execute(node, req).await
}

pub(super) async fn arithmetic(node: &Node, req: &MetaArithmetic) -> Response {
    arithmetic::execute(node, req).await
}

pub(super) async fn debug(node: &Node, req: &MetaDebug) -> Response {
    debug::execute(node, req).await
}

/// memcached sets `process_started` this many seconds before its real
/// start (`ITEM_UPDATE_INTERVAL + 2`), so its relative clock starts at 62.
const CLOCK_HEADSTART: u64 = 62;

/// memcached's clock for one request: `rel_time_t` seconds since
/// `process_started`, which is what it stores exptimes in and what `t`
/// and `me` print from.
///
/// For live items this is plain arithmetic on unix seconds. It matters for
/// an exptime set *in the same request* that is already past (`T-1`, an
/// absolute time behind now): memcached stores it as a tiny `rel_time_t`
/// and `t` prints the unsigned 32-bit difference, e.g. `t4294967228`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Unix seconds now.
    pub(crate) now: u64,
    /// memcached's `process_started` in unix seconds.
    started: u64,
}

impl Clock {
    /// The clock of a node started at unix second `node_started`.
    pub(crate) fn new(now: u64, node_started: u64) -> Self {
        Clock {
            now,
            started: node_started.saturating_sub(CLOCK_HEADSTART),
        }
    }

    /// The clock for a request executing now on `node`.
    fn of(node: &Node) -> Self {
        Clock::new(now_unix(), node.inner.started_unix)
    }

    /// memcached's `current_time`.
    fn current(&self) -> i64 {
        signed(self.now) - signed(self.started)
    }

    /// `realtime(EXPTIME_TO_POSITIVE_TIME(exptime))`: a client exptime as
    /// memcached stores it (0 = never).
    pub(crate) fn rel(&self, exptime: i64) -> i64 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            // EXPTIME_TO_POSITIVE_TIME makes it REALTIME_MAXDELTA + 1, an
            // absolute time before the start, which realtime() clamps to 1.
            1
        } else if exptime > MAX_RELATIVE_EXPTIME {
            if exptime <= signed(self.started) {
                1
            } else {
                exptime - signed(self.started)
            }
        } else {
            exptime + self.current()
        }
    }

    /// The stored deadline of a live item (unix seconds, 0 = never) as a
    /// `rel_time_t`.
    pub(crate) fn rel_of_deadline(&self, expires_at: u64) -> i64 {
        if expires_at == 0 {
            0
        } else {
            signed(expires_at) - signed(self.started)
        }
    }

    /// What `t` prints for a stored `rel_time_t`: `-1` for never, else the
    /// unsigned 32-bit `exptime - current_time`.
    pub(crate) fn ttl(&self, rel: i64) -> i64 {
        if rel == 0 {
            -1
        } else {
            (rel - self.current()).rem_euclid(1 << 32)
        }
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What the flag walk of `mg`/`ma` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// The value `t` prints (at its position), if `t` was sent.
    pub(crate) ttl: Option<i64>,
    /// The client exptime to store (from `T`, or `N` on a created item).
    pub(crate) new_exptime: Option<i64>,
    /// `N` on a created item or `R` below the threshold: a win (before the
    /// stale rule, which `mg` applies itself).
    pub(crate) won: bool,
}

/// The exptime-related flags of a request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimeFlags {
    /// `T<ttl>`.
    pub(crate) ttl: Option<i64>,
    /// `N<ttl>`.
    pub(crate) vivify: Option<i64>,
    /// `R<ttl>` (`mg` only).
    pub(crate) recache: Option<i64>,
}

/// Replays memcached's walk over the flags of a hit: `T` and `N` (on a
/// created item) set the exptime where they stand, `t` prints it where it
/// stands, `R` wins when the exptime at its position is below its
/// threshold and no token was handed out.
pub(crate) fn walk(
    order: FlagOrder,
    flags: TimeFlags,
    start_rel: i64,
    created: bool,
    token_sent: bool,
    clock: &Clock,
) -> Walk {
    let mut exp = start_rel;
    let mut out = Walk {
        ttl: None,
        new_exptime: None,
        won: false,
    };
    for &letter in order.as_slice() {
        match letter {
            b'T' => {
                if let Some(v) = flags.ttl {
                    exp = clock.rel(v);
                    out.new_exptime = Some(v);
                }
            }
            b'N' => {
                if let (true, Some(v)) = (created, flags.vivify) {
                    exp = clock.rel(v);
                    out.new_exptime = Some(v);
                    out.won = true;
                }
            }
            b'R' => {
                if let Some(v) = flags.recache {
                    if !token_sent && !created && exp != 0 && exp < clock.rel(v) {
                        out.won = true;
                    }
                }
            }
            b't' => out.ttl = Some(clock.ttl(exp)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: u64 = 1_800_000_000;

    fn order(s: &str) -> FlagOrder {
        s.as_bytes().iter().collect()
    }

    #[test]
    fn clock_matches_memcached_rel_time() {
        // 7 seconds after start, memcached's current_time is 69.
        let c = Clock::new(STARTED + 7, STARTED);
        assert_eq!(c.current(), 69);
        assert_eq!(c.rel(0), 0);
        assert_eq!(c.ttl(c.rel(0)), -1);
        assert_eq!(c.ttl(c.rel(30)), 30);
        // T-1: stored as 1, printed as the u32 wrap of 1 - 69.
        assert_eq!(c.ttl(c.rel(-1)), 4_294_967_228);
        // absolute times
        assert_eq!(c.ttl(c.rel((STARTED + 107) as i64)), 100);
        assert_eq!(c.ttl(c.rel((STARTED + 5) as i64)), (1 << 32) - 2);
        assert_eq!(c.rel(2_592_001), 1);
        assert_eq!(c.ttl(c.rel_of_deadline(STARTED + 37)), 30);
        assert_eq!(c.ttl(c.rel_of_deadline(0)), -1);
    }

    #[test]
    fn t_prints_the_exptime_at_its_position() {
        let c = Clock::new(STARTED + 10, STARTED);
        let start = c.rel_of_deadline(STARTED + 110);
        let f = TimeFlags {
            ttl: Some(30),
            ..TimeFlags::default()
        };
        let before = walk(order("tT"), f, start, false, false, &c);
        assert_eq!((before.ttl, before.new_exptime), (Some(100), Some(30)));
        let after = walk(order("Tt"), f, start, false, false, &c);
        assert_eq!(after.ttl, Some(30));
    }

    #[test]
    fn vivify_wins_only_on_a_created_item() {
        let c = Clock::new(STARTED, STARTED);
        let f = TimeFlags {
            vivify: Some(30),
            ..TimeFlags::default()
        };
        let created = walk(order("tNt"), f, 0, true, false, &c);
        assert!(created.won);
        // `t` before `N` prints the fresh item's "never".
        assert_eq!(created.ttl, Some(30));
        assert_eq!(walk(order("tN"), f, 0, true, false, &c).ttl, Some(-1));
        let existing = walk(order("N"), f, 0, false, false, &c);
        assert!(!existing.won && existing.new_exptime.is_none());
    }

    #[test]
    fn recache_sees_the_exptime_t_left() {
        let c = Clock::new(STARTED, STARTED);
        let start = c.rel_of_deadline(STARTED + 100);
        let f = TimeFlags {
            ttl: Some(5),
            recache: Some(10),
            ..TimeFlags::default()
        };
        assert!(walk(order("TR"), f, start, false, false, &c).won);
        assert!(!walk(order("RT"), f, start, false, false, &c).won);
        // a token already out, or an item without TTL, never wins
        assert!(!walk(order("TR"), f, start, false, true, &c).won);
        let f = TimeFlags {
            recache: Some(10),
            ..TimeFlags::default()
        };
        assert!(!walk(order("R"), f, 0, false, false, &c).won);
    }
}
