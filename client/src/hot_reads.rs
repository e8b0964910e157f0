//! What the client does with hot keys: counts every plain read in the
//! hot-key detector (`hot.rs`), spreads the reads of hot keys over their
//! replicas (`dispatch.rs`), and with [`Config::hot_near_ttl`] serves them
//! from a small in-process cache for that long. [`Client::hot_keys`] names
//! them; `ringcache_client_hot_keys` counts them (updated on hot reads and
//! on every [`Client::hot_keys`] call).
//!
//! The near cache holds hot keys only, so its size stays small (at most
//! [`NEAR_MAX_BYTES`]); this client's own writes and deletes of a key drop
//! it at once, other processes' writes are seen within the TTL.

use std::time::Duration;

use bytes::Bytes;
use ringcache_protocol::Value;

use crate::config::Config;
use crate::hot::{HotKey, HotKeys, HotKeysConfig};
use crate::metrics::{HOT_KEYS, HOT_READS_TOTAL};
use crate::Client;

/// Bytes of hot values the near cache holds at most.
pub(crate) const NEAR_MAX_BYTES: u64 = 64 << 20;

/// Hot-key detection and the hot keys' near cache.
#[derive(Debug)]
pub(crate) struct HotReads {
    detector: Option<HotKeys>,
    hot_keys: metrics::Gauge,
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
        let detector = (config.hot_share > 0.0).then(|| {
            HotKeys::new(HotKeysConfig {
                share: config.hot_share,
                ..HotKeysConfig::default()
            })
        });
        HotReads {
            detector,
            hot_keys: metrics::gauge!(HOT_KEYS),
            near,
        }
    }

    /// Counts one plain read of `key`; whether `key` is hot now.
    #[inline]
    pub(crate) fn record(&self, key: &[u8]) -> bool {
        let Some(detector) = &self.detector else {
            return false;
        };
        let hot = detector.record(key);
        if hot {
            self.hot_keys.set(detector.len() as f64);
        }
        hot
    }

    /// The hot keys now, hottest first.
    pub(crate) fn snapshot(&self) -> Vec<HotKey> {
        let Some(detector) = &self.detector else {
            return Vec::new();
        };
        let hot = detector.snapshot();
        self.hot_keys.set(hot.len() as f64);
        hot
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

impl Client {
    /// The keys this client reads most: each at least
    /// [`Config::hot_share`] of its recent reads, hottest first, with its
    /// estimated share. Their reads are spread over their replicas (and
    /// served from memory with [`Config::hot_near_ttl`]). Empty when
    /// detection is off.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(client: ringcache_client::Client) {
    /// for hot in client.hot_keys() {
    ///     println!("{:?}: {:.1}% of reads", hot.key, hot.share * 100.0);
    /// }
    /// # }
    /// ```
    pub fn hot_keys(&self) -> Vec<HotKey> {
        self.inner.hot.snapshot()
    }
}
