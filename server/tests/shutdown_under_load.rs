//! Graceful shutdown under load loses no acknowledged reply: clients
//! pipeline sets at a child-process node, which gets SIGTERM mid-stream.
//! Every byte a client received must be a whole `STORED\r\n` (no torn
//! reply), there are never more acknowledgements than sets sent, and the
//! node exits 0 within its deadline.

#![allow(clippy::unwrap_used)]

mod hostile_support;
mod ports;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hostile_support::{connect, wait_for, Proc, DEADLINE};

const CLIENTS: usize = 4;
const BATCH: usize = 50;

/// One pipelining client: writes batches of sets (reading replies as they
/// come, without waiting for a batch to finish) until the node goes.
/// Returns (sets sent, bytes received).
fn client(addr: std::net::SocketAddr, id: usize, acked: Arc<AtomicU64>) -> (usize, Vec<u8>) {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut sent = 0usize;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + DEADLINE * 2;
    let mut writing = true;
    while Instant::now() < deadline {
        if writing {
            let mut batch = Vec::new();
            for i in sent..sent + BATCH {
                batch.extend(format!("set sd:{id}:{i} 0 0 8\r\n{i:08}\r\n").bytes());
            }
            match s.write_all(&batch) {
                // A partial write may have delivered some sets: count them
                // as sent (the bound only gets looser).
                Ok(()) => sent += BATCH,
                Err(_) => {
                    sent += BATCH;
                    writing = false;
                }
            }
        }
        // Keep at most a few batches in flight.
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (sent, got),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    acked.fetch_add(n as u64 / 8, Ordering::Relaxed);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (sent, got),
            }
            if !writing || got.len() / 8 + 4 * BATCH >= sent {
                break;
            }
        }
    }
    panic!("client {id}: node neither answered nor closed within the deadline");
}

#[test]
fn sigterm_under_load_loses_no_acknowledged_reply() {
    let mut node = Proc::node(&["-m", "64"]);
    let addr = node.addr();
    let acked = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let acked = Arc::clone(&acked);
            thread::spawn(move || client(addr, id, acked))
        })
        .collect();
    assert!(
        wait_for(DEADLINE, || acked.load(Ordering::Relaxed) >= 2000),
        "load did not get going"
    );
    let term_at = Instant::now();
    node.signal("TERM");
    let status = node
        .wait_exit(Duration::from_secs(10))
        .expect("node exits within 10 s of SIGTERM");
    println!("SIGTERM → exit in {:?}: {status}", term_at.elapsed());
    assert!(status.success(), "node exit status {status}");
    let mut total = 0;
    for (id, handle) in clients.into_iter().enumerate() {
        let (sent, got) = handle.join().unwrap();
        assert_eq!(
            got.len() % 8,
            0,
            "client {id}: torn reply at the end: {:?}",
            String::from_utf8_lossy(&got[got.len().saturating_sub(16)..])
        );
        assert!(
            got.chunks(8).all(|c| c == b"STORED\r\n"),
            "client {id}: a reply that is not STORED"
        );
        let acks = got.len() / 8;
        assert!(acks <= sent, "client {id}: {acks} acks for {sent} sets");
        total += acks;
        println!("client {id}: {sent} sets sent, {acks} acknowledged");
    }
    assert!(total >= 2000);
    node.assert_no_panic("node");
}
