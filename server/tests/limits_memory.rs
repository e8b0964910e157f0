//! `-m 64` holds in real memory: a child-process node is sent ten times its
//! limit in values of mixed sizes (100 B – 100 KB, log-uniform), and its
//! resident set must stay within 64 MiB × 1.15 plus what the empty process
//! used. The figures are printed (and recorded in docs/hardening.md).

#![allow(clippy::unwrap_used)]

mod hostile_support;
mod ports;

use std::io::{Read, Write};

use hostile_support::{connect, read_until, stat, End, Proc, DEADLINE};

const LIMIT_MB: u64 = 64;

/// As an operator starts it: the binary runs itself with one malloc arena
/// (`MALLOC_ARENA_MAX=1`, see `one_malloc_arena` in `bin/ringcache.rs`),
/// and the issue's bound holds: 64 MiB × 1.15 + the empty process.
#[test]
fn rss_stays_within_the_memory_limit() {
    fill_and_measure(&[], 115);
}

/// With many arenas (an operator who sets `MALLOC_ARENA_MAX` keeps it).
/// Measured with glibc's defaults: RSS over empty 69–77 MiB for 64 MiB of
/// weighed items in release builds, and up to 86 MiB (1.35×) in a debug
/// build on a loaded CI machine: each tokio worker copies values into its
/// own arena and moka's eviction frees them from another thread, so every
/// arena keeps its own holes, and how many depends on scheduling. So this
/// asserts only what does not depend on it: RSS does not follow the
/// 640 MiB written (a leak, or a store that ignores `-m`, would blow 2× at
/// once).
#[test]
fn rss_stays_bounded_with_many_malloc_arenas() {
    fill_and_measure(&[("MALLOC_ARENA_MAX", "8")], 200);
}

fn fill_and_measure(env: &[(&str, &str)], percent: u64) {
    let node = Proc::node_with_env(&["-m", &LIMIT_MB.to_string()], env);
    let addr = node.addr();
    // Warm the process up (one connection, the store, the runtime) before
    // taking the empty figure.
    let _ = stat(addr, "pid");
    let empty_kib = node.rss_kib();

    let mut s = connect(addr);
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let target: u64 = 10 * LIMIT_MB * 1024 * 1024;
    let (mut written, mut sets, mut refused, mut peak_kib) = (0u64, 0u64, 0u64, 0u64);
    let mut batch = Vec::with_capacity(4 << 20);
    let mut i = 0u64;
    // The store's own figure, sampled: moka evicts asynchronously, so its
    // weighted size can run past the limit between housekeeping rounds.
    let mut peak_bytes = 0u64;
    while written < target {
        batch.clear();
        let mut n = 0;
        while n < 32 && batch.len() < 2 << 20 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // log-uniform over 100 B ..= 100 KB
            let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
            let len = (100.0 * 1000f64.powf(u)) as usize;
            batch.extend(format!("set m:{i} 0 0 {len}\r\n").bytes());
            batch.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            batch.extend_from_slice(b"\r\n");
            written += len as u64;
            i += 1;
            n += 1;
        }
        s.write_all(&batch).unwrap();
        let mut replies = Vec::new();
        let mut chunk = [0u8; 4096];
        let deadline = std::time::Instant::now() + DEADLINE;
        while replies.iter().filter(|&&c| c == b'\n').count() < n {
            assert!(std::time::Instant::now() < deadline, "replies too slow");
            match s.read(&mut chunk) {
                Ok(0) => panic!("node closed the connection"),
                Ok(k) => replies.extend_from_slice(&chunk[..k]),
                Err(_) => {} // read timeout: try again until the deadline
            }
        }
        for line in replies.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            match line {
                b"STORED\r" => sets += 1,
                l if l.starts_with(b"SERVER_ERROR") => refused += 1,
                l => panic!("unexpected reply {:?}", String::from_utf8_lossy(l)),
            }
        }
        if i % 512 < 32 {
            peak_kib = peak_kib.max(node.rss_kib());
            peak_bytes = peak_bytes.max(stat(addr, "bytes"));
        }
    }
    // Let the store's pending evictions run (`stats` goes through the
    // executor) and take the final figure.
    let bytes = stat(addr, "bytes");
    let items = stat(addr, "curr_items");
    let evictions = stat(addr, "evictions");
    let final_kib = node.rss_kib();
    peak_kib = peak_kib.max(final_kib);
    let bound_kib = LIMIT_MB * 1024 * percent / 100 + empty_kib;
    println!(
        "-m {LIMIT_MB} {env:?}: wrote {} MiB in {} sets ({sets} stored, {refused} refused); \
         empty RSS {empty_kib} KiB, final {final_kib} KiB, peak sampled {peak_kib} KiB, \
         bound {bound_kib} KiB; stats bytes {bytes} (peak sampled {peak_bytes}), curr_items {items}, \
         evictions {evictions}",
        written >> 20,
        i
    );
    assert!(
        bytes <= LIMIT_MB * 1024 * 1024,
        "stats bytes {bytes} over the limit"
    );
    assert!(
        peak_kib <= bound_kib,
        "{env:?}: RSS {peak_kib} KiB over the bound {bound_kib} KiB (empty {empty_kib} KiB)"
    );
    let mut s2 = connect(addr);
    let mut buf = Vec::new();
    s2.write_all(b"version\r\n").unwrap();
    assert_eq!(
        read_until(&mut s2, &mut buf, b"\r\n", DEADLINE),
        End::Done,
        "node still answers"
    );
    node.assert_no_panic("node");
}
