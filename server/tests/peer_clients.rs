//! Real memcached clients against a ringcache node: pymemcache (Python),
//! libmemcached's command-line tools and the Rust `memcache` crate. Each check
//! also runs against Debian's memcached, which proves the check itself right:
//! a check that fails there is wrong, not the node.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod common;
mod ports;

use common::{roundtrip, Kind, Server};
use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("run {:?}: {e} (run .ci/setup to install it)", cmd))
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------- pymemcache

fn pymemcache(kind: Kind) {
    let probe = run(Command::new("python3").args(["-c", "import pymemcache"]));
    assert!(
        probe.status.success(),
        "pymemcache is not importable: run .ci/setup\n{}",
        show(&probe)
    );
    let server = Server::start(kind, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/pymemcache_check.py");
    let out = run(Command::new("python3")
        .arg(&script)
        .arg("127.0.0.1")
        .arg(server.port.to_string()));
    assert!(
        out.status.success(),
        "pymemcache against {}: {}\n--- server log ---\n{}",
        kind.label(),
        show(&out),
        server.log()
    );
}

#[test]
fn pymemcache_against_ringcache() {
    pymemcache(Kind::Ringcache);
}

#[test]
fn pymemcache_against_memcached() {
    pymemcache(Kind::Memcached);
}

// ------------------------------------------------------- libmemcached-tools

/// One counter from `stats`, read over a plain socket.
fn stat(server: &Server, name: &str) -> u64 {
    let reply = roundtrip(server, b"stats\r\n", b"END\r\n");
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("STAT") && it.next() == Some(name))
                .then(|| it.next().and_then(|v| v.parse().ok()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("{}: no numeric STAT {name} in {text}", server.kind.label()))
}

fn libmemcached_tools(kind: Kind) {
    let server = Server::start(kind, &[]);
    let servers = format!("--servers=127.0.0.1:{}", server.port);
    let dir = std::env::temp_dir().join(format!(
        "ringcache-memccp-{}-{}",
        kind.label(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();

    // Files of several shapes: text, binary with CR/LF and NULs, empty, large.
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("plain.txt", b"hello from memccp\n".to_vec()),
        (
            "binary.bin",
            (0..20_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .chain(*b"\r\nEND\r\n\0")
                .collect(),
        ),
        ("empty.txt", Vec::new()),
        (
            "large.bin",
            (0..900_000u32).map(|i| (i % 251) as u8).collect(),
        ),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in &files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let out = run(Command::new("memccp").arg(&servers).args(&paths));
    assert!(
        out.status.success(),
        "memccp against {}: {}",
        kind.label(),
        show(&out)
    );

    for (name, bytes) in &files {
        let back = dir.join(format!("{name}.back"));
        let out = run(Command::new("memccat")
            .arg(&servers)
            .arg(format!("--file={}", back.display()))
            .arg(name));
        assert!(
            out.status.success(),
            "memccat {name} against {}: {}",
            kind.label(),
            show(&out)
        );
        let got = std::fs::read(&back).unwrap();
        assert!(
            &got == bytes,
            "memccat {name} against {}: {} bytes back for {} sent",
            kind.label(),
            got.len(),
            bytes.len()
        );
    }
    let out = run(Command::new("memccat").arg(&servers).arg("no-such-file"));
    assert!(
        !out.status.success(),
        "memccat of a missing key must fail against {}: {}",
        kind.label(),
        show(&out)
    );

    // The small tools: exist, touch, rm, flush, ping.
    let ok = |cmd: &mut Command, what: &str, want: bool| {
        let out = run(cmd);
        assert_eq!(
            out.status.success(),
            want,
            "{what} against {}: {}",
            kind.label(),
            show(&out)
        );
    };
    ok(
        Command::new("memcexist").arg(&servers).arg("plain.txt"),
        "memcexist of a key",
        true,
    );
    ok(
        Command::new("memcexist").arg(&servers).arg("no-such-file"),
        "memcexist of a miss",
        false,
    );
    ok(
        Command::new("memctouch")
            .arg(&servers)
            .arg("--expire=100")
            .arg("plain.txt"),
        "memctouch",
        true,
    );
    ok(
        Command::new("memcrm").arg(&servers).arg("plain.txt"),
        "memcrm of a key",
        true,
    );
    ok(
        Command::new("memcrm").arg(&servers).arg("plain.txt"),
        "memcrm of a miss",
        false,
    );
    ok(
        Command::new("memcexist").arg(&servers).arg("plain.txt"),
        "memcexist after memcrm",
        false,
    );
    ok(Command::new("memcping").arg(&servers), "memcping", true);

    let out = run(Command::new("memcstat").arg(&servers));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "memcstat against {}: {}",
        kind.label(),
        show(&out)
    );
    for field in [
        "pid:",
        "uptime:",
        "version:",
        "curr_items:",
        "limit_maxbytes:",
    ] {
        assert!(
            text.contains(field),
            "memcstat against {} lacks {field}: {}",
            kind.label(),
            show(&out)
        );
    }

    // memcslap exits 0 even when every request fails, so the node's own
    // counters prove that the load arrived.
    for test in ["set", "get", "mget", "set --noreply"] {
        let mut args: Vec<&str> = test.split(' ').collect();
        let test = args.remove(0);
        let (sets, gets) = (stat(&server, "cmd_set"), stat(&server, "cmd_get"));
        let out = run(Command::new("memcslap")
            .arg(&servers)
            .args([
                "--concurrency=2",
                "--execute-number=200",
                &format!("--test={test}"),
            ])
            .args(&args));
        let all = show(&out);
        assert!(
            out.status.success(),
            "memcslap --test={test} against {}: {all}",
            kind.label()
        );
        assert!(
            !all.contains("Fatal error") && !all.contains("FAILURE"),
            "memcslap --test={test} against {} reported errors: {all}",
            kind.label()
        );
        // noreply sets may still be in flight on memcslap's connections when
        // it exits: give the counters a bounded moment to catch up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while stat(&server, "cmd_set") < sets + 200 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (sets2, gets2) = (stat(&server, "cmd_set"), stat(&server, "cmd_get"));
        assert!(
            sets2 >= sets + 200,
            "memcslap --test={test}: cmd_set {sets} -> {sets2}"
        );
        if test != "set" {
            assert!(
                gets2 >= gets + 200,
                "memcslap --test={test}: cmd_get {gets} -> {gets2}"
            );
        }
    }
    let out = run(Command::new("memcflush").arg(&servers));
    assert!(
        out.status.success(),
        "memcflush against {}: {}",
        kind.label(),
        show(&out)
    );
    let out = run(Command::new("memccat").arg(&servers).arg("binary.bin"));
    assert!(
        !out.status.success(),
        "memccat after memcflush must miss against {}: {}",
        kind.label(),
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn libmemcached_tools_against_ringcache() {
    libmemcached_tools(Kind::Ringcache);
}

#[test]
fn libmemcached_tools_against_memcached() {
    libmemcached_tools(Kind::Memcached);
}

// ------------------------------------------------------ the `memcache` crate

fn memcache_crate(kind: Kind) {
    let server = Server::start(kind, &[]);
    // The crate speaks the binary protocol unless told otherwise; memcached's
    // text protocol is what the node serves.
    let url = format!(
        "memcache://127.0.0.1:{}?protocol=ascii&timeout=5&tcp_nodelay=true",
        server.port
    );
    let c = memcache::Client::connect(url.as_str())
        .unwrap_or_else(|e| panic!("connect to {}: {e}", kind.label()));
    let who = kind.label();

    let versions = c.version().unwrap();
    assert_eq!(versions.len(), 1, "{who}: one server, one version");
    assert!(!versions[0].1.is_empty(), "{who}: empty version");

    c.flush().unwrap();
    c.set("rs:a", "hello", 0).unwrap();
    assert_eq!(
        c.get::<String>("rs:a").unwrap().as_deref(),
        Some("hello"),
        "{who}: get"
    );
    assert_eq!(
        c.get::<String>("rs:missing").unwrap(),
        None,
        "{who}: get miss"
    );

    let blob: Vec<u8> = (0..=255u8)
        .cycle()
        .take(5000)
        .chain(*b"\r\nEND\r\n")
        .collect();
    c.set("rs:bin", blob.as_slice(), 0).unwrap();
    assert_eq!(
        c.get::<Vec<u8>>("rs:bin").unwrap(),
        Some(blob),
        "{who}: binary value"
    );

    c.add("rs:add", "1", 0).unwrap();
    c.add("rs:add", "2", 0).unwrap(); // NOT_STORED: the crate answers Ok(())
    assert_eq!(
        c.get::<String>("rs:add").unwrap().as_deref(),
        Some("1"),
        "{who}: add kept"
    );
    c.replace("rs:add", "3", 0).unwrap();
    c.replace("rs:none", "x", 0).unwrap();
    assert_eq!(
        c.get::<String>("rs:add").unwrap().as_deref(),
        Some("3"),
        "{who}: replace"
    );
    assert_eq!(
        c.get::<String>("rs:none").unwrap(),
        None,
        "{who}: replace of a miss"
    );

    c.set("rs:ap", "mid", 0).unwrap();
    c.append("rs:ap", "_end").unwrap();
    c.prepend("rs:ap", "start_").unwrap();
    assert_eq!(
        c.get::<String>("rs:ap").unwrap().as_deref(),
        Some("start_mid_end"),
        "{who}: append/prepend"
    );

    let (_, _, cas) = c
        .get::<(Vec<u8>, u32, Option<u64>)>("rs:ap")
        .unwrap()
        .expect("gets hit");
    let cas = cas.expect("gets returns a cas unique");
    assert!(
        c.cas("rs:ap", "swapped", 0, cas).unwrap(),
        "{who}: cas with the current unique"
    );
    assert!(
        !c.cas("rs:ap", "stale", 0, cas).unwrap(),
        "{who}: cas with a stale unique"
    );
    assert!(
        !c.cas("rs:casnone", "x", 0, 1).unwrap(),
        "{who}: cas on a miss"
    );
    assert_eq!(
        c.get::<String>("rs:ap").unwrap().as_deref(),
        Some("swapped"),
        "{who}: cas"
    );
    let many = c.gets::<String>(&["rs:a", "rs:ap", "rs:none"]).unwrap();
    assert_eq!(
        many.len(),
        2,
        "{who}: gets of three keys, two present: {many:?}"
    );

    assert!(c.delete("rs:a").unwrap(), "{who}: delete hit");
    assert!(!c.delete("rs:a").unwrap(), "{who}: delete miss");

    c.set("rs:n", 40, 0).unwrap();
    assert_eq!(c.increment("rs:n", 2).unwrap(), 42, "{who}: incr");
    assert_eq!(
        c.decrement("rs:n", 50).unwrap(),
        0,
        "{who}: decr stops at 0"
    );
    assert!(
        c.increment("rs:nnone", 1).is_err(),
        "{who}: incr of a miss is an error"
    );
    c.set("rs:n", "18446744073709551615", 0).unwrap();
    assert_eq!(c.increment("rs:n", 1).unwrap(), 0, "{who}: incr wraps");

    assert!(c.touch("rs:n", 100).unwrap(), "{who}: touch hit");
    assert!(!c.touch("rs:nnone", 100).unwrap(), "{who}: touch miss");

    let big = vec![b'q'; 1_100_000];
    assert!(
        c.set("rs:big", big.as_slice(), 0).is_err(),
        "{who}: over the item limit"
    );
    assert_eq!(
        c.get::<String>("rs:ap").unwrap().as_deref(),
        Some("swapped"),
        "{who}: still usable"
    );

    // memcache 0.21's text-protocol `stats` stops after the first STAT line
    // (its END test is inverted) and leaves the rest unread, so it only proves
    // the call succeeds, on a client of its own that is dropped afterwards.
    let s = memcache::Client::connect(url.as_str()).unwrap();
    let stats = s.stats().unwrap();
    assert_eq!(stats.len(), 1, "{who}: one server's stats");
    drop(s);

    c.flush().unwrap();
    assert_eq!(
        c.get::<String>("rs:ap").unwrap(),
        None,
        "{who}: flush emptied the cache"
    );
    c.flush_with_delay(0).unwrap();
}

#[test]
fn memcache_crate_against_ringcache() {
    memcache_crate(Kind::Ringcache);
}

#[test]
fn memcache_crate_against_memcached() {
    memcache_crate(Kind::Memcached);
}
