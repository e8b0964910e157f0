//! `ringcache-loadgen`: a load generator for any memcached text-protocol
//! server on loopback (memcached, a ringcache node, a proxy).
//!
//! It opens N connections, keeps up to `--depth` requests in flight on each,
//! and draws requests from a seeded trace (key distribution uniform or Zipf,
//! get/set/multi-get mix, value sizes, optional periodic scans). It reports
//! ops/s, hit ratio, errors and latency percentiles from HDR histograms merged
//! across connections; a progress line each second on stderr; `--json` for
//! scripts; and, given `--server-pid`, the server's CPU time per operation
//! (the figure that does not depend on the load generator sharing the
//! machine's cores).
//!
//! # Modes
//! - closed loop (default): each connection sends as soon as its window has
//!   room, which measures maximum throughput;
//! - fixed rate (`--rate OPS`): each connection follows a schedule, and a
//!   request's latency runs from its *intended* send time, so a server that
//!   stalls is charged for the requests that queued behind the stall
//!   (coordinated omission); the latency from the actual send is reported
//!   beside it as `service_latency_us`, and how far the generator itself fell
//!   behind its schedule as `send_lag_us` (tokio's timer has a 1 ms
//!   granularity; `--spin` busy-waits the last 2 ms for punctual sends);
//! - cache-aside (`--cache-aside`): every trace entry is a `get`, and each
//!   miss is followed by a `set` of that key (the load from the database).
//!   The figure is the hit ratio. Each connection works in lock-step batches
//!   (send the fills for the last batch's misses and the next `--depth` gets,
//!   then wait for all replies), so with `-c 1` the server sees exactly the
//!   same sequence whatever its speed, and two servers can be compared.
//!
//! # Timeline
//! `--timeline-ms N` adds, for every N ms since the start, the requests
//! answered in that interval: gets, hits, hit ratio, sets, ops/s, errors,
//! p50 and p99 (`timeline` in the JSON; `started_unix_secs` is the start in
//! wall-clock time, to line the curve up with events outside the generator,
//! such as a node joining the ring). The progress line then comes every
//! interval and shows that interval's hit ratio. Warm-up requests are left
//! out of the timeline as of every other figure.
//!
//! # Examples
//! ```text
//! ringcache-loadgen --target 127.0.0.1:11211 -c 50 --depth 16 --mix 90:10 \
//!     --keys 100000 --value-size 100 --prefill --duration 10 --server-pid $PID --json
//! ringcache-loadgen --target 127.0.0.1:11211 -c 50 --rate 50000 --duration 10
//! ringcache-loadgen --target 127.0.0.1:11211 -c 1 --depth 32 --cache-aside \
//!     --keys 1000000 --dist zipf:0.99 --requests 2000000 --warmup-requests 500000
//! ringcache-loadgen --target 127.0.0.1:11311 -c 8 --depth 16 --cache-aside \
//!     --keys 200000 --dist zipf:0.99 --duration 20 --timeline-ms 500 --json
//! ```
//!
//! # Limits
//! The load generator runs on the same machine as the server; pin them to
//! separate cores (`taskset`) and compare servers only within one run of the
//! scripts in `benches/scripts/`. Latency includes the generator's own
//! scheduling delay, the same for every server measured.

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, BytesMut};
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Barrier};

use ringcache_benches::procfs;
use ringcache_benches::text::{self, Reply};
use ringcache_benches::timeline::{self, Point, Recorder, Timeline};
use ringcache_benches::workload::{Generator, KeyDist, Mix, Op, OpKind, ValueSize, WorkloadConfig};

/// Command-line options; also echoed into the JSON report.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "ringcache-loadgen",
    version,
    about = "Load generator for memcached-protocol servers (loopback only)"
)]
struct Args {
    /// Server address (must be a loopback address).
    #[arg(short = 's', long, default_value = "127.0.0.1:11211")]
    target: String,
    /// Connections, each its own task.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: u32,
    /// Requests in flight per connection (pipelining depth).
    #[arg(short = 'd', long, default_value_t = 1)]
    depth: u32,
    /// Request mix as GET:SET or GET:SET:MGET weights.
    #[arg(long, default_value = "90:10")]
    mix: String,
    /// Keys per multi-get.
    #[arg(long, default_value_t = 10)]
    mget_size: u32,
    /// Number of distinct keys.
    #[arg(short = 'k', long, default_value_t = 100_000)]
    keys: u64,
    /// Key length in bytes (`k` plus a zero-padded id).
    #[arg(long, default_value_t = 20)]
    key_size: usize,
    /// Key distribution: uniform, zipf (s=0.99) or zipf:S.
    #[arg(long, default_value = "uniform")]
    dist: String,
    /// Value size: N bytes, or MIN-MAX for a uniform range.
    #[arg(long, default_value = "100")]
    value_size: String,
    /// Seconds to run (ignored when --requests is given).
    #[arg(short = 't', long, default_value_t = 10.0)]
    duration: f64,
    /// Total trace requests across all connections, instead of a duration.
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Trace requests (of the total) issued first and left out of every figure.
    #[arg(long, default_value_t = 0)]
    warmup_requests: u64,
    /// Set every key once before measuring.
    #[arg(long)]
    prefill: bool,
    /// Pipelining depth of the prefill.
    #[arg(long, default_value_t = 64)]
    prefill_depth: u32,
    /// Seed of the trace; the same seed gives the same requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fixed total rate in requests/s (latency from the intended send time).
    #[arg(long, conflicts_with = "cache_aside")]
    rate: Option<f64>,
    /// Rate mode: busy-wait (yield) the last 2 ms before each scheduled send
    /// instead of sleeping, so sends are not up to 1 ms late (tokio's timer
    /// granularity). Costs the generator's core a lot of CPU.
    #[arg(long, requires = "rate")]
    spin: bool,
    /// Cache-aside: get, and on a miss set the key (hit ratio is the figure).
    #[arg(long)]
    cache_aside: bool,
    /// Every this many trace requests, scan --scan-len keys in sequence.
    #[arg(long, default_value_t = 0)]
    scan_every: u64,
    /// Keys per scan.
    #[arg(long, default_value_t = 0)]
    scan_len: u64,
    /// Server process id: report its CPU time per op and its RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Load generator worker threads (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds without a reply, with requests in flight, before a connection
    /// is declared stalled, counted as errors and reopened.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Report figures per interval of this many ms (`timeline` in the JSON);
    /// the progress line then comes every interval.
    #[arg(long, value_name = "MS")]
    timeline_ms: Option<u64>,
    /// Print the report as JSON on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// No progress line.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Free text copied into the JSON report.
    #[arg(long, default_value = "")]
    label: String,
}

/// The parsed, validated run settings shared by all connections.
#[derive(Debug)]
struct Run {
    addr: SocketAddr,
    depth: usize,
    prefill_depth: usize,
    cache_aside: bool,
    timeout: Duration,
    /// Interval between one connection's scheduled sends (rate mode).
    interval: Option<Duration>,
    /// Rate mode: busy-wait the last [`SPIN_WINDOW`] before a send.
    spin: bool,
    connections: u64,
    duration: Duration,
    requests: Option<u64>,
    warmup: u64,
    seed: u64,
    workload: Arc<WorkloadConfig>,
    /// `--timeline-ms`: the intervals every connection records into.
    timeline: Option<Arc<Mutex<Timeline>>>,
}

/// How early a spinning connection stops sleeping before a scheduled send:
/// tokio's timer has a 1 ms granularity and rounds deadlines up.
const SPIN_WINDOW: Duration = Duration::from_millis(2);

impl Run {
    /// When to wake for a send scheduled at `t`.
    fn wake_at(&self, t: Instant) -> Instant {
        if self.spin {
            t.checked_sub(SPIN_WINDOW).unwrap_or(t)
        } else {
            t
        }
    }

    /// This connection's share of a total `n` split over all connections.
    fn share(&self, n: u64, idx: u64) -> u64 {
        n / self.connections + u64::from(idx < n % self.connections)
    }
}

/// Counters that the progress line reads while the run goes on.
#[derive(Debug, Default)]
struct Live {
    ops: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

/// Largest latency the histograms hold (60 s, in ns); longer ones saturate.
const HIST_MAX_NS: u64 = 60_000_000_000;

fn new_hist() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).unwrap_or_else(|_| unreachable!())
}

/// One connection's figures, merged into the run's at the end.
#[derive(Debug)]
struct Stats {
    ops: u64,
    gets: u64,
    sets: u64,
    mgets: u64,
    get_keys: u64,
    hits: u64,
    misses: u64,
    scan_keys: u64,
    scan_hits: u64,
    not_stored: u64,
    errors: u64,
    error_replies: u64,
    conn_errors: u64,
    stalls: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    prefill_sets: u64,
    prefill_errors: u64,
    last_error: Option<String>,
    /// `--timeline-ms`: this connection's current interval (not merged:
    /// dropping it adds it to the run's timeline).
    timeline: Option<Recorder>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            ops: 0,
            gets: 0,
            sets: 0,
            mgets: 0,
            get_keys: 0,
            hits: 0,
            misses: 0,
            scan_keys: 0,
            scan_hits: 0,
            not_stored: 0,
            errors: 0,
            error_replies: 0,
            conn_errors: 0,
            stalls: 0,
            latency: new_hist(),
            service: new_hist(),
            lag: new_hist(),
            prefill_sets: 0,
            prefill_errors: 0,
            last_error: None,
            timeline: None,
        }
    }

    fn merge(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.gets += o.gets;
        self.sets += o.sets;
        self.mgets += o.mgets;
        self.get_keys += o.get_keys;
        self.hits += o.hits;
        self.misses += o.misses;
        self.scan_keys += o.scan_keys;
        self.scan_hits += o.scan_hits;
        self.not_stored += o.not_stored;
        self.errors += o.errors;
        self.error_replies += o.error_replies;
        self.conn_errors += o.conn_errors;
        self.stalls += o.stalls;
        // Same bounds on both sides: add cannot fail.
        let _ = self.latency.add(&o.latency);
        let _ = self.service.add(&o.service);
        let _ = self.lag.add(&o.lag);
        self.prefill_sets += o.prefill_sets;
        self.prefill_errors += o.prefill_errors;
        if o.last_error.is_some() {
            self.last_error.clone_from(&o.last_error);
        }
    }
}

/// A request waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct Pending {
    intended: Instant,
    sent: Instant,
    op: Op,
    /// Outside the warm-up: counted in the figures.
    record: bool,
}

/// Why a connection session ended early.
#[derive(Debug)]
enum ConnError {
    Io(std::io::Error),
    Closed,
    Garbage(String),
    Stalled,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "I/O error: {e}"),
            ConnError::Closed => write!(f, "server closed the connection"),
            ConnError::Garbage(g) => write!(f, "{g}"),
            ConnError::Stalled => write!(f, "no reply within the timeout"),
        }
    }
}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        ConnError::Io(e)
    }
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Connects, retrying for a few seconds (a server that was just started may
/// not listen yet).
async fn connect_retrying(addr: SocketAddr, attempts: u32) -> std::io::Result<TcpStream> {
    let mut last = None;
    for _ in 0..attempts.max(1) {
        match connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no attempt made")))
}

/// Reads at least one more byte into `rbuf`, giving up after `timeout`.
async fn read_some(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    timeout: Duration,
) -> Result<(), ConnError> {
    match tokio::time::timeout(timeout, stream.read_buf(rbuf)).await {
        Err(_) => Err(ConnError::Stalled),
        Ok(Ok(0)) => Err(ConnError::Closed),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// Sets this connection's share of the keys (ids `idx`, `idx + C`, ...),
/// keeping `prefill_depth` sets in flight.
async fn prefill(
    run: &Run,
    idx: u64,
    stream: &mut TcpStream,
    generator: &mut Generator,
    stats: &mut Stats,
) -> Result<(), ConnError> {
    let mut next = idx;
    let mut in_flight = 0usize;
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let key_count = run.workload.key_count;
    while next < key_count || in_flight > 0 {
        while in_flight < run.prefill_depth && next < key_count {
            generator.encode_set(&mut wbuf, next);
            next += run.connections;
            in_flight += 1;
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
        }
        read_some(stream, &mut rbuf, run.timeout).await?;
        while let Some((reply, n)) =
            text::parse_reply(&rbuf).map_err(|g| ConnError::Garbage(g.0))?
        {
            rbuf.advance(n);
            if in_flight == 0 {
                return Err(ConnError::Garbage("reply to no request".into()));
            }
            in_flight -= 1;
            stats.prefill_sets += 1;
            if reply != Reply::Stored {
                stats.prefill_errors += 1;
            }
        }
    }
    Ok(())
}

/// Where one connection is in its share of the trace.
#[derive(Debug)]
struct Cursor {
    /// Trace requests generated so far (cache-aside fills not included).
    issued: u64,
    /// Trace requests this connection may generate, if bounded.
    quota: Option<u64>,
    /// The first `warmup` trace requests are not recorded.
    warmup: u64,
    /// No trace request is generated at or after this instant.
    end: Option<Instant>,
    /// Next scheduled send (rate mode).
    next_intended: Instant,
    /// Cache-aside: keys that missed and are to be set, with their `record` flag.
    fills: VecDeque<(u64, bool)>,
}

impl Cursor {
    /// Whether another trace request may be generated now (rate mode: at the
    /// time it is scheduled for).
    fn more(&self, now: Instant, rate: bool) -> bool {
        if self.quota.is_some_and(|q| self.issued >= q) {
            return false;
        }
        let t = if rate { self.next_intended } else { now };
        self.end.is_none_or(|e| t < e)
    }
}

/// Applies one reply to the stats; returns the op's key if a cache-aside
/// fill is due.
fn account(run: &Run, p: &Pending, reply: Reply, now: Instant, st: &mut Stats) -> Option<u64> {
    let mut fill = None;
    if reply.is_error() {
        if p.record {
            st.errors += 1;
            st.error_replies += 1;
            if let Some(tl) = st.timeline.as_mut() {
                tl.at(now).errors += 1;
            }
        }
        return None;
    }
    match (p.op.kind, reply) {
        (OpKind::Get | OpKind::MultiGet, Reply::Values { hits }) => {
            let hits = u64::from(hits).min(u64::from(p.op.nkeys));
            if run.cache_aside && hits == 0 {
                fill = Some(p.op.key);
            }
            if p.record {
                if p.op.kind == OpKind::Get {
                    st.gets += 1;
                } else {
                    st.mgets += 1;
                }
                st.get_keys += u64::from(p.op.nkeys);
                st.hits += hits;
                st.misses += u64::from(p.op.nkeys) - hits;
                if p.op.scan {
                    st.scan_keys += u64::from(p.op.nkeys);
                    st.scan_hits += hits;
                }
            }
        }
        (OpKind::Set, Reply::Stored) => {
            if p.record {
                st.sets += 1;
            }
        }
        (OpKind::Set, Reply::NotStored | Reply::Exists | Reply::NotFound) => {
            if p.record {
                st.sets += 1;
                st.not_stored += 1;
            }
        }
        _ => {
            // A reply of the wrong kind: the server answered something else.
            if p.record {
                st.errors += 1;
                if let Some(tl) = st.timeline.as_mut() {
                    tl.at(now).errors += 1;
                }
            }
            return None;
        }
    }
    if p.record {
        st.ops += 1;
        let from_intended = now.saturating_duration_since(p.intended);
        if let Some(tl) = st.timeline.as_mut() {
            let b = tl.at(now);
            b.ops += 1;
            if p.op.kind == OpKind::Set {
                b.sets += 1;
            } else {
                let nkeys = u64::from(p.op.nkeys);
                let hits = match reply {
                    Reply::Values { hits } => u64::from(hits).min(nkeys),
                    _ => 0,
                };
                b.gets += 1;
                b.get_keys += nkeys;
                b.hits += hits;
                b.misses += nkeys - hits;
            }
            b.record_latency(from_intended);
        }
        st.latency.saturating_record(
            u64::try_from(from_intended.as_nanos())
                .unwrap_or(HIST_MAX_NS)
                .max(1),
        );
        if run.interval.is_some() {
            let from_sent = now.saturating_duration_since(p.sent).as_nanos();
            st.service
                .saturating_record(u64::try_from(from_sent).unwrap_or(HIST_MAX_NS).max(1));
        }
    }
    fill
}

/// One connected session of the measured phase. Returns `Ok` when this
/// connection's share of the trace is done, `Err` when the connection broke
/// (the caller counts the requests in flight as errors and reconnects).
async fn session(
    run: &Run,
    stream: &mut TcpStream,
    generator: &mut Generator,
    cur: &mut Cursor,
    pending: &mut VecDeque<Pending>,
    st: &mut Stats,
    live: &Live,
) -> Result<(), ConnError> {
    let rate = run.interval.is_some();
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let send_timer = tokio::time::sleep_until(cur.next_intended.into());
    tokio::pin!(send_timer);
    let mut send_deadline = cur.next_intended;
    let stall_timer = tokio::time::sleep(run.timeout);
    tokio::pin!(stall_timer);
    let mut last_progress = Instant::now();

    loop {
        let now = Instant::now();
        // Fill the window.
        if run.cache_aside {
            // Lock-step: a new batch only once the last one is answered.
            if pending.is_empty() {
                while let Some((key, record)) = cur.fills.pop_front() {
                    generator.encode_set(&mut wbuf, key);
                    let op = Op {
                        kind: OpKind::Set,
                        key,
                        nkeys: 1,
                        scan: false,
                    };
                    pending.push_back(Pending {
                        intended: now,
                        sent: now,
                        op,
                        record,
                    });
                }
                let mut gets = 0;
                while gets < run.depth && cur.more(now, false) {
                    let op = generator.next_get(&mut wbuf);
                    let record = cur.issued >= cur.warmup;
                    cur.issued += 1;
                    gets += 1;
                    pending.push_back(Pending {
                        intended: now,
                        sent: now,
                        op,
                        record,
                    });
                }
            }
        } else {
            while pending.len() < run.depth
                && cur.more(now, rate)
                && (!rate || cur.next_intended <= now)
            {
                let op = generator.next_op(&mut wbuf);
                let record = cur.issued >= cur.warmup;
                cur.issued += 1;
                let intended = if rate { cur.next_intended } else { now };
                if let Some(iv) = run.interval {
                    cur.next_intended += iv;
                    if record {
                        let lag = now.saturating_duration_since(intended).as_nanos();
                        st.lag
                            .saturating_record(u64::try_from(lag).unwrap_or(HIST_MAX_NS).max(1));
                    }
                }
                pending.push_back(Pending {
                    intended,
                    sent: now,
                    op,
                    record,
                });
            }
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
            // Sending is progress too: a stall is only counted from here.
            last_progress = now;
        }
        if pending.is_empty() {
            if !cur.more(now, rate) && cur.fills.is_empty() {
                return Ok(());
            }
            if rate {
                if run.spin && cur.next_intended <= now + SPIN_WINDOW {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep_until(run.wake_at(cur.next_intended).into()).await;
                }
            }
            continue;
        }

        // Wait for replies (and, in rate mode, for the next scheduled send).
        let want_send = rate && pending.len() < run.depth && cur.more(now, rate);
        let spin_now = want_send && run.spin && cur.next_intended <= now + SPIN_WINDOW;
        if want_send && !spin_now && send_deadline != run.wake_at(cur.next_intended) {
            send_deadline = run.wake_at(cur.next_intended);
            send_timer.as_mut().reset(send_deadline.into());
        }
        tokio::select! {
            biased;
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) => return Err(ConnError::Closed),
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            },
            () = tokio::task::yield_now(), if spin_now => continue,
            () = &mut send_timer, if want_send && !spin_now => continue,
            () = &mut stall_timer => {
                let now = Instant::now();
                if now.duration_since(last_progress) >= run.timeout {
                    return Err(ConnError::Stalled);
                }
                stall_timer.as_mut().reset((last_progress + run.timeout).into());
                continue;
            }
        }
        let now = Instant::now();
        last_progress = now;
        let (ops0, hits0, misses0, errors0) = (st.ops, st.hits, st.misses, st.errors);
        while let Some((reply, n)) =
            text::parse_reply(&rbuf).map_err(|g| ConnError::Garbage(g.0))?
        {
            rbuf.advance(n);
            let Some(p) = pending.pop_front() else {
                return Err(ConnError::Garbage("reply to no request".into()));
            };
            if let Some(key) = account(run, &p, reply, now, st) {
                cur.fills.push_back((key, p.record));
            }
        }
        live.ops.fetch_add(st.ops - ops0, Ordering::Relaxed);
        live.hits.fetch_add(st.hits - hits0, Ordering::Relaxed);
        live.misses
            .fetch_add(st.misses - misses0, Ordering::Relaxed);
        live.errors
            .fetch_add(st.errors - errors0, Ordering::Relaxed);
    }
}

/// One connection: connect, prefill, wait for the start, run its share of the
/// trace, reconnecting after errors until its share or the time is up.
async fn connection(
    run: Arc<Run>,
    idx: u64,
    barrier: Arc<Barrier>,
    mut start_rx: watch::Receiver<Option<Instant>>,
    live: Arc<Live>,
) -> Stats {
    let mut st = Stats::new();
    let mut generator = Generator::new(Arc::clone(&run.workload), run.seed, idx, run.connections);
    let mut prefill_gen = Generator::new(
        Arc::clone(&run.workload),
        run.seed ^ 0x5eed_f111,
        idx,
        run.connections,
    );
    let setup = async {
        let mut s = connect_retrying(run.addr, 50).await?;
        if run.workload.key_count > 0 && run.prefill_depth > 0 {
            prefill(&run, idx, &mut s, &mut prefill_gen, &mut st).await?;
        }
        Ok::<_, ConnError>(s)
    }
    .await;
    // Everyone reaches the barrier, connected or not, so nobody waits forever.
    barrier.wait().await;
    let mut stream = match setup {
        Ok(s) => Some(s),
        Err(e) => {
            st.conn_errors += 1;
            st.last_error = Some(e.to_string());
            None
        }
    };
    let start = loop {
        if let Some(t) = *start_rx.borrow_and_update() {
            break t;
        }
        if start_rx.changed().await.is_err() {
            return st;
        }
    };
    let Some(first) = stream.take() else {
        return st;
    };
    let mut stream = Some(first);

    let offset = run.interval.map_or(Duration::ZERO, |iv| {
        iv.mul_f64(idx as f64 / run.connections as f64)
    });
    let mut cur = Cursor {
        issued: 0,
        quota: run.requests.map(|n| run.share(n, idx)),
        warmup: run.share(run.warmup, idx),
        end: run.requests.is_none().then(|| start + run.duration),
        next_intended: start + offset,
        fills: VecDeque::new(),
    };
    let mut pending = VecDeque::with_capacity(run.depth * 2 + 8);
    st.timeline = run.timeline.as_ref().map(|t| Timeline::recorder(t, start));
    let mut failed_connects = 0u32;
    loop {
        let Some(s) = stream.as_mut() else {
            // Reconnect after an error, unless the run is over.
            if !cur.more(Instant::now(), false) || failed_connects > 100 {
                return st;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            match connect(run.addr).await {
                Ok(s) => {
                    failed_connects = 0;
                    stream = Some(s);
                }
                Err(e) => {
                    failed_connects += 1;
                    st.conn_errors += 1;
                    st.last_error = Some(format!("connect: {e}"));
                }
            }
            continue;
        };
        match session(
            &run,
            s,
            &mut generator,
            &mut cur,
            &mut pending,
            &mut st,
            &live,
        )
        .await
        {
            Ok(()) => return st,
            Err(e) => {
                if matches!(e, ConnError::Stalled) {
                    st.stalls += 1;
                }
                st.conn_errors += 1;
                let lost = pending.iter().filter(|p| p.record).count() as u64;
                st.errors += lost;
                if let Some(tl) = st.timeline.as_mut() {
                    tl.at(Instant::now()).errors += lost;
                }
                live.errors.fetch_add(lost, Ordering::Relaxed);
                pending.clear();
                cur.fills.clear();
                st.last_error = Some(e.to_string());
                stream = None;
            }
        }
    }
}

/// Sends `stats` on a fresh connection and returns its fields; empty if the
/// server does not answer within two seconds.
async fn server_stats(addr: SocketAddr) -> BTreeMap<String, String> {
    let fetch = async {
        let mut s = connect(addr).await.ok()?;
        s.write_all(b"stats\r\n").await.ok()?;
        let mut buf = BytesMut::with_capacity(8192);
        loop {
            if s.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
            match text::parse_stats(&buf) {
                Ok(Some(v)) => return Some(v.into_iter().collect()),
                Ok(None) if buf.len() < 1 << 20 => {}
                _ => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Quantiles of `latency_cdf_us`.
const CDF_QUANTILES: [f64; 14] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The server's resource use over the measured phase.
#[derive(Debug, Serialize)]
struct ServerUse {
    pid: u32,
    cpu_secs: Option<f64>,
    cpu_us_per_op: Option<f64>,
    /// CPU seconds per wall second (1.0 = one core busy).
    cpu_utilisation: Option<f64>,
    rss_kib: Option<u64>,
}

/// The whole run, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    label: String,
    mode: &'static str,
    args: Args,
    elapsed_secs: f64,
    ops: u64,
    ops_per_sec: f64,
    gets: u64,
    sets: u64,
    multigets: u64,
    get_keys: u64,
    hits: u64,
    misses: u64,
    hit_ratio: Option<f64>,
    /// Hit ratio of the keys read outside scans.
    non_scan_hit_ratio: Option<f64>,
    scan_keys: u64,
    scan_hits: u64,
    not_stored: u64,
    errors: u64,
    error_replies: u64,
    conn_errors: u64,
    stalls: u64,
    last_error: Option<String>,
    /// From the intended send time in rate mode, from the send otherwise.
    latency_us: Percentiles,
    /// Rate mode only: from the actual send.
    service_latency_us: Option<Percentiles>,
    /// Rate mode only: how late requests were sent against their schedule
    /// (the generator's own timer and scheduling delay; part of `latency_us`).
    send_lag_us: Option<Percentiles>,
    prefill_sets: u64,
    prefill_errors: u64,
    prefill_secs: Option<f64>,
    server: Option<ServerUse>,
    loadgen_cpu_secs: Option<f64>,
    loadgen_cpu_us_per_op: Option<f64>,
    /// The generator's CPU seconds per wall second: near 1.0 with one thread,
    /// the generator (not the server) may be what limits ops/s.
    loadgen_cpu_utilisation: Option<f64>,
    /// Latency (as in `latency_us`) at a ladder of quantiles, for CDF plots.
    latency_cdf_us: Vec<(f64, f64)>,
    /// Wall-clock start of the measured run (Unix seconds): `t_secs = 0` of
    /// the timeline.
    started_unix_secs: f64,
    /// `--timeline-ms`: figures per interval since the start.
    timeline: Option<Vec<Point>>,
    server_stats: BTreeMap<String, String>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn parse_args(args: &Args) -> Result<Run, String> {
    let addr = args
        .target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.target))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| {
            format!(
                "{} is not a loopback address; this tool only loads local servers",
                args.target
            )
        })?;
    let dist: KeyDist = args.dist.parse()?;
    let value_size: ValueSize = args.value_size.parse()?;
    let mix: Mix = args.mix.parse()?;
    if args.connections == 0 || args.depth == 0 {
        return Err("--connections and --depth must be at least 1".into());
    }
    if args.keys == 0 {
        return Err("--keys must be at least 1".into());
    }
    if !(args.duration.is_finite() && args.duration >= 0.0) {
        return Err("--duration must be a number of seconds".into());
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let interval = match args.rate {
        None => None,
        Some(r) if r.is_finite() && r > 0.0 => {
            Some(Duration::from_secs_f64(f64::from(args.connections) / r))
        }
        Some(r) => return Err(format!("bad --rate {r}")),
    };
    let workload = WorkloadConfig {
        key_count: args.keys,
        key_size: args.key_size,
        dist,
        value_size,
        mix,
        mget_size: args.mget_size,
        scan_every: args.scan_every,
        scan_len: args.scan_len,
    };
    workload.validate().map_err(|e| e.to_string())?;
    let timeline = match args.timeline_ms {
        None => None,
        Some(0) => return Err("--timeline-ms must be at least 1".into()),
        Some(ms) => {
            let iv = Duration::from_millis(ms);
            // In duration mode the run's length is known: refuse a timeline
            // that would be cut off (a request count may run any length;
            // its last interval then takes the rest).
            let intervals = args.duration / iv.as_secs_f64();
            if args.requests.is_none() && intervals > timeline::MAX_INTERVALS as f64 {
                return Err(format!(
                    "--timeline-ms {ms} over {} s makes more than {} intervals",
                    args.duration,
                    timeline::MAX_INTERVALS
                ));
            }
            Some(Timeline::shared(iv))
        }
    };
    Ok(Run {
        addr,
        depth: args.depth as usize,
        prefill_depth: if args.prefill {
            args.prefill_depth.max(1) as usize
        } else {
            0
        },
        cache_aside: args.cache_aside,
        timeout: Duration::from_secs_f64(args.timeout),
        interval,
        spin: args.spin,
        connections: u64::from(args.connections),
        duration: Duration::from_secs_f64(args.duration),
        requests: args.requests,
        warmup: args.warmup_requests,
        seed: args.seed,
        workload: Arc::new(workload),
        timeline,
    })
}

fn print_human(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} {} ops in {:.2}s = {:.0} ops/s  (gets {} sets {} mgets {})",
        r.mode, r.ops, r.elapsed_secs, r.ops_per_sec, r.gets, r.sets, r.multigets
    )?;
    if let Some(h) = r.hit_ratio {
        write!(
            out,
            "hit ratio {:.4} ({} of {} keys)",
            h, r.hits, r.get_keys
        )?;
        if let Some(n) = r.non_scan_hit_ratio.filter(|_| r.scan_keys > 0) {
            write!(out, ", outside scans {n:.4}")?;
        }
        writeln!(out)?;
    }
    let l = &r.latency_us;
    writeln!(
        out,
        "latency us: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} mean {:.1}{}",
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        l.mean,
        if r.service_latency_us.is_some() {
            "  (from intended send time)"
        } else {
            ""
        }
    )?;
    if let Some(s) = &r.service_latency_us {
        writeln!(
            out,
            "service us: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}  (from actual send)",
            s.p50, s.p90, s.p99, s.p999, s.max
        )?;
    }
    if let Some(s) = &r.send_lag_us {
        writeln!(
            out,
            "send lag us: p50 {:.1} p99 {:.1} max {:.1}  (generator behind its schedule)",
            s.p50, s.p99, s.max
        )?;
    }
    writeln!(
        out,
        "errors {} (error replies {}, connection errors {}, stalls {}), not stored {}{}",
        r.errors,
        r.error_replies,
        r.conn_errors,
        r.stalls,
        r.not_stored,
        r.last_error
            .as_ref()
            .map(|e| format!("; last: {e}"))
            .unwrap_or_default()
    )?;
    if let Some(s) = r.prefill_secs {
        writeln!(
            out,
            "prefill {} sets in {:.2}s, {} not stored",
            r.prefill_sets, s, r.prefill_errors
        )?;
    }
    if let Some(s) = &r.server {
        writeln!(
            out,
            "server pid {}: cpu {} s, {} us/op, utilisation {}, rss {} KiB",
            s.pid,
            s.cpu_secs.map_or("?".into(), |v| format!("{v:.2}")),
            s.cpu_us_per_op.map_or("?".into(), |v| format!("{v:.2}")),
            s.cpu_utilisation.map_or("?".into(), |v| format!("{v:.2}")),
            s.rss_kib.map_or("?".into(), |v| v.to_string()),
        )?;
    }
    if let Some(c) = r.loadgen_cpu_us_per_op {
        writeln!(
            out,
            "loadgen cpu {c:.2} us/op, utilisation {}",
            r.loadgen_cpu_utilisation
                .map_or("?".into(), |u| format!("{u:.2}"))
        )?;
    }
    if let Some(tl) = r.timeline.as_deref() {
        let ratios = || tl.iter().filter_map(|p| p.hit_ratio);
        let iv_ms = r.args.timeline_ms.unwrap_or(0);
        match (
            ratios().min_by(f64::total_cmp),
            ratios().max_by(f64::total_cmp),
        ) {
            (Some(lo), Some(hi)) => writeln!(
                out,
                "timeline {} intervals of {iv_ms} ms, hit ratio per interval {lo:.4}..{hi:.4}",
                tl.len()
            )?,
            _ => writeln!(out, "timeline {} intervals of {iv_ms} ms", tl.len())?,
        }
    }
    if let (Some(items), Some(ev)) = (
        r.server_stats.get("curr_items"),
        r.server_stats.get("evictions"),
    ) {
        writeln!(out, "server curr_items {items} evictions {ev}")?;
    }
    Ok(())
}

async fn run_all(args: Args, run: Run) -> Result<Report, String> {
    let run = Arc::new(run);
    let live = Arc::new(Live::default());
    let n = run.connections as usize;
    let barrier = Arc::new(Barrier::new(n + 1));
    let (start_tx, start_rx) = watch::channel(None);
    let ticks = procfs::clock_ticks();
    let server_pid = args.server_pid.map(|p| p.to_string());

    let prefill_t0 = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for idx in 0..run.connections {
        tasks.push(tokio::spawn(connection(
            Arc::clone(&run),
            idx,
            Arc::clone(&barrier),
            start_rx.clone(),
            Arc::clone(&live),
        )));
    }
    barrier.wait().await;
    let prefill_secs = (run.prefill_depth > 0).then(|| prefill_t0.elapsed().as_secs_f64());

    let server_cpu0 = server_pid
        .as_deref()
        .and_then(|p| procfs::cpu_time(p, ticks));
    let self_cpu0 = procfs::cpu_time("self", ticks);
    let t0 = Instant::now();
    let started_unix_secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // Receivers live in the tasks; a send error only means all have ended.
    let _ = start_tx.send(Some(t0));

    let done = Arc::new(AtomicBool::new(false));
    // Every second, or every timeline interval; the interval's own hit
    // ratio beside the whole run's.
    let period = args
        .timeline_ms
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let progress = (!args.quiet).then(|| {
        let live = Arc::clone(&live);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((t0 + period).into(), period);
            let (mut last_ops, mut last_hits, mut last_misses) = (0u64, 0u64, 0u64);
            let pct = |r: Option<f64>| r.map_or("-".into(), |h| format!("{:.2}%", h * 100.0));
            loop {
                tick.tick().await;
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let secs = t0.elapsed().as_secs_f64();
                let ops = live.ops.load(Ordering::Relaxed);
                let hits = live.hits.load(Ordering::Relaxed);
                let misses = live.misses.load(Ordering::Relaxed);
                let errs = live.errors.load(Ordering::Relaxed);
                let (dh, dm) = (hits - last_hits, misses - last_misses);
                eprintln!(
                    "[{secs:>6.1}s] {:>9.0} ops/s  total {ops:>11}  hit {} (interval {})  errors {errs}",
                    (ops - last_ops) as f64 / period.as_secs_f64(),
                    pct(ratio(hits, hits + misses)),
                    pct(ratio(dh, dh + dm)),
                );
                (last_ops, last_hits, last_misses) = (ops, hits, misses);
            }
        })
    });

    let mut total = Stats::new();
    for t in tasks {
        match t.await {
            // Dropping `s` flushes its timeline recorder.
            Ok(s) => total.merge(&s),
            Err(e) => {
                total.errors += 1;
                total.last_error = Some(format!("connection task failed: {e}"));
            }
        }
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        p.abort();
    }
    let server_cpu1 = server_pid
        .as_deref()
        .and_then(|p| procfs::cpu_time(p, ticks));
    let self_cpu1 = procfs::cpu_time("self", ticks);
    let stats = server_stats(run.addr).await;

    let secs = elapsed.as_secs_f64();
    let per_op = |d: Option<Duration>| {
        d.and_then(|d| (total.ops > 0).then(|| d.as_secs_f64() * 1e6 / total.ops as f64))
    };
    let server = args.server_pid.map(|pid| {
        let cpu = server_cpu0
            .zip(server_cpu1)
            .map(|(a, b)| b.saturating_sub(a));
        ServerUse {
            pid,
            cpu_secs: cpu.map(|c| c.as_secs_f64()),
            cpu_us_per_op: per_op(cpu),
            cpu_utilisation: cpu.and_then(|c| (secs > 0.0).then(|| c.as_secs_f64() / secs)),
            rss_kib: procfs::rss_kib(&pid.to_string()),
        }
    });
    let self_cpu = self_cpu0.zip(self_cpu1).map(|(a, b)| b.saturating_sub(a));
    let mode = if run.cache_aside {
        "cache-aside"
    } else if run.interval.is_some() {
        "fixed-rate"
    } else {
        "closed-loop"
    };
    let rate_mode = run.interval.is_some();
    Ok(Report {
        label: args.label.clone(),
        mode,
        elapsed_secs: secs,
        ops: total.ops,
        ops_per_sec: if secs > 0.0 {
            total.ops as f64 / secs
        } else {
            0.0
        },
        gets: total.gets,
        sets: total.sets,
        multigets: total.mgets,
        get_keys: total.get_keys,
        hits: total.hits,
        misses: total.misses,
        hit_ratio: ratio(total.hits, total.get_keys),
        non_scan_hit_ratio: ratio(
            total.hits - total.scan_hits,
            total.get_keys - total.scan_keys,
        ),
        scan_keys: total.scan_keys,
        scan_hits: total.scan_hits,
        not_stored: total.not_stored,
        errors: total.errors,
        error_replies: total.error_replies,
        conn_errors: total.conn_errors,
        stalls: total.stalls,
        last_error: total.last_error.clone(),
        latency_us: Percentiles::of(&total.latency),
        service_latency_us: rate_mode.then(|| Percentiles::of(&total.service)),
        send_lag_us: rate_mode.then(|| Percentiles::of(&total.lag)),
        prefill_sets: total.prefill_sets,
        prefill_errors: total.prefill_errors,
        prefill_secs,
        server,
        loadgen_cpu_secs: self_cpu.map(|c| c.as_secs_f64()),
        loadgen_cpu_us_per_op: per_op(self_cpu),
        loadgen_cpu_utilisation: self_cpu
            .and_then(|c| (secs > 0.0).then(|| c.as_secs_f64() / secs)),
        latency_cdf_us: CDF_QUANTILES
            .iter()
            .map(|&q| (q, total.latency.value_at_quantile(q) as f64 / 1000.0))
            .collect(),
        started_unix_secs,
        timeline: run.timeline.as_ref().map(|t| {
            t.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .points(elapsed)
        }),
        server_stats: stats,
        args,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = match parse_args(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringcache-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringcache-loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let json = args.json;
    let report = match runtime.block_on(run_all(args, run)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringcache-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let human = if json {
        print_human(&report, &mut std::io::stderr())
    } else {
        print_human(&report, &mut std::io::stdout())
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("ringcache-loadgen: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if human.is_err() {
        return ExitCode::from(2);
    }
    // Nothing at all succeeded: the target was down or not memcached.
    if report.ops == 0 && (report.errors > 0 || report.conn_errors > 0) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    //! The load generator against a tiny in-process memcached stand-in: counts
    //! and determinism only, never timings.

    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    use tokio::net::TcpListener;

    use super::*;

    /// A store holding at most `capacity` keys, evicting the oldest insert
    /// first (deterministic, unlike a real cache).
    #[derive(Default)]
    struct Store {
        map: HashMap<Vec<u8>, usize>,
        order: VecDeque<Vec<u8>>,
        capacity: usize,
    }

    async fn serve_conn(mut s: TcpStream, store: Arc<Mutex<Store>>) {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        loop {
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            while let Some(cr) = buf.windows(2).position(|w| w == b"\r\n") {
                let line = buf[..cr].to_vec();
                let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
                match words[0] {
                    b"get" => {
                        let st = store.lock().unwrap();
                        for k in &words[1..] {
                            if let Some(&n) = st.map.get(*k) {
                                out.extend_from_slice(b"VALUE ");
                                out.extend_from_slice(k);
                                out.extend_from_slice(format!(" 0 {n}\r\n").as_bytes());
                                out.extend(std::iter::repeat_n(b'v', n));
                                out.extend_from_slice(b"\r\n");
                            }
                        }
                        out.extend_from_slice(b"END\r\n");
                        buf.advance(cr + 2);
                    }
                    b"set" => {
                        let n: usize = std::str::from_utf8(words[4]).unwrap().parse().unwrap();
                        if buf.len() < cr + 2 + n + 2 {
                            break;
                        }
                        let mut st = store.lock().unwrap();
                        let key = words[1].to_vec();
                        if st.map.insert(key.clone(), n).is_none() {
                            st.order.push_back(key);
                        }
                        while st.map.len() > st.capacity {
                            let old = st.order.pop_front().unwrap();
                            st.map.remove(&old);
                        }
                        out.extend_from_slice(b"STORED\r\n");
                        buf.advance(cr + 2 + n + 2);
                    }
                    b"stats" => {
                        let n = store.lock().unwrap().map.len();
                        out.extend_from_slice(format!("STAT curr_items {n}\r\nEND\r\n").as_bytes());
                        buf.advance(cr + 2);
                    }
                    _ => {
                        out.extend_from_slice(b"ERROR\r\n");
                        buf.advance(cr + 2);
                    }
                }
            }
            if !out.is_empty() {
                if s.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
    }

    async fn mock_server(capacity: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Arc::new(Mutex::new(Store {
            capacity,
            ..Store::default()
        }));
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                // As memcached does; without it Nagle's algorithm holds
                // back the second reply of a batch split across two reads.
                let _ = s.set_nodelay(true);
                tokio::spawn(serve_conn(s, Arc::clone(&store)));
            }
        });
        addr
    }

    fn run_with(capacity: usize, flags: &[&str]) -> Report {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let addr = mock_server(capacity).await;
            let target = addr.to_string();
            let mut argv = vec!["ringcache-loadgen", "-q", "-s", &target];
            argv.extend_from_slice(flags);
            let args = Args::parse_from(argv);
            let run = parse_args(&args).unwrap();
            run_all(args, run).await.unwrap()
        })
    }

    #[test]
    fn closed_loop_counts_every_request_once() {
        let r = run_with(
            usize::MAX,
            &[
                "-c",
                "4",
                "-d",
                "8",
                "--mix",
                "80:10:10",
                "--mget-size",
                "5",
                "--keys",
                "500",
                "--prefill",
                "--requests",
                "3000",
            ],
        );
        assert_eq!(r.ops, 3000);
        assert_eq!(r.gets + r.sets + r.multigets, 3000);
        assert_eq!(r.get_keys, r.gets + 5 * r.multigets);
        assert_eq!(r.errors, 0);
        assert_eq!(r.prefill_sets, 500);
        assert_eq!(r.hit_ratio, Some(1.0));
        assert!(r.latency_us.p50 > 0.0);
        assert_eq!(
            r.server_stats.get("curr_items").map(String::as_str),
            Some("500")
        );
    }

    #[test]
    fn cache_aside_trace_is_reproducible() {
        let flags = [
            "-c",
            "1",
            "-d",
            "16",
            "--cache-aside",
            "--keys",
            "2000",
            "--dist",
            "zipf:0.99",
            "--requests",
            "5000",
            "--warmup-requests",
            "1000",
            "--scan-every",
            "500",
            "--scan-len",
            "50",
            "--seed",
            "7",
        ];
        let a = run_with(200, &flags);
        let b = run_with(200, &flags);
        assert_eq!(a.gets, 4000);
        assert!(a.misses > 0 && a.hits > 0);
        // Every recorded miss is filled by one set.
        assert_eq!(a.sets, a.misses);
        assert_eq!(
            (a.hits, a.misses, a.scan_hits),
            (b.hits, b.misses, b.scan_hits)
        );
        assert!(a.scan_keys > 0);
    }

    #[test]
    fn fixed_rate_sends_what_was_scheduled() {
        // 2,000/s over 4 connections for 0.25 s: each connection has
        // ceil(0.25 s / 2 ms - offset) sends scheduled before the end.
        let r = run_with(
            usize::MAX,
            &[
                "-c",
                "4",
                "--rate",
                "2000",
                "-t",
                "0.25",
                "--keys",
                "100",
                "--prefill",
            ],
        );
        assert!((497..=500).contains(&r.ops), "{}", r.ops);
        assert!(r.service_latency_us.is_some() && r.send_lag_us.is_some());
        assert_eq!(r.errors, 0);
    }

    /// Sums a timeline's points, checking they are in order.
    fn timeline_sums(r: &Report) -> (u64, u64, u64, u64, u64, usize) {
        let tl = r.timeline.as_ref().expect("a timeline");
        let mut sums = (0, 0, 0, 0, 0, tl.len());
        for (i, p) in tl.iter().enumerate() {
            let iv = r.args.timeline_ms.unwrap() as f64 / 1000.0;
            assert!((p.t_secs - i as f64 * iv).abs() < 1e-9);
            assert_eq!(p.get_keys, p.hits + p.misses);
            sums.0 += p.ops;
            sums.1 += p.gets;
            sums.2 += p.hits;
            sums.3 += p.misses;
            sums.4 += p.sets;
        }
        sums
    }

    #[test]
    fn timeline_adds_up_to_the_totals() {
        let r = run_with(
            300,
            &[
                "-c",
                "3",
                "-d",
                "8",
                "--cache-aside",
                "--keys",
                "2000",
                "--dist",
                "zipf:0.99",
                "--requests",
                "6000",
                "--warmup-requests",
                "600",
                "--timeline-ms",
                "5",
            ],
        );
        assert_eq!(r.gets, 5400);
        let (ops, gets, hits, misses, sets, _) = timeline_sums(&r);
        // Warm-up requests are in no interval, as in no other figure.
        assert_eq!(
            (ops, gets, hits, misses, sets),
            (r.ops, r.gets, r.hits, r.misses, r.sets)
        );
        assert!(r.started_unix_secs > 1.7e9);
    }

    #[test]
    fn timeline_covers_a_timed_run() {
        let r = run_with(
            usize::MAX,
            &[
                "-c",
                "2",
                "--keys",
                "100",
                "--prefill",
                "-t",
                "0.35",
                "--timeline-ms",
                "100",
            ],
        );
        let (ops, gets, hits, _, sets, len) = timeline_sums(&r);
        // 0.35 s: intervals from 0, 0.1, 0.2 and 0.3 s; the last one is cut
        // short by the end of the run (a reply late by over 50 ms on a busy
        // machine makes a fifth).
        assert!((4..=5).contains(&len), "{:?}", r.timeline);
        assert_eq!((ops, gets, hits, sets), (r.ops, r.gets, r.hits, r.sets));
        let tl = r.timeline.as_ref().unwrap();
        assert!(tl[..3]
            .iter()
            .all(|p| p.ops > 0 && p.hit_ratio == Some(1.0)));
        assert!(tl[..3].iter().all(|p| p.p99_us.is_some_and(|v| v > 0.0)));
        assert!(tl[..3].iter().all(|p| (p.secs - 0.1).abs() < 1e-9));
        let last = &tl[len - 1];
        assert!(last.secs < 0.1 && last.secs > 0.0, "{}", last.secs);
    }

    #[test]
    fn refuses_a_timeline_it_cannot_hold() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["ringcache-loadgen", "-s", "127.0.0.1:1"];
            argv.extend_from_slice(extra);
            parse_args(&Args::parse_from(argv)).map(|_| ())
        };
        assert!(parse(&["--timeline-ms", "0"]).is_err());
        assert!(parse(&["-t", "3600", "--timeline-ms", "100"]).is_err());
        assert!(parse(&["-t", "20", "--timeline-ms", "500"]).is_ok());
        // A request count may run any length: the last interval takes the rest.
        assert!(parse(&["-n", "1000000000", "--timeline-ms", "1"]).is_ok());
    }

    #[test]
    fn cache_aside_timeline_against_a_node() {
        // An in-process ringcache node on 127.0.0.1:0: the cache-aside
        // loop and the timeline against the real server, not the stand-in.
        use ringcache_server::{serve, Node, NodeConfig};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let target = listener.local_addr().unwrap().to_string();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(
                listener,
                Node::new(NodeConfig::default()),
                async move {
                    let _ = stopped.await;
                },
            ));
            let args = Args::parse_from([
                "ringcache-loadgen",
                "-q",
                "-s",
                &target,
                "-c",
                "2",
                "-d",
                "16",
                "--cache-aside",
                "--keys",
                "1000",
                "--dist",
                "zipf:0.99",
                "--requests",
                "4000",
                "--timeline-ms",
                "2",
            ]);
            let run = parse_args(&args).unwrap();
            let r = run_all(args, run).await.unwrap();
            let _ = stop.send(());
            server.await.unwrap();
            r
        });
        assert_eq!((r.gets, r.errors), (4000, 0));
        // Nothing is evicted: every key misses once, then hits.
        assert_eq!(r.sets, r.misses);
        assert!(r.misses <= 1000 && r.hits >= 3000, "{} hits", r.hits);
        let (ops, gets, hits, misses, sets, _) = timeline_sums(&r);
        assert_eq!(
            (ops, gets, hits, misses, sets),
            (r.ops, r.gets, r.hits, r.misses, r.sets)
        );
    }

    #[test]
    fn refuses_non_loopback_targets() {
        let args = Args::parse_from(["ringcache-loadgen", "-s", "192.0.2.1:11211"]);
        assert!(parse_args(&args).unwrap_err().contains("loopback"));
    }
}
