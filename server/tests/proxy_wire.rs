//! The proxy on the wire: 3 in-process nodes behind a proxy, all on
//! `127.0.0.1:0`, driven with raw requests. Pipelining end to end,
//! multi-get merging across nodes in key order, quiet modes, locally
//! answered commands, `flush_all` on every node, a dead backend that
//! never closes the application's connection, and hot keys served from the
//! proxy's near cache.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::collections::HashSet;

use proxy_support::{connect, fast_client, read_len, read_until, roundtrip, stat, Harness};
use ringcache_client::Config as ClientConfig;

fn harness() -> Harness {
    Harness::with_proxy(3, ClientConfig::default())
}

/// Keys that land on at least two different nodes.
fn spread_keys(h: &Harness, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("mk:{i}")).collect();
    let owners: HashSet<String> = keys
        .iter()
        .map(|k| h.proxy().client().node_for(k).unwrap())
        .collect();
    assert!(owners.len() >= 2, "the keys spread over several nodes");
    keys
}

#[test]
fn hundred_pipelined_requests_get_hundred_replies_in_order() {
    let h = harness();
    let mut s = connect(h.proxy_addr());
    // Writes, then reads of what was written, interleaved with misses and
    // increments, all in one write.
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..25 {
        req.extend_from_slice(
            format!("set p:{i} {i} 0 {}\r\nv{i}\r\n", format!("v{i}").len()).as_bytes(),
        );
        want.extend_from_slice(b"STORED\r\n");
        req.extend_from_slice(format!("get p:{i}\r\n").as_bytes());
        want.extend_from_slice(
            format!(
                "VALUE p:{i} {i} {}\r\nv{i}\r\nEND\r\n",
                format!("v{i}").len()
            )
            .as_bytes(),
        );
        req.extend_from_slice(format!("get p:none{i}\r\n").as_bytes());
        want.extend_from_slice(b"END\r\n");
        req.extend_from_slice(format!("incr p:n{i} 1\r\n").as_bytes());
        want.extend_from_slice(b"NOT_FOUND\r\n");
    }
    assert_eq!(req.iter().filter(|&&b| b == b'\n').count(), 125); // 100 requests (+25 data lines)
    s.write_all_checked(&req);
    let got = read_len(&mut s, want.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn pipelined_across_many_connections_at_once() {
    let h = harness();
    let addr = h.proxy_addr();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut req = Vec::new();
                let mut want = Vec::new();
                for i in 0..100 {
                    let v = format!("t{t}i{i}");
                    req.extend_from_slice(
                        format!("set c:{t}:{i} 0 0 {}\r\n{v}\r\n", v.len()).as_bytes(),
                    );
                    want.extend_from_slice(b"STORED\r\n");
                }
                for i in 0..100 {
                    let v = format!("t{t}i{i}");
                    req.extend_from_slice(format!("get c:{t}:{i}\r\n").as_bytes());
                    want.extend_from_slice(
                        format!("VALUE c:{t}:{i} 0 {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes(),
                    );
                }
                s.write_all_checked(&req);
                let got = read_until(&mut s, format!("t{t}i99\r\nEND\r\n").as_bytes());
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn multi_get_across_nodes_merges_in_key_order() {
    let h = harness();
    let keys = spread_keys(&h, 20);
    let mut s = connect(h.proxy_addr());
    for (i, k) in keys.iter().enumerate() {
        if i % 3 != 1 {
            let v = format!("val{i}");
            let reply = roundtrip(
                &mut s,
                format!("set {k} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes(),
                b"\r\n",
            );
            assert_eq!(reply, b"STORED\r\n");
        }
    }
    // Ask in reverse order, with a duplicate and a missing key.
    let mut asked: Vec<&str> = keys.iter().rev().map(String::as_str).collect();
    asked.push(&keys[0]);
    asked.push("mk:absent");
    let reply = roundtrip(
        &mut s,
        format!("get {}\r\n", asked.join(" ")).as_bytes(),
        b"END\r\n",
    );
    let mut want = String::new();
    for k in &asked {
        if let Some(i) = keys.iter().position(|x| x == k) {
            if i % 3 != 1 {
                want.push_str(&format!(
                    "VALUE {k} {i} {}\r\nval{i}\r\n",
                    format!("val{i}").len()
                ));
            }
        }
    }
    want.push_str("END\r\n");
    assert_eq!(String::from_utf8_lossy(&reply), want);

    // gets carries each node's CAS unique; cas through the proxy uses it.
    let reply = roundtrip(
        &mut s,
        format!("gets {} {}\r\n", keys[0], keys[2]).as_bytes(),
        b"END\r\n",
    );
    let text = String::from_utf8_lossy(&reply).into_owned();
    let first = text.lines().next().unwrap();
    let cas: u64 = first.split(' ').nth(4).unwrap().parse().unwrap();
    assert!(text.contains(&format!("VALUE {} 2 4 ", keys[2])), "{text}");
    let reply = roundtrip(
        &mut s,
        format!("cas {} 0 0 1 {cas}\r\nx\r\n", keys[0]).as_bytes(),
        b"\r\n",
    );
    assert_eq!(reply, b"STORED\r\n");
    // gat touches on every node.
    let reply = roundtrip(
        &mut s,
        format!("gat 100 {} {}\r\n", keys[0], keys[3]).as_bytes(),
        b"END\r\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&reply),
        format!(
            "VALUE {} 0 1\r\nx\r\nVALUE {} 3 4\r\nval3\r\nEND\r\n",
            keys[0], keys[3]
        )
    );
}

#[test]
fn noreply_and_meta_quiet_keep_memcached_semantics() {
    let h = harness();
    let mut s = connect(h.proxy_addr());
    // noreply writes answer nothing, a normal request after them answers.
    let reply = roundtrip(
        &mut s,
        b"set q:a 0 0 1 noreply\r\na\r\nappend q:a 0 0 1 noreply\r\nb\r\nincr q:none 1 noreply\r\ndelete q:none noreply\r\nget q:a\r\n",
        b"END\r\n",
    );
    assert_eq!(reply, b"VALUE q:a 0 2\r\nab\r\nEND\r\n");
    // mg q: EN withheld, hits sent; ms q: HD withheld; mn barrier answered locally.
    let reply = roundtrip(
        &mut s,
        b"mg q:none v q\r\nmg q:a v q k\r\nms q:m 1 q\r\nz\r\nmd q:none q\r\nmn\r\n",
        b"MN\r\n",
    );
    assert_eq!(reply, b"VA 2 kq:a\r\nab\r\nNF\r\nMN\r\n");
    let reply = roundtrip(&mut s, b"mg q:m v\r\n", b"\r\nz\r\n");
    assert_eq!(reply, b"VA 1\r\nz\r\n");
    // Opaque tokens come back.
    let reply = roundtrip(&mut s, b"ma q:cnt N0 J5 v Oabc\r\n", b"\r\n5\r\n");
    assert_eq!(reply, b"VA 1 Oabc\r\n5\r\n");
}

#[test]
fn local_commands_and_errors() {
    let h = harness();
    let mut s = connect(h.proxy_addr());
    assert_eq!(
        roundtrip(&mut s, b"version\r\n", b"\r\n"),
        b"VERSION 1.6.18\r\n"
    );
    assert_eq!(roundtrip(&mut s, b"verbosity 1\r\n", b"\r\n"), b"OK\r\n");
    assert_eq!(roundtrip(&mut s, b"bogus\r\n", b"\r\n"), b"ERROR\r\n");
    assert_eq!(
        roundtrip(&mut s, b"set k 0 0 notanumber\r\n", b"\r\n"),
        b"CLIENT_ERROR bad command line format\r\n"
    );
    // A value over the item limit is refused as a node refuses it.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let mut req = format!("set big 0 0 {}\r\n", big.len()).into_bytes();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n");
    assert_eq!(
        roundtrip(&mut s, b"set big 0 0 3\r\nold\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(
        roundtrip(&mut s, &req, b"\r\n"),
        b"SERVER_ERROR object too large for cache\r\n"
    );
    // As memcached does, the refused set removed the old value on its node.
    assert_eq!(roundtrip(&mut s, b"get big\r\n", b"END\r\n"), b"END\r\n");
    let stats = roundtrip(&mut s, b"stats\r\n", b"END\r\n");
    let text = String::from_utf8_lossy(&stats);
    for name in [
        "pid",
        "uptime",
        "version",
        "curr_connections",
        "cmd_get",
        "proxy_requests",
        "backend_errors",
        "ring_nodes",
        "ejected_nodes",
    ] {
        assert!(text.contains(&format!("STAT {name} ")), "{name} in {text}");
    }
    assert!(text.contains("STAT ring_nodes 3\r\n"), "{text}");
    assert!(
        text.lines().all(|l| l == "END" || l.starts_with("STAT ")),
        "{text}"
    );
    assert_eq!(roundtrip(&mut s, b"stats reset\r\n", b"\r\n"), b"RESET\r\n");
    // quit closes, after the replies before it.
    s.write_all_checked(b"version\r\nquit\r\n");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut rest).unwrap();
    assert_eq!(rest, b"VERSION 1.6.18\r\n");
}

#[test]
fn flush_all_reaches_every_node() {
    let h = harness();
    let mut s = connect(h.proxy_addr());
    for i in 0..60 {
        assert_eq!(
            roundtrip(
                &mut s,
                format!("set f:{i} 0 0 1\r\nx\r\n").as_bytes(),
                b"\r\n"
            ),
            b"STORED\r\n"
        );
    }
    for i in 0..3 {
        assert!(h.curr_items(i) > 0, "node {i} holds some keys");
    }
    assert_eq!(roundtrip(&mut s, b"flush_all\r\n", b"\r\n"), b"OK\r\n");
    for i in 0..3 {
        assert_eq!(
            stat(h.node_addrs[i], "cmd_flush"),
            1,
            "node {i} got the flush"
        );
    }
    assert_eq!(
        roundtrip(&mut s, b"get f:1 f:2 f:3\r\n", b"END\r\n"),
        b"END\r\n"
    );
    // noreply flush_all: nothing back, then the barrier.
    assert_eq!(
        roundtrip(&mut s, b"flush_all noreply\r\nmn\r\n", b"MN\r\n"),
        b"MN\r\n"
    );
}

#[test]
fn a_dead_backend_never_closes_the_client_connection() {
    let mut h = Harness::with_proxy(3, fast_client());
    let dead = h.node_addrs[1].to_string();
    let client = h.proxy().client().clone();
    let key = (0..1000)
        .map(|i| format!("d:{i}"))
        .find(|k| client.node_for(k).unwrap() == dead)
        .unwrap();
    let mut s = connect(h.proxy_addr());
    assert_eq!(
        roundtrip(
            &mut s,
            format!("set {key} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n"
        ),
        b"STORED\r\n"
    );
    h.kill_node(1);
    // Until the node is ejected: reads miss, writes report a server error
    // (or already fail over). The connection stays open throughout.
    for _ in 0..5 {
        // A miss, or (once ejected) what the failover node got below.
        let reply = roundtrip(&mut s, format!("get {key}\r\n").as_bytes(), b"END\r\n");
        let failover = format!("VALUE {key} 0 1\r\ny\r\nEND\r\n");
        assert!(
            reply == b"END\r\n" || reply == failover.as_bytes(),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        let reply = roundtrip(
            &mut s,
            format!("set {key} 0 0 1\r\ny\r\n").as_bytes(),
            b"\r\n",
        );
        assert!(
            reply == b"STORED\r\n" || reply.starts_with(b"SERVER_ERROR "),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(
        roundtrip(&mut s, b"version\r\n", b"\r\n"),
        b"VERSION 1.6.18\r\n"
    );
    let errors = stat(h.proxy_addr(), "backend_errors");
    assert!(errors > 0, "backend errors are counted");
    let node_errors = roundtrip(&mut connect(h.proxy_addr()), b"stats\r\n", b"END\r\n");
    assert!(String::from_utf8_lossy(&node_errors).contains(&format!("STAT node_errors:{dead} ")));
}

/// `write_all` that fails the test on error.
trait WriteAllChecked {
    fn write_all_checked(&mut self, bytes: &[u8]);
}

impl WriteAllChecked for std::net::TcpStream {
    fn write_all_checked(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(self, bytes).unwrap();
    }
}

#[test]
fn a_hung_backend_stalls_only_the_requests_routed_to_it() {
    // A "node" that accepts connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hung.accept() {
            conns.push(c);
            if conns.len() >= 8 {
                break;
            }
        }
        conns
    });
    let mut h = Harness::nodes(1);
    let mut client = ClientConfig::default();
    client.request_timeout = std::time::Duration::from_millis(1500);
    let mut config = h.proxy_config(client);
    config.membership = ringcache_client::Membership::Static(vec![
        ringcache_client::Node::new(h.node_addrs[0].to_string()),
        ringcache_client::Node::new(hung_addr.to_string()),
    ]);
    h.start_proxy(config);
    let routing = h.proxy().client().clone();
    let key_on = |target: String| {
        (0..1000)
            .map(|i| format!("h:{i}"))
            .find(|k| routing.node_for(k).unwrap() == target)
            .unwrap()
    };
    let (stuck_key, live_key) = (
        key_on(hung_addr.to_string()),
        key_on(h.node_addrs[0].to_string()),
    );
    let addr = h.proxy_addr();
    let stuck = std::thread::spawn(move || {
        let mut s = connect(addr);
        let start = std::time::Instant::now();
        let reply = roundtrip(
            &mut s,
            format!("get {stuck_key}\r\n").as_bytes(),
            b"END\r\n",
        );
        (reply, start.elapsed())
    });
    // Meanwhile other connections are served at once.
    let mut s = connect(addr);
    let start = std::time::Instant::now();
    for _ in 0..20 {
        let reply = roundtrip(
            &mut s,
            format!("set {live_key} 0 0 1\r\nx\r\n").as_bytes(),
            b"\r\n",
        );
        assert_eq!(reply, b"STORED\r\n");
    }
    let live = start.elapsed();
    let (reply, stalled) = stuck.join().unwrap();
    assert_eq!(reply, b"END\r\n", "the hung node's key times out as a miss");
    assert!(
        stalled >= std::time::Duration::from_millis(1400),
        "{stalled:?}"
    );
    assert!(
        live < stalled,
        "live requests ({live:?}) did not wait for the hung one ({stalled:?})"
    );
    drop(h);
    drop(held);
}

/// A backend that holds every `get` until it has `want` of them unanswered
/// at once (over all the connections the proxy opened to it), then answers
/// them all, and every later one at once. Returns its address and a join
/// handle giving the most `get`s it ever held at once (the test's deadline
/// passed if that is below `want`).
fn gathering_backend(want: usize) -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Condvar, Mutex};

    #[derive(Default)]
    struct Held {
        gets: Vec<(std::net::TcpStream, Vec<u8>)>,
        released: bool,
    }
    fn answer(conn: &mut std::net::TcpStream, key: &[u8]) {
        let mut reply = b"VALUE ".to_vec();
        reply.extend_from_slice(key);
        reply.extend_from_slice(b" 0 1\r\nx\r\nEND\r\n");
        let _ = conn.write_all(&reply);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new((Mutex::new(Held::default()), Condvar::new()));
    let shared = Arc::clone(&held);
    std::thread::spawn(move || {
        while let Ok((conn, _)) = listener.accept() {
            let held = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut lines = BufReader::new(conn);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    let text = line.trim_ascii_end().to_vec();
                    line.clear();
                    let Some(key) = text.strip_prefix(b"get ") else {
                        let _ = writer.write_all(b"ERROR\r\n");
                        continue;
                    };
                    let (state, wake) = &*held;
                    let mut state = state.lock().unwrap();
                    if state.released {
                        answer(&mut writer, key);
                    } else {
                        state.gets.push((writer.try_clone().unwrap(), key.to_vec()));
                        wake.notify_all();
                    }
                }
            });
        }
    });
    let release = std::thread::spawn(move || {
        let (state, wake) = &*held;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut state = state.lock().unwrap();
        while state.gets.len() < want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            state = wake.wait_timeout(state, left).unwrap().0;
        }
        let most = state.gets.len();
        state.released = true;
        for (mut conn, key) in std::mem::take(&mut state.gets) {
            answer(&mut conn, &key);
        }
        most
    });
    (addr, release)
}

#[test]
fn a_pipeline_reaches_the_backend_as_one_window_not_one_request_at_a_time() {
    // Eight pipelined gets of distinct keys: the backend answers none
    // until it holds all eight. A proxy that forwarded them one at a time
    // would leave it holding one, and the client would see misses after
    // the request timeout.
    const GETS: usize = 8;
    let (backend, release) = gathering_backend(GETS);
    let mut h = Harness::nodes(0);
    let mut client = ClientConfig::default();
    client.request_timeout = std::time::Duration::from_secs(10);
    let mut config = h.proxy_config(client);
    config.membership = ringcache_client::Membership::Static(vec![ringcache_client::Node::new(
        backend.to_string(),
    )]);
    h.start_proxy(config);
    let mut s = connect(h.proxy_addr());
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..GETS {
        req.extend_from_slice(format!("get w:{i}\r\n").as_bytes());
        want.extend_from_slice(format!("VALUE w:{i} 0 1\r\nx\r\nEND\r\n").as_bytes());
    }
    s.write_all_checked(&req);
    let got = read_len(&mut s, want.len());
    assert_eq!(
        release.join().unwrap(),
        GETS,
        "gets held by the backend at once"
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

/// A backend that answers every request line with `reply`.
fn answering_backend(reply: &'static [u8]) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        while let Ok((conn, _)) = listener.accept() {
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut lines = BufReader::new(conn);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    line.clear();
                    if writer.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_backend_error_line_to_a_get_reaches_the_client_and_counts() {
    // One key takes the single-key path, two keys the multi-key one: both
    // pass the node's error line on as memcached would have sent it, and
    // both count a backend error.
    let backend = answering_backend(b"SERVER_ERROR busy\r\n");
    let mut h = Harness::nodes(0);
    let mut config = h.proxy_config(ClientConfig::default());
    config.membership = ringcache_client::Membership::Static(vec![ringcache_client::Node::new(
        backend.to_string(),
    )]);
    h.start_proxy(config);
    let mut s = connect(h.proxy_addr());
    for (n, request) in [(1, &b"get e:1\r\n"[..]), (2, b"get e:1 e:2\r\n")] {
        let reply = roundtrip(&mut s, request, b"\r\n");
        assert_eq!(
            String::from_utf8_lossy(&reply),
            "SERVER_ERROR busy\r\n",
            "a get of {n} key(s)"
        );
        assert_eq!(
            stat(h.proxy_addr(), "backend_errors"),
            n,
            "backend errors after the get of {n} key(s)"
        );
    }
}

/// Sends `gets` as one pipeline and reads their replies (each ends with
/// `END`).
fn pipelined_gets(s: &mut std::net::TcpStream, gets: &[String]) -> Vec<u8> {
    let mut request = Vec::new();
    for key in gets {
        request.extend_from_slice(format!("get {key}\r\n").as_bytes());
    }
    s.write_all_checked(&request);
    let mut got = Vec::new();
    while got.windows(5).filter(|w| w == b"END\r\n").count() < gets.len() {
        got.extend_from_slice(&read_until(s, b"END\r\n"));
    }
    got
}

#[test]
fn a_hot_key_is_served_from_the_proxys_near_cache() {
    // `--hot-near-ttl`: once a key is hot, the proxy answers its gets from
    // memory, and its own writes replace what it holds.
    let mut client = ClientConfig::default();
    client.hot_near_ttl = std::time::Duration::from_secs(60);
    let h = Harness::with_proxy(2, client);
    let mut s = connect(h.proxy_addr());
    let get_hits = || -> u64 { h.node_addrs.iter().map(|&a| stat(a, "get_hits")).sum() };
    assert_eq!(
        roundtrip(&mut s, b"set hot 0 0 2\r\nv1\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    // One read in four of the hot key, the rest over 2,000 others.
    for batch in 0..400 {
        let gets: Vec<String> = (0..100)
            .map(|i| match batch * 100 + i {
                n if n % 4 == 0 => "hot".to_owned(),
                n => format!("cold:{}", n % 2000),
            })
            .collect();
        pipelined_gets(&mut s, &gets);
    }
    let before = get_hits();
    let hot: Vec<String> = (0..100).map(|_| "hot".to_owned()).collect();
    for _ in 0..20 {
        let got = pipelined_gets(&mut s, &hot);
        assert_eq!(got, b"VALUE hot 0 2\r\nv1\r\nEND\r\n".repeat(100));
    }
    let reached = get_hits() - before;
    assert!(reached < 20, "{reached} of 2,000 hot reads reached a node");
    assert_eq!(
        roundtrip(&mut s, b"set hot 0 0 2\r\nv2\r\n", b"\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(
        roundtrip(&mut s, b"get hot\r\n", b"END\r\n"),
        b"VALUE hot 0 2\r\nv2\r\nEND\r\n"
    );
}
