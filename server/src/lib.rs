//! Placeholder: replaced by the server crate.
