//! Live tests of the meta commands on a node: the anti-dogpiling lease
//! dance across concurrent clients, quiet mode behind an `mn` barrier, and
//! base64 keys. Each node binds `127.0.0.1:0`, gets its listener passed in
//! and stops through the shutdown future; every wait has a deadline.

// Test helpers outside #[test] fns: a panic is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ringcache_server::{serve, Node, NodeConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(10);

struct TestNode {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestNode {
    async fn start() -> TestNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let node = Node::new(NodeConfig::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, node, async {
            let _ = stopped.await;
        }));
        TestNode {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self) -> Client {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

struct Client {
    stream: BufReader<TcpStream>,
}

/// One meta reply: the status line (without CRLF) and the value of `VA`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    line: String,
    value: Option<Vec<u8>>,
}

impl Reply {
    fn flags(&self) -> Vec<&str> {
        self.line.split(' ').skip(1).collect()
    }

    fn has(&self, flag: &str) -> bool {
        self.flags().contains(&flag)
    }

    fn cas(&self) -> u64 {
        self.flags()
            .iter()
            .find_map(|f| f.strip_prefix('c'))
            .expect("a c flag")
            .parse()
            .unwrap()
    }
}

impl Client {
    async fn send(&mut self, bytes: &str) {
        self.stream
            .get_mut()
            .write_all(bytes.as_bytes())
            .await
            .unwrap();
    }

    /// Reads one reply (a line, plus the data block after `VA <len>`).
    async fn reply(&mut self) -> Reply {
        tokio::time::timeout(DEADLINE, async {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            let line = line.strip_suffix("\r\n").expect("CRLF").to_string();
            let value = match line.strip_prefix("VA ") {
                Some(rest) => {
                    let len: usize = rest.split(' ').next().unwrap().parse().unwrap();
                    let mut buf = vec![0; len + 2];
                    self.stream.read_exact(&mut buf).await.unwrap();
                    buf.truncate(len);
                    Some(buf)
                }
                None => None,
            };
            Reply { line, value }
        })
        .await
        .expect("a reply within the deadline")
    }

    async fn call(&mut self, request: &str) -> Reply {
        self.send(request).await;
        self.reply().await
    }
}

/// Sends `request` from `n` clients at once and returns their replies.
async fn from_many(node: &TestNode, n: usize, request: &str) -> Vec<Reply> {
    let mut clients = Vec::new();
    for _ in 0..n {
        clients.push(node.client().await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let request = request.to_string();
            tokio::spawn(async move { c.call(&request).await })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_wins_the_vivify_race() {
    let node = TestNode::start().await;
    let replies = from_many(&node, 16, "mg lease N30 v c t\r\n").await;
    let winners: Vec<_> = replies.iter().filter(|r| r.has("W")).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for r in &replies {
        // Everyone sees the same empty placeholder with the N TTL.
        assert_eq!(r.value.as_deref(), Some(&b""[..]), "{r:?}");
        assert!(r.has("t30"), "{r:?}");
        if !r.has("W") {
            assert!(r.has("Z") && !r.has("X"), "{r:?}");
        }
    }
    // The winner fills the cache; from then on nobody is told to wait.
    let mut winner = node.client().await;
    let stored = winner
        .call(&format!(
            "ms lease 3 T60 c C{}\r\nnew\r\n",
            winners[0].cas()
        ))
        .await;
    assert!(stored.line.starts_with("HD c"), "{stored:?}");
    for r in from_many(&node, 4, "mg lease v t\r\n").await {
        assert_eq!(r.line, "VA 3 t60");
        assert_eq!(r.value.as_deref(), Some(&b"new"[..]));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidation_hands_out_one_recache_token() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    assert_eq!(c.call("ms inv 3 T100\r\nold\r\n").await.line, "HD");
    let before = c.call("mg inv c\r\n").await.cas();
    assert_eq!(c.call("md inv I T30\r\n").await.line, "HD");
    let replies = from_many(&node, 12, "mg inv v c t\r\n").await;
    let winners: Vec<_> = replies.iter().filter(|r| r.has("W")).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    let cas = winners[0].cas();
    assert!(cas > before, "md I bumps the CAS");
    for r in &replies {
        // The stale value is still served, with the new TTL.
        assert_eq!(r.value.as_deref(), Some(&b"old"[..]));
        assert!(r.has("t30"), "{r:?}");
        let tail = if r.has("W") { "X W" } else { "Z X" };
        assert!(r.line.ends_with(tail), "{r:?}");
        assert_eq!(r.cas(), cas);
    }
    // A late writer with an older CAS stores its value, but still stale and
    // with the token still out.
    let late = c.call(&format!("ms inv 4 I C{before}\r\nlate\r\n")).await;
    assert_eq!(late.line, "HD");
    let r = c.call("mg inv v\r\n").await;
    assert_eq!(
        (r.line.as_str(), r.value.as_deref()),
        ("VA 4 Z X", Some(&b"late"[..]))
    );
    // The winner's CAS is no longer current: a plain CAS store fails...
    let stale_cas = c.call(&format!("ms inv 5 C{cas}\r\nfresh\r\n")).await;
    assert_eq!(stale_cas.line, "EX");
    // ...and a fresh set clears both marks.
    assert_eq!(c.call("ms inv 5\r\nfresh\r\n").await.line, "HD");
    assert_eq!(c.call("mg inv v\r\n").await.line, "VA 5");
    node.shutdown().await;
}

#[tokio::test]
async fn quiet_mode_is_answered_by_the_noop_barrier() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    c.send(concat!(
        "ms hit 1 q\r\nx\r\n",  // HD withheld
        "mg miss q k Oa v\r\n", // EN withheld
        "mg hit q k Ob\r\n",    // a hit is still answered
        "md gone q\r\n",        // NF is not withheld
        "md hit q\r\n",         // HD withheld
        "ma n q N0 J5\r\n",     // a vivified counter is answered
        "ma n q v\r\n",         // an increment is not
        "ma n v\r\n",
        "mn\r\n",
    ))
    .await;
    let mut lines = Vec::new();
    loop {
        let r = c.reply().await;
        let done = r.line == "MN";
        lines.push(r.line);
        if done {
            break;
        }
    }
    assert_eq!(lines, ["HD khit Ob", "NF", "HD", "VA 1", "MN"]);
    node.shutdown().await;
}

#[tokio::test]
async fn base64_keys_are_echoed_as_stored() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    // "foo" stored with b: k echoes base64 with ` b`, also when asked raw.
    assert_eq!(c.call("ms Zm9v 2 b k\r\nhi\r\n").await.line, "HD kZm9v b");
    assert_eq!(c.call("mg foo k v\r\n").await.line, "VA 2 kZm9v b");
    // A placeholder made by mg N is not binary: memcached prints it raw.
    assert_eq!(c.call("mg YmFy b N30 k\r\n").await.line, "HD kbar W");
    // A miss echoes the key as it was sent.
    assert_eq!(c.call("mg YmF6 b k\r\n").await.line, "EN kYmF6 b");
    c.send("me Zm9v b\r\n").await;
    let me = c.reply().await.line;
    assert!(me.starts_with("ME Zm9v exp=-1 la=0 cas="), "{me}");
    assert!(me.ends_with("fetch=yes cls=1 size=64"), "{me}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ma_vivifies_once_and_loses_no_increment() {
    const CLIENTS: usize = 8;
    const EACH: usize = 100;
    let node = TestNode::start().await;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = node.client().await;
        tasks.push(tokio::spawn(async move {
            c.send(&"ma ctr N0 q\r\n".repeat(EACH)).await;
            c.send("mn\r\n").await;
            // Quiet increments are withheld; only the one that created the
            // counter answers before the barrier.
            let mut answered = 0;
            loop {
                let r = c.reply().await;
                if r.line == "MN" {
                    return answered;
                }
                assert_eq!(r.line, "HD");
                answered += 1;
            }
        }));
    }
    let mut vivified = 0;
    for t in tasks {
        vivified += t.await.unwrap();
    }
    assert_eq!(vivified, 1);
    let mut c = node.client().await;
    // The creating call stores J (0) without incrementing.
    let total = (CLIENTS * EACH - 1).to_string();
    let r = c.call("mg ctr v\r\n").await;
    assert_eq!(r.value.as_deref(), Some(total.as_bytes()));
    node.shutdown().await;
}
