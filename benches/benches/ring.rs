//! Criterion benchmarks of `ringcache-ring`.
//!
//! - `ring/lookup/{xxh3,ketama}/{10,100,1000}`: one `Ring::lookup_id` (hash
//!   the key, find its point, read the owner) at 10, 100 and 1,000 weight-1
//!   nodes. Keys are 65,536 distinct 20-byte keys prepared outside the timed
//!   loop and visited in order, so successive lookups land on unrelated
//!   parts of the ring, as real traffic does: the figure includes the cache
//!   misses of a ring larger than L2 (xxh3 holds 4,096 points per node:
//!   4.4 MiB at 100 nodes, 43 MiB at 1,000). `Throughput::Elements(1)`.
//! - `ring/replicas3/xxh3/100`: the walk to 3 distinct nodes at 100 nodes.
//! - `ring/build/{xxh3,ketama}/1000`: building a ring from 1,000 nodes, what
//!   a membership change costs a client.
//! - `ring/diff/{xxh3,ketama}/100+1`: the exact diff between 100 nodes and
//!   the same plus one.
//!
//! Run: `cargo bench -p ringcache-benches --bench ring`. Figures are for the
//! machine they ran on; lookups of a few nanoseconds are noise-sensitive on
//! a shared machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringcache_ring::{diff, Node, Ring, Scheme};

const KEY_LEN: usize = 20;
const KEY_POOL: usize = 1 << 16;

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)))
        .collect()
}

fn ring(n: usize, scheme: Scheme) -> Ring {
    Ring::with_scheme(nodes(n), scheme).expect("valid node list")
}

/// Distinct fixed-length keys, `key:<16 hex digits>`, in one flat buffer.
fn key_pool() -> Vec<[u8; KEY_LEN]> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..KEY_POOL)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut key = [0u8; KEY_LEN];
            key[..4].copy_from_slice(b"key:");
            key[4..].copy_from_slice(format!("{x:016x}").as_bytes());
            key
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let keys = key_pool();
    let mut group = c.benchmark_group("ring/lookup");
    group.throughput(Throughput::Elements(1));
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        for n in [10, 100, 1000] {
            let ring = ring(n, scheme);
            let id = BenchmarkId::new(scheme.as_str(), n);
            group.bench_with_input(id, &ring, |b, ring| {
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) % KEY_POOL;
                    ring.lookup_id(black_box(&keys[i]))
                });
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("ring/replicas3");
    group.throughput(Throughput::Elements(1));
    let ring = ring(100, Scheme::Xxh3);
    group.bench_function(BenchmarkId::new("xxh3", 100), |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % KEY_POOL;
            ring.replica_ids(black_box(&keys[i]), 3)
                .fold(0, |acc, id| acc ^ id.index())
        });
    });
    group.finish();
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring/build");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        let list = nodes(1000);
        group.bench_function(BenchmarkId::new(scheme.as_str(), 1000), |b| {
            b.iter(|| Ring::with_scheme(black_box(list.clone()), scheme).expect("valid"));
        });
    }
    group.finish();
}

fn diff_100(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring/diff");
    group.sample_size(20);
    for scheme in [Scheme::Xxh3, Scheme::Ketama] {
        let old = ring(100, scheme);
        let new = old
            .with_node(Node::new("10.9.9.9:11211"))
            .expect("new name");
        group.bench_function(BenchmarkId::new(scheme.as_str(), "100+1"), |b| {
            b.iter(|| {
                diff(black_box(&old), black_box(&new))
                    .expect("same scheme")
                    .moved()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lookup, build, diff_100);
criterion_main!(benches);
