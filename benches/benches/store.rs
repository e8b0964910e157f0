//! Criterion benchmarks of the node's store, through the public
//! [`Execute`] trait of `ringcache-server` (the same call a connection makes
//! after parsing), with no socket and no protocol encoding.
//!
//! - `store/get/{hit,miss}/{10b,100kb}`: `get` of one key.
//! - `store/set/{10b,100kb}`: `set` overwriting one of the keys (the store
//!   copies the value out of the request frame, so `100kb` includes a
//!   100 KB copy).
//! - `store/cas/10b/gets+cas`: a `gets` and then a `cas` with the unique it
//!   returned, which succeeds; one element is the *pair* (a successful `cas`
//!   needs a fresh unique, which only a read gives).
//! - `store/cas/10b/exists`: a `cas` with a stale unique (`EXISTS`).
//!
//! Limits: keys cycle over 1,024 prefilled 20-byte keys, so the working set
//! is in cache; the store is the default `NodeConfig` (LRU) with `-m 1024`, so nothing
//! is evicted. Each
//! call is driven with `block_on` on a current-thread tokio runtime, whose
//! cost (tens of ns) is included; only one thread touches the store, so
//! lock contention between workers is not measured (the load scripts in
//! `benches/scripts/` measure the node under concurrent load).
//! `Throughput::Elements(1)`.
//!
//! Run: `cargo bench -p ringcache-benches --bench store`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringcache_protocol::{parse_request, Cas, Limits, Request, Response};
use ringcache_server::{Execute, Node, NodeConfig};
use tokio::runtime::Runtime;

const KEYS: usize = 1024;
const SIZES: [(usize, &str); 2] = [(10, "10b"), (100 * 1024, "100kb")];

fn key(i: usize) -> String {
    format!("key:{i:016}")
}

/// Parses one whole request, as a connection would hand it to the executor.
fn request(wire: &[u8]) -> Request {
    let mut buf = BytesMut::from(wire);
    parse_request(&mut buf, &Limits::default())
        .expect("valid request")
        .expect("whole frame")
        .request
}

fn set_request(key: &str, len: usize) -> Request {
    let mut wire = format!("set {key} 0 0 {len}\r\n").into_bytes();
    wire.extend_from_slice(&vec![b'x'; len]);
    wire.extend_from_slice(b"\r\n");
    request(&wire)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A node holding `KEYS` keys with values of `len` bytes, all of them: `-m`
/// is large enough that nothing is evicted (1,024 × 100 KB is over the
/// default 64 MB), which is checked.
fn filled_node(rt: &Runtime, len: usize) -> Node {
    let node = Node::new(NodeConfig {
        memory_mb: 1024,
        ..NodeConfig::default()
    });
    for i in 0..KEYS {
        let response = rt.block_on(node.execute(&set_request(&key(i), len)));
        assert_eq!(response, Response::Stored);
    }
    for i in 0..KEYS {
        let get = request(format!("get {}\r\n", key(i)).as_bytes());
        match rt.block_on(node.execute(&get)) {
            Response::Values(values) if values.len() == 1 => {}
            other => panic!("key {i} not held: {other:?}"),
        }
    }
    node
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store/get");
    group.throughput(Throughput::Elements(1));
    for (len, name) in SIZES {
        let node = filled_node(&rt, len);
        let hits: Vec<Request> = (0..KEYS)
            .map(|i| request(format!("get {}\r\n", key(i)).as_bytes()))
            .collect();
        let misses: Vec<Request> = (0..KEYS)
            .map(|i| request(format!("get absent:{i:013}\r\n").as_bytes()))
            .collect();
        for (kind, requests) in [("hit", &hits), ("miss", &misses)] {
            let mut i = 0;
            group.bench_function(format!("{kind}/{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % KEYS;
                    black_box(rt.block_on(node.execute(&requests[i])))
                })
            });
        }
    }
    group.finish();
}

fn set(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store/set");
    group.throughput(Throughput::Elements(1));
    for (len, name) in SIZES {
        let node = filled_node(&rt, len);
        let requests: Vec<Request> = (0..KEYS).map(|i| set_request(&key(i), len)).collect();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                black_box(rt.block_on(node.execute(&requests[i])))
            })
        });
    }
    group.finish();
}

fn cas(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store/cas/10b");
    group.throughput(Throughput::Elements(1));
    let node = filled_node(&rt, 10);
    let gets: Vec<Request> = (0..KEYS)
        .map(|i| request(format!("gets {}\r\n", key(i)).as_bytes()))
        .collect();
    // Templates: the unique is filled in per iteration.
    let cas_requests: Vec<Cas> = (0..KEYS)
        .map(
            |i| match request(format!("cas {} 0 0 10 1\r\nxxxxxxxxxx\r\n", key(i)).as_bytes()) {
                Request::Cas(cas) => cas,
                other => panic!("not cas: {other:?}"),
            },
        )
        .collect();
    let mut i = 0;
    group.bench_function("gets+cas", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let unique = match rt.block_on(node.execute(&gets[i])) {
                Response::Values(values) => values[0].cas.expect("gets returns a unique"),
                other => panic!("gets: {other:?}"),
            };
            // Cloning the template clones two `Bytes` handles, no data.
            let cas = Request::Cas(Cas {
                cas: unique,
                ..cas_requests[i].clone()
            });
            let response = rt.block_on(node.execute(&cas));
            debug_assert_eq!(response, Response::Stored);
            black_box(response)
        })
    });
    let stale: Vec<Request> = cas_requests
        .iter()
        .map(|cas| {
            Request::Cas(Cas {
                cas: u64::MAX,
                ..cas.clone()
            })
        })
        .collect();
    group.bench_function("exists", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(rt.block_on(node.execute(&stale[i])))
        })
    });
    group.finish();
}

criterion_group!(benches, get, set, cas);
criterion_main!(benches);
