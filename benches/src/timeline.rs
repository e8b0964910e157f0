//! A run's figures per fixed interval of time: the load generator's
//! `--timeline-ms`.
//!
//! A whole-run hit ratio hides what a ring change does: keys that moved miss
//! once on their new node, then the hot ones are filled again within
//! moments. The timeline keeps, for each interval since the start of the
//! run, the requests answered in it (by the time their reply arrived), gets,
//! hits, misses, sets, errors and a latency histogram, so the dip and the
//! recovery show as a curve.
//!
//! # Layout
//! - [`Timeline`]: the run's intervals, shared by all connections behind a
//!   `Mutex`;
//! - [`Recorder`]: one connection's current interval. The hot path
//!   ([`Recorder::at`]) touches only the recorder: one comparison of
//!   instants per reply, no lock, no allocation. When a reply falls in a
//!   later interval, the recorder adds what it holds to the [`Timeline`]
//!   (one lock per connection per interval) and starts afresh, reusing its
//!   histogram;
//! - [`Timeline::points`]: the intervals as [`Point`]s for the JSON report.
//!
//! Latency per interval is kept at two significant digits, in microseconds
//! (1% resolution is plenty for a p99 curve, and a histogram costs 20 KiB
//! instead of the whole-run histograms' 220 KiB). At most [`MAX_INTERVALS`]
//! intervals are kept; replies after the last one are counted in it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Most intervals a timeline holds (about 80 MiB of histograms at worst).
pub const MAX_INTERVALS: usize = 4096;

/// Largest latency an interval's histogram holds (60 s, in µs); longer ones
/// saturate.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Which interval `now` falls in, counting from `start`; instants before
/// `start` fall in the first. Capped at `MAX_INTERVALS - 1`.
///
/// # Panics
///
/// If `interval` is zero.
pub fn interval_index(start: Instant, now: Instant, interval: Duration) -> usize {
    assert!(!interval.is_zero(), "a timeline interval cannot be zero");
    let i = now.saturating_duration_since(start).as_nanos() / interval.as_nanos();
    usize::try_from(i).map_or(MAX_INTERVALS - 1, |i| i.min(MAX_INTERVALS - 1))
}

/// What happened in one interval.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Requests answered (gets, multi-gets and sets, cache-aside fills
    /// included).
    pub ops: u64,
    /// Get and multi-get requests answered.
    pub gets: u64,
    /// Keys asked for by those gets.
    pub get_keys: u64,
    /// Keys found.
    pub hits: u64,
    /// Keys not found.
    pub misses: u64,
    /// Sets answered.
    pub sets: u64,
    /// Error replies, and requests lost with a broken connection.
    pub errors: u64,
    latency: Histogram<u64>,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            ops: 0,
            gets: 0,
            get_keys: 0,
            hits: 0,
            misses: 0,
            sets: 0,
            errors: 0,
            // Constant bounds that hdrhistogram accepts.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 2)
                .unwrap_or_else(|_| unreachable!()),
        }
    }

    /// Records one request's latency.
    pub fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(MAX_LATENCY_US);
        self.latency.saturating_record(us.max(1));
    }

    fn is_empty(&self) -> bool {
        self.ops == 0 && self.errors == 0
    }

    fn add(&mut self, o: &Bucket) {
        self.ops += o.ops;
        self.gets += o.gets;
        self.get_keys += o.get_keys;
        self.hits += o.hits;
        self.misses += o.misses;
        self.sets += o.sets;
        self.errors += o.errors;
        // Same bounds on both sides: add cannot fail.
        let _ = self.latency.add(&o.latency);
    }

    fn reset(&mut self) {
        self.ops = 0;
        self.gets = 0;
        self.get_keys = 0;
        self.hits = 0;
        self.misses = 0;
        self.sets = 0;
        self.errors = 0;
        self.latency.reset();
    }
}

/// The intervals of one run, merged from every connection's [`Recorder`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ringcache_benches::timeline::Timeline;
///
/// let start = Instant::now();
/// let shared = Timeline::shared(Duration::from_millis(500));
/// let mut rec = Timeline::recorder(&shared, start);
/// let b = rec.at(start + Duration::from_millis(700));
/// b.ops += 1;
/// b.gets += 1;
/// b.get_keys += 1;
/// b.hits += 1;
/// rec.flush();
/// let points = shared.lock().unwrap().points(Duration::from_secs(1));
/// assert_eq!(points.len(), 2);
/// assert_eq!(points[1].hit_ratio, Some(1.0));
/// ```
#[derive(Debug)]
pub struct Timeline {
    interval: Duration,
    /// Index `i` covers `[i * interval, (i + 1) * interval)` from the start;
    /// `None` until something is recorded in it.
    buckets: Vec<Option<Bucket>>,
}

impl Timeline {
    /// An empty timeline of `interval`-long intervals, ready to share.
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    pub fn shared(interval: Duration) -> Arc<Mutex<Timeline>> {
        assert!(!interval.is_zero(), "a timeline interval cannot be zero");
        Arc::new(Mutex::new(Timeline {
            interval,
            buckets: Vec::new(),
        }))
    }

    /// A recorder for one connection, timing from `start` (the run's start,
    /// the same for every connection).
    pub fn recorder(shared: &Arc<Mutex<Timeline>>, start: Instant) -> Recorder {
        let interval = shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .interval;
        Recorder {
            shared: Arc::clone(shared),
            start,
            interval,
            index: 0,
            begin: start,
            end: start + interval,
            current: Bucket::new(),
        }
    }

    /// The length of each interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn add(&mut self, index: usize, b: &Bucket) {
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, || None);
        }
        self.buckets[index].get_or_insert_with(Bucket::new).add(b);
    }

    /// One point per interval from the start to the last one with a reply
    /// in it (empty intervals in between are points with zero counts).
    /// `elapsed` is the run's length: the last interval may be shorter, and
    /// its ops/s is taken over the part of it the run covered.
    pub fn points(&self, elapsed: Duration) -> Vec<Point> {
        let iv = self.interval.as_secs_f64();
        let total = elapsed.as_secs_f64();
        let empty = Bucket::new();
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let b = b.as_ref().unwrap_or(&empty);
                let t = i as f64 * iv;
                // Past the end of the run (a reply after `elapsed` was
                // taken, or the capped last interval): a whole interval.
                let covered = if total > t { (total - t).min(iv) } else { iv };
                let quantile =
                    |q: f64| (!b.latency.is_empty()).then(|| b.latency.value_at_quantile(q) as f64);
                Point {
                    t_secs: t,
                    secs: covered,
                    ops: b.ops,
                    ops_per_sec: if covered > 0.0 {
                        b.ops as f64 / covered
                    } else {
                        0.0
                    },
                    gets: b.gets,
                    get_keys: b.get_keys,
                    hits: b.hits,
                    misses: b.misses,
                    hit_ratio: (b.get_keys > 0).then(|| b.hits as f64 / b.get_keys as f64),
                    sets: b.sets,
                    errors: b.errors,
                    p50_us: quantile(0.5),
                    p99_us: quantile(0.99),
                }
            })
            .collect()
    }
}

/// One connection's view of the [`Timeline`]: the interval it is filling.
///
/// Dropping it flushes what it holds.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Mutex<Timeline>>,
    start: Instant,
    interval: Duration,
    index: usize,
    /// The current interval is `[begin, end)`.
    begin: Instant,
    end: Instant,
    current: Bucket,
}

impl Recorder {
    /// The bucket of the interval `now` falls in, for the caller to count
    /// into. Moving to another interval flushes the current one first.
    #[inline]
    pub fn at(&mut self, now: Instant) -> &mut Bucket {
        if now >= self.end || now < self.begin {
            self.move_to(now);
        }
        &mut self.current
    }

    #[cold]
    fn move_to(&mut self, now: Instant) {
        self.flush();
        self.index = interval_index(self.start, now, self.interval);
        let n = u32::try_from(self.index).unwrap_or(u32::MAX);
        self.begin = self.start + self.interval * n;
        self.end = if self.index == MAX_INTERVALS - 1 {
            // The last interval takes everything after it.
            now + Duration::from_secs(86_400 * 365)
        } else {
            self.begin + self.interval
        };
        if now < self.begin {
            // Before the start: counted in the first interval.
            self.begin = now;
        }
    }

    /// Adds what the current interval holds to the shared timeline.
    pub fn flush(&mut self) {
        if self.current.is_empty() {
            return;
        }
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(self.index, &self.current);
        self.current.reset();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One interval of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Start of the interval, in seconds from the start of the run.
    pub t_secs: f64,
    /// How much of the interval the run covered (the last one may be short).
    pub secs: f64,
    /// Requests answered, fills included.
    pub ops: u64,
    /// `ops / secs`.
    pub ops_per_sec: f64,
    /// Get and multi-get requests answered.
    pub gets: u64,
    /// Keys those gets asked for.
    pub get_keys: u64,
    /// Keys found.
    pub hits: u64,
    /// Keys not found.
    pub misses: u64,
    /// `hits / get_keys`, if any key was asked for.
    pub hit_ratio: Option<f64>,
    /// Sets answered (in cache-aside mode: the fills, i.e. database reads).
    pub sets: u64,
    /// Error replies and requests lost with a connection.
    pub errors: u64,
    /// Median latency in µs, if any request was answered.
    pub p50_us: Option<f64>,
    /// 99th percentile latency in µs, if any request was answered.
    pub p99_us: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Within the histogram's 1% (quantiles are the top of their bucket).
    fn near(v: Option<f64>, want: f64) -> bool {
        v.is_some_and(|v| v >= want && v <= want * 1.01)
    }

    #[test]
    fn index_counts_whole_intervals_from_the_start() {
        let t0 = Instant::now();
        let iv = 500 * MS;
        assert_eq!(interval_index(t0, t0, iv), 0);
        assert_eq!(interval_index(t0, t0 + 499 * MS, iv), 0);
        assert_eq!(interval_index(t0, t0 + 500 * MS, iv), 1);
        assert_eq!(interval_index(t0, t0 + 1999 * MS, iv), 3);
        assert_eq!(interval_index(t0 + MS, t0, iv), 0, "before the start");
        assert_eq!(
            interval_index(t0, t0 + Duration::from_secs(1_000_000), iv),
            MAX_INTERVALS - 1,
            "capped"
        );
    }

    fn get(rec: &mut Recorder, now: Instant, hit: bool, latency: Duration) {
        let b = rec.at(now);
        b.ops += 1;
        b.gets += 1;
        b.get_keys += 1;
        b.hits += u64::from(hit);
        b.misses += u64::from(!hit);
        b.record_latency(latency);
    }

    #[test]
    fn replies_land_in_the_interval_of_their_arrival() {
        let t0 = Instant::now();
        let shared = Timeline::shared(100 * MS);
        let mut rec = Timeline::recorder(&shared, t0);
        get(&mut rec, t0 + 10 * MS, true, 100 * MS / 1000);
        get(&mut rec, t0 + 99 * MS, false, 200 * MS / 1000);
        // Nothing in [100, 200) ms.
        get(&mut rec, t0 + 200 * MS, true, 300 * MS / 1000);
        get(&mut rec, t0 + 250 * MS, true, 300 * MS / 1000);
        // Not flushed yet: the current interval stays with the recorder.
        assert_eq!(shared.lock().unwrap().buckets.len(), 1);
        drop(rec);
        let p = shared.lock().unwrap().points(250 * MS);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].gets, p[0].hits, p[0].misses), (2, 1, 1));
        assert_eq!(p[0].hit_ratio, Some(0.5));
        assert_eq!((p[1].ops, p[1].hit_ratio, p[1].p99_us), (0, None, None));
        assert_eq!((p[2].gets, p[2].hit_ratio), (2, Some(1.0)));
        // ops/s over the 50 ms the run covered of the last interval.
        assert!((p[2].secs - 0.05).abs() < 1e-9);
        assert!((p[2].ops_per_sec - 40.0).abs() < 1e-6);
        assert!((p[0].ops_per_sec - 20.0).abs() < 1e-6);
        assert!(near(p[0].p99_us, 200.0), "{:?}", p[0].p99_us);
        assert!(near(p[2].p50_us, 300.0), "{:?}", p[2].p50_us);
        assert!((p[2].t_secs - 0.2).abs() < 1e-9);
    }

    #[test]
    fn connections_merge_into_one_interval() {
        let t0 = Instant::now();
        let shared = Timeline::shared(Duration::from_secs(1));
        let mut a = Timeline::recorder(&shared, t0);
        let mut b = Timeline::recorder(&shared, t0);
        for i in 0..100u32 {
            get(&mut a, t0 + i * MS, true, MS);
            get(&mut b, t0 + i * MS, i % 4 != 0, 2 * MS);
        }
        // A late reply in interval 1 flushes `a`'s interval 0.
        let late = a.at(t0 + Duration::from_millis(1500));
        late.sets += 1;
        late.ops += 1;
        assert_eq!(shared.lock().unwrap().buckets.len(), 1);
        drop(a);
        drop(b);
        let p = shared.lock().unwrap().points(Duration::from_secs(2));
        assert_eq!(p[0].gets, 200);
        assert_eq!(p[0].hits, 175);
        assert_eq!(p[0].hit_ratio, Some(0.875));
        assert!(near(p[0].p50_us, 1000.0), "{:?}", p[0].p50_us);
        assert!(near(p[0].p99_us, 2000.0), "{:?}", p[0].p99_us);
        assert_eq!((p[1].ops, p[1].sets, p[1].gets), (1, 1, 0));
    }

    #[test]
    fn a_recorder_can_go_back_an_interval() {
        let t0 = Instant::now();
        let shared = Timeline::shared(10 * MS);
        let mut rec = Timeline::recorder(&shared, t0);
        get(&mut rec, t0 + 25 * MS, true, MS);
        get(&mut rec, t0 + 5 * MS, false, MS);
        get(&mut rec, t0 + 26 * MS, true, MS);
        drop(rec);
        let p = shared.lock().unwrap().points(30 * MS);
        assert_eq!(p.iter().map(|p| p.gets).collect::<Vec<_>>(), [1, 0, 2]);
    }

    #[test]
    fn errors_alone_make_a_point() {
        let t0 = Instant::now();
        let shared = Timeline::shared(10 * MS);
        let mut rec = Timeline::recorder(&shared, t0);
        rec.at(t0 + 15 * MS).errors += 3;
        rec.flush();
        let p = shared.lock().unwrap().points(20 * MS);
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].errors, p[1].ops, p[1].hit_ratio), (3, 0, None));
    }

    #[test]
    fn the_last_interval_takes_everything_after_it() {
        let t0 = Instant::now();
        let shared = Timeline::shared(MS);
        let mut rec = Timeline::recorder(&shared, t0);
        let far = t0 + MS * u32::try_from(MAX_INTERVALS + 10).unwrap();
        get(&mut rec, far, true, MS);
        get(&mut rec, far + Duration::from_secs(5), true, MS);
        drop(rec);
        let t = shared.lock().unwrap();
        assert_eq!(t.buckets.len(), MAX_INTERVALS);
        assert_eq!(t.buckets[MAX_INTERVALS - 1].as_ref().unwrap().gets, 2);
    }
}
