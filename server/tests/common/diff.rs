//! The differential runner: a case is a list of request steps; each case is
//! played on fresh connections to memcached (the oracle) and to the subject,
//! both transcripts are normalised, and they must be equal.
//!
//! Normalisation removes only what legitimately differs between two correct
//! servers:
//! - CAS uniques become `c1`, `c2`, ... in order of first appearance within the
//!   case (gets/gats `VALUE` lines, the meta `c` return flag, `me`'s `cas=`), so
//!   their relations are compared, not their digits;
//! - the meta `t` (remaining TTL) and `l` (seconds since last access) flags and
//!   `me`'s `exp=`/`la=` compare within ±1 s;
//! - `VERSION <anything>` compares as `VERSION <version>`;
//! - `STAT name value` compares by name only, unless the case names the stats
//!   whose values it keeps (`keep_stats`);
//! - `me`'s `cls=` and `size=` (memcached's slab class and item footprint) compare
//!   by name only.
//!
//! A request may say `$K` for the case's own key (its name, so cases sharing a
//! server never touch each other's keys) and `$CAS1`..`$CAS9` for the n-th
//! distinct CAS unique this server has returned so far in the case.

use super::{read_until, subject_kind, Kind, ReadEnd, Server};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// How long one step waits for its reply end.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// How many cases of one table run at once.
const PARALLEL_CASES: usize = 6;
/// Where the grouped mismatches go, for whoever fixes the node.
const REPORT: &str = "/tmp/diff-report.txt";
const BARRIER: &[u8] = b"mn\r\n";
const BARRIER_REPLY: &[u8] = b"MN\r\n";

/// How the reply to a step is known to be complete.
#[derive(Clone, Debug)]
pub(crate) enum Term {
    /// Append `mn\r\n` and read until the reply ends with `MN\r\n` (as many as
    /// the request itself holds `mn` lines, plus one).
    Barrier,
    /// The server is expected to close: read until EOF.
    Eof,
    /// Read until the reply ends with these bytes (no barrier is sent).
    Suffix(Vec<u8>),
    /// Shut down the client's sending side after the request (a client that
    /// is done), then read until the server closes.
    HalfClose,
}

/// How the request bytes of a step are written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Split {
    /// One write.
    Whole,
    /// One byte per write, with a short pause between writes.
    Bytewise,
    /// Two writes, split before byte `n`, with a pause between them.
    At(usize),
    /// Writes of `n` bytes each, with a short pause between them.
    Chunks(usize),
}

#[derive(Clone, Debug)]
pub(crate) enum Step {
    Send {
        bytes: Vec<u8>,
        term: Term,
        split: Split,
    },
    Sleep(Duration),
    /// Drop the connection and open a new one.
    Reconnect,
}

/// Which `STAT` values survive normalisation.
#[derive(Clone, Debug)]
pub(crate) enum Stats {
    NamesOnly,
    Keep(Vec<&'static str>),
}

#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) steps: Vec<Step>,
    /// Needs servers of its own (flush_all, stats values, global settings).
    pub(crate) fresh: bool,
    pub(crate) stats: Stats,
    /// Extra flags for both servers (implies servers of its own).
    pub(crate) args: Vec<&'static str>,
}

/// A case that sends `request` followed by the `mn` barrier.
pub(crate) fn case(name: &str, request: impl AsRef<[u8]>) -> Case {
    assert!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "case names are keys: [A-Za-z0-9_] only, got {name:?}"
    );
    Case {
        name: name.to_string(),
        steps: vec![Step::Send {
            bytes: request.as_ref().to_vec(),
            term: Term::Barrier,
            split: Split::Whole,
        }],
        fresh: false,
        stats: Stats::NamesOnly,
        args: Vec::new(),
    }
}

impl Case {
    /// Another request on the same connection, barrier-terminated.
    pub(crate) fn then(mut self, request: impl AsRef<[u8]>) -> Case {
        self.steps.push(Step::Send {
            bytes: request.as_ref().to_vec(),
            term: Term::Barrier,
            split: Split::Whole,
        });
        self
    }

    /// The last request makes the server close the connection.
    pub(crate) fn closes(mut self) -> Case {
        self.set_last_term(Term::Eof);
        self
    }

    /// The client shuts down its sending side after the last request.
    pub(crate) fn half_close(mut self) -> Case {
        self.set_last_term(Term::HalfClose);
        self
    }

    /// The last request's reply ends with `suffix` (no barrier is sent).
    pub(crate) fn until(mut self, suffix: impl AsRef<[u8]>) -> Case {
        self.set_last_term(Term::Suffix(suffix.as_ref().to_vec()));
        self
    }

    pub(crate) fn split(mut self, how: Split) -> Case {
        match self.steps.last_mut() {
            Some(Step::Send { split, .. }) => *split = how,
            _ => panic!("{}: split() needs a request step before it", self.name),
        }
        self
    }

    pub(crate) fn sleep_ms(mut self, ms: u64) -> Case {
        self.steps.push(Step::Sleep(Duration::from_millis(ms)));
        self
    }

    pub(crate) fn reconnect(mut self) -> Case {
        self.steps.push(Step::Reconnect);
        self
    }

    pub(crate) fn fresh(mut self) -> Case {
        self.fresh = true;
        self
    }

    /// Runs on servers of its own started with these extra flags.
    pub(crate) fn server_args(mut self, args: &[&'static str]) -> Case {
        self.fresh = true;
        self.args = args.to_vec();
        self
    }

    pub(crate) fn keep_stats(mut self, names: &[&'static str]) -> Case {
        self.stats = Stats::Keep(names.to_vec());
        self
    }

    fn set_last_term(&mut self, new: Term) {
        match self.steps.last_mut() {
            Some(Step::Send { term, .. }) => *term = new,
            _ => panic!("{}: needs a request step before it", self.name),
        }
    }
}

/// One server's side of a played case.
#[derive(Default)]
struct Transcript {
    /// Per step: the bytes sent (after substitution) and the raw reply.
    steps: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A piece of a normalised transcript.
#[derive(Clone, Debug)]
enum Piece {
    Lit(Vec<u8>),
    /// A time value compared within ±1.
    Fuzzy(&'static str, i64),
}

#[derive(Default)]
struct Normaliser {
    cas: HashMap<Vec<u8>, usize>,
    cas_raw: Vec<Vec<u8>>,
    out: Vec<Piece>,
}

impl Normaliser {
    fn lit(&mut self, bytes: &[u8]) {
        if let Some(Piece::Lit(last)) = self.out.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.out.push(Piece::Lit(bytes.to_vec()));
        }
    }

    fn cas_token(&mut self, prefix: &[u8], digits: &[u8]) {
        let next = self.cas.len() + 1;
        let n = *self.cas.entry(digits.to_vec()).or_insert_with(|| {
            self.cas_raw.push(digits.to_vec());
            next
        });
        self.lit(prefix);
        self.lit(format!("<cas{n}>").as_bytes());
    }

    fn fuzzy(&mut self, prefix: &[u8], tag: &'static str, value: &[u8]) {
        match std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(v) => {
                self.lit(prefix);
                self.out.push(Piece::Fuzzy(tag, v));
            }
            None => {
                self.lit(prefix);
                self.lit(value);
            }
        }
    }

    /// Normalises one step's reply.
    fn feed(&mut self, reply: &[u8], stats: &Stats) {
        let mut rest = reply;
        while !rest.is_empty() {
            let (line, nl, after) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i..=i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..], &rest[rest.len()..]),
            };
            let (line, cr) = match line.strip_suffix(b"\r") {
                Some(l) => (l, &b"\r"[..]),
                None => (line, &b""[..]),
            };
            let data_len = self.line(line, stats);
            self.lit(cr);
            self.lit(nl);
            rest = after;
            if let Some(n) = data_len {
                let take = (n + 2).min(rest.len());
                self.lit(&rest[..take]);
                rest = &rest[take..];
            }
        }
    }

    /// Normalises one reply line; returns the length of the data block that
    /// follows it, if any.
    fn line(&mut self, line: &[u8], stats: &Stats) -> Option<usize> {
        let tokens: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let num = |t: &[u8]| -> Option<usize> { std::str::from_utf8(t).ok()?.parse().ok() };
        match tokens[0] {
            b"VALUE" if tokens.len() >= 4 => {
                let n = num(tokens[3]);
                for (i, t) in tokens.iter().enumerate() {
                    if i > 0 {
                        self.lit(b" ");
                    }
                    if i == 4 && is_digits(t) {
                        self.cas_token(b"", t);
                    } else {
                        self.lit(t);
                    }
                }
                n
            }
            b"VA" | b"HD" | b"EN" | b"NF" | b"NS" | b"EX" if tokens[0] == line || flags(line) => {
                let n = if tokens[0] == b"VA" && tokens.len() >= 2 {
                    num(tokens[1])
                } else {
                    None
                };
                for (i, t) in tokens.iter().enumerate() {
                    if i > 0 {
                        self.lit(b" ");
                    }
                    let is_flag = i > 0 && !(tokens[0] == b"VA" && i == 1);
                    match t.split_first() {
                        Some((b'c', d)) if is_flag && is_digits(d) => self.cas_token(b"c", d),
                        Some((b't', d)) if is_flag && is_digits(d) => self.fuzzy(b"t", "t", d),
                        Some((b'l', d)) if is_flag && is_digits(d) => self.fuzzy(b"l", "l", d),
                        _ => self.lit(t),
                    }
                }
                n
            }
            b"ME" if tokens.len() >= 2 => {
                self.lit(b"ME ");
                self.lit(tokens[1]);
                for t in &tokens[2..] {
                    self.lit(b" ");
                    match t.iter().position(|&b| b == b'=') {
                        Some(eq) => {
                            let (k, v) = (&t[..=eq], &t[eq + 1..]);
                            match k {
                                b"cas=" if is_digits(v) => self.cas_token(k, v),
                                b"exp=" if v != b"-1" => self.fuzzy(k, "exp", v),
                                b"la=" => self.fuzzy(k, "la", v),
                                b"cls=" | b"size=" => {
                                    self.lit(k);
                                    self.lit(b"#");
                                }
                                _ => self.lit(t),
                            }
                        }
                        None => self.lit(t),
                    }
                }
                None
            }
            b"VERSION" if tokens.len() >= 2 => {
                self.lit(b"VERSION <version>");
                None
            }
            b"STAT" if tokens.len() >= 3 => {
                self.lit(b"STAT ");
                self.lit(tokens[1]);
                let keep = match stats {
                    Stats::NamesOnly => false,
                    Stats::Keep(names) => names.iter().any(|n| n.as_bytes() == tokens[1]),
                };
                if keep {
                    self.lit(b" ");
                    self.lit(&line[5 + tokens[1].len() + 1..]);
                } else {
                    self.lit(b" <value>");
                }
                None
            }
            _ => {
                self.lit(line);
                None
            }
        }
    }
}

/// A meta reply line is a two-letter code followed by flag tokens.
fn flags(line: &[u8]) -> bool {
    line.len() > 3 && line[2] == b' '
}

fn is_digits(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(u8::is_ascii_digit)
}

fn normalise(t: &Transcript, stats: &Stats) -> Vec<Piece> {
    let mut n = Normaliser::default();
    for (i, (_, reply)) in t.steps.iter().enumerate() {
        n.lit(format!("[step {}]\n", i + 1).as_bytes());
        n.feed(reply, stats);
    }
    n.out
}

fn same(a: &[Piece], b: &[Piece]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Piece::Lit(x), Piece::Lit(y)) => x == y,
            (Piece::Fuzzy(tx, x), Piece::Fuzzy(ty, y)) => tx == ty && (x - y).abs() <= 1,
            _ => false,
        })
}

/// Escapes bytes for a failure message: `\r` and `\n` are shown, a newline
/// is kept after `\n` for readability, long lines and long transcripts are cut.
pub(crate) fn escape(bytes: &[u8]) -> String {
    const MAX_LINE: usize = 300;
    const MAX: usize = 16 * 1024;
    let mut s = String::new();
    let mut line_len = 0;
    let mut cut = 0usize;
    for &b in bytes {
        if s.len() >= MAX {
            let _ = write!(s, "...(cut: {} bytes in all)", bytes.len());
            return s;
        }
        if b == b'\n' {
            if cut > 0 {
                let _ = write!(s, "...({cut} more bytes)");
                cut = 0;
            }
            s.push_str("\\n\n");
            line_len = 0;
            continue;
        }
        if line_len >= MAX_LINE {
            cut += 1;
            continue;
        }
        line_len += 1;
        match b {
            b'\r' => s.push_str("\\r"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    if cut > 0 {
        let _ = write!(s, "...({cut} more bytes)");
    }
    s
}

/// The first line where two rendered transcripts differ, as
/// `(line number, memcached's line, the subject's line)`.
fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    (0..la.len().max(lb.len())).find_map(|i| {
        let (x, y) = (la.get(i).copied(), lb.get(i).copied());
        (x != y).then(|| {
            (
                i + 1,
                x.unwrap_or("<nothing>").to_string(),
                y.unwrap_or("<nothing>").to_string(),
            )
        })
    })
}

fn render(pieces: &[Piece]) -> String {
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Lit(b) => s.push_str(&escape(b)),
            Piece::Fuzzy(tag, v) => {
                let _ = write!(s, "<{tag}~{v}>");
            }
        }
    }
    s
}

/// Replaces `$K` and `$CASn` in a request.
fn substitute(request: &[u8], key: &[u8], cas_raw: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len());
    let mut i = 0;
    while i < request.len() {
        if request[i..].starts_with(b"$CAS") && i + 4 < request.len() {
            let d = request[i + 4];
            if d.is_ascii_digit() && d != b'0' {
                let n = usize::from(d - b'0');
                match cas_raw.get(n - 1) {
                    Some(raw) => out.extend_from_slice(raw),
                    // No such CAS yet: send something no server issued.
                    None => out.extend_from_slice(b"999999999999"),
                }
                i += 5;
                continue;
            }
        }
        if request[i..].starts_with(b"$K") {
            out.extend_from_slice(key);
            i += 2;
            continue;
        }
        out.push(request[i]);
        i += 1;
    }
    out
}

/// How many `mn` commands (with or without arguments) a request holds, so
/// the barrier read waits for all their `MN`s plus its own.
fn count_mn_lines(request: &[u8]) -> usize {
    request
        .split(|&b| b == b'\n')
        .filter(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            l == b"mn" || l.starts_with(b"mn ")
        })
        .count()
}

fn write_split(stream: &mut TcpStream, bytes: &[u8], split: Split) -> bool {
    let pause = Duration::from_millis(2);
    let ok = match split {
        Split::Whole => stream.write_all(bytes).is_ok(),
        Split::Bytewise => bytes.iter().all(|b| {
            let ok = stream.write_all(std::slice::from_ref(b)).is_ok();
            thread::sleep(Duration::from_micros(500));
            ok
        }),
        Split::Chunks(n) => bytes.chunks(n.max(1)).all(|c| {
            let ok = stream.write_all(c).is_ok();
            thread::sleep(Duration::from_micros(300));
            ok
        }),
        Split::At(n) => {
            let n = n.min(bytes.len());
            let first = stream.write_all(&bytes[..n]).is_ok();
            thread::sleep(pause);
            first && stream.write_all(&bytes[n..]).is_ok()
        }
    };
    let _ = stream.flush();
    ok
}

/// Plays `case` on `server`.
fn play(case: &Case, server: &Server) -> Transcript {
    let mut t = Transcript::default();
    let mut stream = server.connect();
    // The CAS uniques seen so far, in order of first appearance, for `$CASn`.
    let mut seen = Normaliser::default();
    for step in &case.steps {
        match step {
            Step::Sleep(d) => thread::sleep(*d),
            Step::Reconnect => stream = server.connect(),
            Step::Send { bytes, term, split } => {
                let request = substitute(bytes, case.name.as_bytes(), &seen.cas_raw);
                let mut reply = Vec::new();
                let mut wrote = write_split(&mut stream, &request, *split);
                let end = match term {
                    Term::Barrier => {
                        wrote = wrote && stream.write_all(BARRIER).is_ok();
                        let want = count_mn_lines(&request) + 1;
                        let done = move |b: &[u8]| {
                            b.ends_with(BARRIER_REPLY)
                                && b.windows(4).filter(|w| *w == BARRIER_REPLY).count() >= want
                        };
                        read_until(&mut stream, &mut reply, Some(&done), STEP_TIMEOUT)
                    }
                    Term::Eof => read_until(&mut stream, &mut reply, None, STEP_TIMEOUT),
                    Term::HalfClose => {
                        let _ = stream.shutdown(std::net::Shutdown::Write);
                        read_until(&mut stream, &mut reply, None, STEP_TIMEOUT)
                    }
                    Term::Suffix(suffix) => {
                        let done = |b: &[u8]| b.ends_with(suffix);
                        read_until(&mut stream, &mut reply, Some(&done), STEP_TIMEOUT)
                    }
                };
                if !wrote {
                    reply.extend_from_slice(b"<write failed>");
                }
                match (end, term) {
                    (ReadEnd::Done, _) => {}
                    (ReadEnd::Closed, _) => reply.extend_from_slice(b"<closed>"),
                    (ReadEnd::TimedOut, Term::Eof | Term::HalfClose) => {
                        reply.extend_from_slice(b"<timed out: connection still open>")
                    }
                    (ReadEnd::TimedOut, _) => reply.extend_from_slice(b"<timed out>"),
                }
                seen.feed(&reply, &case.stats);
                t.steps.push((request, reply));
            }
        }
    }
    t
}

/// The outcome of one case.
pub(crate) struct Mismatch {
    pub(crate) name: String,
    /// The first differing line of both sides: cases are grouped by it.
    pub(crate) signature: String,
    pub(crate) text: String,
}

fn run_case(case: &Case, oracle: &Server, subject: &Server) -> Option<Mismatch> {
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| play(case, oracle));
        let b = s.spawn(|| play(case, subject));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (na, nb) = (normalise(&a, &case.stats), normalise(&b, &case.stats));
    dump(case, &a, &na);
    if same(&na, &nb) {
        return None;
    }
    let mut text = String::new();
    let _ = writeln!(text, "=== case {} ===", case.name);
    for (i, (req, _)) in a.steps.iter().enumerate() {
        let _ = writeln!(text, "--- request, step {} ---\n{}", i + 1, escape(req));
    }
    let (ra, rb) = (render(&na), render(&nb));
    let signature = match first_difference(&ra, &rb) {
        Some((line, x, y)) => {
            let _ = writeln!(
                text,
                "first difference at line {line}:\n  memcached: {x}\n  {}: {y}",
                subject.kind.label()
            );
            // Coarse enough that one missing feature makes one group: the
            // oracle's reply code only, the subject's whole line.
            let code = x.split(' ').next().unwrap_or_default();
            let more = if code.len() < x.len() { " ..." } else { "" };
            format!("memcached `{code}{more}` / {} `{y}`", subject.kind.label())
        }
        None => {
            text.push_str(
                "the rendered transcripts are equal: a time value differs by more than 1 s\n",
            );
            String::from("a time value differs by more than 1 s")
        }
    };
    let _ = writeln!(
        text,
        "--- memcached (normalised) ---\n{ra}\n--- {} (normalised) ---\n{rb}",
        subject.kind.label(),
    );
    let raw = |t: &Transcript| {
        t.steps
            .iter()
            .map(|(_, r)| escape(r))
            .collect::<Vec<_>>()
            .join("\n[next step]\n")
    };
    let _ = writeln!(
        text,
        "--- memcached (raw) ---\n{}\n--- {} (raw) ---\n{}",
        raw(&a),
        subject.kind.label(),
        raw(&b)
    );
    Some(Mismatch {
        name: case.name.clone(),
        signature,
        text,
    })
}

/// With `RINGCACHE_DIFF_DUMP=FILE`, appends every case's oracle transcript to
/// FILE: the way to read what memcached answers when writing a case.
fn dump(case: &Case, t: &Transcript, norm: &[Piece]) {
    let Ok(path) = std::env::var("RINGCACHE_DIFF_DUMP") else {
        return;
    };
    let mut text = format!("=== {} ===\n", case.name);
    for (i, (req, _)) in t.steps.iter().enumerate() {
        let _ = writeln!(text, "> step {}: {}", i + 1, escape(req));
    }
    let _ = writeln!(text, "< {}\n", render(norm));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Runs a table of cases against memcached and the subject, reports every
/// mismatch (in the panic message and in the report file), and fails if any.
pub(crate) fn run_table(area: &str, cases: Vec<Case>) {
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            names.insert(c.name.clone()),
            "duplicate case name {}",
            c.name
        );
    }
    let kind = subject_kind();
    let oracle = Server::start(Kind::Memcached, &[]);
    let subject = Server::start(kind, &[]);
    let next = Mutex::new(0usize);
    let mismatches = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..PARALLEL_CASES.min(cases.len()) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(case) = cases.get(i) else { break };
                let result = if case.fresh {
                    let o = Server::start(Kind::Memcached, &case.args);
                    let s = Server::start(kind, &case.args);
                    run_case(case, &o, &s)
                } else {
                    run_case(case, &oracle, &subject)
                };
                if let Some(m) = result {
                    mismatches.lock().unwrap().push((i, m));
                }
            });
        }
    });
    let mut mismatches = mismatches.into_inner().unwrap();
    mismatches.sort_by_key(|(i, _)| *i);
    let total = cases.len();
    let failed = mismatches.len();
    let mut text = format!(
        "## {area}: {failed} of {total} cases differ (memcached vs {})\n",
        kind.label()
    );
    if failed > 0 {
        let _ = writeln!(
            text,
            "failing: {}\n",
            mismatches
                .iter()
                .map(|(_, m)| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Grouped by the first differing line, biggest group first: one
        // missing feature usually explains a whole group.
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for (_, m) in &mismatches {
            match groups.iter_mut().find(|(sig, _)| *sig == m.signature) {
                Some((_, names)) => names.push(&m.name),
                None => groups.push((&m.signature, vec![&m.name])),
            }
        }
        groups.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
        text.push_str("grouped by first differing line:\n");
        for (sig, names) in &groups {
            let _ = writeln!(
                text,
                "- {} case(s): {sig}\n    {}",
                names.len(),
                names.join(", ")
            );
        }
        text.push('\n');
        for (_, m) in &mismatches {
            text.push_str(&m.text);
            text.push('\n');
        }
    }
    // The report is for whoever fixes the node: a harness check
    // (memcached against memcached) must not overwrite it.
    if kind == Kind::Ringcache {
        report(area, &text);
    }
    assert!(failed == 0, "{text}");
}

/// Rewrites the report file with this area's section (sections of the other
/// areas of this run are kept, those of earlier runs dropped).
fn report(area: &str, text: &str) {
    static SECTIONS: OnceLock<Mutex<Vec<(String, String)>>> = OnceLock::new();
    let sections = SECTIONS.get_or_init(|| Mutex::new(Vec::new()));
    let mut sections = sections.lock().unwrap();
    sections.retain(|(a, _)| a != area);
    sections.push((area.to_string(), text.to_string()));
    sections.sort();
    let mut all = String::from(
        "ringcache differential report (server/tests/differential.rs)\n\
         Each area lists its failing cases grouped by the first differing line, then each\n\
         case with its request bytes and both transcripts, normalised and raw.\n\n",
    );
    for (_, s) in sections.iter() {
        all.push_str(s.lines().next().unwrap_or_default());
        all.push('\n');
    }
    all.push('\n');
    for (_, s) in sections.iter() {
        all.push_str(s);
        all.push('\n');
    }
    let _ = std::fs::write(REPORT, all);
}

/// Checks the normalisation and comparison on hand-made transcripts, so that
/// a comparator that accepts everything cannot pass the suite unnoticed.
pub(crate) fn self_check() {
    let norm = |steps: &[&[u8]], stats: &Stats| {
        normalise(
            &Transcript {
                steps: steps.iter().map(|r| (Vec::new(), r.to_vec())).collect(),
            },
            stats,
        )
    };
    let names = Stats::NamesOnly;
    let eq = |a: &[&[u8]], b: &[&[u8]]| same(&norm(a, &names), &norm(b, &names));

    // CAS uniques compare by relation, not digits.
    assert!(eq(
        &[b"VALUE k 0 1 17\r\na\r\nEND\r\nHD c17\r\nHD c18\r\n"],
        &[b"VALUE k 0 1 5\r\na\r\nEND\r\nHD c5\r\nHD c9\r\n"],
    ));
    assert!(!eq(
        &[b"VALUE k 0 1 17\r\na\r\nEND\r\nHD c17\r\n"],
        &[b"VALUE k 0 1 5\r\na\r\nEND\r\nHD c6\r\n"],
    ));
    // Data blocks are compared verbatim, even when they look like CAS lines.
    assert!(!eq(&[b"VA 5\r\nHD c1\r\n"], &[b"VA 5\r\nHD c2\r\n"]));
    // TTLs within 1 s are equal; 2 s apart are not; -1 is literal.
    assert!(eq(&[b"HD t100\r\n"], &[b"HD t99\r\n"]));
    assert!(!eq(&[b"HD t100\r\n"], &[b"HD t98\r\n"]));
    assert!(!eq(&[b"HD t-1\r\n"], &[b"HD t0\r\n"]));
    // Versions and stats values are masked; stats names are not.
    assert!(eq(&[b"VERSION 1.6.18\r\n"], &[b"VERSION 0.1.0\r\n"]));
    assert!(eq(&[b"STAT pid 1\r\nEND\r\n"], &[b"STAT pid 2\r\nEND\r\n"]));
    assert!(!eq(
        &[b"STAT pid 1\r\nEND\r\n"],
        &[b"STAT pdi 1\r\nEND\r\n"]
    ));
    let keep = Stats::Keep(vec!["cmd_get"]);
    assert!(!same(
        &norm(&[b"STAT cmd_get 1\r\n"], &keep),
        &norm(&[b"STAT cmd_get 2\r\n"], &keep)
    ));
    // Any other byte difference, and step boundaries, count.
    assert!(!eq(&[b"STORED\r\n"], &[b"STORED\n"]));
    assert!(!eq(&[b"END\r\n", b""], &[b"", b"END\r\n"]));
    assert!(!eq(&[b"END\r\n"], &[b"END\r\n<closed>"]));

    assert_eq!(count_mn_lines(b"mn\r\nmn foo\r\nmnx\r\nmn"), 3);

    // `$K` and `$CASn` substitution.
    let cas = vec![b"42".to_vec()];
    assert_eq!(
        substitute(b"cas $K 0 0 1 $CAS1 $CAS2", b"key", &cas),
        b"cas key 0 0 1 42 999999999999".to_vec()
    );
}
