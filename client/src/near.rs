//! The near cache: a small local moka tier in front of the cluster.

use std::time::Duration;

use bytes::Bytes;

/// A small in-process cache of recently read values with a short TTL, in
/// front of the cluster, for keys so hot that even one round trip per read
/// is too many. **Off by default**; turn it on with
/// [`CacheAsideBuilder::near_cache`](crate::CacheAsideBuilder::near_cache).
///
/// The price is staleness: a value written or deleted by *another* process
/// may be served from here for up to `ttl`. This process's own writes and
/// deletes through [`CacheAside`](crate::CacheAside) remove the key at once.
/// Keep `ttl` to what a reader may see of a value already replaced
/// elsewhere (a second or less).
///
/// The size bound is in bytes (key + value + 64 bytes of overhead per
/// entry); moka evicts by TinyLFU beyond it. Cloning shares the cache.
#[derive(Clone)]
pub struct NearCache {
    cache: moka::future::Cache<Bytes, Bytes>,
}

/// Bytes counted per entry on top of key and value.
const ENTRY_OVERHEAD: usize = 64;

impl NearCache {
    /// A near cache of at most `max_bytes`, each entry living `ttl` from
    /// when it was read from the cluster.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringcache_client::NearCache;
    ///
    /// let near = NearCache::new(8 << 20, Duration::from_millis(500));
    /// # let _ = near;
    /// ```
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Bytes, v: &Bytes| {
                u32::try_from(k.len() + v.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .build();
        NearCache { cache }
    }

    /// The value of `key`, if held and younger than the TTL.
    pub async fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.cache.get(key).await
    }

    /// Holds `value` for `key` (the TTL starts now).
    pub async fn insert(&self, key: Bytes, value: Bytes) {
        self.cache.insert(key, value).await;
    }

    /// Forgets `key`.
    pub async fn invalidate(&self, key: &[u8]) {
        self.cache.invalidate(key).await;
    }

    /// Entries held (an estimate until pending maintenance has run).
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_and_forgets() {
        let near = NearCache::new(1 << 20, Duration::from_secs(60));
        assert_eq!(near.get(b"k").await, None);
        near.insert(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
            .await;
        assert_eq!(near.get(b"k").await.as_deref(), Some(&b"v"[..]));
        near.invalidate(b"k").await;
        assert_eq!(near.get(b"k").await, None);
    }

    /// One short real-time TTL check (moka's clock is not tokio's).
    #[tokio::test]
    async fn entries_expire() {
        let near = NearCache::new(1 << 20, Duration::from_millis(50));
        near.insert(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
            .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while near.get(b"k").await.is_some() {
            assert!(std::time::Instant::now() < deadline, "entry never expired");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
