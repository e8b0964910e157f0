//! Copying one item between nodes without ever making the cache wrong.
//!
//! Warm-up (a moved key's previous owner to its new one), replica repair (a
//! replica that missed, from one that hit) and drains all copy the same
//! way, in meta commands every memcached 1.6 understands:
//!
//! 1. `mg <key> v f t c` on the source: the value, its client flags, its
//!    remaining TTL and its CAS. A miss ends the copy.
//! 2. `ms <key> <len> F<flags> T<ttl-1> ME c` on the target: **add** mode,
//!    so a value written to the target meanwhile is never overwritten, and
//!    one second less than the source had left, so the copy never outlives
//!    the original even when the two nodes' clocks tick a second apart. An
//!    item with a second or less to live is not copied.
//! 3. `mg <key> c` on the source again: if the item is gone or its CAS
//!    changed, a delete (or a write) raced with the copy, and
//!    `md <key> C<cas>` takes the copy back off the target (only if it is
//!    still the copy: the CAS from step 2).
//!
//! Deleters reach the source before the target (`warmup.rs`, `dispatch.rs`),
//! so a copy either lands before the delete reaches the target, and is
//! deleted with it, or checks the source after the delete, and undoes
//! itself: a deleted value is never resurrected.

use std::sync::Arc;

use bytes::Bytes;
use ringcache_protocol::{
    FlagOrder, MetaDelete, MetaDeleteFlags, MetaGet, MetaGetFlags, MetaSet, MetaSetFlags,
    MetaStatus, Request, Response, SetMode,
};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::key::is_text_key;
use crate::metrics::WARMUP_COPIES_TOTAL;
use crate::pool::NodeHandle;

/// What a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The target now holds the source's item.
    Copied,
    /// The source does not hold the key.
    SourceMiss,
    /// The target already held the key: left as it was.
    TargetHeld,
    /// The item has a second or less to live: not worth a copy.
    Expiring,
    /// A delete or write raced with the copy: the copy was taken back.
    Undone,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Copied => "copied",
            Outcome::SourceMiss => "source_miss",
            Outcome::TargetHeld => "target_held",
            Outcome::Expiring => "expiring",
            Outcome::Undone => "undone",
        }
    }
}

/// Records the outcome of a copy for `reason` (`warmup`, `repair`,
/// `drain`).
pub(crate) fn record(reason: &'static str, result: &Result<Outcome, Error>) {
    let outcome = match result {
        Ok(c) => c.label(),
        Err(_) => "error",
    };
    metrics::counter!(WARMUP_COPIES_TOTAL, "kind" => reason, "status" => outcome).increment(1);
}

fn order(letters: &[u8]) -> FlagOrder {
    letters.iter().collect()
}

/// An item read from the source for copying.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) value: Bytes,
    pub(crate) flags: u32,
    /// Remaining seconds, `-1` for none.
    pub(crate) ttl: i64,
    pub(crate) cas: u64,
}

/// Step 1: `mg <key> v f t c` on `source`. `None` on a miss.
pub(crate) async fn read(source: &NodeHandle, key: &Bytes) -> Result<Option<Source>, Error> {
    let flags = MetaGetFlags {
        order: order(b"vftc"),
        value: true,
        base64: !is_text_key(key),
        ..MetaGetFlags::default()
    };
    let request = Request::MetaGet(MetaGet {
        key: key.clone(),
        flags,
    });
    match source.call(request).await? {
        Response::Meta(reply) if reply.status == MetaStatus::En => Ok(None),
        Response::Meta(reply) if reply.status == MetaStatus::Va => Ok(Some(Source {
            value: reply.value.unwrap_or_default(),
            flags: reply.flags.client_flags.unwrap_or(0),
            ttl: reply.flags.ttl.unwrap_or(-1),
            cas: reply.flags.cas.unwrap_or(0),
        })),
        other => Err(Error::protocol(
            source.name(),
            format!("unexpected reply to a copy's mg: {other:?}"),
        )),
    }
}

/// Steps 2 and 3: stores `item` (read from `source` by [`read`]) on
/// `target` unless the target holds the key, then checks the source still
/// holds the same item and takes the copy back if not.
pub(crate) async fn write(
    source: &NodeHandle,
    target: &NodeHandle,
    key: &Bytes,
    item: &Source,
) -> Result<Outcome, Error> {
    put(source, target, key, item, SetMode::Add).await
}

/// [`write`] in `mode`: [`SetMode::Add`] for a copy,
/// [`SetMode::Replace`] to bring a secondary replica up to its primary's
/// item (`dispatch.rs`), with the same check and undo, so that a delete
/// racing with the sync is not undone on the secondary. `NS` (the add
/// found an item, the replace found none) leaves the target as it was.
pub(crate) async fn put(
    source: &NodeHandle,
    target: &NodeHandle,
    key: &Bytes,
    item: &Source,
    mode: SetMode,
) -> Result<Outcome, Error> {
    let ttl = match item.ttl {
        -1 => 0,
        t if t <= 1 => return Ok(Outcome::Expiring),
        t => t - 1,
    };
    let base64 = !is_text_key(key);
    let set = Request::MetaSet(MetaSet {
        key: key.clone(),
        value: item.value.clone(),
        flags: MetaSetFlags {
            order: order(b"FTMc"),
            base64,
            client_flags: item.flags,
            ttl: Some(ttl),
            mode,
            ..MetaSetFlags::default()
        },
    });
    let copy_cas = match target.call(set).await? {
        Response::Meta(reply) if reply.status == MetaStatus::Ns => return Ok(Outcome::TargetHeld),
        Response::Meta(reply) if reply.status == MetaStatus::Hd => reply.flags.cas,
        other => {
            return Err(Error::protocol(
                target.name(),
                format!("unexpected reply to a copy's ms: {other:?}"),
            ))
        }
    };
    let check = Request::MetaGet(MetaGet {
        key: key.clone(),
        flags: MetaGetFlags {
            order: order(b"c"),
            base64,
            ..MetaGetFlags::default()
        },
    });
    let unchanged = match source.call(check).await {
        Ok(Response::Meta(reply)) => {
            reply.status == MetaStatus::Hd && reply.flags.cas == Some(item.cas)
        }
        // Cannot tell: assume the worst.
        _ => false,
    };
    if unchanged {
        return Ok(Outcome::Copied);
    }
    let undo = Request::MetaDelete(MetaDelete {
        key: key.clone(),
        flags: MetaDeleteFlags {
            order: order(b"C"),
            base64,
            compare_cas: copy_cas,
            ..MetaDeleteFlags::default()
        },
    });
    target.call(undo).await?;
    Ok(Outcome::Undone)
}

/// Copies in the background, at most [`BACKGROUND_COPIES`] at once; a copy
/// that finds no room is skipped (counted `outcome="skipped"`): copies are
/// an optimisation, never a backlog.
#[derive(Debug, Clone)]
pub(crate) struct Copier {
    room: Arc<Semaphore>,
    runtime: tokio::runtime::Handle,
}

/// Background copies in flight at most.
pub(crate) const BACKGROUND_COPIES: usize = 256;

impl Copier {
    pub(crate) fn new(runtime: tokio::runtime::Handle) -> Copier {
        Copier {
            room: Arc::new(Semaphore::new(BACKGROUND_COPIES)),
            runtime,
        }
    }

    /// Copies `key` from `source` to each of `targets`, in the background.
    pub(crate) fn spawn_copy(
        &self,
        reason: &'static str,
        source: NodeHandle,
        targets: Vec<NodeHandle>,
        key: Bytes,
    ) {
        let Ok(permit) = Arc::clone(&self.room).try_acquire_owned() else {
            metrics::counter!(WARMUP_COPIES_TOTAL, "kind" => reason, "status" => "skipped")
                .increment(1);
            return;
        };
        self.runtime.spawn(async move {
            match read(&source, &key).await {
                Ok(Some(item)) => {
                    for target in &targets {
                        record(reason, &write(&source, target, &key, &item).await);
                    }
                }
                other => record(reason, &other.map(|_| Outcome::SourceMiss)),
            }
            drop(permit);
        });
    }
}

impl Copier {
    /// Waits until every background copy started so far has finished.
    pub(crate) async fn idle(&self) {
        let all = u32::try_from(BACKGROUND_COPIES).unwrap_or(u32::MAX);
        // The semaphore is never closed, so this only waits.
        let _all = self.room.acquire_many(all).await;
    }
}

impl crate::Client {
    /// Waits until the background copies (warm-up, replica repair) this
    /// client has started so far are done: before reading a node directly
    /// in a test, or before shutting down a process that should leave the
    /// cluster as warm as it can.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) {
    /// client.wait_for_copies().await;
    /// # }
    /// ```
    pub async fn wait_for_copies(&self) {
        self.inner.copier.idle().await;
    }
}
