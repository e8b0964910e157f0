//! Shared helpers for ringcache's benchmarks.
//!
//! The criterion micro-benchmarks live in `benches/benches/`; each states what
//! it measures in its own `//!` docs. Runtime crates never depend on this one.
