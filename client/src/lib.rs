//! The ringcache smart client.
//!
//! **Not built yet.** This crate holds its place in the workspace so that the
//! layout in `DESIGN.md` is whole; routing, pipelined connections, failure
//! handling and membership arrive with issue 4. Until then use a node directly
//! or any memcached client.
