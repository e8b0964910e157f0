//! Wire tables without a socket: request bytes are parsed, executed on a
//! fresh [`Node`] and encoded (minus what `q` withholds), and the bytes are
//! compared with what Debian's memcached 1.6.18 answered to the same input
//! on a fresh process (CAS uniques included: both start at 1 and take one
//! per modification).

use bytes::BytesMut;
use ringcache_protocol::{encode_response, parse_request, Limits};

use crate::exec::{Execute, Node};
use crate::NodeConfig;

/// Runs every request in `input` in order on `node`; returns the replies.
async fn run(node: &Node, input: &str) -> String {
    let mut buf = BytesMut::from(input.replace('\n', "\r\n").as_bytes());
    let mut out = BytesMut::new();
    let limits = Limits::default();
    while let Ok(Some(parsed)) = parse_request(&mut buf, &limits) {
        let response = node.execute(&parsed.request).await;
        if !parsed.request.suppresses(&response) {
            encode_response(&response, &mut out);
        }
    }
    assert!(buf.is_empty(), "unparsed input: {buf:?}");
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// Each case runs on a fresh node.
async fn table(cases: &[(&str, &str)]) {
    for (input, want) in cases {
        let node = Node::new(NodeConfig::default());
        assert_eq!(run(&node, input).await, *want, "input:\n{input}");
    }
}

#[tokio::test]
async fn mg_return_flags_follow_request_order() {
    table(&[
        (
            "ms k1 3 T100 F5\nabc\nmg k1 s v t f c k Oxx h l\nmg k1 k h l\nmg k1 T30 t s\n",
            "HD\nVA 3 s3 t100 f5 c1 kk1 Oxx h0 l0\nabc\nHD kk1 h1 l0\nHD t30 s3\n",
        ),
        // A miss echoes only k and O; with q it is withheld entirely.
        (
            "mg nokey k Oab v s\nmg nokey k Oab v s q\nmn\n",
            "EN knokey Oab\nMN\n",
        ),
        // t is printed where it stands: before T it shows the old TTL.
        (
            "ms r 1 T100\nx\nmg r t T30\nmg r t\nmg r T0 t\n",
            "HD\nHD t100\nHD t30\nHD t-1\n",
        ),
        // u leaves the item unfetched.
        (
            "ms k 1\nx\nmg k h u\nmg k h u\nmg k h\nmg k h l\n",
            "HD\nHD h0\nHD h0\nHD h0\nHD h1 l0\n",
        ),
    ])
    .await;
}

#[tokio::test]
async fn mg_lease_flags() {
    table(&[
        // N: the first miss wins and creates an empty item, the next one
        // is told a token is out.
        (
            "mg lk N30 s t v c\nmg lk N30 s t v c\nmg lk v c\n",
            "VA 0 s0 t30 c1 W\n\nVA 0 s0 t30 c1 Z\n\nVA 0 c1 Z\n\n",
        ),
        // md I: stale, CAS bumped, TTL set; one reader wins again.
        (
            "ms lk 3 T60\nnew\nmd lk I T30\nmg lk v c t\nmg lk v c t\nmg lk c N30 R30\n",
            "HD\nHD\nVA 3 c2 t30 X W\nnew\nVA 3 c2 t30 Z X\nnew\nHD c2 Z X\n",
        ),
        // ms I with an older CAS stores stale and keeps the token out.
        (
            "ms lk 3\nnew\nmd lk I\nmg lk v\nms lk 3 C1 I\nold\nmg lk v c\n",
            "HD\nHD\nVA 3 X W\nnew\nHD\nVA 3 c3 Z X\nold\n",
        ),
        // R wins when the remaining TTL is below it, once; T before R counts.
        (
            "ms r1 1 T5\nx\nmg r1 R10 c\nmg r1 R10 c\nms r2 1 T100\nx\nmg r2 T5 R10 t\nms r3 1\nx\nmg r3 R10 t\n",
            "HD\nHD c1 W\nHD c1 Z\nHD\nHD t5 W\nHD\nHD t-1\n",
        ),
        // t before N on a created item shows the placeholder's "never".
        ("mg v1 t N30\nmg v1 t\n", "HD t-1 W\nHD t30 Z\n"),
    ])
    .await;
}

#[tokio::test]
async fn ms_modes_and_cas() {
    table(&[
        (
            concat!(
                "ms s1 2 c k Oa\nab\nms s1 2 ME c k Oa\nab\nms s2 2 MR c k\nab\n",
                "ms s2 2 MA c\nab\nms s1 2 MA c\ncd\nms s1 2 MP c T99\nzz\nmg s1 v t c f\n",
            ),
            "HD c1 ks1 Oa\nNS c0 ks1 Oa\nNS c0 ks2\nNS c0\nHD c2\nHD c3\nVA 6 t-1 c3 f0\nzzabcd\n",
        ),
        // C0 is a CAS that never matches for set; add ignores C; a CAS
        // store on a missing key is NF, an append there NS.
        (
            concat!(
                "ms s1 2\nxx\nms s1 2 C0 c\nxx\nms s1 2 C9 c MA\nxx\nms s1 2 C9 ME\nxx\n",
                "ms s9 2 C9 c\nxx\nms s9 2 C9 MA\nxx\nms s9 2 C9 MR\nxx\nms s1 2 C0 MA c\nqq\n",
            ),
            "HD\nEX c0\nEX c0\nNS\nNF c0\nNS\nNF\nHD c2\n",
        ),
        ("ms s 2 q\nqq\nms s 2 q ME\nqq\nmn\n", "NS\nMN\n"),
    ])
    .await;
}

#[tokio::test]
async fn md_and_ma() {
    table(&[
        (
            "ms c 1\nx\nmd c C0\nmd c C1 I\nmg c c\nmd c q\nmd c q\nmd c C5 k Ox\nmn\n",
            "HD\nEX\nHD\nHD c2 X W\nNF\nNF kc Ox\nMN\n",
        ),
        (
            "ma a1\nma a1 N0 J10 v t c k Ox\nma a1 v\nma a1 MD D100 v\nma a1 q\nmn\n",
            "NF\nVA 2 t-1 c1 ka1 Ox\n10\nVA 2\n11\nVA 1\n0\nMN\n",
        ),
        // Non-numeric and empty values; incr wraps at 2^64; C0 is no check.
        (
            concat!(
                "ms a 3\nabc\nma a\nms b 0\n\nma b\nms w 20\n18446744073709551615\nma w v\n",
                "ma n N30 J5 t v q\nma n C1 v\nma n C0 v c\n",
            ),
            concat!(
                "HD\nCLIENT_ERROR cannot increment or decrement non-numeric value\n",
                "HD\nCLIENT_ERROR cannot increment or decrement non-numeric value\n",
                "HD\nVA 1\n0\nVA 1 t30\n5\nEX\nVA 1 c6\n6\n",
            ),
        ),
        // A number that grows gets a new item and T does not stick; one
        // that keeps its length keeps T.
        (
            "ms g 1 T100\n9\nma g T5 t\nma g t\nma g T7\nmg g t\n",
            "HD\nHD t5\nHD t100\nHD\nHD t7\n",
        ),
        // Decrement pads the old width with spaces, the reply does not.
        (
            "ms d 3\n100\nma d MD D5 v\nmg d v s\n",
            "HD\nVA 2\n95\nVA 3 s3\n95 \n",
        ),
    ])
    .await;
}

#[tokio::test]
async fn base64_keys_and_me() {
    table(&[(
        concat!(
            "ma YmFy b N0 k v\nme YmFy b\nmg YmFy b k\nmg YmF6 b N0 k\nmg YmF6 b k\n",
            "ms Zm9vMw== 1 b\nx\nmg foo3 k\nme foo3\nmd Zm9vMw== b k\nme nokey\n",
        ),
        concat!(
            "VA 1 kYmFy b\n0\nME bar exp=-1 la=0 cas=1 fetch=no cls=1 size=63\n",
            "HD kbar\nHD kbaz W\nHD kbaz Z\nHD\nHD kZm9vMw== b\n",
            "ME Zm9vMw== exp=-1 la=0 cas=3 fetch=yes cls=1 size=64\nHD kZm9vMw== b\nEN\n",
        ),
    )])
    .await;
}
