//! The proxy's status page (`/status` on its `--metrics` port), end to end:
//! three `ringcache node` processes and a `ringcache proxy`, traffic with a
//! known hit ratio, `/status.json` checked over HTTP, and the page itself
//! in headless Chromium (Debian's `chromium`, from `.ci/setup`): it loads,
//! draws every node, and then, with the same page left open, shows the
//! node we kill as ejected by its own refresh (no reload).
//!
//! The open page is read over the Chrome DevTools protocol: Chromium picks
//! a loopback port (`--remote-debugging-port=0`, announced in
//! `DevToolsActivePort` in its profile) and the test evaluates
//! `document.documentElement.outerHTML` through a WebSocket, written here
//! with std only (a text frame out, a text frame back): no browser driver
//! crate, and no fixed sleep: every wait polls its condition until a
//! deadline. The page shows the ejection within about a second (its
//! refresh period) of the proxy's; the whole test takes 2-4 s.
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

/// `GET path` with `Connection: close`: the status line and the body
/// (`Content-Length` bytes when the server says how many: Chromium's
/// DevTools server keeps the connection open).
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let head = read_head(&mut s);
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let body = match length {
        Some(n) => {
            let mut body = vec![0u8; n];
            s.read_exact(&mut body).expect("read body");
            body
        }
        None => {
            let mut body = Vec::new();
            s.read_to_end(&mut body).expect("read body");
            body
        }
    };
    (
        head.lines().next().unwrap_or("").to_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Reads an HTTP response head, up to and including the blank line, one
/// byte at a time so that nothing after it is consumed.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("read head");
        head.push(byte[0]);
        assert!(head.len() < 16 * 1024, "head too long");
    }
    String::from_utf8_lossy(&head).into_owned()
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

/// Flags of every headless Chromium here: a throwaway profile, nothing
/// leaves loopback.
fn chromium_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]
    .iter()
    .map(|flag| (*flag).to_owned())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// One headless Chromium run on a fresh load of `url` (for the
/// screenshot).
fn chromium(profile: &Path, extra: &[String], url: &str) -> String {
    let mut args = chromium_args(profile);
    // Let the page fetch /status.json and draw before the capture.
    args.push("--virtual-time-budget=4000".to_owned());
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

/// A Chromium process: SIGTERM on drop (it then stops its renderers),
/// SIGKILL if it is still there after a deadline.
struct Browser {
    child: Child,
    log: PathBuf,
}

impl Browser {
    /// The last lines Chromium wrote to stderr, for a failure message.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page kept open in headless Chromium and read over the DevTools
/// protocol: `Runtime.evaluate` sent over the page's WebSocket.
struct LivePage {
    ws: TcpStream,
    next_id: u64,
    browser: Browser,
}

impl LivePage {
    /// Starts Chromium on `url` and connects to that page's target.
    fn open(profile: &Path, url: &str) -> LivePage {
        std::fs::create_dir_all(profile).expect("profile dir");
        let port_file = profile.join("DevToolsActivePort");
        let _ = std::fs::remove_file(&port_file);
        let log = profile.join("chromium.log");
        let mut args = chromium_args(profile);
        args.extend(
            [
                "--remote-debugging-port=0",
                // The page's setTimeout loop is what is under test: keep
                // Chromium from slowing timers of a page it thinks unseen.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                url,
            ]
            .map(str::to_owned),
        );
        let child = Command::new("chromium")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("chromium: {e} (run .ci/setup)"));
        let mut browser = Browser { child, log };

        // `DevToolsActivePort`: the port on the first line, the browser
        // target's path on the second (written once both are known).
        let deadline = Instant::now() + DEADLINE;
        let port = loop {
            if let Ok(Some(status)) = browser.child.try_wait() {
                panic!("chromium exited ({status}): {}", browser.log());
            }
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(port), Some(_)) = (lines.next(), lines.next()) {
                break port.parse::<u16>().expect("a port in DevToolsActivePort");
            }
            assert!(
                Instant::now() < deadline,
                "no DevTools port: {}",
                browser.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let devtools = SocketAddr::from(([127, 0, 0, 1], port));

        // The page's target: the `page` of `/json/list` showing `url`.
        let path = loop {
            let (_, list) = http_get(devtools, "/json/list");
            let list = list.replace("\": \"", "\":\"");
            let target = list.split('}').find(|t| {
                t.contains("\"type\":\"page\"") && t.contains(&format!("\"url\":\"{url}\""))
            });
            let path = target.and_then(|t| {
                let ws = t.split("\"webSocketDebuggerUrl\":\"ws://").nth(1)?;
                let ws = ws.split('"').next()?;
                Some(ws[ws.find('/')?..].to_owned())
            });
            if let Some(path) = path {
                break path;
            }
            assert!(
                Instant::now() < deadline,
                "no page target for {url}: {list}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };

        let mut ws = TcpStream::connect(devtools).expect("connect to DevTools");
        ws.set_read_timeout(Some(DEADLINE)).expect("timeout");
        ws.set_nodelay(true).expect("nodelay");
        // Any 16 bytes, base64: the reply's accept hash is not checked.
        write!(
            ws,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: cmluZ2NhY2hlIHN0YXR1cw==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("write upgrade");
        let head = read_head(&mut ws);
        assert!(head.starts_with("HTTP/1.1 101"), "no WebSocket: {head}");
        LivePage {
            ws,
            next_id: 1,
            browser,
        }
    }

    /// `String(expression)` evaluated in the page.
    fn evaluate(&mut self, expression: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let request = format!(
            "{{\"id\":{id},\"method\":\"Runtime.evaluate\",\"params\":\
             {{\"expression\":{},\"returnByValue\":true}}}}",
            json_string(&format!("String(({expression}))"))
        );
        ws_send(&mut self.ws, request.as_bytes());
        // Replies carry their id; the domains that send events are never
        // enabled, but skip anything else all the same.
        let reply = loop {
            let message = ws_receive(&mut self.ws);
            if message.contains(&format!("\"id\":{id},"))
                || message.ends_with(&format!("\"id\":{id}}}"))
            {
                break message;
            }
        };
        assert!(
            !reply.contains("\"exceptionDetails\""),
            "{expression} threw: {reply}"
        );
        let at = reply
            .find("\"value\":\"")
            .unwrap_or_else(|| panic!("no string from {expression}: {reply}"));
        json_unescape(&reply[at + "\"value\":\"".len()..])
    }

    /// The page's DOM once `ready` holds of it, polled until the deadline.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            // (No document element for a moment while the page loads.)
            let dom = self.evaluate("document.documentElement?.outerHTML ?? ''");
            if ready(&dom) {
                return dom;
            }
            if Instant::now() > deadline {
                panic!(
                    "the page never showed {what}; last DOM:\n{dom}\nchromium: {}",
                    self.browser.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends one masked text frame (RFC 6455 §5.2; a client must mask).
fn ws_send(s: &mut TcpStream, payload: &[u8]) {
    let mask = [0x72, 0x69, 0x6e, 0x67];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    s.write_all(&frame).expect("write frame");
}

/// Reads one whole message (continuation frames joined); answers pings.
fn ws_receive(s: &mut TcpStream) -> String {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).expect("read frame");
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                s.read_exact(&mut n).expect("read length");
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                s.read_exact(&mut n).expect("read length");
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        assert!(len < 64 << 20, "a {len}-byte frame");
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            s.read_exact(&mut mask).expect("read mask");
        }
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).expect("read payload");
        for (b, m) in payload.iter_mut().zip(mask.iter().cycle()) {
            *b ^= m;
        }
        match opcode {
            0x8 => panic!("DevTools closed the WebSocket"),
            0x9 => {
                // Pong (masked, like every client frame), then read on.
                let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                s.write_all(&pong).expect("write pong");
            }
            0xa => {}
            _ => {
                message.extend_from_slice(&payload);
                if fin {
                    return String::from_utf8_lossy(&message).into_owned();
                }
            }
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JSON string whose body starts `text` (after its opening quote),
/// unescaped, up to its closing quote.
fn json_unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    let hex = |chars: &mut std::str::Chars<'_>| {
        let digits: String = chars.by_ref().take(4).collect();
        u32::from_str_radix(&digits, 16).unwrap_or(0xfffd)
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let mut code = hex(&mut chars);
                    if (0xd800..0xdc00).contains(&code) && chars.as_str().starts_with("\\u") {
                        chars.nth(1);
                        let low = hex(&mut chars);
                        code =
                            0x10000 + ((code - 0xd800) << 10) + (low.wrapping_sub(0xdc00) & 0x3ff);
                    }
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("an unterminated JSON string: {text}")
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

    // The page, open in Chromium from here on: every node drawn on the
    // ring and listed, all up.
    let url = format!("http://{http}/status");
    let mut page = LivePage::open(&profile.0, &url);
    let dom = page.wait_for("three nodes up", |dom| {
        dom.contains("3/3")
            && names.iter().all(|name| {
                dom.contains(&format!("<g class=\"node up\" data-node=\"{name}\""))
                    && row_state(dom, name).as_deref() == Some("up")
            })
    });
    assert!(dom.contains("<svg id=\"ring\""), "{dom}");
    assert!(!dom.contains("ejected\" data-node"), "{dom}");
    // A mark that a reload would wipe, and the time of the draw.
    let drawn_at =
        page.evaluate("window.ringcacheTest = 'still open', document.body.dataset.updated");
    let loaded_at = page.evaluate("performance.timeOrigin");

    // Kill the second node; reads of its keys fail until the proxy ejects it.
    let victim = names[1].clone();
    drop(nodes.remove(1));
    let killed = Instant::now();
    let deadline = killed + DEADLINE;
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
    let ejected = Instant::now();

    // The same page shows it by itself: its own fetch of /status.json
    // every second redraws the ring and the table.
    let dom = page.wait_for("the killed node ejected", |dom| {
        dom.contains(&format!("<g class=\"node ejected\" data-node=\"{victim}\""))
            && row_state(dom, &victim).as_deref() == Some("ejected")
            && dom.contains("2/3")
    });
    let shown = Instant::now();
    for name in names.iter().filter(|n| **n != victim) {
        assert_eq!(row_state(&dom, name).as_deref(), Some("up"), "{dom}");
    }
    assert_eq!(
        page.evaluate("window.ringcacheTest"),
        "still open",
        "reloaded"
    );
    assert_eq!(
        page.evaluate("performance.timeOrigin"),
        loaded_at,
        "reloaded"
    );
    let updated_at = page.evaluate("document.body.dataset.updated");
    assert!(
        updated_at.parse::<u64>().expect("a time") > drawn_at.parse::<u64>().expect("a time"),
        "{drawn_at} then {updated_at}"
    );
    eprintln!(
        "status page: proxy ejected {victim} {:?} after the kill; the open page showed it {:?} later",
        ejected - killed,
        shown - ejected
    );
    drop(page);

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
