//! The failover journal: the keys written elsewhere while a node was
//! ejected, deleted on the node before it is taken back.
//!
//! # The hazard
//!
//! Under [`FailurePolicy::Eject`](crate::FailurePolicy::Eject) an ejected
//! node's keys go to the next node of the ring's replica walk. A node
//! ejected after a stall, a partition or a GC pause still holds what it
//! held before (a restarted one comes back empty). Without the journal,
//! once a probe brings it back, reads of every key written or deleted
//! during the ejection would be served its old value until the item
//! expired: cache-aside's "update the database, delete the key" lost.
//! Under [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss) no
//! key moves, but the same delete fails while the node is out and the
//! node keeps the old value: its journal records refused writes too.
//!
//! # What the client does
//!
//! 1. **Record** (`failover.rs`): every write (see [`written_keys`]) whose
//!    key's natural replica set (the first [`Config::replicas`] nodes of
//!    its ring walk, health ignored) holds an ejected node records the key,
//!    as stored, in that node's journal *before* the request is sent. At
//!    most [`Config::failover_journal_keys`] keys; past that the journal is
//!    marked overflowed and records nothing more.
//! 2. **Replay** (`health.rs`, after a probe succeeds, before the node is
//!    taken back): on the probe's fresh connection, pipelined `delete`s of
//!    every journaled key (`md <base64> b` for keys the text protocol
//!    cannot carry), in batches of [`REPLAY_BATCH`]; for an overflowed
//!    journal one `flush_all` instead (the node's contents are suspect: a
//!    `warn!` says so). Counted in
//!    `ringcache_client_failover_invalidations_total{node,kind}`.
//! 3. **Return**: only when the journal is empty. If the replay fails, the
//!    keys go back into the journal, the node stays ejected and is probed
//!    again later.
//!
//! # Why a key recorded concurrently is never missed
//!
//! Recording and marking the node up happen under the journal's lock, and
//! a record first checks, under that lock, that the node is still ejected.
//! The probe task loops: under the lock, if the journal is empty (and not
//! overflowed) it marks the node up *while still holding the lock*;
//! otherwise it takes the keys, releases the lock, deletes them on the
//! node and tries again. So for a write that found the node ejected:
//!
//! - its record came before the final empty check: its key was taken and
//!   deleted on the node before the node was marked up; the write itself
//!   may land on the failover node after the return, as an orphan (TTL
//!   capped) that no read reaches while the node is up;
//! - or its record came after the mark-up: the journal refuses it (the
//!   node is no longer ejected), and the write places its key again and
//!   goes to the node itself (`Client::journal_write`).
//!
//! There is no third order: the mark-up and the record both hold the lock.
//! Ejecting does not take the lock: the journal is always empty when a node
//! goes out (a node is only marked up with an empty journal), and a record
//! that sees the flag set while the node goes out only adds a key.
//!
//! # What it does not cover
//!
//! (docs/hardening.md, "Stale reads after an ejection", says the same with
//! the measurements.)
//!
//! - Writes by **another** client process: each journals only the writes
//!   it routed around the node. While this process has the node ejected, a
//!   process that still sees it up uses the node itself, so the two
//!   disagree for the length of the ejection; two processes that both
//!   ejected it each delete their own writes when *they* take it back, and
//!   until the later return the earlier one's readers can read the node's
//!   old value of a key only the other wrote.
//! - A write sent to the node **before** its ejection that timed out: it
//!   was reported as failed, but the node may execute it when it resumes.
//!   If the key was written again during the ejection, the replay deletes
//!   it afterwards, as the node has read what was queued on its older
//!   connections by the time it answers the probe (in practice: the kernel
//!   orders nothing between two connections); if not, the node holds a
//!   value newer than any this client saw acknowledged, which is not stale.
//! - The journal lives in memory: a process restarted during an ejection
//!   forgets it.
//! - Orphans on the failover node until their capped TTL runs out: if the
//!   owner is ejected again within [`Config::failover_ttl`], reads fall over
//!   to values written during the previous ejection and not rewritten since.
//! - With replicas, copies made by repair, warm-up and drain are not
//!   journaled (they copy values that already exist, in add mode), and a
//!   secondary synced from its primary after an `append`, `prepend`,
//!   `incr` or `decr` takes the primary's TTL, uncapped.
//!
//! [`written_keys`]: crate::failover::written_keys
//! [`Config::replicas`]: crate::Config::replicas
//! [`Config::failover_journal_keys`]: crate::Config::failover_journal_keys
//! [`Config::failover_ttl`]: crate::Config::failover_ttl

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use metrics::Counter;
use ringcache_protocol::{
    Delete, FlushAll, MetaDelete, MetaDeleteFlags, MetaStatus, Request, Response,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::Error;
use crate::health::{exchange, Health};
use crate::key::is_text_key;
use crate::metrics::{FAILOVER_INVALIDATIONS_TOTAL, FAILOVER_WRITES_TOTAL};

/// Deletes written per batch of a replay: about 64 KiB of requests with
/// 250-byte keys, answered before the next batch is written.
pub(crate) const REPLAY_BATCH: usize = 256;

/// One node's failover journal.
#[derive(Debug)]
pub(crate) struct Journal {
    bound: usize,
    state: Mutex<State>,
    writes: Counter,
    deletes: Counter,
    flushes: Counter,
}

#[derive(Debug, Default)]
struct State {
    /// Keys as stored, copied out of the request (a slice would pin the
    /// whole request frame, value included).
    keys: HashSet<Box<[u8]>>,
    /// More than `bound` keys were recorded: the node gets `flush_all`.
    overflowed: bool,
}

/// What one replay round invalidates.
#[derive(Debug)]
pub(crate) struct Batch {
    keys: Vec<Box<[u8]>>,
    overflowed: bool,
}

impl Batch {
    /// Keys to delete (none when the node is to be flushed).
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the node is to be flushed.
    pub(crate) fn flush(&self) -> bool {
        self.overflowed
    }
}

impl Journal {
    /// An empty journal of at most `bound` keys for the node `node`.
    pub(crate) fn new(node: &str, bound: usize) -> Journal {
        Journal {
            bound,
            state: Mutex::new(State::default()),
            writes: metrics::counter!(FAILOVER_WRITES_TOTAL, "node" => node.to_owned()),
            deletes: metrics::counter!(FAILOVER_INVALIDATIONS_TOTAL, "node" => node.to_owned(), "kind" => "delete"),
            flushes: metrics::counter!(FAILOVER_INVALIDATIONS_TOTAL, "node" => node.to_owned(), "kind" => "flush"),
        }
    }

    /// Most keys held before the journal overflows.
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover the data anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `keys`, written elsewhere because the node is ejected.
    /// `false` (nothing recorded) when the node is no longer ejected: it
    /// came back (or left the membership) since the write found it out.
    pub(crate) fn record(&self, health: &Health, keys: &[Bytes]) -> bool {
        let mut state = self.lock();
        if !health.is_ejected() {
            return false;
        }
        self.writes.increment(1);
        for key in keys {
            if state.overflowed {
                break;
            }
            if state.keys.contains(&key[..]) {
                continue;
            }
            if state.keys.len() >= self.bound {
                // The node will be flushed: the keys are no use any more.
                state.overflowed = true;
                state.keys = HashSet::new();
                break;
            }
            state.keys.insert(Box::from(&key[..]));
        }
        true
    }

    /// Under the lock: the journal's content, or, when it is empty,
    /// `mark_up()` (the node's return) and `None`. See the module docs for
    /// why the return must happen under the lock.
    pub(crate) fn take_or(&self, mark_up: impl FnOnce()) -> Option<Batch> {
        let mut state = self.lock();
        if state.keys.is_empty() && !state.overflowed {
            mark_up();
            return None;
        }
        let keys = std::mem::take(&mut state.keys).into_iter().collect();
        let overflowed = std::mem::take(&mut state.overflowed);
        Some(Batch { keys, overflowed })
    }

    /// Puts back a batch whose replay failed, with whatever was recorded
    /// meanwhile.
    pub(crate) fn put_back(&self, batch: Batch) {
        let mut state = self.lock();
        if batch.overflowed || state.overflowed {
            state.overflowed = true;
            state.keys = HashSet::new();
            return;
        }
        for key in batch.keys {
            if state.keys.len() >= self.bound && !state.keys.contains(&key) {
                state.overflowed = true;
                state.keys = HashSet::new();
                return;
            }
            state.keys.insert(key);
        }
    }

    /// Keys held now, and whether the journal overflowed.
    #[cfg(test)]
    pub(crate) fn peek(&self) -> (usize, bool) {
        let state = self.lock();
        (state.keys.len(), state.overflowed)
    }
}

/// Invalidates `batch` on the node at `address` over `stream` (a fresh
/// connection): pipelined deletes, or `flush_all` for an overflowed
/// journal. Each batch of requests must be answered within `timeout`.
///
/// # Errors
///
/// [`Error::Io`], [`Error::Timeout`]; [`Error::Protocol`] for a reply that
/// is neither "deleted" nor "not found" (or `OK` to `flush_all`).
pub(crate) async fn replay<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    address: &str,
    journal: &Journal,
    batch: &Batch,
    timeout: Duration,
) -> Result<(), Error> {
    if batch.overflowed {
        let flush = Request::FlushAll(FlushAll {
            delay: None,
            noreply: false,
        });
        let replies = exchange(stream, address, std::slice::from_ref(&flush), timeout).await?;
        return match replies.as_slice() {
            [Response::Ok] => {
                journal.flushes.increment(1);
                Ok(())
            }
            other => Err(Error::protocol(
                address,
                format!("unexpected reply to a replay's flush_all: {other:?}"),
            )),
        };
    }
    for keys in batch.keys.chunks(REPLAY_BATCH) {
        let requests: Vec<Request> = keys.iter().map(|k| invalidation(k)).collect();
        let replies = exchange(stream, address, &requests, timeout).await?;
        for reply in &replies {
            let invalidated = match reply {
                Response::Deleted | Response::NotFound => true,
                Response::Meta(m) => matches!(m.status, MetaStatus::Hd | MetaStatus::Nf),
                _ => false,
            };
            if !invalidated {
                return Err(Error::protocol(
                    address,
                    format!("unexpected reply to a replay's delete: {reply:?}"),
                ));
            }
        }
        journal.deletes.increment(replies.len() as u64);
    }
    Ok(())
}

/// `delete <key>`, or `md <base64> b` for a key the text protocol cannot
/// carry (as `copy.rs` sends binary keys).
fn invalidation(key: &[u8]) -> Request {
    let key = Bytes::copy_from_slice(key);
    if is_text_key(&key) {
        Request::Delete(Delete {
            key,
            noreply: false,
        })
    } else {
        Request::MetaDelete(MetaDelete {
            key,
            flags: MetaDeleteFlags {
                base64: true,
                ..MetaDeleteFlags::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ringcache_protocol::encode_request;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn ejected() -> Health {
        let health = Health::default();
        health.set_ejected_for_test(true);
        health
    }

    fn keys(names: &[&str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|n| Bytes::copy_from_slice(n.as_bytes()))
            .collect()
    }

    #[test]
    fn records_only_while_the_node_is_ejected() {
        let journal = Journal::new("n", 10);
        let health = Health::default();
        assert!(!journal.record(&health, &keys(&["a"])));
        assert_eq!(journal.peek(), (0, false));
        health.set_ejected_for_test(true);
        assert!(journal.record(&health, &keys(&["a", "b", "a"])));
        assert_eq!(journal.peek(), (2, false));
    }

    #[test]
    fn marks_up_only_when_empty() {
        let journal = Journal::new("n", 10);
        let health = ejected();
        journal.record(&health, &keys(&["a", "b"]));
        let mut marked = false;
        let batch = journal.take_or(|| marked = true);
        assert!(!marked);
        let batch = batch.unwrap_or_else(|| panic!("keys were recorded"));
        assert_eq!((batch.len(), batch.flush()), (2, false));
        // A key recorded during the replay: another round.
        journal.record(&health, &keys(&["c"]));
        assert!(journal.take_or(|| marked = true).is_some());
        assert!(!marked);
        assert!(journal.take_or(|| marked = true).is_none());
        assert!(marked);
    }

    #[test]
    fn overflow_turns_into_a_flush() {
        let journal = Journal::new("n", 2);
        let health = ejected();
        journal.record(&health, &keys(&["a", "b"]));
        assert_eq!(journal.peek(), (2, false));
        // A key already held does not overflow it.
        journal.record(&health, &keys(&["a"]));
        assert_eq!(journal.peek(), (2, false));
        journal.record(&health, &keys(&["c"]));
        assert_eq!(journal.peek(), (0, true));
        journal.record(&health, &keys(&["d"]));
        assert_eq!(journal.peek(), (0, true));
        let batch = journal
            .take_or(|| {})
            .unwrap_or_else(|| panic!("overflowed"));
        assert!(batch.flush());
        assert_eq!(batch.len(), 0);
        assert_eq!(journal.peek(), (0, false));
    }

    #[test]
    fn a_failed_replay_keeps_its_keys() {
        let journal = Journal::new("n", 3);
        let health = ejected();
        journal.record(&health, &keys(&["a", "b"]));
        let batch = journal.take_or(|| {}).unwrap_or_else(|| panic!("keys"));
        journal.record(&health, &keys(&["c"]));
        journal.put_back(batch);
        assert_eq!(journal.peek(), (3, false));
        let batch = journal.take_or(|| {}).unwrap_or_else(|| panic!("keys"));
        journal.record(&health, &keys(&["d", "e"]));
        // Three taken plus two recorded: over the bound.
        journal.put_back(batch);
        assert_eq!(journal.peek(), (0, true));
    }

    #[test]
    fn a_zero_bound_flushes_after_any_write() {
        let journal = Journal::new("n", 0);
        let health = ejected();
        journal.record(&health, &keys(&["a"]));
        assert_eq!(journal.peek(), (0, true));
    }

    #[test]
    fn binary_keys_are_deleted_through_meta_base64() {
        assert!(matches!(invalidation(b"user:1"), Request::Delete(_)));
        let Request::MetaDelete(md) = invalidation(b"a b\r\n") else {
            panic!("binary key through md")
        };
        assert!(md.flags.base64);
        assert_eq!(&md.key[..], b"a b\r\n");
        let mut out = BytesMut::new();
        encode_request(&Request::MetaDelete(md), &mut out);
        assert!(out.starts_with(b"md YSBiDQo= b"), "{out:?}");
    }

    #[tokio::test]
    async fn replay_pipelines_deletes_and_checks_each_reply() {
        let journal = Journal::new("n", 10);
        let health = ejected();
        journal.record(&health, &keys(&["a", "b"]));
        let batch = journal.take_or(|| {}).unwrap_or_else(|| panic!("keys"));
        let (mut client, mut server) = tokio::io::duplex(4096);
        let node = tokio::spawn(async move {
            let mut seen = Vec::new();
            while !seen.ends_with(b"\r\n") || seen.iter().filter(|&&b| b == b'\n').count() < 2 {
                let mut chunk = [0u8; 256];
                let n = server.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&chunk[..n]);
            }
            let _ = server.write_all(b"DELETED\r\nNOT_FOUND\r\n").await;
            seen
        });
        let result = replay(&mut client, "n", &journal, &batch, Duration::from_secs(5)).await;
        assert!(result.is_ok(), "{result:?}");
        let seen = node.await.unwrap_or_default();
        let text = String::from_utf8_lossy(&seen);
        assert!(
            text.contains("delete a\r\n") && text.contains("delete b\r\n"),
            "{text}"
        );

        // A reply that is not an invalidation fails the replay.
        let (mut client, mut server) = tokio::io::duplex(4096);
        let node = tokio::spawn(async move {
            let mut chunk = [0u8; 256];
            let _ = server.read(&mut chunk).await;
            let _ = server.write_all(b"SERVER_ERROR busy\r\nDELETED\r\n").await;
        });
        let result = replay(&mut client, "n", &journal, &batch, Duration::from_secs(5)).await;
        assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
        let _ = node.await;
    }
}
