//! `mg`: meta get, with vivify-on-miss (`N`), recache (`R`), touch (`T`)
//! and the lease replies `W` (won), `X` (stale), `Z` (token already sent).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ringcache_protocol::{MetaGet, MetaReply, MetaStatus, Response};

use super::{walk, Clock, TimeFlags, Walk};
use crate::exec::Node;
use crate::store::{deadline, Change, Deadline, Item, Store};

/// A hit, with everything the reply needs.
#[derive(Debug)]
struct Hit {
    item: Arc<Item>,
    walk: Walk,
    /// `Z`: a token had been handed out before this request.
    token_sent: bool,
    /// `h`: fetched before this request.
    fetched_before: bool,
    /// Unix second of the access before this one (`l`).
    last_access: u64,
}

pub(super) async fn execute(node: &Node, req: &MetaGet) -> Response {
    let store = node.store();
    let clock = Clock::of(node);
    let f = &req.flags;
    let needs_compute = f.vivify.is_some() || f.recache.is_some() || f.ttl.is_some();
    let hit = if needs_compute {
        locked(store, req, &clock).await
    } else {
        match store.peek(&req.key, clock.now).await {
            None => None,
            // Neither N, R nor T: only a stale item can win, and that
            // decision must be made under the key's compute.
            Some(item) if item.stale => locked(store, req, &clock).await,
            Some(item) => Some(read(item, req, &clock)),
        }
    };
    let stats = store.stats();
    match hit {
        Some(hit) => {
            if f.ttl.is_some() {
                stats.cmd_touch.incr();
                stats.touch_hits.incr();
            } else {
                stats.cmd_get.incr();
                stats.get_hits.incr();
            }
            Response::Meta(hit_reply(req, &hit, &clock))
        }
        None => {
            // memcached counts a miss as a get even with T.
            stats.cmd_get.incr();
            stats.get_misses.incr();
            let mut reply = MetaReply::new(MetaStatus::En, f.order);
            reply.flags.key = Some(req.key.clone());
            reply.flags.key_base64 = f.base64;
            reply.flags.opaque = f.opaque.clone();
            Response::Meta(reply)
        }
    }
}

fn time_flags(req: &MetaGet) -> TimeFlags {
    TimeFlags {
        ttl: req.flags.ttl,
        vivify: req.flags.vivify,
        recache: req.flags.recache,
    }
}

/// A plain read of an item that cannot win: no compute needed.
fn read(item: Arc<Item>, req: &MetaGet, clock: &Clock) -> Hit {
    let token_sent = item.win_sent.load(Ordering::Relaxed);
    let start = clock.rel_of_deadline(item.expires_at);
    let walk = walk(
        req.flags.order,
        time_flags(req),
        start,
        false,
        token_sent,
        clock,
    );
    let (fetched_before, last_access) = access(&item, req.flags.no_update, clock.now);
    Hit {
        item,
        walk,
        token_sent,
        fetched_before,
        last_access,
    }
}

/// The previous fetched flag and access time; records this fetch unless `u`.
fn access(item: &Item, no_update: bool, now: u64) -> (bool, u64) {
    if no_update {
        (
            item.fetched.load(Ordering::Relaxed),
            item.last_access.load(Ordering::Relaxed),
        )
    } else {
        bump(item, now)
    }
}

/// memcached's `do_item_bump` as `l`, `h` and `me` see it: the first fetch
/// only marks the item fetched; later ones also move its access time
/// (segmented LRU sets `ITEM_ACTIVE` and `it->time` on the second hit).
/// Returns the fetched flag and access time from before this fetch.
fn bump(item: &Item, now: u64) -> (bool, u64) {
    let was_fetched = item.fetched.swap(true, Ordering::Relaxed);
    let last = if was_fetched {
        item.last_access.swap(now, Ordering::Relaxed)
    } else {
        item.last_access.load(Ordering::Relaxed)
    };
    (was_fetched, last)
}

/// The full `mg` under the key's compute: vivify, touch, and hand out the
/// win token at most once.
async fn locked(store: &Store, req: &MetaGet, clock: &Clock) -> Option<Hit> {
    let f = &req.flags;
    let now = clock.now;
    store
        .compute(&req.key, now, |current| {
            let (item, created) = match (current, f.vivify) {
                (Some(item), _) => (Arc::clone(item), false),
                (None, Some(_)) => {
                    // memcached links an empty item with no TTL; `N`
                    // gives it its TTL during the walk.
                    let item = Item::new(&req.key, &[], 0, store.next_cas(), 0, now);
                    (Arc::new(item), true)
                }
                (None, None) => return (Change::Keep, None),
            };
            let token_sent = item.win_sent.load(Ordering::Relaxed);
            let start = clock.rel_of_deadline(item.expires_at);
            let mut walk = walk(f.order, time_flags(req), start, created, token_sent, clock);
            if item.stale && !token_sent {
                // A stale item hands its first reader the recache token.
                walk.won = true;
            }
            let (fetched_before, last_access) = if created {
                (false, now)
            } else {
                (
                    item.fetched.load(Ordering::Relaxed),
                    item.last_access.load(Ordering::Relaxed),
                )
            };
            let new_deadline = walk.new_exptime.map(|v| deadline(v, now));
            let (change, item) = match new_deadline {
                None if !created => {
                    // Same item: flip its per-item atomics in place (we
                    // hold the key's compute, so no one else decides W).
                    if walk.won {
                        item.win_sent.store(true, Ordering::Relaxed);
                    }
                    if !f.no_update {
                        bump(&item, now);
                    }
                    (Change::Keep, item)
                }
                _ => {
                    let mut next = item.copy();
                    if let Some(d) = new_deadline {
                        next.expires_at = d.as_unix();
                    }
                    if walk.won {
                        next.win_sent.store(true, Ordering::Relaxed);
                    }
                    if !f.no_update {
                        bump(&next, now);
                    }
                    let next = Arc::new(next);
                    let change = match new_deadline {
                        // Touched into the past: memcached keeps it linked
                        // but nobody can read it again.
                        Some(Deadline::Expired) if created => Change::Keep,
                        Some(Deadline::Expired) => Change::Remove,
                        _ => Change::Put(Arc::clone(&next)),
                    };
                    (change, next)
                }
            };
            if created {
                store.stats().total_items.incr();
            }
            let hit = Hit {
                item,
                walk,
                token_sent,
                fetched_before,
                last_access,
            };
            (change, Some(hit))
        })
        .await
        .flatten()
}

fn hit_reply(req: &MetaGet, hit: &Hit, clock: &Clock) -> MetaReply {
    let f = &req.flags;
    let item = &hit.item;
    let status = if f.value {
        MetaStatus::Va
    } else {
        MetaStatus::Hd
    };
    let mut reply = MetaReply::new(status, f.order);
    if f.value {
        reply.value = Some(item.value_bytes());
    }
    let r = &mut reply.flags;
    r.key = Some(req.key.clone());
    r.key_base64 = item.key_binary;
    r.opaque = f.opaque.clone();
    r.cas = Some(item.cas);
    r.ttl = hit.walk.ttl;
    r.client_flags = Some(item.flags);
    r.size = Some(u32::try_from(item.value().len()).unwrap_or(u32::MAX));
    r.hit_before = Some(hit.fetched_before);
    r.last_access = Some(elapsed(clock.now, hit.last_access));
    r.token_sent = hit.token_sent;
    r.stale = item.stale;
    r.won = hit.walk.won;
    reply
}

/// Seconds from `then` to `now` as memcached's `u32` difference.
fn elapsed(now: u64, then: u64) -> u32 {
    u32::try_from(now.saturating_sub(then)).unwrap_or(u32::MAX)
}
