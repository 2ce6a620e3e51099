//! Fuzzes what a request's cookie and headers become before any handler
//! runs:
//!
//! - the `Cookie` header, read by the edge (`SessionCookie::secret_of`):
//!   only a value the edge could have minted (43 base64url characters, one
//!   spelling per secret) counts, and the SHA-256 the registry looks up
//!   (`SecretHash`) is the hash of exactly what the browser sent; arbitrary
//!   header bytes never panic; a minted cookie reads back as its own secret;
//! - `SecretHash`: the SHA-256 of the cookie text, never printed whole;
//! - the public ids (`SessionId`, `UserId`) from URLs: any non-empty text of
//!   at most 64 bytes, kept as it is;
//! - the cross-site check (`origin::allowed`) with an arbitrary public
//!   origin, method, `Origin` and `Referer`, against the string rules of
//!   `bouncer_fuzz::same_origin`.
//!
//! Input: pieces split on `0xFF` (see `bouncer_fuzz::input`). Every piece is
//! tried as a cookie value and as a public id; then piece 0 is the public
//! origin (the default one when it does not parse), piece 1 the method,
//! piece 2 the `Origin` header and piece 3 the `Referer` (each absent when
//! missing or empty). Every piece is also tried as a whole `Cookie` header.

#![no_main]

use std::fmt::Write;

use axum::http::{header, HeaderMap, HeaderValue, Method};
use bouncer_engine::ids::{SecretHash, SessionId, UserId};
use bouncer_fuzz::{
    input::{pieces, tagged, text},
    same_origin::OriginParts,
};
use bouncer_web::{
    cookie::{SessionCookie, SESSION_COOKIE},
    origin::allowed,
    PublicOrigin,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// The edge's secrets: 256 bits in unpadded URL-safe base64.
const SECRET_TEXT_LEN: usize = 43;

fn base64url(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn cookie_header(value: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, value);
    headers
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn check_cookie_value(cookie: &SessionCookie, value: &str) {
    let hash = SecretHash::of_secret(value);
    let hex = hash.to_hex();
    assert_eq!(
        hex,
        sha256_hex(value),
        "the stored hash is the cookie text's SHA-256"
    );
    assert!(
        !format!("{hash:?}").contains(&hex),
        "a secret's hash is never printed whole"
    );
    // A `;` ends a cookie's value (RFC 6265): such text is a header of
    // several pairs, which `check_cookie_header` covers.
    if value.contains(';') {
        return;
    }
    let Ok(header) = HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}")) else {
        return;
    };
    let read = cookie.secret_of(&cookie_header(header));
    // Whitespace after the value is the header's, not the cookie's.
    let sent = value.trim_end_matches([' ', '\t']);
    let mintable = sent.len() == SECRET_TEXT_LEN && base64url(sent);
    assert_eq!(read.is_some(), mintable, "{value:?} read as {read:?}");
    if let Some(read) = read {
        assert_eq!(
            read,
            SecretHash::of_secret(sent),
            "the secret is exactly what was sent"
        );
    }
}

/// Arbitrary bytes as the whole `Cookie` header never panic, and whatever
/// is read is the hash of a mintable value somewhere in them.
fn check_cookie_header(cookie: &SessionCookie, bytes: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(bytes) else {
        return;
    };
    if let Some(read) = cookie.secret_of(&cookie_header(value)) {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            text.split(';')
                .filter_map(|pair| pair.trim().strip_prefix(&format!("{SESSION_COOKIE}=")))
                .any(|v| SecretHash::of_secret(v) == read),
            "{text:?} read as a secret it does not carry"
        );
    }
}

fn check_minted(cookie: &SessionCookie) {
    let minted = cookie.mint();
    let text = minted.value();
    assert_eq!(text.len(), SECRET_TEXT_LEN);
    assert!(base64url(text));
    let header = HeaderValue::from_str(&format!("{SESSION_COOKIE}={text}"))
        .expect("a minted cookie is a header value");
    assert_eq!(
        cookie.secret_of(&cookie_header(header)),
        Some(minted.secret),
        "{text} reads back"
    );
}

fn check_public_ids(raw: &str) {
    let acceptable = !raw.is_empty() && raw.len() <= 64;
    let session = SessionId::parse(raw);
    assert_eq!(session.is_some(), acceptable, "SessionId::parse({raw:?})");
    if let Some(id) = session {
        assert_eq!(id.as_str(), raw);
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
    }
    let user = UserId::parse(raw);
    assert_eq!(user.is_some(), acceptable, "UserId::parse({raw:?})");
    if let Some(id) = user {
        assert_eq!(id.as_str(), raw);
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
    }
}

fn method(piece: Option<&[u8]>) -> Method {
    match piece.and_then(tagged) {
        None => Method::POST,
        Some((tag, rest)) => match tag % 8 {
            0 => Method::GET,
            1 => Method::HEAD,
            2 => Method::OPTIONS,
            3 => Method::POST,
            4 => Method::PUT,
            5 => Method::PATCH,
            6 => Method::DELETE,
            // Any other token is a method too, and is not a safe one.
            _ => Method::from_bytes(rest).unwrap_or(Method::POST),
        },
    }
}

fn check_cross_site(pieces: &[&[u8]]) {
    let public = pieces
        .first()
        .and_then(|piece| PublicOrigin::parse(&text(piece)).ok())
        .or_else(|| PublicOrigin::parse("http://127.0.0.1:3000").ok())
        .expect("the default origin parses");
    let parts = OriginParts::of_normalised(public.as_str())
        .unwrap_or_else(|| panic!("{:?} is not scheme://host[:port]", public.as_str()));
    let method = method(pieces.get(1).copied());
    let header = |index: usize| {
        pieces
            .get(index)
            .filter(|piece| !piece.is_empty())
            .map(|piece| text(piece))
    };
    let (origin, referer) = (header(2), header(3));

    let safe = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let same_site = match (&origin, &referer) {
        (Some(origin), _) => parts.named_by_origin(origin),
        (None, Some(referer)) => parts.named_by_referer(referer),
        // Non-browser clients carry no ambient credentials to ride on.
        (None, None) => true,
    };
    assert_eq!(
        allowed(&public, &method, origin.as_deref(), referer.as_deref()),
        safe || same_site,
        "{method} to {} with Origin {origin:?}, Referer {referer:?}",
        public.as_str()
    );
}

fuzz_target!(|data: &[u8]| {
    let cookie = SessionCookie::new(false, None);
    let pieces: Vec<&[u8]> = pieces(data).collect();
    for piece in &pieces {
        let value = text(piece);
        check_cookie_value(&cookie, &value);
        check_cookie_header(&cookie, piece);
        check_public_ids(&value);
    }
    check_minted(&cookie);
    check_cross_site(&pieces);
});
