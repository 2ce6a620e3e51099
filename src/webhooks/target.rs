//! Where a webhook may be sent: an `http(s)` URL whose host resolves only
//! to public addresses — never loopback, private, link-local or another
//! special-purpose range — unless the endpoint was added with
//! `--allow-private`. Checked when the endpoint is added and again on every
//! connection (the resolver below), so a name that later resolves
//! elsewhere (DNS rebinding) is refused too: the request connects only to
//! the addresses this check passed.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    Url,
};

/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the webhook URL is not a valid URL: {0}")]
    Invalid(String),
    #[error("the webhook URL must be http:// or https://, not `{0}:`")]
    Scheme(String),
    #[error("the webhook URL must not carry a user name or password")]
    Credentials,
    #[error("the webhook URL is longer than {MAX_URL} characters")]
    TooLong,
    #[error("cannot resolve the webhook's host `{host}`: {why}")]
    Unresolved { host: String, why: String },
    #[error(
        "the webhook's host `{host}` resolves to {address}, a {range} address; \
         add it with --allow-private to allow that"
    )]
    Private {
        host: String,
        address: IpAddr,
        range: &'static str,
    },
}

/// The range `address` belongs to when it is not a public address.
pub fn non_public(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 || ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("reserved")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if (a == 192 && b == 0 && c == 0)
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))
    {
        Some("special-purpose")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that carry an IPv4 address: judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let embedded = |high: usize| {
        let [a, b] = segments[high].to_be_bytes();
        let [c, d] = segments[high + 1].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("reserved")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated): the IPv4 address decides.
        non_public_v4(embedded(6)).or(Some("reserved"))
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: whatever the gateway reaches.
        non_public_v4(embedded(6))
    } else if segments[0] == 0x2002 {
        // 6to4: likewise.
        non_public_v4(embedded(1))
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("special-purpose")
    } else if segments[0] == 0x2001 && segments[1] == 0 {
        // Teredo: a tunnel to an address it does not show.
        Some("special-purpose")
    } else if segments[0] == 0x0100 && segments[1..4] == [0, 0, 0] {
        Some("reserved")
    } else {
        None
    }
}

/// A URL as a webhook target: parsed, `http(s)`, without credentials.
pub fn parse_url(raw: &str) -> Result<Url, TargetError> {
    if raw.len() > MAX_URL {
        return Err(TargetError::TooLong);
    }
    let url = Url::parse(raw.trim()).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.host().is_none() {
        return Err(TargetError::Invalid("it names no host".to_owned()));
    }
    Ok(url)
}

/// Resolves `host` and refuses it unless every address is public (or
/// `allow_private`). Returns the addresses checked.
pub async fn resolve(host: &str, allow_private: bool) -> Result<Vec<IpAddr>, TargetError> {
    // An IPv6 literal comes bracketed from a URL.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((bare, 0))
            .await
            .map_err(|e| TargetError::Unresolved {
                host: host.to_owned(),
                why: e.to_string(),
            })?
            .map(|addr| addr.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(TargetError::Unresolved {
            host: host.to_owned(),
            why: "no address".to_owned(),
        });
    }
    if !allow_private {
        for &address in &addresses {
            if let Some(range) = non_public(address) {
                return Err(TargetError::Private {
                    host: host.to_owned(),
                    address,
                    range,
                });
            }
        }
    }
    Ok(addresses)
}

/// Checks a webhook URL as `bouncer webhook add` does: its form, and where
/// its host resolves now.
pub async fn check(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = parse_url(raw)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    resolve(&host, allow_private).await?;
    Ok(url)
}

/// The resolver of the client that sends to endpoints without
/// `--allow-private`: every connection's addresses pass [`resolve`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve(&host, false).await?;
            let addrs: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

impl PublicOnly {
    pub fn shared() -> Arc<Self> {
        Arc::new(PublicOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "reserved"),
            ("255.255.255.255", "reserved"),
            ("224.0.0.1", "reserved"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("192.0.2.1", "special-purpose"),
            ("198.18.0.1", "special-purpose"),
            ("::1", "loopback"),
            ("::", "reserved"),
            ("fd00::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:0a00:0001::", "private"),
            ("2001:db8::1", "special-purpose"),
            ("ff02::1", "reserved"),
        ];
        for (address, range) in refused {
            let ip: IpAddr = address.parse().expect("an address");
            assert_eq!(non_public(ip), Some(range), "{address}");
        }
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = address.parse().expect("an address");
            assert_eq!(non_public(ip), None, "{address}");
        }
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        assert!(parse_url("https://hooks.example.com/bouncer").is_ok());
        assert!(parse_url("http://[2606:4700::1111]:8080/x").is_ok());
        assert_eq!(
            parse_url("ftp://example.com/x"),
            Err(TargetError::Scheme("ftp".into()))
        );
        assert_eq!(
            parse_url("javascript:alert(1)"),
            Err(TargetError::Scheme("javascript".into()))
        );
        assert_eq!(
            parse_url("https://user:pw@example.com/"),
            Err(TargetError::Credentials)
        );
        assert!(matches!(
            parse_url("not a url"),
            Err(TargetError::Invalid(_))
        ));
        assert_eq!(
            parse_url(&format!("https://example.com/{}", "a".repeat(3000))),
            Err(TargetError::TooLong)
        );
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_checked() {
        let refused = resolve("localhost", false).await.expect_err("loopback");
        assert!(
            matches!(
                refused,
                TargetError::Private {
                    range: "loopback",
                    ..
                }
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("--allow-private"));
        assert!(resolve("localhost", true).await.is_ok());
        assert!(matches!(
            resolve("[::1]", false).await,
            Err(TargetError::Private { .. })
        ));
    }
}
