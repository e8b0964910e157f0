//! A scale-out behind the proxy, under a read-mostly Zipf(0.99)
//! cache-aside workload: 3 nodes warmed, a 4th added live. With warm-up the
//! hit ratio right after the change stays within 5% of steady state;
//! without it, it drops by about the share of keys that moved. Bounded by
//! request counts, not time.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use proxy_support::{connect, fast_client, Harness};
use ringcache_client::Node;
use ringcache_server::proxy::ProxyConfig;

const KEYS: usize = 20_000;
const BATCH: usize = 100;
const VALUE: &[u8] = &[b'v'; 100];

/// Zipf(s) over `0..n` by inverse CDF, with a xorshift generator: the same
/// sequence every run.
struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf, state: seed }
    }

    fn next(&mut self) -> usize {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let u = (self.state >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Cache-aside through the proxy: `get` a batch of keys (pipelined), `set`
/// the ones that missed, as an application in front of a database does.
/// Returns the hit ratio of `requests` reads.
fn cache_aside(stream: &mut BufReader<TcpStream>, zipf: &mut Zipf, requests: usize) -> f64 {
    let mut hits = 0;
    let mut line = String::new();
    let mut next_line = |stream: &mut BufReader<TcpStream>| {
        line.clear();
        stream.read_line(&mut line).unwrap();
        line.clone()
    };
    for _ in 0..requests / BATCH {
        let keys: Vec<String> = (0..BATCH)
            .map(|_| format!("item:{}", zipf.next()))
            .collect();
        let mut out = Vec::new();
        for k in &keys {
            out.extend_from_slice(format!("get {k}\r\n").as_bytes());
        }
        stream.get_mut().write_all(&out).unwrap();
        let mut missed = Vec::new();
        for k in &keys {
            let first = next_line(stream);
            if first.starts_with("VALUE ") {
                hits += 1;
                assert_eq!(next_line(stream).trim_end().len(), VALUE.len());
                assert_eq!(next_line(stream), "END\r\n");
            } else {
                assert_eq!(first, "END\r\n");
                missed.push(k);
            }
        }
        if missed.is_empty() {
            continue;
        }
        let mut out = Vec::new();
        for k in &missed {
            out.extend_from_slice(format!("set {k} 0 0 {}\r\n", VALUE.len()).as_bytes());
            out.extend_from_slice(VALUE);
            out.extend_from_slice(b"\r\n");
        }
        stream.get_mut().write_all(&out).unwrap();
        for _ in &missed {
            assert_eq!(next_line(stream), "STORED\r\n");
        }
    }
    hits as f64 / (requests / BATCH * BATCH) as f64
}

/// `set <key> <flags> 0` with the key as its value, through `stream`.
fn set_self(stream: &mut BufReader<TcpStream>, key: &str, flags: u32) {
    let request = format!("set {key} {flags} 0 {}\r\n{key}\r\n", key.len());
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    assert_eq!(line, "STORED\r\n");
}

/// `get <key>`: the `VALUE` line, or `None` on a miss.
fn get_line(stream: &mut BufReader<TcpStream>, key: &str) -> Option<String> {
    stream
        .get_mut()
        .write_all(format!("get {key}\r\n").as_bytes())
        .unwrap();
    let mut head = String::new();
    stream.read_line(&mut head).unwrap();
    if head == "END\r\n" {
        return None;
    }
    let mut rest = String::new();
    stream.read_line(&mut rest).unwrap();
    rest.clear();
    stream.read_line(&mut rest).unwrap();
    assert_eq!(rest, "END\r\n");
    Some(head)
}

/// What a scale-out did to the hit ratio.
struct Outcome {
    steady: f64,
    /// Over the first 500 reads after the 4th node joined.
    first: f64,
    /// Over the 20,000 reads after those.
    then: f64,
    /// Share of the keys that moved.
    moved: f64,
}

/// Warms 3 nodes, measures steady state, adds a 4th node, measures again.
fn scale_out(warmup: Duration) -> Outcome {
    let mut h = Harness::nodes(4);
    let names: Vec<String> = h.node_addrs.iter().map(ToString::to_string).collect();
    let mut client = fast_client();
    client.warmup = warmup;
    let mut config = ProxyConfig::with_nodes(names[..3].iter().cloned());
    config.client = client;
    h.start_proxy(config);
    let mut stream = BufReader::new(connect(h.proxy_addr()));
    let mut zipf = Zipf::new(KEYS, 0.99, 0x2545_f491_4f6c_dd1d);
    // Warm until the ratio stops climbing, then measure steady state.
    cache_aside(&mut stream, &mut zipf, 60_000);
    let steady = cache_aside(&mut stream, &mut zipf, 20_000);
    let change = h
        .proxy()
        .client()
        .set_nodes(names.iter().map(Node::new).collect())
        .unwrap();
    let warming = u64::from(!warmup.is_zero());
    assert_eq!(
        proxy_support::stat(h.proxy_addr(), "warmup_active"),
        warming
    );
    let first = cache_aside(&mut stream, &mut zipf, 500);
    let then = cache_aside(&mut stream, &mut zipf, 20_000);
    eprintln!(
        "warmup {warmup:?}: steady {steady:.3}; first 500 reads after the change {first:.3} \
         ({:.1}% of steady); next 20k {then:.3} ({:.1}%); {:.1}% of keys moved",
        first / steady * 100.0,
        then / steady * 100.0,
        change.moved * 100.0
    );
    Outcome {
        steady,
        first,
        then,
        moved: change.moved,
    }
}

/// The same key sequence twice, on fresh clusters: with warm-up the hit
/// ratio after the change stays within 5% of steady state; without, the
/// first reads lose a good part of the moved share (the application then
/// reloads the hot moved keys from its database).
#[test]
fn warm_up_keeps_the_hit_ratio_through_a_scale_out() {
    let warm = scale_out(Duration::from_secs(60));
    assert!(
        warm.moved > 0.15,
        "a 4th node takes about a quarter: {}",
        warm.moved
    );
    assert!(
        warm.steady > 0.7,
        "the workload is cache-friendly: {}",
        warm.steady
    );
    for (what, ratio) in [("first 500", warm.first), ("next 20k", warm.then)] {
        assert!(
            ratio >= 0.95 * warm.steady,
            "{what} reads after the change: {ratio:.3} < 95% of steady {:.3}",
            warm.steady
        );
    }
    let cold = scale_out(Duration::ZERO);
    assert!(
        cold.first < warm.first - cold.moved / 4.0,
        "without warm-up the first reads after the change hit {:.3}, with it {:.3}",
        cold.first,
        warm.first
    );
    assert!(
        cold.then < warm.then,
        "{:.3} vs {:.3}",
        cold.then,
        warm.then
    );
}

/// A scale-in: a node leaves the list while still up, the proxy drains it
/// in the background; once the drain is done the node is stopped and every
/// item it held still reads back through the proxy.
#[test]
fn a_node_leaving_the_list_is_drained_before_it_stops() {
    let mut h = Harness::nodes(3);
    let names: Vec<String> = h.node_addrs.iter().map(ToString::to_string).collect();
    let mut client = fast_client();
    client.warmup = Duration::from_secs(60);
    client.drain_removed = true;
    let mut config = ProxyConfig::with_nodes(names.iter().cloned());
    config.client = client;
    h.start_proxy(config);
    let mut stream = BufReader::new(connect(h.proxy_addr()));
    let keys: Vec<String> = (0..600).map(|i| format!("drain:{i}")).collect();
    for k in &keys {
        set_self(&mut stream, k, 5);
    }
    let leaving = h.curr_items(2);
    assert!(leaving > 100, "node 2 holds {leaving} items");
    let staying_before = h.curr_items(0) + h.curr_items(1);
    h.proxy()
        .client()
        .set_nodes(names[..2].iter().map(Node::new).collect())
        .unwrap();
    proxy_support::wait_for(
        "the drain to copy every item",
        proxy_support::DEADLINE,
        || h.curr_items(0) + h.curr_items(1) == staying_before + leaving,
    );
    h.kill_node(2);
    for k in &keys {
        let head = get_line(&mut stream, k);
        assert_eq!(head, Some(format!("VALUE {k} 5 {}\r\n", k.len())), "{k}");
    }
}

/// Two replicas behind the proxy: a node killed while four connections
/// read causes no miss of a key written before the kill.
#[test]
fn with_two_replicas_a_node_killed_under_load_loses_no_read() {
    let mut client = fast_client();
    client.replicas = 2;
    let mut h = Harness::with_proxy(3, client);
    let mut writer = BufReader::new(connect(h.proxy_addr()));
    let keys: Vec<String> = (0..1000).map(|i| format!("replica:{i}")).collect();
    for k in &keys {
        set_self(&mut writer, k, 0);
    }
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let (addr, keys, reads) = (h.proxy_addr(), keys.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut stream = BufReader::new(connect(addr));
                let mut misses = Vec::new();
                for round in 0..6 {
                    for k in keys.iter().skip(t).step_by(4) {
                        if get_line(&mut stream, k).is_none() {
                            misses.push((round, k.clone()));
                        }
                        reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                misses
            })
        })
        .collect();
    // Kill a node once the readers are well under way.
    proxy_support::wait_for("readers under way", proxy_support::DEADLINE, || {
        reads.load(std::sync::atomic::Ordering::Relaxed) >= 1500
    });
    h.kill_node(1);
    let mut misses = Vec::new();
    for r in readers {
        misses.extend(r.join().unwrap());
    }
    assert_eq!(reads.load(std::sync::atomic::Ordering::Relaxed), 6000);
    assert!(
        misses.is_empty(),
        "{} misses: {:?}",
        misses.len(),
        &misses[..misses.len().min(5)]
    );
}
