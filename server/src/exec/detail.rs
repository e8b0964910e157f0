//! `stats detail on|off|dump`: per-prefix counters of gets, hits, sets and
//! deletes, as memcached's `stats_prefix.c` keeps them. A key's prefix is
//! what comes before its first `:`; keys without one are not counted.
//!
//! Off by default; while off, the hot path pays one relaxed load. While on,
//! each counted command takes a mutex (memcached takes its global stats
//! lock for the same thing).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};

/// memcached's default `-D` delimiter.
const DELIMITER: u8 = b':';

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    gets: u64,
    hits: u64,
    sets: u64,
    deletes: u64,
}

/// The switch and the counters.
#[derive(Debug, Default)]
pub(crate) struct Detail {
    enabled: AtomicBool,
    prefixes: Mutex<BTreeMap<Vec<u8>, Counts>>,
}

impl Detail {
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// `stats reset` clears the prefixes, as memcached's does.
    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.prefixes.lock() {
            map.clear();
        }
    }

    fn record(&self, key: &[u8], f: impl FnOnce(&mut Counts)) {
        if !self.enabled() {
            return;
        }
        // memcached stops at a NUL as well as at the delimiter.
        let Some(end) = key.iter().position(|&b| b == DELIMITER || b == 0) else {
            return;
        };
        if key[end] != DELIMITER {
            return;
        }
        if let Ok(mut map) = self.prefixes.lock() {
            f(map.entry(key[..end].to_vec()).or_default());
        }
    }

    pub(crate) fn record_get(&self, key: &[u8], hit: bool) {
        self.record(key, |c| {
            c.gets += 1;
            if hit {
                c.hits += 1;
            }
        });
    }

    pub(crate) fn record_set(&self, key: &[u8]) {
        self.record(key, |c| c.sets += 1);
    }

    pub(crate) fn record_delete(&self, key: &[u8]) {
        self.record(key, |c| c.deletes += 1);
    }

    /// `stats detail dump`: `PREFIX <p> get <n> hit <n> set <n> del <n>`
    /// lines, then `END` (without the final CRLF, which the encoder adds).
    /// memcached lists prefixes in its hash-table order; we list them
    /// sorted.
    pub(crate) fn dump(&self) -> Bytes {
        let mut out = BytesMut::new();
        if let Ok(map) = self.prefixes.lock() {
            for (prefix, c) in map.iter() {
                out.put_slice(b"PREFIX ");
                out.put_slice(prefix);
                out.put_slice(
                    format!(
                        " get {} hit {} set {} del {}\r\n",
                        c.gets, c.hits, c.sets, c.deletes
                    )
                    .as_bytes(),
                );
            }
        }
        out.put_slice(b"END");
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_prefix_only_while_enabled() {
        let d = Detail::default();
        d.record_set(b"a:b");
        assert_eq!(&d.dump()[..], b"END");
        d.set_enabled(true);
        d.record_set(b"a:b");
        d.record_get(b"a:b", true);
        d.record_get(b"a:c", false);
        d.record_delete(b"a:b");
        d.record_get(b"nodelimiter", true);
        d.set_enabled(false);
        d.record_get(b"a:b", true);
        assert_eq!(&d.dump()[..], b"PREFIX a get 2 hit 1 set 1 del 1\r\nEND");
        d.clear();
        assert_eq!(&d.dump()[..], b"END");
    }
}
