//! Cache-aside with anti-dogpiling: [`CacheAside`] (its docs describe the
//! protocol), the single-flight table and the lease dance.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use ringcache_protocol::{
    FlagOrder, MetaDelete, MetaDeleteFlags, MetaGet, MetaGetFlags, MetaReply, MetaSet,
    MetaSetFlags, MetaStatus, Request, Response,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::Error;
use crate::metrics::{LEASE_WAIT_EXPIRED_TOTAL, SINGLEFLIGHT_COALESCED_TOTAL};
use crate::near::NearCache;
use crate::{validate_key, Client};

/// Longest relative TTL memcached accepts; larger numbers are read as a
/// Unix time.
const MAX_RELATIVE_TTL: u64 = 60 * 60 * 24 * 30;

/// What cache-aside needs from a cache: one request sent to the node that
/// owns `key`, and its reply. [`Client`](crate::Client) implements it;
/// tests implement it with an in-memory fake.
pub trait AsideBackend: Clone + Send + Sync + 'static {
    /// Sends `request` (which concerns `key`) to the node owning `key`.
    ///
    /// # Errors
    ///
    /// Any [`Error`] of the transport; a server's error reply may be an
    /// `Err` or an `Ok` of the reply, both are handled.
    fn execute_on(
        &self,
        key: &[u8],
        request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send;
}

impl AsideBackend for Client {
    fn execute_on(
        &self,
        key: &[u8],
        request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send {
        Client::execute_on(self, key, request)
    }
}

/// Why [`CacheAside::get_or_load`] returned no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsideError<E> {
    /// The loader failed. Every caller that shared this load gets the same
    /// error (hence the `Arc`); nothing was cached.
    #[error("loader failed: {0}")]
    Loader(Arc<E>),
    /// The key breaks memcached's key rules (empty, over 250 bytes,
    /// whitespace or control bytes); the loader did not run.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// Lease and refresh settings; see [`CacheAsideBuilder`].
#[derive(Debug, Clone)]
struct AsideConfig {
    lease_ttl: Duration,
    lease_wait: Duration,
    first_backoff: Duration,
    max_backoff: Duration,
    early_refresh: Option<Duration>,
}

impl Default for AsideConfig {
    fn default() -> Self {
        AsideConfig {
            lease_ttl: Duration::from_secs(10),
            lease_wait: Duration::from_secs(1),
            first_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(50),
            early_refresh: None,
        }
    }
}

/// Builds a [`CacheAside`]. Every setting has a default.
#[derive(Debug)]
#[must_use]
pub struct CacheAsideBuilder<B> {
    backend: B,
    config: AsideConfig,
    near: Option<NearCache>,
}

impl<B: AsideBackend> CacheAsideBuilder<B> {
    /// How long a miss's placeholder lives (`N<secs>`): the longest other
    /// processes wait on a winner that died. Default 10 s.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// How long a caller that lost the lease polls for the winner's value
    /// before loading itself. Default 1 s.
    pub fn lease_wait(mut self, wait: Duration) -> Self {
        self.config.lease_wait = wait;
        self
    }

    /// Polling backoff while waiting on another process's load: starts at
    /// `first`, doubles up to `max`. Default 2 ms to 50 ms.
    pub fn lease_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.first_backoff = first;
        self.config.max_backoff = max.max(first);
        self
    }

    /// Refresh an item once it has less than `window` left to live
    /// (`R<secs>`): one reader reloads it while the others keep reading the
    /// current value, so a hot key never expires under load. Off by default.
    pub fn early_refresh(mut self, window: Duration) -> Self {
        self.config.early_refresh = Some(window);
        self
    }

    /// Puts a [`NearCache`] in front of the cluster. Off by default.
    pub fn near_cache(mut self, near: NearCache) -> Self {
        self.near = Some(near);
        self
    }

    /// The handle.
    pub fn build(self) -> CacheAside<B> {
        CacheAside {
            backend: self.backend,
            shared: Arc::new(Shared {
                config: self.config,
                near: self.near,
                flights: Mutex::new(HashMap::new()),
                next_flight: AtomicU64::new(0),
                writes: AtomicU64::new(0),
            }),
        }
    }
}

/// Cache-aside over a ringcache cluster, with single-flight, leases,
/// stale-while-revalidate and an optional near cache.
///
/// Cheap to clone; clones share the single-flight table and the near cache,
/// so make one per client and clone it into tasks (two separate
/// `CacheAside`s in one process coordinate only through the leases).
///
/// # Table of contents
///
/// - Read: [`get_or_load`](CacheAside::get_or_load).
/// - Write: [`set`](CacheAside::set), [`delete`](CacheAside::delete),
///   [`invalidate`](CacheAside::invalidate); each also clears the near cache.
/// - Build: [`new`](CacheAside::new), [`builder`](CacheAside::builder).
///
/// # How it works
///
/// A read that misses runs the caller's loader (a database query, say),
/// stores the result and returns it. When a hot key expires, a naive
/// cache-aside sends every concurrent reader to the database at once (the
/// *dogpile*). This module prevents that at two levels:
///
/// 1. **In this process: single-flight.** Concurrent misses on one key wait
///    for the first caller (the leader) and share its result, value or
///    error. A `std::sync::Mutex<HashMap<key, watch::Sender>>` holds the
///    flights, and is never held across an `.await`. If the leader is
///    cancelled (its future dropped) the waiters notice the closed channel
///    and one of them leads instead.
/// 2. **Across processes: meta-protocol leases.** The leader reads with
///    `mg <key> v c N<lease_ttl>`. On a miss the node creates an empty
///    placeholder and answers `W` (won) to exactly one caller in the whole
///    cluster, which loads and stores with `ms <key> T<ttl> C<cas>`; the
///    others get `Z` (token already sent) and poll with backoff, up to
///    [`lease_wait`](CacheAsideBuilder::lease_wait), after which they load
///    themselves and store only if the placeholder is still untouched
///    (`C<cas>`), which takes over from a winner that died.
///
/// Stale-while-revalidate: [`CacheAside::invalidate`] sends `md <key> I`,
/// which marks the item stale instead of deleting it. The next reader wins
/// `W` and refreshes; meanwhile everyone else is served the stale value
/// (`X`) at once, in other processes and in this one (the leader hands the
/// stale value to its followers before it starts loading). Early refresh ([`early_refresh`](CacheAsideBuilder::early_refresh),
/// `R<secs>`): when an item has less than that left to live, one reader wins
/// `W` and refreshes it before it expires, while the others keep reading it.
///
/// Loader errors are returned to every caller that waited on that load and
/// are never cached: the next call loads again. A placeholder whose winner
/// failed is deleted (`md <key> C<cas>`) and a stale item is re-armed
/// (`md <key> I C<cas>`), so the next reader can win at once instead of
/// waiting out the lease.
///
/// Read-your-writes in this process: [`CacheAside::set`], [`delete`](CacheAside::delete)
/// and [`invalidate`](CacheAside::invalidate) detach any load of that key
/// already in flight here, so a read that starts after the write never
/// shares a value loaded before it. (Across processes the lease's
/// `C<cas>` does the same: a delete removes the placeholder, so the older
/// load's store fails.)
///
/// The cache is an optimisation, not a dependency: when the cluster fails
/// (a node down, a timeout), `get_or_load` logs it and returns the loader's
/// value anyway, still single-flighted in this process.
///
/// # Metrics
///
/// `ringcache_client_singleflight_coalesced_total` (callers that shared
/// another caller's load) and `ringcache_client_lease_wait_expired_total`
/// (lease waits that ran out and loaded without the lease), both counters.
///
/// # Known limits
///
/// - An item whose value is empty and whose recache token is out (`Z`
///   without `X`) looks exactly like a vivified placeholder, so a reader
///   polls for it; store something non-empty for "no row" (e.g. a tag).
/// - Early refresh is synchronous: the reader that wins `W` waits for the
///   loader (the others do not).
pub struct CacheAside<B> {
    backend: B,
    shared: Arc<Shared>,
}

impl<B: Clone> Clone for CacheAside<B> {
    fn clone(&self) -> Self {
        CacheAside {
            backend: self.backend.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<B> CacheAside<B> {
    /// Loads in flight in this process right now.
    pub fn in_flight(&self) -> usize {
        self.shared.flights().len()
    }
}

impl<B> std::fmt::Debug for CacheAside<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheAside")
            .field("config", &self.shared.config)
            .field("near", &self.shared.near)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A load's result as shared with waiters: the error is type-erased so one
/// table serves every loader type.
type Outcome = Result<Bytes, Arc<dyn Any + Send + Sync>>;

/// Key → the leader's flight id and the channel its result goes out on.
type FlightMap = HashMap<Bytes, (u64, watch::Sender<Option<Outcome>>)>;

struct Shared {
    config: AsideConfig,
    near: Option<NearCache>,
    flights: Mutex<FlightMap>,
    next_flight: AtomicU64,
    /// Bumped by every write through this handle: a load that started
    /// before a write must not put its (older) value in the near cache.
    writes: AtomicU64,
}

impl Shared {
    fn flights(&self) -> std::sync::MutexGuard<'_, FlightMap> {
        // A panic elsewhere while holding the lock leaves the map consistent
        // (every update is a single insert or remove): keep using it.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether this caller leads the load or waits for someone else's.
enum Role {
    Leader(Flight),
    Follower(watch::Receiver<Option<Outcome>>),
}

/// The leader's hold on a key's flight. Dropping it without
/// [`complete`](Flight::complete) (the leader was cancelled) removes the
/// flight and closes the channel, which wakes the followers to retry.
struct Flight {
    shared: Arc<Shared>,
    key: Bytes,
    id: u64,
}

impl Flight {
    fn take_sender(&self) -> Option<watch::Sender<Option<Outcome>>> {
        let mut flights = self.shared.flights();
        match flights.get(&self.key) {
            Some((id, _)) if *id == self.id => flights.remove(&self.key).map(|(_, tx)| tx),
            _ => None,
        }
    }

    /// Hands `value` to every follower now and to any that joins until the
    /// load completes: the stale (or still current) value while this leader
    /// refreshes it, so that in-process readers do not wait either.
    fn publish(&self, value: &Bytes) {
        if let Some((id, tx)) = self.shared.flights().get(&self.key) {
            if *id == self.id {
                tx.send_replace(Some(Ok(value.clone())));
            }
        }
    }

    fn complete(self, outcome: Outcome) {
        if let Some(tx) = self.take_sender() {
            // No receiver is fine: nobody was waiting.
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // After `complete` this finds nothing; after a cancellation it drops
        // the sender, closing the channel.
        drop(self.take_sender());
    }
}

/// What an `mg ... N R` reply means for this caller.
#[derive(Debug, PartialEq, Eq)]
enum Lease {
    /// A fresh value (or one another caller is already refreshing early).
    Hit(Bytes),
    /// Invalidated, and another caller is refreshing it: serve it.
    Stale(Bytes),
    /// This caller won the token: load and store with `C<cas>`.
    Won { cas: u64, why: Won },
    /// Another caller holds the token of a miss: wait for its value.
    Pending { cas: u64 },
    /// A plain miss (a server that does not vivify): load and store.
    Miss,
}

#[derive(Debug, PartialEq, Eq)]
enum Won {
    /// The key was missing; the node holds an empty placeholder.
    Miss,
    /// The item was invalidated; here is its stale value.
    Stale(Bytes),
    /// The item is about to expire; here is its current value.
    EarlyRefresh(Bytes),
}

impl<B: AsideBackend> CacheAside<B> {
    /// Cache-aside over `backend` with default settings: leases of 10 s,
    /// lease waits of 1 s, no early refresh, no near cache.
    pub fn new(backend: B) -> Self {
        CacheAside::builder(backend).build()
    }

    /// A builder over `backend`.
    pub fn builder(backend: B) -> CacheAsideBuilder<B> {
        CacheAsideBuilder {
            backend,
            config: AsideConfig::default(),
            near: None,
        }
    }

    /// The backend (the client).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The value of `key`: from the near cache, else from the cluster, else
    /// from `loader`, whose value is then stored for `ttl` (`Duration::ZERO`:
    /// no expiry; TTLs over 30 days are cut to 30 days, as memcached would
    /// read larger numbers as a date). See [`CacheAside`] for the protocol.
    ///
    /// `loader` runs at most once per key across all concurrent callers in
    /// this process, and, while the cluster is reachable, once across all
    /// processes that use leases on the same cluster.
    ///
    /// # Errors
    ///
    /// - [`AsideError::Loader`]: the loader failed (every caller waiting on
    ///   the same load gets the same error). Not cached.
    /// - [`AsideError::InvalidKey`]: the key cannot be cached.
    ///
    /// Cluster failures are not errors: they are logged and the loader's
    /// value is returned.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) {
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use ringcache_client::CacheAside;
    ///
    /// let aside = CacheAside::new(client);
    /// let user = aside
    ///     .get_or_load("user:42", Duration::from_secs(300), || async {
    ///         // SELECT ... FROM users WHERE id = 42
    ///         Ok::<_, std::io::Error>(Bytes::from_static(b"{\"name\":\"Ada\"}"))
    ///     })
    ///     .await;
    /// # let _ = user;
    /// # }
    /// ```
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: impl AsRef<[u8]>,
        ttl: Duration,
        loader: F,
    ) -> Result<Bytes, AsideError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
        E: Send + Sync + 'static,
    {
        let key = key.as_ref();
        check_key(key).map_err(AsideError::InvalidKey)?;
        if let Some(near) = &self.shared.near {
            if let Some(value) = near.get(key).await {
                return Ok(value);
            }
        }
        let key = Bytes::copy_from_slice(key);
        let flight = loop {
            match self.join(&key) {
                Role::Leader(flight) => break flight,
                Role::Follower(mut rx) => {
                    // `Err`: the leader was cancelled; go round and maybe lead.
                    // The clone drops the channel's read guard before any await.
                    let outcome = match rx.wait_for(Option::is_some).await {
                        Ok(outcome) => outcome.clone(),
                        Err(_) => continue,
                    };
                    match outcome {
                        Some(Ok(value)) => {
                            metrics::counter!(SINGLEFLIGHT_COALESCED_TOTAL).increment(1);
                            return Ok(value);
                        }
                        Some(Err(error)) => {
                            // Another loader type on the same key: load alone.
                            if let Ok(error) = error.downcast::<E>() {
                                metrics::counter!(SINGLEFLIGHT_COALESCED_TOTAL).increment(1);
                                return Err(AsideError::Loader(error));
                            }
                            return self
                                .lead(&key, ttl, loader, None)
                                .await
                                .map_err(AsideError::Loader);
                        }
                        None => continue,
                    }
                }
            }
        };
        let result = self.lead(&key, ttl, loader, Some(&flight)).await;
        flight.complete(match &result {
            Ok(value) => Ok(value.clone()),
            Err(error) => Err(error.clone() as Arc<dyn Any + Send + Sync>),
        });
        result.map_err(AsideError::Loader)
    }

    fn join(&self, key: &Bytes) -> Role {
        let mut flights = self.shared.flights();
        if let Some((_, tx)) = flights.get(key) {
            return Role::Follower(tx.subscribe());
        }
        let id = self.shared.next_flight.fetch_add(1, Ordering::Relaxed);
        let (tx, _) = watch::channel(None);
        flights.insert(key.clone(), (id, tx));
        Role::Leader(Flight {
            shared: self.shared.clone(),
            key: key.clone(),
            id,
        })
    }

    /// The leader's part: the lease dance with the cluster.
    async fn lead<F, Fut, E>(
        &self,
        key: &Bytes,
        ttl: Duration,
        loader: F,
        flight: Option<&Flight>,
    ) -> Result<Bytes, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let epoch = self.shared.writes.load(Ordering::Acquire);
        let config = &self.shared.config;
        let deadline = Instant::now() + config.lease_wait;
        let mut backoff = config.first_backoff;
        loop {
            let lease = match self.lease(key).await {
                Ok(lease) => lease,
                Err(error) => {
                    tracing::warn!(%error, key = %String::from_utf8_lossy(key), "cache read failed; loading without the cache");
                    return self.load_and_store(key, ttl, None, loader, epoch).await;
                }
            };
            match lease {
                Lease::Hit(value) => {
                    self.remember(key, &value, epoch).await;
                    return Ok(value);
                }
                Lease::Stale(value) => return Ok(value),
                Lease::Miss => return self.load_and_store(key, ttl, None, loader, epoch).await,
                Lease::Won { cas, why } => {
                    if let (Some(flight), Won::Stale(v) | Won::EarlyRefresh(v)) = (flight, &why) {
                        flight.publish(v);
                    }
                    return self.refresh(key, ttl, cas, why, loader, epoch).await;
                }
                Lease::Pending { cas } => {
                    let now = Instant::now();
                    if now >= deadline {
                        metrics::counter!(LEASE_WAIT_EXPIRED_TOTAL).increment(1);
                        tracing::debug!(key = %String::from_utf8_lossy(key), "lease wait expired; loading without the lease");
                        // Stores only over the untouched placeholder: if the
                        // winner stored meanwhile, its value stays.
                        return self
                            .load_and_store(key, ttl, Some(cas), loader, epoch)
                            .await;
                    }
                    tokio::time::sleep(backoff.min(deadline - now)).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
    }

    /// This caller holds the token: load, store over `cas`, or release the
    /// token if the loader fails.
    async fn refresh<F, Fut, E>(
        &self,
        key: &Bytes,
        ttl: Duration,
        cas: u64,
        why: Won,
        loader: F,
        epoch: u64,
    ) -> Result<Bytes, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        match loader().await {
            Ok(value) => {
                if self.store(key, &value, ttl, Some(cas)).await {
                    self.remember(key, &value, epoch).await;
                }
                Ok(value)
            }
            Err(error) => {
                match why {
                    // Free the placeholder so the next reader wins at once.
                    Won::Miss => self.release(key, cas, false).await,
                    // Hand the token out again; the stale value stays.
                    Won::Stale(_) => self.release(key, cas, true).await,
                    // The current value is still good: serve it.
                    Won::EarlyRefresh(value) => {
                        tracing::debug!(key = %String::from_utf8_lossy(key), "early refresh failed; serving the current value");
                        return Ok(value);
                    }
                }
                Err(Arc::new(error))
            }
        }
    }

    async fn load_and_store<F, Fut, E>(
        &self,
        key: &Bytes,
        ttl: Duration,
        cas: Option<u64>,
        loader: F,
        epoch: u64,
    ) -> Result<Bytes, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        let value = loader().await.map_err(Arc::new)?;
        if self.store(key, &value, ttl, cas).await {
            self.remember(key, &value, epoch).await;
        }
        Ok(value)
    }

    /// Puts a value read or stored by a load into the near cache, unless a
    /// write through this handle happened since the load began.
    async fn remember(&self, key: &Bytes, value: &Bytes, epoch: u64) {
        if let Some(near) = &self.shared.near {
            if self.shared.writes.load(Ordering::Acquire) == epoch {
                near.insert(key.clone(), value.clone()).await;
            }
        }
    }

    /// `mg <key> v c N<lease> [R<window>]`.
    async fn lease(&self, key: &Bytes) -> Result<Lease, Error> {
        let config = &self.shared.config;
        let flags = MetaGetFlags {
            order: b"vc".iter().collect::<FlagOrder>(),
            value: true,
            vivify: Some(ttl_secs(config.lease_ttl).max(1)),
            recache: config.early_refresh.map(|w| ttl_secs(w).max(1)),
            ..MetaGetFlags::default()
        };
        let request = Request::MetaGet(MetaGet {
            key: key.clone(),
            flags,
        });
        match self.backend.execute_on(key, request).await? {
            Response::Meta(reply) => classify(reply),
            other => Err(unexpected("mg", &other)),
        }
    }

    /// `ms <key> T<ttl> [C<cas>]`, best effort: a failure is logged, as the
    /// caller has its value either way. Whether the value was stored.
    async fn store(&self, key: &Bytes, value: &Bytes, ttl: Duration, cas: Option<u64>) -> bool {
        let request = meta_set(key, value, ttl, cas);
        match self.backend.execute_on(key, request).await {
            Ok(Response::Meta(reply)) => match reply.status {
                MetaStatus::Hd => return true,
                // The item changed or went away since we read it (a write,
                // a delete): its new state wins over our older load.
                MetaStatus::Ex | MetaStatus::Nf | MetaStatus::Ns => {
                    tracing::debug!(key = %String::from_utf8_lossy(key), status = ?reply.status, "cache-aside store lost to a newer change");
                }
                status => tracing::warn!(?status, "unexpected reply to ms"),
            },
            Ok(other) => {
                tracing::warn!(error = %unexpected("ms", &other), "cache-aside store failed")
            }
            Err(error) => tracing::warn!(%error, "cache-aside store failed"),
        }
        false
    }

    /// Gives a won token back: deletes a placeholder, or re-invalidates a
    /// stale item; only while the item is still the one we won (`C<cas>`).
    async fn release(&self, key: &Bytes, cas: u64, invalidate: bool) {
        let request = Request::MetaDelete(MetaDelete {
            key: key.clone(),
            flags: MetaDeleteFlags {
                compare_cas: Some(cas),
                invalidate,
                ..MetaDeleteFlags::default()
            },
        });
        if let Err(error) = self.backend.execute_on(key, request).await {
            tracing::debug!(%error, "releasing a lease failed; it expires on its own");
        }
    }

    /// Stores `value` for `ttl` (`ms`), and drops `key` from the near cache.
    ///
    /// # Errors
    ///
    /// The client's [`Error`]s ([`Error::InvalidKey`] for a key that breaks
    /// memcached's rules).
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: Bytes,
        ttl: Duration,
    ) -> Result<(), Error> {
        let key = checked(key.as_ref())?;
        self.forget(&key).await;
        let request = meta_set(&key, &value, ttl, None);
        let reply = self.backend.execute_on(&key, request).await;
        // Again: a load may have begun while the write was on the wire.
        self.forget(&key).await;
        match reply? {
            Response::Meta(MetaReply {
                status: MetaStatus::Hd,
                ..
            }) => Ok(()),
            other => Err(unexpected("ms", &other)),
        }
    }

    /// Deletes `key` (`md`), and drops it from the near cache. The next
    /// read loads it. `Ok(false)`: it was not cached.
    ///
    /// # Errors
    ///
    /// The client's [`Error`]s.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool, Error> {
        self.meta_delete(key.as_ref(), false).await
    }

    /// Marks `key` stale (`md <key> I`) instead of deleting it, and drops
    /// it from the near cache: the next reader refreshes it while the
    /// others are served the stale value. Use it where a slightly old
    /// value is better than a wait; use [`delete`](Self::delete) where a
    /// read after a write must see the write. `Ok(false)`: it was not cached.
    ///
    /// # Errors
    ///
    /// The client's [`Error`]s.
    pub async fn invalidate(&self, key: impl AsRef<[u8]>) -> Result<bool, Error> {
        self.meta_delete(key.as_ref(), true).await
    }

    async fn meta_delete(&self, key: &[u8], invalidate: bool) -> Result<bool, Error> {
        let key = checked(key)?;
        self.forget(&key).await;
        let request = Request::MetaDelete(MetaDelete {
            key: key.clone(),
            flags: MetaDeleteFlags {
                invalidate,
                ..MetaDeleteFlags::default()
            },
        });
        let verb = if invalidate { "md I" } else { "md" };
        let reply = self.backend.execute_on(&key, request).await;
        self.forget(&key).await;
        match reply? {
            Response::Meta(reply) => match reply.status {
                MetaStatus::Hd => Ok(true),
                MetaStatus::Nf => Ok(false),
                _ => Err(unexpected(verb, &Response::Meta(reply))),
            },
            other => Err(unexpected(verb, &other)),
        }
    }

    /// Before and after a write through this handle: loads already in
    /// flight for `key` no longer take new followers (a read that starts
    /// after the write must not be handed a value loaded before it; the
    /// old flight's followers retry), and the near cache drops the key.
    async fn forget(&self, key: &[u8]) {
        self.shared.writes.fetch_add(1, Ordering::AcqRel);
        // Dropping the sender wakes that flight's followers to retry.
        drop(self.shared.flights().remove(key));
        if let Some(near) = &self.shared.near {
            near.invalidate(key).await;
        }
    }
}

fn checked(key: &[u8]) -> Result<Bytes, Error> {
    validate_key(key)?;
    Ok(Bytes::copy_from_slice(key))
}

/// [`validate_key`]'s verdict, as the message it carries.
fn check_key(key: &[u8]) -> Result<(), &'static str> {
    match validate_key(key) {
        Ok(()) => Ok(()),
        Err(Error::InvalidKey(why)) => Err(why),
        Err(_) => Err("invalid key"),
    }
}

/// Whole seconds for `T`/`N`/`R`: rounded up so that a sub-second TTL does
/// not become 0 (never expire), capped at 30 days.
fn ttl_secs(ttl: Duration) -> i64 {
    if ttl.is_zero() {
        return 0;
    }
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs.min(MAX_RELATIVE_TTL)).unwrap_or(i64::MAX)
}

fn meta_set(key: &Bytes, value: &Bytes, ttl: Duration, cas: Option<u64>) -> Request {
    Request::MetaSet(MetaSet {
        key: key.clone(),
        value: value.clone(),
        flags: MetaSetFlags {
            ttl: Some(ttl_secs(ttl)),
            compare_cas: cas,
            ..MetaSetFlags::default()
        },
    })
}

fn unexpected(verb: &str, response: &Response) -> Error {
    match response {
        Response::ServerError(m) => Error::Server(String::from_utf8_lossy(m).into_owned()),
        Response::ClientError(m) => Error::Client(String::from_utf8_lossy(m).into_owned()),
        Response::Error => Error::Server("ERROR".to_owned()),
        other => Error::Client(format!("unexpected reply to {verb}: {other:?}")),
    }
}

/// Reads an `mg <key> v c N R` reply.
fn classify(reply: MetaReply) -> Result<Lease, Error> {
    let flags = &reply.flags;
    match reply.status {
        MetaStatus::En => return Ok(Lease::Miss),
        MetaStatus::Va | MetaStatus::Hd => {}
        _ => return Err(unexpected("mg", &Response::Meta(reply))),
    }
    let value = reply.value.clone().unwrap_or_default();
    if flags.won {
        let Some(cas) = flags.cas else {
            // We asked for `c`; without it we cannot store safely. Load and
            // store plainly, as for a server without leases.
            return Ok(Lease::Miss);
        };
        let why = if flags.stale {
            Won::Stale(value)
        } else if value.is_empty() {
            Won::Miss
        } else {
            Won::EarlyRefresh(value)
        };
        return Ok(Lease::Won { cas, why });
    }
    if flags.stale {
        return Ok(Lease::Stale(value));
    }
    if flags.token_sent && value.is_empty() {
        return Ok(Lease::Pending {
            cas: flags.cas.unwrap_or(0),
        });
    }
    Ok(Lease::Hit(value))
}

#[cfg(test)]
#[path = "aside/tests.rs"]
mod tests;
