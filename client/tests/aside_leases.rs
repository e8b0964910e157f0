//! Cache-aside across processes, against a real in-process node: each
//! `CacheAside` (over its own `Client`) stands for one application process,
//! so the only thing they share is the node and its meta-protocol leases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod live;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use live::{builder, wait_for, InProcNode, DEADLINE};
use ringcache_client::{AsideError, CacheAside, Client};
use ringcache_protocol::{
    FlagOrder, MetaGet, MetaGetFlags, MetaSet, MetaSetFlags, Request, Response,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct DbError;

/// A "process": its own client and its own single-flight table.
async fn process(node: &InProcNode) -> CacheAside<Client> {
    let client = builder(&[node.name()]).build().await.unwrap();
    CacheAside::builder(client)
        .lease_wait(Duration::from_secs(5))
        .build()
}

/// A loader that counts its runs and returns `value` once `gate` opens.
fn gated(
    loads: &Arc<AtomicUsize>,
    gate: &Arc<Notify>,
    value: &'static [u8],
) -> impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, DbError>> + Send>>
{
    let (loads, gate) = (loads.clone(), gate.clone());
    move || {
        Box::pin(async move {
            loads.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok(Bytes::from_static(value))
        })
    }
}

fn counting(
    loads: &Arc<AtomicUsize>,
    value: &'static [u8],
) -> impl FnOnce() -> std::future::Ready<Result<Bytes, DbError>> {
    let loads = loads.clone();
    move || {
        loads.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Bytes::from_static(value)))
    }
}

/// `mg <key> v c N30` from a raw client: returns the reply's (won, cas).
async fn raw_lease(client: &Client, key: &str) -> (bool, u64) {
    let flags = MetaGetFlags {
        order: b"vc".iter().collect::<FlagOrder>(),
        value: true,
        vivify: Some(30),
        ..MetaGetFlags::default()
    };
    let request = Request::MetaGet(MetaGet {
        key: Bytes::copy_from_slice(key.as_bytes()),
        flags,
    });
    match client.execute_on(key, request).await.unwrap() {
        Response::Meta(r) => (r.flags.won, r.flags.cas.unwrap()),
        other => panic!("{other:?}"),
    }
}

async fn raw_store(client: &Client, key: &str, value: &'static [u8], cas: u64) {
    let request = Request::MetaSet(MetaSet {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::from_static(value),
        flags: MetaSetFlags {
            compare_cas: Some(cas),
            ttl: Some(60),
            ..MetaSetFlags::default()
        },
    });
    let reply = client.execute_on(key, request).await.unwrap();
    assert!(
        matches!(reply, Response::Meta(ref r) if r.status == ringcache_protocol::MetaStatus::Hd),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_on_a_miss_load_once() {
    let node = InProcNode::start().await;
    let (a, b) = (process(&node).await, process(&node).await);
    for round in 0..20 {
        let key = format!("race:{round}");
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for i in 0..20 {
            let aside = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (key, loads) = (key.clone(), loads.clone());
            tasks.spawn(async move {
                aside
                    .get_or_load(&key, TTL, counting(&loads, b"loaded"))
                    .await
                    .unwrap()
            });
        }
        while let Some(value) = tasks.join_next().await {
            assert_eq!(&value.unwrap()[..], b"loaded");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "round {round}");
    }
}

/// A process that loses the lease waits for the winner's value instead of
/// loading (the winner here is a raw client holding the `W` token).
#[tokio::test]
async fn a_lease_loser_waits_for_the_winner() {
    let node = InProcNode::start().await;
    let raw = builder(&[node.name()]).build().await.unwrap();
    let (won, cas) = raw_lease(&raw, "lease:k").await;
    assert!(won);
    let aside = process(&node).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (aside, loads) = (aside.clone(), loads.clone());
        tokio::spawn(async move {
            aside
                .get_or_load("lease:k", TTL, counting(&loads, b"mine"))
                .await
        })
    };
    // The reader is polling the placeholder, not loading.
    wait_for(|| async { (aside.in_flight() == 1).then_some(()) }).await;
    assert!(!reader.is_finished());
    raw_store(&raw, "lease:k", b"winner's", cas).await;
    let value = tokio::time::timeout(DEADLINE, reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&value.unwrap()[..], b"winner's");
    assert_eq!(loads.load(Ordering::SeqCst), 0);
}

/// A winner that never stores (it died) holds the others up only for the
/// lease wait; then one loads and stores over the untouched placeholder.
#[tokio::test]
async fn a_dead_winner_is_taken_over_after_the_lease_wait() {
    let node = InProcNode::start().await;
    let raw = builder(&[node.name()]).build().await.unwrap();
    assert!(raw_lease(&raw, "dead:k").await.0);
    let client = builder(&[node.name()]).build().await.unwrap();
    let aside = CacheAside::builder(client)
        .lease_wait(Duration::from_millis(100))
        .build();
    let loads = Arc::new(AtomicUsize::new(0));
    let value = aside
        .get_or_load("dead:k", TTL, counting(&loads, b"taken over"))
        .await
        .unwrap();
    assert_eq!(&value[..], b"taken over");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let stored = raw.get("dead:k").await.unwrap().unwrap();
    assert_eq!(&stored.value[..], b"taken over");
}

/// A loader error is not cached, and the winner frees its placeholder so
/// that the next caller (here another process) wins at once.
#[tokio::test]
async fn a_failed_winner_frees_the_lease() {
    let node = InProcNode::start().await;
    let (a, b) = (process(&node).await, process(&node).await);
    let err = a
        .get_or_load("fail:k", TTL, || async { Err::<Bytes, _>(DbError) })
        .await;
    assert!(matches!(err, Err(AsideError::Loader(_))), "{err:?}");
    let loads = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let value = b
        .get_or_load("fail:k", TTL, counting(&loads, b"second try"))
        .await
        .unwrap();
    assert_eq!(&value[..], b"second try");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // It did not sit out the 5 s lease wait.
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// `md I` then concurrent reads from eight processes: one refreshes, the
/// other seven are served the stale value at once; afterwards everyone
/// reads the new value without loading.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidate_hands_one_refresh_and_stale_values_to_the_rest() {
    let node = InProcNode::start().await;
    let mut processes = Vec::new();
    for _ in 0..8 {
        processes.push(process(&node).await);
    }
    let none = Arc::new(AtomicUsize::new(0));
    let v1 = processes[0]
        .get_or_load("swr:k", TTL, counting(&none, b"v1"))
        .await
        .unwrap();
    assert_eq!(&v1[..], b"v1");
    assert!(processes[0].invalidate("swr:k").await.unwrap());

    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let mut readers = Vec::new();
    for p in &processes {
        let (p, loader) = (p.clone(), gated(&loads, &gate, b"v2"));
        readers.push(tokio::spawn(async move {
            p.get_or_load("swr:k", TTL, loader).await.unwrap()
        }));
    }
    // Seven return the stale value while the winner's loader is held.
    wait_for(|| async { (readers.iter().filter(|r| r.is_finished()).count() == 7).then_some(()) })
        .await;
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    gate.notify_one();
    let mut values = Vec::new();
    for r in readers {
        values.push(tokio::time::timeout(DEADLINE, r).await.unwrap().unwrap());
    }
    values.sort();
    assert_eq!(
        values.iter().filter(|v| &v[..] == b"v1").count(),
        7,
        "{values:?}"
    );
    assert_eq!(
        values.iter().filter(|v| &v[..] == b"v2").count(),
        1,
        "{values:?}"
    );
    // Refreshed: nobody loads any more, everyone reads v2.
    for p in &processes {
        let v = p
            .get_or_load("swr:k", TTL, counting(&none, b"x"))
            .await
            .unwrap();
        assert_eq!(&v[..], b"v2");
    }
    assert_eq!(none.load(Ordering::SeqCst), 1, "only the very first load");
}

/// Early refresh (`R`): an item close to expiry is reloaded by one reader
/// while another keeps reading the current value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn early_refresh_reloads_before_expiry() {
    let node = InProcNode::start().await;
    let raw = builder(&[node.name()]).build().await.unwrap();
    // 3 s left: inside a 30 s refresh window.
    raw.set("hot:k", "old", Duration::from_secs(3))
        .await
        .unwrap();
    let asides: Vec<CacheAside<Client>> = {
        let mut v = Vec::new();
        for _ in 0..2 {
            let client = builder(&[node.name()]).build().await.unwrap();
            v.push(
                CacheAside::builder(client)
                    .early_refresh(Duration::from_secs(30))
                    .build(),
            );
        }
        v
    };
    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let refresher = {
        let (a, loader) = (asides[0].clone(), gated(&loads, &gate, b"new"));
        tokio::spawn(async move { a.get_or_load("hot:k", TTL, loader).await.unwrap() })
    };
    wait_for(|| async { (loads.load(Ordering::SeqCst) == 1).then_some(()) }).await;
    // The other process is not held up: it reads the current value.
    let other = asides[1]
        .get_or_load("hot:k", TTL, counting(&loads, b"never"))
        .await
        .unwrap();
    assert_eq!(&other[..], b"old");
    gate.notify_one();
    let refreshed = tokio::time::timeout(DEADLINE, refresher)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&refreshed[..], b"new");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let item = raw.get("hot:k").await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"new");
}

/// Writes through `CacheAside` are visible on the next read, near cache on.
#[tokio::test]
async fn own_writes_and_deletes_are_read_back() {
    let node = InProcNode::start().await;
    let client = builder(&[node.name()]).build().await.unwrap();
    let aside = CacheAside::builder(client)
        .near_cache(ringcache_client::NearCache::new(
            1 << 20,
            Duration::from_secs(60),
        ))
        .build();
    let loads = Arc::new(AtomicUsize::new(0));
    let v = aside
        .get_or_load("w:k", TTL, counting(&loads, b"a"))
        .await
        .unwrap();
    assert_eq!(&v[..], b"a");
    aside
        .set("w:k", Bytes::from_static(b"b"), TTL)
        .await
        .unwrap();
    let v = aside
        .get_or_load("w:k", TTL, counting(&loads, b"x"))
        .await
        .unwrap();
    assert_eq!(&v[..], b"b");
    assert!(aside.delete("w:k").await.unwrap());
    let v = aside
        .get_or_load("w:k", TTL, counting(&loads, b"c"))
        .await
        .unwrap();
    assert_eq!(&v[..], b"c");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert!(!aside.delete("never:k").await.unwrap());
}

/// Single-flight in one process, on a real node: 100 concurrent misses on
/// one key run the loader once and all get the value. (Late callers hit the
/// stored value, so this holds however the tasks are scheduled; the failing
/// loader case, which needs every waiter to have joined, is a unit test in
/// `src/aside/tests.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_misses_in_one_process_load_once() {
    let node = InProcNode::start().await;
    let aside = process(&node).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let (aside, loader) = (aside.clone(), gated(&loads, &gate, b"once"));
        tasks.spawn(async move { aside.get_or_load("sf:k", TTL, loader).await.unwrap() });
    }
    wait_for(|| async { (loads.load(Ordering::SeqCst) == 1).then_some(()) }).await;
    gate.notify_one();
    while let Some(value) = tasks.join_next().await {
        assert_eq!(&value.unwrap()[..], b"once");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}
