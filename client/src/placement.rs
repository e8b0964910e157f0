//! Where one key's requests go, on one topology snapshot.
//!
//! A key's **replica set** is the first [`Config::replicas`] nodes of its
//! replica walk in the current ring ([`Ring::replica_ids`]), ejected nodes
//! skipped under [`FailurePolicy::Eject`] (so with one replica it is the
//! owner, or the failover node `route.rs` describes). Under
//! [`FailurePolicy::FastMiss`] only the first `replicas` nodes of the walk
//! count; when none of them is up the key is a fast miss.
//!
//! A placement that skipped one of the first `replicas` nodes of the walk
//! because it is ejected, under either policy, says so
//! ([`Placement::routes_around`]): a write must then record its key in
//! those **displaced** nodes' failover journals before it is sent or
//! refused (`failover.rs`, `journal.rs`), and [`Topology::place_around`]
//! names them. A placement that found none costs what it cost before.
//!
//! During a warm-up window (`warmup.rs`) the key's **previous owners**
//! follow: its replica set in the ring before the change, less the nodes
//! still in the current set and the ejected ones. Reads fall through the
//! replica set and then the previous owners; deletes reach all of them.
//!
//! Handles live in a fixed array: placing a key allocates nothing.

use std::sync::Arc;

use ringcache_ring::Ring;

use crate::config::{Config, FailurePolicy};
use crate::error::Error;
use crate::pool::NodeHandle;
use crate::route::Routed;
use crate::topology::Topology;
use crate::warmup::Warmup;

/// Most replicas per key ([`Config::replicas`]).
pub(crate) const MAX_REPLICAS: usize = 4;

/// The nodes of one key: its replica set, then its previous owners.
#[derive(Debug)]
pub(crate) struct Placement {
    nodes: [Option<NodeHandle>; 2 * MAX_REPLICAS],
    /// How many of `nodes` are the current replica set.
    current: usize,
    /// How many are filled (current, then previous owners).
    len: usize,
    /// The owner when the key is a fast miss (every replica ejected under
    /// [`FailurePolicy::FastMiss`]): the set is empty.
    pub(crate) fast_miss: Option<NodeHandle>,
    /// The window the previous owners come from, when there are any.
    pub(crate) warmup: Option<Arc<Warmup>>,
    /// How many natural replicas (of the first `replicas` of the walk)
    /// were skipped because they are ejected under
    /// [`FailurePolicy::Eject`]. Only a count: which ones is found again on
    /// the cold path that needs it ([`Topology::place_around`]), so the
    /// common placement stays as cheap as before. A `usize`, like its
    /// neighbours: a one-byte field costs a store-forwarding stall each
    /// time the placement is moved (measured).
    displaced: usize,
}

/// How a placement routes around ejected natural replicas
/// ([`Topology::place_around`]).
#[derive(Debug, Default)]
pub(crate) struct Around {
    /// Natural replicas (the first `replicas` of the walk) skipped because
    /// they are ejected under [`FailurePolicy::Eject`].
    pub(crate) displaced: Vec<NodeHandle>,
    /// Whether the replica set holds a node outside the natural replicas.
    pub(crate) outside: bool,
}

impl Placement {
    fn empty() -> Placement {
        Placement {
            nodes: [const { None }; 2 * MAX_REPLICAS],
            current: 0,
            len: 0,
            fast_miss: None,
            warmup: None,
            displaced: 0,
        }
    }

    fn push(&mut self, handle: &NodeHandle) {
        if let Some(slot) = self.nodes.get_mut(self.len) {
            *slot = Some(handle.clone());
            self.len += 1;
        }
    }

    fn holds(&self, handle: &NodeHandle) -> bool {
        self.all().any(|h| Arc::ptr_eq(&h.inner, &handle.inner))
    }

    /// The replica set, in ring order.
    pub(crate) fn current(&self) -> impl Iterator<Item = &NodeHandle> + Clone {
        self.nodes[..self.current].iter().flatten()
    }

    /// How many nodes the replica set has.
    pub(crate) fn current_len(&self) -> usize {
        self.current
    }

    /// The one node of a placement that has exactly one (one replica, no
    /// previous owner).
    #[inline]
    pub(crate) fn only(&self) -> Option<&NodeHandle> {
        match self.len {
            1 => self.primary(),
            _ => None,
        }
    }

    /// The first node of the replica set.
    pub(crate) fn primary(&self) -> Option<&NodeHandle> {
        self.current().next()
    }

    /// Previous owners (empty outside a warm-up window).
    pub(crate) fn previous(&self) -> impl Iterator<Item = &NodeHandle> + Clone {
        self.nodes[self.current..self.len].iter().flatten()
    }

    /// The replica set, then the previous owners.
    pub(crate) fn all(&self) -> impl Iterator<Item = &NodeHandle> + Clone {
        self.nodes[..self.len].iter().flatten()
    }

    /// Where `h` stands in the order deletes run backwards: the replica
    /// set in ring order, then the previous owners (`usize::MAX` if absent).
    /// A copy may only go to a node of lower rank than its source.
    pub(crate) fn rank(&self, h: &NodeHandle) -> usize {
        self.all()
            .position(|x| Arc::ptr_eq(&x.inner, &h.inner))
            .unwrap_or(usize::MAX)
    }

    /// Whether the placement routes around an ejected natural replica
    /// (a write must be journaled: `failover.rs`).
    #[inline]
    pub(crate) fn routes_around(&self) -> bool {
        self.displaced != 0
    }

    /// Whether reads may still warm from the previous owners.
    pub(crate) fn warming(&self) -> bool {
        self.current < self.len && self.warmup.as_ref().is_some_and(|w| w.warming())
    }

    /// [`Error::NodeDown`] for a fast miss, [`Error::NoNodes`] otherwise:
    /// why the replica set is empty.
    pub(crate) fn unavailable(&self) -> Error {
        match &self.fast_miss {
            Some(h) => Error::NodeDown {
                node: h.name().to_owned(),
            },
            None => Error::NoNodes,
        }
    }
}

/// Pushes the first `replicas` usable nodes of `key`'s walk in `ring`.
/// With `count_displaced` (the current ring's walk, not a warm-up's
/// previous one) the ejected nodes among the first `replicas` are counted
/// as displaced, under either policy.
fn walk(
    placement: &mut Placement,
    ring: &Ring,
    handles: &[NodeHandle],
    key: &[u8],
    replicas: usize,
    policy: FailurePolicy,
    count_displaced: bool,
) -> Option<NodeHandle> {
    let mut first = None;
    let mut taken = 0;
    let considered = match policy {
        FailurePolicy::Eject => handles.len(),
        FailurePolicy::FastMiss => replicas,
    };
    for (position, id) in ring.replica_ids(key, considered).enumerate() {
        let Some(h) = handles.get(id.index()) else {
            continue;
        };
        if first.is_none() {
            first = Some(h.clone());
        }
        if h.is_ejected() {
            if position < replicas && count_displaced {
                placement.displaced += 1;
            }
            continue;
        }
        if placement.holds(h) {
            continue;
        }
        placement.push(h);
        taken += 1;
        if taken == replicas {
            break;
        }
    }
    first
}

impl Topology {
    #[inline]
    fn handle(&self, i: usize) -> Result<&NodeHandle, Error> {
        self.handles.get(i).ok_or(Error::NoNodes)
    }

    /// [`place`](Topology::place), and which ejected natural replicas the
    /// placement routes around, and whether it took a node outside them:
    /// what a write must journal and cap (`failover.rs`). Found by walking
    /// the natural replicas again: a placement that has none to name costs
    /// nothing for it. A node ejected or back between the two looks is
    /// named as it is now (the journal's check under its lock decides).
    ///
    /// # Errors
    ///
    /// As [`place`](Topology::place).
    #[cold]
    pub(crate) fn place_around(
        &self,
        key: &[u8],
        config: &Config,
    ) -> Result<(Placement, Around), Error> {
        let p = self.place(key, config)?;
        let mut around = Around::default();
        let natural: Vec<&NodeHandle> = self
            .ring
            .replica_ids(key, config.replicas)
            .filter_map(|id| self.handles.get(id.index()))
            .collect();
        around.displaced = natural
            .iter()
            .filter(|h| h.is_ejected())
            .map(|&h| h.clone())
            .collect();
        around.outside = p
            .current()
            .any(|h| !natural.iter().any(|n| Arc::ptr_eq(&n.inner, &h.inner)));
        Ok((p, around))
    }

    /// Places `key` (already validated): its replica set and, during a
    /// warm-up window, its previous owners.
    ///
    /// # Errors
    ///
    /// [`Error::NoNodes`] when the ring is empty.
    pub(crate) fn place(&self, key: &[u8], config: &Config) -> Result<Placement, Error> {
        let mut p = Placement::empty();
        if config.replicas == 1 {
            // The common case, as cheap as a plain lookup.
            match self.route_index(key, config.failure_policy)? {
                Routed::Owner(i) => p.push(self.handle(i)?),
                Routed::FastMiss(i) => {
                    p.fast_miss = Some(self.handle(i)?.clone());
                    p.displaced = 1;
                }
                Routed::Failover(i) => {
                    p.push(self.handle(i)?);
                    p.displaced = 1;
                }
            }
        } else {
            let first = walk(
                &mut p,
                &self.ring,
                &self.handles,
                key,
                config.replicas,
                config.failure_policy,
                true,
            )
            .ok_or(Error::NoNodes)?;
            if p.len == 0 {
                match config.failure_policy {
                    FailurePolicy::FastMiss => p.fast_miss = Some(first),
                    FailurePolicy::Eject => return Err(Error::NoNodes),
                }
            }
        }
        p.current = p.len;
        if let Some(w) = self.warmup.as_ref().filter(|w| w.fencing()) {
            walk(
                &mut p,
                &w.ring,
                &w.handles,
                key,
                config.replicas,
                FailurePolicy::FastMiss,
                false,
            );
            if p.len > p.current {
                p.warmup = Some(Arc::clone(w));
            }
        }
        Ok(p)
    }
}
