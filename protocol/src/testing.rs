//! Test helpers: decode fixtures whole, split at every byte, and one byte
//! at a time, and insist on the same requests.

use bytes::BytesMut;

use crate::limits::Limits;
use crate::request::{Request, RequestDecoder};
use crate::response::encode_response;

fn decode_chunks(chunks: &[&[u8]], limits: Limits) -> (Vec<Request>, usize) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(r) = d.decode(&mut buf).unwrap() {
            let closes = r.closes_connection();
            out.push(r);
            if closes {
                return (out, buf.len());
            }
        }
    }
    (out, buf.len())
}

/// All requests in `input` with `limits`, checking that every split of the
/// input into two reads, and one byte per read, gives the same.
pub(crate) fn requests_with(input: &[u8], limits: Limits) -> Vec<Request> {
    let (whole, left) = decode_chunks(&[input], limits);
    // after a closing request the unread rest depends on the reads
    let closed = whole.last().is_some_and(Request::closes_connection);
    let left = if closed { 0 } else { left };
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        let (split, split_left) = decode_chunks(&[a, b], limits);
        assert_eq!(
            split,
            whole,
            "split at {at} of {:?}",
            String::from_utf8_lossy(input)
        );
        if !closed {
            assert_eq!(split_left, left);
        }
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let (one, one_left) = decode_chunks(&bytes, limits);
    assert_eq!(
        one,
        whole,
        "byte at a time: {:?}",
        String::from_utf8_lossy(input)
    );
    if !closed {
        assert_eq!(one_left, left);
    }
    whole
}

/// [`requests_with`] and default limits.
pub(crate) fn requests(input: &[u8]) -> Vec<Request> {
    requests_with(input, Limits::default())
}

/// The one complete request in `input`.
pub(crate) fn one(input: &[u8]) -> Request {
    let mut r = requests(input);
    assert_eq!(r.len(), 1, "{:?} -> {r:?}", String::from_utf8_lossy(input));
    r.remove(0)
}

/// What a node answers to `input` for the requests the parser answers by
/// itself (rejections, too-large), with `<verb>` standing for requests an
/// executor would run; `<close>` when the connection closes.
pub(crate) fn replies_with(input: &[u8], limits: Limits) -> String {
    let mut out = BytesMut::new();
    for r in requests_with(input, limits) {
        match &r {
            Request::Invalid(rej) => {
                if rej.closes() {
                    out.extend_from_slice(b"<close>");
                } else if !rej.noreply {
                    encode_response(&rej.response(), &mut out);
                }
            }
            Request::TooLarge(t) => {
                if !t.noreply {
                    encode_response(&t.response(), &mut out);
                }
            }
            other => {
                let verb = other.command().map_or("?", |c| c.as_str());
                out.extend_from_slice(format!("<{verb}>").as_bytes());
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// [`replies_with`] and default limits.
pub(crate) fn replies(input: &[u8]) -> String {
    replies_with(input, Limits::default())
}
