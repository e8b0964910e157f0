//! `md`: meta delete, or with `I` invalidate (mark stale, bump the CAS,
//! keep the item, optionally with a new TTL `T`, and let the next reader
//! win the recache token).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ringcache_protocol::{MetaDelete, MetaReply, MetaStatus, Response};

use crate::exec::Node;
use crate::store::{deadline, now_unix, Change, Deadline};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Deleted,
    Invalidated,
    CasMismatch,
    NotFound,
}

pub(super) async fn execute(node: &Node, req: &MetaDelete) -> Response {
    let store = node.store();
    let f = &req.flags;
    let now = now_unix();
    let outcome = store
        .compute(&req.key, now, |current| {
            let Some(item) = current else {
                return (Change::Keep, Outcome::NotFound);
            };
            // Unlike ms and ma, md compares even C0.
            if f.compare_cas.is_some_and(|cas| cas != item.cas) {
                return (Change::Keep, Outcome::CasMismatch);
            }
            if !f.invalidate {
                return (Change::Remove, Outcome::Deleted);
            }
            let mut next = item.copy();
            next.stale = true;
            next.cas = store.next_cas();
            // The next reader may win again.
            next.win_sent.store(false, Ordering::Relaxed);
            match f.ttl.map(|t| deadline(t, now)) {
                Some(Deadline::Expired) => return (Change::Remove, Outcome::Invalidated),
                Some(d) => next.expires_at = d.as_unix(),
                None => {}
            }
            (Change::Put(Arc::new(next)), Outcome::Invalidated)
        })
        .await
        .unwrap_or(Outcome::NotFound);
    let stats = store.stats();
    let status = match outcome {
        Outcome::Deleted => {
            stats.delete_hits.incr();
            MetaStatus::Hd
        }
        Outcome::Invalidated => MetaStatus::Hd,
        Outcome::CasMismatch => {
            stats.delete_misses.incr();
            MetaStatus::Ex
        }
        Outcome::NotFound => {
            stats.delete_misses.incr();
            MetaStatus::Nf
        }
    };
    let mut reply = MetaReply::new(status, f.order);
    reply.flags.key = Some(req.key.clone());
    reply.flags.key_base64 = f.base64;
    reply.flags.opaque = f.opaque.clone();
    Response::Meta(reply)
}
