//! `ma`: meta increment/decrement, with vivify-on-miss (`N` + initial
//! value `J`), delta `D`, mode `M`, CAS `C` and TTL `T`.

use std::sync::Arc;

use bytes::Bytes;
use ringcache_protocol::{ArithmeticMode, MetaArithmetic, MetaReply, MetaStatus, Response};

use super::{walk, Clock, TimeFlags};
use crate::exec::Node;
use crate::store::{deadline, parse_counter, render_counter, Change, Deadline, Item};

#[derive(Debug)]
enum Outcome {
    /// The new number, the item's CAS, what `t` prints, and whether `N`
    /// created the item.
    Value {
        number: u64,
        cas: u64,
        ttl: Option<i64>,
        created: bool,
    },
    NotFound,
    CasMismatch,
    NonNumeric,
}

pub(super) async fn execute(node: &Node, req: &MetaArithmetic) -> Response {
    let store = node.store();
    let clock = Clock::of(node);
    let now = clock.now;
    let f = &req.flags;
    let incr = f.mode == ArithmeticMode::Increment;
    let times = TimeFlags {
        ttl: f.ttl,
        vivify: f.vivify,
        recache: None,
    };
    let outcome = store
        .compute(&req.key, now, |current| {
            let Some(item) = current else {
                if f.vivify.is_none() {
                    return (Change::Keep, Outcome::NotFound);
                }
                // A fresh counter holding J, no TTL until T or N in the walk.
                let w = walk(f.order, times, 0, true, false, &clock);
                let digits = f.initial.to_string();
                let mut next =
                    Item::new(&req.key, &[digits.as_bytes()], 0, store.next_cas(), 0, now);
                let d = w.new_exptime.map(|v| deadline(v, now));
                if let Some(d) = d {
                    next.expires_at = d.as_unix();
                }
                let outcome = Outcome::Value {
                    number: f.initial,
                    cas: next.cas,
                    ttl: w.ttl,
                    created: true,
                };
                let change = match d {
                    Some(Deadline::Expired) => Change::Keep,
                    _ => Change::Put(Arc::new(next)),
                };
                return (change, outcome);
            };
            if item.value().is_empty() {
                return (Change::Keep, Outcome::NonNumeric);
            }
            // C0 means no check here (do_add_delta tests `*cas != 0`).
            if f.compare_cas.is_some_and(|c| c != 0 && c != item.cas) {
                return (Change::Keep, Outcome::CasMismatch);
            }
            let Some(old) = parse_counter(item.value()) else {
                return (Change::Keep, Outcome::NonNumeric);
            };
            let number = if incr {
                old.wrapping_add(f.delta)
            } else {
                old.saturating_sub(f.delta)
            };
            let start = clock.rel_of_deadline(item.expires_at);
            let w = walk(f.order, times, start, false, false, &clock);
            let value = render_counter(number, item.value().len());
            let in_place = value.len() == item.value().len();
            let mut next = if in_place {
                // memcached rewrites the digits in place: the item keeps its
                // marks, and a T in this request sticks.
                let mut next = item.copy_with_value(&[&value]);
                next.last_access
                    .store(now, std::sync::atomic::Ordering::Relaxed);
                if let Some(t) = w.new_exptime {
                    next.expires_at = deadline(t, now).as_unix();
                }
                next
            } else {
                // A longer number needs a new item (same flags and TTL).
                // memcached applies T to the old, unlinked item, so T is
                // printed by `t` but not kept.
                Item::new(&req.key, &[&value], item.flags, 0, item.expires_at, now)
            };
            next.cas = store.next_cas();
            next.written_at(now);
            let outcome = Outcome::Value {
                number,
                cas: next.cas,
                ttl: w.ttl,
                created: false,
            };
            let change = if next.expires_at == Deadline::Expired.as_unix() {
                Change::Remove
            } else {
                Change::Put(Arc::new(next))
            };
            (change, outcome)
        })
        .await
        .unwrap_or(Outcome::NotFound);

    let stats = store.stats();
    let (hits, misses) = if incr {
        (&stats.incr_hits, &stats.incr_misses)
    } else {
        (&stats.decr_hits, &stats.decr_misses)
    };
    let echo = |status| {
        let mut reply = MetaReply::new(status, f.order);
        reply.flags.key = Some(req.key.clone());
        reply.flags.key_base64 = f.base64;
        reply.flags.opaque = f.opaque.clone();
        reply
    };
    match outcome {
        Outcome::Value {
            number,
            cas,
            ttl,
            created,
        } => {
            if created {
                stats.total_items.incr();
            } else {
                hits.incr();
            }
            let mut reply = echo(if f.value {
                MetaStatus::Va
            } else {
                MetaStatus::Hd
            });
            if f.value {
                reply.value = Some(Bytes::from(number.to_string().into_bytes()));
            }
            reply.flags.cas = Some(cas);
            reply.flags.ttl = ttl;
            reply.flags.vivified = created;
            Response::Meta(reply)
        }
        Outcome::NotFound => {
            misses.incr();
            Response::Meta(echo(MetaStatus::Nf))
        }
        Outcome::CasMismatch => Response::Meta(echo(MetaStatus::Ex)),
        Outcome::NonNumeric => Response::ClientError(Bytes::from_static(
            b"cannot increment or decrement non-numeric value",
        )),
    }
}
