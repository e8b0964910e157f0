//! `NodeHandle::metadump` against an in-process ringcache node and against
//! Debian's memcached: the keys set come back (raw, whatever they need on
//! the wire), with the metadata a drain sorts and filters on.

#![allow(clippy::unwrap_used)]

mod live;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use live::{direct, InProcNode, Memcached, DEADLINE};
use ringcache_client::{DumpEntry, Error, NodeHandle};
use ringcache_protocol::{Admin, Get, Request, Response, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Keys that need URL-encoding in a dump, and one that does not.
const UNTOUCHED: &[u8] = b"untouched";
const READ: &[u8] = b"read%me/?";
const WITH_TTL: &[u8] = "ttl:é+x".as_bytes();

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn set(node: &NodeHandle, key: &[u8], exptime: i64) {
    let reply = node
        .call(Request::Set(Store {
            key: Bytes::copy_from_slice(key),
            flags: 0,
            exptime,
            value: Bytes::from_static(b"value"),
            noreply: false,
        }))
        .await
        .unwrap();
    assert_eq!(reply, Response::Stored);
}

fn by_key(entries: Vec<DumpEntry>) -> HashMap<Bytes, DumpEntry> {
    entries.into_iter().map(|e| (e.key.clone(), e)).collect()
}

async fn dump_lists_what_was_set(name: &str) {
    let client = direct(name).await;
    let node = client.node_handles().pop().unwrap();
    set(&node, UNTOUCHED, 0).await;
    set(&node, READ, 0).await;
    set(&node, WITH_TTL, 300).await;
    let hit = node
        .call(Request::Get(Get {
            keys: vec![Bytes::from_static(READ)],
        }))
        .await
        .unwrap();
    assert!(matches!(hit, Response::Values(ref v) if v.len() == 1));

    let dump = by_key(node.metadump().await.unwrap());
    let mut keys: Vec<&[u8]> = dump.keys().map(|k| &k[..]).collect();
    keys.sort();
    assert_eq!(keys, [READ, WITH_TTL, UNTOUCHED], "{name}");
    let (untouched, read, ttl) = (&dump[UNTOUCHED], &dump[READ], &dump[WITH_TTL]);
    assert!(
        read.fetched && !untouched.fetched && !ttl.fetched,
        "{dump:?}"
    );
    assert!(read.last_access >= untouched.last_access, "{dump:?}");
    assert!(untouched.last_access.abs_diff(now()) <= 5, "{dump:?}");
    assert_eq!((untouched.exptime, read.exptime), (None, None));
    let expires = ttl.exptime.unwrap();
    assert!(expires.abs_diff(now() + 300) <= 5, "{expires}");
    assert!(untouched.cas != read.cas && read.cas != ttl.cas);
    assert!(dump.values().all(|e| e.size > 0 && e.class > 0));

    // The bound refuses, and closes only the dump's own connection.
    let refused = node.metadump_with_limit(2).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Client(m) if m.contains("more than 2 items")),
        "{refused:?}"
    );
    assert_eq!(node.metadump().await.unwrap().len(), 3);
    assert!(matches!(
        node.call(Request::Version).await.unwrap(),
        Response::Version(_)
    ));
}

#[tokio::test]
async fn ringcache_node_lists_its_items() {
    let node = InProcNode::start().await;
    dump_lists_what_was_set(&node.name()).await;
}

#[tokio::test]
async fn memcached_lists_its_items() {
    let memcached = Memcached::start().await;
    dump_lists_what_was_set(&memcached.name()).await;
}

/// Many items arrive over many reads; each one comes back once.
#[tokio::test]
async fn a_large_dump_streams() {
    const ITEMS: usize = 20_000;
    let node = InProcNode::start().await;
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    let mut sets = Vec::new();
    for i in 0..ITEMS {
        sets.extend_from_slice(format!("set key:{i:06} 0 0 1 noreply\r\nx\r\n").as_bytes());
    }
    sets.extend_from_slice(b"mn\r\n");
    stream.write_all(&sets).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while !reply.ends_with(b"MN\r\n") {
            assert_ne!(stream.read_buf(&mut reply).await.unwrap(), 0);
        }
    })
    .await
    .unwrap();

    let client = direct(&node.name()).await;
    let handle = client.node_handles().pop().unwrap();
    let dump = by_key(handle.metadump().await.unwrap());
    assert_eq!(dump.len(), ITEMS);
    assert!(dump.contains_key(&b"key:000000"[..]) && dump.contains_key(&b"key:019999"[..]));
}

/// A refusal is the server's answer, as an error that says so.
#[tokio::test]
async fn a_disabled_crawler_refuses() {
    let node = InProcNode::start().await;
    let client = direct(&node.name()).await;
    let handle = client.node_handles().pop().unwrap();
    let switch = |on: &'static [u8]| {
        Request::Admin(Admin {
            command: Bytes::from_static(b"lru_crawler"),
            args: vec![Bytes::from_static(on)],
        })
    };
    assert_eq!(handle.call(switch(b"disable")).await.unwrap(), Response::Ok);
    let refused = handle.metadump().await.unwrap_err();
    assert!(
        matches!(&refused, Error::Client(m) if m == "lru crawler disabled"),
        "{refused:?}"
    );
    assert_eq!(handle.call(switch(b"enable")).await.unwrap(), Response::Ok);
    assert_eq!(handle.metadump().await.unwrap(), vec![]);
}
