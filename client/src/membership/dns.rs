//! The DNS source: every A/AAAA address of a name is a node.

use std::net::SocketAddr;
use std::time::Duration;

use ringcache_ring::Node;

use super::MembershipError;

/// Resolves `name` with the system resolver (tokio's `lookup_host`, so
/// `/etc/hosts` and search domains apply) and turns the answer into nodes.
///
/// # Errors
///
/// [`MembershipError::Dns`] when the lookup fails or takes longer than
/// `timeout`, [`MembershipError::Empty`] when it answers no address.
pub(crate) async fn resolve(
    name: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<Node>, MembershipError> {
    let dns = |reason: String| MembershipError::Dns {
        name: name.to_owned(),
        reason,
    };
    let lookup = tokio::net::lookup_host((name, port));
    let addrs = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(e)) => return Err(dns(e.to_string())),
        Err(_) => return Err(dns(format!("no answer within {timeout:?}"))),
    };
    nodes_from_addrs(addrs)
}

/// One weight-1 node per distinct address, named `ip:port` (`[ip]:port`
/// for IPv6), sorted by name so that the list compares by content whatever
/// order the resolver answered in (round-robin DNS rotates it).
pub(crate) fn nodes_from_addrs(
    addrs: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<Node>, MembershipError> {
    let mut names: Vec<String> = addrs.into_iter().map(|a| a.to_string()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        // Never empty the ring on a DNS blip: the caller keeps its list.
        return Err(MembershipError::Empty);
    }
    Ok(names.into_iter().map(Node::new).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn addresses_become_sorted_distinct_nodes() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.9:11211",
            "[fd00::1]:11211",
            "10.0.0.10:11211",
            "10.0.0.9:11211",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let nodes = nodes_from_addrs(addrs).unwrap();
        let names: Vec<&str> = nodes.iter().map(Node::name).collect();
        assert_eq!(
            names,
            ["10.0.0.10:11211", "10.0.0.9:11211", "[fd00::1]:11211"]
        );
        assert!(nodes.iter().all(|n| n.weight() == 1));
    }

    #[test]
    fn no_address_is_an_error_not_an_empty_ring() {
        assert!(matches!(nodes_from_addrs([]), Err(MembershipError::Empty)));
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let nodes = resolve("localhost", 11999, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            nodes
                .iter()
                .any(|n| n.name() == "127.0.0.1:11999" || n.name() == "[::1]:11999"),
            "{nodes:?}"
        );
    }
}
