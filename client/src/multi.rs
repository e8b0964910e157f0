//! Multi-key reads (`get`/`gets`/`gat`/`gats k1 k2 ...`): one request per
//! node, all nodes in parallel, then a follow-up per key that missed or
//! failed where its placement has somewhere else to look (another replica,
//! a previous owner while warming).

use std::collections::HashMap;

use bytes::Bytes;
use ringcache_protocol::{Request, Response, Value};

use futures_util::future::join_all;

use crate::dispatch::{is_miss, with_keys, Kind, ReadOrder};
use crate::error::Error;
use crate::failover::written_keys;
use crate::key::routing_key;
use crate::ops::{chunks, NodeFailure};
use crate::placement::Placement;
use crate::pool::NodeHandle;
use crate::Client;

/// The reply to a multi-key read through [`Client::execute_read`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReadReply {
    /// Hits, in the request's key order (misses left out, as memcached's
    /// `VALUE ... END` reply does).
    pub values: Vec<Value>,
    /// Keys no node could read, by node.
    pub failed: Vec<NodeFailure>,
    /// A node's error reply to its part of the read (`SERVER_ERROR ...`),
    /// which memcached would have sent for the whole request.
    pub error_reply: Option<Response>,
}

/// What became of one key in the first round.
enum First {
    Hit(Value),
    Miss(NodeHandle),
    Failed(NodeHandle, Error),
    Unplaced(Error),
}

impl Client {
    /// Executes a multi-key read (`get`, `gets`, `gat`, `gats` with any
    /// number of keys) over the cluster: keys grouped by node, one request
    /// per node, all in parallel, merged in the request's key order; with
    /// replicas or during a warm-up window, keys that missed or failed are
    /// looked up further (see `dispatch.rs`). A read of one key is
    /// [`Client::execute`]'s (no grouping to pay for; a hot key may then be
    /// served from the near cache, when `hot_near_ttl` is set, as a typed
    /// `get` is). What the proxy runs for every read of keys;
    /// [`get_many`](Client::get_many) is the typed form.
    ///
    /// Keys are routed as stored; keys the text protocol cannot carry
    /// (control bytes, spaces from a meta command's base64 form) route by a
    /// fixed rule (each such byte `b` read as `b | 0x80`), the same in
    /// every client.
    ///
    /// # Errors
    ///
    /// [`Error::Client`] when `request` is not a read of keys.
    pub async fn execute_read(&self, request: &Request) -> Result<ReadReply, Error> {
        let (keys, kind) = match request {
            Request::Get(g) => (&g.keys, Kind::PlainRead),
            Request::Gets(g) => (&g.keys, Kind::ExactRead),
            Request::Gat(g) | Request::Gats(g) => (&g.keys, Kind::ExactRead),
            _ => {
                return Err(Error::Client(
                    "execute_read takes get, gets, gat, gats".into(),
                ))
            }
        };
        let mut reply = ReadReply::default();
        let key = match keys.as_slice() {
            [] => return Ok(reply),
            [key] => key,
            _ => return Ok(self.read_many(request, keys, kind).await),
        };
        // One key (most reads through the proxy): the single-key path,
        // which makes the same choices without grouping by node.
        let failure = match self.execute(request.clone()).await {
            Ok(Response::Values(values)) => {
                reply.values = values;
                None
            }
            Ok(other) => {
                // An error line, as the first round records one.
                let node = self.primary_name(key);
                let error = crate::ops::unexpected(&node, other.clone());
                reply.error_reply = Some(other);
                Some((node, error))
            }
            Err(error) => Some((crate::ops::error_node(&error).unwrap_or_default(), error)),
        };
        if let Some((node, error)) = failure {
            reply.failed.push(NodeFailure {
                node,
                keys: vec![key.clone()],
                error,
            });
        }
        Ok(reply)
    }

    /// The name of `key`'s first node now (for error reports).
    #[cold]
    fn primary_name(&self, key: &[u8]) -> String {
        self.place(&routing_key(key))
            .ok()
            .and_then(|p| p.primary().map(|h| h.name().to_owned()))
            .unwrap_or_default()
    }

    /// [`execute_read`](Client::execute_read) of two keys or more.
    async fn read_many(&self, request: &Request, keys: &[Bytes], kind: Kind) -> ReadReply {
        let mut reply = ReadReply::default();
        let hot = self.hot_reads(keys, kind);
        // gat/gats change TTLs: journaled and capped where they fail over.
        let writes = !written_keys(request).is_empty();
        let mut capped = vec![false; keys.len()];
        let (placements, starts) = {
            let topology = self.inner.topology.load();
            let config = &self.inner.config;
            let mut placements = Vec::with_capacity(keys.len());
            let mut starts = Vec::with_capacity(keys.len());
            for (i, (key, &hot)) in keys.iter().zip(&hot).enumerate() {
                let route = routing_key(key);
                let mut placement = topology.place(&route, config);
                if writes && placement.as_ref().is_ok_and(|p| p.routes_around()) {
                    placement = self.journal_write(&route, std::slice::from_ref(key)).map(
                        |(p, outside)| {
                            capped[i] = outside && self.failover_cap().is_some();
                            p
                        },
                    );
                }
                starts.push(match &placement {
                    Ok(p) if kind == Kind::PlainRead => self.read_start(p, hot),
                    _ => 0,
                });
                placements.push(placement);
            }
            (placements, starts)
        };
        let (mut first, error_reply) = self
            .first_round(request, keys, &placements, &starts, &capped)
            .await;
        reply.error_reply = error_reply;
        // Follow-ups, in parallel: keys that missed or failed and have
        // another node to ask.
        let followups = first.iter().enumerate().filter_map(|(i, outcome)| {
            let p = placements.get(i)?.as_ref().ok()?;
            let order = ReadOrder::new(p, starts[i]);
            let (missed, retry) = match outcome {
                First::Miss(h) => (vec![h.clone()], order.len > 1),
                First::Failed(..) => (Vec::new(), order.len > 1),
                _ => return None,
            };
            if !retry {
                return None;
            }
            let mut single = with_keys(request, vec![keys[i].clone()]);
            if capped[i] {
                self.cap(&mut single);
            }
            let start = starts[i];
            let key = &keys[i];
            Some(async move {
                let result = match kind {
                    Kind::PlainRead => self.plain_read_from(p, key, single, start, 1, missed).await,
                    _ => match outcome {
                        First::Miss(h) if self.fill(p, h, key).await => h.call(single).await,
                        First::Miss(_) => return (i, None),
                        _ => self.exact_read(p, key, single, 1).await,
                    },
                };
                (i, Some(result))
            })
        });
        let followups: Vec<_> = followups.collect();
        for (i, result) in join_all(followups).await {
            match result {
                Some(Ok(r)) if is_miss(&r) => {}
                Some(Ok(Response::Values(values))) => {
                    if let Some(v) = values.into_iter().next() {
                        first[i] = First::Hit(v);
                    }
                }
                Some(Ok(other)) => reply.error_reply = Some(other),
                Some(Err(e)) => {
                    if let First::Failed(_, error) = &mut first[i] {
                        *error = e;
                    }
                }
                None => {}
            }
        }
        let mut failed: HashMap<String, NodeFailure> = HashMap::new();
        for (i, outcome) in first.into_iter().enumerate() {
            match outcome {
                First::Hit(v) => reply.values.push(v),
                First::Miss(_) => {}
                First::Failed(h, error) => {
                    let name =
                        crate::ops::error_node(&error).unwrap_or_else(|| h.name().to_owned());
                    push_failure(&mut failed, name, keys[i].clone(), error);
                }
                First::Unplaced(error) => {
                    let name = crate::ops::error_node(&error).unwrap_or_default();
                    push_failure(&mut failed, name, keys[i].clone(), error);
                }
            }
        }
        reply.failed = failed.into_values().collect();
        reply.failed.sort_by(|a, b| a.node.cmp(&b.node));
        reply
    }

    /// Whether each key is hot (plain reads only: exact reads go to the
    /// primary whatever the key's heat).
    fn hot_reads(&self, keys: &[Bytes], kind: Kind) -> Vec<bool> {
        keys.iter()
            .map(|k| kind == Kind::PlainRead && self.inner.hot_reads_on() && self.record_read(k))
            .collect()
    }

    /// One request per first node, all in parallel; per node, the keys
    /// whose TTL is `capped` (failover gat/gats) in requests of their own.
    async fn first_round(
        &self,
        request: &Request,
        keys: &[Bytes],
        placements: &[Result<Placement, Error>],
        starts: &[usize],
        capped: &[bool],
    ) -> (Vec<First>, Option<Response>) {
        let mut error_reply = None;
        let mut groups: Vec<(NodeHandle, bool, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<(&str, bool), usize> = HashMap::new();
        let mut first: Vec<Option<First>> = Vec::with_capacity(keys.len());
        for (i, placement) in placements.iter().enumerate() {
            let p = match placement {
                Ok(p) => p,
                Err(e) => {
                    first.push(Some(First::Unplaced(e.clone())));
                    continue;
                }
            };
            let order = ReadOrder::new(p, starts[i]);
            let Some((_, h)) = order.iter().next() else {
                first.push(Some(First::Unplaced(p.unavailable())));
                continue;
            };
            first.push(None);
            let group = (h.name(), capped[i]);
            match group_of.get(&group) {
                Some(&g) => groups[g].2.push(i),
                None => {
                    group_of.insert(group, groups.len());
                    groups.push((h.clone(), capped[i], vec![i]));
                }
            }
        }
        // Queue every request first, then wait: all nodes work at once.
        let mut pending = Vec::new();
        for (handle, capped, positions) in &groups {
            let mut at = 0;
            for chunk in chunks(positions.iter().map(|&i| keys[i].clone()).collect()) {
                let these = &positions[at..at + chunk.len()];
                at += chunk.len();
                let mut sub = with_keys(request, chunk);
                if *capped {
                    self.cap(&mut sub);
                }
                pending.push((handle, these, handle.submit(sub).await));
            }
        }
        for (handle, positions, submitted) in pending {
            let result = match submitted {
                Ok(p) => p.wait().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(Response::Values(values)) => {
                    // A node answers in the order it was asked.
                    let mut cursor = positions.iter();
                    for value in values {
                        for &i in cursor.by_ref() {
                            if keys[i] == value.key {
                                first[i] = Some(First::Hit(value));
                                break;
                            }
                        }
                    }
                    for &i in positions {
                        if first[i].is_none() {
                            first[i] = Some(First::Miss(handle.clone()));
                        }
                    }
                }
                Ok(other) => {
                    let error = crate::ops::unexpected(handle.name(), other.clone());
                    error_reply = Some(other);
                    for &i in positions {
                        first[i] = Some(First::Failed(handle.clone(), error.clone()));
                    }
                }
                Err(error) => {
                    for &i in positions {
                        first[i] = Some(First::Failed(handle.clone(), error.clone()));
                    }
                }
            }
        }
        let first = first
            .into_iter()
            .map(|f| f.unwrap_or(First::Unplaced(Error::NoNodes)))
            .collect();
        (first, error_reply)
    }
}

fn push_failure(failed: &mut HashMap<String, NodeFailure>, node: String, key: Bytes, error: Error) {
    failed
        .entry(node.clone())
        .or_insert_with(|| NodeFailure {
            node,
            keys: Vec::new(),
            error,
        })
        .keys
        .push(key);
}
