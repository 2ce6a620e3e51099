//! The session cookie: minting it, reading it back, removing it.
//!
//! Architecture invariant: the cookie carries nothing but an opaque random
//! secret (256 bits from the OS). The edge hashes it on arrival and hands the
//! engine only the [`SecretHash`]; neither the secret nor its hash is logged.
//! A fresh secret is minted for every sign-in and every password change, so
//! an id planted before sign-in is never the one that signs in (no fixation).

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use bouncer_engine::{clock::Timestamp, ids::SecretHash};
use http::{header, HeaderMap, HeaderValue};
use rand::RngCore;

/// The session cookie's name on an http origin (local development).
pub const SESSION_COOKIE: &str = "bouncer_session";

/// The session cookie's name on an https origin. Browsers accept a `__Host-`
/// cookie only with `Secure`, `Path=/` and no `Domain`, so no sibling
/// subdomain and no plain-http page can set or shadow it (ASVS V3.4.4). They
/// refuse such a cookie without `Secure`, which is why http origins keep
/// [`SESSION_COOKIE`].
pub const SECURE_SESSION_COOKIE: &str = "__Host-bouncer_session";

/// Random bytes per secret.
const SECRET_BYTES: usize = 32;

/// The length of a secret's text (unpadded base64url of [`SECRET_BYTES`]).
const SECRET_LEN: usize = 43;

/// How long a cookie lives when sessions have no absolute timeout: browsers
/// cap cookie lifetimes at 400 days anyway.
const LONGEST_LIFETIME: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The cookie's name and flags, from the public origin and the policy.
#[derive(Debug, Clone)]
pub struct SessionCookie {
    name: &'static str,
    secure: bool,
    lifetime: Duration,
}

/// A cookie just minted: the `Set-Cookie` value for the browser and the hash
/// the engine keys the session on.
#[derive(Debug)]
pub struct Minted {
    pub secret: SecretHash,
    value: String,
}

impl Minted {
    /// The secret itself, as the browser keeps it (for load generators and
    /// tests that stand in for a browser). Never log it.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl SessionCookie {
    /// `secure` when the public origin is https; the cookie lives as long as
    /// the session may (`absolute_timeout`), so closing the browser does not
    /// sign the person out of a remembered device.
    pub fn new(secure: bool, absolute_timeout: Option<Duration>) -> Self {
        SessionCookie {
            name: if secure {
                SECURE_SESSION_COOKIE
            } else {
                SESSION_COOKIE
            },
            secure,
            lifetime: absolute_timeout.unwrap_or(LONGEST_LIFETIME),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The hash of the secret the request's cookie carries. Anything that is
    /// not a secret this edge could have minted counts as no cookie, without
    /// hashing or a lookup. Reads the headers in place (no allocation).
    pub fn secret_of(&self, headers: &HeaderMap) -> Option<SecretHash> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == self.name).then_some(value)
            })
            .filter(|value| {
                value.len() == SECRET_LEN
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(SecretHash::of_secret)
    }

    /// A fresh secret.
    pub fn mint(&self) -> Minted {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let value = URL_SAFE_NO_PAD.encode(bytes);
        Minted {
            secret: SecretHash::of_secret(&value),
            value,
        }
    }

    /// The `Set-Cookie` value for `minted`, for a session created at
    /// `created_at`, at `now`: `HttpOnly`, `SameSite=Lax`, `Path=/`, no
    /// `Domain` (the cookie goes back to this host only), `Secure` on https,
    /// and a `Max-Age` that ends when the session may.
    pub fn set(&self, minted: &Minted, created_at: Timestamp, now: Timestamp) -> HeaderValue {
        let max_age = created_at.plus(self.lifetime).since(now).as_secs();
        self.header(&format!(
            "{}={}; Max-Age={max_age}",
            self.name, minted.value
        ))
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn removal(&self) -> HeaderValue {
        self.header(&format!("{}=; Max-Age=0", self.name))
    }

    fn header(&self, start: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!("{start}; HttpOnly; SameSite=Lax; Path=/{secure}");
        // Every part is ASCII this module wrote: base64url, a date, names.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(value).expect("a header"),
        );
        headers
    }

    #[test]
    fn a_minted_cookie_reads_back_as_its_secret() {
        let cookie = SessionCookie::new(false, Some(Duration::from_secs(3600)));
        let minted = cookie.mint();
        let now = Timestamp::from_millis(600_000);
        let set = cookie.set(&minted, Timestamp::from_millis(0), now);
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with("bouncer_session="), "{set}");
        assert!(set.contains("; Max-Age=3000;"), "{set}");
        assert!(set.ends_with("; HttpOnly; SameSite=Lax; Path=/"), "{set}");
        let pair = set.split(';').next().expect("a pair");
        let headers = cookie_headers(&format!("theme=dark; {pair}; other=1"));
        assert_eq!(cookie.secret_of(&headers), Some(minted.secret));
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let cookie = SessionCookie::new(true, None);
        let now = Timestamp::from_millis(0);
        let set = cookie.set(&cookie.mint(), now, now);
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with("__Host-bouncer_session="), "{set}");
        assert!(set.ends_with("; Secure"), "{set}");
        let removal = cookie.removal();
        assert!(removal.to_str().expect("ascii").ends_with("; Secure"));
    }

    #[test]
    fn anything_but_a_minted_secret_is_no_cookie() {
        let cookie = SessionCookie::new(false, None);
        for value in [
            "bouncer_session=short",
            "bouncer_session=",
            "other=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bouncer_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*",
        ] {
            assert_eq!(cookie.secret_of(&cookie_headers(value)), None, "{value}");
        }
    }
}
