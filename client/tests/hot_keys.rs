//! Hot keys, detected by the client from its own reads: one key read far
//! more than the rest is named by `hot_keys`, its reads are spread over its
//! replicas (each node serves a fair part), and with a near-cache TTL most
//! of them never leave the process.

#![allow(clippy::unwrap_used)]

mod live;

use std::time::Duration;

use bytes::Bytes;
use live::{builder, InProcNode};
use ringcache_client::Client;
use ringcache_protocol::{Request, Response, StatValue, Stats};

const TTL: Duration = Duration::from_secs(600);

/// `get_hits` of every node, in name order.
async fn get_hits(client: &Client) -> Vec<u64> {
    let stats = Request::Stats(Stats {
        group: None,
        args: Vec::new(),
    });
    client
        .execute_on_all(stats)
        .await
        .into_iter()
        .map(|(node, reply)| match reply.unwrap() {
            Response::Stats(stats) => stats
                .iter()
                .find(|s| s.name.as_ref() == b"get_hits")
                .and_then(|s| match &s.value {
                    StatValue::Unsigned(n) => Some(*n),
                    StatValue::Text(t) => std::str::from_utf8(t).ok()?.parse().ok(),
                    StatValue::Signed(_) => None,
                })
                .unwrap_or_else(|| panic!("{node}: no get_hits")),
            other => panic!("{node}: {other:?}"),
        })
        .collect()
}

/// Reads `hot` once in every four reads, the rest spread over 2,000 keys.
async fn skewed_reads(client: &Client, hot: &str, reads: usize) {
    for i in 0..reads {
        let key = if i % 4 == 0 {
            hot.to_owned()
        } else {
            format!("cold:{}", i % 2000)
        };
        let _ = client.get(&key).await.unwrap();
    }
}

async fn two_nodes() -> (InProcNode, InProcNode, Vec<String>) {
    let (a, b) = (InProcNode::start().await, InProcNode::start().await);
    let names = vec![a.name(), b.name()];
    (a, b, names)
}

#[tokio::test]
async fn a_hot_key_is_named_and_its_reads_spread_over_its_replicas() {
    let (_a, _b, names) = two_nodes().await;
    let client = builder(&names).replicas(2).build().await.unwrap();
    client.set("hot", "v", TTL).await.unwrap();
    skewed_reads(&client, "hot", 40_000).await;
    let hot = client.hot_keys();
    assert_eq!(
        hot.first().map(|h| h.key.clone()),
        Some(Bytes::from_static(b"hot")),
        "{hot:?}"
    );
    assert!(
        (0.15..0.35).contains(&hot[0].share),
        "share {}",
        hot[0].share
    );
    assert!(hot.len() <= 2, "cold keys stay cold: {hot:?}");
    // Now only the hot key: both replicas serve it.
    let before = get_hits(&client).await;
    for _ in 0..2_000 {
        assert!(client.get("hot").await.unwrap().is_some());
    }
    let after = get_hits(&client).await;
    let served: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    for (node, n) in names.iter().zip(&served) {
        assert!(*n >= 600, "{node} served {n} of 2000 hot reads: {served:?}");
    }
}

#[tokio::test]
async fn without_detection_one_node_serves_a_hot_key() {
    let (_a, _b, names) = two_nodes().await;
    let client = builder(&names)
        .replicas(2)
        .hot_share(0.0)
        .build()
        .await
        .unwrap();
    client.set("hot", "v", TTL).await.unwrap();
    skewed_reads(&client, "hot", 4_000).await;
    assert!(client.hot_keys().is_empty());
    let before = get_hits(&client).await;
    for _ in 0..2_000 {
        assert!(client.get("hot").await.unwrap().is_some());
    }
    let after = get_hits(&client).await;
    let mut served: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    served.sort_unstable();
    assert_eq!(served, vec![0, 2_000], "the primary serves every read");
}

#[tokio::test]
async fn a_near_cache_ttl_keeps_hot_reads_in_the_process_and_writes_drop_them() {
    let (_a, _b, names) = two_nodes().await;
    let client = builder(&names)
        .hot_near_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    client.set("hot", "v1", TTL).await.unwrap();
    skewed_reads(&client, "hot", 40_000).await;
    assert!(!client.hot_keys().is_empty());
    let before: u64 = get_hits(&client).await.iter().sum();
    for _ in 0..2_000 {
        assert_eq!(client.get("hot").await.unwrap().unwrap().value, "v1");
    }
    let after: u64 = get_hits(&client).await.iter().sum();
    assert!(
        after - before < 20,
        "{} hot reads reached a node",
        after - before
    );
    // This client's write is seen at once.
    client.set("hot", "v2", TTL).await.unwrap();
    assert_eq!(client.get("hot").await.unwrap().unwrap().value, "v2");
}
