//! Membership from DNS, without external DNS: `localhost` resolves to
//! loopback through `/etc/hosts`, so a node on `127.0.0.1:PORT` is found as
//! `localhost:PORT`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod live;

use std::time::Duration;

use live::{wait_for, InProcNode};
use ringcache_client::{Client, Membership, MembershipError};

#[tokio::test]
async fn a_name_resolving_to_loopback_becomes_the_node_list() {
    let node = InProcNode::start().await;
    let port = node.addr.port();
    let source = Membership::dns(&format!("localhost:{port}")).unwrap();
    let nodes = source.load().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
    assert!(names.contains(&node.name().as_str()), "{names:?}");

    // Only the IPv4 answer has a node behind it; keep the test to it in
    // case the machine's localhost also answers ::1.
    let client = Client::builder()
        .request_timeout(Duration::from_secs(2))
        .dns(&format!("localhost:{port}"))
        .interval(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    assert_eq!(client.nodes(), nodes);
    if names.len() == 1 {
        client
            .set("dns:k", "v", Duration::from_secs(60))
            .await
            .unwrap();
        let item = client.get("dns:k").await.unwrap().unwrap();
        assert_eq!(&item.value[..], b"v");
    }
    // Re-resolving the same answers changes nothing.
    let digest = client.ring_digest();
    let watcher = client
        .watch_membership(source.with_interval(Duration::from_millis(20)))
        .unwrap();
    let target = watcher.polls() + 3;
    wait_for(|| async { (watcher.polls() >= target).then_some(()) }).await;
    assert_eq!(client.ring_digest(), digest);
}

#[tokio::test]
async fn malformed_dns_sources_are_refused() {
    for bad in ["localhost", "localhost:0", "localhost:99999", ":11211"] {
        assert!(
            matches!(Membership::dns(bad), Err(MembershipError::BadAddress(_))),
            "{bad}"
        );
        assert!(Client::builder().dns(bad).build().await.is_err(), "{bad}");
    }
}
