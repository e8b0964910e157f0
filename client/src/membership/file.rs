//! The nodes file: one `host:port[ weight]` per line, `#` comments.

use std::collections::HashSet;

use ringcache_ring::Node;

use super::MembershipError;

/// Parses a nodes file.
///
/// The format, line by line:
///
/// ```text
/// # cache tier, eu-west
/// 10.0.0.5:11211
/// 10.0.0.6:11211 2      # twice the keys
/// [fd00::7]:11211
/// ```
///
/// Blank lines and everything after a `#` are ignored. A node is
/// `host:port` (IPv6 hosts in brackets), optionally followed by a weight
/// (an unsigned integer, default 1). The first bad line fails the whole
/// file, so that a typo never drops nodes: the caller keeps its old list.
///
/// # Errors
///
/// [`MembershipError::Parse`] with the 1-based line number: a missing or
/// non-numeric port, a bad weight, extra fields, a duplicate node, or a file
/// that names no node at all.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, MembershipError> {
    let mut nodes = Vec::new();
    let mut seen = HashSet::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let bad = |reason: String| MembershipError::Parse { line, reason };
        let mut fields = content.split_whitespace();
        let addr = fields.next().unwrap_or("");
        let weight = match fields.next() {
            None => 1,
            Some(w) => w
                .parse::<u32>()
                .map_err(|_| bad(format!("weight {w:?} is not an unsigned integer")))?,
        };
        if let Some(extra) = fields.next() {
            return Err(bad(format!("unexpected {extra:?} after the weight")));
        }
        check_address(addr).map_err(bad)?;
        if !seen.insert(addr.to_owned()) {
            return Err(bad(format!("{addr} is listed twice")));
        }
        nodes.push(Node::weighted(addr, weight));
    }
    if nodes.is_empty() {
        // An empty file is far more often a truncated write than a wish to
        // drop every node; an empty ring would turn every read into a miss.
        return Err(MembershipError::Empty);
    }
    Ok(nodes)
}

/// `host:port` with a non-empty host and a port in 1..=65535.
pub(crate) fn check_address(addr: &str) -> Result<(), String> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("{addr:?} is not host:port"));
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|h| !h.is_empty())
    } else {
        !host.is_empty() && !host.contains(':')
    };
    if !host_ok {
        return Err(format!("{addr:?}: bad host (bracket IPv6 addresses)"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{addr:?}: port {port:?} is not in 1..=65535")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(nodes: &[Node]) -> Vec<(&str, u32)> {
        nodes.iter().map(|n| (n.name(), n.weight())).collect()
    }

    #[test]
    fn parses_nodes_weights_and_comments() {
        let text = "# tier\n\n10.0.0.5:11211\n  10.0.0.6:11211 2   # heavy\r\n[fd00::7]:11211 0\ncache-a:11212";
        let nodes = parse(text).unwrap();
        assert_eq!(
            names(&nodes),
            [
                ("10.0.0.5:11211", 1),
                ("10.0.0.6:11211", 2),
                ("[fd00::7]:11211", 0),
                ("cache-a:11212", 1)
            ]
        );
    }

    #[test]
    fn refuses_bad_lines_with_their_number() {
        for (text, line) in [
            ("a:1\nb\n", 2),
            ("a:1\nb:x\n", 2),
            ("a:0\n", 1),
            ("a:70000\n", 1),
            (":11211\n", 1),
            ("fd00::7:11211\n", 1),
            ("[]:11211\n", 1),
            ("a:1 -1\n", 1),
            ("a:1 two\n", 1),
            ("a:1 1 extra\n", 1),
            ("# x\na:1\n\na:1 2\n", 4),
        ] {
            match parse(text) {
                Err(MembershipError::Parse { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?} -> {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(matches!(parse(""), Err(MembershipError::Empty)));
        assert!(matches!(
            parse("# nothing\n\n"),
            Err(MembershipError::Empty)
        ));
    }
}
