//! The item store: a `moka::future::Cache` of `Item`s plus the node-wide
//! counters, CAS sequence and `flush_all` deadline.
//!
//! # Contents
//!
//! - `Item`: one stored value with memcached's metadata and the meta
//!   protocol's per-item flags.
//! - `Store`: cheap to clone (one `Arc`), never behind a lock.
//!   - reads: `Store::get`, `Store::peek`.
//!   - mutations, all through `Store::compute` (moka's `and_compute_with`,
//!     one call per key at a time): `Store::store`, `Store::delta`,
//!     `Store::touch`, `Store::delete`.
//!   - whole-cache: `Store::flush_all`, `Store::sync`, `Store::scan`
//!     (every live item, for `lru_crawler metadump`).
//! - `expiry`: the exptime rules and moka's per-entry `moka::Expiry`.
//! - `stats`: the relaxed-atomic counters behind `stats`.
//!
//! # Memory bound
//!
//! `-m` becomes moka's `max_capacity` in bytes, and each entry weighs
//! `key + value + ENTRY_OVERHEAD` (see `ENTRY_OVERHEAD` for how that
//! constant was measured).

pub(crate) mod expiry;
mod hasher;
pub(crate) mod stats;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use ringcache_protocol::Limits;
use twox_hash::XxHash3_128;

pub(crate) use expiry::{deadline, is_expired, now_unix, Deadline};
pub(crate) use stats::Stats;

/// Bytes of bookkeeping one entry costs beyond its key and value bytes:
/// moka's entry (hash-table bucket, `ValueEntry`, its `Arc`'d [`ItemKey`],
/// access-order deque node, timer-wheel node when it has a TTL, frequency
/// sketch share), our `Arc<Item>` and the one heap block holding key and
/// value, each with the allocator's rounding.
///
/// Measured with `RINGCACHE_MEASURE_TTL=0 cargo test -p ringcache-server
/// --release --lib -- --ignored measure_entry_overhead --nocapture` (the
/// test is in `store/tests.rs`; one configuration per process so freed
/// memory is not reused): insert 500 000 items with 20-byte keys and
/// 100-byte values through the real write path, read RSS from
/// `/proc/self/statm` before and after, divide the growth by the count and
/// subtract the 120 payload bytes. On x86_64 Linux (glibc malloc, moka
/// 0.12.16) that gave 430 bytes per entry without a TTL and 477 with one
/// (`RINGCACHE_MEASURE_TTL=3600`: the timer wheel adds a node); the first
/// read of an item adds the 32-byte shared header of its `Bytes`. We use
/// 500 so that `-m` bounds RSS, not just payload. memcached's own overhead
/// is 48–56 bytes of item header plus slab rounding, so for small items a
/// ringcache node holds fewer items per megabyte of `-m` than memcached;
/// moka's own share (about 240 bytes an entry) is most of the difference.
pub(crate) const ENTRY_OVERHEAD: u32 = 500;

/// Entries [`Store::scan`] visits between two yields to the runtime.
const SCAN_YIELD_EVERY: usize = 1024;

/// Which of moka's eviction policies bounds the cache (`--eviction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// moka's TinyLFU: a frequency sketch decides whether a new entry is
    /// *admitted* at all when the cache is full; eviction is LRU. Opt in
    /// with `--eviction tinylfu`, for pure cache-aside workloads only.
    ///
    /// Measured (`measure_eviction_hit_ratio` in `store/tests.rs`, Zipf(0.99)
    /// cache-aside over 200 000 keys, 2 M gets, release build):
    ///
    /// | keys that fit | TinyLFU hit ratio | LRU hit ratio | sets not readable right after (TinyLFU / LRU) |
    /// |---|---|---|---|
    /// | 1 %  | 0.529 | 0.515 | 43 % / 0 % |
    /// | 10 % | 0.742 | 0.737 | 26 % / 0 % |
    /// | 30 % | 0.851 | 0.848 | 29 % / 0 % |
    ///
    /// and `benches/scripts/hit_ratio.sh` (1 M keys, `-m 16`): 0.660 against
    /// LRU's 0.650 on Zipf(0.99), 0.474 against 0.460 with scans.
    ///
    /// TinyLFU wins by 0.3–1.4 points, but once the cache is full it refuses
    /// to admit a quarter or more of new keys while the client is told
    /// `STORED`. memcached always stores (it evicts the LRU tail instead),
    /// and clients depend on that: `add` used as a lock would let two
    /// holders in, a session written and read back would vanish. A point of
    /// hit ratio does not buy that, so it is not the default.
    TinyLfu,
    /// Least-recently-used, closest to memcached's segmented LRU: a stored
    /// item stays readable until it is the least recently used one. The
    /// default.
    #[default]
    Lru,
}

/// What the store is built with.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The byte budget (`-m` in bytes).
    pub max_bytes: u64,
    /// The eviction policy.
    pub eviction: Eviction,
    /// `-I`: append/prepend results larger than this are refused.
    pub max_item_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_bytes: 64 * 1024 * 1024,
            eviction: Eviction::default(),
            max_item_size: 1024 * 1024,
        }
    }
}

/// One stored value with memcached's metadata (client flags, CAS unique,
/// deadline) and the per-item state the meta protocol reads and writes.
///
/// The key and the value share one buffer of exactly their size: moka's
/// own key is only the key's hash ([`ItemKey`]), so the item carries its
/// key, and a lookup checks it.
///
/// The immutable fields change only by replacing the whole `Item` inside a
/// compute on its key; the few fields a *read* changes (last access,
/// fetched, win token handed out) are atomics so that a `get` does not need
/// the per-key compute.
#[derive(Debug)]
pub(crate) struct Item {
    /// The key, then the value.
    data: Bytes,
    /// Where the value starts in `data` (keys are at most 250 bytes).
    key_len: u16,
    /// The client's opaque flags.
    pub(crate) flags: u32,
    /// The CAS unique, changed by every modification.
    pub(crate) cas: u64,
    /// Unix second at which the item dies; 0 = never.
    pub(crate) expires_at: u64,
    /// Unix second of the last modification (`flush_all <delay>` removes
    /// items written at or before its deadline), in 32 bits as memcached
    /// keeps its times (good until 2106): with it the `Item` fits 72 bytes
    /// and its `Arc` one 96-byte allocation, not 112.
    time: u32,
    /// Marked stale by a meta invalidation (`md I`, `ms I`).
    pub(crate) stale: bool,
    /// The key was stored by `ms ... b` (memcached's `ITEM_KEY_BINARY`):
    /// `mg k` and `me` print it in base64. Set by the meta executor only.
    pub(crate) key_binary: bool,
    /// Unix second of the last access (set or fetch).
    pub(crate) last_access: AtomicU64,
    /// Fetched at least once since it was written.
    pub(crate) fetched: AtomicBool,
    /// A meta `W` (win) token has been handed out for this item.
    pub(crate) win_sent: AtomicBool,
}

impl Item {
    /// A fresh item written at `now`, holding `key` and the concatenation
    /// of `value` (one part, or two for append and prepend), copied into
    /// one buffer of their exact size: a stored item never keeps a read
    /// buffer alive inside moka.
    pub(crate) fn new(
        key: &[u8],
        value: &[&[u8]],
        flags: u32,
        cas: u64,
        expires_at: u64,
        now: u64,
    ) -> Self {
        Item {
            data: joined(key, value),
            key_len: u16::try_from(key.len()).unwrap_or(u16::MAX),
            flags,
            cas,
            expires_at,
            time: seconds32(now),
            stale: false,
            key_binary: false,
            last_access: AtomicU64::new(now),
            fetched: AtomicBool::new(false),
            win_sent: AtomicBool::new(false),
        }
    }

    /// Marks the item as written at `now` (see `time`).
    pub(crate) fn written_at(&mut self, now: u64) {
        self.time = seconds32(now);
    }

    /// The key it was stored under.
    pub(crate) fn key(&self) -> &[u8] {
        &self.data[..usize::from(self.key_len)]
    }

    /// The value bytes.
    pub(crate) fn value(&self) -> &[u8] {
        &self.data[usize::from(self.key_len)..]
    }

    /// The value as a `Bytes` sharing the item's buffer (for a reply).
    pub(crate) fn value_bytes(&self) -> Bytes {
        self.data.slice(usize::from(self.key_len)..)
    }

    /// A copy of this item with the same value and per-item state, to be
    /// changed field by field before it replaces the original.
    pub(crate) fn copy(&self) -> Self {
        Item {
            data: self.data.clone(),
            key_len: self.key_len,
            flags: self.flags,
            cas: self.cas,
            expires_at: self.expires_at,
            time: self.time,
            stale: self.stale,
            key_binary: self.key_binary,
            last_access: AtomicU64::new(self.last_access.load(Ordering::Relaxed)),
            fetched: AtomicBool::new(self.fetched.load(Ordering::Relaxed)),
            win_sent: AtomicBool::new(self.win_sent.load(Ordering::Relaxed)),
        }
    }

    /// [`Item::copy`] with another value (the same key).
    pub(crate) fn copy_with_value(&self, value: &[&[u8]]) -> Self {
        let mut next = self.copy();
        next.data = joined(self.key(), value);
        next
    }

    /// Records a fetch at `now`: returns whether the item had been fetched
    /// before, and the unix second of the previous access.
    pub(crate) fn touch_access(&self, now: u64) -> (bool, u64) {
        // Load before storing: a hot key is read on every core, and an
        // unconditional write would bounce its cache line between them.
        let was_fetched = self.fetched.load(Ordering::Relaxed);
        if !was_fetched {
            self.fetched.store(true, Ordering::Relaxed);
        }
        let last = self.last_access.load(Ordering::Relaxed);
        if last != now {
            self.last_access.store(now, Ordering::Relaxed);
        }
        (was_fetched, last)
    }
}

/// A unix second in 32 bits, saturated (after 2106).
fn seconds32(unix: u64) -> u32 {
    u32::try_from(unix).unwrap_or(u32::MAX)
}

/// `key` and the parts of a value, copied into one buffer of their exact
/// size.
fn joined(key: &[u8], value: &[&[u8]]) -> Bytes {
    let len = key.len() + value.iter().map(|part| part.len()).sum::<usize>();
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(key);
    for part in value {
        buf.extend_from_slice(part);
    }
    Bytes::from(buf)
}

/// moka's key for an item: the 128-bit xxh3 of the key bytes, seeded per
/// process. It is 16 bytes inline where a `Bytes` key would be a header
/// plus a heap block of its own, and moka hashes and compares it (on
/// every lookup, in its table, its per-key locks and its frequency
/// sketch) without touching the key bytes. Two keys with one hash are
/// told apart by the key the [`Item`] carries: the later write replaces
/// the earlier item, as an eviction would, and a read of the other key
/// misses. With 128 bits and a secret seed that is a chance of about
/// n² / 2¹²⁹ for n items, never a wrong value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ItemKey(u128);

impl std::hash::Hash for ItemKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Already uniformly spread: moka's hasher passes it through.
        state.write_u64(self.0 as u64);
    }
}

/// How a storage command treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Only if absent.
    Add,
    /// Only if present.
    Replace,
    /// Add to the end of an existing value (flags and exptime kept).
    Append,
    /// Add to the front of an existing value (flags and exptime kept).
    Prepend,
    /// Only if present and its CAS unique equals this one.
    Cas(u64),
}

/// The outcome of a storage command, as memcached words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOutcome {
    /// `STORED`, with the new item's CAS unique.
    Stored(u64),
    /// `NOT_STORED`: add on a present key, replace/append/prepend on an
    /// absent one.
    NotStored,
    /// `EXISTS`: cas with a stale unique.
    Exists,
    /// `NOT_FOUND`: cas on an absent key.
    NotFound,
}

/// The outcome of `incr`/`decr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaOutcome {
    /// The new value and the item's new CAS unique.
    Value(u64, u64),
    /// No such item.
    NotFound,
    /// The item is not a decimal number memcached would accept.
    NonNumeric,
}

/// What a [`Store::compute`] closure decides to do with the key.
#[derive(Debug)]
pub(crate) enum Change {
    /// Leave the entry as it is.
    Keep,
    /// Write this item (insert or replace).
    Put(Arc<Item>),
    /// Remove the entry.
    Remove,
}

struct Inner {
    cache: Cache<ItemKey, Arc<Item>, hasher::PassThrough>,
    /// Seed of [`ItemKey`]s, random per process so that clients cannot
    /// choose keys that collide.
    seed: u64,
    cas: AtomicU64,
    /// `flush_all <delay>`: unix second at which items written at or before
    /// it become invalid; 0 = none pending.
    flush_deadline: AtomicU64,
    stats: Stats,
    /// moka's fixed capacity: the `-m` the store was built with.
    capacity: u64,
    /// The current limit (`-m`, moved by `cache_memlimit`), shared with the
    /// weigher.
    max_bytes: Arc<AtomicU64>,
    limits: Limits,
}

/// The node's item store. Clones share one cache.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("max_bytes", &self.max_bytes())
            .field("entries", &self.inner.cache.entry_count())
            .finish()
    }
}

/// moka's weigher: key, value and the measured per-entry overhead, saturated
/// to `u32` (an item is at most 1 GiB, `-I`'s upper bound).
pub(crate) fn weigh(item: &Item) -> u32 {
    u32::try_from(item.data.len())
        .unwrap_or(u32::MAX)
        .saturating_add(ENTRY_OVERHEAD)
}

impl Store {
    /// Builds a store bounded by `config.max_bytes`.
    pub fn new(config: &StoreConfig) -> Self {
        let stats = Stats::default();
        let evictions = stats.evictions_handle();
        let expirations = stats.expirations_handle();
        let policy = match config.eviction {
            Eviction::TinyLfu => EvictionPolicy::tiny_lfu(),
            Eviction::Lru => EvictionPolicy::lru(),
        };
        // moka cannot change its capacity once built, so `cache_memlimit`
        // rescales the weights instead: an entry weighs its bytes times
        // capacity / limit, and the cache holds `limit` bytes of entries.
        let capacity = config.max_bytes.max(1);
        let max_bytes = Arc::new(AtomicU64::new(capacity));
        let limit = Arc::clone(&max_bytes);
        let cache = Cache::builder()
            .max_capacity(capacity)
            .weigher(move |_key: &ItemKey, item: &Arc<Item>| {
                let raw = u64::from(weigh(item));
                let limit = limit.load(Ordering::Relaxed).max(1);
                if limit == capacity {
                    return u32::try_from(raw).unwrap_or(u32::MAX);
                }
                let scaled = u128::from(raw) * u128::from(capacity) / u128::from(limit);
                u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
            })
            .eviction_policy(policy)
            .expire_after(expiry::ItemExpiry)
            .eviction_listener(move |_key, _item, cause| {
                match cause {
                    RemovalCause::Size => evictions.fetch_add(1, Ordering::Relaxed),
                    RemovalCause::Expired => expirations.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            })
            .build_with_hasher(hasher::PassThrough);
        Store {
            inner: Arc::new(Inner {
                cache,
                seed: std::hash::RandomState::new().hash_one(0x5eed_u64),
                cas: AtomicU64::new(0),
                flush_deadline: AtomicU64::new(0),
                stats,
                capacity,
                max_bytes,
                limits: Limits::default().max_item_size(config.max_item_size),
            }),
        }
    }

    /// moka's key for `key`.
    fn item_key(&self, key: &[u8]) -> ItemKey {
        ItemKey(XxHash3_128::oneshot_with_seed(self.inner.seed, key))
    }

    /// The item stored under `key`, live or not.
    async fn lookup(&self, key: &[u8]) -> Option<Arc<Item>> {
        let item = self.inner.cache.get(&self.item_key(key)).await?;
        (item.key() == key).then_some(item)
    }

    /// The node-wide counters.
    pub(crate) fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The byte budget (`limit_maxbytes`).
    pub(crate) fn max_bytes(&self) -> u64 {
        self.inner.max_bytes.load(Ordering::Relaxed)
    }

    /// `cache_memlimit`: moves the byte budget. Entries written from now on
    /// are weighed against the new limit; existing ones keep their weight
    /// until rewritten, so a smaller limit takes hold as the cache turns
    /// over (memcached likewise frees nothing at once).
    pub(crate) fn set_max_bytes(&self, bytes: u64) {
        self.inner.max_bytes.store(bytes.max(1), Ordering::Relaxed);
    }

    /// A fresh CAS unique. Every modification takes one, so two versions of
    /// any item never share a unique.
    pub(crate) fn next_cas(&self) -> u64 {
        self.inner.cas.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether `item` may be served at `now`, counting the reason when not.
    fn live(&self, item: &Item, now: u64, count: bool) -> bool {
        let flush = self.inner.flush_deadline.load(Ordering::Relaxed);
        if flush != 0 && flush <= now && u64::from(item.time) <= flush {
            if count {
                self.inner.stats.get_flushed.incr();
            }
            return false;
        }
        if is_expired(item.expires_at, now) {
            if count {
                self.inner.stats.get_expired.incr();
            }
            return false;
        }
        true
    }

    /// Looks `key` up for a fetch: a live item, with its access recorded.
    /// Counts `get_expired`/`get_flushed` for dead ones; hit and miss
    /// counters are the caller's (they depend on the command).
    pub(crate) async fn get(&self, key: &[u8], now: u64) -> Option<Arc<Item>> {
        let item = self.lookup(key).await?;
        if !self.live(&item, now, true) {
            return None;
        }
        item.touch_access(now);
        Some(item)
    }

    /// Looks `key` up without recording an access (the meta commands decide
    /// themselves what a fetch changes). Counts `get_expired`/`get_flushed`.
    pub(crate) async fn peek(&self, key: &[u8], now: u64) -> Option<Arc<Item>> {
        let item = self.lookup(key).await?;
        self.live(&item, now, true).then_some(item)
    }

    /// Whether an item of this shape fits under `-I` (memcached's
    /// `item_size_ok`).
    pub(crate) fn fits(&self, key_len: usize, flags: u32, value_len: usize) -> bool {
        self.inner.limits.item_fits(key_len, flags, value_len)
    }

    /// Runs `f` on the live item under `key` (or `None`) with moka's per-key
    /// ordering, applies the [`Change`] it returns, and hands back its other
    /// result. Every mutation of the store goes through here: it is the one
    /// place that writes to moka, so no plain `insert` ever races a compute
    /// on the same key.
    ///
    /// An entry under `key`'s hash that holds another key (see [`ItemKey`])
    /// is `None` to `f`; a `Put` replaces it.
    ///
    /// `f` runs at most once; `None` comes back only if moka did not call it,
    /// which its contract rules out.
    pub(crate) async fn compute<R>(
        &self,
        key: &[u8],
        now: u64,
        f: impl FnOnce(Option<&Arc<Item>>) -> (Change, R),
    ) -> Option<R> {
        let mut out = None;
        let this = self;
        let slot = &mut out;
        self.inner
            .cache
            .entry(self.item_key(key))
            .and_compute_with(move |entry| {
                let mine = entry
                    .as_ref()
                    .map(|e| e.value())
                    .filter(|item| item.key() == key);
                let current = mine.filter(|item| this.live(item, now, false));
                let (change, result) = f(current);
                *slot = Some(result);
                let op = match change {
                    Change::Keep if mine.is_some_and(|item| !this.live(item, now, false)) => {
                        // Reclaim a dead entry early rather than wait for
                        // moka's timer.
                        Op::Remove
                    }
                    Change::Keep => Op::Nop,
                    Change::Put(item) => Op::Put(item),
                    Change::Remove => Op::Remove,
                };
                std::future::ready(op)
            })
            .await;
        out
    }

    /// `set`/`add`/`replace`/`append`/`prepend`/`cas`. `value` is copied
    /// into its own buffer (append and prepend build a new one).
    pub(crate) async fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        now: u64,
    ) -> StoreOutcome {
        let expires_at = deadline(exptime, now);
        let result = self
            .compute(key, now, |current| {
                match (mode, current) {
                    (StoreMode::Add, Some(_)) => (Change::Keep, StoreOutcome::NotStored),
                    (StoreMode::Replace | StoreMode::Append | StoreMode::Prepend, None) => {
                        (Change::Keep, StoreOutcome::NotStored)
                    }
                    (StoreMode::Cas(_), None) => (Change::Keep, StoreOutcome::NotFound),
                    (StoreMode::Cas(unique), Some(item)) if item.cas != unique => {
                        (Change::Keep, StoreOutcome::Exists)
                    }
                    (StoreMode::Append | StoreMode::Prepend, Some(item))
                        if !self.fits(key.len(), item.flags, item.value().len() + value.len()) =>
                    {
                        // memcached cannot allocate the joined item.
                        (Change::Keep, StoreOutcome::NotStored)
                    }
                    (StoreMode::Append | StoreMode::Prepend, Some(item)) => {
                        let mut next = if mode == StoreMode::Append {
                            item.copy_with_value(&[item.value(), value])
                        } else {
                            item.copy_with_value(&[value, item.value()])
                        };
                        // memcached allocates a fresh item: the binary-key
                        // mark is not carried over.
                        next.key_binary = false;
                        next.cas = self.next_cas();
                        next.written_at(now);
                        let cas = next.cas;
                        (Change::Put(Arc::new(next)), StoreOutcome::Stored(cas))
                    }
                    _ => {
                        if expires_at == Deadline::Expired {
                            // Stored and instantly dead: memcached replies
                            // STORED and the key reads as a miss.
                            (Change::Remove, StoreOutcome::Stored(self.next_cas()))
                        } else {
                            let item = Item::new(
                                key,
                                &[value],
                                flags,
                                self.next_cas(),
                                expires_at.as_unix(),
                                now,
                            );
                            let cas = item.cas;
                            (Change::Put(Arc::new(item)), StoreOutcome::Stored(cas))
                        }
                    }
                }
            })
            .await;
        result.unwrap_or(StoreOutcome::NotStored)
    }

    /// `incr` (`incr = true`) or `decr` by `delta`, with memcached's rules:
    /// incr wraps at 2^64, decr stops at 0, and a result shorter than the old
    /// value is padded with spaces to the old length (memcached rewrites the
    /// digits in place).
    pub(crate) async fn delta(&self, key: &[u8], incr: bool, delta: u64, now: u64) -> DeltaOutcome {
        let result = self
            .compute(key, now, |current| {
                let Some(item) = current else {
                    return (Change::Keep, DeltaOutcome::NotFound);
                };
                let Some(old) = parse_counter(item.value()) else {
                    return (Change::Keep, DeltaOutcome::NonNumeric);
                };
                let new = if incr {
                    old.wrapping_add(delta)
                } else {
                    old.saturating_sub(delta)
                };
                let mut next = item.copy_with_value(&[&render_counter(new, item.value().len())]);
                next.cas = self.next_cas();
                next.written_at(now);
                let cas = next.cas;
                (Change::Put(Arc::new(next)), DeltaOutcome::Value(new, cas))
            })
            .await;
        result.unwrap_or(DeltaOutcome::NotFound)
    }

    /// `touch`/`gat`: sets a new exptime on a live item and returns it (the
    /// updated version). A negative or past exptime removes it, but the
    /// command still counts as a hit, as in memcached.
    pub(crate) async fn touch(&self, key: &[u8], exptime: i64, now: u64) -> Option<Arc<Item>> {
        let expires_at = deadline(exptime, now).as_unix();
        self.compute(key, now, |current| {
            let Some(item) = current else {
                return (Change::Keep, None);
            };
            let mut next = item.copy();
            next.expires_at = expires_at;
            next.fetched.store(true, Ordering::Relaxed);
            next.last_access.store(now, Ordering::Relaxed);
            let next = Arc::new(next);
            (Change::Put(Arc::clone(&next)), Some(next))
        })
        .await
        .flatten()
    }

    /// `delete`: whether a live item was removed.
    pub(crate) async fn delete(&self, key: &[u8], now: u64) -> bool {
        self.compute(key, now, |current| match current {
            Some(_) => (Change::Remove, true),
            None => (Change::Keep, false),
        })
        .await
        .unwrap_or(false)
    }

    /// `flush_all [delay]`. Without a delay (or with one ≤ 0) every item is
    /// invalidated now. With one, items written at or before `now + delay
    /// - 1` become invalid once that second arrives (memcached sets
    /// `oldest_live = realtime(delay) - 1`); items written later survive.
    pub(crate) fn flush_all(&self, delay: i64, now: u64) {
        if delay <= 0 {
            self.inner.flush_deadline.store(0, Ordering::Relaxed);
            self.inner.cache.invalidate_all();
            return;
        }
        let at = match deadline(delay, now) {
            Deadline::At(t) => t.saturating_sub(1),
            Deadline::Never | Deadline::Expired => now.saturating_sub(1),
        };
        self.inner.flush_deadline.store(at, Ordering::Relaxed);
    }

    /// Calls `f` on every live item, in moka's hash-table order, without
    /// recording an access (a dump must not make items look recently used).
    /// Yields to the runtime every [`SCAN_YIELD_EVERY`] entries, so a scan
    /// of millions of items does not hold a worker thread for its whole
    /// length. Items written or removed during the scan may or may not be
    /// seen, as with memcached's crawler.
    pub(crate) async fn scan(&self, now: u64, mut f: impl FnMut(&[u8], &Item) + Send) {
        let mut seen = 0usize;
        for (_, item) in self.inner.cache.iter() {
            if self.live(&item, now, false) {
                f(item.key(), &item);
            }
            seen += 1;
            if seen.is_multiple_of(SCAN_YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Lets moka finish its pending housekeeping so that item and byte
    /// counts are current (used by `stats`, which is rare).
    pub(crate) async fn sync(&self) {
        self.inner.cache.run_pending_tasks().await;
    }

    /// Items currently held (after [`Store::sync`], exact).
    pub(crate) fn item_count(&self) -> u64 {
        self.inner.cache.entry_count()
    }

    /// Bytes currently held by our accounting (key + value + overhead per
    /// entry), after [`Store::sync`]; approximate after `cache_memlimit`.
    pub(crate) fn weighted_bytes(&self) -> u64 {
        let weighted = u128::from(self.inner.cache.weighted_size());
        let scaled = weighted * u128::from(self.max_bytes()) / u128::from(self.inner.capacity);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

/// Reads a stored value as `incr`/`decr` do: C's `strtoull` (leading
/// whitespace, an optional sign, decimal digits) followed by whitespace or
/// the end of the value, no overflow, and no negative number other than
/// `-0`. Empty values are not numbers.
pub(crate) fn parse_counter(data: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < data.len() && is_space(data[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < data.len() && (data[i] == b'+' || data[i] == b'-') {
        negative = data[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut value: u64 = 0;
    while i < data.len() && data[i].is_ascii_digit() {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(data[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    if i < data.len() && !is_space(data[i]) {
        return None;
    }
    if negative {
        // strtoull negates; memcached refuses the result only when it looks
        // negative as a signed number, so "-0" reads as 0.
        let negated = value.wrapping_neg();
        if (negated as i64) < 0 {
            return None;
        }
        return Some(negated);
    }
    Some(value)
}

/// Renders a counter as memcached stores it: the digits, padded with spaces
/// to `old_len` when shorter (in-place rewrite), else exactly the digits.
pub(crate) fn render_counter(value: u64, old_len: usize) -> Vec<u8> {
    let mut digits = value.to_string().into_bytes();
    if digits.len() < old_len {
        digits.resize(old_len, b' ');
    }
    digits
}

#[cfg(test)]
mod tests;
