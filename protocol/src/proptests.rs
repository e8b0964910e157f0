//! Properties: `parse(encode(x)) == x` for requests and replies, and
//! arbitrary input never panics and never over-consumes.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;

use crate::meta::{ArithmeticMode, FlagOrder, SetMode};
use crate::request::*;
use crate::response::*;
use crate::{Limits, RequestDecoder};

fn token() -> impl Strategy<Value = Bytes> {
    vec(0x21u8..0x7f, 1..20).prop_map(Bytes::from)
}

fn key() -> impl Strategy<Value = Bytes> {
    vec(0x21u8..0x7f, 1..=250).prop_map(Bytes::from)
}

fn binary_key() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 1..=100).prop_map(Bytes::from)
}

fn data() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        vec(any::<u8>(), 0..200).prop_map(Bytes::from),
        Just(Bytes::from_static(b"\r\n")),
    ]
}

fn text() -> impl Strategy<Value = Bytes> {
    vec(0x20u8..0x7f, 0..40).prop_map(Bytes::from)
}

fn exptime() -> impl Strategy<Value = i64> {
    any::<i32>().prop_map(i64::from)
}

/// Chosen letters in a shuffled order.
fn letters(set: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    subsequence(set.to_vec(), 0..=set.len()).prop_shuffle()
}

fn order(l: &[u8]) -> FlagOrder {
    l.iter().collect()
}

fn store() -> impl Strategy<Value = Store> {
    (key(), any::<u32>(), exptime(), data(), any::<bool>()).prop_map(
        |(key, flags, exptime, value, noreply)| Store {
            key,
            flags,
            exptime,
            value,
            noreply,
        },
    )
}

fn meta_key(letters: &[u8]) -> BoxedStrategy<Bytes> {
    if letters.contains(&b'b') {
        binary_key().boxed()
    } else {
        key().boxed()
    }
}

fn opaque() -> impl Strategy<Value = Bytes> {
    vec(0x21u8..0x7f, 0..=31).prop_map(Bytes::from)
}

fn meta_get() -> impl Strategy<Value = Request> {
    letters(b"bvquONRTkstcfhl").prop_flat_map(|l| {
        (meta_key(&l), opaque(), exptime(), exptime(), exptime()).prop_map(
            move |(key, o, n, r, t)| {
                let has = |c| l.contains(&c);
                Request::MetaGet(MetaGet {
                    key,
                    flags: MetaGetFlags {
                        order: order(&l),
                        base64: has(b'b'),
                        value: has(b'v'),
                        quiet: has(b'q'),
                        no_update: has(b'u'),
                        opaque: has(b'O').then_some(o),
                        vivify: has(b'N').then_some(n),
                        recache: has(b'R').then_some(r),
                        ttl: has(b'T').then_some(t),
                    },
                })
            },
        )
    })
}

fn set_mode() -> impl Strategy<Value = SetMode> {
    prop_oneof![
        Just(SetMode::Set),
        Just(SetMode::Add),
        Just(SetMode::Append),
        Just(SetMode::Prepend),
        Just(SetMode::Replace),
    ]
}

fn meta_set() -> impl Strategy<Value = Request> {
    letters(b"bqOFCTIMkc").prop_flat_map(|l| {
        (
            meta_key(&l),
            data(),
            opaque(),
            any::<u32>(),
            any::<u64>(),
            exptime(),
            set_mode(),
        )
            .prop_map(move |(key, value, o, f, c, t, m)| {
                let has = |x| l.contains(&x);
                Request::MetaSet(MetaSet {
                    key,
                    value,
                    flags: MetaSetFlags {
                        order: order(&l),
                        base64: has(b'b'),
                        quiet: has(b'q'),
                        opaque: has(b'O').then_some(o),
                        client_flags: if has(b'F') { f } else { 0 },
                        compare_cas: has(b'C').then_some(c),
                        ttl: has(b'T').then_some(t),
                        invalidate: has(b'I'),
                        mode: if has(b'M') { m } else { SetMode::Set },
                    },
                })
            })
    })
}

fn meta_delete() -> impl Strategy<Value = Request> {
    letters(b"bqOCITk").prop_flat_map(|l| {
        (meta_key(&l), opaque(), any::<u64>(), exptime()).prop_map(move |(key, o, c, t)| {
            let has = |x| l.contains(&x);
            Request::MetaDelete(MetaDelete {
                key,
                flags: MetaDeleteFlags {
                    order: order(&l),
                    base64: has(b'b'),
                    quiet: has(b'q'),
                    opaque: has(b'O').then_some(o),
                    compare_cas: has(b'C').then_some(c),
                    invalidate: has(b'I'),
                    ttl: has(b'T').then_some(t),
                },
            })
        })
    })
}

fn meta_arithmetic() -> impl Strategy<Value = Request> {
    letters(b"bqvONJDTCMctk").prop_flat_map(|l| {
        (
            meta_key(&l),
            opaque(),
            exptime(),
            any::<u64>(),
            any::<u64>(),
            exptime(),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(move |(key, o, n, j, d, t, c, decr)| {
                let has = |x| l.contains(&x);
                Request::MetaArithmetic(MetaArithmetic {
                    key,
                    flags: MetaArithmeticFlags {
                        order: order(&l),
                        base64: has(b'b'),
                        quiet: has(b'q'),
                        value: has(b'v'),
                        opaque: has(b'O').then_some(o),
                        vivify: has(b'N').then_some(n),
                        initial: if has(b'J') { j } else { 0 },
                        delta: if has(b'D') { d } else { 1 },
                        ttl: has(b'T').then_some(t),
                        compare_cas: has(b'C').then_some(c),
                        mode: if has(b'M') && decr {
                            ArithmeticMode::Decrement
                        } else {
                            ArithmeticMode::Increment
                        },
                    },
                })
            })
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        vec(key(), 1..5).prop_map(|keys| Request::Get(Get { keys })),
        vec(key(), 1..5).prop_map(|keys| Request::Gets(Get { keys })),
        (exptime(), vec(key(), 0..5))
            .prop_map(|(exptime, keys)| Request::Gat(Gat { exptime, keys })),
        (exptime(), vec(key(), 0..5))
            .prop_map(|(exptime, keys)| Request::Gats(Gat { exptime, keys })),
        store().prop_map(Request::Set),
        store().prop_map(Request::Add),
        store().prop_map(Request::Replace),
        store().prop_map(Request::Append),
        store().prop_map(Request::Prepend),
        (store(), any::<u64>()).prop_map(|(s, cas)| Request::Cas(Cas {
            key: s.key,
            flags: s.flags,
            exptime: s.exptime,
            value: s.value,
            cas,
            noreply: s.noreply,
        })),
        (key(), any::<bool>()).prop_map(|(key, noreply)| Request::Delete(Delete { key, noreply })),
        (key(), any::<u64>(), any::<bool>()).prop_map(|(key, delta, noreply)| Request::Incr(
            Arithmetic {
                key,
                delta,
                noreply
            }
        )),
        (key(), any::<u64>(), any::<bool>()).prop_map(|(key, delta, noreply)| Request::Decr(
            Arithmetic {
                key,
                delta,
                noreply
            }
        )),
        (key(), exptime(), any::<bool>()).prop_map(|(key, exptime, noreply)| Request::Touch(
            Touch {
                key,
                exptime,
                noreply
            }
        )),
        (proptest::option::of(exptime()), any::<bool>())
            .prop_map(|(delay, noreply)| Request::FlushAll(FlushAll { delay, noreply })),
        Just(Request::Version),
        (any::<u32>(), any::<bool>())
            .prop_map(|(level, noreply)| Request::Verbosity(Verbosity { level, noreply })),
        proptest::option::of((token(), vec(token(), 0..3))).prop_map(|g| match g {
            None => Request::Stats(Stats {
                group: None,
                args: vec![]
            }),
            Some((group, args)) => Request::Stats(Stats {
                group: Some(group),
                args
            }),
        }),
        Just(Request::Quit),
        prop_oneof![
            Just(Shutdown::Immediate),
            Just(Shutdown::Graceful),
            Just(Shutdown::InvalidMode)
        ]
        .prop_map(Request::Shutdown),
        (
            prop_oneof![Just("slabs"), Just("watch"), Just("lru_crawler")],
            vec(token(), 0..3)
        )
            .prop_map(|(c, args)| Request::Admin(Admin {
                command: Bytes::from_static(c.as_bytes()),
                args
            })),
        meta_get(),
        meta_set(),
        meta_delete(),
        meta_arithmetic(),
        Just(Request::MetaNoop),
        (any::<bool>()).prop_flat_map(|b| (if b {
            binary_key().boxed()
        } else {
            key().boxed()
        })
        .prop_map(move |key| Request::MetaDebug(MetaDebug { key, base64: b }))),
    ]
}

fn meta_reply() -> impl Strategy<Value = MetaReply> {
    (
        prop_oneof![
            Just(MetaStatus::Hd),
            Just(MetaStatus::Va),
            Just(MetaStatus::En),
            Just(MetaStatus::Nf),
            Just(MetaStatus::Ns),
            Just(MetaStatus::Ex),
        ],
        letters(b"kOctfshl"),
        data(),
        any::<bool>(),
    )
        .prop_flat_map(|(status, l, value, b64)| {
            let k = if b64 {
                binary_key().boxed()
            } else {
                key().boxed()
            };
            (
                k,
                opaque(),
                any::<u64>(),
                prop_oneof![Just(-1i64), 0..i64::MAX],
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                any::<u32>(),
                any::<(bool, bool, bool)>(),
            )
                .prop_map(move |(key, o, c, t, f, s, h, la, (z, x, w))| {
                    let has = |x| l.contains(&x);
                    MetaReply {
                        status,
                        value: (status == MetaStatus::Va).then(|| value.clone()),
                        flags: ReturnValues {
                            order: order(&l),
                            key: has(b'k').then_some(key),
                            key_base64: has(b'k') && b64,
                            opaque: has(b'O').then_some(o),
                            cas: has(b'c').then_some(c),
                            ttl: has(b't').then_some(t),
                            client_flags: has(b'f').then_some(f),
                            size: has(b's').then_some(s),
                            hit_before: has(b'h').then_some(h),
                            last_access: has(b'l').then_some(la),
                            token_sent: z,
                            stale: x,
                            won: w,
                            vivified: false,
                        },
                    }
                })
        })
}

/// A metadump item: any key bytes (they are URL-encoded on the wire).
fn dump_entry() -> impl Strategy<Value = DumpEntry> {
    (
        binary_key(),
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(key, exptime, last_access, cas, fetched, class, size)| DumpEntry {
                key,
                exptime,
                last_access,
                cas,
                fetched,
                class,
                size,
            },
        )
}

/// A reply and the command it answers.
fn response() -> impl Strategy<Value = (Response, Command)> {
    let value = (
        key(),
        any::<u32>(),
        proptest::option::of(any::<u64>()),
        data(),
    )
        .prop_map(|(key, flags, cas, data)| Value {
            key,
            flags,
            cas,
            data,
        });
    let stat = (token(), text()).prop_map(|(name, v)| Stat {
        name,
        value: StatValue::Text(v),
    });
    prop_oneof![
        prop_oneof![
            Just(Response::Stored),
            Just(Response::NotStored),
            Just(Response::Exists),
            Just(Response::NotFound),
            Just(Response::Deleted),
            Just(Response::Touched),
            Just(Response::Ok),
            Just(Response::Reset),
            Just(Response::Error),
            Just(Response::MetaNoop),
        ]
        .prop_map(|r| (r, Command::Set)),
        vec(value, 0..4).prop_map(|v| (Response::Values(v), Command::Gets)),
        any::<u64>().prop_map(|n| (Response::Number(n), Command::Incr)),
        text().prop_map(|v| (Response::Version(v), Command::Version)),
        vec(stat, 0..5).prop_map(|s| (Response::Stats(s), Command::Stats)),
        text().prop_map(|m| (Response::ClientError(m), Command::Set)),
        text().prop_map(|m| (Response::ServerError(m), Command::Set)),
        meta_reply().prop_map(|m| (Response::Meta(m), Command::MetaGet)),
        (
            key(),
            any::<i64>(),
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            any::<u32>(),
            any::<u64>()
        )
            .prop_map(|(key, exp, last_access, cas, fetched, class, size)| {
                (
                    Response::MetaDebug(MetaDebugReply {
                        key,
                        key_base64: false,
                        exp: exp.max(-i64::MAX),
                        last_access,
                        cas,
                        fetched,
                        class,
                        size,
                    }),
                    Command::MetaDebug,
                )
            }),
        vec(dump_entry(), 0..5).prop_map(|d| (Response::MetaDump(d), Command::Admin)),
        text().prop_map(|t| {
            let mut l = b"ERROR: ".to_vec();
            l.extend_from_slice(&t);
            (Response::Line(Bytes::from(l)), Command::Shutdown)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn requests_round_trip(req in request(), split in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        encode_request(&req, &mut wire);
        let bytes = wire.clone().freeze();
        let mut d = RequestDecoder::new(Limits::default());
        prop_assert_eq!(d.decode(&mut wire).unwrap(), Some(req.clone()));
        prop_assert!(wire.is_empty());
        // the same in two reads
        let at = split.index(bytes.len() + 1);
        let mut buf = BytesMut::from(&bytes[..at]);
        let mut d = RequestDecoder::new(Limits::default());
        let first = d.decode(&mut buf).unwrap();
        let got = match first {
            Some(r) => r,
            None => {
                buf.extend_from_slice(&bytes[at..]);
                d.decode(&mut buf).unwrap().unwrap()
            }
        };
        prop_assert_eq!(got, req);
    }

    #[test]
    fn responses_round_trip((resp, command) in response()) {
        let mut wire = BytesMut::new();
        encode_response(&resp, &mut wire);
        let len = wire.len();
        let (parsed, used) = parse_response(&mut wire, command, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(parsed, resp);
        prop_assert_eq!(used, len);
    }

    #[test]
    fn arbitrary_input_never_panics(
        prefix in prop_oneof![
            Just(&b""[..]), Just(&b"set k 0 0 "[..]), Just(&b"mg k "[..]), Just(&b"ms k "[..]),
            Just(&b"get "[..]), Just(&b"ma k "[..]), Just(&b"md "[..]), Just(&b"gat "[..]),
        ],
        body in vec(prop_oneof![any::<u8>(), Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'1')], 0..300),
        max_item in 60usize..400,
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&body);
        let limits = Limits::default().max_item_size(max_item);
        let mut buf = BytesMut::from(&input[..]);
        let mut total = 0;
        while let Some(p) = parse_request(&mut buf, &limits).unwrap() {
            prop_assert!(p.consumed <= input.len() - total);
            total += p.consumed;
            if p.discard > 0 || p.request.closes_connection() {
                break;
            }
        }
        prop_assert_eq!(total + buf.len(), input.len());
        for command in [Command::Get, Command::Stats, Command::Incr, Command::MetaGet, Command::Admin] {
            let mut buf = BytesMut::from(&input[..]);
            let mut total = 0;
            while let Ok(Some((_, used))) = parse_response(&mut buf, command, &limits) {
                prop_assert!(used >= 1);
                total += used;
            }
            prop_assert!(total <= input.len());
        }
    }

    /// A dump read line by line, in reads of any size, gives back the
    /// entries it was built from, and leaves what follows `END` alone.
    #[test]
    fn dumps_round_trip_through_the_decoder(
        entries in vec(dump_entry(), 0..8),
        step in 1usize..200,
    ) {
        let mut wire = BytesMut::new();
        encode_response(&Response::MetaDump(entries.clone()), &mut wire);
        wire.extend_from_slice(b"VERSION 1.6.18\r\n");
        let mut d = DumpDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut ended = false;
        for chunk in wire.chunks(step) {
            buf.extend_from_slice(chunk);
            while let Some(line) = d.decode(&mut buf).unwrap() {
                match line {
                    DumpLine::Entry(e) => got.push(e),
                    DumpLine::End => ended = true,
                    DumpLine::Refused(r) => prop_assert!(false, "refused: {:?}", r),
                }
            }
        }
        prop_assert!(ended);
        prop_assert_eq!(got, entries);
        prop_assert_eq!(&buf[..], &b"VERSION 1.6.18\r\n"[..]);
    }

    /// Arbitrary bytes through the dump decoder: no panic, and it never
    /// holds more than one line.
    #[test]
    fn arbitrary_dump_input_never_panics(
        prefix in prop_oneof![Just(&b""[..]), Just(&b"key="[..]), Just(&b"key=a exp=-1 la=1 cas=1 fetch=no\n"[..])],
        body in vec(prop_oneof![any::<u8>(), Just(b' '), Just(b'='), Just(b'%'), Just(b'\n'), Just(b'1')], 0..300),
        step in 1usize..64,
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&body);
        let mut d = DumpDecoder::new();
        let mut buf = BytesMut::new();
        'feed: for chunk in input.chunks(step) {
            buf.extend_from_slice(chunk);
            loop {
                match d.decode(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            prop_assert!(buf.len() <= DumpDecoder::MAX_LINE + step);
        }
    }

    /// Valid requests with a few bytes changed: closer to the parser's
    /// edges than random bytes. Never panics; the decoder consumes all
    /// input or keeps it for later, and never holds more than a frame.
    #[test]
    fn mutated_requests_never_panic(
        reqs in vec(request(), 1..4),
        edits in vec((any::<prop::sample::Index>(), prop_oneof![
            any::<u8>(), Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'-'), Just(0u8)
        ]), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = BytesMut::new();
        for r in &reqs {
            encode_request(r, &mut wire);
        }
        let mut bytes = wire.to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let limits = Limits::default().max_item_size(256);
        let mut d = RequestDecoder::new(limits);
        let mut buf = BytesMut::new();
        for chunk in bytes.chunks(7) {
            buf.extend_from_slice(chunk);
            while let Some(r) = d.decode(&mut buf).unwrap() {
                if r.closes_connection() {
                    break;
                }
            }
            prop_assert!(buf.len() <= limits.max_frame());
        }
    }
}
