//! Executing one keyed request over its placement: replicas, warm-up,
//! repair. Every typed method and [`Client::execute_on`] (so the proxy)
//! come through here.
//!
//! | kind | requests | where |
//! |---|---|---|
//! | plain read | `get` of one key | the replica set (hot keys: starting at a rotating replica), then the previous owners while warming, until a hit; the hit is returned at once and copied in the background to the nodes that missed |
//! | exact read | `gets`, `gat`, `gats`, `mg` | the first replica that answers; on a miss, the item is copied to it from a node further down that holds it, and the request run again, so the CAS, TTL and flags returned are the answering node's own |
//! | overwrite | `set`, `ms` (set mode, no `C`/`I`) | every replica, in parallel |
//! | delete | `delete`, `md` (no `C`/`I`) | previous owners first, then the replicas from last to first: every copy's source before its target (`copy.rs` says why) |
//! | create | `add`, `ms ME`, `ma N`, `mg N` | like modify, after copying the key to the first replica from a node further down, if any holds it (an add must see the item it would duplicate) |
//! | modify | every other write (`cas`, `append`, `incr`, `touch`, `ms` with `C`...) | the first replica that answers; when it lacks the key and a node further down holds it, copy and run again; after a change, the other replicas are set to the first one's item (value, flags, TTL) or deleted with it |
//! | primary | `me` | the first replica |
//!
//! With one replica and no warm-up window a request costs one round trip,
//! exactly as before replicas existed. Secondaries converge on the
//! primary's state after every change; two modifications racing on one
//! key may leave a secondary one step behind until the next change or
//! repair (the primary answers reads and is always right).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::future::join_all;
use ringcache_protocol::{
    Get, MetaDelete, MetaDeleteFlags, MetaReply, MetaStatus, Request, Response, SetMode,
};

use crate::copy::{self, Outcome};
use crate::error::Error;
use crate::key::is_text_key;
use crate::metrics::REPLICA_FALLTHROUGH_TOTAL;
use crate::placement::{Placement, MAX_REPLICAS};
use crate::pool::NodeHandle;
use crate::Client;

/// How a keyed request is executed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    PlainRead,
    ExactRead,
    Overwrite,
    Delete,
    Create,
    Modify,
    Primary,
}

/// The kind and the key (as stored, not as routed) of a single-key
/// request; `None` for anything else.
pub(crate) fn classify(request: &Request) -> Option<(Kind, &Bytes)> {
    use Request as R;
    fn single(keys: &[Bytes]) -> Option<&Bytes> {
        match keys {
            [key] => Some(key),
            _ => None,
        }
    }
    Some(match request {
        R::Get(g) => (Kind::PlainRead, single(&g.keys)?),
        R::Gets(g) => (Kind::ExactRead, single(&g.keys)?),
        R::Gat(g) | R::Gats(g) => (Kind::ExactRead, single(&g.keys)?),
        R::MetaGet(m) if m.flags.vivify.is_some() => (Kind::Create, &m.key),
        R::MetaGet(m) => (Kind::ExactRead, &m.key),
        R::Set(s) => (Kind::Overwrite, &s.key),
        R::Add(s) => (Kind::Create, &s.key),
        R::Replace(s) | R::Append(s) | R::Prepend(s) => (Kind::Modify, &s.key),
        R::Cas(c) => (Kind::Modify, &c.key),
        R::Incr(a) | R::Decr(a) => (Kind::Modify, &a.key),
        R::Touch(t) => (Kind::Modify, &t.key),
        R::Delete(d) => (Kind::Delete, &d.key),
        R::MetaSet(m) => match (m.flags.mode, m.flags.compare_cas, m.flags.invalidate) {
            (SetMode::Set, None, false) => (Kind::Overwrite, &m.key),
            (SetMode::Add, _, _) => (Kind::Create, &m.key),
            _ => (Kind::Modify, &m.key),
        },
        R::MetaDelete(m) if m.flags.compare_cas.is_none() && !m.flags.invalidate => {
            (Kind::Delete, &m.key)
        }
        R::MetaDelete(m) => (Kind::Modify, &m.key),
        R::MetaArithmetic(m) if m.flags.vivify.is_some() => (Kind::Create, &m.key),
        R::MetaArithmetic(m) => (Kind::Modify, &m.key),
        R::MetaDebug(m) => (Kind::Primary, &m.key),
        _ => return None,
    })
}

/// A read's miss.
pub(crate) fn is_miss(response: &Response) -> bool {
    match response {
        Response::Values(values) => values.is_empty(),
        Response::Meta(reply) => reply.status == MetaStatus::En,
        _ => false,
    }
}

/// A modification's "the key is not there".
fn is_absent(response: &Response) -> bool {
    match response {
        Response::NotFound | Response::NotStored => true,
        Response::Meta(reply) => matches!(reply.status, MetaStatus::Nf | MetaStatus::Ns),
        other => is_miss(other),
    }
}

/// Whether a reply says the item changed (so secondaries must follow).
fn changed(request: &Request, response: &Response) -> bool {
    match response {
        Response::Stored | Response::Deleted | Response::Touched | Response::Number(_) => true,
        Response::Meta(MetaReply { status, .. }) => {
            matches!(status, MetaStatus::Hd | MetaStatus::Va)
                && matches!(
                    request,
                    Request::MetaSet(_) | Request::MetaDelete(_) | Request::MetaArithmetic(_)
                )
        }
        _ => false,
    }
}

/// A delete's "it was there".
fn deleted(response: &Response) -> bool {
    match response {
        Response::Deleted => true,
        Response::Meta(reply) => reply.status == MetaStatus::Hd,
        _ => false,
    }
}

/// Nodes in the order a read tries them.
pub(crate) struct ReadOrder<'a> {
    nodes: [Option<&'a NodeHandle>; 2 * MAX_REPLICAS],
    pub(crate) len: usize,
    /// Index of the first previous owner.
    pub(crate) previous_from: usize,
}

impl<'a> ReadOrder<'a> {
    /// The replica set starting at `start` (rotating hot reads), then the
    /// previous owners while warming.
    pub(crate) fn new(p: &'a Placement, start: usize) -> ReadOrder<'a> {
        let mut order = ReadOrder {
            nodes: [None; 2 * MAX_REPLICAS],
            len: 0,
            previous_from: 0,
        };
        let n = p.current_len();
        let current = p.current().cycle().skip(start % n.max(1)).take(n);
        for h in current {
            order.push(h);
        }
        order.previous_from = order.len;
        if p.warming() {
            for h in p.previous() {
                order.push(h);
            }
        }
        order
    }

    fn push(&mut self, h: &'a NodeHandle) {
        if let Some(slot) = self.nodes.get_mut(self.len) {
            *slot = Some(h);
            self.len += 1;
        }
    }

    /// Positions and nodes, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &'a NodeHandle)> + '_ {
        self.nodes[..self.len].iter().flatten().copied().enumerate()
    }
}

impl Client {
    /// Executes a single-key request over `placement`.
    pub(crate) async fn dispatch(
        &self,
        placement: Placement,
        kind: Kind,
        key: &Bytes,
        request: Request,
        hot: bool,
    ) -> Result<Response, Error> {
        if let Some(h) = placement.only() {
            // One node, none before or after it: every kind is one round
            // trip to it (the table above with one replica and no
            // previous owner).
            return h.call(request).await;
        }
        // Boxed: inline, the largest of these futures (about 1.8 KB) would
        // be part of every request's, and moved at each level of the call.
        Box::pin(self.dispatch_among(placement, kind, key, request, hot)).await
    }

    /// [`dispatch`](Client::dispatch) over a placement of several nodes
    /// (replicas, previous owners), or none.
    async fn dispatch_among(
        &self,
        placement: Placement,
        kind: Kind,
        key: &Bytes,
        request: Request,
        hot: bool,
    ) -> Result<Response, Error> {
        if placement.primary().is_none() {
            return Err(placement.unavailable());
        }
        match kind {
            Kind::PlainRead => self.plain_read(&placement, key, request, hot).await,
            Kind::ExactRead => self.exact_read(&placement, key, request, 0).await,
            Kind::Overwrite => overwrite(&placement, request).await,
            Kind::Delete => delete(&placement, request).await,
            Kind::Create | Kind::Modify => self.modify(&placement, kind, key, request).await,
            Kind::Primary => match placement.primary() {
                Some(h) => h.call(request).await,
                None => Err(placement.unavailable()),
            },
        }
    }

    /// `get` of one key: the first node of the read order that has it;
    /// nodes that missed before it get a background copy.
    async fn plain_read(
        &self,
        p: &Placement,
        key: &Bytes,
        request: Request,
        hot: bool,
    ) -> Result<Response, Error> {
        let start = self.read_start(p, hot);
        self.plain_read_from(p, key, request, start, 0, Vec::new())
            .await
    }

    /// Where a plain read of a key starts in its replica set: the first
    /// replica, or for a hot key the next one in turn.
    pub(crate) fn read_start(&self, p: &Placement, hot: bool) -> usize {
        if hot && p.current_len() > 1 {
            self.inner.hot_turn.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        }
    }

    /// [`plain_read`](Client::plain_read) from position `skip` of the read
    /// order starting at `start`; `missed` holds the nodes before `skip`
    /// that answered a miss.
    pub(crate) async fn plain_read_from(
        &self,
        p: &Placement,
        key: &Bytes,
        request: Request,
        start: usize,
        skip: usize,
        mut missed: Vec<NodeHandle>,
    ) -> Result<Response, Error> {
        let order = ReadOrder::new(p, start);
        let mut error = None;
        let mut answer = None;
        // The last node takes the request itself: one node, no clone.
        let mut request = Some(request);
        for (i, h) in order.iter().skip(skip) {
            if i > 0 {
                metrics::counter!(REPLICA_FALLTHROUGH_TOTAL).increment(1);
            }
            let this = if i + 1 == order.len {
                request.take()
            } else {
                request.clone()
            };
            let Some(this) = this else { break };
            match h.call(this).await {
                Ok(r) if is_miss(&r) => {
                    // Remembered only if a later node may hit and repair it:
                    // a plain miss allocates nothing.
                    if i + 1 < order.len {
                        missed.push(h.clone());
                    }
                    answer = Some(r);
                }
                Ok(r) => {
                    if i >= order.previous_from {
                        self.note_warm_read(p, true);
                    }
                    // Only to nodes ranked before the source (a hot read
                    // may have started further down the ring): deletes
                    // reach a copy's source first.
                    let source = p.rank(h);
                    missed.retain(|m| p.rank(m) < source);
                    if !missed.is_empty() {
                        self.copy_behind(i >= order.previous_from, h, missed, key);
                    }
                    return Ok(r);
                }
                Err(e) => error = Some(e),
            }
        }
        if order.len > order.previous_from {
            self.note_warm_read(p, false);
        }
        match (answer, error) {
            (Some(miss), _) => Ok(miss),
            (None, Some(e)) => Err(e),
            (None, None) => Err(p.unavailable()),
        }
    }

    fn note_warm_read(&self, p: &Placement, answered: bool) {
        if let Some(w) = &p.warmup {
            w.note_moved_read(answered);
        }
    }

    /// Copies `key` from `source` to the nodes that missed it, in the
    /// background.
    fn copy_behind(&self, warm: bool, source: &NodeHandle, missed: Vec<NodeHandle>, key: &Bytes) {
        let reason = if warm { "warmup" } else { "repair" };
        self.inner
            .copier
            .spawn_copy(reason, source.clone(), missed, key.clone());
    }

    /// Finds a node of `p` after `target` in read order that holds `key`
    /// and copies the item to `target`. Whether `target` holds it now.
    /// Only later nodes: deletes reach them first, which is what makes a
    /// copy racing a delete harmless (`copy.rs`).
    pub(crate) async fn fill(&self, p: &Placement, target: &NodeHandle, key: &Bytes) -> bool {
        let order = ReadOrder::new(p, 0);
        let sources = order
            .iter()
            .skip_while(|(_, h)| h.name() != target.name())
            .skip(1);
        for (i, source) in sources {
            let warm = i >= order.previous_from;
            match copy::read(source, key).await {
                Ok(Some(item)) => {
                    let result = copy::write(source, target, key, &item).await;
                    copy::record(if warm { "warmup" } else { "repair" }, &result);
                    if warm {
                        self.note_warm_read(p, true);
                    }
                    return matches!(result, Ok(Outcome::Copied | Outcome::TargetHeld));
                }
                Ok(None) | Err(_) => continue,
            }
        }
        if order.len > order.previous_from {
            self.note_warm_read(p, false);
        }
        false
    }

    /// `gets`/`gat`/`gats`/`mg`: the first replica that answers; a miss
    /// there is filled from further down and the request run again.
    pub(crate) async fn exact_read(
        &self,
        p: &Placement,
        key: &Bytes,
        request: Request,
        skip: usize,
    ) -> Result<Response, Error> {
        if let (1, 0, false) = (p.current_len(), skip, p.warming()) {
            // Nowhere else to look: one round trip, no clone.
            if let Some(h) = p.primary() {
                return h.call(request).await;
            }
        }
        let mut error = None;
        for h in p.current().skip(skip) {
            match h.call(request.clone()).await {
                Ok(r) if is_miss(&r) && self.fill(p, h, key).await => {
                    return h.call(request).await;
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    metrics::counter!(REPLICA_FALLTHROUGH_TOTAL).increment(1);
                    error = Some(e);
                }
            }
        }
        Err(error.unwrap_or_else(|| p.unavailable()))
    }

    /// Writes that read the item first (see the module docs).
    async fn modify(
        &self,
        p: &Placement,
        kind: Kind,
        key: &Bytes,
        request: Request,
    ) -> Result<Response, Error> {
        let fallbacks = p.current_len() > 1 || p.warming();
        if !fallbacks {
            // One node and nothing to copy from: one round trip, no clone.
            if let Some(h) = p.primary() {
                return h.call(request).await;
            }
        }
        let mut error = None;
        for h in p.current() {
            if kind == Kind::Create && fallbacks && !holds(h, key).await {
                self.fill(p, h, key).await;
            }
            let mut response = match h.call(request.clone()).await {
                Ok(r) => r,
                Err(e) => {
                    metrics::counter!(REPLICA_FALLTHROUGH_TOTAL).increment(1);
                    error = Some(e);
                    continue;
                }
            };
            if kind == Kind::Modify
                && fallbacks
                && is_absent(&response)
                && self.fill(p, h, key).await
            {
                response = h.call(request.clone()).await?;
            }
            if changed(&request, &response) {
                let others: Vec<&NodeHandle> =
                    p.current().filter(|o| o.name() != h.name()).collect();
                if !others.is_empty() {
                    sync(h, &others, key).await;
                }
            }
            return Ok(response);
        }
        Err(error.unwrap_or_else(|| p.unavailable()))
    }
}

/// Whether `node` holds `key` (`mg <key>`; a failure counts as "no").
async fn holds(node: &NodeHandle, key: &Bytes) -> bool {
    let request = Request::MetaGet(ringcache_protocol::MetaGet {
        key: key.clone(),
        flags: ringcache_protocol::MetaGetFlags {
            base64: !is_text_key(key),
            ..Default::default()
        },
    });
    matches!(node.call(request).await, Ok(Response::Meta(r)) if r.status == MetaStatus::Hd)
}

/// Brings `others` to `primary`'s item: **replaces** what a secondary
/// holds (never creates: a secondary that lacks the key may lack it
/// because a delete is on its way through the replicas, and a later repair
/// would copy it back to the primary), or deletes it from them when the
/// primary no longer holds it, or holds it for a second or less. The
/// replace is checked against the primary afterwards and undone if a
/// delete or write raced with it (`copy::put`).
async fn sync(primary: &NodeHandle, others: &[&NodeHandle], key: &Bytes) {
    let item = match copy::read(primary, key).await {
        Ok(item) => item,
        Err(e) => {
            tracing::debug!(node = primary.name(), error = %e, "replica sync: primary unreadable");
            return;
        }
    };
    let syncs: Vec<_> = others
        .iter()
        .map(|o| async {
            let outcome = match &item {
                Some(item) => copy::put(primary, o, key, item, SetMode::Replace).await,
                None => Ok(Outcome::SourceMiss),
            };
            match outcome {
                Ok(Outcome::SourceMiss | Outcome::Expiring) => o.call(plain_delete(key)).await,
                Ok(_) => Ok(Response::Stored),
                Err(e) => Err(e),
            }
        })
        .collect();
    for (o, result) in others.iter().zip(join_all(syncs).await) {
        if let Err(e) = result {
            tracing::debug!(node = o.name(), error = %e, "replica sync failed");
        }
    }
}

/// `md <key>` (base64 for a binary key).
fn plain_delete(key: &Bytes) -> Request {
    Request::MetaDelete(MetaDelete {
        key: key.clone(),
        flags: MetaDeleteFlags {
            base64: !is_text_key(key),
            ..MetaDeleteFlags::default()
        },
    })
}

/// `set`/`ms`: every replica in parallel. The first replica's success,
/// else any success, else the first replica's error.
async fn overwrite(p: &Placement, request: Request) -> Result<Response, Error> {
    if p.current_len() == 1 {
        if let Some(h) = p.primary() {
            return h.call(request).await;
        }
    }
    let calls: Vec<_> = p.current().map(|h| h.call(request.clone())).collect();
    let mut first: Option<Result<Response, Error>> = None;
    for result in join_all(calls).await {
        match (&first, &result) {
            (None, _) | (Some(Err(_)), Ok(_)) => first = Some(result),
            _ => {}
        }
    }
    first.unwrap_or_else(|| Err(p.unavailable()))
}

/// `delete`/`md`, one node after the other, so that every copy's source
/// is deleted before its target (`copy.rs` says why that order makes a
/// racing copy harmless): previous owners first (warm-up copies go from
/// them to the replicas), then the replicas last to first (repairs go from
/// a later replica to an earlier one). Syncs from the primary only replace
/// what a secondary holds (`sync`), so they cannot bring a deleted key
/// back to a secondary that a later repair would copy from.
/// The primary's reply, unless it found nothing and another node deleted.
async fn delete(p: &Placement, request: Request) -> Result<Response, Error> {
    // A placement of one node never gets here: `dispatch` calls it directly.
    let mut order: Vec<&NodeHandle> = Vec::with_capacity(2 * MAX_REPLICAS);
    order.extend(p.previous());
    let current: Vec<&NodeHandle> = p.current().collect();
    order.extend(current.iter().rev());
    let mut best: Option<Result<Response, Error>> = None;
    for h in order {
        let result = h.call(request.clone()).await;
        best = match (best, result) {
            (None, r) => Some(r),
            (Some(Ok(b)), Ok(r)) if deleted(&b) && !deleted(&r) => Some(Ok(b)),
            (Some(Ok(b)), Err(_)) => Some(Ok(b)),
            (_, r) => Some(r),
        };
    }
    best.unwrap_or_else(|| Err(p.unavailable()))
}

/// The same read command for a subset of its keys.
pub(crate) fn with_keys(request: &Request, keys: Vec<Bytes>) -> Request {
    match request {
        Request::Gets(_) => Request::Gets(Get { keys }),
        Request::Gat(g) => Request::Gat(ringcache_protocol::Gat {
            exptime: g.exptime,
            keys,
        }),
        Request::Gats(g) => Request::Gats(ringcache_protocol::Gat {
            exptime: g.exptime,
            keys,
        }),
        _ => Request::Get(Get { keys }),
    }
}

#[cfg(test)]
mod tests {
    use ringcache_protocol::{MetaSet, MetaSetFlags};

    use super::*;

    /// What the dispatch layer adds to every request before it is queued:
    /// placement (replica set, previous owners, the failover journal's
    /// check), classification and the hot-key count. Against 10 nodes nobody listens on (nothing is sent).
    /// `cargo test --release -p ringcache-client --lib -- --ignored
    /// measure_dispatch_overhead --nocapture`
    #[tokio::test]
    #[ignore = "a measurement: prints ns per request"]
    async fn measure_dispatch_overhead() {
        let names: Vec<String> = (0..10)
            .map(|_| {
                let l =
                    std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
                l.local_addr().map(|a| a.to_string()).unwrap_or_default()
            })
            .collect();
        let keys: Vec<Bytes> = (0..65_536)
            .map(|i| Bytes::from(format!("key:{i:016x}")))
            .collect();
        for replicas in [1, 2] {
            let client = crate::Client::builder()
                .nodes(names.clone())
                .connections_per_node(1)
                .replicas(replicas)
                .build()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let n = 2_000_000;
            let started = std::time::Instant::now();
            let mut sum = 0usize;
            for i in 0..n {
                let key = &keys[i % keys.len()];
                let mut request = Request::Get(Get {
                    keys: vec![key.clone()],
                });
                let p = client
                    .place_request(key, &mut request)
                    .unwrap_or_else(|e| panic!("{e}"));
                let (kind, _) = classify(&request).unwrap_or((Kind::Primary, key));
                let hot = client.record_read(key);
                sum += p.current_len() + usize::from(hot) + usize::from(kind == Kind::PlainRead);
            }
            let per = started.elapsed().as_nanos() as f64 / n as f64;
            println!("replicas {replicas}: {per:.0} ns per request (place + classify + hot count + request), {sum}");
        }
    }

    #[test]
    fn with_keys_keeps_the_command_and_exptime() {
        let keys = vec![Bytes::from_static(b"a")];
        let gats = Request::Gats(ringcache_protocol::Gat {
            exptime: 7,
            keys: vec![],
        });
        assert_eq!(
            with_keys(&gats, keys.clone()),
            Request::Gats(ringcache_protocol::Gat { exptime: 7, keys })
        );
    }

    #[test]
    fn kinds() {
        let k = || Bytes::from_static(b"k");
        let get = Request::Get(Get { keys: vec![k()] });
        assert_eq!(classify(&get).map(|c| c.0), Some(Kind::PlainRead));
        let get2 = Request::Get(Get {
            keys: vec![k(), k()],
        });
        assert!(
            classify(&get2).is_none(),
            "multi-key reads are not single-key"
        );
        let ms = |mode, cas| {
            Request::MetaSet(MetaSet {
                key: k(),
                value: Bytes::new(),
                flags: MetaSetFlags {
                    mode,
                    compare_cas: cas,
                    ..MetaSetFlags::default()
                },
            })
        };
        assert_eq!(
            classify(&ms(SetMode::Set, None)).map(|c| c.0),
            Some(Kind::Overwrite)
        );
        assert_eq!(
            classify(&ms(SetMode::Set, Some(1))).map(|c| c.0),
            Some(Kind::Modify)
        );
        assert_eq!(
            classify(&ms(SetMode::Add, None)).map(|c| c.0),
            Some(Kind::Create)
        );
        assert_eq!(
            classify(&ms(SetMode::Append, None)).map(|c| c.0),
            Some(Kind::Modify)
        );
        let md = |cas| {
            Request::MetaDelete(MetaDelete {
                key: k(),
                flags: MetaDeleteFlags {
                    compare_cas: cas,
                    ..MetaDeleteFlags::default()
                },
            })
        };
        assert_eq!(classify(&md(None)).map(|c| c.0), Some(Kind::Delete));
        assert_eq!(classify(&md(Some(3))).map(|c| c.0), Some(Kind::Modify));
        assert!(classify(&Request::Version).is_none());
    }
}
