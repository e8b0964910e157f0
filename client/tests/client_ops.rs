//! Every typed method, against an in-process ringcache node and against
//! Debian's memcached: the same scenario, the same expected outcomes.

#![allow(clippy::unwrap_used)]

mod live;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use live::{builder, InProcNode, Memcached};
use ringcache_client::{
    CasOutcome, Client, DeleteOutcome, Error, StoreMode, StoreOutcome, TouchOutcome,
};
use ringcache_protocol::{Request, Response};

const TTL: Duration = Duration::from_secs(300);

async fn every_method(client: &Client) {
    // get / set / miss
    assert_eq!(client.get("absent").await.unwrap(), None);
    client.set("k", "v1", TTL).await.unwrap();
    let item = client.get("k").await.unwrap().unwrap();
    assert_eq!(item.value, Bytes::from_static(b"v1"));
    assert_eq!((item.flags, item.cas), (0, None));

    // flags through store
    assert_eq!(
        client
            .store(StoreMode::Set, "flagged", "x", TTL, 0xdead_beef)
            .await
            .unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(
        client.get("flagged").await.unwrap().unwrap().flags,
        0xdead_beef
    );

    // add / replace
    assert_eq!(
        client.add("k", "no", TTL).await.unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(
        client.add("new", "yes", TTL).await.unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(
        client.replace("missing", "no", TTL).await.unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(
        client.replace("k", "v2", TTL).await.unwrap(),
        StoreOutcome::Stored
    );

    // append / prepend
    assert_eq!(client.append("k", ">").await.unwrap(), StoreOutcome::Stored);
    assert_eq!(
        client.prepend("k", "<").await.unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(client.get("k").await.unwrap().unwrap().value, "<v2>");
    assert_eq!(
        client.append("missing", "x").await.unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(
        client.prepend("missing", "x").await.unwrap(),
        StoreOutcome::NotStored
    );

    // gets / cas
    let item = client.gets("k").await.unwrap().unwrap();
    let unique = item.cas.expect("gets carries the unique");
    assert_eq!(
        client.cas("k", "c1", TTL, 7, unique).await.unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(
        client.cas("k", "c2", TTL, 7, unique).await.unwrap(),
        CasOutcome::Exists
    );
    assert_eq!(
        client.cas("missing", "c", TTL, 0, unique).await.unwrap(),
        CasOutcome::NotFound
    );
    let item = client.get("k").await.unwrap().unwrap();
    assert_eq!((item.value.as_ref(), item.flags), (&b"c1"[..], 7));

    // incr / decr
    client.set("n", "10", TTL).await.unwrap();
    assert_eq!(client.incr("n", 5).await.unwrap(), Some(15));
    assert_eq!(client.decr("n", 20).await.unwrap(), Some(0));
    assert_eq!(client.incr("missing", 1).await.unwrap(), None);
    assert_eq!(client.decr("missing", 1).await.unwrap(), None);
    client.set("n", "18446744073709551615", TTL).await.unwrap();
    assert_eq!(client.incr("n", 2).await.unwrap(), Some(1), "wraps at 2^64");
    let err = client.incr("k", 1).await.unwrap_err();
    assert!(
        matches!(err, Error::Client(ref m) if m.contains("non-numeric")),
        "{err:?}"
    );

    // touch / gat
    assert_eq!(client.touch("k", TTL).await.unwrap(), TouchOutcome::Touched);
    assert_eq!(
        client.touch("missing", TTL).await.unwrap(),
        TouchOutcome::NotFound
    );
    let item = client.get_and_touch("k", TTL).await.unwrap().unwrap();
    assert_eq!(item.value, "c1");
    assert_eq!(client.get_and_touch("missing", TTL).await.unwrap(), None);

    // delete
    assert_eq!(client.delete("k").await.unwrap(), DeleteOutcome::Deleted);
    assert_eq!(client.delete("k").await.unwrap(), DeleteOutcome::NotFound);
    assert_eq!(client.get("k").await.unwrap(), None);

    // binary-safe values
    let blob = Bytes::from((0u8..=255).cycle().take(100_000).collect::<Vec<u8>>());
    client.set("blob", blob.clone(), TTL).await.unwrap();
    assert_eq!(client.get("blob").await.unwrap().unwrap().value, blob);
    // over the item size: the server's SERVER_ERROR, not a broken connection
    let huge = Bytes::from(vec![b'x'; 2 * 1024 * 1024]);
    let err = client.set("huge", huge, TTL).await.unwrap_err();
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(client.get("blob").await.unwrap().unwrap().value, blob);

    // get_many on one node, duplicates asked once
    let found = client
        .get_many(["new", "flagged", "absent", "new"])
        .await
        .unwrap();
    assert!(found.failed.is_empty());
    let keys: HashSet<_> = found.items.keys().cloned().collect();
    assert_eq!(
        keys,
        HashSet::from([Bytes::from("new"), Bytes::from("flagged")])
    );
    assert_eq!(found.items[&Bytes::from("flagged")].flags, 0xdead_beef);

    // versions / raw execute_on
    let versions = client.versions().await;
    assert_eq!(versions.len(), 1);
    assert!(versions[0].1.as_ref().unwrap().starts_with("1."));
    let reply = client.execute_on("new", Request::MetaNoop).await.unwrap();
    assert_eq!(reply, Response::MetaNoop);

    // flush_all
    let flushed = client.flush_all().await;
    assert!(flushed.iter().all(|(_, r)| r.is_ok()), "{flushed:?}");
    assert_eq!(client.get("new").await.unwrap(), None);
}

#[tokio::test]
async fn every_method_against_a_ringcache_node() {
    let node = InProcNode::start().await;
    let client = builder(&[node.name()]).build().await.unwrap();
    every_method(&client).await;
}

#[tokio::test]
async fn every_method_against_memcached() {
    let m = Memcached::start().await;
    let client = builder(&[m.name()]).build().await.unwrap();
    every_method(&client).await;
}

#[tokio::test]
async fn invalid_keys_fail_before_anything_is_sent() {
    let node = InProcNode::start().await;
    let client = builder(&[node.name()]).build().await.unwrap();
    let long = "k".repeat(251);
    for key in ["", "a b", "line\r\n", "tab\t", long.as_str(), "\u{7f}"] {
        let err = client.get(key).await.unwrap_err();
        assert!(matches!(err, Error::InvalidKey(_)), "{key:?}: {err:?}");
        assert!(!err.is_retryable());
        assert!(client.set(key, "v", TTL).await.is_err());
        assert!(client.node_for(key).is_err());
    }
    // one bad key fails the whole get_many before any request
    let err = client.get_many(["good", "bad key"]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidKey(_)));
    // 250 bytes is fine
    client.set("k".repeat(250), "v", TTL).await.unwrap();
    assert!(client.get("k".repeat(250)).await.unwrap().is_some());
    // noreply / quiet requests are refused: they would break FIFO matching
    let request = Request::Delete(ringcache_protocol::Delete {
        key: Bytes::from_static(b"good"),
        noreply: true,
    });
    let err = client.execute_on("good", request).await.unwrap_err();
    assert!(matches!(err, Error::Client(_)), "{err:?}");
}

/// Many callers on one connection: each gets its own reply.
async fn no_cross_talk(name: String) {
    let client = builder(&[name])
        .connections_per_node(1)
        .max_in_flight(64)
        .queue_depth(256)
        // Callers beyond the queue wait for room instead of failing.
        .queue_wait(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let n = 2000;
    for i in 0..n {
        client
            .set(
                format!("key{i}"),
                format!("value-{i}-{}", "x".repeat(i % 50)),
                TTL,
            )
            .await
            .unwrap();
    }
    let client = Arc::new(client);
    let mut tasks = Vec::new();
    for i in 0..n {
        let client = Arc::clone(&client);
        tasks.push(tokio::spawn(async move {
            let expect = format!("value-{i}-{}", "x".repeat(i % 50));
            let got = client.get(format!("key{i}")).await.unwrap().unwrap();
            assert_eq!(got.value, expect.as_bytes(), "key{i}");
            // a miss in the middle of the pipeline stays a miss
            assert_eq!(client.get(format!("nokey{i}")).await.unwrap(), None);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_callers_get_their_own_replies_ringcache() {
    let node = InProcNode::start().await;
    no_cross_talk(node.name()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_callers_get_their_own_replies_memcached() {
    let m = Memcached::start().await;
    no_cross_talk(m.name()).await;
}

#[tokio::test]
async fn a_full_queue_is_overloaded_not_unbounded() {
    let node = InProcNode::start().await;
    let client = builder(&[node.name()])
        .connections_per_node(1)
        .max_in_flight(1)
        .queue_depth(1)
        .queue_wait(Duration::ZERO)
        .build()
        .await
        .unwrap();
    client.set("k", "v", TTL).await.unwrap();
    // Queue far more than 1 in flight + 1 queued without yielding: the
    // rest must be refused at once.
    let handle = client.handle_for("k").unwrap();
    let mut calls = Vec::new();
    for _ in 0..50 {
        let h = handle.clone();
        calls.push(tokio::spawn(async move {
            h.call(Request::Get(ringcache_protocol::Get {
                keys: vec![Bytes::from_static(b"k")],
            }))
            .await
        }));
    }
    let mut overloaded = 0;
    let mut ok = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(Response::Values(v)) if v.len() == 1 => ok += 1,
            Err(Error::Overloaded { .. }) => overloaded += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(ok >= 1, "some calls got through");
    assert!(overloaded >= 1, "some calls were refused ({ok} ok)");
    assert!(Error::Overloaded {
        node: String::new()
    }
    .is_retryable());
}
