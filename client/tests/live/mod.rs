//! Live servers for the client's tests: in-process ringcache nodes and
//! Debian `memcached` processes, on ephemeral loopback ports. No fixed
//! ports, no sleeps: every wait is on a condition, with a deadline.

// Test helpers: a panic is a failed assertion.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ringcache_client::{Client, ClientBuilder, NodeState};
use ringcache_server::{serve_with, Node, NodeConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const DEADLINE: Duration = Duration::from_secs(15);

/// A ringcache node served in this process.
pub struct InProcNode {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl InProcNode {
    pub async fn start() -> InProcNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Starts a node on `addr` again (after [`stop`](Self::stop)).
    pub async fn start_on(addr: SocketAddr) -> InProcNode {
        let listener = wait_for(|| async { TcpListener::bind(addr).await.ok() }).await;
        Self::serve(listener)
    }

    fn serve(listener: TcpListener) -> InProcNode {
        let addr = listener.local_addr().unwrap();
        let node = Node::new(NodeConfig::default());
        let config = node.serve_config();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, node, config, async {
            let _ = stopped.await;
        }));
        InProcNode {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn name(&self) -> String {
        self.addr.to_string()
    }

    /// Shuts the node down and waits until `serve` has returned (listener
    /// closed, connections ended).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(DEADLINE, task)
                .await
                .expect("serve returns after shutdown")
                .unwrap();
        }
    }
}

impl Drop for InProcNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A Debian `memcached` process, killed on drop.
pub struct Memcached {
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Memcached {
    pub async fn start() -> Memcached {
        // Ask the kernel for a free port, then hand it to memcached. The
        // kernel may offer a port again once the probe is dropped, so ports
        // already given to a test in this process are skipped: two tests
        // running in parallel must not start two memcached on one port.
        static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
        let port = loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
            if !given.contains(&port) {
                given.push(port);
                break port;
            }
        };
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await
    }

    pub async fn start_on(addr: SocketAddr) -> Memcached {
        let child = Command::new("/usr/bin/memcached")
            .args(["-U", "0", "-l", "127.0.0.1", "-u", "nobody", "-m", "16"])
            .args(["-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached is installed (Debian package memcached)");
        let mut m = Memcached {
            addr,
            child: Some(child),
        };
        wait_for(|| async { TcpStream::connect(addr).await.ok() }).await;
        // Still ours (not some other process on that port)?
        assert!(m.child.as_mut().unwrap().try_wait().unwrap().is_none());
        m
    }

    pub fn name(&self) -> String {
        self.addr.to_string()
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`...) to the process: a stall
    /// (SIGSTOP) leaves its items in place, unlike a kill.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} {pid}");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` until it gives `Some`, failing at [`DEADLINE`]. Yields to
/// the runtime between polls (no fixed sleep: each poll is a new attempt).
pub async fn wait_for<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {DEADLINE:?}"
        );
        // Back off a little so a polling loop does not spin a core.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The state `client` holds for the node `name`.
pub fn state_of(client: &Client, name: &str) -> NodeState {
    client
        .node_states()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap()
}

/// A client for these node names with test-friendly timeouts.
pub fn builder(names: &[String]) -> ClientBuilder {
    Client::builder()
        .nodes(names.iter().cloned())
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_secs(2))
}

/// A client talking to one node only: to see what that node holds.
pub async fn direct(name: &str) -> Client {
    builder(&[name.to_owned()]).build().await.unwrap()
}
