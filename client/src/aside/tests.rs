//! Single-flight and reply classification, against an in-memory fake
//! backend (the lease dance against a real node is in `tests/aside*.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicUsize;

use ringcache_protocol::ReturnValues;
use tokio::task::JoinSet;

use super::*;

/// A cache without leases: `mg` hits or misses (`EN`), `ms` stores, `md`
/// deletes. Or, with `down`, a cluster that fails every request.
#[derive(Clone, Default)]
struct Fake {
    items: Arc<Mutex<HashMap<Bytes, Bytes>>>,
    requests: Arc<AtomicUsize>,
    down: bool,
}

impl AsideBackend for Fake {
    async fn execute_on(&self, _key: &[u8], request: Request) -> Result<Response, Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        // A real backend always yields at least once.
        tokio::task::yield_now().await;
        if self.down {
            return Err(Error::NoNodes);
        }
        let mut items = self.items.lock().unwrap();
        let reply = |status, value| {
            let mut r = MetaReply::new(status, FlagOrder::new());
            r.value = value;
            Response::Meta(r)
        };
        Ok(match request {
            Request::MetaGet(g) => match items.get(&g.key) {
                Some(v) => reply(MetaStatus::Va, Some(v.clone())),
                None => reply(MetaStatus::En, None),
            },
            Request::MetaSet(s) => {
                items.insert(s.key, s.value);
                reply(MetaStatus::Hd, None)
            }
            Request::MetaDelete(d) => match items.remove(&d.key) {
                Some(_) => reply(MetaStatus::Hd, None),
                None => reply(MetaStatus::Nf, None),
            },
            other => panic!("unexpected {other:?}"),
        })
    }
}

/// Waits (with a deadline) until `n` followers wait on `key`'s flight.
async fn followers(aside: &CacheAside<Fake>, key: &[u8], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = aside
            .shared
            .flights()
            .get(key)
            .map_or(0, |(_, tx)| tx.receiver_count());
        if waiting >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{waiting} of {n} followers");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_hundred_concurrent_misses_load_once() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);

    let aside = CacheAside::new(Fake::default());
    let loads = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let (aside, loads, release) = (aside.clone(), loads.clone(), release.clone());
        tasks.spawn(async move {
            aside
                .get_or_load("hot", Duration::from_secs(60), || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok::<_, std::io::Error>(Bytes::from_static(b"value"))
                })
                .await
                .unwrap()
        });
    }
    followers(&aside, b"hot", 99).await;
    release.notify_one();
    while let Some(value) = tasks.join_next().await {
        assert_eq!(&value.unwrap()[..], b"value");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(aside.in_flight(), 0);
    assert_eq!(
        aside
            .backend()
            .items
            .lock()
            .unwrap()
            .get(&b"hot"[..])
            .map(|v| &v[..]),
        Some(&b"value"[..])
    );
    let text = handle.render();
    assert!(
        text.contains("ringcache_client_singleflight_coalesced_total 99"),
        "{text}"
    );
}

#[derive(Debug)]
struct DbDown;

#[tokio::test]
async fn a_loader_error_reaches_every_waiter_and_is_not_cached() {
    let aside = CacheAside::new(Fake::default());
    let release = Arc::new(tokio::sync::Notify::new());
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (aside, release) = (aside.clone(), release.clone());
        tasks.spawn(async move {
            aside
                .get_or_load("k", Duration::from_secs(60), || async move {
                    release.notified().await;
                    Err::<Bytes, _>(DbDown)
                })
                .await
        });
    }
    followers(&aside, b"k", 9).await;
    release.notify_one();
    let mut errors = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Err(AsideError::Loader(e)) => errors.push(e),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(errors.len(), 10);
    assert!(
        errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])),
        "one shared error"
    );
    assert!(
        aside.backend().items.lock().unwrap().is_empty(),
        "errors are not cached"
    );
    // The next call loads again.
    let value = aside
        .get_or_load("k", Duration::from_secs(60), || async {
            Ok::<_, DbDown>(Bytes::from_static(b"back"))
        })
        .await
        .unwrap();
    assert_eq!(&value[..], b"back");
}

#[tokio::test]
async fn a_cancelled_leader_hands_over_to_a_follower() {
    let aside = CacheAside::new(Fake::default());
    let stuck = {
        let aside = aside.clone();
        tokio::spawn(async move {
            aside
                .get_or_load("k", Duration::from_secs(60), || async {
                    std::future::pending::<Result<Bytes, DbDown>>().await
                })
                .await
        })
    };
    // Wait until the leader holds the flight, then queue a follower.
    let deadline = Instant::now() + Duration::from_secs(10);
    while aside.in_flight() == 0 {
        assert!(Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    let follower = {
        let aside = aside.clone();
        tokio::spawn(async move {
            aside
                .get_or_load("k", Duration::from_secs(60), || async {
                    Ok::<_, DbDown>(Bytes::from_static(b"mine"))
                })
                .await
        })
    };
    followers(&aside, b"k", 1).await;
    stuck.abort();
    let value = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower takes over")
        .unwrap()
        .unwrap();
    assert_eq!(&value[..], b"mine");
    assert_eq!(aside.in_flight(), 0);
}

#[tokio::test]
async fn a_cluster_failure_still_returns_the_loaded_value() {
    let fake = Fake {
        down: true,
        ..Fake::default()
    };
    let aside = CacheAside::new(fake);
    let value = aside
        .get_or_load("k", Duration::from_secs(60), || async {
            Ok::<_, DbDown>(Bytes::from_static(b"from db"))
        })
        .await
        .unwrap();
    assert_eq!(&value[..], b"from db");
    assert!(matches!(aside.delete("k").await, Err(Error::NoNodes)));
}

#[tokio::test]
async fn bad_keys_never_reach_the_loader() {
    let aside = CacheAside::new(Fake::default());
    for key in [&b""[..], b"has space", b"tab\t", &[b'k'; 251][..]] {
        let r = aside
            .get_or_load(key, Duration::from_secs(1), || async {
                panic!("loader ran");
                #[allow(unreachable_code)]
                Ok::<_, DbDown>(Bytes::new())
            })
            .await;
        assert!(matches!(r, Err(AsideError::InvalidKey(_))), "{key:?}");
    }
    assert_eq!(aside.backend().requests.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn the_near_cache_serves_hits_and_forgets_own_writes() {
    let near = NearCache::new(1 << 20, Duration::from_secs(60));
    let aside = CacheAside::builder(Fake::default())
        .near_cache(near.clone())
        .build();
    let load = |v: &'static [u8]| move || async move { Ok::<_, DbDown>(Bytes::from_static(v)) };
    let ttl = Duration::from_secs(60);
    assert_eq!(
        &aside.get_or_load("k", ttl, load(b"one")).await.unwrap()[..],
        b"one"
    );
    let before = aside.backend().requests.load(Ordering::Relaxed);
    assert_eq!(
        &aside.get_or_load("k", ttl, load(b"two")).await.unwrap()[..],
        b"one"
    );
    assert_eq!(
        aside.backend().requests.load(Ordering::Relaxed),
        before,
        "served locally"
    );
    // Our own write clears the near entry; the next read goes to the cluster.
    aside
        .set("k", Bytes::from_static(b"three"), ttl)
        .await
        .unwrap();
    assert_eq!(near.get(b"k").await, None);
    assert_eq!(
        &aside.get_or_load("k", ttl, load(b"four")).await.unwrap()[..],
        b"three"
    );
    assert!(aside.delete("k").await.unwrap());
    assert_eq!(near.get(b"k").await, None);
    assert_eq!(
        &aside.get_or_load("k", ttl, load(b"five")).await.unwrap()[..],
        b"five"
    );
}

fn reply(status: MetaStatus, value: &[u8], set: impl FnOnce(&mut ReturnValues)) -> MetaReply {
    let mut r = MetaReply::new(status, FlagOrder::new());
    r.value = Some(Bytes::copy_from_slice(value));
    set(&mut r.flags);
    r
}

#[test]
fn classify_reads_the_lease_flags() {
    let b = |v: &[u8]| Bytes::copy_from_slice(v);
    let cases = [
        (reply(MetaStatus::Va, b"v", |_| {}), Lease::Hit(b(b"v"))),
        (reply(MetaStatus::En, b"", |_| {}), Lease::Miss),
        (
            reply(MetaStatus::Va, b"", |f| {
                f.won = true;
                f.cas = Some(7);
            }),
            Lease::Won {
                cas: 7,
                why: Won::Miss,
            },
        ),
        (
            reply(MetaStatus::Va, b"", |f| {
                f.token_sent = true;
                f.cas = Some(7);
            }),
            Lease::Pending { cas: 7 },
        ),
        (
            reply(MetaStatus::Va, b"old", |f| {
                f.won = true;
                f.stale = true;
                f.cas = Some(8);
            }),
            Lease::Won {
                cas: 8,
                why: Won::Stale(b(b"old")),
            },
        ),
        (
            reply(MetaStatus::Va, b"old", |f| {
                f.token_sent = true;
                f.stale = true;
            }),
            Lease::Stale(b(b"old")),
        ),
        (
            reply(MetaStatus::Va, b"cur", |f| {
                f.won = true;
                f.cas = Some(9);
            }),
            Lease::Won {
                cas: 9,
                why: Won::EarlyRefresh(b(b"cur")),
            },
        ),
        (
            reply(MetaStatus::Va, b"cur", |f| f.token_sent = true),
            Lease::Hit(b(b"cur")),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(classify(r.clone()).unwrap(), want, "{r:?}");
    }
    assert!(classify(reply(MetaStatus::Nf, b"", |_| {})).is_err());
}

#[test]
fn ttls_round_up_and_cap_at_thirty_days() {
    assert_eq!(ttl_secs(Duration::ZERO), 0);
    assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
    assert_eq!(ttl_secs(Duration::from_millis(1500)), 2);
    assert_eq!(ttl_secs(Duration::from_secs(60)), 60);
    assert_eq!(ttl_secs(Duration::from_secs(400 * 86400)), 2_592_000);
}

/// A read that starts after a write through the same handle never joins a
/// load that began before the write (it would be handed the older value).
#[tokio::test]
async fn a_read_after_a_write_does_not_join_an_older_load() {
    let aside = CacheAside::new(Fake::default());
    let gate = Arc::new(tokio::sync::Notify::new());
    let before = {
        let (aside, gate) = (aside.clone(), gate.clone());
        tokio::spawn(async move {
            aside
                .get_or_load("k", Duration::from_secs(60), || async move {
                    gate.notified().await;
                    Ok::<_, DbDown>(Bytes::from_static(b"old row"))
                })
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while aside.in_flight() == 0 {
        assert!(Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    // UPDATE ... ; then drop the key.
    aside.delete("k").await.unwrap();
    let after = aside
        .get_or_load("k", Duration::from_secs(60), || async {
            Ok::<_, DbDown>(Bytes::from_static(b"new row"))
        })
        .await
        .unwrap();
    assert_eq!(&after[..], b"new row");
    gate.notify_one();
    assert_eq!(&before.await.unwrap().unwrap()[..], b"old row");
}
