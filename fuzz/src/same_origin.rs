//! What it means for an `Origin` or `Referer` header to name the app's public
//! origin, as plain string rules, independent of `PublicOrigin`'s parser:
//!
//! - the same scheme (`http` or `https`, in any case),
//! - then exactly the same host (in any case), with nothing in between (no
//!   userinfo, so `http://app@evil.example` names `evil.example`),
//! - then the same port: written out (leading zeros allowed) or left out
//!   when it is the scheme's default,
//! - then, for `Origin`, nothing or a single `/`; for `Referer`, nothing or
//!   a path, query or fragment.
//!
//! API.md: a request whose `Origin` (or, lacking it, `Referer`) "names an
//! origin other than the app's public origin is refused".

/// A normalised origin taken apart: what headers are compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginParts {
    /// `http` or `https`.
    pub scheme: String,
    /// Lowercase; an IPv6 address keeps its brackets.
    pub host: String,
    /// Explicit, or the scheme's default.
    pub port: u16,
}

impl OriginParts {
    /// Takes apart a normalised origin, as `PublicOrigin::as_str` prints it:
    /// `scheme://host` or `scheme://host:port`. `None` for anything else,
    /// so a malformed normal form is caught by the caller.
    pub fn of_normalised(origin: &str) -> Option<Self> {
        let (scheme, authority) = origin.split_once("://")?;
        let default = default_port(scheme)?;
        let (host, port) = split_port(authority);
        let port = match port {
            Some(digits) => parse_port(digits)?,
            None => default,
        };
        let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
        let plain = !host.is_empty() && !host.contains(['/', '?', '#', '@', ':', '[', ']']);
        let host_ok = (bracketed || plain) && host == host.to_ascii_lowercase();
        host_ok.then(|| OriginParts {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// Whether an `Origin` header names this origin.
    pub fn named_by_origin(&self, header: &str) -> bool {
        self.rest_after_port(header)
            .is_some_and(|rest| rest.is_empty() || rest == "/")
    }

    /// Whether a `Referer` header names a page of this origin.
    pub fn named_by_referer(&self, header: &str) -> bool {
        self.rest_after_port(header)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
    }

    /// What follows `scheme://host[:port]` in `header` when its scheme, host
    /// and port are this origin's; `None` when any of them differ.
    fn rest_after_port<'h>(&self, header: &'h str) -> Option<&'h str> {
        let (scheme, rest) = header.split_once("://")?;
        if !scheme.eq_ignore_ascii_case(&self.scheme) {
            return None;
        }
        let host = rest.get(..self.host.len())?;
        if !host.eq_ignore_ascii_case(&self.host) {
            return None;
        }
        let rest = &rest[self.host.len()..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (port, rest) = rest.split_at(end);
        let port = match port.strip_prefix(':') {
            Some(digits) => parse_port(digits)?,
            None if port.is_empty() => default_port(&self.scheme)?,
            // More host after ours (`app.example.evil.example`), or userinfo.
            None => return None,
        };
        (port == self.port).then_some(rest)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Splits `host:port`; the colons inside an IPv6 host's brackets are not a port.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// A port in decimal, leading zeros allowed; port 0 names nothing.
fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 5 {
        return None;
    }
    significant.parse::<u16>().ok().filter(|&port| port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(origin: &str) -> OriginParts {
        OriginParts::of_normalised(origin).expect("a normalised origin")
    }

    #[test]
    fn takes_normalised_origins_apart() {
        assert_eq!(
            parts("https://app.example"),
            OriginParts {
                scheme: "https".into(),
                host: "app.example".into(),
                port: 443
            }
        );
        assert_eq!(parts("http://[::1]:3000").host, "[::1]");
        assert_eq!(parts("http://[::1]").port, 80);
        for bad in [
            "app.example",
            "ftp://x",
            "http://",
            "http://X",
            "http://x:0",
        ] {
            assert_eq!(OriginParts::of_normalised(bad), None, "{bad}");
        }
    }

    #[test]
    fn origin_headers() {
        let app = parts("http://app.example:8080");
        for same in [
            "http://app.example:8080",
            "HTTP://APP.example:8080/",
            "http://app.example:008080",
        ] {
            assert!(app.named_by_origin(same), "{same}");
        }
        for other in [
            "http://app.example",
            "https://app.example:8080",
            "http://app.example.evil.example:8080",
            "http://app.example:8080@evil.example",
            "http://app.example:8080/path",
            "http://app.example:",
            "null",
        ] {
            assert!(!app.named_by_origin(other), "{other}");
        }
        assert!(parts("https://app.example").named_by_origin("https://app.example:443"));
    }

    #[test]
    fn referer_headers() {
        let app = parts("https://app.example");
        for same in [
            "https://app.example/",
            "https://app.example/a?b#c",
            "https://app.example?x",
            "https://app.example:443#f",
        ] {
            assert!(app.named_by_referer(same), "{same}");
        }
        for other in [
            "https://app.example@evil.example/",
            "https://app.example.evil.example/",
            "http://app.example/",
            "https://app.example:444/",
        ] {
            assert!(!app.named_by_referer(other), "{other}");
        }
    }
}
