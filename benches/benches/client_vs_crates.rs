//! `ringcache-client` against the other Rust memcached clients, on one
//! connection to one in-process ringcache node, same server, same run:
//!
//! - `memcache` 0.21 (blocking, ASCII protocol: a ringcache node speaks no
//!   binary protocol; one request at a time on its connection);
//! - `async-memcached` 0.9 (tokio; `&mut self`, so also one at a time);
//! - `ringcache-client` one request at a time (`c1`), and pipelined with 64
//!   requests in flight on its single connection (`c64`).
//!
//! Groups `get/100b` (a hit on a 100-byte value) and `set/100b`, each with
//! `Throughput::Elements(1)`: criterion reports operations per second.
//!
//! ```text
//! cargo bench -p ringcache-benches --bench client_vs_crates
//! ```
//!
//! Limits: client and server share the machine (and its cores) and talk
//! over loopback, so the sequential numbers measure round-trip latency
//! more than either side's cost; the node runs on its own 2-thread
//! runtime, each client on a 1-thread runtime (the blocking one on the
//! bench thread). No network, no TLS, no contention from other clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_memcached::AsciiProtocol;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ringcache_client::Client;
use ringcache_server::{serve, Node, NodeConfig};
use tokio::runtime::Runtime;

const KEY: &str = "bench:key";
const PIPELINE: u64 = 64;

fn value() -> Bytes {
    Bytes::from(vec![b'v'; 100])
}

/// A node on `127.0.0.1:0`, on its own runtime in its own threads, for
/// the whole process.
fn start_node() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            serve(
                listener,
                Node::new(NodeConfig::default()),
                std::future::pending::<()>(),
            )
            .await;
        });
    });
    rx.recv().expect("node started")
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

fn ringcache(rt: &Runtime, addr: SocketAddr) -> Client {
    rt.block_on(
        Client::builder()
            .nodes([addr.to_string()])
            .connections_per_node(1)
            .build(),
    )
    .expect("ringcache client")
}

/// `iters` operations from `PIPELINE` tasks sharing one connection.
fn pipelined<F, Fut>(rt: &Runtime, client: &Client, iters: u64, op: F) -> Duration
where
    F: Fn(Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..PIPELINE {
            let n = iters / PIPELINE + u64::from(t < iters % PIPELINE);
            let (client, op) = (client.clone(), op.clone());
            tasks.spawn(async move {
                for _ in 0..n {
                    op(client.clone()).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("bench task");
        }
        start.elapsed()
    })
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g
}

fn bench(c: &mut Criterion) {
    let addr = start_node();
    let rt = client_runtime();
    let ours = ringcache(&rt, addr);
    rt.block_on(ours.set(KEY, value(), Duration::ZERO))
        .expect("preload");
    let blocking = memcache::Client::with_pool_size(
        format!("memcache://{addr}?protocol=ascii&tcp_nodelay=true"),
        1,
    )
    .expect("memcache client");
    let mut theirs = rt
        .block_on(async_memcached::Client::new(format!("tcp://{addr}")))
        .expect("async-memcached client");
    let data = value();

    let mut g = group(c, "get/100b");
    g.bench_function("memcache", |b| {
        b.iter(|| {
            let v: Option<Vec<u8>> = blocking.get(KEY).expect("get");
            assert_eq!(v.map(|v| v.len()), Some(100));
        })
    });
    g.bench_function("async-memcached", |b| {
        b.iter(|| {
            let v = rt.block_on(theirs.get(KEY)).expect("get");
            assert!(v.is_some());
        })
    });
    g.bench_function("ringcache-client/c1", |b| {
        b.iter(|| {
            let v = rt.block_on(ours.get(KEY)).expect("get");
            assert!(v.is_some());
        })
    });
    g.bench_function("ringcache-client/c64", |b| {
        b.iter_custom(|iters| {
            pipelined(&rt, &ours, iters, |client| async move {
                let v = client.get(KEY).await.expect("get");
                assert!(v.is_some());
            })
        })
    });
    g.finish();

    let mut g = group(c, "set/100b");
    g.bench_function("memcache", |b| {
        b.iter(|| blocking.set(KEY, &data[..], 0).expect("set"))
    });
    g.bench_function("async-memcached", |b| {
        b.iter(|| {
            rt.block_on(theirs.set(KEY, &data[..], None, None))
                .expect("set")
        })
    });
    g.bench_function("ringcache-client/c1", |b| {
        b.iter(|| {
            rt.block_on(ours.set(KEY, data.clone(), Duration::ZERO))
                .expect("set")
        })
    });
    g.bench_function("ringcache-client/c64", |b| {
        b.iter_custom(|iters| {
            let data = data.clone();
            pipelined(&rt, &ours, iters, move |client| {
                let data = data.clone();
                async move { client.set(KEY, data, Duration::ZERO).await.expect("set") }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
