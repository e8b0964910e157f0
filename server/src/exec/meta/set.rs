//! `ms`: meta set, with the modes `M E A P R S`, CAS `C` and invalidation
//! `I` (a CAS store whose CAS is *older* than the item's stores the value
//! marked stale instead of failing).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ringcache_protocol::{MetaReply, MetaSet, MetaSetFlags, MetaStatus, Response, SetMode};

use crate::exec::Node;
use crate::store::{deadline, now_unix, Change, Deadline, Item, Store};

/// The command memcached runs for an `ms`: its mode, upgraded to a CAS
/// when `C` comes with set or replace (add ignores `C`; append and prepend
/// check it themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

impl Command {
    fn of(flags: &MetaSetFlags) -> Self {
        match (flags.mode, flags.compare_cas.is_some()) {
            (SetMode::Set | SetMode::Replace, true) => Command::Cas,
            (SetMode::Set, false) => Command::Set,
            (SetMode::Replace, false) => Command::Replace,
            (SetMode::Add, _) => Command::Add,
            (SetMode::Append, _) => Command::Append,
            (SetMode::Prepend, _) => Command::Prepend,
        }
    }
}

/// memcached's `cas_result` for a request CAS against an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CasCheck {
    /// No CAS (absent, or `C0`).
    None,
    Match,
    /// Older than the item's, with `I` on a CAS store: store as stale.
    Stale,
    Mismatch,
}

fn cas_check(request: u64, item: u64, invalidate: bool, command: Command) -> CasCheck {
    if request == 0 {
        CasCheck::None
    } else if request == item {
        CasCheck::Match
    } else if invalidate && command == Command::Cas && request < item {
        CasCheck::Stale
    } else {
        CasCheck::Mismatch
    }
}

/// The outcome: status, and the new CAS when stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
}

pub(super) async fn execute(node: &Node, req: &MetaSet) -> Response {
    let store = node.store();
    let stats = store.stats();
    let f = &req.flags;
    let command = Command::of(f);
    stats.cmd_set.incr();
    let outcome = store_item(store, req, command, now_unix()).await;
    if command == Command::Cas {
        match outcome {
            Outcome::Stored(_) => stats.cas_hits.incr(),
            Outcome::Exists => stats.cas_badval.incr(),
            Outcome::NotFound => stats.cas_misses.incr(),
            Outcome::NotStored => {}
        }
    }
    let (status, cas) = match outcome {
        Outcome::Stored(cas) => {
            stats.total_items.incr();
            (MetaStatus::Hd, cas)
        }
        // memcached prints its per-connection "last CAS", cleared to 0.
        Outcome::NotStored => (MetaStatus::Ns, 0),
        Outcome::Exists => (MetaStatus::Ex, 0),
        Outcome::NotFound => (MetaStatus::Nf, 0),
    };
    let mut reply = MetaReply::new(status, f.order);
    reply.flags.key = Some(req.key.clone());
    reply.flags.key_base64 = f.base64;
    reply.flags.opaque = f.opaque.clone();
    reply.flags.cas = Some(cas);
    Response::Meta(reply)
}

async fn store_item(store: &Store, req: &MetaSet, command: Command, now: u64) -> Outcome {
    let f = &req.flags;
    let request_cas = f.compare_cas.unwrap_or(0);
    let fresh = |expires_at: u64| {
        let mut item = Item::new(
            &req.key,
            &[&req.value],
            f.client_flags,
            store.next_cas(),
            expires_at,
            now,
        );
        item.key_binary = f.base64;
        item
    };
    let put = |item: Item| {
        let cas = item.cas;
        if item.expires_at == Deadline::Expired.as_unix() {
            // Stored and instantly dead, as memcached's reply says HD.
            (Change::Remove, Outcome::Stored(cas))
        } else {
            (Change::Put(Arc::new(item)), Outcome::Stored(cas))
        }
    };
    let expires_at = deadline(f.ttl.unwrap_or(0), now).as_unix();
    store
        .compute(&req.key, now, |current| {
            let Some(old) = current else {
                return match command {
                    Command::Set | Command::Add => put(fresh(expires_at)),
                    Command::Cas => (Change::Keep, Outcome::NotFound),
                    Command::Replace | Command::Append | Command::Prepend => {
                        (Change::Keep, Outcome::NotStored)
                    }
                };
            };
            let check = cas_check(request_cas, old.cas, f.invalidate, command);
            match command {
                Command::Add => {
                    // memcached's failed add still bumps the item's access
                    // time (`do_item_update`), which `l` and `me` show.
                    old.last_access.store(now, Ordering::Relaxed);
                    (Change::Keep, Outcome::NotStored)
                }
                Command::Set | Command::Replace => put(fresh(expires_at)),
                Command::Cas => match check {
                    CasCheck::Match => put(fresh(expires_at)),
                    CasCheck::Stale => {
                        // The value is replaced, but the TTL, the stale mark
                        // and a handed-out token stay.
                        let mut item = fresh(old.expires_at);
                        item.stale = true;
                        if old.win_sent.load(Ordering::Relaxed) {
                            item.win_sent.store(true, Ordering::Relaxed);
                        }
                        put(item)
                    }
                    CasCheck::None | CasCheck::Mismatch => (Change::Keep, Outcome::Exists),
                },
                Command::Append | Command::Prepend => {
                    if !matches!(check, CasCheck::None | CasCheck::Match) {
                        return (Change::Keep, Outcome::Exists);
                    }
                    let joined: [&[u8]; 2] = if command == Command::Append {
                        [old.value(), &req.value]
                    } else {
                        [&req.value, old.value()]
                    };
                    // memcached allocates a new item with the old flags and
                    // exptime; none of the old per-item marks carry over.
                    let item = Item::new(
                        &req.key,
                        &joined,
                        old.flags,
                        store.next_cas(),
                        old.expires_at,
                        now,
                    );
                    put(item)
                }
            }
        })
        .await
        .unwrap_or(Outcome::NotStored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_upgrades_set_and_replace_only() {
        let flags = |mode, cas| MetaSetFlags {
            mode,
            compare_cas: cas,
            ..MetaSetFlags::default()
        };
        assert_eq!(Command::of(&flags(SetMode::Set, Some(0))), Command::Cas);
        assert_eq!(Command::of(&flags(SetMode::Replace, Some(3))), Command::Cas);
        assert_eq!(Command::of(&flags(SetMode::Add, Some(3))), Command::Add);
        assert_eq!(
            Command::of(&flags(SetMode::Append, Some(3))),
            Command::Append
        );
        assert_eq!(Command::of(&flags(SetMode::Set, None)), Command::Set);
    }

    #[test]
    fn invalidate_turns_an_older_cas_into_a_stale_store() {
        assert_eq!(cas_check(0, 5, true, Command::Cas), CasCheck::None);
        assert_eq!(cas_check(5, 5, true, Command::Cas), CasCheck::Match);
        assert_eq!(cas_check(4, 5, true, Command::Cas), CasCheck::Stale);
        assert_eq!(cas_check(6, 5, true, Command::Cas), CasCheck::Mismatch);
        assert_eq!(cas_check(4, 5, false, Command::Cas), CasCheck::Mismatch);
        assert_eq!(cas_check(4, 5, true, Command::Append), CasCheck::Mismatch);
    }
}
