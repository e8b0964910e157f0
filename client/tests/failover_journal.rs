//! The failover journal against real stalls: three Debian `memcached`
//! processes, one stopped with SIGSTOP until the client ejects it (it
//! keeps its items, as after a network partition or a long pause), written
//! around while it is out, then resumed with SIGCONT.
//!
//! - `a_returning_node_never_serves_what_was_rewritten_while_it_was_out`:
//!   a key set and a key deleted during the ejection (a text key and a
//!   binary one) read back the new value or a miss after the return, never
//!   the value from before the stall;
//! - `an_overflowed_journal_flushes_the_returning_node`: with a journal of
//!   two keys, a third write during the ejection makes the returning node
//!   flushed (a key nobody rewrote is gone too);
//! - `failover_writes_get_their_ttl_capped`: a write landing on the
//!   failover node lives at most `failover_ttl` there; writes to a key's
//!   own node are not capped;
//! - `with_two_replicas_the_ejected_replica_is_invalidated_too`: the
//!   stalled node is the key's first replica; after its return the read
//!   starting there finds the new value on the second one.

#![allow(clippy::unwrap_used)]

mod live;

use std::time::Duration;

use bytes::Bytes;
use live::{builder, direct, state_of, wait_for, Memcached};
use ringcache_client::{Client, ClientBuilder, FailurePolicy, NodeState};
use ringcache_protocol::{
    FlagOrder, MetaDelete, MetaDeleteFlags, MetaGet, MetaGetFlags, MetaSet, MetaSetFlags,
    MetaStatus, Request, Response,
};

const TTL: Duration = Duration::from_secs(3600);

/// Ejects after two timeouts of 300 ms; probes from 20 ms, at most 200 ms
/// apart, so the return follows SIGCONT closely.
fn stalling(names: &[String]) -> ClientBuilder {
    builder(names)
        .failure_policy(FailurePolicy::Eject)
        .failure_threshold(2)
        .request_timeout(Duration::from_millis(300))
        .reconnect_backoff(Duration::from_millis(20))
        .reconnect_max_backoff(Duration::from_millis(100))
        .probe_interval(Duration::from_millis(20))
        .probe_max_interval(Duration::from_millis(200))
}

struct Cluster {
    nodes: Vec<Memcached>,
    names: Vec<String>,
}

impl Cluster {
    async fn start() -> Cluster {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Memcached::start().await);
        }
        let names = nodes.iter().map(Memcached::name).collect();
        Cluster { nodes, names }
    }
}

/// `count` keys named `<prefix><i>` that the ring gives to `name`.
fn keys_of(client: &Client, name: &str, prefix: &str, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| client.node_for(k).unwrap() == name)
        .take(count)
        .collect()
}

/// A key a node stores as `bin <i>\x01` (space and control byte: only
/// the meta commands' base64 form carries it), routed to `name`: the
/// client routes such keys with each byte under `!` read as `b | 0x80`.
fn binary_key_of(client: &Client, name: &str) -> Bytes {
    (0..)
        .map(|i| format!("bin {i}\x01").into_bytes())
        .find(|k| {
            let routed: Vec<u8> = k
                .iter()
                .map(|&b| if b <= b' ' { b | 0x80 } else { b })
                .collect();
            client.node_for(&routed).unwrap() == name
        })
        .map(Bytes::from)
        .unwrap()
}

/// Stalls `victim` and sends reads of `key` (its key) until the client
/// ejects it.
async fn stall_until_ejected(client: &Client, victim: &Memcached, key: &str) {
    victim.signal("STOP");
    wait_for(|| async {
        let _ = client.get(key).await;
        (state_of(client, &victim.name()) == NodeState::Ejected).then_some(())
    })
    .await;
}

/// Resumes `victim` and waits for the client to take it back.
async fn resume_until_back(client: &Client, victim: &Memcached) {
    victim.signal("CONT");
    wait_for(|| async { (state_of(client, &victim.name()) == NodeState::Up).then_some(()) }).await;
}

fn meta_set(key: &Bytes, value: &'static str) -> Request {
    Request::MetaSet(MetaSet {
        key: key.clone(),
        value: Bytes::from_static(value.as_bytes()),
        flags: MetaSetFlags {
            base64: true,
            ttl: Some(3600),
            ..MetaSetFlags::default()
        },
    })
}

fn meta_get(key: &Bytes, order: &[u8]) -> Request {
    Request::MetaGet(MetaGet {
        key: key.clone(),
        flags: MetaGetFlags {
            base64: true,
            value: order.contains(&b'v'),
            order: order.iter().collect::<FlagOrder>(),
            ..MetaGetFlags::default()
        },
    })
}

/// The remaining TTL `name` holds for `key` (`mg <key> t`); `None` on a
/// miss, `-1` for no expiry.
async fn ttl_on(name: &str, key: &str) -> Option<i64> {
    let node = direct(name).await;
    let request = Request::MetaGet(MetaGet {
        key: Bytes::copy_from_slice(key.as_bytes()),
        flags: MetaGetFlags {
            order: b"t".iter().collect::<FlagOrder>(),
            ..MetaGetFlags::default()
        },
    });
    match node.execute_on(key, request).await.unwrap() {
        Response::Meta(r) if r.status == MetaStatus::En => None,
        Response::Meta(r) => Some(r.flags.ttl.unwrap()),
        other => panic!("mg {key} t: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_node_never_serves_what_was_rewritten_while_it_was_out() {
    let cluster = Cluster::start().await;
    let client = stalling(&cluster.names).build().await.unwrap();
    let victim = &cluster.nodes[1];
    let name = victim.name();
    let keys = keys_of(&client, &name, "journal:", 3);
    let (k, j, probe) = (&keys[0], &keys[1], &keys[2]);
    let bin = binary_key_of(&client, &name);
    client.set(k, "v1", TTL).await.unwrap();
    client.set(j, "j1", TTL).await.unwrap();
    let stored = client.execute(meta_set(&bin, "b1")).await.unwrap();
    assert!(
        matches!(&stored, Response::Meta(r) if r.status == MetaStatus::Hd),
        "{stored:?}"
    );

    stall_until_ejected(&client, victim, probe).await;
    // While it is out: k rewritten, j and the binary key deleted, all
    // through the next node of the ring.
    let fallback = client.node_for(k).unwrap();
    assert_ne!(fallback, name);
    client.set(k, "v2", TTL).await.unwrap();
    client.delete(j).await.unwrap();
    let md = Request::MetaDelete(MetaDelete {
        key: bin.clone(),
        flags: MetaDeleteFlags {
            base64: true,
            ..MetaDeleteFlags::default()
        },
    });
    client.execute(md).await.unwrap();
    assert_eq!(client.get(k).await.unwrap().unwrap().value, "v2");

    resume_until_back(&client, victim).await;
    assert_eq!(client.node_for(k).unwrap(), name);
    let after = client.get(k).await.unwrap().map(|i| i.value);
    assert!(
        after.as_deref() != Some(&b"v1"[..]),
        "k read its value from before the stall after the node's return"
    );
    assert_eq!(
        client.get(j).await.unwrap(),
        None,
        "a deleted key came back"
    );
    let reply = client.execute(meta_get(&bin, b"v")).await.unwrap();
    assert!(
        matches!(&reply, Response::Meta(r) if r.status == MetaStatus::En),
        "a deleted binary key came back: {reply:?}"
    );
    // The node itself no longer holds any of the three: deleted before it
    // was taken back.
    let on_victim = direct(&name).await;
    assert_eq!(on_victim.get(k).await.unwrap(), None);
    assert_eq!(on_victim.get(j).await.unwrap(), None);
    // A key not written during the ejection keeps its value.
    client.set(probe, "p", TTL).await.unwrap();
    assert!(client.get(probe).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowed_journal_flushes_the_returning_node() {
    let cluster = Cluster::start().await;
    let client = stalling(&cluster.names)
        .failover_journal_keys(2)
        .build()
        .await
        .unwrap();
    let victim = &cluster.nodes[2];
    let name = victim.name();
    let keys = keys_of(&client, &name, "overflow:", 5);
    let untouched = &keys[4];
    for k in &keys {
        client.set(k, "before", TTL).await.unwrap();
    }

    stall_until_ejected(&client, victim, untouched).await;
    // Three keys written around it: one more than its journal holds.
    for k in &keys[..3] {
        client.set(k, "during", TTL).await.unwrap();
    }

    resume_until_back(&client, victim).await;
    // Flushed: the keys written elsewhere and the one nobody touched.
    let on_victim = direct(&name).await;
    for k in &keys {
        assert_eq!(on_victim.get(k).await.unwrap(), None, "{k} survived");
    }
    for k in &keys[..3] {
        assert_eq!(client.get(k).await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_writes_get_their_ttl_capped() {
    let cluster = Cluster::start().await;
    let cap = Duration::from_secs(30);
    let client = stalling(&cluster.names)
        .failover_ttl(cap)
        .build()
        .await
        .unwrap();
    let victim = &cluster.nodes[0];
    let name = victim.name();
    let keys = keys_of(&client, &name, "capped:", 4);
    // Keys of the other nodes, chosen while every node is up (node_for
    // gives the failover node once the victim is out).
    let own: Vec<(String, String)> = cluster.names[1..]
        .iter()
        .map(|n| (n.clone(), keys_of(&client, n, "own:", 1).remove(0)))
        .collect();
    stall_until_ejected(&client, victim, &keys[3]).await;

    // No expiry, a long TTL, a touch: all at most the cap on the fallback
    // (each key's next node on the ring).
    client.set(&keys[0], "never", Duration::ZERO).await.unwrap();
    client.set(&keys[1], "long", TTL).await.unwrap();
    client
        .set(&keys[2], "short", Duration::from_secs(5))
        .await
        .unwrap();
    for (k, most) in [(&keys[0], 30), (&keys[1], 30), (&keys[2], 5)] {
        let fallback = client.node_for(k).unwrap();
        assert_ne!(fallback, name);
        let ttl = ttl_on(&fallback, k).await.unwrap();
        assert!((1..=most).contains(&ttl), "{k}: TTL {ttl} on the fallback");
    }
    client.touch(&keys[2], TTL).await.unwrap();
    let fallback = client.node_for(&keys[2]).unwrap();
    let ttl = ttl_on(&fallback, &keys[2]).await.unwrap();
    assert!((1..=30).contains(&ttl), "touch: TTL {ttl} on the fallback");

    // The fallbacks' own keys are not capped.
    for (node, key) in &own {
        client.set(key, "mine", TTL).await.unwrap();
        let ttl = ttl_on(node, key).await.unwrap();
        assert!(ttl > 30, "a write to the key's own node was capped: {ttl}");
    }

    // Nor are writes after the return.
    resume_until_back(&client, victim).await;
    client.set(&keys[0], "back", TTL).await.unwrap();
    let ttl = ttl_on(&name, &keys[0]).await.unwrap();
    assert!(ttl > 30, "a write after the return was capped: {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_the_ejected_replica_is_invalidated_too() {
    let cluster = Cluster::start().await;
    let client = stalling(&cluster.names).replicas(2).build().await.unwrap();
    let victim = &cluster.nodes[1];
    let name = victim.name();
    // Keys whose first replica is the victim.
    let keys = keys_of(&client, &name, "replicated:", 2);
    let (k, probe) = (&keys[0], &keys[1]);
    client.set(k, "v1", TTL).await.unwrap();

    stall_until_ejected(&client, victim, probe).await;
    // Written to the second replica and to the node after it (outside the
    // natural pair: capped at 60 s).
    client.set(k, "v2", TTL).await.unwrap();

    resume_until_back(&client, victim).await;
    // Reads start at the victim again: deleted there, they fall through to
    // the second replica, which has the new value.
    assert_eq!(client.get(k).await.unwrap().unwrap().value, "v2");
    let on_victim = direct(&name).await;
    let held = on_victim.get(k).await.unwrap().map(|i| i.value);
    assert_ne!(held.as_deref(), Some(&b"v1"[..]), "v1 survived the return");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_fast_miss_a_delete_refused_while_out_still_reaches_the_node() {
    // Cache-aside under fast-miss: the application updates its database
    // and deletes the key while the key's node is stalled. The delete
    // fails at once (no key moves), and without the journal the node would
    // serve the old value again once it is back.
    let cluster = Cluster::start().await;
    let client = stalling(&cluster.names)
        .failure_policy(FailurePolicy::FastMiss)
        .build()
        .await
        .unwrap();
    let victim = &cluster.nodes[2];
    let name = victim.name();
    let keys = keys_of(&client, &name, "fastmiss:", 3);
    let (k, untouched, probe) = (&keys[0], &keys[1], &keys[2]);
    client.set(k, "old", TTL).await.unwrap();
    client.set(untouched, "kept", TTL).await.unwrap();

    stall_until_ejected(&client, victim, probe).await;
    assert!(
        client.delete(k).await.is_err(),
        "fast-miss refuses writes to an ejected node"
    );
    assert_eq!(client.node_for(k).unwrap(), name, "no key moves");

    resume_until_back(&client, victim).await;
    assert_eq!(
        client.get(k).await.unwrap(),
        None,
        "the value the refused delete meant to remove came back"
    );
    assert_eq!(
        client.get(untouched).await.unwrap().map(|i| i.value),
        Some(bytes::Bytes::from_static(b"kept")),
        "a key nobody wrote during the stall keeps its value"
    );
}
