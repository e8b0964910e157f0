//! `lru_crawler`: memcached 1.6.18's LRU-crawler commands, on a store that
//! has no crawler thread (moka reclaims expired entries itself).
//!
//! | request | reply |
//! |---|---|
//! | `lru_crawler metadump all\|hash\|<id,id,...>` | one line per live item, then `END` ([`Response::MetaDump`]) |
//! | `lru_crawler crawl all\|<id,id,...>` | `OK`: there is nothing to launch |
//! | `lru_crawler enable` / `disable` | `OK`, or memcached's error when already enabled; while disabled, `crawl` and `metadump` answer `CLIENT_ERROR lru crawler disabled` |
//! | `lru_crawler sleep <µs>` / `tocrawl <n>` | `OK` after memcached's checks; the values only show in `stats settings` |
//! | anything else (`lru_crawler`, `lru_crawler mgdump ...`, extra tokens) | `ERROR`, as 1.6.18 answers |
//!
//! Every refusal (`BADCLASS invalid class id`, `NOTSTARTED no items to
//! crawl`, `ERROR an unknown error happened` for `crawl hash`, `CLIENT_ERROR
//! bad command line format`...) is byte for byte memcached's, checked in
//! its order (`tests/metadump.rs` compares them with the real server). Class ids
//! are read as memcached reads them (`strtok` on `,`, `safe_strtoul`, so
//! `01`, `+1` and `1,` are class 1) and must lie in `1..=63`.
//!
//! # metadump
//!
//! Each line is `key=<url-encoded key> exp=<unix second or -1> la=<unix
//! second of the last access> cas=<n> fetch=<yes|no> cls=<class>
//! size=<bytes>`. `cls` and `size` are the slab class and `ITEM_ntotal`
//! memcached would give the item (as `me` reports them), and class ids
//! select on that class. `all` and `hash` both walk moka's hash table, so
//! every live item is listed once, in no useful order: callers sort (the
//! client by `la`). Expired and flushed items are left out, as memcached's
//! crawler reclaims them instead of listing them. A dump records no access.
//!
//! `la` is the item's `last_access`, which every hit already keeps (an
//! atomic unix second, written only when the second changes); the dump
//! adds nothing per item.
//!
//! # Memory
//!
//! The executor returns one [`Response`] per request and the connection
//! loop encodes it whole into its write buffer (`conn.rs` streams only get
//! replies), so a dump is built whole: the entries (about 80 bytes plus the
//! key each), then their text (the key plus about 65 bytes a line) in the
//! write buffer, released once written. Measured on a release build with
//! 1,000,000 items (20-byte keys, 10-byte values, `-m 2048`): an 82 MB
//! reply, written in 1.6 s to a Python reader, and peak RSS 189 MB above
//! the loaded node's 499 MB, for the length of one dump. memcached instead
//! streams through a fixed buffer. To keep that bound to one dump, a node
//! collects one dump at a time: a second one, or a `crawl`, meanwhile gets
//! memcached's `BUSY currently processing crawler request`.
//!
//! # Differences from memcached 1.6.18
//!
//! - memcached refuses a metadump queued behind replies it has not sent yet
//!   (`ERROR cannot pipeline other commands before metadump`), and reads
//!   the commands pipelined after one only when more input arrives; a node
//!   answers them all, in order.
//! - memcached moves an item's access time at most once a minute
//!   (`ITEM_UPDATE_INTERVAL`); a node on every hit in a new second, so `la`
//!   is fresher.
//! - memcached's `disable` only asks its crawler thread to stop: until it
//!   has, `crawl` and `metadump` answer `ERROR an unknown error happened`
//!   and `stats settings` still says `lru_crawler yes`. A node has no
//!   thread to wait for: the switch is immediate.
//! - memcached's `crawl` runs on after its `OK`, so another `crawl` right
//!   after it is `BUSY`; a node's is done at once, and `BUSY` only while a
//!   dump is being collected.
//! - memcached is `BUSY` until its crawler has written the last line, and a
//!   reader that stops reading keeps it so (and, observed, can wedge the
//!   worker threads); a node only while it collects the entries.
//! - `lru_crawler_starts` counts this node's crawls and dumps; memcached's
//!   background crawler adds its own.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use ringcache_protocol::{DumpEntry, Response};

use super::meta::{ntotal, slab_class};
use super::Node;
use crate::store::{now_unix, parse_counter};

/// The largest class id memcached accepts (`MAX_NUMBER_OF_SLAB_CLASSES - 1`).
const LARGEST_CLASS: u32 = 63;

/// The crawler's settings and state, as `stats` reports them.
#[derive(Debug)]
pub(crate) struct Crawler {
    enabled: AtomicBool,
    /// `lru_crawler sleep`, in microseconds.
    sleep: AtomicU32,
    /// `lru_crawler tocrawl`.
    tocrawl: AtomicU32,
    /// Crawls and dumps started (`lru_crawler_starts`).
    starts: AtomicU64,
    /// A dump is being collected.
    dumping: AtomicBool,
}

impl Default for Crawler {
    /// memcached 1.6's defaults: enabled, 100 µs sleep, no tocrawl bound.
    fn default() -> Self {
        Crawler {
            enabled: AtomicBool::new(true),
            sleep: AtomicU32::new(100),
            tocrawl: AtomicU32::new(0),
            starts: AtomicU64::new(0),
            dumping: AtomicBool::new(false),
        }
    }
}

impl Crawler {
    /// `lru_crawler` in `stats settings`.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// `lru_crawler_sleep` in `stats settings`.
    pub(crate) fn sleep(&self) -> u32 {
        self.sleep.load(Ordering::Relaxed)
    }

    /// `lru_crawler_tocrawl` in `stats settings`.
    pub(crate) fn tocrawl(&self) -> u32 {
        self.tocrawl.load(Ordering::Relaxed)
    }

    /// `lru_crawler_starts` in `stats`.
    pub(crate) fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// `lru_crawler_running` in `stats`.
    pub(crate) fn running(&self) -> bool {
        self.dumping.load(Ordering::Relaxed)
    }
}

/// Holds the node's one dump slot; frees it when dropped, also when the
/// connection goes away in the middle of a dump.
struct DumpSlot<'a>(&'a AtomicBool);

impl<'a> DumpSlot<'a> {
    fn take(flag: &'a AtomicBool) -> Option<Self> {
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| DumpSlot(flag))
    }
}

impl Drop for DumpSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What a `crawl` or `metadump` argument selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    /// `all`: every class.
    All,
    /// `hash`: the hash table (metadump only).
    Hash,
    /// These class ids: bit `n` for class `n`.
    Classes(u64),
}

fn line(text: &'static str) -> Response {
    Response::Line(Bytes::from_static(text.as_bytes()))
}

fn client_error(text: &'static str) -> Response {
    Response::ClientError(Bytes::from_static(text.as_bytes()))
}

fn busy() -> Response {
    line("BUSY currently processing crawler request")
}

/// Reads a `crawl`/`metadump` argument as memcached's `lru_crawler_crawl`
/// does; the refusal is its reply line.
fn select(arg: &[u8]) -> Result<Selection, &'static str> {
    match arg {
        b"all" => return Ok(Selection::All),
        b"hash" => return Ok(Selection::Hash),
        _ => {}
    }
    let mut classes = 0u64;
    for id in arg.split(|&b| b == b',').filter(|id| !id.is_empty()) {
        // safe_strtoul: strtoul's rules, stored into a uint32_t.
        let class = parse_counter(id).map(|n| n as u32);
        match class {
            Some(c @ 1..=LARGEST_CLASS) => classes |= 1 << c,
            _ => return Err("BADCLASS invalid class id"),
        }
    }
    if classes == 0 {
        return Err("NOTSTARTED no items to crawl");
    }
    Ok(Selection::Classes(classes))
}

/// `sleep`/`tocrawl`'s number: `safe_strtoul`.
fn setting(arg: &[u8]) -> Option<u32> {
    parse_counter(arg).map(|n| n as u32)
}

impl Node {
    /// `lru_crawler <args...>`.
    pub(super) async fn lru_crawler(&self, args: &[Bytes]) -> Response {
        let crawler = &self.inner.crawler;
        match args {
            [sub, arg] if &sub[..] == b"crawl" => {
                if !crawler.enabled() {
                    return client_error("lru crawler disabled");
                }
                match select(arg) {
                    Err(refusal) => line(refusal),
                    Ok(Selection::Hash) => line("ERROR an unknown error happened"),
                    Ok(_) if crawler.running() => busy(),
                    Ok(_) => {
                        // moka drops expired entries on its own schedule;
                        // there is no crawler to start.
                        crawler.starts.fetch_add(1, Ordering::Relaxed);
                        Response::Ok
                    }
                }
            }
            [sub, arg] if &sub[..] == b"metadump" => {
                if !crawler.enabled() {
                    return client_error("lru crawler disabled");
                }
                match select(arg) {
                    Err(refusal) => line(refusal),
                    Ok(selection) => self.metadump(selection).await,
                }
            }
            [sub, arg] if &sub[..] == b"tocrawl" => match setting(arg) {
                None => client_error("bad command line format"),
                Some(n) => {
                    crawler.tocrawl.store(n, Ordering::Relaxed);
                    Response::Ok
                }
            },
            [sub, arg] if &sub[..] == b"sleep" => match setting(arg) {
                None => client_error("bad command line format"),
                Some(us) if us > 1_000_000 => client_error("sleep must be one second or less"),
                Some(us) => {
                    crawler.sleep.store(us, Ordering::Relaxed);
                    Response::Ok
                }
            },
            [sub] if &sub[..] == b"enable" => {
                if crawler.enabled.swap(true, Ordering::Relaxed) {
                    line("ERROR failed to start lru crawler thread")
                } else {
                    Response::Ok
                }
            }
            [sub] if &sub[..] == b"disable" => {
                crawler.enabled.store(false, Ordering::Relaxed);
                Response::Ok
            }
            _ => Response::Error,
        }
    }

    async fn metadump(&self, selection: Selection) -> Response {
        let crawler = &self.inner.crawler;
        let Some(_slot) = DumpSlot::take(&crawler.dumping) else {
            return busy();
        };
        crawler.starts.fetch_add(1, Ordering::Relaxed);
        let store = self.store();
        // Sized once from moka's estimate: growing by doubling would cost up
        // to twice the memory at the peak.
        let estimate = usize::try_from(store.item_count()).unwrap_or(0);
        let mut entries = Vec::with_capacity(estimate);
        store
            .scan(now_unix(), |key, item| {
                let size = ntotal(key.len(), item.flags, item.value().len());
                let class = slab_class(size);
                if let Selection::Classes(wanted) = selection {
                    if wanted & 1u64.checked_shl(class).unwrap_or(0) == 0 {
                        return;
                    }
                }
                entries.push(DumpEntry {
                    // A copy: cloning moka's key would give it a shared
                    // header that outlives the dump.
                    key: Bytes::copy_from_slice(key),
                    exptime: (item.expires_at != 0).then_some(item.expires_at),
                    last_access: item.last_access.load(Ordering::Relaxed),
                    cas: item.cas,
                    fetched: item.fetched.load(Ordering::Relaxed),
                    class,
                    size,
                });
            })
            .await;
        Response::MetaDump(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use crate::exec::Execute;
    use ringcache_protocol::{parse_request, Limits, Request};

    fn request(line: &str) -> Request {
        let mut buf = bytes::BytesMut::from(line.as_bytes());
        parse_request(&mut buf, &Limits::default())
            .unwrap()
            .unwrap()
            .request
    }

    async fn run(node: &Node, input: &str) -> Response {
        node.execute(&request(input)).await
    }

    fn dump(r: Response) -> Vec<DumpEntry> {
        match r {
            Response::MetaDump(entries) => entries,
            other => panic!("not a dump: {other:?}"),
        }
    }

    #[test]
    fn arguments_are_read_as_memcached_reads_them() {
        let classes = |ids: &[u32]| Ok(Selection::Classes(ids.iter().map(|c| 1 << c).sum()));
        assert_eq!(select(b"all"), Ok(Selection::All));
        assert_eq!(select(b"hash"), Ok(Selection::Hash));
        assert_eq!(select(b"1"), classes(&[1]));
        assert_eq!(select(b"01"), classes(&[1]));
        assert_eq!(select(b"+1"), classes(&[1]));
        assert_eq!(select(b"1,"), classes(&[1]));
        assert_eq!(select(b",1,,3"), classes(&[1, 3]));
        assert_eq!(select(b"63"), classes(&[63]));
        // 2^32 + 1 is stored into a uint32_t
        assert_eq!(select(b"4294967297"), classes(&[1]));
        let badclass = Err("BADCLASS invalid class id");
        for arg in [
            &b"0"[..],
            b"64",
            b"-1",
            b"-0",
            b"x",
            b"1x",
            b"ALL",
            b"hash,1",
            b"all,1",
            b"1,64",
        ] {
            assert_eq!(select(arg), badclass, "{arg:?}");
        }
        assert_eq!(select(b","), Err("NOTSTARTED no items to crawl"));
    }

    #[tokio::test]
    async fn dump_lists_live_items_with_their_metadata() {
        let node = Node::new(NodeConfig::default());
        assert_eq!(
            dump(run(&node, "lru_crawler metadump all\r\n").await),
            vec![]
        );
        run(&node, "set a 0 0 3\r\nabc\r\n").await;
        run(&node, "set b 5 3600 1\r\nx\r\n").await;
        run(&node, "set gone 0 0 1\r\nx\r\n").await;
        run(&node, "delete gone\r\n").await;
        run(&node, "get a\r\n").await;
        let now = now_unix();
        let mut entries = dump(run(&node, "lru_crawler metadump hash\r\n").await);
        entries.sort_by(|x, y| x.key.cmp(&y.key));
        assert_eq!(entries.len(), 2, "{entries:?}");
        let (a, b) = (&entries[0], &entries[1]);
        assert_eq!((&a.key[..], a.exptime, a.fetched), (&b"a"[..], None, true));
        // memcached 1.6.18 printed size=63 cls=1 for this item
        assert_eq!((a.size, a.class), (63, 1));
        assert!(a.last_access.abs_diff(now) <= 1);
        assert_eq!((&b.key[..], b.fetched, b.size), (&b"b"[..], false, 65));
        assert!(b.exptime.is_some_and(|t| t.abs_diff(now + 3600) <= 1));
        assert!(a.cas < b.cas);
        // a dump is not an access
        let again = dump(run(&node, "lru_crawler metadump all\r\n").await);
        assert!(again.iter().any(|e| &e.key[..] == b"b" && !e.fetched));
        // class selection: a big item lands in a higher class
        let big = format!("set big 0 0 2000\r\n{}\r\n", "x".repeat(2000));
        run(&node, &big).await;
        let class_15 = dump(run(&node, "lru_crawler metadump 15\r\n").await);
        assert_eq!(class_15.len(), 1);
        assert_eq!(
            (&class_15[0].key[..], class_15[0].size),
            (&b"big"[..], 2062)
        );
        assert_eq!(
            dump(run(&node, "lru_crawler metadump 1\r\n").await).len(),
            2
        );
        assert_eq!(
            dump(run(&node, "lru_crawler metadump 2,3\r\n").await),
            vec![]
        );
        run(&node, "flush_all\r\n").await;
        assert_eq!(
            dump(run(&node, "lru_crawler metadump all\r\n").await),
            vec![]
        );
    }

    #[tokio::test]
    async fn one_dump_at_a_time() {
        let node = Node::new(NodeConfig::default());
        let slot = DumpSlot::take(&node.inner.crawler.dumping);
        assert!(slot.is_some());
        assert_eq!(run(&node, "lru_crawler metadump all\r\n").await, busy());
        assert_eq!(run(&node, "lru_crawler crawl all\r\n").await, busy());
        // a bad argument is refused before the slot is looked at
        assert_eq!(
            run(&node, "lru_crawler metadump x\r\n").await,
            line("BADCLASS invalid class id")
        );
        drop(slot);
        assert!(!node.inner.crawler.running());
        assert_eq!(
            dump(run(&node, "lru_crawler metadump all\r\n").await),
            vec![]
        );
        assert_eq!(node.inner.crawler.starts(), 1);
    }

    #[tokio::test]
    async fn settings_and_switches() {
        let node = Node::new(NodeConfig::default());
        for (input, reply) in [
            ("lru_crawler\r\n", Response::Error),
            ("lru_crawler metadump\r\n", Response::Error),
            ("lru_crawler metadump all extra\r\n", Response::Error),
            ("lru_crawler metadump all noreply\r\n", Response::Error),
            ("lru_crawler mgdump all\r\n", Response::Error),
            ("lru_crawler crawl all\r\n", Response::Ok),
            ("lru_crawler crawl 1,2\r\n", Response::Ok),
            (
                "lru_crawler crawl hash\r\n",
                line("ERROR an unknown error happened"),
            ),
            ("lru_crawler sleep 1000000\r\n", Response::Ok),
            (
                "lru_crawler sleep 1000001\r\n",
                client_error("sleep must be one second or less"),
            ),
            (
                "lru_crawler sleep -1\r\n",
                client_error("bad command line format"),
            ),
            ("lru_crawler tocrawl 7\r\n", Response::Ok),
            (
                "lru_crawler tocrawl x\r\n",
                client_error("bad command line format"),
            ),
            (
                "lru_crawler enable\r\n",
                line("ERROR failed to start lru crawler thread"),
            ),
            ("lru_crawler disable\r\n", Response::Ok),
            ("lru_crawler disable\r\n", Response::Ok),
            (
                "lru_crawler metadump x\r\n",
                client_error("lru crawler disabled"),
            ),
            (
                "lru_crawler crawl all\r\n",
                client_error("lru crawler disabled"),
            ),
            ("lru_crawler enable\r\n", Response::Ok),
        ] {
            assert_eq!(run(&node, input).await, reply, "{input:?}");
        }
        let crawler = &node.inner.crawler;
        assert_eq!((crawler.sleep(), crawler.tocrawl()), (1_000_000, 7));
        assert!(crawler.enabled());
    }
}
