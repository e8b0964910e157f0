//! Live membership behind the proxy: a nodes file edited while the proxy
//! runs (the new node takes its share of the keys), and a DNS name.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::time::Duration;

use proxy_support::{connect, roundtrip, wait_for, Harness, DEADLINE};
use ringcache_client::{Config as ClientConfig, Membership};

fn write_atomically(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn nodes_file_edits_are_picked_up_live() {
    let mut h = Harness::nodes(3);
    let dir = std::env::temp_dir().join(format!("ringcache-proxy-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nodes");
    let [a, b, c] = [h.node_addrs[0], h.node_addrs[1], h.node_addrs[2]];
    write_atomically(&file, &format!("# two nodes\n{a}\n{b}\n"));
    let config = h
        .proxy_config(ClientConfig::default())
        .membership(Membership::file(&file).with_interval(Duration::from_millis(20)));
    h.start_proxy(config);
    let client = h.proxy().client().clone();
    assert_eq!(client.nodes().len(), 2);
    let mut s = connect(h.proxy_addr());
    let stats = String::from_utf8(roundtrip(&mut s, b"stats\r\n", b"END\r\n")).unwrap();
    assert!(stats.contains("STAT ring_nodes 2\r\n"), "{stats}");

    // Add the third node: the proxy's ring follows, and keys reach it.
    write_atomically(&file, &format!("{a}\n{b}\n{c} 1\n"));
    wait_for("the third node in the ring", DEADLINE, || {
        client.nodes().len() == 3
    });
    for i in 0..300 {
        let reply = roundtrip(
            &mut s,
            format!("set live:{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
    assert!(h.curr_items(2) > 0, "the added node got keys");

    // A broken file keeps the old ring; removing a node shrinks it.
    write_atomically(&file, "not a node line\n");
    let polls = h.proxy().membership_polls();
    wait_for("two more polls", DEADLINE, || {
        h.proxy().membership_polls() > polls + 2
    });
    assert_eq!(client.nodes().len(), 3, "a bad file changes nothing");
    write_atomically(&file, &format!("{a}\n{c}\n"));
    wait_for("the node removed", DEADLINE, || client.nodes().len() == 2);
    let stats = String::from_utf8(roundtrip(&mut s, b"stats\r\n", b"END\r\n")).unwrap();
    assert!(stats.contains("STAT ring_nodes 2\r\n"), "{stats}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dns_names_become_nodes() {
    let mut h = Harness::nodes(1);
    let port = h.node_addrs[0].port();
    let config = h
        .proxy_config(ClientConfig::default())
        .membership(Membership::dns(&format!("localhost:{port}")).unwrap());
    h.start_proxy(config);
    let names: Vec<String> = h
        .proxy()
        .client()
        .nodes()
        .iter()
        .map(|n| n.name().to_owned())
        .collect();
    assert!(
        names.contains(&format!("127.0.0.1:{port}")),
        "localhost resolves to the node: {names:?}"
    );
}
