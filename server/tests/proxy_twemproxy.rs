//! Taking over a twemproxy pool without a cold cache: Debian's `nutcracker`
//! (ketama, md5) and `ringcache proxy --ring ketama` over the same two
//! memcached processes place every key on the same server, so keys written
//! through one are read back through the other.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::net::SocketAddr;

use proxy_support::{connect, free_port, memcached, roundtrip, spawn_server, Child, Harness};
use ringcache_client::{Config as ClientConfig, Membership, Node, Scheme};

const KEYS: usize = 2_000;

fn nutcracker(servers: &[SocketAddr]) -> Child {
    let dir = std::env::temp_dir().join(format!("ringcache-nutcracker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let servers = servers
        .iter()
        .map(|s| format!("    - {s}:1\n"))
        .collect::<String>();
    spawn_server("nutcracker", move |port| {
        let conf = dir.join(format!("pool-{port}.yml"));
        std::fs::write(
            &conf,
            format!(
                "pool:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  distribution: ketama\n  \
                 timeout: 1000\n  auto_eject_hosts: false\n  servers:\n{servers}"
            ),
        )
        .unwrap();
        let stats_port = free_port().to_string();
        let log = dir
            .join(format!("nutcracker-{port}.log"))
            .display()
            .to_string();
        let pid = dir
            .join(format!("nutcracker-{port}.pid"))
            .display()
            .to_string();
        [
            "-c",
            &conf.display().to_string(),
            "-s",
            &stats_port,
            "-a",
            "127.0.0.1",
        ]
        .iter()
        .chain(["-o", log.as_str(), "-p", pid.as_str()].iter())
        .map(ToString::to_string)
        .collect()
    })
}

fn count_hits(addr: SocketAddr, prefix: &str) -> usize {
    let mut s = connect(addr);
    let mut hits = 0;
    for i in 0..KEYS {
        let reply = roundtrip(
            &mut s,
            format!("get {prefix}{i}\r\n").as_bytes(),
            b"END\r\n",
        );
        hits += usize::from(reply.starts_with(b"VALUE "));
    }
    hits
}

fn fill(addr: SocketAddr, prefix: &str) {
    let mut s = connect(addr);
    for i in 0..KEYS {
        let reply = roundtrip(
            &mut s,
            format!("set {prefix}{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
}

#[test]
fn ketama_placement_matches_nutcracker() {
    let a = memcached();
    let b = memcached();
    let servers = [a.addr, b.addr];
    let twem = nutcracker(&servers);
    let mut h = Harness::nodes(0);
    let mut client = ClientConfig::default();
    client.scheme = Scheme::Ketama;
    let config = h.proxy_config(client).membership(Membership::Static(
        servers.iter().map(|s| Node::new(s.to_string())).collect(),
    ));
    h.start_proxy(config);

    fill(twem.addr, "tw:");
    fill(h.proxy_addr(), "rc:");
    // Both servers got keys, and each side reads every key the other wrote.
    for server in servers {
        let mut s = connect(server);
        let stats = String::from_utf8(roundtrip(&mut s, b"stats\r\n", b"END\r\n")).unwrap();
        assert!(
            !stats.contains("STAT curr_items 0\r\n"),
            "{server} holds keys"
        );
    }
    assert_eq!(
        count_hits(h.proxy_addr(), "tw:"),
        KEYS,
        "ringcache reads twemproxy's keys"
    );
    assert_eq!(
        count_hits(twem.addr, "rc:"),
        KEYS,
        "twemproxy reads ringcache's keys"
    );
}
