//! Warm rebalancing and replicas against real servers (Debian `memcached`
//! and in-process ringcache nodes): a node joins and the moved keys still
//! hit, are copied to their new owner with their flags and no more TTL than
//! they had, deletes are never undone by a copy; with two replicas a node
//! killed under reads loses none of them.

#![allow(clippy::unwrap_used)]

mod live;

use std::time::Duration;

use bytes::Bytes;
use live::{builder, direct, wait_for, InProcNode, Memcached};
use ringcache_client::{Client, Node, StoreMode};
use ringcache_protocol::{FlagOrder, MetaGet, MetaGetFlags, Request, Response};

const TTL: Duration = Duration::from_secs(600);

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("rebalance:{i}")).collect()
}

/// The remaining TTL `name` reports for `key` (`mg <key> t`), `None` on a
/// miss; `-1` for no expiry.
async fn ttl_on(node: &Client, key: &str) -> Option<i64> {
    let flags = MetaGetFlags {
        order: b"t".iter().collect::<FlagOrder>(),
        ..MetaGetFlags::default()
    };
    let request = Request::MetaGet(MetaGet {
        key: Bytes::copy_from_slice(key.as_bytes()),
        flags,
    });
    match node.execute_on(key, request).await.unwrap() {
        Response::Meta(reply) if reply.flags.ttl.is_some() => reply.flags.ttl,
        _ => None,
    }
}

/// Keys of `all` whose owner under `client` is `name`.
fn owned_by(client: &Client, name: &str, all: &[String]) -> Vec<String> {
    all.iter()
        .filter(|k| client.node_for(k).unwrap() == name)
        .cloned()
        .collect()
}

/// A client on `a` only; fills `keys` (flags 7), then adds `b`. Returns
/// the client and the keys that moved to `b`.
async fn scale_out(a: &str, b: &str, warmup: Duration, all: &[String]) -> (Client, Vec<String>) {
    let client = builder(&[a.to_owned()])
        .warmup(warmup)
        .build()
        .await
        .unwrap();
    for k in all {
        let stored = client
            .store(StoreMode::Set, k, format!("v-{k}"), TTL, 7)
            .await
            .unwrap();
        assert_eq!(stored, ringcache_client::StoreOutcome::Stored);
    }
    let change = client.set_nodes(vec![Node::new(a), Node::new(b)]).unwrap();
    assert_eq!(change.added, vec![b.to_owned()]);
    let moved = owned_by(&client, b, all);
    assert!(
        moved.len() > all.len() / 4,
        "about half the keys move to the new node"
    );
    (client, moved)
}

#[tokio::test]
async fn moved_keys_hit_and_are_copied_with_flags_and_no_longer_ttl() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let all = keys(200);
    let (client, moved) = scale_out(&a.name(), &b.name(), Duration::from_secs(60), &all).await;
    let new_owner = direct(&b.name()).await;
    let old_owner = direct(&a.name()).await;
    for k in &moved {
        let item = client
            .get(k)
            .await
            .unwrap()
            .expect("a moved key still hits");
        assert_eq!(item.value, Bytes::from(format!("v-{k}")));
        assert_eq!(item.flags, 7);
    }
    client.wait_for_copies().await;
    for k in &moved {
        let copy = new_owner
            .get(k)
            .await
            .unwrap()
            .expect("copied to the new owner");
        assert_eq!(copy.value, Bytes::from(format!("v-{k}")));
        assert_eq!(copy.flags, 7, "flags copied");
        let (new_ttl, old_ttl) = (ttl_on(&new_owner, k).await, ttl_on(&old_owner, k).await);
        let (new_ttl, old_ttl) = (new_ttl.unwrap(), old_ttl.unwrap());
        assert!(new_ttl > 0, "the copy expires, as the original does");
        assert!(
            new_ttl <= old_ttl,
            "{k}: copy ttl {new_ttl} > original {old_ttl}"
        );
    }
    // Keys that stayed were never copied anywhere.
    for k in all.iter().filter(|k| !moved.contains(k)) {
        assert!(new_owner.get(k).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn without_warmup_moved_keys_miss() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let all = keys(200);
    let (client, moved) = scale_out(&a.name(), &b.name(), Duration::ZERO, &all).await;
    for k in &moved {
        assert!(
            client.get(k).await.unwrap().is_none(),
            "{k} moved and is cold"
        );
    }
}

#[tokio::test]
async fn an_item_about_to_expire_is_not_copied() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let client = builder(&[a.name()]).build().await.unwrap();
    let all = keys(100);
    for k in &all {
        client
            .set(k, "short", Duration::from_secs(1))
            .await
            .unwrap();
    }
    client
        .set_nodes(vec![Node::new(a.name()), Node::new(b.name())])
        .unwrap();
    let moved = owned_by(&client, &b.name(), &all);
    let new_owner = direct(&b.name()).await;
    for k in &moved {
        // Served from the old owner while it lives, but a copy could only
        // outlive it.
        let _ = client.get(k).await.unwrap();
    }
    client.wait_for_copies().await;
    for k in &moved {
        assert!(new_owner.get(k).await.unwrap().is_none(), "{k} was copied");
    }
}

#[tokio::test]
async fn deletes_in_the_window_reach_both_owners() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let all = keys(200);
    let (client, moved) = scale_out(&a.name(), &b.name(), Duration::from_secs(60), &all).await;
    // Half the moved keys are read (copied) first, all are then deleted.
    for k in moved.iter().step_by(2) {
        assert!(client.get(k).await.unwrap().is_some());
    }
    client.wait_for_copies().await;
    for k in &moved {
        client.delete(k).await.unwrap();
    }
    let (old_owner, new_owner) = (direct(&a.name()).await, direct(&b.name()).await);
    for k in &moved {
        assert!(client.get(k).await.unwrap().is_none(), "{k} came back");
        assert!(old_owner.get(k).await.unwrap().is_none());
        assert!(new_owner.get(k).await.unwrap().is_none());
    }
}

/// Reads and deletes of the same moved keys race; whatever the order, once
/// every copy is done no deleted key is anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_copy_racing_a_delete_never_resurrects_it() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let all = keys(600);
    let (client, moved) = scale_out(&a.name(), &b.name(), Duration::from_secs(60), &all).await;
    let mut tasks = Vec::new();
    for k in moved.clone() {
        let (reader, deleter) = (client.clone(), client.clone());
        let key = k.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let _ = reader.get(&key).await.unwrap();
            }
        }));
        tasks.push(tokio::spawn(async move {
            deleter.delete(&k).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    client.wait_for_copies().await;
    let (old_owner, new_owner) = (direct(&a.name()).await, direct(&b.name()).await);
    for k in &moved {
        assert!(
            old_owner.get(k).await.unwrap().is_none(),
            "{k} on the old owner"
        );
        assert!(new_owner.get(k).await.unwrap().is_none(), "{k} resurrected");
    }
}

#[tokio::test]
async fn an_add_sees_the_item_its_previous_owner_holds() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let all = keys(100);
    let (client, moved) = scale_out(&a.name(), &b.name(), Duration::from_secs(60), &all).await;
    let k = &moved[0];
    let outcome = client
        .store(StoreMode::Add, k, "other", TTL, 0)
        .await
        .unwrap();
    assert_eq!(outcome, ringcache_client::StoreOutcome::NotStored);
    assert_eq!(
        client.get(k).await.unwrap().unwrap().value,
        Bytes::from(format!("v-{k}"))
    );
}

#[tokio::test]
async fn a_moved_counter_keeps_counting() {
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let client = builder(&[a.name()]).build().await.unwrap();
    let all = keys(100);
    for k in &all {
        client.set(k, "41", TTL).await.unwrap();
    }
    client
        .set_nodes(vec![Node::new(a.name()), Node::new(b.name())])
        .unwrap();
    for k in owned_by(&client, &b.name(), &all) {
        assert_eq!(client.incr(&k, 1).await.unwrap(), Some(42), "{k}");
    }
}

#[tokio::test]
async fn two_replicas_lose_no_read_when_a_node_dies() {
    let mut nodes = [
        Memcached::start().await,
        Memcached::start().await,
        Memcached::start().await,
    ];
    let names: Vec<String> = nodes.iter().map(Memcached::name).collect();
    let client = builder(&names)
        .replicas(2)
        .failure_threshold(2)
        .probe_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let all = keys(300);
    for k in &all {
        client.set(k, format!("v-{k}"), TTL).await.unwrap();
    }
    // Every key is on exactly two nodes.
    let direct_clients = [
        direct(&names[0]).await,
        direct(&names[1]).await,
        direct(&names[2]).await,
    ];
    for k in all.iter().take(50) {
        let mut copies = 0;
        for d in &direct_clients {
            copies += usize::from(d.get(k).await.unwrap().is_some());
        }
        assert_eq!(copies, 2, "{k} on {copies} nodes");
    }
    nodes[0].stop();
    // Before and after the dead node is ejected: every read hits.
    for round in 0..2 {
        for k in &all {
            let item = client.get(k).await.unwrap();
            assert_eq!(
                item.map(|i| i.value),
                Some(Bytes::from(format!("v-{k}"))),
                "round {round}: {k} lost"
            );
        }
        let found = client.get_many(&all).await.unwrap();
        assert_eq!(
            found.items.len(),
            all.len(),
            "round {round}: get_many lost keys"
        );
    }
}

#[tokio::test]
async fn a_replica_that_comes_back_empty_is_repaired_by_reads() {
    let mut first = InProcNode::start().await;
    let second = InProcNode::start().await;
    let names = vec![first.name(), second.name()];
    let client = builder(&names).replicas(2).build().await.unwrap();
    let all = keys(100);
    for k in &all {
        client.set(k, "v", TTL).await.unwrap();
    }
    // The first node restarts empty.
    let addr = first.addr;
    first.stop().await;
    let _first = InProcNode::start_on(addr).await;
    let restarted = direct(&names[0]).await;
    wait_for(|| async { restarted.versions().await[0].1.is_ok().then_some(()) }).await;
    for k in &all {
        assert!(client.get(k).await.unwrap().is_some(), "{k} lost");
    }
    // Reads stop at the first replica that hits: the keys the restarted
    // node is first for are the ones their reads repair.
    let first_on_restarted = owned_by(&client, &names[0], &all);
    assert!(!first_on_restarted.is_empty());
    for k in &first_on_restarted {
        // Every read hits; the first ones may find the client's old
        // connection to the restarted node broken (a failure, not a miss:
        // nothing to repair), later ones repair it.
        wait_for(|| async {
            assert!(client.get(k).await.unwrap().is_some(), "{k} lost");
            client.wait_for_copies().await;
            restarted.get(k).await.unwrap().map(|_| ())
        })
        .await;
    }
}

#[tokio::test]
async fn replicated_writes_converge_on_the_primary() {
    let nodes = [Memcached::start().await, Memcached::start().await];
    let names: Vec<String> = nodes.iter().map(Memcached::name).collect();
    let client = builder(&names).replicas(2).build().await.unwrap();
    let (d0, d1) = (direct(&names[0]).await, direct(&names[1]).await);
    client.set("counter", "10", TTL).await.unwrap();
    assert_eq!(client.incr("counter", 5).await.unwrap(), Some(15));
    client.append("counter", "0").await.unwrap();
    for d in [&d0, &d1] {
        assert_eq!(d.get("counter").await.unwrap().unwrap().value, "150");
    }
    client.delete("counter").await.unwrap();
    for d in [&d0, &d1] {
        assert!(d.get("counter").await.unwrap().is_none());
    }
}

/// A node leaving on purpose: drained, then stopped; none of its items is
/// lost, none outlives its TTL, and writes made during the drain win.
async fn drain_then_stop(mut leaving: impl FnMut(), names: Vec<String>) {
    let client = builder(&names).build().await.unwrap();
    let all = keys(400);
    for k in &all {
        client
            .store(StoreMode::Set, k, format!("v-{k}"), TTL, 3)
            .await
            .unwrap();
    }
    let on_leaving = owned_by(&client, &names[0], &all);
    assert!(!on_leaving.is_empty());
    let report = client
        .drain(&names[0], Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(report.list_error, None);
    assert_eq!(report.listed, on_leaving.len());
    assert_eq!(report.copied, on_leaving.len(), "{report:?}");
    assert_eq!(report.unreached, 0);
    assert!(!client.nodes().iter().any(|n| n.name() == names[0]));
    leaving();
    for k in &all {
        let item = client.get(k).await.unwrap().expect("nothing lost");
        assert_eq!(item.value, Bytes::from(format!("v-{k}")));
        assert_eq!(item.flags, 3);
    }
    for k in on_leaving.iter().take(20) {
        let owner = direct(&client.node_for(k).unwrap()).await;
        let ttl = ttl_on(&owner, k).await.unwrap();
        assert!(0 < ttl && ttl < TTL.as_secs() as i64, "{k}: ttl {ttl}");
    }
}

#[tokio::test]
async fn a_drained_memcached_loses_nothing() {
    let mut nodes = [
        Memcached::start().await,
        Memcached::start().await,
        Memcached::start().await,
    ];
    let names: Vec<String> = nodes.iter().map(Memcached::name).collect();
    let [first, ..] = &mut nodes;
    drain_then_stop(|| first.stop(), names).await;
}

#[tokio::test]
async fn a_drained_ringcache_node_loses_nothing() {
    let nodes = [
        InProcNode::start().await,
        InProcNode::start().await,
        InProcNode::start().await,
    ];
    let names: Vec<String> = nodes.iter().map(InProcNode::name).collect();
    let [first, ..] = nodes;
    let mut first = Some(first);
    // Dropping the node stops it.
    drain_then_stop(move || drop(first.take()), names).await;
}

#[tokio::test]
async fn a_drain_is_bounded_by_its_rate_and_budget() {
    let nodes = [Memcached::start().await, Memcached::start().await];
    let names: Vec<String> = nodes.iter().map(Memcached::name).collect();
    let client = builder(&names).copy_rate(100).build().await.unwrap();
    let all = keys(600);
    for k in &all {
        client.set(k, "v", TTL).await.unwrap();
    }
    let on_leaving = owned_by(&client, &names[0], &all).len();
    let started = std::time::Instant::now();
    let report = client
        .drain(&names[0], Duration::from_millis(500))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.listed, on_leaving);
    // 100 copies a second for half a second: about 50 (batches of 32).
    assert!(report.copied <= 96, "{report:?}");
    assert_eq!(
        report.unreached,
        on_leaving - report.copied - report.skipped - report.failed
    );
    assert!(report.unreached > 0);
}

/// A binary key (meta commands' base64 form, with a space in it) warms
/// like any other: the copy speaks base64 to both nodes.
#[tokio::test]
async fn a_binary_key_is_copied_in_base64() {
    use ringcache_protocol::{MetaSet, MetaSetFlags, MetaStatus};
    let (a, b) = (Memcached::start().await, Memcached::start().await);
    let client = builder(&[a.name()]).build().await.unwrap();
    let keys: Vec<Bytes> = (0..64)
        .map(|i| Bytes::from(format!("bin key {i}\u{1}")))
        .collect();
    for k in &keys {
        let set = Request::MetaSet(MetaSet {
            key: k.clone(),
            value: Bytes::from_static(b"binary"),
            flags: MetaSetFlags {
                order: b"bT".iter().collect::<FlagOrder>(),
                base64: true,
                ttl: Some(600),
                ..MetaSetFlags::default()
            },
        });
        match client.execute(set).await.unwrap() {
            Response::Meta(r) => assert_eq!(r.status, MetaStatus::Hd),
            other => panic!("{other:?}"),
        }
    }
    client
        .set_nodes(vec![Node::new(a.name()), Node::new(b.name())])
        .unwrap();
    let mg = |k: &Bytes| {
        Request::MetaGet(MetaGet {
            key: k.clone(),
            flags: MetaGetFlags {
                order: b"bv".iter().collect::<FlagOrder>(),
                base64: true,
                value: true,
                ..MetaGetFlags::default()
            },
        })
    };
    for k in &keys {
        match client.execute(mg(k)).await.unwrap() {
            Response::Meta(r) => assert_eq!(r.value.as_deref(), Some(&b"binary"[..]), "{k:?}"),
            other => panic!("{other:?}"),
        }
    }
    client.wait_for_copies().await;
    // The new node holds the ones that moved to it, under the same key.
    let new_owner = direct(&b.name()).await;
    let mut on_new = 0;
    for k in &keys {
        if let Ok(Response::Meta(r)) = new_owner.execute(mg(k)).await {
            on_new += usize::from(r.status == MetaStatus::Va);
        }
    }
    assert!(
        on_new > 10,
        "{on_new} of {} keys copied to the new node",
        keys.len()
    );
}

/// With two replicas, increments (synced to the secondary after the
/// primary changes) race with deletes of the same keys: an increment never
/// creates a key, so once both are done no key is anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_sync_racing_a_delete_never_resurrects_it() {
    let nodes = [Memcached::start().await, Memcached::start().await];
    let names: Vec<String> = nodes.iter().map(Memcached::name).collect();
    let client = builder(&names).replicas(2).build().await.unwrap();
    let all = keys(300);
    for k in &all {
        client.set(k, "1", TTL).await.unwrap();
    }
    let mut tasks = Vec::new();
    for k in all.clone() {
        let (incr, del) = (client.clone(), client.clone());
        let key = k.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let _ = incr.incr(&key, 1).await.unwrap();
            }
        }));
        tasks.push(tokio::spawn(async move {
            del.delete(&k).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    client.wait_for_copies().await;
    let (d0, d1) = (direct(&names[0]).await, direct(&names[1]).await);
    for k in &all {
        assert!(d0.get(k).await.unwrap().is_none(), "{k} on {}", names[0]);
        assert!(d1.get(k).await.unwrap().is_none(), "{k} on {}", names[1]);
    }
}
