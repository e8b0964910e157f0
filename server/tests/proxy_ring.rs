//! Placement through the proxy: 5 in-process nodes behind a proxy; keys
//! land exactly where `Ring::lookup` puts them, within the ring's balance;
//! a proxy restarted with a 6th node misses only the keys the ring moved
//! to it (about 1/6), no more.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::net::SocketAddr;

use proxy_support::{connect, roundtrip, Harness};
use ringcache_client::Config as ClientConfig;
use ringcache_ring::{Node, Ring, Scheme};

const KEYS: usize = 20_000;

fn key(i: usize) -> String {
    format!("user:{i}:profile")
}

fn ring_of(addrs: &[SocketAddr], scheme: Scheme) -> Ring {
    Ring::with_scheme(addrs.iter().map(|a| Node::new(a.to_string())), scheme).unwrap()
}

/// Sets every key through the proxy, pipelined in chunks.
fn fill(addr: SocketAddr) {
    let mut s = connect(addr);
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(500) {
        let mut req = Vec::new();
        for &i in chunk {
            req.extend_from_slice(format!("set {} 0 0 1 noreply\r\nx\r\n", key(i)).as_bytes());
        }
        req.extend_from_slice(b"mn\r\n");
        assert_eq!(roundtrip(&mut s, &req, b"MN\r\n"), b"MN\r\n");
    }
}

/// How many keys a multi-get through the proxy finds.
fn hits(addr: SocketAddr) -> usize {
    let mut s = connect(addr);
    let mut found = 0;
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(100) {
        let names: Vec<String> = chunk.iter().map(|&i| key(i)).collect();
        let reply = roundtrip(
            &mut s,
            format!("get {}\r\n", names.join(" ")).as_bytes(),
            b"END\r\n",
        );
        found += reply
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"VALUE "))
            .count();
    }
    found
}

fn placement(scheme: Scheme) {
    let mut h = Harness::nodes(6);
    let five = h.node_addrs[..5].to_vec();
    let mut client = ClientConfig::default();
    client.scheme = scheme;
    let mut config = h.proxy_config(client.clone());
    config.membership = ringcache_client::Membership::Static(
        five.iter().map(|a| Node::new(a.to_string())).collect(),
    );
    h.start_proxy(config);
    fill(h.proxy_addr());

    // Each node holds exactly the keys the ring gives it.
    let ring = ring_of(&five, scheme);
    let mut expected = vec![0u64; 5];
    for i in 0..KEYS {
        let owner = ring.lookup(key(i).as_bytes()).unwrap().name().to_owned();
        let n = five.iter().position(|a| a.to_string() == owner).unwrap();
        expected[n] += 1;
    }
    let actual: Vec<u64> = (0..5).map(|i| h.curr_items(i)).collect();
    assert_eq!(actual, expected, "curr_items per node vs Ring::lookup");
    // Balance: xxh3's 4096 points per node keep a share within ~2.5% of
    // the mean; ketama's 160 points give a spread of ~8% (1 sigma) that
    // depends on the node names, here ephemeral ports: 20% failed about one
    // run in twenty, so ketama gets 4 sigma. With 4,000 keys per node
    // sampling adds ~1.6% (1 sigma).
    let mean = KEYS as f64 / 5.0;
    let tolerance = if scheme == Scheme::Xxh3 { 0.10 } else { 0.35 };
    for (i, &n) in actual.iter().enumerate() {
        let off = (n as f64 - mean).abs() / mean;
        assert!(
            off < tolerance,
            "node {i} holds {n} keys, {:.1}% off the mean",
            off * 100.0
        );
    }
    assert_eq!(h.curr_items(5), 0, "the 6th node is not in the ring yet");
    assert_eq!(
        hits(h.proxy_addr()),
        KEYS,
        "every key reads back through the proxy"
    );

    // Restart the proxy with a 6th node: only the keys the ring moves to it miss.
    let mut config = h.proxy_config(client);
    config.membership = ringcache_client::Membership::Static(
        h.node_addrs
            .iter()
            .map(|a| Node::new(a.to_string()))
            .collect(),
    );
    h.start_proxy(config);
    let six = ring_of(&h.node_addrs, scheme);
    let moved = (0..KEYS)
        .filter(|&i| {
            six.lookup(key(i).as_bytes()).unwrap().name()
                != ring.lookup(key(i).as_bytes()).unwrap().name()
        })
        .count();
    let misses = KEYS - hits(h.proxy_addr());
    assert_eq!(misses, moved, "misses are exactly the keys the ring moved");
    let share = misses as f64 / KEYS as f64;
    eprintln!(
        "{scheme}: 6th node: {misses} of {KEYS} keys miss ({:.1}%)",
        share * 100.0
    );
    assert!(
        (0.12..0.22).contains(&share),
        "about 1/6 of the keys miss after adding a 6th node, got {:.1}%",
        share * 100.0
    );
}

#[test]
fn five_nodes_spread_as_the_ring_says_and_a_sixth_moves_a_sixth_xxh3() {
    placement(Scheme::Xxh3);
}

#[test]
fn five_nodes_spread_as_the_ring_says_and_a_sixth_moves_a_sixth_ketama() {
    placement(Scheme::Ketama);
}
