//! Live-server tests of the connection layer: a node on `127.0.0.1:0`,
//! passed in as a listener and stopped through the shutdown future. No
//! fixed ports, no sleeps: waits are on conditions, each with a deadline.

// Test helpers outside #[test] fns: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use ringcache_server::{serve_with, Node, NodeConfig, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(10);

struct TestNode {
    addr: SocketAddr,
    node: Node,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestNode {
    async fn start(config: NodeConfig) -> TestNode {
        Self::start_with(config, |c| c).await
    }

    async fn start_with(
        config: NodeConfig,
        tweak: impl FnOnce(ServeConfig) -> ServeConfig,
    ) -> TestNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let node = Node::new(config);
        let serve_config = tweak(node.serve_config());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, node.clone(), serve_config, async {
            let _ = stopped.await;
        }));
        TestNode {
            addr,
            node,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Triggers shutdown and waits for `serve` to return.
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

/// Reads until `expected` bytes have arrived (or fails at the deadline).
async fn read_exactly(stream: &mut TcpStream, expected: usize) -> Vec<u8> {
    let mut buf = vec![0u8; expected];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut buf))
        .await
        .expect("reply within deadline")
        .unwrap();
    buf
}

/// Reads until the peer closes.
async fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut buf))
        .await
        .expect("close within deadline")
        .unwrap();
    buf
}

async fn roundtrip(stream: &mut TcpStream, request: &[u8], reply: &[u8]) {
    stream.write_all(request).await.unwrap();
    let got = read_exactly(stream, reply.len()).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(reply),
        "reply to {:?}",
        String::from_utf8_lossy(request)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_get_replies_in_order() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100 {
        if i % 2 == 0 {
            request.extend_from_slice(
                format!("set k{i} {i} 0 {}\r\nv{i}\r\n", format!("v{i}").len()).as_bytes(),
            );
            expected.extend_from_slice(b"STORED\r\n");
        } else {
            let prev = i - 1;
            request.extend_from_slice(format!("get k{prev}\r\n").as_bytes());
            let value = format!("v{prev}");
            expected.extend_from_slice(
                format!("VALUE k{prev} {prev} {}\r\n{value}\r\nEND\r\n", value.len()).as_bytes(),
            );
        }
    }
    stream.write_all(&request).await.unwrap();
    let got = read_exactly(&mut stream, expected.len()).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_split_at_every_byte_parse_the_same() {
    let node = TestNode::start(NodeConfig::default()).await;
    let fixture = b"set split 7 0 5\r\nhello\r\nget split\r\ndelete split\r\n";
    let expected = b"STORED\r\nVALUE split 7 5\r\nhello\r\nEND\r\nDELETED\r\n";
    for at in 1..fixture.len() {
        let mut stream = node.connect().await;
        stream.set_nodelay(true).unwrap();
        stream.write_all(&fixture[..at]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::task::yield_now().await;
        stream.write_all(&fixture[at..]).await.unwrap();
        let got = read_exactly(&mut stream, expected.len()).await;
        assert_eq!(got, expected, "split at {at}");
    }
    // And one byte per write.
    let mut stream = node.connect().await;
    stream.set_nodelay(true).unwrap();
    for byte in fixture {
        stream.write_all(&[*byte]).await.unwrap();
    }
    let got = read_exactly(&mut stream, expected.len()).await;
    assert_eq!(got, expected, "byte by byte");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_then_recovers() {
    let config = NodeConfig {
        max_conns: 2,
        ..NodeConfig::default()
    };
    let node = TestNode::start(config).await;
    let mut a = node.connect().await;
    let mut b = node.connect().await;
    roundtrip(&mut a, b"version\r\n", b"VERSION 1.6.18\r\n").await;
    roundtrip(&mut b, b"version\r\n", b"VERSION 1.6.18\r\n").await;

    // The third gets memcached's line and is closed.
    let mut c = node.connect().await;
    let got = read_to_eof(&mut c).await;
    assert_eq!(got, b"ERROR Too many open connections\r\n");
    assert_eq!(node.node.conn_stats().rejected(), 1);

    // Closing one frees its slot (once its task has ended).
    drop(a);
    let stats = node.node.conn_stats();
    tokio::time::timeout(DEADLINE, async {
        while stats.current() != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("slot released");
    let mut d = node.connect().await;
    roundtrip(&mut d, b"version\r\n", b"VERSION 1.6.18\r\n").await;
    roundtrip(&mut b, b"get nothing\r\n", b"END\r\n").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_in_flight_replies() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    // 300 requests in one write: more than one batch.
    let mut request = Vec::new();
    for i in 0..300 {
        request.extend_from_slice(format!("set s{i} 0 0 1\r\nx\r\n").as_bytes());
    }
    stream.write_all(&request).await.unwrap();
    // The first reply proves the batch is being executed.
    let first = read_exactly(&mut stream, b"STORED\r\n".len()).await;
    assert_eq!(first, b"STORED\r\n");
    let stopping = tokio::spawn(node.shutdown());
    let rest = read_to_eof(&mut stream).await;
    assert_eq!(rest, b"STORED\r\n".repeat(299));
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_closes_after_earlier_replies() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    stream
        .write_all(b"version\r\nquit\r\nversion\r\n")
        .await
        .unwrap();
    let got = read_to_eof(&mut stream).await;
    assert_eq!(got, b"VERSION 1.6.18\r\n");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let config = NodeConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..NodeConfig::default()
    };
    let node = TestNode::start(config).await;
    let mut stream = node.connect().await;
    roundtrip(&mut stream, b"version\r\n", b"VERSION 1.6.18\r\n").await;
    let got = read_to_eof(&mut stream).await;
    assert!(got.is_empty());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_make_the_node_buffer() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut setup = node.connect().await;
    let value = vec![b'v'; 256 * 1024];
    let mut set = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    roundtrip(&mut setup, &set, b"STORED\r\n").await;

    // Ask for the 256 KiB value over and over without ever reading. Once
    // the socket buffers are full the node stops reading from us, so our
    // writes stall long before we have sent what an unbounded node would
    // accept (each request asks for ~10^4 times its own size).
    let mut greedy = node.connect().await;
    let chunk = b"get big\r\n".repeat(1024);
    let mut sent = 0usize;
    let stalled = loop {
        match tokio::time::timeout(Duration::from_millis(500), greedy.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break true,
        }
        if sent > 64 * 1024 * 1024 {
            break false;
        }
    };
    assert!(
        stalled,
        "node kept reading {sent} bytes of requests without replies being read"
    );

    // Other clients are still served.
    let mut other = node.connect().await;
    roundtrip(&mut other, b"version\r\n", b"VERSION 1.6.18\r\n").await;
    drop(greedy);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_command_is_refused_without_dash_a() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    roundtrip(
        &mut stream,
        b"shutdown\r\n",
        b"ERROR: shutdown not enabled\r\n",
    )
    .await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_command_with_dash_a_stops_the_node() {
    let config = NodeConfig {
        enable_shutdown: true,
        ..NodeConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let node = Node::new(config);
    let serve_config = node.serve_config();
    let requested = node.shutdown_requested();
    let task = tokio::spawn(serve_with(listener, node, serve_config, requested));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"shutdown\r\n").await.unwrap();
    let got = read_to_eof(&mut stream).await;
    assert!(got.is_empty());
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("node stops")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_connections_and_commands() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    roundtrip(&mut stream, b"set a 0 0 1\r\nx\r\n", b"STORED\r\n").await;
    roundtrip(&mut stream, b"get a b\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n").await;
    stream.write_all(b"stats\r\n").await.unwrap();
    let mut text = Vec::new();
    while !text.ends_with(b"END\r\n") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(text).unwrap();
    for line in [
        "STAT curr_connections 1\r\n",
        "STAT cmd_get 2\r\n",
        "STAT get_hits 1\r\n",
        "STAT get_misses 1\r\n",
        "STAT cmd_set 1\r\n",
        "STAT curr_items 1\r\n",
        "STAT version 1.6.18\r\n",
        "STAT limit_maxbytes 67108864\r\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in {text}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_after_a_large_reply_in_one_batch_are_served() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    let value = vec![b'x'; 200 * 1024];
    let mut set = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    roundtrip(&mut stream, &set, b"STORED\r\n").await;
    // The first reply passes the write boundary; the rest of the batch must
    // still be executed without waiting for more input.
    stream
        .write_all(b"get big\r\nversion\r\nget big\r\nversion\r\n")
        .await
        .unwrap();
    let mut one = format!("VALUE big 0 {}\r\n", value.len()).into_bytes();
    one.extend_from_slice(&value);
    one.extend_from_slice(b"\r\nEND\r\nVERSION 1.6.18\r\n");
    let expected = one.repeat(2);
    let got = read_exactly(&mut stream, expected.len()).await;
    assert!(got == expected, "replies after a large one went missing");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_multi_get_is_streamed_intact() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    let value: Vec<u8> = (0..300 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut set = format!("set big 3 0 {}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    roundtrip(&mut stream, &set, b"STORED\r\n").await;
    stream
        .write_all(b"set small 0 0 2\r\nhi\r\nget big missing small big big\r\nversion\r\n")
        .await
        .unwrap();
    let mut big = format!("VALUE big 3 {}\r\n", value.len()).into_bytes();
    big.extend_from_slice(&value);
    big.extend_from_slice(b"\r\n");
    let mut expected = b"STORED\r\n".to_vec();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"VALUE small 0 2\r\nhi\r\n");
    expected.extend_from_slice(&big);
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"END\r\nVERSION 1.6.18\r\n");
    let got = read_exactly(&mut stream, expected.len()).await;
    assert!(got == expected, "streamed multi-get differs");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_conns_lists_the_listener_and_each_connection() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut idle = node.connect().await;
    roundtrip(&mut idle, b"version\r\n", b"VERSION 1.6.18\r\n").await;
    let idle_addr = idle.local_addr().unwrap();
    let mut asking = node.connect().await;
    asking.write_all(b"stats conns\r\n").await.unwrap();
    let mut text = Vec::new();
    while !text.ends_with(b"END\r\n") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(DEADLINE, asking.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!(":addr tcp:{}\r\n", node.addr)),
        "{text}"
    );
    assert!(text.contains(":state conn_listening\r\n"), "{text}");
    assert!(
        text.contains(&format!(":addr tcp:{idle_addr}\r\n")),
        "{text}"
    );
    assert!(text.contains(":state conn_read\r\n"), "{text}");
    assert!(text.contains(":state conn_parse_cmd\r\n"), "{text}");
    assert_eq!(text.matches(":listen_addr ").count(), 2, "{text}");
    node.shutdown().await;
}

/// The one real-time TTL test (moka's clock cannot be paused): an item set
/// with exptime 1 is served, then misses within about two seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_expire_in_real_time() {
    let node = TestNode::start(NodeConfig::default()).await;
    let mut stream = node.connect().await;
    roundtrip(&mut stream, b"set ttl 0 1 1\r\nx\r\n", b"STORED\r\n").await;
    roundtrip(&mut stream, b"set forever 0 0 1\r\ny\r\n", b"STORED\r\n").await;
    roundtrip(
        &mut stream,
        b"get ttl\r\n",
        b"VALUE ttl 0 1\r\nx\r\nEND\r\n",
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        stream.write_all(b"get ttl\r\n").await.unwrap();
        let mut head = [0u8; 5];
        tokio::time::timeout(DEADLINE, stream.read_exact(&mut head))
            .await
            .unwrap()
            .unwrap();
        if &head == b"END\r\n" {
            break;
        }
        // A hit: consume the rest of "VALUE ttl 0 1\r\nx\r\nEND\r\n".
        read_exactly(&mut stream, 23 - 5).await;
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "exptime 1 still served after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    roundtrip(
        &mut stream,
        b"get forever\r\n",
        b"VALUE forever 0 1\r\ny\r\nEND\r\n",
    )
    .await;
    node.shutdown().await;
}
