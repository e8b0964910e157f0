//! What a write does when its key's placement routes around an ejected
//! node: it is recorded in that node's failover journal (`journal.rs`)
//! **before** it is sent (under
//! [`FailurePolicy::Eject`](crate::FailurePolicy::Eject)) or refused (under
//! [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss), where the
//! node would otherwise keep the value the write meant to replace), and,
//! when it lands on a node outside the key's natural replica set, its TTL
//! is capped at [`Config::failover_ttl`](crate::Config::failover_ttl).
//!
//! A write is anything that is not a plain or exact read: every storage
//! command, `delete`, `incr`/`decr`, `touch`, `gat`/`gats` (they change
//! the TTL), `ms`, `md`, `ma`, and `mg` with `N` (vivify) or `T` (touch).
//!
//! The check costs the request path one branch: [`Placement::routes_around`]
//! is only true where the placement already found a natural replica
//! ejected (`route.rs` `failover`, `placement.rs` `walk`), and everything
//! else here is `#[cold]`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringcache_protocol::{Request, SetMode};

use crate::error::Error;
use crate::placement::Placement;
use crate::Client;

/// memcached's `REALTIME_MAXDELTA`: an exptime above it (30 days) is an
/// absolute Unix time.
pub(crate) const MAX_RELATIVE_EXPTIME: i64 = 60 * 60 * 24 * 30;

/// How many times a write places its key again because a node it was
/// routed around came back meanwhile. Each time needs a whole
/// probe-replay-return of some node between two lookups microseconds
/// apart, so the bound is never reached in practice.
const MAX_PLACEMENTS: usize = 16;

/// The keys `request` changes on the nodes it reaches (as stored: decoded
/// from base64 for meta commands); empty for reads and for requests that
/// name no key.
pub(crate) fn written_keys(request: &Request) -> &[Bytes] {
    match request {
        Request::Get(_) | Request::Gets(_) | Request::MetaDebug(_) => &[],
        Request::MetaGet(m) if m.flags.vivify.is_none() && m.flags.ttl.is_none() => &[],
        other => other.keys(),
    }
}

/// `exptime` capped at `cap` seconds (`1..=30 days`), `now` being the Unix
/// time: 0 (never) and anything expiring later than `cap` from now become
/// `cap`; a negative exptime or an absolute one already past (both mean
/// "expired") and anything expiring sooner are kept.
pub(crate) fn cap_exptime(exptime: i64, cap: i64, now: i64) -> i64 {
    match exptime {
        e if e < 0 => e,
        0 => cap,
        e if e <= MAX_RELATIVE_EXPTIME => e.min(cap),
        // Absolute: past (expired at once) or within the cap stays.
        e if e <= now.saturating_add(cap) => e,
        _ => cap,
    }
}

/// Caps every TTL `request` sets (see [`cap_exptime`]): the exptime of
/// `set`/`add`/`replace`/`cas`/`touch`/`gat`/`gats`, `ms`'s `T` (an `ms`
/// without `T` stores with no expiry, so it gets `T<cap>`), the vivify TTL
/// `N` of `mg`/`ma` and the `T` of `mg`/`ma`/`md`. Commands that keep the
/// item's TTL (`append`, `prepend`, `incr`, `decr`, `ms` in append or
/// prepend mode) are left alone.
pub(crate) fn cap_ttl(request: &mut Request, cap: i64, now: i64) {
    use Request as R;
    let c = |e: &mut i64| *e = cap_exptime(*e, cap, now);
    let opt = |e: &mut Option<i64>| {
        if let Some(e) = e {
            *e = cap_exptime(*e, cap, now);
        }
    };
    match request {
        R::Set(s) | R::Add(s) | R::Replace(s) => c(&mut s.exptime),
        R::Cas(s) => c(&mut s.exptime),
        R::Touch(t) => c(&mut t.exptime),
        R::Gat(g) | R::Gats(g) => c(&mut g.exptime),
        R::MetaSet(m) if !matches!(m.flags.mode, SetMode::Append | SetMode::Prepend) => {
            m.flags.ttl = Some(cap_exptime(m.flags.ttl.unwrap_or(0), cap, now));
        }
        R::MetaGet(m) => {
            opt(&mut m.flags.vivify);
            opt(&mut m.flags.ttl);
        }
        R::MetaArithmetic(m) => {
            opt(&mut m.flags.vivify);
            opt(&mut m.flags.ttl);
        }
        R::MetaDelete(m) => opt(&mut m.flags.ttl),
        _ => {}
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Client {
    /// The TTL cap in whole seconds (rounded up), `None` for no cap.
    pub(crate) fn failover_cap(&self) -> Option<i64> {
        let ttl = self.inner.config.failover_ttl;
        if ttl.is_zero() {
            return None;
        }
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        Some(i64::try_from(secs).unwrap_or(MAX_RELATIVE_EXPTIME))
    }

    /// Caps `request`'s TTLs at [`Config::failover_ttl`](crate::Config::failover_ttl)
    /// (nothing when it is zero).
    pub(crate) fn cap(&self, request: &mut Request) {
        if let Some(cap) = self.failover_cap() {
            cap_ttl(request, cap, unix_now());
        }
    }

    /// Places `route` for `request` (its key as routed) and, when the
    /// placement routes a write around an ejected node, journals and caps
    /// it ([`fail_over`](Client::fail_over)). What every keyed request runs
    /// before [`run`](Client::run).
    ///
    /// # Errors
    ///
    /// As [`Topology::place`](crate::topology::Topology::place).
    #[inline]
    pub(crate) fn place_request(
        &self,
        route: &[u8],
        request: &mut Request,
    ) -> Result<Placement, Error> {
        let placement = self.place(route)?;
        if placement.routes_around() {
            return self.fail_over(route, placement, request);
        }
        Ok(placement)
    }

    /// The cold half of [`place_request`](Client::place_request): a read
    /// goes as placed; a write is journaled ([`journal_write`](Client::journal_write))
    /// and its TTL capped where it lands outside the natural replicas.
    #[cold]
    pub(crate) fn fail_over(
        &self,
        route: &[u8],
        placement: Placement,
        request: &mut Request,
    ) -> Result<Placement, Error> {
        let keys = written_keys(request);
        if keys.is_empty() {
            return Ok(placement);
        }
        let (placement, outside) = self.journal_write(route, keys)?;
        if outside {
            self.cap(request);
        }
        Ok(placement)
    }

    /// Places `route` again, naming the ejected natural replicas it routes
    /// around, and records `keys` in their journals before the write is
    /// sent. A journal refuses the keys once its node is back (the record
    /// and the return are ordered by the journal's lock: `journal.rs`);
    /// the node then takes its keys again, so the key is placed once more
    /// and the write goes to it instead of leaving it with the value it
    /// held before. Returns the placement and whether it holds a node
    /// outside the natural replicas (the write's TTL is to be capped).
    ///
    /// # Errors
    ///
    /// As [`Topology::place`](crate::topology::Topology::place);
    /// [`Error::NodeDown`] (retryable) if nodes keep coming back and going
    /// out again between two placements [`MAX_PLACEMENTS`] times.
    #[cold]
    pub(crate) fn journal_write(
        &self,
        route: &[u8],
        keys: &[Bytes],
    ) -> Result<(Placement, bool), Error> {
        let mut last = None;
        for _ in 0..MAX_PLACEMENTS {
            let (placement, around) = self
                .inner
                .topology
                .load()
                .place_around(route, &self.inner.config)?;
            let refused = around
                .displaced
                .iter()
                .find(|h| !h.inner.journal.record(&h.inner.health, keys));
            match refused {
                None => return Ok((placement, around.outside)),
                Some(back) => {
                    tracing::debug!(
                        node = back.name(),
                        "node back while a write was routed around it: placing again"
                    );
                    last = Some(back.name().to_owned());
                }
            }
        }
        Err(last.map_or(Error::NoNodes, |node| Error::NodeDown { node }))
    }
}

#[cfg(test)]
mod tests {
    use ringcache_protocol::{
        Arithmetic, Delete, Gat, Get, MetaArithmetic, MetaArithmeticFlags, MetaDebug, MetaGet,
        MetaGetFlags, MetaSet, MetaSetFlags, Store, Touch,
    };

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 24 * 60 * 60;

    fn k() -> Bytes {
        Bytes::from_static(b"k")
    }

    fn store(exptime: i64) -> Store {
        Store {
            key: k(),
            flags: 0,
            exptime,
            value: Bytes::from_static(b"v"),
            noreply: false,
        }
    }

    #[test]
    fn exptimes_are_capped_as_the_nodes_read_them() {
        // Never: capped.
        assert_eq!(cap_exptime(0, 60, NOW), 60);
        // Relative: the shorter of the two.
        assert_eq!(cap_exptime(10, 60, NOW), 10);
        assert_eq!(cap_exptime(60, 60, NOW), 60);
        assert_eq!(cap_exptime(3600, 60, NOW), 60);
        assert_eq!(cap_exptime(30 * DAY, 60, NOW), 60);
        // Expired at once: kept.
        assert_eq!(cap_exptime(-1, 60, NOW), -1);
        assert_eq!(cap_exptime(30 * DAY + 1, 60, NOW), 30 * DAY + 1);
        assert_eq!(cap_exptime(NOW - 5, 60, NOW), NOW - 5);
        // Absolute: kept within the cap, else the cap.
        assert_eq!(cap_exptime(NOW + 30, 60, NOW), NOW + 30);
        assert_eq!(cap_exptime(NOW + 60, 60, NOW), NOW + 60);
        assert_eq!(cap_exptime(NOW + 61, 60, NOW), 60);
        assert_eq!(cap_exptime(i64::MAX, 60, NOW), 60);
    }

    #[test]
    fn writes_and_reads() {
        let get = Request::Get(Get { keys: vec![k()] });
        assert!(written_keys(&get).is_empty());
        assert!(written_keys(&Request::Gets(Get { keys: vec![k()] })).is_empty());
        let gat = Request::Gat(Gat {
            exptime: 0,
            keys: vec![k(), Bytes::from_static(b"j")],
        });
        assert_eq!(written_keys(&gat).len(), 2);
        let mg = |flags| Request::MetaGet(MetaGet { key: k(), flags });
        assert!(written_keys(&mg(MetaGetFlags::default())).is_empty());
        let touching = MetaGetFlags {
            ttl: Some(5),
            ..MetaGetFlags::default()
        };
        assert_eq!(written_keys(&mg(touching)), &[k()]);
        let vivifying = MetaGetFlags {
            vivify: Some(5),
            ..MetaGetFlags::default()
        };
        assert_eq!(written_keys(&mg(vivifying)), &[k()]);
        let me = Request::MetaDebug(MetaDebug {
            key: k(),
            base64: false,
        });
        assert!(written_keys(&me).is_empty());
        for write in [
            Request::Set(store(0)),
            Request::Append(store(0)),
            Request::Delete(Delete {
                key: k(),
                noreply: false,
            }),
            Request::Incr(Arithmetic {
                key: k(),
                delta: 1,
                noreply: false,
            }),
        ] {
            assert_eq!(written_keys(&write), &[k()], "{write:?}");
        }
        assert!(written_keys(&Request::Version).is_empty());
    }

    #[test]
    fn ttls_are_capped_where_a_request_sets_one() {
        let mut set = Request::Set(store(0));
        cap_ttl(&mut set, 60, NOW);
        assert_eq!(set, Request::Set(store(60)));
        let mut touch = Request::Touch(Touch {
            key: k(),
            exptime: 3600,
            noreply: false,
        });
        cap_ttl(&mut touch, 60, NOW);
        assert!(matches!(touch, Request::Touch(Touch { exptime: 60, .. })));
        // Append keeps the item's TTL: untouched.
        let mut append = Request::Append(store(0));
        cap_ttl(&mut append, 60, NOW);
        assert_eq!(append, Request::Append(store(0)));
        // ms without T means "never": it gets the cap.
        let ms = |mode, ttl| {
            Request::MetaSet(MetaSet {
                key: k(),
                value: Bytes::new(),
                flags: MetaSetFlags {
                    mode,
                    ttl,
                    ..MetaSetFlags::default()
                },
            })
        };
        let mut bare = ms(SetMode::Set, None);
        cap_ttl(&mut bare, 60, NOW);
        assert_eq!(bare, ms(SetMode::Set, Some(60)));
        let mut short = ms(SetMode::Add, Some(5));
        cap_ttl(&mut short, 60, NOW);
        assert_eq!(short, ms(SetMode::Add, Some(5)));
        let mut appending = ms(SetMode::Append, None);
        cap_ttl(&mut appending, 60, NOW);
        assert_eq!(appending, ms(SetMode::Append, None));
        // ma: the vivify TTL and T, not an absent T.
        let ma = |vivify, ttl| {
            Request::MetaArithmetic(MetaArithmetic {
                key: k(),
                flags: MetaArithmeticFlags {
                    vivify,
                    ttl,
                    ..MetaArithmeticFlags::default()
                },
            })
        };
        let mut counter = ma(Some(0), None);
        cap_ttl(&mut counter, 60, NOW);
        assert_eq!(counter, ma(Some(60), None));
        let mut mg = Request::MetaGet(MetaGet {
            key: k(),
            flags: MetaGetFlags {
                vivify: Some(600),
                ttl: Some(0),
                ..MetaGetFlags::default()
            },
        });
        cap_ttl(&mut mg, 60, NOW);
        let Request::MetaGet(mg) = mg else {
            unreachable!()
        };
        assert_eq!((mg.flags.vivify, mg.flags.ttl), (Some(60), Some(60)));
    }
}
