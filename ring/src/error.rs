//! The one error type of the crate.

use std::fmt;

/// Why a [`Ring`](crate::Ring) could not be built, two rings could not be
/// compared, or a scheme name was not understood.
///
/// Looking a key up never fails: an empty ring answers `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// Two nodes carry the same name. Names identify nodes on the ring, so a
    /// duplicate would make placement depend on which copy came first.
    DuplicateNode(String),
    /// A node name is empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)
    /// bytes, or holds ASCII whitespace or control characters.
    InvalidName(String),
    /// The ring would hold more than [`MAX_POINTS`](crate::MAX_POINTS) virtual
    /// nodes (weights too large for the [`Xxh3`](crate::Scheme::Xxh3) scheme).
    TooManyPoints {
        /// Virtual nodes the node list asks for.
        points: u64,
        /// The limit.
        max: u64,
    },
    /// More than [`MAX_NODES`](crate::MAX_NODES) nodes.
    TooManyNodes {
        /// Nodes given.
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// [`Ring::without_node`](crate::Ring::without_node) or
    /// [`Ring::with_weight`](crate::Ring::with_weight) named a node the ring
    /// does not hold.
    UnknownNode(String),
    /// A scheme name other than `xxh3` or `ketama`.
    UnknownScheme(String),
    /// [`diff`](crate::diff) was asked to compare rings of different schemes:
    /// their key hashes differ, so nearly every key moves and arcs cannot be compared.
    SchemeMismatch,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::DuplicateNode(name) => write!(f, "duplicate node name {name:?}"),
            RingError::InvalidName(name) => write!(
                f,
                "invalid node name {name:?}: must be 1..={} bytes without whitespace or control characters",
                crate::MAX_NAME_LEN
            ),
            RingError::TooManyPoints { points, max } => write!(
                f,
                "ring would hold {points} virtual nodes, more than the limit of {max}; lower the weights"
            ),
            RingError::TooManyNodes { nodes, max } => {
                write!(f, "{nodes} nodes is more than the limit of {max}")
            }
            RingError::UnknownNode(name) => write!(f, "no node named {name:?} on the ring"),
            RingError::UnknownScheme(name) => {
                write!(f, "unknown placement scheme {name:?}: expected xxh3 or ketama")
            }
            RingError::SchemeMismatch => {
                f.write_str("cannot diff rings built with different placement schemes")
            }
        }
    }
}

impl std::error::Error for RingError {}
