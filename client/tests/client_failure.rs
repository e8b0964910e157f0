//! Failure handling: a node killed mid-run is ejected and the client keeps
//! serving; the node restarted on the same port comes back after a probe;
//! FastMiss answers misses without remapping; the max ejected share holds.

#![allow(clippy::unwrap_used)]

mod live;

use std::time::Duration;

use bytes::Bytes;
use live::{builder, state_of, wait_for, InProcNode, Memcached};
use ringcache_client::{Client, ClientBuilder, Error, FailurePolicy, NodeState};

const TTL: Duration = Duration::from_secs(300);

fn fast_failing(names: &[String], policy: FailurePolicy) -> ClientBuilder {
    builder(names)
        .failure_policy(policy)
        .failure_threshold(2)
        .reconnect_backoff(Duration::from_millis(20))
        .reconnect_max_backoff(Duration::from_millis(100))
        .probe_interval(Duration::from_millis(20))
        .probe_max_interval(Duration::from_millis(200))
        .request_timeout(Duration::from_millis(500))
}

/// Keys routed to `name` (by the ring, all nodes up).
fn keys_on(client: &Client, name: &str, keys: &[String]) -> Vec<String> {
    keys.iter()
        .filter(|k| client.node_for(k).unwrap() == name)
        .cloned()
        .collect()
}

/// Sends requests for `key` until its node is ejected.
async fn drive_until_ejected(client: &Client, name: &str, key: &str) {
    wait_for(|| async {
        let _ = client.get(key).await;
        (state_of(client, name) == NodeState::Ejected).then_some(())
    })
    .await;
}

/// The whole cycle on three nodes; `kill`/`restart` act on the victim.
async fn eject_and_return<K, R>(names: Vec<String>, kill: K, restart: R)
where
    K: AsyncFnOnce(),
    R: AsyncFnOnce(),
{
    let client = fast_failing(&names, FailurePolicy::Eject)
        .build()
        .await
        .unwrap();
    let victim = names[1].clone();
    let keys: Vec<String> = (0..120).map(|i| format!("fail:{i}")).collect();
    for k in &keys {
        client.set(k, k.clone(), TTL).await.unwrap();
    }
    let lost = keys_on(&client, &victim, &keys);
    assert!(!lost.is_empty());

    kill().await;

    // Before ejection: get_many returns what the other nodes hold and
    // reports the victim's keys as failed, not an error for all.
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.items.len(), keys.len() - lost.len());
    let failed: Vec<Bytes> = found.failed.iter().flat_map(|f| f.keys.clone()).collect();
    assert_eq!(failed.len(), lost.len(), "{:?}", found.failed);
    assert!(found
        .failed
        .iter()
        .all(|f| f.node == victim && f.error.is_retryable()));

    drive_until_ejected(&client, &victim, &lost[0]).await;
    assert_eq!(
        client
            .node_states()
            .iter()
            .filter(|(_, s)| *s == NodeState::Ejected)
            .count(),
        1
    );

    // Ejected: its keys go to the next node of the replica walk, and every
    // request succeeds again (they are misses there).
    for k in &lost {
        let now = client.node_for(k).unwrap();
        assert_ne!(now, victim);
        assert_eq!(client.get(k).await.unwrap(), None);
    }
    client.set(&lost[0], "on failover", TTL).await.unwrap();
    assert_eq!(
        client.get(&lost[0]).await.unwrap().unwrap().value,
        "on failover"
    );
    let found = client.get_many(&keys).await.unwrap();
    assert!(found.failed.is_empty(), "{:?}", found.failed);
    assert_eq!(found.items.len(), keys.len() - lost.len() + 1);
    // Ejection is local and temporary: the membership digest is unchanged.
    let digest = client.ring_digest();

    restart().await;

    // Back only after a probe succeeds; then its keys route to it again.
    wait_for(|| async { (state_of(&client, &victim) == NodeState::Up).then_some(()) }).await;
    for k in &lost {
        assert_eq!(client.node_for(k).unwrap(), victim);
    }
    wait_for(|| async { client.set(&lost[1], "back", TTL).await.ok() }).await;
    assert_eq!(client.get(&lost[1]).await.unwrap().unwrap().value, "back");
    assert_eq!(client.ring_digest(), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_ringcache_node_is_ejected_and_returns_after_a_probe() {
    let mut a = InProcNode::start().await;
    let b = std::sync::Arc::new(tokio::sync::Mutex::new(InProcNode::start().await));
    let c = InProcNode::start().await;
    let addr = b.lock().await.addr;
    let names = vec![a.name(), addr.to_string(), c.name()];
    let restarted = std::sync::Arc::new(tokio::sync::Mutex::new(None));
    eject_and_return(
        names,
        async || b.lock().await.stop().await,
        async || {
            *restarted.lock().await = Some(InProcNode::start_on(addr).await);
        },
    )
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_memcached_is_ejected_and_returns_after_a_probe() {
    let a = Memcached::start().await;
    let b = std::sync::Arc::new(std::sync::Mutex::new(Memcached::start().await));
    let c = Memcached::start().await;
    let addr = b.lock().unwrap().addr;
    let names = vec![a.name(), addr.to_string(), c.name()];
    let restarted = std::sync::Arc::new(std::sync::Mutex::new(None));
    eject_and_return(
        names,
        async || b.lock().unwrap().stop(),
        async || {
            let m = Memcached::start_on(addr).await;
            *restarted.lock().unwrap() = Some(m);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_miss_answers_misses_without_remapping() {
    let a = InProcNode::start().await;
    let mut b = InProcNode::start().await;
    let c = InProcNode::start().await;
    let names = vec![a.name(), b.name(), c.name()];
    let client = fast_failing(&names, FailurePolicy::FastMiss)
        .build()
        .await
        .unwrap();
    let keys: Vec<String> = (0..90).map(|i| format!("fm:{i}")).collect();
    for k in &keys {
        client.set(k, "v", TTL).await.unwrap();
    }
    let lost = keys_on(&client, &b.name(), &keys);
    b.stop().await;
    drive_until_ejected(&client, &b.name(), &lost[0]).await;

    for k in &lost {
        // still routed to the ejected node: no remapping, no stale reads later
        assert_eq!(client.node_for(k).unwrap(), b.name());
        let started = std::time::Instant::now();
        assert_eq!(client.get(k).await.unwrap(), None);
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "a fast miss"
        );
    }
    let err = client.set(&lost[0], "v", TTL).await.unwrap_err();
    assert!(matches!(err, Error::NodeDown { .. }), "{err:?}");
    let found = client.get_many(&keys).await.unwrap();
    assert_eq!(found.items.len(), keys.len() - lost.len());
    assert!(found
        .failed
        .iter()
        .all(|f| f.node == b.name() && matches!(f.error, Error::NodeDown { .. })));

    let b2 = InProcNode::start_on(b.addr).await;
    wait_for(|| async { (state_of(&client, &b2.name()) == NodeState::Up).then_some(()) }).await;
    wait_for(|| async { client.set(&lost[0], "v2", TTL).await.ok() }).await;
    assert_eq!(client.get(&lost[0]).await.unwrap().unwrap().value, "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_ejected_share_holds() {
    let a = InProcNode::start().await;
    let mut b = InProcNode::start().await;
    let mut c = InProcNode::start().await;
    let names = vec![a.name(), b.name(), c.name()];
    // 3 × 0.4 = 1.2: one node may be out, never two.
    let client = fast_failing(&names, FailurePolicy::Eject)
        .max_ejected_share(0.4)
        .build()
        .await
        .unwrap();
    let keys: Vec<String> = (0..90).map(|i| format!("share:{i}")).collect();
    let on_b = keys_on(&client, &b.name(), &keys);
    let on_c = keys_on(&client, &c.name(), &keys);
    b.stop().await;
    c.stop().await;
    drive_until_ejected(&client, &b.name(), &on_b[0]).await;
    // c fails far past the threshold but stays in.
    for _ in 0..20 {
        let k = on_c
            .iter()
            .find(|k| client.node_for(k).unwrap() == c.name())
            .unwrap();
        assert!(client.get(k).await.is_err());
    }
    assert_eq!(state_of(&client, &c.name()), NodeState::Up);
    assert_eq!(state_of(&client, &b.name()), NodeState::Ejected);
    // a's keys are served throughout
    let on_a = keys_on(&client, &a.name(), &keys);
    client.set(&on_a[0], "v", TTL).await.unwrap();
    assert!(client.get(&on_a[0]).await.unwrap().is_some());
}
