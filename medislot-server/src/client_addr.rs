//! Who the client is, by network address, for rate limits and logs.
//!
//! The address is the TCP peer's, unless the peer is a configured trusted proxy
//! (`--trusted-proxy`): then it is read from `X-Forwarded-For`, walking it from the right (the
//! entry the proxy itself appended) past every trusted proxy, and taking the first address that
//! is not one. Entries further left were written by the client and could say anything, so they
//! are never read. A header that cannot be read, or that lists only trusted proxies, leaves the
//! peer's address.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use poem::Request;

use crate::state::AppState;

/// The header a proxy appends the address of its own client to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Parses a `--trusted-proxy` value: an address (`10.0.0.7`, `::1`) or a network in CIDR
/// notation (`10.0.0.0/8`).
///
/// # Errors
/// A message naming the value when it is neither.
pub fn parse_trusted_proxy(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!("`{value}` is not an IP address or a network in CIDR notation (10.0.0.0/8)")
        })
}

/// The client's address for `req` (see the module's documentation); `0.0.0.0` when the
/// request came through no TCP connection (tests in-process).
pub fn client_ip(req: &Request) -> IpAddr {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
    let trusted = req
        .data::<AppState>()
        .map(|state| state.config().trusted_proxies.as_slice())
        .unwrap_or_default();
    let forwarded = req
        .headers()
        .get_all(FORWARDED_FOR)
        .iter()
        .map(|value| value.to_str().ok());
    resolve(peer, forwarded, trusted).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The rule, apart from poem: `peer`, or when it is trusted the rightmost untrusted address of
/// the `X-Forwarded-For` values (`None` for a value that is not text), in the order received.
fn resolve<'a>(
    peer: Option<IpAddr>,
    forwarded: impl Iterator<Item = Option<&'a str>>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    // An IPv4 client of an IPv6 socket arrives as `::ffff:a.b.c.d`: compare it as IPv4.
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer?.to_canonical();
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let values: Option<Vec<&str>> = forwarded.collect();
    let Some(values) = values else {
        return Some(peer);
    };
    for entry in values.iter().flat_map(|value| value.split(',')).rev() {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => {}
            // The first untrusted address from the right: the client.
            Ok(ip) => return Some(ip.to_canonical()),
            // A proxy wrote something that is not an address: trust nothing further left.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| parse_trusted_proxy(n).unwrap())
            .collect()
    }

    fn client(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        resolve(
            Some(ip(peer)),
            forwarded.iter().map(|v| Some(*v)),
            &nets(trusted),
        )
        .unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"], &[]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let trusted = ["10.0.0.0/8", "127.0.0.1"];
        // The client wrote 1.1.1.1 itself; the proxies appended the rest.
        assert_eq!(
            client(
                "127.0.0.1",
                &["1.1.1.1, 198.51.100.7", "10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("10.1.2.3", &["2001:db8::5"], &trusted),
            ip("2001:db8::5")
        );
        // No header, only proxies, or garbage: the peer.
        assert_eq!(client("10.1.2.3", &[], &trusted), ip("10.1.2.3"));
        assert_eq!(client("10.1.2.3", &["10.0.0.9"], &trusted), ip("10.1.2.3"));
        assert_eq!(
            client("10.1.2.3", &["198.51.100.7, not-an-ip"], &trusted),
            ip("10.1.2.3")
        );
        let unreadable = resolve(Some(ip("10.1.2.3")), [None].into_iter(), &nets(&trusted));
        assert_eq!(unreadable, Some(ip("10.1.2.3")));
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert_eq!(
            parse_trusted_proxy("10.0.0.7").unwrap(),
            "10.0.0.7/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_trusted_proxy("fd00::/8").unwrap(),
            "fd00::/8".parse::<IpNet>().unwrap()
        );
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}
