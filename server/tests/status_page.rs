//! The proxy's status page (`/status` on its `--metrics` port), end to end:
//! three `ringcache node` processes and a `ringcache proxy`, traffic with a
//! known hit ratio, `/status.json` checked over HTTP, and the page itself
//! rendered by headless Chromium (Debian's `chromium`, from `.ci/setup`):
//! it loads, draws every node, and shows the node we kill as ejected.
//!
//! `RINGCACHE_STATUS_SCREENSHOT=path.png` also saves a screenshot of the
//! page with one node ejected (how `docs/status-page.png` was made).

mod ports;

use ports::free_port;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(15);

/// A `ringcache` child process, killed on drop.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ringcache args(ports)` and waits until every address of
/// `ports` accepts; retries on other ports after a lost port race.
fn start(args: impl Fn(&[u16]) -> Vec<String>, nports: usize) -> (Proc, Vec<SocketAddr>) {
    for _ in 0..5 {
        let ports: Vec<u16> = (0..nports).map(|_| free_port()).collect();
        let addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        let child = Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(args(&ports))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ringcache");
        let mut proc = Proc { child };
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if let Ok(Some(_)) = proc.child.try_wait() {
                break;
            }
            if addrs.iter().all(|a| TcpStream::connect(a).is_ok()) {
                return (proc, addrs);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("ringcache did not start");
}

fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn roundtrip(s: &mut TcpStream, request: &[u8], end: &[u8]) -> Vec<u8> {
    s.write_all(request).expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.ends_with(end) {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed");
        reply.extend_from_slice(&buf[..n]);
    }
    reply
}

/// The JSON object of node `name` in `/status.json` (a flat object: the
/// text from its `{` to its `}`).
fn node_json<'a>(json: &'a str, name: &str) -> &'a str {
    let at = json
        .find(&format!("\"name\":\"{name}\""))
        .unwrap_or_else(|| panic!("{name} in {json}"));
    let end = json[at..].find('}').map_or(json.len(), |e| at + e);
    &json[at..end]
}

fn field(object: &str, name: &str) -> String {
    let at = object
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("{name} in {object}"));
    let rest = &object[at + name.len() + 3..];
    rest.split([',', '}'])
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_owned()
}

/// Headless Chromium with a throwaway profile; nothing leaves loopback.
fn chromium(profile: &Path, extra: &[String], url: &str) -> String {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        // Let the page fetch /status.json and draw before the dump.
        "--virtual-time-budget=4000".to_owned(),
    ];
    args.extend(extra.iter().cloned());
    args.push(url.to_owned());
    let output = Command::new("chromium")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("chromium: {e} (run .ci/setup)"));
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `<tr>` of `name` in the page's table, as dumped.
fn row_state(dom: &str, name: &str) -> Option<String> {
    let needle = format!("data-node=\"{name}\"");
    let tag = dom
        .match_indices("<tr ")
        .map(|(i, _)| dom[i..].split('>').next().unwrap_or(""))
        .find(|tag| tag.contains(&needle))?;
    let state = tag.split("data-state=\"").nth(1)?.split('"').next()?;
    Some(state.to_owned())
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn status_page_draws_the_ring_and_shows_an_ejected_node() {
    let started = Instant::now();
    let profile = TempDir(
        std::env::temp_dir().join(format!("ringcache-status-chromium-{}", std::process::id())),
    );
    let mut nodes: Vec<(Proc, SocketAddr)> = (0..3)
        .map(|_| {
            let (p, a) = start(|p| vec!["node".into(), "-p".into(), p[0].to_string()], 1);
            (p, a[0])
        })
        .collect();
    let names: Vec<String> = nodes.iter().map(|(_, a)| a.to_string()).collect();
    let list = names.join(",");
    let (_proxy, addrs) = start(
        |p| {
            vec![
                "proxy".into(),
                "-p".into(),
                p[0].to_string(),
                "--nodes".into(),
                list.clone(),
                "--metrics".into(),
                format!("127.0.0.1:{}", p[1]),
                "-t".into(),
                "1".into(),
            ]
        },
        2,
    );
    let (proxy, http) = (addrs[0], addrs[1]);

    // 30 keys, each read 3 times, and 30 reads of missing keys: 0.75.
    let mut s = TcpStream::connect(proxy).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    for i in 0..30 {
        let set = format!("set k{i} 0 0 1\r\nv\r\n");
        assert_eq!(roundtrip(&mut s, set.as_bytes(), b"\r\n"), b"STORED\r\n");
    }
    for round in 0..4 {
        for i in 0..30 {
            let key = if round < 3 {
                format!("k{i}")
            } else {
                format!("none{i}")
            };
            roundtrip(&mut s, format!("get {key}\r\n").as_bytes(), b"END\r\n");
        }
    }

    let (status, json) = http_get(http, "/status.json");
    assert_eq!(status, "HTTP/1.1 200 OK", "{json}");
    let mut total_share = 0.0;
    let (mut hits, mut gets) = (0.0, 0.0);
    for name in &names {
        let node = node_json(&json, name);
        assert_eq!(field(node, "state"), "up", "{node}");
        let share: f64 = field(node, "share").parse().expect("share");
        assert!(share > 0.1 && share < 0.6, "{node}");
        total_share += share;
        let node_gets: f64 = field(node, "gets").parse().expect("gets");
        hits += field(node, "hit_ratio").parse::<f64>().unwrap_or(0.0) * node_gets;
        gets += node_gets;
    }
    assert!((total_share - 1.0).abs() < 1e-4, "{json}");
    assert_eq!(gets, 120.0, "{json}");
    assert!((hits / gets - 0.75).abs() < 1e-4, "{json}");

    // The page, rendered: every node drawn on the ring and listed, all up.
    let url = format!("http://{http}/status");
    let dom = chromium(&profile.0, &["--dump-dom".to_owned()], &url);
    assert!(dom.contains("<svg id=\"ring\""), "{dom}");
    for name in &names {
        assert!(
            dom.contains(&format!("<g class=\"node up\" data-node=\"{name}\"")),
            "{name} drawn in {dom}"
        );
        assert_eq!(row_state(&dom, name).as_deref(), Some("up"), "{dom}");
    }
    assert!(dom.contains("3/3"), "{dom}");
    assert!(!dom.contains("ejected\" data-node"), "{dom}");

    // Kill the second node; reads of its keys fail until the proxy ejects it.
    let victim = names[1].clone();
    drop(nodes.remove(1));
    let deadline = Instant::now() + DEADLINE;
    loop {
        for i in 0..30 {
            roundtrip(&mut s, format!("get k{i}\r\n").as_bytes(), b"END\r\n");
        }
        let (_, json) = http_get(http, "/status.json");
        if field(node_json(&json, &victim), "state") == "ejected" {
            break;
        }
        assert!(Instant::now() < deadline, "{victim} never ejected: {json}");
    }

    let dom = chromium(&profile.0, &["--dump-dom".to_owned()], &url);
    assert!(
        dom.contains(&format!("<g class=\"node ejected\" data-node=\"{victim}\"")),
        "{dom}"
    );
    assert_eq!(row_state(&dom, &victim).as_deref(), Some("ejected"));
    for name in names.iter().filter(|n| **n != victim) {
        assert_eq!(row_state(&dom, name).as_deref(), Some("up"), "{dom}");
    }
    assert!(dom.contains("2/3"), "{dom}");

    if let Ok(path) = std::env::var("RINGCACHE_STATUS_SCREENSHOT") {
        let path = std::path::absolute(&path).expect("a path");
        chromium(
            &profile.0,
            &[
                format!("--screenshot={}", path.display()),
                "--window-size=1440,760".to_owned(),
                "--hide-scrollbars".to_owned(),
            ],
            &url,
        );
        assert!(path.exists(), "no screenshot at {}", path.display());
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}
