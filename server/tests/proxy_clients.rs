//! Real memcached clients pointed at the proxy (3 in-process nodes behind
//! it): pymemcache (the node's functional checks, with the proxy's `stats`
//! and without `cache_memlimit`), libmemcached's `memccp`/`memccat`/
//! `memcflush`, and the Rust `memcache` crate. The pymemcache script in
//! node mode also runs against one plain node here, which proves the copy
//! of the checks right.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use proxy_support::Harness;
use ringcache_client::Config as ClientConfig;

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e} (run .ci/setup to install it)"))
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn pymemcache(addr: SocketAddr, proxy: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/pymemcache_check.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string());
    if proxy {
        cmd.arg("--proxy");
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "pymemcache: {}", show(&out));
}

#[test]
fn pymemcache_through_the_proxy() {
    let h = Harness::with_proxy(3, ClientConfig::default());
    pymemcache(h.proxy_addr(), true);
}

#[test]
fn pymemcache_checks_hold_against_a_plain_node() {
    let h = Harness::nodes(1);
    pymemcache(h.node_addrs[0], false);
}

#[test]
fn libmemcached_tools_through_the_proxy() {
    let h = Harness::with_proxy(3, ClientConfig::default());
    let servers = format!("--servers={}", h.proxy_addr());
    let dir = std::env::temp_dir().join(format!("ringcache-proxy-memccp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            let bytes: Vec<u8> = (0..(i * 7919) as u32)
                .map(|b| (b.wrapping_mul(2_654_435_761) >> 13) as u8)
                .chain(*b"\r\nEND\r\n\0")
                .collect();
            (format!("file{i}.bin"), bytes)
        })
        .chain([(
            "large.bin".to_owned(),
            (0..900_000u32).map(|i| (i % 251) as u8).collect(),
        )])
        .collect();
    let mut paths = Vec::new();
    for (name, bytes) in &files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let out = run(Command::new("memccp").arg(&servers).args(&paths));
    assert!(out.status.success(), "memccp: {}", show(&out));
    // The files spread over the nodes.
    let holding = (0..3).filter(|&i| h.curr_items(i) > 0).count();
    assert!(holding >= 2, "files on {holding} nodes");
    for (name, bytes) in &files {
        let back = dir.join(format!("{name}.back"));
        let out = run(Command::new("memccat")
            .arg(&servers)
            .arg(format!("--file={}", back.display()))
            .arg(name));
        assert!(out.status.success(), "memccat {name}: {}", show(&out));
        assert!(
            std::fs::read(&back).unwrap() == *bytes,
            "memccat {name} differs"
        );
    }
    let out = run(Command::new("memccat").arg(&servers).arg("no-such-file"));
    assert!(!out.status.success(), "memccat of a missing key fails");
    let out = run(Command::new("memcflush").arg(&servers));
    assert!(out.status.success(), "memcflush: {}", show(&out));
    let out = run(Command::new("memccat").arg(&servers).arg("file3.bin"));
    assert!(!out.status.success(), "flushed through the proxy");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn memcache_crate_through_the_proxy() {
    let h = Harness::with_proxy(3, ClientConfig::default());
    let url = format!(
        "memcache://{}?protocol=ascii&timeout=5&tcp_nodelay=true",
        h.proxy_addr()
    );
    let c = memcache::Client::connect(url.as_str()).unwrap();
    assert_eq!(c.version().unwrap()[0].1, "1.6.18");
    c.flush().unwrap();
    for i in 0..50 {
        c.set(&format!("rs:{i}"), format!("v{i}").as_str(), 0)
            .unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            c.get::<String>(&format!("rs:{i}")).unwrap(),
            Some(format!("v{i}"))
        );
    }
    let keys: Vec<String> = (0..50).map(|i| format!("rs:{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let many = c.gets::<String>(&refs).unwrap();
    assert_eq!(many.len(), 50, "multi-get across the nodes");
    assert_eq!(many["rs:7"], "v7");
    c.add("rs:add", "1", 0).unwrap();
    c.replace("rs:add", "2", 0).unwrap();
    c.append("rs:add", "3").unwrap();
    c.prepend("rs:add", "0").unwrap();
    assert_eq!(c.get::<String>("rs:add").unwrap().as_deref(), Some("023"));
    let (_, _, cas) = c
        .get::<(Vec<u8>, u32, Option<u64>)>("rs:add")
        .unwrap()
        .unwrap();
    assert!(c.cas("rs:add", "swapped", 0, cas.unwrap()).unwrap());
    assert!(!c.cas("rs:add", "stale", 0, cas.unwrap()).unwrap());
    assert!(c.delete("rs:add").unwrap());
    assert!(!c.delete("rs:add").unwrap());
    c.set("rs:n", 40, 0).unwrap();
    assert_eq!(c.increment("rs:n", 2).unwrap(), 42);
    assert_eq!(c.decrement("rs:n", 50).unwrap(), 0);
    assert!(c.increment("rs:nnone", 1).is_err());
    assert!(c.touch("rs:n", 100).unwrap());
    assert!(!c.touch("rs:nnone", 100).unwrap());
    assert!(c
        .set("rs:big", vec![b'q'; 1_100_000].as_slice(), 0)
        .is_err());
    assert_eq!(c.get::<String>("rs:1").unwrap().as_deref(), Some("v1"));
    c.flush().unwrap();
    assert_eq!(c.get::<String>("rs:1").unwrap(), None);
}
