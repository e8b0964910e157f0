//! `lru_crawler` against Debian's memcached 1.6.18: the same bytes go to
//! both servers (started here on free loopback ports), and the replies must
//! agree.
//!
//! - Refusals and the other subcommands (`BADCLASS`, `NOTSTARTED`, `ERROR`,
//!   `CLIENT_ERROR ...`, `crawl`, `enable`/`disable`, `sleep`, `tocrawl`)
//!   are compared byte for byte through the differential runner.
//! - Dumps list items in each server's own order and carry times and CAS
//!   uniques of their own, so they are compared line by line after sorting
//!   by key: the keys (URL-encoded) must be the same bytes, as must `exp=-1`,
//!   `fetch=`, `cls=` and `size=`; `exp` and `la` times must agree within a
//!   few seconds; CAS uniques must rank the items in the same order. Every
//!   item line ends in a bare `\n` and the dump in `END\r\n` on both.
//!
//! `RINGCACHE_DIFF_AGAINST=memcached` compares memcached with a second
//! memcached, which checks the comparison itself.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod common;
mod ports;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::diff::{case, run_table};
use common::{read_until, subject_kind, Kind, ReadEnd, Server};

/// How long one exchange may take.
const REPLY_DEADLINE: Duration = Duration::from_secs(5);
/// How far apart two servers' clocks may put one event (seconds).
const CLOCK_SLACK: u64 = 3;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn servers() -> (Server, Server) {
    (
        Server::start(Kind::Memcached, &[]),
        Server::start(subject_kind(), &[]),
    )
}

/// Sends `request` on a fresh connection and reads until the reply ends
/// with `end`.
fn exchange(server: &Server, request: &[u8], end: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let done = |b: &[u8]| b.ends_with(end);
    let how = read_until(&mut stream, &mut reply, Some(&done), REPLY_DEADLINE);
    assert_eq!(
        how,
        ReadEnd::Done,
        "{}: {:?} got {:?}",
        server.kind.label(),
        String::from_utf8_lossy(request),
        String::from_utf8_lossy(&reply)
    );
    reply
}

/// Runs `script` (commands, without a barrier) on both servers, followed by
/// `mn` so that every reply is in before the dump.
fn setup(servers: &(Server, Server), script: &[u8]) {
    let mut request = script.to_vec();
    request.extend_from_slice(b"mn\r\n");
    let (a, b) = servers;
    let (ra, rb) = (
        exchange(a, &request, b"MN\r\n"),
        exchange(b, &request, b"MN\r\n"),
    );
    assert_eq!(
        String::from_utf8_lossy(&ra),
        String::from_utf8_lossy(&rb),
        "setup replies differ"
    );
}

/// One dump line, split into its fields.
#[derive(Debug, Clone)]
struct Line {
    /// The key as sent (URL-encoded).
    key: Vec<u8>,
    exp: Option<u64>,
    la: u64,
    cas: u64,
    /// `fetch=`, `cls=`, `size=` as sent.
    exact: String,
}

/// A dump reply by key; checks the framing on the way.
fn parse_dump(server: &Server, reply: &[u8]) -> BTreeMap<Vec<u8>, Line> {
    let label = server.kind.label();
    let body = reply.strip_suffix(b"END\r\n").unwrap_or_else(|| {
        panic!(
            "{label}: no END\\r\\n: {:?}",
            String::from_utf8_lossy(reply)
        )
    });
    let mut lines = BTreeMap::new();
    for raw in body.split_inclusive(|&b| b == b'\n') {
        let text = std::str::from_utf8(raw).unwrap();
        assert!(
            text.ends_with('\n') && !text.ends_with("\r\n"),
            "{label}: an item line must end in a bare \\n: {text:?}"
        );
        let mut fields = BTreeMap::new();
        for field in text.trim_end().split(' ') {
            let (name, value) = field.split_once('=').unwrap();
            fields.insert(name, value);
        }
        let names: Vec<&str> = text
            .trim_end()
            .split(' ')
            .map(|f| f.split('=').next().unwrap())
            .collect();
        assert_eq!(names, ["key", "exp", "la", "cas", "fetch", "cls", "size"]);
        let number = |name: &str| fields[name].parse::<u64>().unwrap();
        let line = Line {
            key: fields["key"].as_bytes().to_vec(),
            exp: (fields["exp"] != "-1").then(|| number("exp")),
            la: number("la"),
            cas: number("cas"),
            exact: format!(
                "fetch={} cls={} size={}",
                fields["fetch"], fields["cls"], fields["size"]
            ),
        };
        assert!(
            lines.insert(line.key.clone(), line).is_none(),
            "{label}: a key twice"
        );
    }
    lines
}

/// Asks both servers for `request` (a dump) and compares what they list.
fn same_dump(servers: &(Server, Server), request: &str) -> BTreeMap<Vec<u8>, Line> {
    let (oracle, subject) = servers;
    let want = parse_dump(oracle, &exchange(oracle, request.as_bytes(), b"\r\n"));
    let got = parse_dump(subject, &exchange(subject, request.as_bytes(), b"\r\n"));
    let keys = |d: &BTreeMap<Vec<u8>, Line>| {
        d.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&got), keys(&want), "{request:?}: keys");
    for (key, w) in &want {
        let g = &got[key];
        let name = String::from_utf8_lossy(key);
        assert_eq!(g.exact, w.exact, "{request:?} {name}");
        match (w.exp, g.exp) {
            (None, None) => {}
            (Some(w), Some(g)) => assert!(w.abs_diff(g) <= CLOCK_SLACK, "{name}: exp {w} vs {g}"),
            (w, g) => panic!("{request:?} {name}: exp {w:?} vs {g:?}"),
        }
        assert!(
            w.la.abs_diff(g.la) <= CLOCK_SLACK,
            "{request:?} {name}: la {} vs {}",
            w.la,
            g.la
        );
    }
    let by_cas = |d: &BTreeMap<Vec<u8>, Line>| {
        let mut keys: Vec<_> = d.values().map(|l| (l.cas, l.key.clone())).collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
    };
    assert_eq!(by_cas(&got), by_cas(&want), "{request:?}: CAS order");
    want
}

#[test]
fn dumps_list_the_same_items() {
    let servers = servers();
    let started = now();
    let absolute = started + 5000;
    let big = "x".repeat(2000);
    let mut script = Vec::new();
    for line in [
        "set plain 0 0 5\r\nhello\r\n".to_string(),
        "set b%20c 0 0 3\r\nabc\r\n".to_string(),
        "set a-b_c.d~e!f*g'h(i)j;k:l@m&n=o+p$q,r/s?t#u[v]w%x\"y<z>0{1}2|3\\4^5`6 0 0 1\r\nx\r\n"
            .to_string(),
        "set flagged 4294967295 0 1\r\nx\r\n".to_string(),
        "set relative 0 1000 1\r\nx\r\n".to_string(),
        format!("set absolute 0 {absolute} 1\r\nx\r\n"),
        format!("set big 0 0 {}\r\n{big}\r\n", big.len()),
        "set read 0 0 1\r\nx\r\nget read\r\n".to_string(),
        "set touched 0 0 1\r\nx\r\ntouch touched 0\r\n".to_string(),
        "set gatted 0 0 1\r\nx\r\ngat 0 gatted\r\n".to_string(),
        "set metaread 0 0 1\r\nx\r\nmg metaread v\r\n".to_string(),
        "set counter 0 0 1\r\n7\r\nincr counter 5\r\n".to_string(),
        "set appended 0 0 1\r\nx\r\nappend appended 0 0 1\r\ny\r\n".to_string(),
        "set deleted 0 0 1\r\nx\r\ndelete deleted\r\n".to_string(),
        "set dead 0 -1 1\r\nx\r\n".to_string(),
        // binary keys are dumped raw, URL-encoded: "foo bar", 00 01 02
        "ms Zm9vIGJhcg== 1 b\r\nx\r\nms AAEC 1 b T100\r\nx\r\n".to_string(),
    ] {
        script.extend_from_slice(line.as_bytes());
    }
    script.extend_from_slice("set ü 0 0 1\r\nx\r\nset d\u{1}e 5 0 1\r\nx\r\n".as_bytes());
    setup(&servers, &script);

    let all = same_dump(&servers, "lru_crawler metadump all\r\n");
    assert_eq!(all.len(), 17, "{:?}", all.keys());
    for (key, line) in [
        (&b"read"[..], "fetch=yes"),
        (b"touched", "fetch=yes"),
        (b"gatted", "fetch=yes"),
        (b"metaread", "fetch=yes"),
        (b"plain", "fetch=no"),
    ] {
        assert!(all[key].exact.starts_with(line), "{:?}", all[key]);
    }
    for key in [
        &b"b%2520c"[..],
        b"foo%20bar",
        b"%00%01%02",
        b"%C3%BC",
        b"d%01e",
    ] {
        assert!(all.contains_key(key), "{:?}", String::from_utf8_lossy(key));
    }
    assert!(all[&b"relative"[..]]
        .exp
        .is_some_and(|t| t.abs_diff(started + 1000) <= CLOCK_SLACK));
    assert!(all[&b"absolute"[..]]
        .exp
        .is_some_and(|t| t.abs_diff(absolute) <= 1));
    assert!(all.values().all(|l| l.la.abs_diff(started) <= CLOCK_SLACK));

    let hash = same_dump(&servers, "lru_crawler metadump hash\r\n");
    assert_eq!(hash.len(), all.len());
    let class_1 = same_dump(&servers, "lru_crawler metadump 1\r\n");
    assert!(!class_1.is_empty() && class_1.len() < all.len());
    assert_eq!(same_dump(&servers, "lru_crawler metadump 15\r\n").len(), 1);
    same_dump(&servers, "lru_crawler metadump 1,15\r\n");
    same_dump(&servers, "lru_crawler metadump 01,+3,\r\n");
    assert!(same_dump(&servers, "lru_crawler metadump 63\r\n").is_empty());
}

#[test]
fn flushed_and_empty() {
    let servers = servers();
    let (oracle, subject) = &servers;
    for server in [oracle, subject] {
        assert_eq!(
            exchange(server, b"lru_crawler metadump all\r\n", b"\r\n"),
            b"END\r\n",
            "{}",
            server.kind.label()
        );
    }
    setup(
        &servers,
        b"set old 0 0 1\r\nx\r\nflush_all\r\nset new 0 0 1\r\nx\r\n",
    );
    let left = same_dump(&servers, "lru_crawler metadump all\r\n");
    assert_eq!(left.keys().collect::<Vec<_>>(), [&b"new".to_vec()]);
}

/// Replies that are one line: byte for byte, through the differential
/// runner. Cases that start a crawl or dump run on servers of their own
/// (two crawls at once on one memcached would make one of them `BUSY`).
#[test]
fn refusals_and_settings_are_memcached_bytes() {
    let one = |name: &str, request: &str| case(name, request).until("\r\n");
    let cases = vec![
        one("bare", "lru_crawler\r\n"),
        one("metadump_no_arg", "lru_crawler metadump\r\n"),
        one("metadump_class_0", "lru_crawler metadump 0\r\n"),
        one("metadump_class_64", "lru_crawler metadump 64\r\n"),
        one("metadump_minus_1", "lru_crawler metadump -1\r\n"),
        one("metadump_minus_0", "lru_crawler metadump -0\r\n"),
        one("metadump_word", "lru_crawler metadump x\r\n"),
        one("metadump_upper", "lru_crawler metadump ALL\r\n"),
        one("metadump_junk_id", "lru_crawler metadump 1x\r\n"),
        one("metadump_one_bad", "lru_crawler metadump 1,x\r\n"),
        one("metadump_one_big", "lru_crawler metadump 1,64\r\n"),
        one("metadump_hash_list", "lru_crawler metadump hash,1\r\n"),
        one("metadump_all_list", "lru_crawler metadump all,1\r\n"),
        one("metadump_no_ids", "lru_crawler metadump ,\r\n"),
        one("metadump_extra", "lru_crawler metadump all extra\r\n"),
        one("metadump_noreply", "lru_crawler metadump all noreply\r\n"),
        one("metadump_case", "lru_crawler Metadump all\r\n"),
        one("mgdump", "lru_crawler mgdump all\r\n"),
        one("unknown_sub", "lru_crawler foo\r\n"),
        one("enable_extra", "lru_crawler enable x\r\n"),
        one("crawl_no_arg", "lru_crawler crawl\r\n"),
        one("crawl_hash", "lru_crawler crawl hash\r\n"),
        one("crawl_class_0", "lru_crawler crawl 0\r\n"),
        one("crawl_word", "lru_crawler crawl x\r\n"),
        one("crawl_no_ids", "lru_crawler crawl ,\r\n"),
        one("sleep_word", "lru_crawler sleep x\r\n"),
        one("sleep_negative", "lru_crawler sleep -1\r\n"),
        one("sleep_too_long", "lru_crawler sleep 1000001\r\n"),
        one("tocrawl_word", "lru_crawler tocrawl x\r\n"),
        // memcached's crawl runs on after its OK: a second one right away
        // is BUSY there (a node has nothing to run), so one crawl a server.
        one("crawl_all", "lru_crawler crawl all\r\n").fresh(),
        one("crawl_list", "lru_crawler crawl 1,2\r\n").fresh(),
        one("settings", "lru_crawler sleep 1000000\r\n")
            .then("lru_crawler tocrawl 4294967297\r\n")
            .until("\r\n")
            .then("stats settings\r\n")
            .until("END\r\n")
            .keep_stats(&["lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl"])
            .fresh(),
        one("enable_twice", "lru_crawler enable\r\n")
            .then("lru_crawler disable\r\n")
            .until("\r\n")
            .then("lru_crawler disable\r\n")
            .until("\r\n")
            .fresh(),
    ];
    run_table("lru_crawler", cases);
}

/// Whether `stats settings` says `lru_crawler <state>`.
fn crawler_is(server: &Server, state: &str) -> bool {
    let reply = exchange(server, b"stats settings\r\n", b"END\r\n");
    let want = format!("STAT lru_crawler {state}\r\n");
    reply.windows(want.len()).any(|w| w == want.as_bytes())
}

/// While the crawler is off, `crawl` and `metadump` are refused; once it is
/// on again they work. memcached's `disable` only asks its crawler thread
/// to stop (until it has, both answer `ERROR an unknown error happened`),
/// so each server is polled until `stats settings` shows it off.
#[test]
fn a_disabled_crawler_refuses() {
    let servers = servers();
    let (oracle, subject) = &servers;
    for server in [oracle, subject] {
        assert_eq!(
            exchange(server, b"lru_crawler disable\r\n", b"\r\n"),
            b"OK\r\n"
        );
        let deadline = std::time::Instant::now() + REPLY_DEADLINE;
        while !crawler_is(server, "no") {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: the crawler did not stop",
                server.kind.label()
            );
        }
    }
    for request in [
        &b"lru_crawler metadump all\r\n"[..],
        b"lru_crawler metadump x\r\n",
        b"lru_crawler crawl all\r\n",
        b"lru_crawler disable\r\n",
        b"lru_crawler sleep 5\r\n",
        b"lru_crawler enable\r\n",
        b"lru_crawler metadump all\r\n",
    ] {
        let want = exchange(oracle, request, b"\r\n");
        let got = exchange(subject, request, b"\r\n");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
    assert!(crawler_is(oracle, "yes") && crawler_is(subject, "yes"));
}
