//! The differential suite: the same request bytes go to Debian's memcached
//! 1.6.18 (the oracle, started here) and to a ringcache node, and the replies
//! must match byte for byte after normalisation (see `common/diff.rs` for what
//! is normalised and why). Nothing here states an expected reply: memcached's
//! answer is the expectation.
//!
//! Each `#[test]` runs one table, reports every mismatching case (not just the
//! first) and writes them, grouped by area, into `/tmp/diff-report.txt`.
//! `RINGCACHE_DIFF_AGAINST=memcached` compares memcached with a second
//! memcached, which proves the harness and the normalisation; every case must
//! pass then. `RINGCACHE_DIFF_DUMP=FILE` writes memcached's transcripts.

// Tests may unwrap: a failed setup step should stop the test right there.
#![allow(clippy::unwrap_used)]

mod common;
mod ports;

use common::diff::{case, run_table, Case, Split};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// memcached's default item size limit (`-I 1m`).
const ITEM_MAX: usize = 1024 * 1024;

/// The largest value memcached 1.6.18 stores under a key of `key_len` bytes
/// with the default `-I`: the item (48-byte header, 8-byte CAS, key plus NUL,
/// value plus `\r\n`) must fit in `-I`.
fn max_value(key_len: usize) -> usize {
    max_value_for(ITEM_MAX, key_len)
}

fn max_value_for(item_max: usize, key_len: usize) -> usize {
    item_max - 48 - 8 - (key_len + 1) - 2
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `set` of `len` bytes of a repeating pattern under `key`.
fn set_of(key: &str, len: usize) -> Vec<u8> {
    let mut v = format!("set {key} 0 0 {len}\r\n").into_bytes();
    v.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    v.extend_from_slice(b"\r\n");
    v
}

fn key_of(prefix: &str, len: usize) -> String {
    let mut k = prefix.to_string();
    while k.len() < len {
        k.push('x');
    }
    k
}

/// The comparator itself: it must tell different replies apart.
#[test]
fn harness_self_check() {
    common::diff::self_check();
}

#[test]
fn text_storage() {
    let cases = vec![
        case("set_basic", "set $K 0 0 5\r\nhello\r\nget $K\r\n"),
        case("set_overwrite", "set $K 1 0 1\r\na\r\nset $K 2 0 2\r\nbb\r\nget $K\r\n"),
        case("set_empty_value", "set $K 0 0 0\r\n\r\nget $K\r\n"),
        case(
            "set_binary_value",
            b"set $K 7 0 8\r\n\x00\r\n\xff\x01\r\n\x7f\r\nget $K\r\n",
        ),
        case("set_flags_max", "set $K 4294967295 0 1\r\nx\r\nget $K\r\n"),
        case("set_flags_2pow32", "set $K 4294967296 0 1\r\nx\r\nget $K\r\n"),
        case("set_flags_negative", "set $K -1 0 1\r\nx\r\nget $K\r\n"),
        case("set_flags_plus", "set $K +1 0 1\r\nx\r\nget $K\r\n"),
        case("set_flags_junk", "set $K 1x 0 1\r\nx\r\nget $K\r\n"),
        case("set_flags_hex", "set $K 0x10 0 1\r\nx\r\nget $K\r\n"),
        case("set_exptime_junk", "set $K 0 abc 1\r\nx\r\nget $K\r\n"),
        case("set_exptime_trailing", "set $K 0 10x 1\r\nx\r\nget $K\r\n"),
        case("set_exptime_plus", "set $K 0 +10 1\r\nx\r\nget $K\r\n"),
        case("set_bytes_negative", "set $K 0 0 -1\r\nget $K\r\n"),
        case("set_bytes_junk", "set $K 0 0 abc\r\nx\r\nget $K\r\n"),
        case("set_bytes_trailing", "set $K 0 0 1x\r\nx\r\nget $K\r\n"),
        case("set_bytes_plus", "set $K 0 0 +1\r\nx\r\nget $K\r\n"),
        case("set_bytes_leading_zero", "set $K 0 0 01\r\nx\r\nget $K\r\n"),
        case("set_flags_leading_zero", "set $K 007 0 1\r\nx\r\nget $K\r\n"),
        case("cas_zero_unique", "set $K 0 0 1\r\na\r\ncas $K 0 0 1 0\r\nb\r\nget $K\r\n"),
        case("prepend_too_large", {
            let mut v = set_of("$K", max_value("prepend_too_large".len()) - 5);
            v.extend_from_slice(b"prepend $K 0 0 10\r\n0123456789\r\nmg $K s\r\n");
            v
        }),
        case("append_exact_fit", {
            let mut v = set_of("$K", max_value("append_exact_fit".len()) - 10);
            v.extend_from_slice(b"append $K 0 0 10\r\n0123456789\r\nmg $K s\r\n");
            v
        }),
        case("set_noreply", "set $K 0 0 1 noreply\r\nx\r\nget $K\r\n"),
        case("set_noreply_bad_line", "set $K 0 0 abc noreply\r\nget $K\r\n"),
        case("set_noreply_bad_chunk", "set $K 0 0 1 noreply\r\nxyz\r\nget $K\r\n"),
        case("set_not_noreply_word", "set $K 0 0 1 norepl\r\nx\r\nget $K\r\n"),
        case("set_too_many_tokens", "set $K 0 0 1 noreply extra\r\nx\r\nget $K\r\n"),
        case("set_missing_bytes", "set $K 0 0\r\nget $K\r\n"),
        case("set_missing_all", "set $K\r\nset\r\n"),
        case("set_double_space", "set  $K  0 0 1\r\nx\r\nget $K\r\n"),
        case("set_trailing_space", "set $K 0 0 1 \r\nx\r\nget $K\r\n"),
        case("add_missing", "add $K 3 0 1\r\nx\r\nget $K\r\n"),
        case("add_existing", "set $K 0 0 1\r\na\r\nadd $K 0 0 1\r\nb\r\nget $K\r\n"),
        case("add_noreply", "set $K 0 0 1\r\na\r\nadd $K 0 0 1 noreply\r\nb\r\nadd $Kn 0 0 1 noreply\r\nc\r\nget $K $Kn\r\n"),
        case("replace_missing", "replace $K 0 0 1\r\nx\r\nget $K\r\n"),
        case("replace_existing", "set $K 1 0 1\r\na\r\nreplace $K 2 0 2\r\nbb\r\nget $K\r\n"),
        case("replace_noreply", "replace $K 0 0 1 noreply\r\nx\r\nset $K 0 0 1\r\na\r\nreplace $K 0 0 1 noreply\r\nb\r\nget $K\r\n"),
        case("append_missing", "append $K 0 0 1\r\nx\r\nget $K\r\n"),
        case("append_existing", "set $K 5 0 2\r\nab\r\nappend $K 9 0 2\r\ncd\r\nget $K\r\n"),
        case("prepend_missing", "prepend $K 0 0 1\r\nx\r\nget $K\r\n"),
        case("prepend_existing", "set $K 5 0 2\r\nab\r\nprepend $K 9 0 2\r\ncd\r\nget $K\r\n"),
        case("append_prepend_noreply", "set $K 0 0 1\r\nb\r\nappend $K 0 0 1 noreply\r\nc\r\nprepend $K 0 0 1 noreply\r\na\r\nappend $Kn 0 0 1 noreply\r\nx\r\nget $K $Kn\r\n"),
        case("append_bad_chunk", "set $K 0 0 1\r\nb\r\nappend $K 0 0 1\r\nxyz\r\nget $K\r\n"),
        case("append_keeps_exptime", "set $K 0 -1 1\r\nb\r\nappend $K 0 0 1\r\nc\r\nget $K\r\n"),
        case("cas_missing", "cas $K 0 0 1 1\r\nx\r\nget $K\r\n"),
        case("cas_mismatch", "set $K 0 0 1\r\na\r\ncas $K 0 0 1 999999999\r\nb\r\nget $K\r\n"),
        case("cas_match", "set $K 0 0 1\r\na\r\ngets $K\r\n")
            .then("cas $K 4 0 1 $CAS1\r\nb\r\ngets $K\r\n")
            .then("cas $K 0 0 1 $CAS1\r\nc\r\ngets $K\r\n"),
        case("cas_noreply", "set $K 0 0 1\r\na\r\ngets $K\r\n")
            .then("cas $K 0 0 1 1 noreply\r\nb\r\ncas $Kn 0 0 1 1 noreply\r\nb\r\ncas $K 0 0 1 $CAS1 noreply\r\nc\r\ngets $K\r\n"),
        case("cas_bad_unique", "cas $K 0 0 1 abc\r\nx\r\ncas $K 0 0 1 -1\r\nx\r\ncas $K 0 0 1\r\nx\r\n"),
        case("cas_after_touch", "set $K 0 0 1\r\na\r\ngets $K\r\ntouch $K 100\r\ngets $K\r\n"),
        case("cas_unique_changes", "set $K 0 0 1\r\na\r\ngets $K\r\nappend $K 0 0 1\r\nb\r\ngets $K\r\nset $K 0 0 1\r\nc\r\ngets $K\r\nincr $Kn 1\r\n"),
        case("delete_existing", "set $K 0 0 1\r\na\r\ndelete $K\r\nget $K\r\n"),
        case("delete_missing", "delete $K\r\n"),
        case("delete_noreply", "set $K 0 0 1\r\na\r\ndelete $K noreply\r\ndelete $K noreply\r\nget $K\r\n"),
        case("delete_time_zero", "set $K 0 0 1\r\na\r\ndelete $K 0\r\nget $K\r\n"),
        case("delete_time_nonzero", "set $K 0 0 1\r\na\r\ndelete $K 10\r\nget $K\r\n"),
        case("delete_time_noreply", "set $K 0 0 1\r\na\r\ndelete $K 0 noreply\r\nget $K\r\n"),
        case("delete_no_key", "delete\r\n"),
        case("delete_too_many", "delete $K 0 noreply extra\r\n"),
        case("touch_existing", "set $K 0 0 1\r\na\r\ntouch $K 100\r\nmg $K t v\r\n"),
        case("touch_missing", "touch $K 100\r\n"),
        case("touch_noreply", "set $K 0 0 1\r\na\r\ntouch $K 100 noreply\r\ntouch $Kn 10 noreply\r\nmg $K t\r\n"),
        case("touch_bad_exptime", "set $K 0 0 1\r\na\r\ntouch $K abc\r\ntouch $K\r\nmg $K t\r\n"),
        case("touch_negative_expires", "set $K 0 0 1\r\na\r\ntouch $K -1\r\nget $K\r\n"),
        case("exptime_negative", "set $K 0 -1 1\r\na\r\nget $K\r\nadd $K 0 0 1\r\nb\r\nget $K\r\n"),
        case("exptime_relative", "set $K 0 100 1\r\na\r\nmg $K t v\r\n"),
        case("exptime_30_days", "set $K 0 2592000 1\r\na\r\nmg $K t v\r\n"),
        case("exptime_30_days_plus_1", "set $K 0 2592001 1\r\na\r\nget $K\r\n"),
        case("exptime_absolute_past", format!("set $K 0 {} 1\r\na\r\nget $K\r\n", now() - 100)),
        case("exptime_absolute_future", format!("set $K 0 {} 1\r\na\r\nmg $K t v\r\n", now() + 100)),
        case("touch_absolute_future", format!("set $K 0 0 1\r\na\r\ntouch $K {}\r\nmg $K t\r\n", now() + 100)),
        case("gat_absolute_past", format!("set $K 0 0 1\r\na\r\ngat {} $K\r\nget $K\r\n", now() - 100)),
        case("ms_T_absolute", format!("ms $K 1 T{}\r\na\r\nmg $K t v\r\nmg $K T{} t\r\nmg $K v\r\n", now() + 100, now() - 5)),
        case("cas_on_expired", "set $K 0 0 1\r\na\r\ngets $K\r\ntouch $K -1\r\n")
            .then("cas $K 0 0 1 $CAS1\r\nb\r\nprepend $K 0 0 1\r\nc\r\nreplace $K 0 0 1\r\nd\r\n"),
        case("cas_after_delete", "set $K 0 0 1\r\na\r\ngets $K\r\ndelete $K\r\n")
            .then("cas $K 0 0 1 $CAS1\r\nb\r\nget $K\r\n"),
        case("cas_after_flush_and_set", "set $K 0 0 1\r\na\r\ngets $K\r\nset $K 0 0 1\r\na\r\ngets $K\r\n")
            .then("cas $K 0 0 1 $CAS1\r\nb\r\ncas $K 0 0 1 $CAS2\r\nc\r\ngets $K\r\n"),
        case("exptime_elapses", "set $K 0 1 1\r\na\r\nget $K\r\n")
            .sleep_ms(2200)
            .then("get $K\r\n"),
        case("key_250", format!("set {0} 0 0 1\r\na\r\nget {0}\r\n", key_of("k250_set", 250))),
        // The get goes in a step of its own: in one read batch, memcached's
        // bad-key get error drops the replies queued before it (see
        // quirk_bad_key_get_drops_queued_replies).
        case("key_251", format!("set {} 0 0 1\r\na\r\n", key_of("k251_set", 251)))
            .then(format!("get {}\r\n", key_of("k251_set", 251))),
        case("key_251_noreply", format!("set {0} 0 0 1 noreply\r\na\r\n", key_of("k251_nr", 251))),
        case("key_control_chars", b"set k\x01\x7fctl 0 0 1\r\na\r\nget k\x01\x7fctl\r\n"),
        case("value_max", {
            let k = "bigmax_ok";
            let mut v = set_of(k, max_value(k.len()));
            v.extend_from_slice(format!("get {k}\r\n").as_bytes());
            v
        }),
        case("value_max_plus_1", {
            let k = "bigmax_no";
            let mut v = set_of(k, max_value(k.len()) + 1);
            v.extend_from_slice(format!("get {k}\r\n").as_bytes());
            v
        }),
        case("value_too_large_old_gone", {
            let k = "big_old_gone";
            let mut v = format!("set {k} 0 0 3\r\nold\r\n").into_bytes();
            v.extend(set_of(k, ITEM_MAX + 1));
            v.extend_from_slice(format!("get {k}\r\n").as_bytes());
            v
        }),
        case("value_too_large_noreply", {
            let mut v = b"set big_nr 0 0 2000000 noreply\r\n".to_vec();
            v.extend(std::iter::repeat_n(b'z', 2_000_000));
            v.extend_from_slice(b"\r\nget big_nr\r\n");
            v
        }),
        case("value_too_large_append", {
            let k = "big_append";
            let mut v = set_of(k, max_value(k.len()) - 10);
            v.extend_from_slice(format!("append {k} 0 0 20\r\n01234567890123456789\r\nget {k}\r\n").as_bytes());
            v
        }),
    ];
    run_table("text_storage", cases);
}

#[test]
fn text_retrieval() {
    // 400 keys on one line (about 8 KB): memcached reads a long get line whole.
    let many: String = (0..400).map(|i| format!(" $K_{i}")).collect();
    let cases = vec![
        case("get_miss", "get $K\r\n"),
        case("get_hit", "set $K 3 0 2\r\nhi\r\nget $K\r\n"),
        case(
            "get_multi",
            "set $Ka 1 0 1\r\na\r\nset $Kc 3 0 1\r\nc\r\nget $Ka $Kb $Kc\r\n",
        ),
        case(
            "get_duplicate_keys",
            "set $K 0 0 1\r\na\r\nget $K $K $K\r\n",
        ),
        case("get_no_key", "get\r\nget \r\n"),
        case(
            "gets_hit",
            "set $K 3 0 2\r\nhi\r\ngets $K\r\ngets $K $Kmissing\r\n",
        ),
        case(
            "gets_multi_distinct",
            "set $Ka 0 0 1\r\na\r\nset $Kb 0 0 1\r\nb\r\ngets $Ka $Kb $Ka\r\n",
        ),
        case("gat_hit", "set $K 3 0 2\r\nhi\r\ngat 100 $K\r\nmg $K t\r\n"),
        case("gat_miss", "gat 100 $K\r\n"),
        case(
            "gat_multi",
            "set $Ka 0 0 1\r\na\r\ngat 0 $Ka $Kb\r\nmg $Ka t\r\n",
        ),
        case(
            "gats_hit",
            "set $K 3 0 2\r\nhi\r\ngats 100 $K\r\ngets $K\r\n",
        ),
        case("gat_no_key", "gat 100\r\ngat\r\n"),
        case("gat_bad_exptime", "set $K 0 0 1\r\na\r\ngat abc $K\r\n"),
        case(
            "gat_negative_expires",
            "set $K 0 0 1\r\na\r\ngat -1 $K\r\nget $K\r\n",
        ),
        case("get_key_250", format!("get {}\r\n", key_of("g250", 250))),
        case("get_key_251", format!("get {}\r\n", key_of("g251", 251))),
        case("get_key_251_among", "set $K 0 0 1\r\na\r\n")
            .then(format!("get $K {}\r\n", key_of("g251b", 251))),
        // memcached 1.6.18 quirk: a get that fails on a too-long key discards
        // the replies (STORED, VERSION) still queued from earlier commands of
        // the same read, unless a get came in between.
        case(
            "quirk_bad_key_get_drops_queued_replies",
            format!(
                "set $K 0 0 1\r\na\r\nversion\r\nget {}\r\n",
                key_of("g251q", 251)
            ),
        ),
        case(
            "quirk_bad_key_get_after_get",
            format!(
                "set $K 0 0 1\r\na\r\nversion\r\nget $K\r\nget {}\r\n",
                key_of("g251r", 251)
            ),
        ),
        case(
            "get_many_keys",
            format!("set $K_7 0 0 1\r\n7\r\nset $K_399 0 0 1\r\nz\r\nget{many}\r\n"),
        ),
        case(
            "gets_many_keys",
            format!("set $K_9 0 0 1\r\n9\r\ngets{many}\r\n"),
        ),
        case(
            "get_after_delete",
            "set $K 0 0 1\r\na\r\ndelete $K\r\nget $K\r\n",
        ),
        case(
            "get_uppercase",
            "set $K 0 0 1\r\na\r\nGET $K\r\nGets $K\r\n",
        ),
        case("get_tab_separator", "set $K 0 0 1\r\na\r\nget\t$K\r\n"),
    ];
    run_table("text_retrieval", cases);
}

#[test]
fn arithmetic() {
    let cases = vec![
        case("incr_basic", "set $K 0 0 1\r\n1\r\nincr $K 41\r\nget $K\r\n"),
        case("decr_basic", "set $K 0 0 2\r\n50\r\ndecr $K 8\r\nget $K\r\n"),
        case("incr_missing", "incr $K 1\r\ndecr $K 1\r\n"),
        case("incr_non_numeric", "set $K 0 0 3\r\nabc\r\nincr $K 1\r\ndecr $K 1\r\n"),
        case("incr_numeric_prefix", "set $K 0 0 5\r\n12abc\r\nincr $K 1\r\n"),
        case("incr_empty_value", "set $K 0 0 0\r\n\r\nincr $K 1\r\n"),
        case("incr_bad_delta", "set $K 0 0 1\r\n1\r\nincr $K abc\r\nincr $K -1\r\nincr $K 18446744073709551616\r\nincr $K 1x\r\nincr $K +1\r\nget $K\r\n"),
        case("incr_missing_delta", "incr $K\r\ndecr\r\n"),
        case("incr_too_many_tokens", "incr $K 1 noreply extra\r\n"),
        case("incr_wrap", "set $K 0 0 20\r\n18446744073709551615\r\nincr $K 1\r\nget $K\r\n"),
        case("incr_wrap_big_delta", "set $K 0 0 1\r\n5\r\nincr $K 18446744073709551615\r\nget $K\r\n"),
        case("decr_below_zero", "set $K 0 0 1\r\n5\r\ndecr $K 6\r\nget $K\r\n"),
        case("decr_shorter", "set $K 0 0 2\r\n10\r\ndecr $K 5\r\nget $K\r\nincr $K 1\r\nget $K\r\nincr $K 10\r\nget $K\r\n"),
        case("incr_longer", "set $K 5 0 2\r\n99\r\nincr $K 1\r\nget $K\r\ngets $K\r\n"),
        case("incr_leading_spaces", "set $K 0 0 3\r\n  5\r\nincr $K 1\r\nget $K\r\n"),
        case("incr_trailing_spaces", "set $K 0 0 3\r\n5  \r\nincr $K 1\r\nget $K\r\n"),
        case("incr_leading_zeros", "set $K 0 0 3\r\n007\r\nincr $K 1\r\nget $K\r\n"),
        case("incr_max_u64_value", "set $K 0 0 20\r\n18446744073709551616\r\nincr $K 1\r\n"),
        case("incr_negative_value", "set $K 0 0 2\r\n-5\r\nincr $K 1\r\n"),
        case("incr_plus_value", "set $K 0 0 2\r\n+5\r\nincr $K 1\r\n"),
        case("incr_noreply", "set $K 0 0 1\r\n1\r\nincr $K 1 noreply\r\ndecr $K 5 noreply\r\nincr $Kn 1 noreply\r\nincr $K abc noreply\r\nget $K\r\n"),
        case("incr_non_numeric_noreply", "set $K 0 0 1\r\nx\r\nincr $K 1 noreply\r\nget $K\r\n"),
        case("incr_changes_cas", "set $K 0 0 1\r\n1\r\ngets $K\r\nincr $K 1\r\ngets $K\r\n"),
        case("incr_keeps_flags", "set $K 77 0 1\r\n1\r\nincr $K 1\r\nget $K\r\n"),
        case("incr_expired", "set $K 0 -1 1\r\n1\r\nincr $K 1\r\n"),
        case("incr_key_251", format!("incr {} 1\r\n", key_of("i251", 251))),
        case("decr_zero_delta", "set $K 0 0 2\r\n42\r\ndecr $K 0\r\nincr $K 0\r\n"),
        case("decr_of_zero", "set $K 0 0 1\r\n0\r\ndecr $K 1\r\nget $K\r\n"),
        case("incr_delta_leading_zeros", "set $K 0 0 1\r\n1\r\nincr $K 0005\r\n"),
        case("incr_20_digit_shrink", "set $K 0 0 20\r\n10000000000000000000\r\ndecr $K 9999999999999999999\r\nget $K\r\nincr $K 99\r\nget $K\r\n"),
        case("incr_on_appended", "set $K 0 0 1\r\n1\r\nappend $K 0 0 1\r\n2\r\nincr $K 1\r\nget $K\r\n"),
    ];
    run_table("arithmetic", cases);
}

#[test]
fn errors() {
    let cases = vec![
        case("unknown_command", "bogus\r\nbogus with args\r\n"),
        case("empty_line", "\r\n"),
        case("bare_newline", "\nget $K\n"),
        case("lf_only_set", "set $K 0 0 1\na\nget $K\n"),
        case("cr_in_middle", "get $K\rget $K\r\n"),
        case("uppercase_set", "SET $K 0 0 1\r\na\r\nget $K\r\n"),
        case(
            "mixed_case_commands",
            "Get $K\r\nDELETE $K\r\nIncr $K 1\r\n",
        ),
        case("nul_in_line", b"get a\x00b\r\n"),
        case(
            "chunk_too_short",
            "set $K 0 0 10\r\nabc\r\nxxxxxxx\r\nget $K\r\n",
        ),
        case("chunk_too_long", "set $K 0 0 3\r\nabcdef\r\nget $K\r\n"),
        case("chunk_no_crlf", "set $K 0 0 3\r\nabcXYget $K\r\n"),
        case("chunk_lf_only", "set $K 0 0 3\r\nabc\nget $K\r\n"),
        case(
            "chunk_bad_old_kept",
            "set $K 0 0 3\r\nold\r\nset $K 0 0 3\r\nnewXY\r\nget $K\r\n",
        ),
        case("too_many_tokens_get", format!("get{}\r\n", " k".repeat(30))),
        case(
            "too_many_tokens_set",
            "set $K 0 0 1 a b c d e f g h i j k l m n o p q r s t u v w x y z\r\nx\r\n",
        ),
        case(
            "verbosity_errors",
            "verbosity\r\nverbosity abc\r\nverbosity 1 2 3\r\n",
        ),
        case("flush_all_bad", "flush_all abc\r\nflush_all 1 2 3\r\n"),
        case("shutdown_refused", "shutdown\r\n"),
        case("shutdown_graceful_refused", "shutdown graceful\r\n"),
        case("quit", "quit\r\n").closes(),
        case(
            "quit_after_get",
            "set $K 0 0 1\r\na\r\nget $K\r\nquit\r\nget $K\r\n",
        )
        .closes(),
        case("quit_with_args", "quit now\r\n"),
        case("long_line_no_newline", "x".repeat(3000)).closes(),
        case(
            "long_set_line_no_newline",
            format!("set {}", "k".repeat(3000)),
        )
        .closes(),
        case(
            "long_get_line_then_newline",
            format!("get{}", " lk".repeat(1000)),
        )
        .until(b"")
        .sleep_ms(50)
        .then("\r\n"),
        case(
            "long_bad_line_with_newline",
            format!("{}\r\n", "y".repeat(3000)),
        ),
        // Just under the 2048-byte line limit, the rest after a pause: served.
        case(
            "line_2000_then_newline",
            format!("get {}", "w".repeat(1996)),
        )
        .until(b"")
        .sleep_ms(50)
        .then(" more\r\n"),
        case(
            "long_gets_line_then_newline",
            format!("gets{}", " lk".repeat(1000)),
        )
        .until(b"")
        .sleep_ms(50)
        .then("\r\n"),
        case(
            "long_gat_line_no_newline",
            format!("gat 0{}", " lk".repeat(1000)),
        )
        .closes(),
        case(
            "key_too_long_gets",
            format!("gets {}\r\n", key_of("kg", 300)),
        ),
        case(
            "key_too_long_delete",
            format!("delete {}\r\n", key_of("kd", 251)),
        ),
        case(
            "key_too_long_touch",
            format!("touch {} 10\r\n", key_of("kt", 251)),
        ),
        case("version_with_args", "version\r\nversion x\r\n"),
        case("stats_unknown", "stats bogus\r\n"),
        // What noreply suppresses on a failing command, and what it does not.
        case(
            "noreply_touch_bad",
            "touch $K abc noreply\r\ntouch $K noreply\r\n",
        ),
        case(
            "noreply_delete_bad_time",
            "set $K 0 0 1\r\na\r\ndelete $K 5 noreply\r\nget $K\r\n",
        ),
        case("noreply_flush_all_bad", "flush_all abc noreply\r\n"),
        case(
            "noreply_verbosity",
            "verbosity noreply\r\nverbosity 1 noreply\r\n",
        ),
        case(
            "noreply_incr_bad_delta",
            "set $K 0 0 1\r\n1\r\nincr $K -1 noreply\r\ndecr $K abc noreply\r\nget $K\r\n",
        ),
        case(
            "noreply_cas_bad",
            "cas $K 0 0 1 abc noreply\r\nx\r\ncas $K 0 0 1 noreply\r\nx\r\n",
        ),
        case("noreply_unknown_command", "bogus noreply\r\n"),
        case("noreply_get", "get $K noreply\r\n"),
        // A client that shuts down its sending side: replies still come, then EOF.
        case("half_close_after_get", "set $K 0 0 1\r\na\r\nget $K\r\n").half_close(),
        case("half_close_mid_data", "set $K 0 0 5\r\nab")
            .half_close()
            .reconnect()
            .then("get $K\r\n"),
        case("half_close_mid_line", "get $K").half_close(),
        case("spaces_only_line", "   \r\n"),
        case("trailing_spaces_get", "set $K 0 0 1\r\na\r\nget $K   \r\n"),
        case("leading_space_command", " get $K\r\n"),
        case(
            "utf8_key",
            "set k\u{e9}\u{1f600} 0 0 1\r\na\r\nget k\u{e9}\u{1f600}\r\n",
        ),
        case("zero_length_wrong_data", "set $K 0 0 0\r\nx\r\nget $K\r\n"),
        case("mn_with_args", "mn foo\r\n"),
        case("meta_unknown", "mz $K\r\nmx\r\n"),
        case("meta_bad_key_spaces", "mg  $K v\r\n"),
        case("noreply_too_large", {
            let mut v = b"set $K 0 0 1\r\na\r\n".to_vec();
            v.extend_from_slice(format!("append $K 0 0 {} noreply\r\n", ITEM_MAX + 1).as_bytes());
            v.extend(std::iter::repeat_n(b'z', ITEM_MAX + 1));
            v.extend_from_slice(b"\r\nget $K\r\n");
            v
        }),
    ];
    run_table("errors", cases);
}

#[test]
fn server_commands() {
    let mut cases = vec![
        case("version", "version\r\n"),
        case(
            "verbosity",
            "verbosity 1\r\nverbosity 0 noreply\r\nverbosity 0\r\n",
        )
        .fresh(),
        case("stats_general_names", "stats\r\n"),
        case("stats_settings_names", "stats settings\r\n"),
        case("stats_slabs_empty", "stats slabs\r\n")
            .fresh()
            .keep_stats(&["active_slabs", "total_malloced"]),
        case("stats_items_empty", "stats items\r\n").fresh(),
        case("stats_sizes", "stats sizes\r\n").keep_stats(&["sizes_status"]),
        case("stats_detail_usage", "stats detail\r\n"),
        case("stats_detail_dump_empty", "stats detail dump\r\n").fresh(),
        case("stats_reset", "stats reset\r\n").fresh(),
        case(
            "stats_counters",
            "set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nadd a 0 0 1\r\nx\r\nget a b c\r\ngets a\r\n\
             incr a 1\r\nincr c 1\r\ndecr b 1\r\ndecr c 1\r\ndelete b\r\ndelete c\r\n\
             touch a 100\r\ntouch c 100\r\ncas a 0 0 1 1\r\nx\r\ncas c 0 0 1 1\r\nx\r\n",
        )
        .then("stats\r\n")
        .fresh()
        .keep_stats(&[
            "cmd_get",
            "cmd_set",
            "cmd_flush",
            "cmd_touch",
            "get_hits",
            "get_misses",
            "get_expired",
            "get_flushed",
            "delete_misses",
            "delete_hits",
            "incr_misses",
            "incr_hits",
            "decr_misses",
            "decr_hits",
            "cas_misses",
            "cas_hits",
            "cas_badval",
            "touch_hits",
            "touch_misses",
            "curr_items",
            "threads",
            "limit_maxbytes",
            "evictions",
            "expired_unfetched",
            "evicted_unfetched",
        ]),
        case("stats_settings_values", "stats settings\r\n")
            .fresh()
            .keep_stats(&[
                "maxbytes",
                "maxconns",
                "udpport",
                "inter",
                "evictions",
                "cas_enabled",
                "num_threads",
                "item_size_max",
                "flush_enabled",
            ]),
        case(
            "flush_all",
            "set a 0 0 1\r\na\r\nflush_all\r\nget a\r\nset a 0 0 1\r\nb\r\nget a\r\n",
        )
        .fresh(),
        case(
            "flush_all_zero",
            "set a 0 0 1\r\na\r\nflush_all 0\r\nget a\r\n",
        )
        .fresh(),
        case(
            "flush_all_noreply",
            "set a 0 0 1\r\na\r\nflush_all noreply\r\nget a\r\n",
        )
        .fresh(),
        case(
            "flush_all_negative",
            "set a 0 0 1\r\na\r\nflush_all -1\r\nget a\r\n",
        )
        .fresh(),
        case(
            "flush_all_future",
            "set a 0 0 1\r\na\r\nflush_all 100\r\nget a\r\n",
        )
        .fresh(),
        case(
            "flush_all_delay_elapses",
            "set a 0 0 1\r\na\r\nflush_all 2 noreply\r\nget a\r\n",
        )
        .sleep_ms(3200)
        .then("get a\r\nset b 0 0 1\r\nb\r\nget b\r\n")
        .fresh(),
    ];
    cases.push(
        case(
            "flush_all_absolute_future",
            format!("set a 0 0 1\r\na\r\nflush_all {}\r\nget a\r\n", now() + 100),
        )
        .fresh(),
    );
    cases.push(
        case(
            "flush_all_absolute_past",
            format!(
                "set a 0 0 1\r\na\r\nflush_all {}\r\nget a\r\nset b 0 0 1\r\nb\r\nget b\r\n",
                now() - 100
            ),
        )
        .fresh(),
    );
    // Run-time settings an operator's scripts may use.
    cases.push(
        case(
            "cache_memlimit",
            "cache_memlimit 100\r\nstats settings\r\nstats\r\n",
        )
        .fresh()
        .keep_stats(&["maxbytes", "limit_maxbytes"]),
    );
    cases.push(
        case(
            "cache_memlimit_errors",
            "cache_memlimit\r\ncache_memlimit abc\r\ncache_memlimit 0\r\ncache_memlimit 7\r\n",
        )
        .then("stats settings\r\n")
        .fresh()
        .keep_stats(&["maxbytes"]),
    );
    cases.push(
        case("verbosity_in_settings", "verbosity 2\r\nstats settings\r\n")
            .fresh()
            .keep_stats(&["verbosity"]),
    );
    cases.push(
        case(
            "stats_detail",
            "stats detail on\r\nset a:b 0 0 1\r\nx\r\nget a:b\r\nget a:c\r\ndelete a:b\r\n\
             stats detail dump\r\nstats detail off\r\nget a:b\r\nstats detail dump\r\n",
        )
        .fresh(),
    );
    // `-I 2m` moves the limit (memcached refuses -I below its 512 KB slab
    // chunk, so only a larger limit is compared).
    let big2 = |k: &'static str, len: usize| {
        let mut v = set_of(k, len);
        v.extend_from_slice(format!("mg {k} s\r\n").as_bytes());
        v
    };
    cases.push(
        case(
            "item_max_2m_fits",
            big2("i2m_a", max_value_for(2 * ITEM_MAX, 5)),
        )
        .server_args(&["-I", "2m"]),
    );
    cases.push(
        case(
            "item_max_2m_over",
            big2("i2m_b", max_value_for(2 * ITEM_MAX, 5) + 1),
        )
        .server_args(&["-I", "2m"]),
    );
    cases.push(
        case("item_max_2m_settings", "stats settings\r\n")
            .server_args(&["-I", "2m"])
            .keep_stats(&["item_size_max", "maxbytes"]),
    );
    run_table("server_commands", cases);
}

#[test]
fn meta_get() {
    let cases = vec![
        case("mn", "mn\r\nmn\r\n"),
        case("mg_miss", "mg $K v\r\nmg $K\r\n"),
        case("mg_miss_quiet", "mg $K v q\r\nmg $K k O123 q\r\n"),
        case("mg_miss_opaque_key", "mg $K v k Oabc\r\n"),
        case("mg_hit_no_flags", "set $K 5 0 2\r\nhi\r\nmg $K\r\n"),
        case("mg_v", "set $K 5 0 2\r\nhi\r\nmg $K v\r\n"),
        case("mg_f", "set $K 5 0 2\r\nhi\r\nmg $K f\r\n"),
        case("mg_t_none", "set $K 5 0 2\r\nhi\r\nmg $K t\r\n"),
        case("mg_t", "set $K 5 100 2\r\nhi\r\nmg $K t\r\n"),
        case("mg_c", "set $K 5 0 2\r\nhi\r\ngets $K\r\nmg $K c\r\n"),
        case("mg_k", "set $K 5 0 2\r\nhi\r\nmg $K k\r\n"),
        case("mg_s", "set $K 5 0 2\r\nhi\r\nmg $K s\r\n"),
        case("mg_h", "set $K 5 0 2\r\nhi\r\nmg $K h\r\nmg $K h\r\n"),
        case("mg_l", "set $K 5 0 2\r\nhi\r\nmg $K l\r\n"),
        case("mg_opaque", "set $K 5 0 2\r\nhi\r\nmg $K O12345678 v\r\n"),
        case("mg_q_hit", "set $K 5 0 2\r\nhi\r\nmg $K v q\r\nmg $K q\r\n"),
        case(
            "mg_all_flags",
            "set $K 5 100 2\r\nhi\r\nmg $K v f t c k s h l O9 q\r\n",
        ),
        case(
            "mg_flag_order",
            "set $K 5 100 2\r\nhi\r\nmg $K O9 k s t f c v\r\n",
        ),
        case("mg_b", "set mgbase 5 0 2\r\nhi\r\nmg bWdiYXNl b v k\r\n"),
        case("mg_b_miss", "mg bWdiYXNlbWlzcw== b v k\r\n"),
        case("mg_b_invalid", "mg !!!! b v\r\n"),
        case(
            "mg_b_binary_key",
            "ms AAEC/w== 2 b\r\nhi\r\nmg AAEC/w== b v k\r\n",
        ),
        case("mg_E", "set $K 5 0 2\r\nhi\r\nmg $K E999 v c\r\n"),
        case("mg_T", "set $K 5 0 2\r\nhi\r\nmg $K T30 t\r\nmg $K t\r\n"),
        case("mg_T_miss", "mg $K T30 t\r\n"),
        case(
            "mg_duplicate_flags",
            "set $K 5 0 2\r\nhi\r\nmg $K v v\r\nmg $K t t\r\n",
        ),
        case(
            "mg_invalid_flag",
            "set $K 5 0 2\r\nhi\r\nmg $K !\r\nmg $K v 9\r\n",
        ),
        case("mg_no_key", "mg\r\nmg \r\n"),
        case("mg_key_251", format!("mg {} v\r\n", key_of("mg251", 251))),
        case(
            "mg_key_250",
            format!("set {0} 0 0 1\r\nz\r\nmg {0} v k\r\n", key_of("mg250", 250)),
        ),
        case(
            "mg_token_limit",
            format!("set $K 0 0 1\r\nz\r\nmg $K{}\r\n", " v".repeat(40)),
        ),
        case("mg_lowercase_code", "MG $K v\r\n"),
        case("mg_expired", "set $K 0 -1 1\r\nz\r\nmg $K v\r\n"),
        case("me_hit", "set $K 5 100 2\r\nhi\r\nme $K\r\n"),
        case("me_miss", "me $K\r\n"),
        case("me_no_key", "me\r\n"),
        case("mg_q_k_miss", "mg $K k q\r\nmg $K k b q\r\n"),
        case(
            "mg_opaque_long",
            format!("set $K 0 0 1\r\na\r\nmg $K O{} v\r\n", "x".repeat(40)),
        ),
        case("mg_opaque_empty", "set $K 0 0 1\r\na\r\nmg $K O v\r\n"),
        case(
            "mg_T_negative",
            "set $K 0 0 1\r\na\r\nmg $K T-1 v\r\nmg $K v\r\n",
        ),
        case(
            "mg_b_long_decoded",
            format!("mg {} b v\r\n", "QUFB".repeat(90)),
        ),
        // base64 keys: is the 250-byte limit on the encoded or decoded key?
        case(
            "mg_b_decoded_186",
            format!("ms {0} 1 b\r\nz\r\nmg {0} b v\r\n", "QUFB".repeat(62)),
        ),
        case(
            "mg_b_decoded_189",
            format!("ms {0} 1 b\r\nz\r\nmg {0} b v\r\n", "QUFB".repeat(63)),
        ),
        case(
            "mg_N_after_delete",
            "mg $K N30 v\r\nms $K 1\r\nx\r\nmd $K\r\nmg $K N30 v\r\n",
        ),
        case("mg_size_of_counter", "ma $K N0 J123 v\r\nmg $K s v f t\r\n"),
        case("me_b", "set mebase 0 0 1\r\na\r\nme bWViYXNl b\r\n"),
        case(
            "mg_after_text_touch",
            "set $K 0 0 1\r\na\r\ntouch $K 50\r\nmg $K t h l\r\n",
        ),
        case(
            "mg_N_miss_vivify",
            "mg $K N30 v c t s\r\nmg $K N30 v c t\r\nmg $K v\r\n",
        ),
        case("mg_N_miss_quiet", "mg $K N30 q v\r\nmg $K N30 q v\r\n"),
        case("mg_lease_dance", "mg $K N30 v c\r\nmg $K N30 v c\r\n")
            .then("ms $K 3 C$CAS1 T60\r\nnew\r\nmg $K v c t\r\n"),
        case("mg_lease_other_conn", "mg $K N30 v\r\n")
            .reconnect()
            .then("mg $K N30 v\r\nmg $K v\r\n"),
        case(
            "mg_invalidated",
            "set $K 0 0 3\r\nold\r\nmd $K I T30\r\nmg $K v c t\r\nmg $K v c\r\n",
        )
        .then("ms $K 3 C$CAS1 I\r\nnew\r\nmg $K v\r\nms $K 3 C$CAS1\r\nnew\r\nmg $K v\r\n"),
        case(
            "mg_recache",
            "set $K 0 10 1\r\nx\r\nmg $K R30 v t\r\nmg $K R30 v t\r\nmg $K R5 v\r\n",
        ),
        case(
            "mg_hit_win_flags_cleared",
            "mg $K N30 v\r\nms $K 1\r\nx\r\nmg $K N30 v\r\n",
        ),
    ];
    run_table("meta_get", cases);
}

#[test]
fn meta_set_delete_arith() {
    let cases =
        vec![
        case("ms_basic", "ms $K 2\r\nhi\r\nget $K\r\n"),
        case("ms_flags_ttl", "ms $K 2 F77 T100\r\nhi\r\nmg $K f t v\r\n"),
        case("ms_return_flags", "ms $K 2 c k O42\r\nhi\r\nmg $K c\r\n"),
        case("ms_b", "ms bXNiYXNl 2 b k\r\nhi\r\nget msbase\r\n"),
        case(
            "ms_q",
            "ms $K 2 q\r\nhi\r\nms $K 2 q ME\r\nhi\r\nget $K\r\n",
        ),
        case(
            "ms_mode_E",
            "ms $K 1 ME\r\na\r\nms $K 1 ME\r\nb\r\nget $K\r\n",
        ),
        case(
            "ms_mode_A",
            "ms $K 1 MA\r\na\r\nset $K 0 0 1\r\nb\r\nms $K 1 MA\r\nc\r\nget $K\r\n",
        ),
        case(
            "ms_mode_P",
            "ms $K 1 MP\r\na\r\nset $K 0 0 1\r\nb\r\nms $K 1 MP\r\nc\r\nget $K\r\n",
        ),
        case(
            "ms_mode_R",
            "ms $K 1 MR\r\na\r\nset $K 0 0 1\r\nb\r\nms $K 1 MR\r\nc\r\nget $K\r\n",
        ),
        case("ms_mode_S", "ms $K 1 MS\r\na\r\nget $K\r\n"),
        case(
            "ms_mode_lowercase",
            "ms $K 1 Ms\r\na\r\nms $K 1 Me\r\nb\r\nget $K\r\n",
        ),
        case("ms_mode_invalid", "ms $K 1 MX\r\na\r\nget $K\r\n"),
        case("ms_append_vivify", "ms $K 2 MA N30\r\nhi\r\nmg $K v t\r\n"),
        case(
            "ms_C_match",
            "ms $K 1 c\r\na\r\nms $K 1 C$CAS1 c\r\nb\r\nget $K\r\n",
        ),
        case(
            "ms_C_mismatch",
            "ms $K 1\r\na\r\nms $K 1 C999999999\r\nb\r\nget $K\r\n",
        ),
        case("ms_C_missing", "ms $K 1 C1\r\na\r\nget $K\r\n"),
        case(
            "ms_E_explicit_cas",
            "ms $K 1 E12345 c\r\na\r\ngets $K\r\nmg $K c\r\n",
        ),
        case("ms_I_older_cas", "ms $K 1 c\r\na\r\nms $K 1 c\r\nb\r\n")
            .then("ms $K 1 I C$CAS1\r\nc\r\nmg $K v c\r\n"),
        case("ms_T_negative", "ms $K 1 T-1\r\na\r\nget $K\r\n"),
        case("ms_no_size", "ms $K\r\nms\r\n"),
        case("ms_bad_size", "ms $K abc\r\nhi\r\nms $K -1\r\n"),
        case("ms_bad_chunk", "ms $K 2\r\nhello\r\nget $K\r\n"),
        case("ms_invalid_flag", "ms $K 1 !\r\na\r\nget $K\r\n"),
        case(
            "ms_bad_flag_value",
            "ms $K 1 Fabc\r\na\r\nms $K 1 Tabc\r\nb\r\nget $K\r\n",
        ),
        case("ms_too_large", {
            let mut v = b"ms ms_big 2000000 T0\r\n".to_vec();
            v.extend(std::iter::repeat_n(b'q', 2_000_000));
            v.extend_from_slice(b"\r\nmg ms_big v\r\n");
            v
        }),
        case(
            "ms_key_251",
            format!("ms {} 1\r\na\r\n", key_of("ms251", 251)),
        ),
        case("md_hit", "set $K 0 0 1\r\na\r\nmd $K\r\nget $K\r\n"),
        case("md_miss", "md $K\r\n"),
        case(
            "md_q",
            "set $K 0 0 1\r\na\r\nmd $K q\r\nmd $K q\r\nmd $K k O7 q\r\n",
        ),
        case("md_k_opaque", "set $K 0 0 1\r\na\r\nmd $K k O99\r\n"),
        case(
            "md_C",
            "ms $K 1 c\r\na\r\nmd $K C999999999\r\nmd $K C$CAS1\r\nget $K\r\n",
        ),
        case(
            "md_I_T",
            "ms $K 1 T0\r\na\r\nmd $K I T30\r\nmg $K t v c\r\nmg $K v\r\n",
        ),
        case("md_I_miss", "md $K I\r\n"),
        case(
            "md_x",
            "set $K 9 0 5\r\nhello\r\nmd $K x\r\nmg $K v f s\r\n",
        ),
        case(
            "md_b",
            "set mdbase 0 0 1\r\na\r\nmd bWRiYXNl b k\r\nget mdbase\r\n",
        ),
        case("md_invalid_flag", "md $K !\r\nmd\r\n"),
        case("ma_miss", "ma $K\r\nma $K q\r\n"),
        case("ma_basic", "set $K 0 0 1\r\n5\r\nma $K\r\nget $K\r\n"),
        case("ma_v", "set $K 0 0 1\r\n5\r\nma $K v\r\nma $K v D10\r\n"),
        case(
            "ma_vivify",
            "ma $K N0 J10 v\r\nma $K N0 J10 v\r\nget $K\r\n",
        ),
        case("ma_vivify_default", "ma $K N0 v t\r\n"),
        case(
            "ma_decr_mode",
            "set $K 0 0 2\r\n10\r\nma $K MD D3 v\r\nma $K M- v\r\nma $K MD D100 v\r\nget $K\r\n",
        ),
        case(
            "ma_incr_mode",
            "set $K 0 0 1\r\n1\r\nma $K MI v\r\nma $K M+ D5 v\r\n",
        ),
        case("ma_invalid_mode", "set $K 0 0 1\r\n1\r\nma $K MX v\r\n"),
        case(
            "ma_bad_delta",
            "set $K 0 0 1\r\n1\r\nma $K Dabc v\r\nma $K D-1 v\r\n",
        ),
        case(
            "ma_wrap",
            "set $K 0 0 20\r\n18446744073709551615\r\nma $K v\r\n",
        ),
        case("ma_non_numeric", "set $K 0 0 1\r\nx\r\nma $K v\r\n"),
        case(
            "ma_q",
            "set $K 0 0 1\r\n1\r\nma $K q\r\nma $K q v\r\nma $Kn q\r\nget $K\r\n",
        ),
        case("ma_flags", "set $K 0 100 1\r\n1\r\nma $K t c k O5 v\r\n"),
        case(
            "ma_shorter",
            "set $K 0 0 2\r\n10\r\nma $K MD D5 v\r\nget $K\r\n",
        ),
        case("ma_C", "set $K 0 0 1\r\n1\r\nma $K C999 v\r\n"),
        case("ma_vivify_ttl", "ma $K N30 J5 t v\r\nma $K t v\r\n"),
        case("ma_C_match", "set $K 0 0 1\r\n1\r\nma $K c v\r\n")
            .then("ma $K C$CAS1 c v\r\nma $K C$CAS1 v\r\n"),
        case(
            "ms_F_then_get",
            "ms $K 2 F123\r\nhi\r\nget $K\r\nmg $K f v\r\n",
        ),
        case(
            "ms_invalidate_no_cas",
            "ms $K 1\r\na\r\nms $K 1 I\r\nb\r\nmg $K v c\r\n",
        ),
        case("ms_zero_length", "ms $K 0\r\n\r\nmg $K v s\r\n"),
        case(
            "ms_q_suppresses",
            "ms $K 1 q c k\r\na\r\nms $K 1 q ME\r\nb\r\nmg $K v\r\n",
        ),
        case(
            "ms_append_keeps_flags",
            "ms $K 1 F5 T100\r\na\r\nms $K 1 MA F9 T0\r\nb\r\nmg $K v f t\r\n",
        ),
        case("ms_b_invalid", "ms !!!! 1 b\r\na\r\nmg $K v\r\n"),
        case(
            "ms_key_250",
            format!("ms {0} 1\r\na\r\nmg {0} v s\r\n", key_of("ms250", 250)),
        ),
        case("ms_size_trailing_junk", "ms $K 1x\r\na\r\nmg $K v\r\n"),
        case(
            "md_q_mismatch",
            "ms $K 1\r\na\r\nmd $K q C999999999\r\nmd $K q\r\nmg $K v\r\n",
        ),
        case(
            "md_then_stale_set",
            "ms $K 1 c\r\na\r\nmd $K I\r\nms $K 1\r\nb\r\nmg $K v c\r\n",
        ),
        case(
            "ma_q_vivify",
            "ma $K q N0 J3\r\nma $K q MD D1\r\nmg $K v\r\n",
        ),
        case("ma_q_error", "set $K 0 0 1\r\nx\r\nma $K q\r\n"),
        case(
            "ma_wrap_explicit",
            "set $K 0 0 1\r\n2\r\nma $K D18446744073709551615 v\r\n",
        ),
        case(
            "ma_delta_too_big",
            "set $K 0 0 1\r\n2\r\nma $K D18446744073709551616 v\r\n",
        ),
        case("ma_N_bad", "ma $K Nabc J1 v\r\nma $K N0 Jabc v\r\n"),
        case("ma_b", "set mabase 0 0 1\r\n1\r\nma bWFiYXNl b v k\r\n"),
        case("ma_leading_spaces", "set $K 0 0 3\r\n  7\r\nma $K v\r\nmg $K v s\r\n"),
        case("ma_after_text_decr", "set $K 0 0 3\r\n100\r\ndecr $K 95\r\nma $K v\r\nmg $K v s\r\n"),
        case("ms_flags_too_long", format!("ms $K 1{}\r\na\r\n", " T1".repeat(30))),

    ];
    run_table("meta_set_delete_arith", cases);
}

#[test]
fn pipelining() {
    let mut many = Vec::new();
    for i in 0..200 {
        many.extend_from_slice(
            format!(
                "set $K{i} {i} 0 {}\r\nv{i}\r\nget $K{i}\r\n",
                1 + i.to_string().len()
            )
            .as_bytes(),
        );
    }
    let cases = vec![
        case("pipeline_sets_gets", many),
        case("pipeline_mixed", "set $K 0 0 1\r\n1\r\nincr $K 5\r\nmg $K v\r\nget $K\r\ndelete $K\r\nmn\r\nma $K N0 J7 v\r\ngets $K\r\nversion\r\n"),
        case("pipeline_error_middle", "set $K 0 0 1\r\na\r\nbogus\r\nset $K 0 0 1\r\nxyz\r\nget $K\r\nincr $K 1\r\nget $K\r\n"),
        case("pipeline_too_large_middle", {
            let mut v = b"set $K 0 0 1\r\na\r\n".to_vec();
            v.extend(set_of("pipe_big", ITEM_MAX + 100));
            v.extend_from_slice(b"get $K pipe_big\r\n");
            v
        }),
        case("pipeline_quiet_meta", "ms $K 1 q\r\na\r\nmg $Kx v q\r\nmg $K v q\r\nmn\r\nmd $K q\r\nmg $K v q\r\nmn\r\n"),
        case("pipeline_noreply", "set $K 0 0 1 noreply\r\n1\r\nincr $K 1 noreply\r\nadd $K 0 0 1 noreply\r\nx\r\nget $K\r\n"),
        // Replies past 64 KB: whatever the node flushes in between, the
        // requests already read behind the big one must still be answered.
        case("pipeline_after_large_reply", set_of("$K", 100_000))
            .then("get $K\r\nversion\r\nget $K\r\nmn\r\nversion\r\n"),
        case("pipeline_large_then_small", {
            let mut v = set_of("$K", 200_000);
            v.extend_from_slice(b"get $K $K\r\nset $Ks 0 0 1\r\ns\r\nget $Ks\r\n");
            v
        }),
        case("pipeline_then_quit", "set $K 0 0 1\r\na\r\nget $K\r\nquit\r\nget $K\r\n").closes(),
    ];
    run_table("pipelining", cases);
}

#[test]
fn split_reads() {
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("set_get", b"set $K 3 0 5\r\nhello\r\nget $K\r\n".to_vec()),
        ("meta", b"ms $K 2 T0 F3\r\nhi\r\nmg $K v f c\r\n".to_vec()),
        ("incr", b"set $K 0 0 1\r\n9\r\nincr $K 1\r\n".to_vec()),
        ("bad_chunk", b"set $K 0 0 1\r\nxyz\r\nget $K\r\n".to_vec()),
        (
            "noreply",
            b"set $K 0 0 1 noreply\r\nx\r\nget $K\r\n".to_vec(),
        ),
        (
            "crlf_in_data",
            b"set $K 0 0 4\r\na\r\nb\r\ngets $K\r\n".to_vec(),
        ),
        (
            "quiet_meta",
            b"ms $K 1 q\r\na\r\nmg $K v q\r\nmg $Kx v q k\r\nmn\r\n".to_vec(),
        ),
        (
            "base64",
            b"ms YWJj 1 b T0\r\nz\r\nmg YWJj b v k\r\n".to_vec(),
        ),
        ("quit", b"get $K\r\nquit\r\n".to_vec()),
    ];
    let mut cases: Vec<Case> = Vec::new();
    for (name, req) in &requests {
        cases.push(case(&format!("sp_{name}_bytewise"), req).split(Split::Bytewise));
        // `$K` becomes the case name, so split points are chosen on a request
        // of the final length: the name has a fixed width.
        let width = format!("sp_{name}_at_000").len();
        let final_len = req.len() - 2 * req.windows(2).filter(|w| *w == b"$K").count()
            + width * req.windows(2).filter(|w| *w == b"$K").count();
        for at in 1..final_len {
            cases.push(case(&format!("sp_{name}_at_{at:03}"), req).split(Split::At(at)));
        }
    }
    // A large value arriving in pieces, split inside the data block and at its end.
    let big = set_of("$K", 100_000);
    for at in [10, 5_000, 65_536, 100_000, big.len() - 1] {
        let mut req = big.clone();
        req.extend_from_slice(b"get $K\r\n");
        cases.push(case(&format!("sp_big_at_{at}"), req).split(Split::At(at)));
    }
    // Split at every byte, a quit must still close after its reply.
    for c in cases.iter_mut().filter(|c| c.name.starts_with("sp_quit_")) {
        *c = c.clone().closes();
    }
    // An oversized value is swallowed in a discard state that must survive
    // any number of reads.
    let too_big = {
        let mut v = set_of("$K", ITEM_MAX + 1);
        v.extend_from_slice(b"get $K\r\nversion\r\n");
        v
    };
    for at in [5, 30, 1_000, 65_536, 500_000, ITEM_MAX, too_big.len() - 20] {
        cases.push(case(&format!("sp_too_big_at_{at}"), &too_big).split(Split::At(at)));
    }
    cases.push(case("sp_too_big_chunks", &too_big).split(Split::Chunks(30_000)));
    cases.push(
        case("sp_big_chunks", set_of("$K", 300_000))
            .split(Split::Chunks(4_000))
            .then("get $K\r\n"),
    );
    // A long multi-get line in small pieces: memcached keeps reading it.
    let long_get: String = (0..300).map(|i| format!(" $K{i}")).collect();
    cases.push(
        case(
            "sp_long_get_chunks",
            format!("set $K7 0 0 1\r\n7\r\nget{long_get}\r\n"),
        )
        .split(Split::Chunks(100)),
    );
    run_table("split_reads", cases);
}

/// What one connection got when it asked for `version`.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Served,
    Refused(Vec<u8>),
    Silent,
}

/// Opens `n` connections to `server` and keeps them open, asking each for its
/// version; returns what each got.
fn admit(server: &common::Server, n: usize) -> (Vec<Admission>, Vec<std::net::TcpStream>) {
    use std::io::Write;
    let mut held = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..n {
        let mut s = server.connect();
        s.write_all(b"version\r\n").unwrap();
        let mut buf = Vec::new();
        let done = |b: &[u8]| b.ends_with(b"\r\n");
        let how = common::read_until(&mut s, &mut buf, Some(&done), Duration::from_millis(500));
        seen.push(match how {
            common::ReadEnd::Done if buf.starts_with(b"VERSION ") => Admission::Served,
            common::ReadEnd::TimedOut if buf.is_empty() => Admission::Silent,
            _ => {
                // Whatever came, and whether the server closed afterwards.
                let mut rest = Vec::new();
                let end = common::read_until(&mut s, &mut rest, None, Duration::from_millis(500));
                buf.extend_from_slice(&rest);
                if end == common::ReadEnd::Closed {
                    buf.extend_from_slice(b"<closed>");
                }
                Admission::Refused(buf)
            }
        });
        held.push(s);
    }
    (seen, held)
}

/// `-c`: past the cap, memcached answers a new connection with
/// `ERROR Too many open connections` and closes it, and frees the slot when a
/// client leaves. How many fit below the cap is memcached's fd accounting (it
/// counts its own sockets), so only what happens past the cap is compared.
#[test]
fn connection_limit() {
    const CAP: &str = "40";
    const OPEN: usize = 60;
    let oracle = common::Server::start(common::Kind::Memcached, &["-c", CAP]);
    let subject = common::Server::start(common::subject_kind(), &["-c", CAP]);
    let mut report = String::new();
    let mut outcomes = Vec::new();
    for server in [&oracle, &subject] {
        let (seen, held) = admit(server, OPEN);
        let served = seen.iter().filter(|a| **a == Admission::Served).count();
        let first_refusal = seen
            .iter()
            .find(|a| **a != Admission::Served)
            .map(|a| match a {
                Admission::Refused(b) => common::diff::escape(b),
                other => format!("{other:?}"),
            });
        drop(held);
        // The slots come back once the clients are gone.
        std::thread::sleep(Duration::from_millis(200));
        let (again, _held) = admit(server, 1);
        report.push_str(&format!(
            "{}: {served} of {OPEN} served; first refusal: {first_refusal:?}; after closing: {:?}\n",
            server.kind.label(),
            again[0]
        ));
        outcomes.push((served < OPEN, first_refusal, again[0] == Admission::Served));
    }
    eprintln!("{report}");
    assert!(
        outcomes[0].0,
        "memcached served all {OPEN} connections with -c {CAP}: {report}"
    );
    assert_eq!(outcomes[0], outcomes[1], "past -c {CAP}:\n{report}");
}

/// The operator's swap: memcached's usual command line (with `-U 0`, UDP
/// off) starts the subject as it starts memcached, and both then answer.
#[test]
fn memcached_command_line() {
    let flags = ["-U", "0", "-c", "1024", "-I", "1m", "-m", "64", "-t", "2"];
    for kind in [common::Kind::Memcached, common::subject_kind()] {
        let server = common::Server::start(kind, &flags);
        let reply = common::roundtrip(&server, b"version\r\n", b"\r\n");
        assert!(
            reply.starts_with(b"VERSION "),
            "{} with {flags:?}: {}",
            kind.label(),
            common::diff::escape(&reply)
        );
    }
}
