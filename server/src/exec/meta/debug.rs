//! `me`: meta debug, memcached's one-line dump of an item's metadata:
//! `ME <key> exp=<n> la=<n> cas=<n> fetch=<yes|no> cls=<n> size=<n>`.

use std::sync::atomic::Ordering;

use ringcache_protocol::{FlagOrder, MetaDebug, MetaDebugReply, MetaReply, MetaStatus, Response};

use crate::exec::Node;
use crate::store::{now_unix, Item};

/// `sizeof(item)` on 64-bit Linux plus the 8-byte CAS every item carries.
const ITEM_HEADER: u64 = 48 + 8;
/// The smallest slab chunk: `sizeof(item) + -n 48`.
const FIRST_CHUNK: u64 = 96;
/// The largest chunk (`slab_chunk_size_max`, half of a 1 MiB page); larger
/// items are chunked and report the largest class.
const LARGEST_CHUNK: u64 = 512 * 1024;

pub(super) async fn execute(node: &Node, req: &MetaDebug) -> Response {
    let store = node.store();
    store.stats().cmd_meta.incr();
    let now = now_unix();
    // No access is recorded: memcached looks with DONT_UPDATE.
    match store.peek(&req.key, now).await {
        Some(item) => Response::MetaDebug(describe(&req.key, &item, now)),
        None => Response::Meta(MetaReply::new(MetaStatus::En, FlagOrder::new())),
    }
}

fn describe(key: &bytes::Bytes, item: &Item, now: u64) -> MetaDebugReply {
    let size = ntotal(key.len(), item.flags, item.value().len());
    MetaDebugReply {
        key: key.clone(),
        key_base64: item.key_binary,
        // memcached prints `current_time - exptime` as a signed int: a live
        // item with a TTL shows a negative number.
        exp: if item.expires_at == 0 {
            -1
        } else {
            signed(now) - signed(item.expires_at)
        },
        last_access: now.saturating_sub(item.last_access.load(Ordering::Relaxed)),
        cas: item.cas,
        fetched: item.fetched.load(Ordering::Relaxed),
        class: slab_class(size),
        size,
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// memcached's `ITEM_ntotal`: header, key and its NUL, 4 bytes of client
/// flags when they are not 0, the value and its CRLF.
pub(in crate::exec) fn ntotal(key_len: usize, flags: u32, value_len: usize) -> u64 {
    let suffix = if flags == 0 { 0 } else { 4 };
    ITEM_HEADER + key_len as u64 + 1 + suffix + value_len as u64 + 2
}

/// The slab class memcached 1.6.18 puts an item of `ntotal` bytes in with
/// its default settings: chunk sizes start at 96 and grow by 1.25
/// (rounded up to 8 bytes) below `LARGEST_CHUNK / 1.25`; the last class is
/// `LARGEST_CHUNK`, which also holds the headers of chunked items.
pub(in crate::exec) fn slab_class(ntotal: u64) -> u32 {
    let mut size = FIRST_CHUNK;
    let mut class = 1;
    // `size >= max / factor`, in integers: size * 5 >= max * 4.
    while size * 5 < LARGEST_CHUNK * 4 {
        let aligned = size.div_ceil(8) * 8;
        if ntotal <= aligned {
            return class;
        }
        class += 1;
        size = aligned * 5 / 4;
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_classes_match_memcached_vv() {
        // `memcached -vv` with defaults: 96, 120, 152, 192, ... 394840, 524288.
        assert_eq!(slab_class(64), 1);
        assert_eq!(slab_class(96), 1);
        assert_eq!(slab_class(97), 2);
        assert_eq!(slab_class(152), 3);
        assert_eq!(slab_class(153), 4);
        assert_eq!(slab_class(752), 10);
        assert_eq!(slab_class(394_840), 38);
        assert_eq!(slab_class(394_841), 39);
        assert_eq!(slab_class(1_000_069), 39);
    }

    #[test]
    fn ntotal_matches_memcached() {
        // `ms k1 3 F5` + `me k1` on memcached 1.6.18: size=68.
        assert_eq!(ntotal(2, 5, 3), 68);
        assert_eq!(ntotal(3, 0, 2), 64);
        assert_eq!(ntotal(9, 0, 400_000), 400_068);
    }
}
