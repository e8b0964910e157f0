//! Criterion benchmarks of `ringcache-protocol`: parse and encode, both
//! directions, one group per command.
//!
//! - `get/{parse,encode}`: a one-key `get` request; `get/reply_{encode,parse}/
//!   {10b,100kb}`: its `VALUE ... END` reply.
//! - `get100/{parse,encode}`: a 100-key `get` (20-byte keys);
//!   `get100/reply_{encode,parse}/10b`: the reply with 100 `VALUE` blocks.
//! - `set/{parse,encode}/{10b,100kb}`; `set/reply_{encode,parse}`: `STORED`.
//! - `mg/{parse,encode}`: `mg <key> v f t`; `mg/reply_{encode,parse}/
//!   {10b,100kb}`: its `VA` reply.
//! - `ms/{parse,encode}/{10b,100kb}`; `ms/reply_{encode,parse}`: `HD`.
//!
//! *parse* is the server reading a request ([`parse_request`]) or the
//! client reading a reply ([`parse_response`]); *encode* is the client
//! writing a request ([`encode_request`]) or the server writing a reply
//! ([`encode_response`]). `Throughput::Elements(1)` is one request or one
//! reply (a 100-key `get` counts once).
//!
//! Input buffers are built outside the timed loop; parsing consumes its
//! buffer, so each iteration gets a fresh copy from `iter_batched`'s
//! untimed setup. Parsing does not copy the data block (the value is a
//! `Bytes` slice of the frame), so `parse/100kb` is close to `parse/10b`;
//! encoding copies it, so `encode/100kb` is a 100 KB `memcpy`.
//!
//! Run: `cargo bench -p ringcache-benches --bench protocol`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringcache_protocol::{
    encode_request, encode_response, parse_request, parse_response, Command, FlagOrder, Limits,
    MetaReply, MetaStatus, Request, Response, Value,
};

/// Value sizes and their names in benchmark ids.
const SIZES: [(usize, &str); 2] = [(10, "10b"), (100 * 1024, "100kb")];

fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i:016}"))
}

fn value(len: usize) -> Bytes {
    Bytes::from(vec![b'x'; len])
}

/// Parses one whole request from `wire` (panics if it is not one).
fn request(wire: &[u8]) -> Request {
    let mut buf = BytesMut::from(wire);
    let parsed = parse_request(&mut buf, &Limits::default())
        .expect("valid request")
        .expect("whole frame");
    assert!(buf.is_empty(), "one frame");
    parsed.request
}

fn wire_of_request(request: &Request) -> BytesMut {
    let mut out = BytesMut::new();
    encode_request(request, &mut out);
    out
}

fn wire_of_response(response: &Response) -> BytesMut {
    let mut out = BytesMut::new();
    encode_response(response, &mut out);
    out
}

fn store_wire(verb: &str, len: usize) -> Vec<u8> {
    let mut wire = format!("{verb} {} 0 0 {len}\r\n", "key:0000000000000000").into_bytes();
    wire.extend_from_slice(&value(len));
    wire.extend_from_slice(b"\r\n");
    wire
}

fn ms_wire(len: usize) -> Vec<u8> {
    let mut wire = format!("ms {} {len} F0 T0\r\n", "key:0000000000000000").into_bytes();
    wire.extend_from_slice(&value(len));
    wire.extend_from_slice(b"\r\n");
    wire
}

fn bench_parse_request(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    wire: &[u8],
) {
    let limits = Limits::default();
    let input = BytesMut::from(wire);
    c.bench_function(id, |b| {
        b.iter_batched(
            || input.clone(),
            |mut buf| parse_request(&mut buf, &limits),
            BatchSize::SmallInput,
        )
    });
}

fn bench_encode_request(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    request: &Request,
) {
    let mut out = BytesMut::with_capacity(wire_of_request(request).len());
    c.bench_function(id, |b| {
        b.iter(|| {
            out.clear();
            encode_request(black_box(request), &mut out);
            black_box(&out);
        })
    });
}

fn bench_encode_response(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    response: &Response,
) {
    let mut out = BytesMut::with_capacity(wire_of_response(response).len());
    c.bench_function(id, |b| {
        b.iter(|| {
            out.clear();
            encode_response(black_box(response), &mut out);
            black_box(&out);
        })
    });
}

fn bench_parse_response(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    command: Command,
    response: &Response,
) {
    let limits = Limits::default();
    let input = wire_of_response(response);
    c.bench_function(id, |b| {
        b.iter_batched(
            || input.clone(),
            |mut buf| parse_response(&mut buf, command, &limits),
            BatchSize::SmallInput,
        )
    });
}

fn get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    group.throughput(Throughput::Elements(1));
    let wire = b"get key:0000000000000000\r\n";
    bench_parse_request(&mut group, "parse", wire);
    bench_encode_request(&mut group, "encode", &request(wire));
    for (len, name) in SIZES {
        let reply = Response::Values(vec![Value {
            key: key(0),
            flags: 0,
            cas: None,
            data: value(len),
        }]);
        bench_encode_response(&mut group, &format!("reply_encode/{name}"), &reply);
        bench_parse_response(
            &mut group,
            &format!("reply_parse/{name}"),
            Command::Get,
            &reply,
        );
    }
    group.finish();
}

fn get100(c: &mut Criterion) {
    let mut group = c.benchmark_group("get100");
    group.throughput(Throughput::Elements(1));
    let mut wire = b"get".to_vec();
    for i in 0..100 {
        wire.push(b' ');
        wire.extend_from_slice(&key(i));
    }
    wire.extend_from_slice(b"\r\n");
    bench_parse_request(&mut group, "parse", &wire);
    bench_encode_request(&mut group, "encode", &request(&wire));
    let reply = Response::Values(
        (0..100)
            .map(|i| Value {
                key: key(i),
                flags: 0,
                cas: None,
                data: value(10),
            })
            .collect(),
    );
    bench_encode_response(&mut group, "reply_encode/10b", &reply);
    bench_parse_response(&mut group, "reply_parse/10b", Command::Get, &reply);
    group.finish();
}

fn set(c: &mut Criterion) {
    let mut group = c.benchmark_group("set");
    group.throughput(Throughput::Elements(1));
    for (len, name) in SIZES {
        let wire = store_wire("set", len);
        bench_parse_request(&mut group, &format!("parse/{name}"), &wire);
        bench_encode_request(&mut group, &format!("encode/{name}"), &request(&wire));
    }
    bench_encode_response(&mut group, "reply_encode", &Response::Stored);
    bench_parse_response(&mut group, "reply_parse", Command::Set, &Response::Stored);
    group.finish();
}

fn mg(c: &mut Criterion) {
    let mut group = c.benchmark_group("mg");
    group.throughput(Throughput::Elements(1));
    let wire = b"mg key:0000000000000000 v f t\r\n";
    let req = request(wire);
    let order = match &req {
        Request::MetaGet(m) => m.flags.order,
        other => panic!("not mg: {other:?}"),
    };
    bench_parse_request(&mut group, "parse", wire);
    bench_encode_request(&mut group, "encode", &req);
    for (len, name) in SIZES {
        let mut reply = MetaReply::new(MetaStatus::Va, order);
        reply.value = Some(value(len));
        reply.flags.client_flags = Some(0);
        reply.flags.ttl = Some(-1);
        let reply = Response::Meta(reply);
        bench_encode_response(&mut group, &format!("reply_encode/{name}"), &reply);
        bench_parse_response(
            &mut group,
            &format!("reply_parse/{name}"),
            Command::MetaGet,
            &reply,
        );
    }
    group.finish();
}

fn ms(c: &mut Criterion) {
    let mut group = c.benchmark_group("ms");
    group.throughput(Throughput::Elements(1));
    for (len, name) in SIZES {
        let wire = ms_wire(len);
        bench_parse_request(&mut group, &format!("parse/{name}"), &wire);
        bench_encode_request(&mut group, &format!("encode/{name}"), &request(&wire));
    }
    let reply = Response::Meta(MetaReply::new(MetaStatus::Hd, FlagOrder::default()));
    bench_encode_response(&mut group, "reply_encode", &reply);
    bench_parse_response(&mut group, "reply_parse", Command::MetaSet, &reply);
    group.finish();
}

criterion_group!(benches, get, get100, set, mg, ms);
criterion_main!(benches);
