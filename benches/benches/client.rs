//! Criterion benchmarks of `ringcache-client`'s request path, without the
//! network.
//!
//! - `client/route/{10,100}`: what every keyed request pays before it is
//!   queued: key check, lock-free topology load (`ArcSwap`), ring lookup,
//!   ejection check and the clone of the node handle (`Client::handle_for`).
//!   Target: ≤ 100 ns. Keys are 65,536 distinct 20-byte keys prepared
//!   outside the timed loop and visited in order, as in `ring.rs`.
//! - `client/ring_lookup/{10,100}`: `Ring::lookup_id` alone on the same
//!   node list and keys, so the difference is the client's own overhead.
//!
//! Not measured: routing while a key's owner is ejected (the failover walk
//! costs about what `ring/replicas3` costs), and anything on the wire.
//!
//! The client is built against loopback ports nobody listens on: its
//! connection tasks fail to connect once and then sit idle, and no request
//! is sent. Run: `cargo bench -p ringcache-benches --bench client`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringcache_client::{Client, Node};
use ringcache_ring::Ring;

const KEY_LEN: usize = 20;
const KEY_POOL: usize = 1 << 16;

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

fn route(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = key_pool();
    let mut group = c.benchmark_group("client");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    for n in [10usize, 100] {
        // Free loopback ports (bound, read, released): connects are refused
        // at once, and nothing ever leaves the machine.
        let listeners: Vec<std::net::TcpListener> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let names: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").to_string())
            .collect();
        drop(listeners);
        let ring = Ring::new(names.iter().map(Node::new)).expect("ring");
        let client = runtime
            .block_on(
                Client::builder()
                    .nodes(names.clone())
                    .connections_per_node(1)
                    .build(),
            )
            .expect("client");
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("route", n), |b| {
            b.iter(|| {
                i = (i + 1) & (KEY_POOL - 1);
                let handle = client.handle_for(black_box(&keys[i][..]));
                black_box(handle.is_ok())
            })
        });
        group.bench_function(BenchmarkId::new("ring_lookup", n), |b| {
            b.iter(|| {
                i = (i + 1) & (KEY_POOL - 1);
                black_box(ring.lookup_id(black_box(&keys[i][..])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
