//! `stats` and its groups, with memcached 1.6.18's field names in its
//! order. Fields that describe machinery we do not have (slabs, the hash
//! table, logging, extstore, TLS) keep their names with memcached's idle
//! values, so tools that parse the block by name keep working. The LRU
//! crawler's settings, starts and running flag are `lru_crawler`'s
//! (`crawler.rs`); its reclaim counters stay 0.

use bytes::Bytes;
use std::sync::atomic::Ordering;

use ringcache_protocol::{Response, Stat, StatValue, Stats as StatsRequest};

use super::{Node, MEMCACHED_VERSION};
use crate::store::now_unix;

fn client_error(msg: &'static str) -> Response {
    Response::ClientError(Bytes::from_static(msg.as_bytes()))
}

impl Node {
    pub(super) async fn stats(&self, req: &StatsRequest) -> Response {
        let Some(group) = &req.group else {
            return Response::Stats(self.general_stats().await);
        };
        match &group[..] {
            b"reset" => {
                self.store().stats().reset();
                self.inner.conns.reset();
                self.inner.detail.clear();
                Response::Reset
            }
            b"settings" => Response::Stats(self.settings_stats()),
            b"items" => Response::Stats(Vec::new()),
            b"slabs" => Response::Stats(vec![
                Stat::uint("active_slabs", 0),
                Stat::uint("total_malloced", 0),
            ]),
            b"sizes" => Response::Stats(vec![Stat::text("sizes_status", "disabled")]),
            b"conns" => Response::Stats(self.conns_stats()),
            b"extstore" => Response::Stats(Vec::new()),
            b"detail" => match req.args.first().map(|a| &a[..]) {
                Some(b"on") => {
                    self.inner.detail.set_enabled(true);
                    Response::Ok
                }
                Some(b"off") => {
                    self.inner.detail.set_enabled(false);
                    Response::Ok
                }
                Some(b"dump") => Response::Line(self.inner.detail.dump()),
                _ => client_error("usage: stats detail on|off|dump"),
            },
            b"cachedump" => cachedump(&req.args),
            _ => Response::Error,
        }
    }

    async fn general_stats(&self) -> Vec<Stat> {
        let store = self.store();
        store.sync().await;
        let s = store.stats();
        let c = &self.inner.conns;
        let crawler = &self.inner.crawler;
        let config = &self.inner.config;
        let (user, system) = rusage();
        let uptime = self.inner.started.elapsed().as_secs();
        let u = Stat::uint;
        vec![
            u("pid", u64::from(std::process::id())),
            u("uptime", uptime),
            u("time", now_unix()),
            Stat::text("version", MEMCACHED_VERSION),
            Stat::text("libevent", "tokio"),
            u("pointer_size", usize::BITS.into()),
            Stat::text("rusage_user", user),
            Stat::text("rusage_system", system),
            u("max_connections", config.max_conns as u64),
            u("curr_connections", c.curr.get()),
            // memcached counts its listening socket as a connection.
            u("total_connections", c.total.get() + 1),
            u("rejected_connections", c.rejected.get()),
            u("connection_structures", c.curr.get() + 1),
            u("response_obj_oom", 0),
            u("response_obj_count", 0),
            u("response_obj_bytes", 0),
            u("read_buf_count", 0),
            u("read_buf_bytes", 0),
            u("read_buf_bytes_free", 0),
            u("read_buf_oom", 0),
            u("reserved_fds", 0),
            u("cmd_get", s.cmd_get.get()),
            u("cmd_set", s.cmd_set.get()),
            u("cmd_flush", s.cmd_flush.get()),
            u("cmd_touch", s.cmd_touch.get()),
            u("cmd_meta", s.cmd_meta.get()),
            u("get_hits", s.get_hits.get()),
            u("get_misses", s.get_misses.get()),
            u("get_expired", s.get_expired.get()),
            u("get_flushed", s.get_flushed.get()),
            u("delete_misses", s.delete_misses.get()),
            u("delete_hits", s.delete_hits.get()),
            u("incr_misses", s.incr_misses.get()),
            u("incr_hits", s.incr_hits.get()),
            u("decr_misses", s.decr_misses.get()),
            u("decr_hits", s.decr_hits.get()),
            u("cas_misses", s.cas_misses.get()),
            u("cas_hits", s.cas_hits.get()),
            u("cas_badval", s.cas_badval.get()),
            u("touch_hits", s.touch_hits.get()),
            u("touch_misses", s.touch_misses.get()),
            u("store_too_large", s.store_too_large.get()),
            u("store_no_memory", 0),
            u("auth_cmds", 0),
            u("auth_errors", 0),
            u("bytes_read", c.bytes_read.get()),
            u("bytes_written", c.bytes_written.get()),
            u("limit_maxbytes", store.max_bytes()),
            u("accepting_conns", 1),
            u("listen_disabled_num", 0),
            u("time_in_listen_disabled_us", 0),
            u("threads", config.threads as u64),
            u("conn_yields", c.yields.get()),
            u("hash_power_level", 16),
            u("hash_bytes", 524_288),
            u("hash_is_expanding", 0),
            u("slab_reassign_rescues", 0),
            u("slab_reassign_chunk_rescues", 0),
            u("slab_reassign_evictions_nomem", 0),
            u("slab_reassign_inline_reclaim", 0),
            u("slab_reassign_busy_items", 0),
            u("slab_reassign_busy_deletes", 0),
            u("slab_reassign_running", 0),
            u("slabs_moved", 0),
            u("lru_crawler_running", u64::from(crawler.running())),
            u("lru_crawler_starts", crawler.starts()),
            u("lru_maintainer_juggles", 0),
            u("malloc_fails", 0),
            u("log_worker_dropped", 0),
            u("log_worker_written", 0),
            u("log_watcher_skipped", 0),
            u("log_watcher_sent", 0),
            u("log_watchers", 0),
            u("unexpected_napi_ids", 0),
            u("round_robin_fallback", 0),
            // Our accounting against limit_maxbytes: key + value + the
            // per-entry overhead.
            u("bytes", store.weighted_bytes()),
            u("curr_items", store.item_count()),
            u("total_items", s.total_items.get()),
            u("slab_global_page_pool", 0),
            u("expired_unfetched", 0),
            u("evicted_unfetched", 0),
            u("evicted_active", 0),
            u("evictions", s.evictions()),
            u("reclaimed", 0),
            u("crawler_reclaimed", 0),
            u("crawler_items_checked", 0),
            u("lrutail_reflocked", 0),
            u("moves_to_cold", 0),
            u("moves_to_warm", 0),
            u("moves_within_lru", 0),
            u("direct_reclaims", 0),
            u("lru_bumps_dropped", 0),
        ]
    }

    /// `stats conns`: the listener, then each client connection, numbered
    /// by file descriptor as memcached does.
    fn conns_stats(&self) -> Vec<Stat> {
        let now = now_unix();
        let (listener, conns) = self.inner.conns.snapshot();
        let mut out = Vec::with_capacity(1 + 4 * conns.len());
        let named = |id: i64, field: &str, value: StatValue| Stat {
            name: Bytes::from(format!("{id}:{field}")),
            value,
        };
        let text = |s: String| StatValue::Text(Bytes::from(s));
        if let Some((id, addr, since)) = listener {
            out.push(named(id, "addr", text(format!("tcp:{addr}"))));
            out.push(named(id, "state", text("conn_listening".to_owned())));
            out.push(named(
                id,
                "secs_since_last_cmd",
                StatValue::Unsigned(now.saturating_sub(since)),
            ));
        }
        for (id, conn) in conns {
            let busy = conn.activity.busy.load(Ordering::Relaxed);
            let last = conn.activity.last_cmd.load(Ordering::Relaxed);
            out.push(named(id, "addr", text(format!("tcp:{}", conn.peer))));
            out.push(named(
                id,
                "listen_addr",
                text(format!("tcp:{}", conn.local)),
            ));
            let state = if busy { "conn_parse_cmd" } else { "conn_read" };
            out.push(named(id, "state", text(state.to_owned())));
            out.push(named(
                id,
                "secs_since_last_cmd",
                StatValue::Unsigned(now.saturating_sub(last)),
            ));
        }
        out
    }

    fn settings_stats(&self) -> Vec<Stat> {
        let config = &self.inner.config;
        let crawler = &self.inner.crawler;
        let u = Stat::uint;
        let t = |name: &'static str, value: &'static str| Stat::text(name, value);
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let idle = config.idle_timeout.map_or(0, |d| d.as_secs());
        let verbosity = self
            .inner
            .verbosity
            .load(std::sync::atomic::Ordering::Relaxed);
        vec![
            u("maxbytes", self.store().max_bytes()),
            u("maxconns", config.max_conns as u64),
            u("tcpport", u64::from(config.port)),
            u("udpport", 0),
            Stat::text("inter", config.listen.clone()),
            u("verbosity", u64::from(verbosity)),
            u("oldest", 0),
            t("evictions", "on"),
            t("domain_socket", "NULL"),
            u("umask", 700),
            t("shutdown_command", yes_no(config.enable_shutdown)),
            t("growth_factor", "1.25"),
            u("chunk_size", 48),
            u("num_threads", config.threads as u64),
            u("num_threads_per_udp", config.threads as u64),
            t("stat_key_prefix", ":"),
            t("detail_enabled", yes_no(self.inner.detail.enabled())),
            u("reqs_per_event", crate::conn::MAX_BATCH as u64),
            t("cas_enabled", "yes"),
            u("tcp_backlog", 1024),
            t("binding_protocol", "ascii"),
            t("auth_enabled_sasl", "no"),
            t("auth_enabled_ascii", "no"),
            u("item_size_max", config.max_item_size as u64),
            t("maxconns_fast", "yes"),
            u("hashpower_init", 0),
            t("slab_reassign", "no"),
            u("slab_automove", 0),
            t("slab_automove_ratio", "0.80"),
            u("slab_automove_window", 30),
            u("slab_chunk_max", (config.max_item_size / 2) as u64),
            t("lru_crawler", yes_no(crawler.enabled())),
            u("lru_crawler_sleep", u64::from(crawler.sleep())),
            u("lru_crawler_tocrawl", u64::from(crawler.tocrawl())),
            u("tail_repair_time", 0),
            t("flush_enabled", "yes"),
            t("dump_enabled", "yes"),
            t("hash_algorithm", "moka"),
            t("lru_maintainer_thread", "no"),
            t("lru_segmented", "no"),
            u("hot_lru_pct", 20),
            u("warm_lru_pct", 40),
            t("hot_max_factor", "0.20"),
            t("warm_max_factor", "2.00"),
            t("temp_lru", "no"),
            u("temporary_ttl", 61),
            u("idle_timeout", idle),
            u("watcher_logbuf_size", 262_144),
            u("worker_logbuf_size", 65_536),
            u("read_buf_mem_limit", 0),
            t("track_sizes", "no"),
            t("inline_ascii_response", "no"),
            u("ext_item_size", 512),
            u("ext_item_age", 4_294_967_295),
            u("ext_low_ttl", 0),
            u("ext_recache_rate", 2000),
            u("ext_wbuf_size", 4_194_304),
            u("ext_compact_under", 0),
            u("ext_drop_under", 0),
            u("ext_max_sleep", 1_000_000),
            t("ext_max_frag", "0.80"),
            t("slab_automove_freeratio", "0.010"),
            t("ext_drop_unread", "no"),
            t("ssl_enabled", "no"),
            t("ssl_chain_cert", "(null)"),
            t("ssl_key", "(null)"),
            u("ssl_verify_mode", 0),
            u("ssl_keyformat", 1),
            t("ssl_ciphers", "NULL"),
            t("ssl_ca_cert", "NULL"),
            u("ssl_wbuf_size", 16_384),
            t("ssl_session_cache", "no"),
            t("ssl_kernel_tls", "no"),
            t("ssl_min_version", "tlsv1.2"),
            t("num_napi_ids", "(null)"),
            t("memory_file", "(null)"),
        ]
    }
}

/// `stats cachedump <class> <limit>`: we have no slab classes, so a valid
/// request lists nothing, as memcached does for an empty class.
fn cachedump(args: &[Bytes]) -> Response {
    let [id, limit, ..] = args else {
        return client_error("bad command line");
    };
    let parse = |b: &Bytes| std::str::from_utf8(b).ok()?.parse::<u32>().ok();
    match (parse(id), parse(limit)) {
        (Some(id), Some(_)) if id >= 64 => client_error("Illegal slab id"),
        (Some(_), Some(_)) => Response::Stats(Vec::new()),
        _ => client_error("bad command line format"),
    }
}

/// User and system CPU time as memcached prints them (`%ld.%06ld`), from
/// `/proc/self/stat` (clock ticks, assumed 100 per second as on every
/// Linux build we ship). Zero where `/proc` is unavailable.
fn rusage() -> (String, String) {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime, stime))
        })
        .unwrap_or((0, 0));
    let fmt = |t: u64| format!("{}.{:06}", t / 100, (t % 100) * 10_000);
    (fmt(ticks.0), fmt(ticks.1))
}
