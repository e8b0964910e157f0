//! memcached's exptime rules as a pure function of "now", and the moka
//! [`Expiry`] that turns an item's deadline into a per-entry time to live.
//!
//! memcached 1.6.18 (`realtime()` in `memcached.c`, `EXPTIME_TO_POSITIVE_TIME`
//! in `memcached.h`) reads an exptime like this:
//!
//! | exptime                         | meaning                                   |
//! |---------------------------------|-------------------------------------------|
//! | `0`                             | never expires                             |
//! | `1 ..= 2_592_000` (30 days)     | seconds from now                          |
//! | `> 2_592_000`                   | absolute unix time; at or before now means already expired |
//! | negative                        | already expired                           |
//!
//! memcached maps a negative exptime to `REALTIME_MAXDELTA + 1`, an absolute
//! time in 1970, which `realtime()` clamps to "one second after the process
//! started": the item is dead on arrival. An absolute time between the process
//! start and now is equally in the past, so both collapse to [`Deadline::Expired`]
//! here. An item whose deadline equals the current second is expired
//! (`it->exptime <= current_time` in `items.c`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;

use super::{Item, ItemKey};

/// The largest exptime read as a delta from now: 30 days in seconds.
pub(crate) const MAX_RELATIVE_EXPTIME: i64 = 60 * 60 * 24 * 30;

/// When an item stops being served, in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// exptime 0: the item lives until it is evicted, deleted or flushed.
    Never,
    /// The item is already dead: it is not stored at all (or removed).
    Expired,
    /// The item expires at this unix second.
    At(u64),
}

impl Deadline {
    /// The deadline as an item stores it: 0 for never, else a unix second.
    /// An expired deadline is stored as 1 (long past), which every reader
    /// sees as expired.
    pub(crate) fn as_unix(self) -> u64 {
        match self {
            Deadline::Never => 0,
            Deadline::Expired => 1,
            Deadline::At(t) => t,
        }
    }
}

/// Reads a memcached exptime against `now` (unix seconds).
pub(crate) fn deadline(exptime: i64, now: u64) -> Deadline {
    if exptime == 0 {
        return Deadline::Never;
    }
    if exptime < 0 {
        return Deadline::Expired;
    }
    if exptime > MAX_RELATIVE_EXPTIME {
        // Absolute unix time: `exptime > 0` here, so the cast is lossless.
        let at = exptime as u64;
        if at <= now {
            Deadline::Expired
        } else {
            Deadline::At(at)
        }
    } else {
        Deadline::At(now.saturating_add(exptime as u64))
    }
}

/// Whether an item stored with `expires_at` (0 = never) is dead at `now`.
pub(crate) fn is_expired(expires_at: u64, now: u64) -> bool {
    expires_at != 0 && expires_at <= now
}

/// The current unix time in whole seconds, the clock every exptime is read
/// against.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long from now until unix second `at`, with sub-second precision so
/// moka drops the entry close to the moment our own check starts to refuse
/// it.
fn until(at: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Duration::from_secs(at).saturating_sub(now)
}

/// moka's per-entry expiry, read from each item's own deadline.
///
/// Our read path checks the deadline itself (it must also apply
/// `flush_all`), so moka's timer only reclaims memory; being a second late
/// changes no reply.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ItemExpiry;

impl ItemExpiry {
    fn ttl(item: &Item) -> Option<Duration> {
        match item.expires_at {
            0 => None,
            at => Some(until(at)),
        }
    }
}

impl Expiry<ItemKey, Arc<Item>> for ItemExpiry {
    fn expire_after_create(
        &self,
        _key: &ItemKey,
        value: &Arc<Item>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Self::ttl(value)
    }

    fn expire_after_update(
        &self,
        _key: &ItemKey,
        value: &Arc<Item>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Self::ttl(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn zero_never_expires() {
        assert_eq!(deadline(0, NOW), Deadline::Never);
        assert!(!is_expired(Deadline::Never.as_unix(), NOW));
    }

    #[test]
    fn up_to_thirty_days_is_relative() {
        assert_eq!(deadline(1, NOW), Deadline::At(NOW + 1));
        assert_eq!(
            deadline(MAX_RELATIVE_EXPTIME, NOW),
            Deadline::At(NOW + 2_592_000)
        );
    }

    #[test]
    fn above_thirty_days_is_absolute() {
        assert_eq!(deadline(2_592_001, NOW), Deadline::Expired);
        assert_eq!(deadline(NOW as i64 + 10, NOW), Deadline::At(NOW + 10));
        // An absolute time in the past, or exactly now, is already expired.
        assert_eq!(deadline(NOW as i64 - 1, NOW), Deadline::Expired);
        assert_eq!(deadline(NOW as i64, NOW), Deadline::Expired);
    }

    #[test]
    fn negative_is_expired() {
        assert_eq!(deadline(-1, NOW), Deadline::Expired);
        assert_eq!(deadline(i64::from(i32::MIN), NOW), Deadline::Expired);
        assert!(is_expired(Deadline::Expired.as_unix(), NOW));
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline_second() {
        assert!(!is_expired(NOW + 1, NOW));
        assert!(is_expired(NOW + 1, NOW + 1));
        assert!(is_expired(NOW + 1, NOW + 2));
    }
}
