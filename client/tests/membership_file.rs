//! Membership from a nodes file, live: editing the file adds and removes
//! nodes, keys move only to an added node and only from a removed one, and
//! a broken file keeps the ring as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod live;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use live::{wait_for, InProcNode};
use ringcache_client::{Client, Membership, Node};

const POLL: Duration = Duration::from_millis(20);
const TTL: Duration = Duration::from_secs(300);

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ringcache-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Replaces the file atomically, as the docs ask of operators.
fn write_nodes(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn owners(client: &Client, keys: &[String]) -> HashMap<String, String> {
    keys.iter()
        .map(|k| (k.clone(), client.node_for(k).unwrap()))
        .collect()
}

async fn wait_for_nodes(client: &Client, want: &[&str]) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    wait_for(|| async {
        let names: Vec<String> = client.nodes().iter().map(|n| n.name().to_owned()).collect();
        (names == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_file_adds_and_removes_nodes() {
    let nodes = [
        InProcNode::start().await,
        InProcNode::start().await,
        InProcNode::start().await,
    ];
    let [a, b, c] = [nodes[0].name(), nodes[1].name(), nodes[2].name()];
    let dir = TempDir::new("nodes-file");
    let path = dir.0.join("nodes");
    write_nodes(&path, &format!("# two nodes to start\n{a}\n{b}\n"));
    let client = Client::builder()
        .request_timeout(Duration::from_secs(2))
        .nodes_file(&path)
        .interval(POLL)
        .build()
        .await
        .unwrap();
    wait_for_nodes(&client, &[&a, &b]).await;
    let keys: Vec<String> = (0..2000).map(|i| format!("member:{i}")).collect();
    let before = owners(&client, &keys);

    // Add c: keys move only to c, about a third of them.
    write_nodes(&path, &format!("{a}\n{b}\n{c}   # new\n"));
    wait_for_nodes(&client, &[&a, &b, &c]).await;
    let added = owners(&client, &keys);
    let moved: Vec<&String> = keys.iter().filter(|k| before[*k] != added[*k]).collect();
    assert!(
        moved.iter().all(|k| added[*k] == c),
        "keys moved only to the new node"
    );
    let share = moved.len() as f64 / keys.len() as f64;
    assert!((0.2..0.45).contains(&share), "moved share {share}");
    // The new node serves: every key round-trips through the client.
    for k in keys.iter().take(200) {
        client.set(k, k.clone(), TTL).await.unwrap();
        assert_eq!(
            &client.get(k).await.unwrap().unwrap().value[..],
            k.as_bytes()
        );
    }

    // Remove b: only b's keys move, nobody else's.
    write_nodes(&path, &format!("{a}\n{c}\n"));
    wait_for_nodes(&client, &[&a, &c]).await;
    let removed = owners(&client, &keys);
    for k in &keys {
        if added[k] == b {
            assert_ne!(removed[k], b);
        } else {
            assert_eq!(removed[k], added[k], "{k} moved though its node stayed");
        }
    }
}

#[tokio::test]
async fn a_broken_or_empty_file_keeps_the_ring() {
    let nodes = [InProcNode::start().await, InProcNode::start().await];
    let [a, b] = [nodes[0].name(), nodes[1].name()];
    let dir = TempDir::new("nodes-broken");
    let path = dir.0.join("nodes");
    write_nodes(&path, &format!("{a}\n{b}\n"));
    let client = Client::builder()
        .nodes([a.clone(), b.clone()])
        .build()
        .await
        .unwrap();
    let digest = client.ring_digest();
    let watcher = client
        .watch_membership(Membership::file(&path).with_interval(POLL))
        .unwrap();
    for text in [
        format!("{a}\n{b}:notaport\n"),
        String::new(),
        "# all gone\n".into(),
    ] {
        write_nodes(&path, &text);
        // Two polls guarantee one that read the new text.
        let target = watcher.polls() + 2;
        wait_for(|| async { (watcher.polls() >= target).then_some(()) }).await;
        assert_eq!(client.ring_digest(), digest, "after {text:?}");
    }
    // A missing file too.
    std::fs::remove_file(&path).unwrap();
    let target = watcher.polls() + 2;
    wait_for(|| async { (watcher.polls() >= target).then_some(()) }).await;
    assert_eq!(client.ring_digest(), digest);
    // Fixed again: the change applies.
    write_nodes(&path, &format!("{a} 2\n{b}\n"));
    wait_for(|| async {
        client
            .nodes()
            .contains(&Node::weighted(a.clone(), 2))
            .then_some(())
    })
    .await;
    assert!(!watcher.is_finished());
}

#[tokio::test]
async fn the_watcher_stops_with_its_client() {
    let node = InProcNode::start().await;
    let dir = TempDir::new("nodes-drop");
    let path = dir.0.join("nodes");
    write_nodes(&path, &format!("{}\n", node.name()));
    let client = Client::builder()
        .nodes([node.name()])
        .build()
        .await
        .unwrap();
    let watcher = client
        .watch_membership(Membership::file(&path).with_interval(POLL))
        .unwrap();
    drop(client);
    wait_for(|| async { watcher.is_finished().then_some(()) }).await;
}

#[tokio::test]
async fn a_bad_file_at_start_fails_the_build() {
    let dir = TempDir::new("nodes-start");
    let path = dir.0.join("nodes");
    let missing = Client::builder().nodes_file(&path).build().await;
    assert!(missing.is_err());
    write_nodes(&path, "not-an-address\n");
    let err = Client::builder()
        .nodes_file(&path)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}
