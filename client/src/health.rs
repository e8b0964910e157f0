//! Failure detection, ejection, probes and returns.
//!
//! Every request a node answers (or fails) is reported here. A node that
//! fails [`failure_threshold`](crate::Config::failure_threshold) requests in
//! a row (I/O error, timeout, broken reply, refused or backed-off connect) is
//! taken out, unless that would put more than
//! [`max_ejected_share`](crate::Config::max_ejected_share) of the nodes out.
//! What "out" means is the [`FailurePolicy`]: routed around (the key goes to
//! the next node of the ring's replica walk), or answered at once as a miss.
//!
//! A node taken out gets a probe task: `version` on a fresh connection,
//! after [`probe_interval`](crate::Config::probe_interval), doubling up to
//! [`probe_max_interval`](crate::Config::probe_max_interval) while it
//! fails. Only a successful probe brings the node back (twemproxy re-adds
//! on a timer, blindly), and only once the node's failover journal is
//! replayed on the probe's connection (`journal.rs`: the keys written
//! elsewhere while it was out are deleted on it, or it is flushed); a
//! failed replay counts as a failed probe. Ejections and returns are
//! logged at `warn`/`info` and counted (see [`metrics`](crate::metrics)).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::BytesMut;
use ringcache_protocol::{encode_request, parse_response, Command, Limits, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{Config, FailurePolicy};
use crate::error::Error;
use crate::journal;
use crate::metrics::{
    EJECTED, EJECTED_NODES, EJECTIONS_REFUSED_TOTAL, EJECTIONS_TOTAL, PROBES_TOTAL, RETURNS_TOTAL,
};
use crate::pool::NodeInner;
use crate::tls::NodeStream;

/// Whether a node takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// In service.
    Up,
    /// Out after consecutive failures, waiting for a probe to succeed:
    /// routed around ([`FailurePolicy::Eject`]) or answered as a fast miss
    /// ([`FailurePolicy::FastMiss`]).
    Ejected,
}

/// One node's health, inside its handle.
#[derive(Debug, Default)]
pub(crate) struct Health {
    failures: AtomicU32,
    ejected: AtomicBool,
    /// The max ejected share refused this node's ejection (logged once).
    refused: AtomicBool,
    /// The node left the membership: no more probes.
    retired: AtomicBool,
}

impl Health {
    #[inline]
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Acquire)
    }

    pub(crate) fn state(&self) -> NodeState {
        if self.is_ejected() {
            NodeState::Ejected
        } else {
            NodeState::Up
        }
    }

    #[cfg(test)]
    pub(crate) fn set_ejected_for_test(&self, ejected: bool) {
        self.ejected.store(ejected, Ordering::Release);
    }
}

/// Counts under the coordinator's lock.
#[derive(Debug, Default)]
struct Counts {
    members: usize,
    ejected: usize,
}

/// Decides ejections and returns for all nodes of a client, so that the
/// max ejected share holds across them.
#[derive(Debug)]
pub(crate) struct Coordinator {
    policy: FailurePolicy,
    threshold: u32,
    max_share: f64,
    probe_interval: Duration,
    probe_max_interval: Duration,
    /// Probes dial as connections do (TLS, credentials).
    dialer: crate::tls::Dialer,
    request_timeout: Duration,
    counts: Mutex<Counts>,
    runtime: tokio::runtime::Handle,
}

impl Coordinator {
    pub(crate) fn new(config: &Config, runtime: tokio::runtime::Handle) -> Coordinator {
        Coordinator {
            policy: config.failure_policy,
            threshold: config.failure_threshold,
            max_share: config.max_ejected_share,
            probe_interval: config.probe_interval,
            probe_max_interval: config.probe_max_interval.max(config.probe_interval),
            dialer: crate::tls::Dialer::new(config),
            request_timeout: config.request_timeout,
            counts: Mutex::new(Counts::default()),
            runtime,
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Nothing panics while holding the lock; recover the data anyway.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one request's outcome for `node`.
    #[inline]
    pub(crate) fn record(&self, node: &Arc<NodeInner>, failed: bool) {
        let health = &node.health;
        if !failed {
            if health.failures.load(Ordering::Relaxed) != 0 {
                health.failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let failures = health.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold && !health.is_ejected() {
            self.eject(node, failures);
        }
    }

    fn eject(&self, node: &Arc<NodeInner>, failures: u32) {
        let name = node.node.name();
        let mut counts = self.counts();
        let health = &node.health;
        if health.is_ejected() || health.retired.load(Ordering::Acquire) {
            return;
        }
        // Floor: with 3 nodes and 0.5, one may be out; with 1 node, none.
        let allowed = (counts.members as f64 * self.max_share).floor() as usize;
        if counts.ejected + 1 > allowed {
            if !health.refused.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    node = name,
                    failures,
                    ejected = counts.ejected,
                    members = counts.members,
                    max_share = self.max_share,
                    "node failing but not ejected: too many nodes already out"
                );
                metrics::counter!(EJECTIONS_REFUSED_TOTAL, "node" => name.to_owned()).increment(1);
            }
            return;
        }
        health.ejected.store(true, Ordering::Release);
        counts.ejected += 1;
        metrics::gauge!(EJECTED_NODES).set(counts.ejected as f64);
        drop(counts);
        metrics::gauge!(EJECTED, "node" => name.to_owned()).set(1.0);
        tracing::warn!(node = name, failures, policy = ?self.policy, "node ejected");
        metrics::counter!(EJECTIONS_TOTAL, "node" => name.to_owned()).increment(1);
        self.runtime.spawn(probe_until_back(Arc::downgrade(node)));
    }

    /// Replays `node`'s failover journal over `stream` (the probe's
    /// connection), then brings the node back: round after round while
    /// writes keep recording keys, the return itself under the journal's
    /// lock once it is empty (`journal.rs` says why that is race-free).
    ///
    /// # Errors
    ///
    /// As [`journal::replay`]; the batch that failed is back in the
    /// journal and the node is still ejected.
    async fn replay_and_restore(
        &self,
        node: &NodeInner,
        stream: &mut NodeStream,
    ) -> Result<(), Error> {
        let name = node.node.name();
        loop {
            if node.health.retired.load(Ordering::Acquire) {
                return Ok(());
            }
            let Some(batch) = node.journal.take_or(|| self.restore(node)) else {
                return Ok(());
            };
            if batch.flush() {
                tracing::warn!(
                    node = name,
                    bound = node.journal.bound(),
                    "failover journal overflowed while the node was out: its contents are \
                     suspect, flushing it before it is taken back"
                );
            } else {
                tracing::info!(
                    node = name,
                    keys = batch.len(),
                    "deleting the keys written elsewhere while the node was out, before it is \
                     taken back"
                );
            }
            let result =
                journal::replay(stream, name, &node.journal, &batch, self.request_timeout).await;
            if let Err(error) = result {
                tracing::warn!(
                    node = name,
                    %error,
                    "failover journal replay failed: the node stays out and is probed again"
                );
                node.journal.put_back(batch);
                return Err(error);
            }
        }
    }

    /// Brings an ejected node back after a successful probe. Called with
    /// its journal's lock held (and that journal empty).
    fn restore(&self, node: &NodeInner) {
        let name = node.node.name();
        let mut counts = self.counts();
        let health = &node.health;
        if !health.is_ejected() || health.retired.load(Ordering::Acquire) {
            return;
        }
        health.failures.store(0, Ordering::Relaxed);
        health.refused.store(false, Ordering::Relaxed);
        health.ejected.store(false, Ordering::Release);
        counts.ejected = counts.ejected.saturating_sub(1);
        metrics::gauge!(EJECTED_NODES).set(counts.ejected as f64);
        drop(counts);
        metrics::gauge!(EJECTED, "node" => name.to_owned()).set(0.0);
        node.reconnect_now();
        tracing::info!(node = name, "node back after a successful probe");
        metrics::counter!(RETURNS_TOTAL, "node" => name.to_owned()).increment(1);
    }

    /// The membership now has `members` nodes.
    pub(crate) fn set_members(&self, members: usize) {
        self.counts().members = members;
    }

    /// `node` left the membership: stop probing it, stop counting it.
    pub(crate) fn retire(&self, node: &NodeInner) {
        let mut counts = self.counts();
        node.health.retired.store(true, Ordering::Release);
        if node.health.ejected.swap(false, Ordering::AcqRel) {
            counts.ejected = counts.ejected.saturating_sub(1);
            metrics::gauge!(EJECTED_NODES).set(counts.ejected as f64);
            metrics::gauge!(EJECTED, "node" => node.node.name().to_owned()).set(0.0);
        }
    }

    /// `version` on a fresh connection, within the connect and request
    /// timeouts; the connection, for the journal's replay.
    async fn probe(&self, address: &str) -> Result<NodeStream, Error> {
        let mut stream = self.dialer.dial(address).await?;
        let version = [Request::Version];
        match exchange(&mut stream, address, &version, self.request_timeout)
            .await?
            .as_slice()
        {
            [Response::Version(_)] => Ok(stream),
            other => Err(Error::protocol(
                address,
                format!("probe got {other:?} to version"),
            )),
        }
    }
}

/// Writes `requests` in one write on a connection of its own (the probe's)
/// and reads one reply to each, all within `timeout`.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    address: &str,
    requests: &[Request],
    timeout: Duration,
) -> Result<Vec<Response>, Error> {
    tokio::time::timeout(timeout, exchange_inner(stream, address, requests))
        .await
        .map_err(|_| Error::timeout(address))?
}

async fn exchange_inner<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    address: &str,
    requests: &[Request],
) -> Result<Vec<Response>, Error> {
    let mut out = BytesMut::new();
    for r in requests {
        encode_request(r, &mut out);
    }
    stream
        .write_all(&out)
        .await
        .map_err(|e| Error::io(address, e))?;
    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(4096);
    let mut replies = Vec::with_capacity(requests.len());
    for r in requests {
        // Only commands are sent here; the fallback is never taken.
        let command = r.command().unwrap_or(Command::Version);
        loop {
            match parse_response(&mut buf, command, &limits) {
                Ok(Some((reply, _))) => {
                    replies.push(reply);
                    break;
                }
                Ok(None) => {}
                Err(e) => return Err(Error::protocol(address, e.to_string())),
            }
            let n = stream
                .read_buf(&mut buf)
                .await
                .map_err(|e| Error::io(address, e))?;
            if n == 0 {
                return Err(Error::protocol(address, "closed before answering"));
            }
        }
    }
    Ok(replies)
}

/// The probe task of one ejected node: ends when the node is back, leaves
/// the membership or is dropped.
async fn probe_until_back(node: Weak<NodeInner>) {
    let Some(first) = node.upgrade() else { return };
    let coordinator = Arc::clone(&first.coordinator);
    drop(first);
    let mut wait = coordinator.probe_interval;
    loop {
        tokio::time::sleep(wait).await;
        let Some(node) = node.upgrade() else { return };
        if node.health.retired.load(Ordering::Acquire) || !node.health.is_ejected() {
            return;
        }
        let name = node.node.name();
        let probed = match coordinator.probe(name).await {
            Ok(mut stream) => {
                metrics::counter!(PROBES_TOTAL, "node" => name.to_owned(), "status" => "ok")
                    .increment(1);
                coordinator.replay_and_restore(&node, &mut stream).await
            }
            Err(error) => {
                metrics::counter!(PROBES_TOTAL, "node" => name.to_owned(), "status" => "error")
                    .increment(1);
                Err(error)
            }
        };
        match probed {
            Ok(()) => return,
            Err(error) => {
                tracing::debug!(node = name, %error, next_in = ?wait * 2, "probe failed");
                wait = (wait * 2).min(coordinator.probe_max_interval);
            }
        }
    }
}
