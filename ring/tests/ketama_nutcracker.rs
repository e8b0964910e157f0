//! `Scheme::Ketama` against the real thing: Debian's `nutcracker` (twemproxy
//! 0.5) with `distribution: ketama` and `hash: md5`, in front of five Debian
//! `memcached` processes with unequal weights (so libmemcached's rounding of
//! weighted point counts matters) and one server that has a twemproxy name
//! (so the named-server rule is exercised too).
//!
//! Keys are written through nutcracker, then each memcached is asked directly
//! which keys it holds; every key must sit on the node `Ring::lookup` names.
//! Everything listens on 127.0.0.1 ports the OS hands out; children are
//! killed on drop, also when an assertion fails.

// Tests may unwrap: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringcache_ring::{Node, Ring, Scheme};

const KEYS: usize = 12_000;
const BATCH: usize = 400;
const READY_DEADLINE: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `(weight, twemproxy name)` of each memcached; `None`: unnamed, so
/// twemproxy hashes `127.0.0.1:PORT`.
const SERVERS: [(u32, Option<&str>); 5] = [
    (1, None),
    (2, None),
    (3, None),
    (5, None),
    (2, Some("cache-e")),
];

/// Child processes and a scratch directory, cleaned up on drop.
struct Cluster {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary(name: &str, candidates: &[&str]) -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(from_path)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found: run `.ci/setup` (installs Debian's memcached and nutcracker)"
            )
        })
}

/// A port that was free a moment ago. Another process may take it before
/// we use it, so callers retry on failure.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Polls `port` every 20 ms until it accepts, the child exits, or the
/// deadline passes. Returns whether it accepted.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_DEADLINE;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Starts `make(port)` on free ports until one comes up (port races are
/// retried); the child joins `cluster`.
fn start(cluster: &mut Cluster, what: &str, mut make: impl FnMut(u16) -> Command) -> u16 {
    for _ in 0..5 {
        let port = free_port();
        let mut child = make(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        let ready = wait_ready(&mut child, port);
        cluster.children.push(child);
        if ready {
            return port;
        }
    }
    panic!("{what} did not accept connections within {READY_DEADLINE:?}, 5 tries");
}

fn connect(port: u16) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.ends_with("\r\n"), "short reply line {line:?}");
    line.truncate(line.len() - 2);
    line
}

fn key(i: usize) -> String {
    format!("ketama:{i}:{:x}", i.wrapping_mul(0x9e37_79b9))
}

/// Sets every key through nutcracker, pipelined in batches.
fn write_through(port: u16, keys: &[String]) {
    let (mut reader, mut writer) = connect(port);
    for batch in keys.chunks(BATCH) {
        let mut out = Vec::new();
        for k in batch {
            write!(out, "set {k} 0 0 {}\r\n{k}\r\n", k.len()).unwrap();
        }
        writer.write_all(&out).unwrap();
        for k in batch {
            let reply = read_line(&mut reader);
            assert_eq!(reply, "STORED", "set {k} through nutcracker");
        }
    }
}

/// Which of `keys` this memcached holds (multi-get in batches).
fn held_by(port: u16, keys: &[String]) -> Vec<String> {
    let (mut reader, mut writer) = connect(port);
    let mut held = Vec::new();
    for batch in keys.chunks(BATCH) {
        writer
            .write_all(format!("get {}\r\n", batch.join(" ")).as_bytes())
            .unwrap();
        loop {
            let line = read_line(&mut reader);
            if line == "END" {
                break;
            }
            // VALUE <key> <flags> <bytes>
            let parts: Vec<&str> = line.split(' ').collect();
            assert!(parts.len() == 4 && parts[0] == "VALUE", "reply {line:?}");
            let len: usize = parts[3].parse().unwrap();
            let mut data = vec![0u8; len + 2];
            reader.read_exact(&mut data).unwrap();
            assert_eq!(&data[..len], parts[1].as_bytes(), "value of {}", parts[1]);
            held.push(parts[1].to_owned());
        }
    }
    held
}

fn write_config(dir: &Path, listen: u16, servers: &[(u16, u32, Option<&str>)]) -> PathBuf {
    let mut yaml = format!(
        "ringcache:\n  listen: 127.0.0.1:{listen}\n  hash: md5\n  distribution: ketama\n  \
         auto_eject_hosts: false\n  timeout: 5000\n  servers:\n"
    );
    for (port, weight, name) in servers {
        match name {
            Some(name) => yaml.push_str(&format!("   - 127.0.0.1:{port}:{weight} {name}\n")),
            None => yaml.push_str(&format!("   - 127.0.0.1:{port}:{weight}\n")),
        }
    }
    let path = dir.join(format!("nutcracker-{listen}.yml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn ketama_agrees_with_nutcracker_on_every_key() {
    let memcached = binary("memcached", &["/usr/bin/memcached"]);
    let nutcracker = binary("nutcracker", &["/usr/sbin/nutcracker"]);
    let dir = std::env::temp_dir().join(format!("ringcache-ketama-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cluster = Cluster {
        children: Vec::new(),
        dir: dir.clone(),
    };

    let mut servers = Vec::new();
    for (weight, name) in SERVERS {
        let port = start(&mut cluster, "memcached", |port| {
            let mut cmd = Command::new(&memcached);
            // -u root: memcached refuses to run as root without -u; ignored otherwise.
            cmd.args(["-l", "127.0.0.1", "-U", "0", "-m", "64", "-u", "root", "-p"])
                .arg(port.to_string());
            cmd
        });
        servers.push((port, weight, name));
    }

    let proxy = start(&mut cluster, "nutcracker", |port| {
        let config = write_config(&dir, port, &servers);
        let mut cmd = Command::new(&nutcracker);
        cmd.arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-s"])
            .arg(free_port().to_string())
            .arg("-o")
            .arg(dir.join(format!("nutcracker-{port}.log")))
            .arg("-p")
            .arg(dir.join(format!("nutcracker-{port}.pid")));
        cmd
    });

    // The ring: unnamed servers are `127.0.0.1:PORT` (twemproxy hashes
    // exactly that, the port not being 11211); the named one is its name.
    let node_name = |&(port, _, name): &(u16, u32, Option<&str>)| {
        name.map_or_else(|| format!("127.0.0.1:{port}"), str::to_owned)
    };
    let ring = Ring::with_scheme(
        servers.iter().map(|s| Node::weighted(node_name(s), s.1)),
        Scheme::Ketama,
    )
    .unwrap();

    let keys: Vec<String> = (0..KEYS).map(key).collect();
    write_through(proxy, &keys);

    let mut location: HashMap<String, String> = HashMap::new();
    for server in &servers {
        for k in held_by(server.0, &keys) {
            let previous = location.insert(k.clone(), node_name(server));
            assert!(previous.is_none(), "{k} on two servers");
        }
    }
    assert_eq!(location.len(), KEYS, "every key written is on some server");

    let mut agree = 0;
    let mut disagree = Vec::new();
    for k in &keys {
        let expected = ring.lookup(k.as_bytes()).unwrap().name();
        if location[k] == expected {
            agree += 1;
        } else {
            disagree.push((k, &location[k], expected));
        }
    }
    let mut per_node: Vec<(String, usize)> = servers
        .iter()
        .map(|s| {
            (
                node_name(s),
                location.values().filter(|&v| *v == node_name(s)).count(),
            )
        })
        .collect();
    per_node.sort();
    println!("nutcracker/ketama agreement: {agree}/{KEYS} keys; keys per server {per_node:?}");
    assert!(
        disagree.is_empty(),
        "{} keys disagree, first: {:?}",
        disagree.len(),
        &disagree[..disagree.len().min(5)]
    );
}
