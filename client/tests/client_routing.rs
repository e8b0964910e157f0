//! Routing matches `Ring::lookup` (checked by asking each node what it
//! holds), and `get_many` fans out across nodes, on ringcache nodes and on
//! memcached processes.

#![allow(clippy::unwrap_used)]

mod live;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use live::{builder, direct, InProcNode, Memcached};
use ringcache_client::{Client, Node, Scheme};
use ringcache_ring::Ring;

const TTL: Duration = Duration::from_secs(300);

/// Writes `n` keys through the client, then asks every node directly
/// which keys it holds: each key must be on the node the ring names.
async fn routing_matches_the_ring(names: Vec<String>, scheme: Scheme) {
    let client = builder(&names).scheme(scheme).build().await.unwrap();
    let ring = Ring::with_scheme(names.iter().map(Node::new), scheme).unwrap();
    assert_eq!(client.ring_digest(), ring.digest());
    let keys: Vec<String> = (0..300).map(|i| format!("route:{i}")).collect();
    for k in &keys {
        client.set(k, k.clone(), TTL).await.unwrap();
        let owner = ring.lookup(k.as_bytes()).unwrap().name();
        assert_eq!(client.node_for(k).unwrap(), owner);
    }
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for name in &names {
        let node = direct(name).await;
        for k in &keys {
            let held = node.get(k).await.unwrap().is_some();
            let owner = ring.lookup(k.as_bytes()).unwrap().name();
            assert_eq!(held, owner == name, "{k} on {name}, ring says {owner}");
            if held {
                *per_node.entry(name.clone()).or_default() += 1;
            }
        }
    }
    // every node got a fair part of 300 keys
    assert_eq!(per_node.len(), names.len(), "{per_node:?}");
    assert!(
        per_node.values().all(|&n| n > 300 / names.len() / 3),
        "{per_node:?}"
    );
}

#[tokio::test]
async fn routing_matches_ring_lookup_on_ringcache_nodes() {
    let nodes = [
        InProcNode::start().await,
        InProcNode::start().await,
        InProcNode::start().await,
    ];
    routing_matches_the_ring(nodes.iter().map(|n| n.name()).collect(), Scheme::Xxh3).await;
}

#[tokio::test]
async fn routing_matches_ring_lookup_on_memcached_ketama() {
    let nodes = [
        Memcached::start().await,
        Memcached::start().await,
        Memcached::start().await,
    ];
    routing_matches_the_ring(nodes.iter().map(|n| n.name()).collect(), Scheme::Ketama).await;
}

async fn get_many_across(names: Vec<String>) {
    let client = builder(&names).build().await.unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("many:{i}")).collect();
    // even keys present, odd keys absent
    for k in keys.iter().step_by(2) {
        client.set(k, format!("v-{k}"), TTL).await.unwrap();
    }
    let nodes_hit: HashSet<String> = keys.iter().map(|k| client.node_for(k).unwrap()).collect();
    assert_eq!(nodes_hit.len(), names.len(), "the keys span every node");
    let found = client.get_many(&keys).await.unwrap();
    assert!(found.failed.is_empty(), "{:?}", found.failed);
    assert_eq!(found.items.len(), 100);
    for (i, k) in keys.iter().enumerate() {
        let got = found.items.get(&Bytes::from(k.clone()));
        if i % 2 == 0 {
            assert_eq!(got.unwrap().value, format!("v-{k}").as_bytes());
        } else {
            assert!(got.is_none());
        }
    }
    // no keys: nothing sent, nothing found
    let none = client.get_many(Vec::<String>::new()).await.unwrap();
    assert!(none.items.is_empty() && none.failed.is_empty());
}

#[tokio::test]
async fn get_many_across_four_ringcache_nodes() {
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(InProcNode::start().await);
    }
    get_many_across(nodes.iter().map(|n| n.name()).collect()).await;
}

#[tokio::test]
async fn get_many_across_three_memcached() {
    let nodes = [
        Memcached::start().await,
        Memcached::start().await,
        Memcached::start().await,
    ];
    get_many_across(nodes.iter().map(|n| n.name()).collect()).await;
}

#[tokio::test]
async fn set_nodes_keeps_handles_and_moves_keys_only_to_the_new_node() {
    let nodes = [
        InProcNode::start().await,
        InProcNode::start().await,
        InProcNode::start().await,
    ];
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    let client = builder(&names[..2]).build().await.unwrap();
    let keys: Vec<String> = (0..400).map(|i| format!("move:{i}")).collect();
    let before: Vec<String> = keys.iter().map(|k| client.node_for(k).unwrap()).collect();
    let old = client.node_handles();

    let change = client
        .set_nodes(names.iter().map(Node::new).collect())
        .unwrap();
    assert_eq!(change.added, vec![names[2].clone()]);
    assert!(change.removed.is_empty());
    assert!((change.moved - 1.0 / 3.0).abs() < 0.05, "{}", change.moved);
    assert_ne!(change.old_digest, change.new_digest);
    assert_eq!(client.ring_digest(), change.new_digest);

    let mut moved = 0;
    for (k, was) in keys.iter().zip(&before) {
        let now = client.node_for(k).unwrap();
        if &now != was {
            assert_eq!(now, names[2], "{k} moved between old nodes");
            moved += 1;
        }
    }
    assert!(moved > 80 && moved < 190, "{moved} of 400 moved");
    // the old nodes' handles (and their connections) were kept
    let new = client.node_handles();
    for h in &old {
        assert!(new.iter().any(|n| n.name() == h.name()));
    }
    // the same list again changes nothing
    let again = client
        .set_nodes(names.iter().rev().map(Node::new).collect())
        .unwrap();
    assert_eq!(again.old_digest, again.new_digest);
    assert_eq!(again.moved, 0.0);
    // and the client works on the new ring
    client.set("after", "v", TTL).await.unwrap();
    assert!(client.get("after").await.unwrap().is_some());
    // an invalid list is refused and the old ring stays
    assert!(client
        .set_nodes(vec![Node::new("dup:1"), Node::new("dup:1")])
        .is_err());
    assert_eq!(client.ring_digest(), change.new_digest);
}

#[tokio::test]
async fn an_empty_client_has_no_nodes() {
    let client = Client::builder().build().await.unwrap();
    assert!(matches!(
        client.get("k").await,
        Err(ringcache_client::Error::NoNodes)
    ));
    assert!(client.get_many(["a"]).await.is_err());
    assert!(client.flush_all().await.is_empty());
}

#[tokio::test]
async fn from_config_reads_a_toml_file() {
    let node = InProcNode::start().await;
    let dir = std::env::temp_dir().join(format!("ringcache-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("client.toml");
    std::fs::write(
        &path,
        format!(
            "nodes = [{{ name = \"{}\", weight = 2 }}]\nfailure_policy = \"fast_miss\"\n\
             connections_per_node = 1\nrequest_timeout_ms = 750\n",
            node.name()
        ),
    )
    .unwrap();
    let client = Client::from_config(&path).await.unwrap();
    assert_eq!(client.config().connections_per_node, 1);
    assert_eq!(client.config().request_timeout, Duration::from_millis(750));
    assert_eq!(client.nodes(), vec![Node::weighted(node.name(), 2)]);
    client.set("k", "v", TTL).await.unwrap();
    assert!(client.get("k").await.unwrap().is_some());
    std::fs::write(&path, "nodes = [\"a:1\"]\nbogus = 1\n").unwrap();
    assert!(
        Client::from_config(&path).await.is_err(),
        "unknown keys are refused"
    );
    assert!(Client::from_config(dir.join("missing.toml")).await.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
