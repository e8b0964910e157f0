//! The fuzz targets' request invariants (fuzz/src/lib.rs) as a property
//! test that runs in CI: memcached-ish input (fragments of real commands
//! mixed with random bytes), split at arbitrary points, decodes to the same
//! requests as the whole input, byte at a time or in chunks; the read
//! buffer never holds more than `Limits::max_frame()` while waiting; and
//! `parse_request` reports exactly what it consumed.
//!
//! Regression inputs found by fuzzing live in `fuzz_regressions.rs`.

#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use ringcache_protocol::{parse_request, Limits, Reason, Request, RequestDecoder};

const FRAGMENTS: &[&[u8]] = &[
    b"get ",
    b"gets ",
    b"gat 10 ",
    b"set ",
    b"add ",
    b"cas ",
    b"append ",
    b"incr ",
    b"decr ",
    b"delete ",
    b"touch ",
    b"mg ",
    b"ms ",
    b"md ",
    b"ma ",
    b"mn",
    b"me ",
    b"stats",
    b"version",
    b"flush_all",
    b"verbosity 1",
    b"quit",
    b"k ",
    b"key ",
    b"0 ",
    b"1 ",
    b"5 ",
    b"2048 ",
    b"4294967296 ",
    b"-1 ",
    b"noreply",
    b" v",
    b" q",
    b" b",
    b" T0",
    b" O123",
    b" MS",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"hello",
    b"HTTP/1.1",
];

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 0..8),
        1 => (1usize..3000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    vec(piece(), 0..40).prop_map(|p| p.concat())
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop_oneof![Just(1024usize), Just(4096), Just(1 << 20)],
        any::<bool>(),
    )
        .prop_map(|(size, cas)| Limits::default().max_item_size(size).cas_enabled(cas))
}

/// Decodes `chunks` as a connection would, up to the first request that
/// closes it, checking the buffer bound while waiting.
fn decode(limits: Limits, chunks: &[&[u8]]) -> Vec<Request> {
    let max_frame = limits.max_frame();
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(request) = decoder.decode(&mut buf).unwrap() {
            let closes = request.closes_connection();
            out.push(request);
            if closes {
                return out;
            }
        }
        assert!(
            buf.len() <= max_frame,
            "{} buffered > {max_frame}",
            buf.len()
        );
    }
    out
}

fn is_long_line(r: &Request) -> bool {
    matches!(r, Request::Invalid(x) if matches!(x.reason, Reason::LineTooLong | Reason::MultigetTooLong))
}

fn same_or_long_line(whole: &[Request], other: &[Request]) -> Result<(), String> {
    let same = whole.iter().zip(other).take_while(|(a, b)| a == b).count();
    if same == whole.len() && same == other.len() {
        return Ok(());
    }
    if other.get(same).is_some_and(is_long_line) || whole.get(same).is_some_and(is_long_line) {
        return Ok(());
    }
    Err(format!(
        "differ at {same}: whole {:?} / split {:?}",
        whole.get(same),
        other.get(same)
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn split_anywhere_decodes_the_same(
        data in input(),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
        limits in limits(),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for p in points {
            chunks.push(&data[from..p]);
            from = p;
        }
        chunks.push(&data[from..]);
        let whole = decode(limits, &[&data]);
        let split = decode(limits, &chunks);
        prop_assert!(same_or_long_line(&whole, &split).is_ok(), "{:?}", same_or_long_line(&whole, &split));
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let trickle = decode(limits, &bytes);
        prop_assert!(same_or_long_line(&whole, &trickle).is_ok(), "{:?}", same_or_long_line(&whole, &trickle));
    }

    #[test]
    fn parse_request_consumes_what_it_reports(data in input(), limits in limits()) {
        let mut buf = BytesMut::from(&data[..]);
        for _ in 0..=data.len() {
            let before = buf.clone();
            match parse_request(&mut buf, &limits).unwrap() {
                None => {
                    prop_assert_eq!(&buf, &before);
                    break;
                }
                Some(p) => {
                    prop_assert!(p.consumed > 0 && p.consumed <= before.len());
                    prop_assert_eq!(before.len() - buf.len(), p.consumed);
                    if p.discard > 0 || p.request.closes_connection() {
                        break;
                    }
                }
            }
        }
    }
}
