//! Shared harness of the proxy tests: in-process nodes and a proxy on
//! `127.0.0.1:0`, run on a runtime of their own so tests can drive them
//! with blocking clients (raw sockets, the `memcache` crate, pymemcache,
//! libmemcached's tools). Servers are stopped through their shutdown
//! futures; waits are on conditions with deadlines, never sleeps.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringcache_client::Config as ClientConfig;
use ringcache_server::proxy::{Proxy, ProxyConfig};
use ringcache_server::{serve_with, Node, NodeConfig};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// One in-process server: its address, stop switch and task.
pub struct Served<E> {
    pub addr: SocketAddr,
    pub exec: E,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Nodes and (optionally) a proxy on a runtime of their own.
pub struct Harness {
    pub rt: Runtime,
    pub nodes: Vec<Option<Served<Node>>>,
    /// Ports the nodes were first given (a restarted node reuses its port).
    pub node_addrs: Vec<SocketAddr>,
    pub proxy: Option<Served<Proxy>>,
}

/// A client configuration for tests: quick to give up on a dead node and
/// quick to probe it back.
pub fn fast_client() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.connect_timeout = Duration::from_millis(300);
    c.request_timeout = Duration::from_millis(500);
    c.reconnect_backoff = Duration::from_millis(20);
    c.reconnect_max_backoff = Duration::from_millis(200);
    c.probe_interval = Duration::from_millis(50);
    c.probe_max_interval = Duration::from_millis(200);
    c
}

impl Harness {
    /// `n` nodes, no proxy yet.
    pub fn nodes(n: usize) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut h = Harness {
            rt,
            nodes: Vec::new(),
            node_addrs: Vec::new(),
            proxy: None,
        };
        for _ in 0..n {
            let served = h.rt.block_on(start_node("127.0.0.1:0".parse().unwrap()));
            h.node_addrs.push(served.addr);
            h.nodes.push(Some(served));
        }
        h
    }

    /// `n` nodes and a proxy over them with `client` settings.
    pub fn with_proxy(n: usize, client: ClientConfig) -> Harness {
        let mut h = Harness::nodes(n);
        let config = h.proxy_config(client);
        h.start_proxy(config);
        h
    }

    /// A proxy configuration naming every node of the harness.
    pub fn proxy_config(&self, client: ClientConfig) -> ProxyConfig {
        let mut config = ProxyConfig::with_nodes(self.node_addrs.iter().map(ToString::to_string));
        config.client = client;
        config
    }

    /// Starts (or replaces) the proxy.
    pub fn start_proxy(&mut self, config: ProxyConfig) {
        self.stop_proxy();
        let served = self.rt.block_on(async {
            let proxy = Proxy::start(config).await.unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serve_config = proxy.serve_config();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_with(listener, proxy.clone(), serve_config, async {
                let _ = stopped.await;
            }));
            Served {
                addr,
                exec: proxy,
                stop: Some(stop),
                task: Some(task),
            }
        });
        self.proxy = Some(served);
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy.as_ref().unwrap().addr
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy.as_ref().unwrap().exec
    }

    pub fn stop_proxy(&mut self) {
        if let Some(p) = self.proxy.take() {
            self.rt.block_on(stop(p));
        }
    }

    /// Stops node `i` (its listener closes, its connections end).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            self.rt.block_on(stop(n));
        }
    }

    /// Starts node `i` again, empty, on its old port.
    pub fn restart_node(&mut self, i: usize) {
        self.kill_node(i);
        let served = self.rt.block_on(start_node(self.node_addrs[i]));
        self.nodes[i] = Some(served);
    }

    /// `curr_items` of node `i`, read through its executor's `stats`.
    pub fn curr_items(&self, i: usize) -> u64 {
        stat(self.node_addrs[i], "curr_items")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop_proxy();
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }
}

async fn start_node(addr: SocketAddr) -> Served<Node> {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let node = Node::new(NodeConfig {
        port: addr.port(),
        ..NodeConfig::default()
    });
    let serve_config = node.serve_config();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(listener, node.clone(), serve_config, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        exec: node,
        stop: Some(stop),
        task: Some(task),
    }
}

async fn stop<E>(mut served: Served<E>) {
    if let Some(s) = served.stop.take() {
        let _ = s.send(());
    }
    if let Some(task) = served.task.take() {
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("server stops within the deadline")
            .unwrap();
    }
}

/// A blocking connection with the test deadline as its read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `request` and reads until the reply ends with `suffix`.
pub fn roundtrip(stream: &mut TcpStream, request: &[u8], suffix: &[u8]) -> Vec<u8> {
    stream.write_all(request).unwrap();
    read_until(stream, suffix)
}

/// Reads until what has arrived ends with `suffix`.
pub fn read_until(stream: &mut TcpStream, suffix: &[u8]) -> Vec<u8> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while !got.ends_with(suffix) {
        assert!(
            start.elapsed() < DEADLINE,
            "no {:?} within the deadline; got {:?}",
            String::from_utf8_lossy(suffix),
            String::from_utf8_lossy(&got)
        );
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "peer closed; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Reads exactly `len` bytes.
pub fn read_len(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    stream.read_exact(&mut got).unwrap();
    got
}

/// One `STAT` value of the server at `addr`.
pub fn stat(addr: SocketAddr, name: &str) -> u64 {
    let mut s = connect(addr);
    let reply = roundtrip(&mut s, b"stats\r\n", b"END\r\n");
    let text = String::from_utf8_lossy(&reply);
    let prefix = format!("STAT {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `cond` holds, failing after `deadline`.
pub fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child process (memcached, nutcracker), killed and reaped on drop.
pub struct Child {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use crate::ports::free_port;

/// Starts `program` with the arguments `args(port)` on a free port and
/// waits until it accepts; retries on another port if it exits first.
pub fn spawn_server(program: &str, args: impl Fn(u16) -> Vec<String>) -> Child {
    for _ in 0..5 {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = std::process::Command::new(program)
            .args(args(port))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e} (run .ci/setup)"));
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if TcpStream::connect(addr).is_ok() {
                return Child { addr, child };
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("{program} did not accept on {addr}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("{program} did not start after 5 attempts");
}

/// Debian's memcached on a free loopback port.
pub fn memcached() -> Child {
    spawn_server("memcached", |port| {
        [
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-m",
            "64",
            "-t",
            "1",
            "-u",
            "root",
            "-p",
        ]
        .iter()
        .map(ToString::to_string)
        .chain([port.to_string()])
        .collect()
    })
}
