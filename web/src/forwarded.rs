//! Who the client is behind a reverse proxy: [`TrustedProxies`] believes
//! the forwarding header only from the proxies it names, and reads it from
//! the right, so a client cannot choose the address Bouncer records for it.
//!
//! A proxy appends the address it received the request from to
//! `X-Forwarded-For` (or `Forwarded: for=…`, RFC 7239). Everything to the
//! left of what the trusted proxies appended is whatever the client sent,
//! so the client's address is the right-most one that is not itself a
//! trusted proxy. Only one header is read, the one the proxies are known to
//! write ([`ForwardedHeader`]): a proxy that writes `X-Forwarded-For` passes
//! a client's own `Forwarded` header on untouched, and believing it would
//! let anyone name their address.
//!
//! It never reads a header from an untrusted peer, never fails a request
//! (a malformed header from a trusted proxy is logged, and the proxy's own
//! address used), and allocates only when a handler asks for the address.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
};

use axum::http::{header, HeaderMap, HeaderValue};
use ipnet::IpNet;
use serde::Deserialize;

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy's
    /// `option forwardfor`, most balancers).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239; HAProxy's
    /// `option forwarded`).
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The addresses and ranges whose forwarding headers are believed, and
/// which header they write. None by default: the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
    header: ForwardedHeader,
}

/// Why a trusted proxy's forwarding header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the header is not visible ASCII text")]
    NotText,
    #[error("an element names no address: {0:?}")]
    NoAddress(String),
    #[error("not an address: {0:?}")]
    NotAnAddress(String),
}

/// At most this much of a bad element is quoted in the log.
const QUOTED: usize = 64;

fn quoted(text: &str) -> String {
    text.chars().take(QUOTED).collect()
}

impl TrustedProxies {
    /// Parses a list of addresses (`10.0.0.5`, `::1`) and CIDR ranges
    /// (`10.0.0.0/8`, `fd00::/8`) separated by commas or spaces; an empty
    /// list trusts nobody. A range with host bits set (`10.1.2.3/8`) means
    /// its network. Errors name the entry refused.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let entries = list
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|entry| !entry.is_empty());
        let ranges = entries
            .map(|entry| match entry.parse::<IpAddr>() {
                Ok(ip) => Ok(IpNet::from(ip.to_canonical())),
                Err(_) => entry.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| {
                    format!("{:?} is neither an address nor a CIDR range", quoted(entry))
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies {
            ranges,
            header: ForwardedHeader::default(),
        })
    }

    /// The same proxies, writing `header`.
    pub fn reading(self, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies { header, ..self }
    }

    /// The header read from trusted proxies.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|range| range.contains(&ip))
    }

    /// The client's address for a request that came from `peer` with
    /// `headers`: the peer itself unless it is a trusted proxy; then the
    /// right-most address of the forwarding header that is not a trusted
    /// proxy (the left-most if all are), or the peer when the proxy sent no
    /// header (its own request, a health check) or a malformed one (logged).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        match self.forwarded_client(headers) {
            Ok(Some(client)) => client,
            Ok(None) => peer,
            Err(malformed) => {
                tracing::warn!(
                    %peer,
                    header = self.header.as_str(),
                    error = %malformed,
                    "A trusted proxy sent a malformed forwarding header; using the proxy's address"
                );
                peer
            }
        }
    }

    /// The address the forwarding header names for the client, if any.
    fn forwarded_client(&self, headers: &HeaderMap) -> Result<Option<IpAddr>, Malformed> {
        let lines = match self.header {
            ForwardedHeader::XForwardedFor => headers.get_all("x-forwarded-for"),
            ForwardedHeader::Forwarded => headers.get_all(header::FORWARDED),
        };
        // Every line's hops, left to right; then walked from the right.
        let mut hops = Vec::new();
        for line in lines {
            let text = text_of(line)?;
            match self.header {
                ForwardedHeader::XForwardedFor => hops.extend(text.split(',').map(str::trim)),
                ForwardedHeader::Forwarded => hops.extend(forwarded_elements(text)),
            }
        }
        let mut leftmost = None;
        for hop in hops.iter().rev() {
            let address = match self.header {
                ForwardedHeader::XForwardedFor => hop,
                ForwardedHeader::Forwarded => {
                    for_parameter(hop).ok_or_else(|| Malformed::NoAddress(quoted(hop)))?
                }
            };
            let ip = node_address(address)
                .ok_or_else(|| Malformed::NotAnAddress(quoted(address)))?
                .to_canonical();
            if !self.trusts(ip) {
                return Ok(Some(ip));
            }
            leftmost = Some(ip);
        }
        Ok(leftmost)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self.ranges.iter().map(ToString::to_string).collect();
        write!(f, "{} ({})", ranges.join(", "), self.header.as_str())
    }
}

fn text_of(value: &HeaderValue) -> Result<&str, Malformed> {
    value.to_str().map_err(|_| Malformed::NotText)
}

/// The comma-separated elements of a `Forwarded` line; a comma inside a
/// quoted string does not separate.
fn forwarded_elements(line: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    let mut elements = Vec::new();
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                elements.push(line[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    elements.push(line[start..].trim());
    elements.into_iter()
}

/// The value of an element's `for` parameter (case-insensitive name), its
/// quotes removed. A backslash escape is kept as written, and so fails to
/// parse as an address: no address needs one.
fn for_parameter(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        Some(
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`. RFC 7239's
/// `unknown` and obfuscated identifiers (`_hidden`) are not addresses.
fn node_address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &str, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::parse(list)
            .expect("a valid list")
            .reading(header)
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(name, HeaderValue::from_str(line).expect("a header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const RFC: ForwardedHeader = ForwardedHeader::Forwarded;

    #[test]
    fn lists_parse_addresses_and_ranges_and_refuse_anything_else() {
        let list = TrustedProxies::parse(" 10.0.0.0/8, 127.0.0.1 ::1,fd00::/8 ").expect("valid");
        for trusted in ["10.1.2.3", "127.0.0.1", "::1", "fd00::5", "::ffff:10.9.9.9"] {
            assert!(list.trusts(ip(trusted)), "{trusted}");
        }
        for untrusted in ["11.0.0.1", "127.0.0.2", "::2", "fe00::1"] {
            assert!(!list.trusts(ip(untrusted)), "{untrusted}");
        }
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        let host_bits = TrustedProxies::parse("10.1.2.3/8").expect("valid");
        assert!(host_bits.trusts(ip("10.200.0.1")), "the range's network");
        for bad in [
            "10.0.0.0/33",
            "localhost",
            "10.0.0",
            "1.2.3.4/",
            "*",
            "10.0.0.1:80",
        ] {
            let error = TrustedProxies::parse(bad).expect_err(bad);
            assert!(error.contains(bad), "{error} names {bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_s_headers_are_ignored() {
        let trusted = proxies("10.0.0.0/8", XFF);
        let forged = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            trusted.client_address(ip("192.0.2.7"), &forged),
            ip("192.0.2.7")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_address(ip("10.0.0.1"), &forged),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = proxies("10.0.0.0/8", XFF);
        let peer = ip("10.0.0.1");
        // The client forged "1.1.1.1"; the proxies appended the rest.
        let chain = headers("x-forwarded-for", &["1.1.1.1, 198.51.100.4", "10.0.0.7"]);
        assert_eq!(trusted.client_address(peer, &chain), ip("198.51.100.4"));
        let all_trusted = headers("x-forwarded-for", &["10.0.0.9 , 10.0.0.7"]);
        assert_eq!(trusted.client_address(peer, &all_trusted), ip("10.0.0.9"));
        let v6 = headers("x-forwarded-for", &["[2001:db8::1]:443, 203.0.113.5:80"]);
        assert_eq!(trusted.client_address(peer, &v6), ip("203.0.113.5"));
        let mapped = headers("x-forwarded-for", &["::ffff:198.51.100.4"]);
        assert_eq!(trusted.client_address(peer, &mapped), ip("198.51.100.4"));
        // No header: the proxy's own request.
        assert_eq!(trusted.client_address(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let peer = ip("10.0.0.1");
        let both = {
            let mut both = headers("forwarded", &["for=1.1.1.1"]);
            both.append("x-forwarded-for", HeaderValue::from_static("198.51.100.4"));
            both
        };
        assert_eq!(
            proxies("10.0.0.0/8", XFF).client_address(peer, &both),
            ip("198.51.100.4")
        );
        assert_eq!(
            proxies("10.0.0.0/8", RFC).client_address(peer, &both),
            ip("1.1.1.1")
        );
    }

    #[test]
    fn rfc_7239_elements_are_read_with_their_quotes_and_ports() {
        let trusted = proxies("10.0.0.0/8", RFC);
        let peer = ip("10.0.0.1");
        let chain = headers(
            "forwarded",
            &[
                r#"for="_gazonk", For="[2001:db8:cafe::17]:4711";proto=https"#,
                "for=10.0.0.5;by=10.0.0.1;host=\"a,b\"",
            ],
        );
        assert_eq!(
            trusted.client_address(peer, &chain),
            ip("2001:db8:cafe::17")
        );
        let comma_in_quotes = headers("forwarded", &[r#"for=192.0.2.60;host="x,y", for=10.0.0.3"#]);
        assert_eq!(
            trusted.client_address(peer, &comma_in_quotes),
            ip("192.0.2.60")
        );
    }

    #[test]
    fn a_malformed_header_from_a_trusted_proxy_gives_the_proxy_s_address() {
        let peer = ip("10.0.0.1");
        let xff = proxies("10.0.0.0/8", XFF);
        let rfc = proxies("10.0.0.0/8", RFC);
        for (name, line, trusted) in [
            ("x-forwarded-for", "unknown", &xff),
            ("x-forwarded-for", "198.51.100.4, ", &xff),
            ("x-forwarded-for", "198.51.100.4,,10.0.0.2", &xff),
            ("x-forwarded-for", "not-an-address", &xff),
            ("forwarded", "for=unknown", &rfc),
            ("forwarded", "for=_hidden", &rfc),
            ("forwarded", "proto=https", &rfc),
            ("forwarded", r#"for="[::1"#, &rfc),
            ("forwarded", r#"for="1.2.3.4\"""#, &rfc),
        ] {
            let headers = headers(name, &[line]);
            assert_eq!(
                trusted.client_address(peer, &headers),
                peer,
                "{name}: {line}"
            );
        }
        let mut binary = HeaderMap::new();
        binary.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff1.2.3.4").expect("bytes"),
        );
        assert_eq!(xff.client_address(peer, &binary), peer);
        // Garbage left of the client's own entry is the client's, not read.
        let left = headers("x-forwarded-for", &["<script>, 198.51.100.4"]);
        assert_eq!(xff.client_address(peer, &left), ip("198.51.100.4"));
    }

    #[test]
    fn a_huge_header_costs_one_pass() {
        let trusted = proxies("10.0.0.0/8", XFF);
        let long = vec!["10.0.0.2"; 10_000].join(",");
        let headers = headers("x-forwarded-for", &[&format!("198.51.100.4,{long}")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &headers),
            ip("198.51.100.4")
        );
    }
}
