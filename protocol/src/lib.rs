//! Placeholder: replaced by the protocol crate.
