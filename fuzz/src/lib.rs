//! The invariants the fuzz targets check, kept in a library so that a
//! libFuzzer-free driver (a corpus replay, a test) can run them too.
//!
//! # Input layout
//!
//! Both targets read a small header off the front of the input and treat
//! the rest as wire bytes:
//!
//! - `check_requests`: byte 0 picks the limits (`-I` of 1 KiB, 4 KiB or
//!   the 1 MiB default, CAS on or off); byte 1 the number of split points
//!   (0–7); then one byte per split point, each a chunk length (0–255).
//!   What is left after the last chunk is one final chunk.
//! - `check_responses`: byte 0 picks the split point as a fraction of the
//!   payload.
//! - `check_dump`: the layout of `check_requests`, except that byte 0's
//!   low bit puts a well-formed item line in front of the chunks (so that
//!   what follows is read as the rest of a dump already started).

use bytes::BytesMut;
use ringcache_protocol::{
    parse_request, parse_response, Command, DumpDecoder, DumpEntry, DumpLine, Limits,
    ProtocolError, Reason, Request, RequestDecoder, Response,
};

/// Every command kind a reply can answer.
pub const COMMANDS: [Command; 27] = [
    Command::Get,
    Command::Gets,
    Command::Gat,
    Command::Gats,
    Command::Set,
    Command::Add,
    Command::Replace,
    Command::Append,
    Command::Prepend,
    Command::Cas,
    Command::Delete,
    Command::Incr,
    Command::Decr,
    Command::Touch,
    Command::FlushAll,
    Command::Version,
    Command::Verbosity,
    Command::Stats,
    Command::Quit,
    Command::Shutdown,
    Command::Admin,
    Command::MetaGet,
    Command::MetaSet,
    Command::MetaDelete,
    Command::MetaArithmetic,
    Command::MetaNoop,
    Command::MetaDebug,
];

fn limits_for(selector: u8) -> Limits {
    let size = match selector % 3 {
        0 => 1024,
        1 => 4096,
        _ => 1024 * 1024,
    };
    Limits::default()
        .max_item_size(size)
        .cas_enabled(selector & 0x80 == 0)
}

/// Splits `data` into (limits, chunks).
pub fn split_input(data: &[u8]) -> (Limits, Vec<&[u8]>) {
    let Some((&sel, rest)) = data.split_first() else {
        return (Limits::default(), Vec::new());
    };
    let Some((&n, mut rest)) = rest.split_first() else {
        return (limits_for(sel), Vec::new());
    };
    let n = usize::from(n % 8);
    let lens: Vec<usize> = rest.iter().take(n).map(|&b| usize::from(b)).collect();
    rest = &rest[lens.len()..];
    let mut chunks = Vec::new();
    for len in lens {
        let len = len.min(rest.len());
        let (head, tail) = rest.split_at(len);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    (limits_for(sel), chunks)
}

/// What a connection would do with `chunks` arriving one read each: the
/// requests decoded, up to and including the first that closes the
/// connection. Checks the buffer bound after every decode.
pub fn decode_chunks(limits: Limits, chunks: &[&[u8]]) -> Vec<Request> {
    let max_frame = limits.max_frame();
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            let next = decoder.decode(&mut buf).expect("decode never fails");
            assert!(buf.len() <= before, "decode grew the buffer");
            match next {
                Some(request) => {
                    let closes = request.closes_connection();
                    out.push(request);
                    if closes {
                        return out;
                    }
                }
                None => {
                    // Waiting for more input: what stays buffered is part
                    // of one frame, and a frame is never over max_frame.
                    assert!(
                        buf.len() <= max_frame,
                        "{} bytes buffered while waiting, max_frame {max_frame}",
                        buf.len()
                    );
                    break;
                }
            }
        }
    }
    out
}

fn is_long_line(request: &Request) -> bool {
    matches!(
        request,
        Request::Invalid(r) if matches!(r.reason, Reason::LineTooLong | Reason::MultigetTooLong)
    )
}

/// The request-side invariants:
/// - decoding never panics and never returns `Err`;
/// - `parse_request` reports `consumed` equal to the bytes it took off the
///   buffer (so `consumed ≤ len`), and leaves the buffer as it was when it
///   returns `None`;
/// - while waiting for more input the buffer holds at most
///   `Limits::max_frame()` bytes;
/// - the same bytes give the same requests whole and split, except where
///   a split leaves an unterminated line over 2048 bytes in the buffer
///   (memcached closes then too: the documented timing dependence).
pub fn check_requests(data: &[u8]) {
    let (limits, chunks) = split_input(data);
    let whole: Vec<u8> = chunks.concat();

    // parse_request alone: consumed matches what left the buffer.
    let mut buf = BytesMut::from(&whole[..]);
    for _ in 0..whole.len() + 1 {
        let before = buf.clone();
        match parse_request(&mut buf, &limits).expect("parse never fails") {
            None => {
                assert_eq!(buf, before, "None must leave the buffer untouched");
                break;
            }
            Some(parsed) => {
                assert!(parsed.consumed <= before.len());
                assert_eq!(before.len() - buf.len(), parsed.consumed);
                assert!(parsed.consumed > 0, "a parse must make progress");
                if parsed.discard > 0 || parsed.request.closes_connection() {
                    break;
                }
            }
        }
    }

    let one = decode_chunks(limits, &[&whole]);
    let split = decode_chunks(limits, &chunks);
    // Byte at a time: the hint (scan memory) must not change the outcome.
    let bytes: Vec<&[u8]> = whole.chunks(1).collect();
    let trickle = decode_chunks(limits, &bytes);
    for (name, other) in [("split", &split), ("byte at a time", &trickle)] {
        let same = common_prefix(&one, &other);
        if same == one.len() && same == other.len() {
            continue;
        }
        // A chunked stream may see an unterminated long line the whole
        // input did not (or reach it at a different byte).
        let excused =
            other.get(same).is_some_and(is_long_line) || one.get(same).is_some_and(is_long_line);
        assert!(
            excused,
            "{name} differs from whole at request {same}:\n whole: {:?}\n {name}: {:?}",
            one.get(same),
            other.get(same)
        );
    }
}

/// The reply-side invariants, for every command kind:
/// - `parse_response` never panics;
/// - on `Ok(Some((_, n)))`, `n` is what left the buffer and `n ≤ len`;
///   on `Ok(None)` the buffer is unchanged;
/// - a prefix of the input never parses to something the whole input
///   does not (a complete reply is complete however much follows it).
pub fn check_responses(data: &[u8]) {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let cut = payload.len() * usize::from(sel) / 255;
    let limits = Limits::default().max_item_size(4096);
    for command in COMMANDS {
        let mut buf = BytesMut::from(payload);
        let whole = loop_parse(&mut buf, command, &limits);
        let mut prefix_buf = BytesMut::from(&payload[..cut]);
        let prefix = loop_parse(&mut prefix_buf, command, &limits);
        // Every reply the prefix yielded, the whole yields too, in order.
        for (i, p) in prefix.iter().enumerate() {
            match (p, whole.get(i)) {
                (Ok(p), Some(Ok(w))) => assert_eq!(p, w, "{command:?} reply {i}"),
                (Err(()), Some(Err(()))) => {}
                (p, w) => panic!("{command:?} reply {i}: prefix {p:?}, whole {w:?}"),
            }
        }
    }
}

/// Parses replies off `buf` until it is incomplete or broken.
fn loop_parse(
    buf: &mut BytesMut,
    command: Command,
    limits: &Limits,
) -> Vec<Result<(ringcache_protocol::Response, usize), ()>> {
    let mut out = Vec::new();
    loop {
        let before = buf.clone();
        match parse_response(buf, command, limits) {
            Ok(None) => {
                assert_eq!(*buf, before, "None must leave the buffer untouched");
                return out;
            }
            Ok(Some((response, n))) => {
                assert!(n > 0 && n <= before.len());
                assert_eq!(before.len() - buf.len(), n);
                out.push(Ok((response, n)));
            }
            Err(_) => {
                out.push(Err(()));
                return out;
            }
        }
    }
}

/// A well-formed metadump item line, as memcached 1.6.18 writes one.
const DUMP_ITEM: &[u8] = b"key=a%20b exp=-1 la=1795598596 cas=2 fetch=no cls=1 size=67\n";

/// What a [`DumpDecoder`] gave for one line: the line, or the error's text
/// (errors end the reply).
type DumpStep = Result<DumpLine, String>;

/// `chunks` through one [`DumpDecoder`], one read each, checking every
/// call:
/// - `Ok(None)` leaves the buffer untouched; before the reply is over it
///   means no newline is buffered, and at most `DumpDecoder::MAX_LINE`
///   bytes;
/// - `Ok(Some(_))` takes exactly one line, through its first `\n`, off the
///   front; an item is what `DumpEntry::parse` makes of that line, and
///   encodes back to an item that parses the same; `End` is `END` (CRLF or
///   bare LF); `Refused` comes only first, and holds that line;
/// - after `End` or `Refused`, every call is `Ok(None)` and leaves the
///   buffer alone (what follows is the next reply's);
/// - `Err` only for a line over `MAX_LINE` with no newline yet, an item
///   line `DumpEntry::parse` refuses, or a line that is neither item nor
///   `END` once items have started.
///
/// Returns the lines up to and including the first that ends the reply,
/// and the bytes left in the buffer.
pub fn decode_dump(chunks: &[&[u8]]) -> (Vec<DumpStep>, BytesMut) {
    let mut decoder = DumpDecoder::new();
    let mut buf = BytesMut::new();
    let mut out: Vec<DumpStep> = Vec::new();
    let mut over = false;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match decoder.decode(&mut buf) {
                Ok(None) => {
                    assert_eq!(buf, before, "Ok(None) must leave the buffer untouched");
                    if !over {
                        assert!(
                            !buf.contains(&b'\n'),
                            "Ok(None) with a complete line buffered: {buf:?}"
                        );
                        assert!(
                            buf.len() <= DumpDecoder::MAX_LINE,
                            "{} bytes buffered while waiting, MAX_LINE {}",
                            buf.len(),
                            DumpDecoder::MAX_LINE
                        );
                    }
                    break;
                }
                Ok(Some(found)) => {
                    assert!(!over, "{found:?} after the reply ended");
                    let nl = before
                        .iter()
                        .position(|&b| b == b'\n')
                        .expect("a line was returned without a newline");
                    assert_eq!(&buf[..], &before[nl + 1..], "not exactly one line taken");
                    let raw = &before[..nl];
                    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                    match &found {
                        DumpLine::Entry(entry) => {
                            assert!(line.starts_with(b"key="), "item from {line:?}");
                            let parsed = DumpEntry::parse(line).expect("parsed by the decoder");
                            assert_eq!(&parsed, entry);
                            let mut wire = BytesMut::new();
                            entry.encode(&mut wire);
                            assert_eq!(wire.last(), Some(&b'\n'));
                            let again = DumpEntry::parse(&wire[..wire.len() - 1])
                                .expect("an encoded item parses");
                            assert_eq!(&again, entry, "encode/parse round trip");
                        }
                        DumpLine::End => {
                            assert_eq!(line, b"END");
                            over = true;
                        }
                        DumpLine::Refused(response) => {
                            assert!(out.is_empty(), "a refusal after {} lines", out.len());
                            let text: Vec<u8> = match response {
                                Response::Error => b"ERROR".to_vec(),
                                Response::ClientError(m) => [&b"CLIENT_ERROR "[..], m].concat(),
                                Response::ServerError(m) => [&b"SERVER_ERROR "[..], m].concat(),
                                Response::Line(l) => l.to_vec(),
                                other => panic!("refused with {other:?}"),
                            };
                            assert_eq!(&text[..], line, "the refusal is not its line");
                            over = true;
                        }
                    }
                    out.push(Ok(found));
                    if over {
                        // Further calls touch nothing.
                        let left = buf.clone();
                        assert_eq!(decoder.decode(&mut buf).ok(), Some(None));
                        assert_eq!(buf, left);
                    }
                }
                Err(e) => {
                    assert!(!over, "an error after the reply ended: {e}");
                    assert_eq!(buf, before, "an error must leave the buffer as it was");
                    match before.iter().position(|&b| b == b'\n') {
                        None => assert!(
                            matches!(e, ProtocolError::ResponseLineTooLong { .. })
                                && before.len() > DumpDecoder::MAX_LINE,
                            "{e} for an unterminated line of {} bytes",
                            before.len()
                        ),
                        Some(nl) => {
                            let raw = &before[..nl];
                            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                            let started = out.iter().any(|l| matches!(l, Ok(DumpLine::Entry(_))));
                            assert!(
                                (line.starts_with(b"key=") && DumpEntry::parse(line).is_err())
                                    || (started && !line.starts_with(b"key=") && line != b"END"),
                                "{e} for the line {line:?}"
                            );
                        }
                    }
                    out.push(Err(e.to_string()));
                    return (out, buf);
                }
            }
        }
    }
    (out, buf)
}

/// The metadump decoder's invariants (see [`decode_dump`] for those of
/// each call), and across ways of reading:
/// - the same lines, and the same bytes left over, whether the input
///   arrives whole, in the chunks the input picks, or a byte at a time,
///   except where a chunked read leaves an unterminated line over
///   `MAX_LINE` buffered (the whole input may hold that line's newline:
///   the same timing dependence as `check_requests`);
/// - a complete dump (items, then `END`) that `parse_response` reads as
///   `Response::MetaDump` gives the decoder the same items, then `End`.
pub fn check_dump(data: &[u8]) {
    let Some(&sel) = data.first() else {
        return;
    };
    let (_, mut chunks) = split_input(data);
    if sel & 1 == 1 {
        chunks.insert(0, DUMP_ITEM);
    }
    let whole: Vec<u8> = chunks.concat();
    let (one, one_left) = decode_dump(&[&whole]);
    let bytes: Vec<&[u8]> = whole.chunks(1).collect();
    for (name, (other, left)) in [
        ("split", decode_dump(&chunks)),
        ("byte at a time", decode_dump(&bytes)),
    ] {
        let same = common_prefix(&one, &other);
        if same == one.len() && same == other.len() {
            // An error stops a read before its later chunks arrive.
            if !matches!(one.last(), Some(Err(_))) {
                assert_eq!(one_left, left, "{name}: different bytes left over");
            }
            continue;
        }
        let too_long = |l: Option<&DumpStep>| {
            l.is_some_and(|l| matches!(l, Err(e) if e.starts_with("reply line longer")))
        };
        assert!(
            too_long(other.get(same)) || too_long(one.get(same)),
            "{name} differs from whole at line {same}:\n whole: {:?}\n {name}: {:?}",
            one.get(same),
            other.get(same)
        );
    }

    // The whole-reply parser agrees on a dump it reads whole.
    let limits = Limits::default();
    let mut buf = BytesMut::from(&whole[..]);
    if let Ok(Some((Response::MetaDump(entries), used))) =
        parse_response(&mut buf, Command::Admin, &limits)
    {
        let lines: Vec<DumpStep> = entries
            .into_iter()
            .map(|e| Ok(DumpLine::Entry(e)))
            .chain([Ok(DumpLine::End)])
            .collect();
        assert_eq!(
            one, lines,
            "parse_response and DumpDecoder read the dump differently"
        );
        assert_eq!(
            whole.len() - one_left.len(),
            used,
            "different reply lengths"
        );
    }
}

/// How many leading items two decodings share.
fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
