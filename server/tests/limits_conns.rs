//! `-c` and the idle timeout on a child-process node: past `-c` a client
//! gets memcached's `ERROR Too many open connections` and is closed; once
//! connections go, service resumes; idle connections are dropped when an
//! idle timeout is set (`--idle-timeout N` or memcached's
//! `-o idle_timeout=N`) and kept when it is not.

#![allow(clippy::unwrap_used)]

mod hostile_support;
mod ports;

use std::io::Write;
use std::time::{Duration, Instant};

use hostile_support::{
    closed_within, connect, probe, read_until, roundtrip, stat, wait_for, End, Proc, DEADLINE,
};

#[test]
fn max_connections_refuse_then_resume() {
    let node = Proc::node(&["-c", "20"]);
    let addr = node.addr();
    // Twenty admitted: each answers.
    let mut admitted: Vec<_> = (0..20)
        .map(|_| {
            let mut s = connect(addr);
            assert_eq!(
                roundtrip(&mut s, b"version\r\n", b"\r\n")[..8],
                *b"VERSION "
            );
            s
        })
        .collect();
    // The 21st: memcached's line, then a close.
    for _ in 0..3 {
        let mut s = connect(addr);
        let (closed, got) = closed_within(&mut s, DEADLINE);
        assert!(closed, "connection past -c not closed");
        assert_eq!(
            String::from_utf8_lossy(&got),
            "ERROR Too many open connections\r\n"
        );
    }
    // The admitted ones are unaffected.
    for s in admitted.iter_mut() {
        assert_eq!(roundtrip(s, b"mn\r\n", b"\r\n"), b"MN\r\n");
    }
    // Below the limit again: service resumes.
    admitted.truncate(15);
    let resumed = wait_for(DEADLINE, || {
        // Admitted means answered: a refused client gets the error line.
        let mut s = connect(addr);
        let _ = s.write_all(b"mn\r\n");
        let mut got = Vec::new();
        read_until(&mut s, &mut got, b"\r\n", Duration::from_secs(2)) == End::Done
            && got == b"MN\r\n"
    });
    assert!(resumed, "no new connection admitted after five closed");
    probe(addr, "after-c");
    drop(admitted);
    assert!(wait_for(DEADLINE, || stat(addr, "curr_connections") <= 2));
    assert!(stat(addr, "rejected_connections") >= 3);
    node.assert_no_panic("node");
}

/// Waits for `s` to be closed by the server; returns how long it took.
fn idle_close(addr: std::net::SocketAddr) -> Duration {
    let mut s = connect(addr);
    assert_eq!(roundtrip(&mut s, b"mn\r\n", b"\r\n"), b"MN\r\n");
    let idle_from = Instant::now();
    let (closed, _) = closed_within(&mut s, DEADLINE);
    assert!(closed, "idle connection was not dropped");
    idle_from.elapsed()
}

#[test]
fn idle_timeout_drops_idle_connections() {
    for flags in [&["--idle-timeout", "1"][..], &["-o", "idle_timeout=1"][..]] {
        let node = Proc::node(flags);
        let addr = node.addr();
        let mut untouched = connect(addr);
        let took = idle_close(addr);
        println!("{flags:?}: idle connection closed after {took:?}");
        assert!(took >= Duration::from_millis(900), "closed early: {took:?}");
        // The untouched connection went idle too.
        let (closed, _) = closed_within(&mut untouched, DEADLINE);
        assert!(closed);
        probe(addr, "after-idle");
        node.assert_no_panic("node");
    }
    // No timeout: an idle connection outlives the one-second idles above.
    let node = Proc::node(&[]);
    let mut kept = connect(node.addr());
    let other = Proc::node(&["--idle-timeout", "1"]);
    let _ = idle_close(other.addr());
    assert_eq!(roundtrip(&mut kept, b"mn\r\n", b"\r\n"), b"MN\r\n");
}
