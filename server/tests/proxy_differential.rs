//! The proxy against a plain node, transcript for transcript: each case is
//! played on a fresh connection to a proxy (over one node) and to a node of
//! its own, both fresh, and the replies must be byte-identical. Covers the
//! text and meta commands, quiet modes, and the error lines, so whatever the
//! node matches memcached on, the proxy passes through unchanged.
//! `SHOW=1` prints every proxy transcript.

#![allow(clippy::unwrap_used)]

mod ports;
mod proxy_support;

use proxy_support::{connect, read_until, Harness};
use ringcache_client::Config as ClientConfig;

const CASES: &[&[u8]] = &[
    b"set a 5 0 3\r\nabc\r\nget a\r\ngets a\r\nadd a 0 0 1\r\nx\r\nreplace a 0 0 1\r\ny\r\nget a\r\n",
    b"append none 0 0 1\r\nx\r\nprepend none 0 0 1\r\nx\r\nset ap 0 0 2\r\nbc\r\nappend ap 0 0 1\r\nd\r\nprepend ap 0 0 1\r\na\r\nget ap\r\n",
    b"set c 0 0 1\r\nx\r\ngets c\r\ncas c 0 0 1 999\r\ny\r\ncas none 0 0 1 1\r\ny\r\n",
    b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr none 1\r\nset s 0 0 3\r\nabc\r\nincr s 1\r\nincr n abc\r\n",
    b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\nset m 0 0 3\r\n100\r\ndecr m 91\r\nget m\r\n",
    b"set t 0 0 1\r\nx\r\ntouch t 100\r\ntouch none 100\r\ngat 100 t none\r\ngats 100 t\r\ndelete t\r\ndelete t\r\n",
    b"set q 0 0 1 noreply\r\nx\r\nincr q 1 noreply\r\ndelete none noreply\r\nget q\r\n",
    b"set bad 0 0 3\r\nabcd\r\nget bad\r\n",
    b"set toolong 0 0 notanumber\r\nget\r\nbogus command\r\nincr\r\n",
    b"ms m 2 T0 F7\r\nhi\r\nmg m v f t s k c\r\nmg none v\r\nmg none v q k\r\nmn\r\n",
    b"ms m 1 MA\r\nx\r\nms m 1\r\nx\r\nms m 1 MA\r\ny\r\nms m 1 MP\r\nz\r\nmg m v\r\nms m 1 ME\r\nw\r\nms m 1 MR\r\nw\r\n",
    b"ma cnt\r\nma cnt N0 J7 v\r\nma cnt v\r\nma cnt MD D100 v\r\nma cnt q\r\nma none q\r\nmn\r\n",
    b"ms d 1\r\nx\r\nmd d q\r\nmd d q\r\nmd d\r\nmg d v Oabc\r\nmn\r\n",
    b"ms i 1 T100\r\nx\r\nmd i I\r\nmg i v c\r\nms i 1 I\r\ny\r\nmg i v\r\n",
    b"ms e 3\r\nabc\r\nme e\r\nme none\r\n",
    b"mg k v Z\r\nms k bad\r\nx\r\nmd\r\nma k MX\r\n",
    b"ms YmFzZTY0 3 b\r\nb64\r\nmg YmFzZTY0 b v k\r\nget base64\r\n",
    b"get a b c d e f g h i j k l m n o p\r\nset z 0 0 0\r\n\r\nget z\r\n",
    b"version\r\nverbosity 1\r\nverbosity 1 noreply\r\n",
    // Keys the client's rules refuse but a node accepts: a decoded base64
    // key with a space and a control byte, a classic key with a control byte.
    b"ms YSBiAWM= 2 b\r\nhi\r\nmg YSBiAWM= b v k\r\nmd YSBiAWM= b\r\nmg YSBiAWM= b v\r\n",
    b"set a\x01b 0 0 1\r\nx\r\nget a\x01b\r\ndelete a\x01b\r\n",
];

fn transcript(addr: std::net::SocketAddr, case: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    let mut req = case.to_vec();
    req.extend_from_slice(b"mn\r\n");
    let barriers = req.windows(4).filter(|w| w == b"mn\r\n").count();
    std::io::Write::write_all(&mut s, &req).unwrap();
    let mut got = Vec::new();
    for _ in 0..barriers {
        got.extend(read_until(&mut s, b"MN\r\n"));
        if got.windows(4).filter(|w| w == b"MN\r\n").count() >= barriers {
            break;
        }
    }
    got
}

#[test]
fn proxy_replies_match_a_plain_node() {
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        // Fresh servers per case, so CAS uniques and counters line up.
        let proxied = Harness::with_proxy(1, ClientConfig::default());
        let direct = Harness::nodes(1);
        let via_proxy = transcript(proxied.proxy_addr(), case);
        let via_node = transcript(direct.node_addrs[0], case);
        if std::env::var_os("SHOW").is_some() {
            eprintln!("case {i}: {:?}", String::from_utf8_lossy(&via_proxy));
        }
        if via_proxy != via_node {
            failures.push(format!(
                "case {i}: {}\n  node:  {:?}\n  proxy: {:?}",
                String::from_utf8_lossy(case).escape_debug(),
                String::from_utf8_lossy(&via_node),
                String::from_utf8_lossy(&via_proxy)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
