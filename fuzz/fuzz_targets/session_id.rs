//! Fuzzes what a request's cookie and headers become before any handler
//! runs:
//!
//! - the session cookie's value, read by tower-sessions as an `Id`: a value
//!   that parses is the one canonical text of its id, so the SHA-256 the
//!   registry and the cookie store look up (`SecretHash`) is the hash of
//!   exactly what the browser sent, and no second spelling reaches the same
//!   session; every id prints and parses back;
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
//! missing or empty). The first 16 bytes, when there are 16, are an id.

#![no_main]

use std::fmt::Write;

use axum::http::Method;
use bouncer::{config::PublicOrigin, origin::allowed};
use bouncer_engine::ids::{SecretHash, SessionId, UserId};
use bouncer_fuzz::{
    input::{pieces, tagged, text},
    same_origin::OriginParts,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tower_sessions::session::Id;

/// tower-sessions' ids: 128 bits in unpadded URL-safe base64.
const ID_TEXT_LEN: usize = 22;

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn check_cookie_value(value: &str) {
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
    if let Ok(id) = value.parse::<Id>() {
        assert_eq!(
            id.to_string(),
            value,
            "a cookie value that parses is its id's only text"
        );
        assert_eq!(value.len(), ID_TEXT_LEN);
    }
}

fn check_id(id: Id) {
    let text = id.to_string();
    assert_eq!(text.len(), ID_TEXT_LEN);
    assert!(text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(text.parse::<Id>().ok(), Some(id), "{text} parses back");
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
    let pieces: Vec<&[u8]> = pieces(data).collect();
    for piece in &pieces {
        let value = text(piece);
        check_cookie_value(&value);
        check_public_ids(&value);
    }
    if let Some(bytes) = data.first_chunk::<16>() {
        check_id(Id(i128::from_le_bytes(*bytes)));
    }
    check_cross_site(&pieces);
});
