//! The app's public origin and the cross-site request rule: any request
//! with a method other than GET/HEAD/OPTIONS whose `Origin` (or, lacking it,
//! `Referer`) names another origin than the public one is refused with 403
//! `cross_origin`. Requests with neither header (curl, scripts) pass: they
//! carry no ambient browser credentials an attacker could ride on.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::Method;

/// A normalised web origin (`scheme://host[:port]`), http or https only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicOrigin {
    origin: String,
    https: bool,
}

impl PublicOrigin {
    /// Parses `scheme://host[:port]` (one trailing `/` tolerated), lowercasing
    /// scheme and host and dropping the scheme's default port.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{raw:?} is not scheme://host[:port]: {why}");
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad("no path, query, fragment or userinfo is allowed"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
        let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(ip) => ip.parse::<Ipv6Addr>().is_ok(),
            None => !host.is_empty() && host.bytes().all(host_byte),
        };
        if !host_ok {
            return Err(bad("invalid host"));
        }
        let port = match port.map(parse_port) {
            Some(None | Some(0)) => return Err(bad("invalid port")),
            Some(Some(port)) => port,
            None if https => 443,
            None => 80,
        };
        Ok(Self::build(https, &host.to_ascii_lowercase(), port))
    }

    fn build(https: bool, host: &str, port: u16) -> Self {
        let origin = match (https, port) {
            (true, 443) => format!("https://{host}"),
            (false, 80) => format!("http://{host}"),
            (true, _) => format!("https://{host}:{port}"),
            (false, _) => format!("http://{host}:{port}"),
        };
        Self { origin, https }
    }

    /// The default origin for a listen address: `0.0.0.0` / `::` become `localhost`.
    pub fn for_listen_addr(addr: SocketAddr) -> Self {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_string(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Self::build(false, &host, addr.port())
    }

    /// The normalised origin, e.g. `http://127.0.0.1:3000`.
    pub fn as_str(&self) -> &str {
        &self.origin
    }

    /// Whether the origin uses https (e.g. to decide on `Secure` cookies).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// True when `origin_header_value` normalises to this same origin.
    pub fn matches(&self, origin_header_value: &str) -> bool {
        Self::parse(origin_header_value).is_ok_and(|o| o == *self)
    }

    /// The normalised `scheme://host[:port]` part of a full URL such as a Referer.
    pub fn from_referer(referer: &str) -> Option<String> {
        let (scheme, rest) = referer.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let origin = Self::parse(&format!("{scheme}://{authority}")).ok()?;
        Some(origin.origin)
    }
}

impl PublicOrigin {
    /// Where to send a person after signing in: `next` resolved against this
    /// origin exactly as a browser resolves a link (WHATWG URL rules: tabs
    /// and newlines dropped, `\` read as `/`, `//host` a new host), kept
    /// only when it stays on this origin and is not the sign-in page itself;
    /// `/` otherwise. The answer is a path, with its query, whose characters
    /// are all safe in a `Location` header.
    pub fn next_path(&self, next: Option<&str>) -> String {
        let resolved = url::Url::parse(self.as_str()).and_then(|base| {
            let target = base.join(next.unwrap_or("/"))?;
            Ok((base, target))
        });
        match resolved {
            Ok((base, target)) if target.origin() == base.origin() && target.path() != "/login" => {
                let mut path = target.path().to_owned();
                if let Some(query) = target.query() {
                    path.push('?');
                    path.push_str(query);
                }
                path
            }
            _ => "/".to_owned(),
        }
    }
}

fn parse_port(raw: &str) -> Option<u16> {
    let digits = !raw.is_empty() && raw.len() <= 5 && raw.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| raw.parse().ok()).flatten()
}

/// Whether a request with these headers may proceed.
pub fn allowed(
    public: &PublicOrigin,
    method: &Method,
    origin: Option<&str>,
    referer: Option<&str>,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match (origin, referer) {
        (Some(origin), _) => public.matches(origin),
        (None, Some(referer)) => {
            PublicOrigin::from_referer(referer).is_some_and(|o| public.matches(&o))
        }
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsafe_methods_from_other_origins_are_refused() {
        let public = PublicOrigin::parse("http://127.0.0.1:3000").expect("valid origin");
        let post = Method::POST;
        assert!(allowed(
            &public,
            &Method::GET,
            Some("https://evil.example"),
            None
        ));
        assert!(allowed(&public, &post, None, None));
        assert!(allowed(&public, &post, Some("http://127.0.0.1:3000"), None));
        assert!(!allowed(&public, &post, Some("https://evil.example"), None));
        assert!(!allowed(&public, &post, Some("null"), None));
        assert!(allowed(
            &public,
            &post,
            None,
            Some("http://127.0.0.1:3000/login?next=/")
        ));
        assert!(!allowed(
            &public,
            &post,
            None,
            Some("https://evil.example/page")
        ));
        assert!(!allowed(
            &public,
            &Method::DELETE,
            Some("http://127.0.0.1:3001"),
            None
        ));
    }

    #[test]
    fn next_stays_on_this_origin_and_off_the_sign_in_page() {
        let public = PublicOrigin::parse("http://127.0.0.1:3000").expect("valid origin");
        let next = |raw: &str| public.next_path(Some(raw));
        assert_eq!(next("/watch?t=1"), "/watch?t=1");
        assert_eq!(next("/account?secure=1#devices"), "/account?secure=1");
        assert_eq!(next("http://127.0.0.1:3000/account"), "/account");
        assert_eq!(next("watch"), "/watch", "relative to the origin's root");
        for hostile in [
            "//evil.example",
            "https://evil.example/x",
            "/\\evil.example",
            "/\t/evil.example/pwned",
            "/\n/evil.example",
            "\t//evil.example",
            "javascript:alert(1)",
            "http://127.0.0.1:3001/",
            "/login",
            "/login?next=/login",
            "http://evil.example@127.0.0.1:3000.evil.example/",
        ] {
            assert_eq!(next(hostile), "/", "{hostile:?}");
        }
        assert_eq!(public.next_path(None), "/");
        // Whatever comes in, what goes out is a valid `Location`.
        for odd in ["/a b", "/ä", "/x\r\nSet-Cookie: a=b", "/%0d%0a"] {
            let path = next(odd);
            assert!(
                http::HeaderValue::from_str(&path).is_ok() && path.starts_with('/'),
                "{odd:?} gave {path:?}"
            );
        }
    }

    #[test]
    fn public_origin_normalisation() {
        let cases = "HTTP://LOCALHOST:80 http://localhost|https://Ex.COM:443/ https://ex.com|\
            https://ex.com:8443 https://ex.com:8443|http://ex.com:443 http://ex.com:443|\
            http://[::1]:3000 http://[::1]:3000|https://[::1] https://[::1]|http://x:0080 http://x";
        for case in cases.split('|') {
            let (raw, want) = case.split_once(' ').expect("case");
            assert_eq!(PublicOrigin::parse(raw).expect(raw).as_str(), want);
        }
        let https = PublicOrigin::parse("https://a.example").expect("https");
        let local = PublicOrigin::for_listen_addr(([127, 0, 0, 1], 3000).into());
        assert!(https.is_https() && !local.is_https());
        let bad = "example.com|ftp://x|http://|http:///|http://x/path|http://x//|http://x?q=1|\
            http://x#f|http://u:p@x|http://x:0|http://x:99999|http://x:|http://[::1|http://a b|\
            http://::1|http://x:+80|http:x|http://@x|http://%61b|http://b\u{fc}cher.de";
        for raw in bad.split('|') {
            assert!(PublicOrigin::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn public_origin_matching() {
        let o = PublicOrigin::parse("http://LOCALHOST:80").expect("origin");
        assert!(o.matches("http://localhost") && o.matches("http://localhost:80"));
        assert!(!o.matches("https://localhost") && !o.matches("http://localhost:8080"));
        assert!(!o.matches("null") && !o.matches("http://localhost.evil.example"));
    }

    #[test]
    fn referer_extraction() {
        let cases = "https://Ex.com:8443/a/b?c=1#d https://ex.com:8443|http://h:3000/ http://h:3000|\
            http://h:80?x=1 http://h|https://h#frag https://h|not-a-url -|http://user@h/ -|ws://x/ -";
        for case in cases.split('|') {
            let (referer, want) = case.split_once(' ').expect("case");
            let want = (want != "-").then_some(want);
            assert_eq!(PublicOrigin::from_referer(referer).as_deref(), want);
        }
    }
}
