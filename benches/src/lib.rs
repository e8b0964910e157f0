//! Shared helpers for ringcache's benchmarks.
//!
//! The criterion micro-benchmarks live in `benches/benches/`; each states what
//! it measures in its own `//!` docs. Runtime crates never depend on this one.
//!
//! # Layout
//! - [`rng`]: a seedable generator whose stream never changes across releases;
//! - [`zipf`]: an O(1) Zipf sampler (rejection-inversion);
//! - [`workload`]: key choice, op mix, value sizes and scans, encoded as requests;
//! - [`text`]: a small, self-contained client side of memcached's text protocol;
//! - [`procfs`]: a process's CPU time and RSS from `/proc`;
//! - [`timeline`]: a run's figures per interval of time (`--timeline-ms`);
//! - [`balance`]: keys per node relative to the mean for a ring;
//! - `src/bin/loadgen.rs`: the `ringcache-loadgen` binary built from these;
//! - `src/bin/ring_balance.rs`: `ringcache-ring-balance`, [`balance`] as JSON.
//!
//! The side-by-side scripts that drive the load generator against memcached
//! and a ringcache node are in `benches/scripts/`.

pub mod balance;
pub mod procfs;
pub mod rng;
pub mod text;
pub mod timeline;
pub mod workload;
pub mod zipf;
