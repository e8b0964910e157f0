//! The typed commands: one method per memcached command, outcomes as enums.
//!
//! Wire commands used: classic text commands only (`get`, `gets`, `gat`,
//! `set`/`add`/`replace`/`append`/`prepend`, `cas`, `delete`, `incr`/`decr`,
//! `touch`, `flush_all`, `version`), never with `noreply`. They work on
//! every memcached since 1.4 (`gat`: 1.5.3) and on twemproxy-style proxies,
//! and each always gets exactly one reply, which FIFO matching on pipelined
//! connections needs. A multi-key read is one `get k1 k2 ...` per node: one
//! line, one reply ending in `END`, so no barrier is needed (meta
//! `mg ... q` + `mn` would save the `END` but not work on older servers).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ringcache_protocol::{
    Arithmetic, Cas as CasRequest, Delete, FlushAll, Gat, Get, Request, Response, Store, Touch,
};

use crate::error::Error;
use crate::key::validate_key;
use crate::Client;

/// memcached reads an exptime above this many seconds as a Unix time.
const RELATIVE_TTL_MAX: u64 = 60 * 60 * 24 * 30;

/// Bytes of keys per `get` line in [`Client::get_many`]: longer key lists
/// to one node are split over several pipelined `get`s.
const MULTIGET_LINE_BYTES: usize = 64 * 1024;

/// A value read from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The data.
    pub value: Bytes,
    /// The client flags stored with it.
    pub flags: u32,
    /// The CAS unique: `Some` from [`Client::gets`], `None` otherwise.
    pub cas: Option<u64>,
}

/// Which storage command [`Client::store`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `set`: store unconditionally.
    Set,
    /// `add`: store only if absent.
    Add,
    /// `replace`: store only if present.
    Replace,
    /// `append`: add data after an existing value.
    Append,
    /// `prepend`: add data before an existing value.
    Prepend,
}

/// Outcome of a storage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// `STORED`
    Stored,
    /// `NOT_STORED`: the condition failed (`add` of a present key,
    /// `replace`/`append`/`prepend` of an absent one).
    NotStored,
}

/// Outcome of [`Client::cas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// `STORED`: the unique matched.
    Stored,
    /// `EXISTS`: the item changed since it was read.
    Exists,
    /// `NOT_FOUND`: the item is gone.
    NotFound,
}

/// Outcome of [`Client::delete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// `DELETED`
    Deleted,
    /// `NOT_FOUND`
    NotFound,
}

/// Outcome of [`Client::touch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchOutcome {
    /// `TOUCHED`
    Touched,
    /// `NOT_FOUND`
    NotFound,
}

/// What [`Client::get_many`] found, and which keys it could not ask for.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GetMany {
    /// Hits, by key. Misses are absent.
    pub items: HashMap<Bytes, Item>,
    /// Keys whose node failed (or was answered as a fast miss), by node.
    /// A key here may exist in the cache; it was not read.
    pub failed: Vec<NodeFailure>,
}

/// The keys one node could not serve in a [`Client::get_many`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeFailure {
    /// The node's name.
    pub node: String,
    /// The keys that were routed to it.
    pub keys: Vec<Bytes>,
    /// Why.
    pub error: Error,
}

/// The exptime memcached expects for a time-to-live: 0 for none, seconds
/// up to 30 days, a Unix time beyond (memcached's rule), rounding up so a
/// sub-second TTL does not mean "never expires".
pub(crate) fn exptime(ttl: Duration) -> i64 {
    if ttl.is_zero() {
        return 0;
    }
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    if secs <= RELATIVE_TTL_MAX {
        return secs as i64;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(now.saturating_add(secs)).unwrap_or(i64::MAX)
}

/// Maps a reply no typed outcome covers to an error.
pub(crate) fn unexpected(node: &str, response: Response) -> Error {
    match response {
        Response::ServerError(m) => Error::Server(String::from_utf8_lossy(&m).into_owned()),
        Response::ClientError(m) => Error::Client(String::from_utf8_lossy(&m).into_owned()),
        Response::Error => Error::Server("ERROR (command not understood)".into()),
        other => Error::protocol(node, format!("unexpected reply {other:?}")),
    }
}

fn item(v: ringcache_protocol::Value) -> Item {
    Item {
        value: v.data,
        flags: v.flags,
        cas: v.cas,
    }
}

impl Client {
    /// Routes `key` and executes `request` over its placement (replicas,
    /// warm-up: `dispatch.rs`). `Ok(None)` when the key's nodes are
    /// ejected under [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss) and `miss_ok` (reads).
    async fn keyed(
        &self,
        key: &[u8],
        miss_ok: bool,
        request: impl FnOnce(Bytes) -> Request,
    ) -> Result<Option<(Response, String)>, Error> {
        validate_key(key)?;
        let mut request = request(Bytes::copy_from_slice(key));
        let placement = self.place_request(key, &mut request)?;
        let node = match (placement.primary(), &placement.fast_miss) {
            (Some(h), _) => h.name().to_owned(),
            (None, Some(_)) if miss_ok => return Ok(None),
            (None, _) => return Err(placement.unavailable()),
        };
        let response = self.run(placement, request).await?;
        Ok(Some((response, node)))
    }

    async fn read_one(
        &self,
        key: &[u8],
        request: impl FnOnce(Bytes) -> Request,
    ) -> Result<Option<Item>, Error> {
        match self.keyed(key, true, request).await? {
            None => Ok(None),
            Some((Response::Values(values), _)) => Ok(values.into_iter().next().map(item)),
            Some((other, node)) => Err(unexpected(&node, other)),
        }
    }

    /// `get`: the item, or `None` on a miss.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] before anything is sent; the transport errors
    /// of [`NodeHandle::call`](crate::NodeHandle::call). Under [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss) a key of
    /// an ejected node is `Ok(None)` at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// if let Some(item) = client.get("user:42").await? {
    ///     println!("{} bytes, flags {}", item.value.len(), item.flags);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.read_one(key.as_ref(), |k| Request::Get(Get { keys: vec![k] }))
            .await
    }

    /// `gets`: like [`get`](Client::get), with the CAS unique in
    /// [`Item::cas`] for a following [`cas`](Client::cas).
    ///
    /// # Errors
    ///
    /// As [`get`](Client::get).
    pub async fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>, Error> {
        self.read_one(key.as_ref(), |k| Request::Gets(Get { keys: vec![k] }))
            .await
    }

    /// `gat`: reads the item and sets its time-to-live in one step.
    ///
    /// # Errors
    ///
    /// As [`get`](Client::get).
    pub async fn get_and_touch(
        &self,
        key: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<Option<Item>, Error> {
        let exptime = exptime(ttl);
        self.read_one(key.as_ref(), |k| {
            Request::Gat(Gat {
                exptime,
                keys: vec![k],
            })
        })
        .await
    }

    /// Stores `value` under `key` with a time-to-live (zero: no expiry;
    /// over 30 days is sent as a Unix time, as memcached requires) and
    /// client flags, using the storage command `mode`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`]; [`Error::Server`] for `SERVER_ERROR` (value
    /// over the node's item size, out of memory); under
    /// [`FailurePolicy::FastMiss`](crate::FailurePolicy::FastMiss), [`Error::NodeDown`] for an ejected
    /// node; the transport errors of [`NodeHandle::call`](crate::NodeHandle::call).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    /// use ringcache_client::{StoreMode, StoreOutcome};
    ///
    /// let outcome = client
    ///     .store(StoreMode::Add, "lock:job7", "me", Duration::from_secs(30), 0)
    ///     .await?;
    /// if outcome == StoreOutcome::NotStored {
    ///     println!("someone else holds the lock");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn store(
        &self,
        mode: StoreMode,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        ttl: Duration,
        flags: u32,
    ) -> Result<StoreOutcome, Error> {
        let value = value.into();
        let exptime = exptime(ttl);
        let build = |key| {
            let s = Store {
                key,
                flags,
                exptime,
                value,
                noreply: false,
            };
            match mode {
                StoreMode::Set => Request::Set(s),
                StoreMode::Add => Request::Add(s),
                StoreMode::Replace => Request::Replace(s),
                StoreMode::Append => Request::Append(s),
                StoreMode::Prepend => Request::Prepend(s),
            }
        };
        let Some((response, h)) = self.keyed(key.as_ref(), false, build).await? else {
            return Err(Error::NoNodes);
        };
        match response {
            Response::Stored => Ok(StoreOutcome::Stored),
            Response::NotStored => Ok(StoreOutcome::NotStored),
            other => Err(unexpected(&h, other)),
        }
    }

    /// `set` with flags 0. See [`store`](Client::store).
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store); a `set` is never `NOT_STORED`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    ///
    /// client.set("user:42", "Ada", Duration::from_secs(300)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(), Error> {
        match self.store(StoreMode::Set, key, value, ttl, 0).await? {
            StoreOutcome::Stored => Ok(()),
            StoreOutcome::NotStored => Err(Error::Server("set was not stored".into())),
        }
    }

    /// `add` with flags 0: stores only if the key is absent.
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<StoreOutcome, Error> {
        self.store(StoreMode::Add, key, value, ttl, 0).await
    }

    /// `replace` with flags 0: stores only if the key is present.
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<StoreOutcome, Error> {
        self.store(StoreMode::Replace, key, value, ttl, 0).await
    }

    /// `append`: adds `value` after the existing value (flags and TTL of
    /// the item are kept).
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn append(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
    ) -> Result<StoreOutcome, Error> {
        self.store(StoreMode::Append, key, value, Duration::ZERO, 0)
            .await
    }

    /// `prepend`: adds `value` before the existing value.
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn prepend(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
    ) -> Result<StoreOutcome, Error> {
        self.store(StoreMode::Prepend, key, value, Duration::ZERO, 0)
            .await
    }

    /// `cas`: stores `value` only if the item's CAS unique is still `cas`
    /// (from [`gets`](Client::gets)).
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    /// use ringcache_client::CasOutcome;
    ///
    /// if let Some(item) = client.gets("counter").await? {
    ///     let unique = item.cas.expect("gets returns the unique");
    ///     match client.cas("counter", "2", Duration::ZERO, item.flags, unique).await? {
    ///         CasOutcome::Stored => {}
    ///         CasOutcome::Exists | CasOutcome::NotFound => println!("lost the race"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        ttl: Duration,
        flags: u32,
        cas: u64,
    ) -> Result<CasOutcome, Error> {
        let value = value.into();
        let exptime = exptime(ttl);
        let build = |key| {
            Request::Cas(CasRequest {
                key,
                flags,
                exptime,
                value,
                cas,
                noreply: false,
            })
        };
        let Some((response, h)) = self.keyed(key.as_ref(), false, build).await? else {
            return Err(Error::NoNodes);
        };
        match response {
            Response::Stored => Ok(CasOutcome::Stored),
            Response::Exists => Ok(CasOutcome::Exists),
            Response::NotFound => Ok(CasOutcome::NotFound),
            other => Err(unexpected(&h, other)),
        }
    }

    /// `delete`.
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<DeleteOutcome, Error> {
        let build = |key| {
            Request::Delete(Delete {
                key,
                noreply: false,
            })
        };
        let Some((response, h)) = self.keyed(key.as_ref(), false, build).await? else {
            return Err(Error::NoNodes);
        };
        match response {
            Response::Deleted => Ok(DeleteOutcome::Deleted),
            Response::NotFound => Ok(DeleteOutcome::NotFound),
            other => Err(unexpected(&h, other)),
        }
    }

    async fn arithmetic(&self, key: &[u8], delta: u64, incr: bool) -> Result<Option<u64>, Error> {
        let build = |key| {
            let a = Arithmetic {
                key,
                delta,
                noreply: false,
            };
            if incr {
                Request::Incr(a)
            } else {
                Request::Decr(a)
            }
        };
        let Some((response, h)) = self.keyed(key, false, build).await? else {
            return Err(Error::NoNodes);
        };
        match response {
            Response::Number(n) => Ok(Some(n)),
            Response::NotFound => Ok(None),
            other => Err(unexpected(&h, other)),
        }
    }

    /// `incr`: adds `delta` to a decimal counter (wrapping at 2^64, as
    /// memcached does); `None` when the key is absent.
    ///
    /// # Errors
    ///
    /// [`Error::Client`] when the value is not a number (memcached's
    /// `CLIENT_ERROR cannot increment or decrement non-numeric value`);
    /// otherwise as [`store`](Client::store).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// use std::time::Duration;
    ///
    /// client.add("hits", "0", Duration::ZERO).await?;
    /// let hits = client.incr("hits", 1).await?;
    /// assert!(hits.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>, Error> {
        self.arithmetic(key.as_ref(), delta, true).await
    }

    /// `decr`: subtracts `delta`, stopping at 0; `None` when the key is absent.
    ///
    /// # Errors
    ///
    /// As [`incr`](Client::incr).
    pub async fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>, Error> {
        self.arithmetic(key.as_ref(), delta, false).await
    }

    /// `touch`: sets a new time-to-live without reading the item.
    ///
    /// # Errors
    ///
    /// As [`store`](Client::store).
    pub async fn touch(&self, key: impl AsRef<[u8]>, ttl: Duration) -> Result<TouchOutcome, Error> {
        let exptime = exptime(ttl);
        let build = |key| {
            Request::Touch(Touch {
                key,
                exptime,
                noreply: false,
            })
        };
        let Some((response, h)) = self.keyed(key.as_ref(), false, build).await? else {
            return Err(Error::NoNodes);
        };
        match response {
            Response::Touched => Ok(TouchOutcome::Touched),
            Response::NotFound => Ok(TouchOutcome::NotFound),
            other => Err(unexpected(&h, other)),
        }
    }

    /// Reads many keys at once: groups them by node, sends one `get` per
    /// node (split only past 64 KiB of keys), all nodes in parallel, so the
    /// latency is about the slowest node's round trip. Duplicate keys are
    /// asked once.
    ///
    /// A failing node does not fail the call: its keys are listed in
    /// [`GetMany::failed`] and the other nodes' hits are returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] if any key is invalid (nothing is sent);
    /// [`Error::NoNodes`] when the ring is empty and there are keys.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) -> Result<(), ringcache_client::Error> {
    /// let found = client.get_many(["user:1", "user:2", "user:3"]).await?;
    /// for (key, item) in &found.items {
    ///     println!("{:?} = {:?}", key, item.value);
    /// }
    /// for failure in &found.failed {
    ///     println!("{} keys unread: {}", failure.keys.len(), failure.error);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_many<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<GetMany, Error> {
        let mut seen = HashSet::new();
        let mut unique: Vec<Bytes> = Vec::new();
        for k in keys {
            let k = k.as_ref();
            validate_key(k)?;
            if seen.insert(Bytes::copy_from_slice(k)) {
                unique.push(Bytes::copy_from_slice(k));
            }
        }
        let mut out = GetMany::default();
        if unique.is_empty() {
            return Ok(out);
        }
        if self.inner.topology.load().handles.is_empty() {
            return Err(Error::NoNodes);
        }
        let reply = self
            .execute_read(&Request::Get(Get { keys: unique }))
            .await?;
        out.items = reply
            .values
            .into_iter()
            .map(|v| (v.key.clone(), item(v)))
            .collect();
        out.failed = reply.failed;
        Ok(out)
    }

    /// `flush_all` on every node (ejected ones included: they may come
    /// back holding old items). One result per node, in name order.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) {
    /// for (node, result) in client.flush_all().await {
    ///     if let Err(e) = result {
    ///         eprintln!("{node} not flushed: {e}");
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn flush_all(&self) -> Vec<(String, Result<(), Error>)> {
        let replies = self
            .execute_on_all(Request::FlushAll(FlushAll {
                delay: None,
                noreply: false,
            }))
            .await;
        replies
            .into_iter()
            .map(|(node, r)| {
                let r = match r {
                    Ok(Response::Ok) => Ok(()),
                    Ok(other) => Err(unexpected(&node, other)),
                    Err(e) => Err(e),
                };
                (node, r)
            })
            .collect()
    }

    /// `version` of every node, in name order.
    pub async fn versions(&self) -> Vec<(String, Result<String, Error>)> {
        self.execute_on_all(Request::Version)
            .await
            .into_iter()
            .map(|(node, r)| {
                let r = match r {
                    Ok(Response::Version(v)) => Ok(String::from_utf8_lossy(&v).into_owned()),
                    Ok(other) => Err(unexpected(&node, other)),
                    Err(e) => Err(e),
                };
                (node, r)
            })
            .collect()
    }

    /// Sends `request` to every node of the ring (ejected ones included),
    /// in parallel, and returns each node's raw reply in name order: for
    /// commands meant for every node (`flush_all`, `stats`...).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(client: ringcache_client::Client) {
    /// use ringcache_protocol::Request;
    ///
    /// for (node, reply) in client.execute_on_all(Request::Version).await {
    ///     println!("{node}: {reply:?}");
    /// }
    /// # }
    /// ```
    pub async fn execute_on_all(&self, request: Request) -> Vec<(String, Result<Response, Error>)> {
        let handles = self.node_handles();
        let mut pending = Vec::with_capacity(handles.len());
        for h in &handles {
            pending.push((h.name().to_owned(), h.submit(request.clone()).await));
        }
        let mut out = Vec::with_capacity(pending.len());
        for (node, p) in pending {
            let r = match p {
                Ok(p) => p.wait().await,
                Err(e) => Err(e),
            };
            out.push((node, r));
        }
        out
    }
}

pub(crate) fn error_node(error: &Error) -> Option<String> {
    match error {
        Error::Io { node, .. }
        | Error::Timeout { node }
        | Error::Protocol { node, .. }
        | Error::NodeDown { node }
        | Error::Overloaded { node } => Some(node.clone()),
        _ => None,
    }
}

/// Splits one node's keys into `get` lines of at most
/// [`MULTIGET_LINE_BYTES`] bytes of keys.
pub(crate) fn chunks(keys: Vec<Bytes>) -> Vec<Vec<Bytes>> {
    let total: usize = keys.iter().map(|k| k.len() + 1).sum();
    if total <= MULTIGET_LINE_BYTES {
        return vec![keys];
    }
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut len = 0;
    for k in keys {
        if len + k.len() + 1 > MULTIGET_LINE_BYTES && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            len = 0;
        }
        len += k.len() + 1;
        cur.push(k);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_follows_memcached_rules() {
        assert_eq!(exptime(Duration::ZERO), 0);
        assert_eq!(exptime(Duration::from_millis(1)), 1);
        assert_eq!(exptime(Duration::from_secs(60)), 60);
        assert_eq!(
            exptime(Duration::from_secs(RELATIVE_TTL_MAX)),
            RELATIVE_TTL_MAX as i64
        );
        let far = exptime(Duration::from_secs(RELATIVE_TTL_MAX + 1));
        assert!(far > 1_700_000_000, "absolute Unix time, got {far}");
    }

    #[test]
    fn long_key_lists_are_split() {
        let keys: Vec<Bytes> = (0..2000)
            .map(|i| Bytes::from(format!("{i:0>200}")))
            .collect();
        let parts = chunks(keys.clone());
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), keys);
        for p in &parts {
            assert!(p.iter().map(|k| k.len() + 1).sum::<usize>() <= MULTIGET_LINE_BYTES);
        }
        assert_eq!(chunks(vec![Bytes::from_static(b"a")]).len(), 1);
    }
}
