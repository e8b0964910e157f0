//! The consistent-hash ring of ringcache: which cache node holds a key.
//!
//! A [`Ring`] is built whole from a list of named, weighted [`Node`]s and is
//! never changed afterwards; adding, removing or re-weighting a node builds a
//! new ring ([`Ring::with_node`], [`Ring::without_node`], [`Ring::with_weight`]),
//! which the client swaps in atomically. The crate is pure and sans-IO: no
//! sockets, no clock, no randomness, no `unsafe`. It depends on `twox-hash`
//! (xxh3) and `md-5` (for ketama) only.
//!
//! ```
//! use ringcache_ring::{Node, Ring};
//!
//! let ring = Ring::new([
//!     Node::new("10.0.0.5:11211"),
//!     Node::new("10.0.0.6:11211"),
//!     Node::weighted("10.0.0.7:11211", 2), // twice the keys of the others
//! ])?;
//! let owner = ring.lookup(b"user:42").expect("ring is not empty");
//! let backups: Vec<&str> = ring.replicas(b"user:42", 3).skip(1).map(|n| n.name()).collect();
//! assert_eq!(backups.len(), 2);
//! assert!(!backups.contains(&owner.name()));
//! println!("ring {:016x}", ring.digest()); // all clients should print the same
//! # Ok::<(), ringcache_ring::RingError>(())
//! ```
//!
//! # Layout
//!
//! - `lib.rs`: [`Node`], [`Scheme`], [`Ring`] (build, lookup, digest), this contract.
//! - `xxh3.rs`: the default scheme's hashes.
//! - `ketama.rs`: the libmemcached/twemproxy-compatible scheme, and its test
//!   vectors in `ketama/tests.rs`.
//! - `continuum.rs`: the sorted point list and its bucket index, shared by both.
//! - `walk.rs`: [`Ring::replicas`], distinct nodes in ring order.
//! - `diff.rs`: [`diff`], the exact share of keys that moved between two rings.
//! - `error.rs`: [`RingError`].
//! - `tests/`: properties (proptest), balance with 1,000,000 keys, and ketama
//!   against Debian's nutcracker and memcached; `examples/ring_stats.rs`
//!   prints balance, moved share, build time and memory.
//!
//! # The placement contract
//!
//! Placement is a persistent contract: the same node list (names, weights,
//! scheme) gives the same key → node mapping in every process, on every
//! machine, in every release. Changing anything below is a cluster-wide cache
//! flush and must be treated as a breaking change. Placement never depends on
//! the order in which nodes are given: nodes are numbered ([`NodeId`]) in
//! byte order of their names, and that order breaks every tie.
//!
//! Both schemes place points on a circle of `2^b` positions and send a key to
//! the node owning the first point at or after the key's position, wrapping
//! past the last point to the first. When several points share a position,
//! the one of the node whose name sorts first wins. Zero-weight nodes own no
//! points.
//!
//! ## `Scheme::Xxh3` (default)
//!
//! - Hash: xxh3, 64-bit, seed 0 (`XXH3_64bits`), circle of `2^64`.
//! - Key position: `xxh3(key)` over the key's raw bytes, nothing added.
//! - A node named `NAME` with weight `w` owns `w × VNODES_PER_WEIGHT`
//!   ([`VNODES_PER_WEIGHT`] = 4096) points, at positions
//!   `xxh3(utf8("NAME#i"))` for `i = 0, 1, …, w × 4096 − 1`, with `i` in
//!   decimal ASCII without leading zeros. For example the first point of
//!   `10.0.0.5:11211` is `xxh3("10.0.0.5:11211#0")`.
//! - Weights are absolute, not relative to the other nodes: adding a node
//!   never changes any other node's points, so keys only move to it.
//!
//! To check an implementation elsewhere, `xxh3("")` is `0x2d06800538d394c2`.
//!
//! ## `Scheme::Ketama`
//!
//! Compatible point for point with libmemcached's weighted ketama
//! (`MEMCACHED_DISTRIBUTION_CONSISTENT` with `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`,
//! which PHP's `Memcached::OPT_LIBKETAMA_COMPATIBLE` turns on) and twemproxy's
//! `distribution: ketama` with `hash: md5`:
//!
//! - Circle of `2^32`. Key position: the first four bytes of `MD5(key)` read
//!   as a little-endian `u32`.
//! - Server string `S`: the node name with a trailing `:11211` removed, then
//!   the brackets of a bracketed IPv6 host removed. So `10.0.0.5:11211`
//!   hashes as `10.0.0.5`, `10.0.0.5:11212` as `10.0.0.5:11212`, `cache-a` as
//!   `cache-a`. This is libmemcached's `host` / `host:port` rule.
//! - Point count of a node of weight `w`, with `W` the sum of all weights and
//!   `n` the number of nodes (zero-weight nodes included): computed in IEEE
//!   single precision exactly as libmemcached does,
//!   `c = floor((w / W) * 160 / 4 * n + 1e-10) * 4`. Equal weights give 160
//!   points per node, or 156 at the pool sizes where `f32` rounding lands just
//!   below 40 (25, 47, 50, 55, 61, 71, 94, 100, … nodes), as in libmemcached
//!   and twemproxy.
//! - Points: for `i = 0 … c/4 − 1`, `d = MD5(utf8("S-i"))`, and the four
//!   little-endian `u32`s `d[0..4]`, `d[4..8]`, `d[8..12]`, `d[12..16]`.
//!
//! Making other clients agree with a ringcache `Ketama` ring whose nodes are
//! named `host:port`:
//!
//! - libmemcached / PHP `Memcached`: add the same servers (`host`, `port`)
//!   with the same weights and enable `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`,
//!   which also sets the key hash to MD5 (PHP: `OPT_LIBKETAMA_COMPATIBLE`).
//!   `MEMCACHED_BEHAVIOR_KETAMA` alone does not agree: its continuum has 100
//!   points per server, one per hash, and keys keep the default hash.
//! - twemproxy: `distribution: ketama`, `hash: md5`, servers written
//!   `host:port:weight` **without** a trailing name; twemproxy then hashes
//!   `host` on port 11211 and `host:port` otherwise, as above. If the pool
//!   gives servers names (`host:port:weight NAME`), twemproxy hashes `NAME`
//!   instead: name the ringcache node `NAME` too (and keep its address
//!   elsewhere). Do not use `auto_eject_hosts`, which rebuilds twemproxy's
//!   continuum without the ejected server.
//!
//! Ketama is not minimal-disruption. Point counts depend on the number of
//! nodes and on the total weight, so a change can move keys between nodes
//! that stayed: going from 100 to 101 equal nodes takes every node from 156
//! to 160 points and moves 3.9 % of the key space, four times the ideal 1 %.
//! With unequal weights every node's share is renormalised. Use it for
//! compatibility; use `Xxh3` otherwise.
//!
//! Known limit: when two points of different servers collide on the same
//! 32-bit value, libmemcached prefers the server that comes first in its
//! server list and twemproxy's `qsort` leaves the order unspecified;
//! ringcache prefers the name that sorts first bytewise. To agree with
//! libmemcached even then, give it the servers in ringcache's name order.
//! Collisions are rare (about `(160·n)² / 2^33`: 3 % of 100-node pools have
//! one) and each affects a single point's arc, about `1/(160·n)` of the keys.
//!
//! # The digest
//!
//! [`Ring::digest`] fingerprints what determines placement, so operators can
//! confirm that every client and proxy has the same ring. It is xxh3-64
//! (seed 0) of this UTF-8 text, with nodes in name order and one `\n` after
//! every line:
//!
//! ```text
//! ringcache-ring digest v1
//! scheme xxh3 vnodes-per-weight 4096      (or: scheme ketama)
//! <name> <weight>                         (one line per node, weight in decimal)
//! ```
//!
//! Print it as 16 lowercase hex digits (`{:016x}`).
//!
//! # Left out
//!
//! - Node health: a ring knows names and weights, not liveness. Failover is
//!   the caller's walk over [`Ring::replicas`]; ejection builds a new ring.
//! - Addresses: a name is an opaque identifier. Resolving it is the client's job.
//! - Other ketama variants (spymemcached's `/host:port-i`, non-MD5 hashes,
//!   libmemcached's unweighted continuum), jump hash, rendezvous hashing.
//! - Key transformation: no hash tags or prefixes; the key's bytes are hashed
//!   as given (so a twemproxy pool must not set `hash_tag` to agree).
//! - Weights finer than whole units under `Xxh3`: weight 1 is 4,096 points,
//!   and a ring holds at most [`MAX_POINTS`].

mod continuum;
mod diff;
mod error;
mod ketama;
mod walk;
mod xxh3;

use std::fmt::Write as _;

pub use diff::{diff, Diff, Flow};
pub use error::RingError;
pub use walk::{ReplicaIds, Replicas};

use continuum::Continuum;

/// Points per unit of weight in the [`Scheme::Xxh3`] scheme.
///
/// Part of the placement contract. A node's share of the key space is the
/// sum of `k` random arcs, whose spread shrinks as `1/sqrt(k)`. Measured over
/// 200 random sets of 10 equal nodes: with 4,096 points the largest node
/// holds on average 2.5 % more than the mean, and 1 set in 100 more than
/// 4.7 %; with 1,600 points it was 3.9 % and 1 set in 4 (ketama's 160 points
/// give about 10 %). The price is memory and build time: 10 bytes plus 1 to
/// 2 bytes of index per point, 4.1 million points at 1,000 nodes.
pub const VNODES_PER_WEIGHT: u64 = 4096;

/// Largest number of points a ring may hold (2^24: about 190 MB held,
/// nearly three times that while building): 4,096 units of weight under
/// [`Scheme::Xxh3`], e.g. 4,096 weight-1 nodes.
pub const MAX_POINTS: u64 = 1 << 24;

/// Most nodes a ring may hold, zero-weight ones included (2^16), so that a
/// point's owner fits in 2 bytes.
pub const MAX_NODES: usize = 1 << 16;

/// Longest node name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// A cache node as the ring sees it: a unique name and a weight.
///
/// The name identifies the node on the ring (conventionally `host:port`, e.g.
/// `10.0.0.5:11211`); it is hashed, never resolved. The weight scales the
/// share of keys the node holds; a weight of 0 keeps the node on the ring
/// (it counts in the [`digest`](Ring::digest)) while it holds no keys, which
/// is how a node is drained.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    name: String,
    weight: u32,
}

impl Node {
    /// A node of weight 1.
    pub fn new(name: impl Into<String>) -> Self {
        Node::weighted(name, 1)
    }

    /// A node of the given weight.
    ///
    /// Under [`Scheme::Xxh3`] weight `w` means `w × 4096` points, so keep
    /// weights small integers (1, 2, 3, …); libmemcached-style weights in the
    /// hundreds quickly exceed [`MAX_POINTS`]. Under [`Scheme::Ketama`]
    /// weights are relative to their sum, as in libmemcached.
    pub fn weighted(name: impl Into<String>, weight: u32) -> Self {
        Node {
            name: name.into(),
            weight,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// How points and keys are hashed onto the ring. See the crate docs for the
/// exact contract of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// xxh3 virtual nodes, [`VNODES_PER_WEIGHT`] per unit of weight. The default.
    #[default]
    Xxh3,
    /// libmemcached's weighted ketama / twemproxy's ketama with MD5.
    Ketama,
}

impl Scheme {
    /// The scheme's name as written in configuration: `xxh3` or `ketama`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Xxh3 => "xxh3",
            Scheme::Ketama => "ketama",
        }
    }

    /// Bits of the circle: keys and points lie in `0..2^bits`.
    fn space_bits(self) -> u32 {
        match self {
            Scheme::Xxh3 => 64,
            Scheme::Ketama => 32,
        }
    }

    /// The scheme line of the digest text.
    fn digest_line(self) -> String {
        match self {
            Scheme::Xxh3 => format!("scheme xxh3 vnodes-per-weight {VNODES_PER_WEIGHT}"),
            Scheme::Ketama => "scheme ketama".to_owned(),
        }
    }

    #[inline]
    fn key_hash(self, key: &[u8]) -> u64 {
        match self {
            Scheme::Xxh3 => xxh3::key_hash(key),
            Scheme::Ketama => ketama::key_hash(key),
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scheme {
    type Err = RingError;

    /// Parses `xxh3` or `ketama` (ASCII case ignored), the names
    /// [`as_str`](Scheme::as_str) gives.
    ///
    /// ```
    /// use ringcache_ring::Scheme;
    ///
    /// assert_eq!("ketama".parse::<Scheme>()?, Scheme::Ketama);
    /// assert_eq!(Scheme::Xxh3.to_string(), "xxh3");
    /// assert!("md5".parse::<Scheme>().is_err());
    /// # Ok::<(), ringcache_ring::RingError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self, RingError> {
        [Scheme::Xxh3, Scheme::Ketama]
            .into_iter()
            .find(|scheme| scheme.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RingError::UnknownScheme(s.to_owned()))
    }
}

/// A node's index in its ring: nodes are numbered `0..len` in byte order of
/// their names.
///
/// Ids are only meaningful for the ring that produced them; a new ring
/// renumbers. Use them to index a vector of per-node state kept alongside the
/// ring (connection pools, say) without hashing names on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The index, `0..ring.nodes().len()`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An immutable consistent-hash ring.
///
/// # Contents
///
/// - Build: [`new`](Ring::new), [`with_scheme`](Ring::with_scheme), and the
///   rebuilding helpers [`with_node`](Ring::with_node),
///   [`without_node`](Ring::without_node), [`with_weight`](Ring::with_weight).
/// - Route: [`lookup`](Ring::lookup), [`lookup_id`](Ring::lookup_id),
///   [`replicas`](Ring::replicas), [`replica_ids`](Ring::replica_ids).
/// - Inspect: [`nodes`](Ring::nodes), [`node`](Ring::node), [`id_of`](Ring::id_of),
///   [`scheme`](Ring::scheme), [`point_count`](Ring::point_count),
///   [`digest`](Ring::digest), [`heap_bytes`](Ring::heap_bytes).
/// - Compare: [`diff`].
///
/// Cloning copies the points; share a ring behind an `Arc` instead.
#[derive(Debug, Clone)]
pub struct Ring {
    scheme: Scheme,
    /// Sorted by name; a node's index is its [`NodeId`].
    nodes: Vec<Node>,
    continuum: Continuum,
    /// Nodes that own at least one point.
    holders: usize,
}

impl Ring {
    /// Builds a [`Scheme::Xxh3`] ring. See [`with_scheme`](Ring::with_scheme).
    ///
    /// # Errors
    ///
    /// As [`with_scheme`](Ring::with_scheme).
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Result<Ring, RingError> {
        Ring::with_scheme(nodes, Scheme::Xxh3)
    }

    /// Builds a ring of the given scheme. The order of `nodes` does not matter.
    ///
    /// An empty list gives an empty ring, on which every lookup returns `None`.
    ///
    /// Cost: linear in the number of points (4,096 per unit of weight under
    /// [`Scheme::Xxh3`], 160 per node under [`Scheme::Ketama`]): about 0.2 s
    /// and 43 MiB for 1,000 weight-1 nodes under `Xxh3`.
    ///
    /// # Errors
    ///
    /// - [`RingError::DuplicateNode`] if two nodes share a name;
    /// - [`RingError::InvalidName`] if a name is empty, longer than
    ///   [`MAX_NAME_LEN`] bytes, or holds whitespace or control characters;
    /// - [`RingError::TooManyPoints`] if the weights ask for more than
    ///   [`MAX_POINTS`] points;
    /// - [`RingError::TooManyNodes`] beyond [`MAX_NODES`] nodes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_ring::{Node, Ring, RingError, Scheme};
    ///
    /// let ring = Ring::with_scheme(
    ///     [Node::weighted("10.0.1.1:11211", 600), Node::weighted("10.0.1.2:11211", 300)],
    ///     Scheme::Ketama,
    /// )?;
    /// // 2 × 160 points, shared 2:1 and rounded down to multiples of 4 as
    /// // libmemcached does: floor(2/3 × 80) × 4 + floor(1/3 × 80) × 4.
    /// assert_eq!(ring.point_count(), 212 + 104);
    ///
    /// let dup = Ring::new([Node::new("a"), Node::new("a")]);
    /// assert_eq!(dup.unwrap_err(), RingError::DuplicateNode("a".into()));
    /// # Ok::<(), RingError>(())
    /// ```
    pub fn with_scheme(
        nodes: impl IntoIterator<Item = Node>,
        scheme: Scheme,
    ) -> Result<Ring, RingError> {
        let mut nodes: Vec<Node> = nodes.into_iter().collect();
        if nodes.len() > MAX_NODES {
            return Err(RingError::TooManyNodes {
                nodes: nodes.len(),
                max: MAX_NODES,
            });
        }
        for node in &nodes {
            validate_name(node.name())?;
        }
        nodes.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = nodes.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(RingError::DuplicateNode(pair[0].name.clone()));
        }
        let counts = point_counts(&nodes, scheme)?;
        let total: u64 = counts.iter().sum();
        let mut points: Vec<u64> = Vec::with_capacity(total as usize);
        let mut runs: Vec<(u16, usize)> = Vec::with_capacity(nodes.len());
        let mut label = Vec::new();
        for (id, (node, &count)) in nodes.iter().zip(&counts).enumerate() {
            match scheme {
                Scheme::Xxh3 => xxh3::push_points(node, &mut label, &mut points),
                // Ketama counts come from a `u32`.
                Scheme::Ketama => ketama::push_points(node, count as u32, &mut points),
            }
            // Fits: `nodes.len() <= MAX_NODES = 2^16`.
            runs.push((id as u16, count as usize));
        }
        let holders = counts.iter().filter(|&&c| c > 0).count();
        Ok(Ring {
            scheme,
            nodes,
            continuum: Continuum::build(&points, &runs, scheme.space_bits()),
            holders,
        })
    }

    /// A new ring with `node` added.
    ///
    /// # Errors
    ///
    /// As [`with_scheme`](Ring::with_scheme); [`RingError::DuplicateNode`] if
    /// the name is taken.
    pub fn with_node(&self, node: Node) -> Result<Ring, RingError> {
        let nodes = self.nodes.iter().cloned().chain(std::iter::once(node));
        Ring::with_scheme(nodes, self.scheme)
    }

    /// A new ring without the node called `name`.
    ///
    /// # Errors
    ///
    /// [`RingError::UnknownNode`] if there is no such node.
    pub fn without_node(&self, name: &str) -> Result<Ring, RingError> {
        let id = self
            .id_of(name)
            .ok_or_else(|| RingError::UnknownNode(name.to_owned()))?;
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != id.index());
        Ring::with_scheme(nodes.map(|(_, n)| n.clone()), self.scheme)
    }

    /// A new ring where the node called `name` has weight `weight`.
    ///
    /// # Errors
    ///
    /// [`RingError::UnknownNode`] if there is no such node;
    /// [`RingError::TooManyPoints`] if the weight is too large.
    pub fn with_weight(&self, name: &str, weight: u32) -> Result<Ring, RingError> {
        let id = self
            .id_of(name)
            .ok_or_else(|| RingError::UnknownNode(name.to_owned()))?;
        let mut nodes = self.nodes.clone();
        nodes[id.index()].weight = weight;
        Ring::with_scheme(nodes, self.scheme)
    }

    /// The node that holds `key`, or `None` if no node holds keys (empty
    /// ring, or only zero-weight nodes).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_ring::{Node, Ring};
    ///
    /// let ring = Ring::new([Node::new("a:11211"), Node::new("b:11211")])?;
    /// let node = ring.lookup(b"some key").unwrap();
    /// assert!(node.name() == "a:11211" || node.name() == "b:11211");
    /// assert!(Ring::new([])?.lookup(b"some key").is_none());
    /// # Ok::<(), ringcache_ring::RingError>(())
    /// ```
    #[inline]
    pub fn lookup(&self, key: &[u8]) -> Option<&Node> {
        self.lookup_id(key).and_then(|id| self.node(id))
    }

    /// Like [`lookup`](Ring::lookup), returning the node's id.
    #[inline]
    pub fn lookup_id(&self, key: &[u8]) -> Option<NodeId> {
        let i = self.continuum.locate(self.scheme.key_hash(key))?;
        Some(NodeId(self.continuum.owner(i)))
    }

    /// The first `n` distinct nodes met walking the ring clockwise from
    /// `key`'s position: the owner first, then the failover or replica
    /// nodes. Yields `min(n, nodes holding keys)` nodes, never two virtual
    /// nodes of one node, never a zero-weight node.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_ring::{Node, Ring};
    ///
    /// let ring = Ring::new((1..=5).map(|i| Node::new(format!("10.0.0.{i}:11211"))))?;
    /// let three: Vec<_> = ring.replicas(b"k", 3).collect();
    /// assert_eq!(three.len(), 3);
    /// assert_eq!(three[0], ring.lookup(b"k").unwrap());
    /// assert_eq!(ring.replicas(b"k", 99).count(), 5);
    /// # Ok::<(), ringcache_ring::RingError>(())
    /// ```
    pub fn replicas(&self, key: &[u8], n: usize) -> Replicas<'_> {
        Replicas {
            ids: self.replica_ids(key, n),
        }
    }

    /// Like [`replicas`](Ring::replicas), yielding ids.
    pub fn replica_ids(&self, key: &[u8], n: usize) -> ReplicaIds<'_> {
        let start = self.continuum.locate(self.scheme.key_hash(key));
        ReplicaIds::new(self, start, n)
    }

    /// All nodes, in name order (the index of each is its [`NodeId`]).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this id, or `None` if the id is out of range (an id
    /// from another ring).
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
    }

    /// The id of the node called `name`.
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| NodeId(i as u32))
    }

    /// The scheme the ring was built with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Number of points (virtual nodes) on the ring.
    pub fn point_count(&self) -> usize {
        self.continuum.len()
    }

    /// Fingerprint of the ring's placement: equal digests mean equal
    /// placement. The exact definition is in the crate docs ("The digest").
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcache_ring::{Node, Ring};
    ///
    /// let a = Ring::new([Node::new("x:1"), Node::new("y:1")])?;
    /// let b = Ring::new([Node::new("y:1"), Node::new("x:1")])?;
    /// assert_eq!(a.digest(), b.digest());
    /// assert_ne!(a.digest(), a.with_weight("x:1", 2)?.digest());
    /// # Ok::<(), ringcache_ring::RingError>(())
    /// ```
    pub fn digest(&self) -> u64 {
        let mut text = String::from("ringcache-ring digest v1\n");
        text.push_str(&self.scheme.digest_line());
        text.push('\n');
        for node in &self.nodes {
            // Writing into a String cannot fail.
            let _ = writeln!(text, "{} {}", node.name, node.weight);
        }
        xxh3::key_hash(text.as_bytes())
    }

    /// Approximate heap memory held by the ring, in bytes: 10 bytes per point
    /// plus the bucket index (1 to 2 bytes per point) plus the node list.
    pub fn heap_bytes(&self) -> usize {
        let names: usize = self.nodes.iter().map(|n| n.name.capacity()).sum();
        self.continuum.heap_bytes() + self.nodes.capacity() * std::mem::size_of::<Node>() + names
    }

    pub(crate) fn continuum(&self) -> &Continuum {
        &self.continuum
    }

    pub(crate) fn holder_count(&self) -> usize {
        self.holders
    }
}

fn validate_name(name: &str) -> Result<(), RingError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(RingError::InvalidName(name.to_owned()))
    }
}

/// Points each node (in name order) will get, checked against [`MAX_POINTS`].
fn point_counts(nodes: &[Node], scheme: Scheme) -> Result<Vec<u64>, RingError> {
    let counts: Vec<u64> = match scheme {
        Scheme::Xxh3 => nodes
            .iter()
            .map(|n| u64::from(n.weight) * VNODES_PER_WEIGHT)
            .collect(),
        Scheme::Ketama => {
            let total: u64 = nodes.iter().map(|n| u64::from(n.weight)).sum();
            nodes
                .iter()
                .map(|n| u64::from(ketama::point_count(n.weight, total, nodes.len())))
                .collect()
        }
    };
    let points = counts.iter().sum();
    if points > MAX_POINTS {
        return Err(RingError::TooManyPoints {
            points,
            max: MAX_POINTS,
        });
    }
    Ok(counts)
}

#[cfg(test)]
mod tests;
