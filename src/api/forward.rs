//! `GET /api/auth/verify`: forward authentication for a reverse proxy
//! (nginx `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth`) that
//! puts another app behind Bouncer on the same origin (docs/INTEGRATION.md).
//!
//! The proxy asks before each of the app's requests, passing the browser's
//! cookie. The session layer has already answered from memory; this handler
//! only reads the session's in-memory identity, so a call costs no query in
//! the steady state. It is not user activity (see `api::PASSIVE_PATHS`): the
//! app's pages send that through `/bouncer.js`.
//!
//! - live session: 200, empty body, the user headers for the proxy to pass on;
//! - missing or ended session: 401 with the API's JSON error (a proxy shows
//!   or drops it; nginx drops it), `X-Bouncer-Reason` when the server knows
//!   why, and `X-Bouncer-Login`, the sign-in page to send the browser to;
//! - `?role=` / `?permission=` not met: 403 `forbidden`;
//! - anything else in the query: 400 `bad_request`, so a misspelt requirement
//!   never silently lets everyone through.

use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bouncer_engine::{
    authz::{self, Grants},
    console::ConsoleError,
    identity::Identity,
    view::LiveSession,
    Visitor,
};
use bouncer_web::{ApiError, Auth, PublicOrigin, Query};
use bouncer_wire::{Permission, Role};
use serde::Deserialize;

use crate::pages::redirect_for;

/// The headers the proxy passes upstream. Only Bouncer may set them: the
/// proxy must drop any a client sends (docs/INTEGRATION.md).
pub const USER_ID: HeaderName = HeaderName::from_static("x-bouncer-user-id");
pub const USERNAME: HeaderName = HeaderName::from_static("x-bouncer-username");
pub const ROLE: HeaderName = HeaderName::from_static("x-bouncer-role");
pub const PERMISSIONS: HeaderName = HeaderName::from_static("x-bouncer-permissions");
pub const SESSION_ID: HeaderName = HeaderName::from_static("x-bouncer-session-id");
/// Why the session ended (401 only, when the server still knows).
pub const REASON: HeaderName = HeaderName::from_static("x-bouncer-reason");
/// Where to send the browser to sign in (401 only): `/login?reason=…&next=…`.
pub const LOGIN: HeaderName = HeaderName::from_static("x-bouncer-login");

/// Where proxies put the path the browser asked for: nginx by convention
/// (`proxy_set_header X-Original-URI $request_uri`), Traefik and Caddy
/// always.
const ORIGINAL_URI: [&str; 2] = ["x-original-uri", "x-forwarded-uri"];

/// The longest sign-in URL sent back: nginx keeps an upstream's response
/// headers in one buffer (`proxy_buffer_size`, 4 KB by default) and refuses
/// an answer that overflows it, so a longer `next` is dropped.
const MAX_LOGIN_URL: usize = 2048;

/// What the proxy may require beyond a live session. Unknown parameters are
/// refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// At least this role (`user` < `staff` < `admin`).
    role: Option<Role>,
    /// This permission (admins hold every permission).
    permission: Option<Permission>,
}

/// `GET /api/auth/verify`. The request comes last and whole, so its headers
/// are read in place (a `HeaderMap` argument would copy them on every call).
pub async fn verify(
    auth: Auth,
    Query(required): Query<Requirements>,
    request: Request,
) -> Response {
    let Visitor::Live(live) = auth.visitor() else {
        return refused(&auth, request.headers());
    };
    let identity = live.identity();
    let role_met = required
        .role
        .is_none_or(|role| authz::has_role(&*identity, role));
    let permission_met = required.permission.is_none_or(|permission| {
        authz::has_role(&*identity, Role::User) && identity.holds(permission)
    });
    if !(role_met && permission_met) {
        return ApiError::Console(ConsoleError::Forbidden(
            "Your account does not have the role or permission this page needs.",
        ))
        .into_response();
    }
    let mut response = StatusCode::OK.into_response();
    user_headers(response.headers_mut(), live, &identity);
    response
}

/// The headers that tell the app who the user is. Every value is printable
/// ASCII by construction (ids are a prefix and hex, role and permissions
/// are vocabulary, the name is percent-encoded beyond ASCII), so none is
/// ever left out; this runs on every request of the app, so nothing is
/// formatted that need not be.
fn user_headers(headers: &mut HeaderMap, live: &LiveSession, identity: &Identity) {
    let permissions = match identity.permissions.len() {
        0 => HeaderValue::from_static(""),
        _ => text_value(
            &identity
                .permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    headers.insert(USER_ID, text_value(live.user_id.as_str()));
    headers.insert(
        USERNAME,
        text_value(&encode_username(identity.username.as_str())),
    );
    headers.insert(ROLE, HeaderValue::from_static(identity.role.as_str()));
    headers.insert(PERMISSIONS, permissions);
    headers.insert(SESSION_ID, text_value(live.id.as_str()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A header value of printable ASCII (see [`user_headers`]); anything else
/// would be a bug, and becomes an empty value rather than a wrong one.
fn text_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A username as a header value: unchanged when it is ASCII, else its
/// UTF-8 bytes percent-encoded. Usernames are letters, digits and `_ . - @`
/// only, so a `%` always starts an escape and never stands for itself.
fn encode_username(name: &str) -> std::borrow::Cow<'_, str> {
    let plain =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'@');
    if name.bytes().all(plain) {
        return name.into();
    }
    let mut out = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if plain(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out.into()
}

/// The 401: the API's error, with the reason and the sign-in page as headers.
fn refused(auth: &Auth, headers: &HeaderMap) -> Response {
    let mut response = auth.unauthenticated().into_response();
    let extra = response.headers_mut();
    if let Visitor::Ended(reason) = auth.visitor() {
        extra.insert(REASON, HeaderValue::from_static(reason.as_str()));
    }
    let login = login_url(auth.visitor(), original_path(auth.public_origin(), headers));
    if let Ok(login) = HeaderValue::try_from(login) {
        extra.insert(LOGIN, login);
    }
    response
}

/// The path the browser asked for, if a proxy said so and it is a path of
/// this origin as the sign-in resolves `next` (never another site: no open
/// redirect through `next`).
fn original_path<'a>(origin: &PublicOrigin, headers: &'a HeaderMap) -> Option<&'a str> {
    let raw = ORIGINAL_URI
        .iter()
        .find_map(|name| headers.get(*name))?
        .to_str()
        .ok()?;
    (origin.next_path(Some(raw)) == raw).then_some(raw)
}

/// `/login?reason=…&next=…` for a visitor without a live session, `next`
/// left at `/` when unknown or too long.
fn login_url(visitor: &Visitor, next: Option<&str>) -> String {
    let home = || redirect_for(visitor, "/").unwrap_or_else(|| "/login".to_owned());
    match next.and_then(|next| redirect_for(visitor, next)) {
        Some(url) if url.len() <= MAX_LOGIN_URL => url,
        _ => home(),
    }
}

#[cfg(test)]
mod tests {
    use bouncer_wire::Reason;

    use super::*;

    #[test]
    fn usernames_pass_as_ascii_with_anything_else_percent_encoded() {
        assert_eq!(encode_username("alice.b-c_d@x"), "alice.b-c_d@x");
        assert_eq!(encode_username("jörg"), "j%C3%B6rg");
    }

    #[test]
    fn the_sign_in_url_keeps_a_same_origin_next_only() {
        let mut headers = HeaderMap::new();
        let ended = Visitor::Ended(Reason::AdminRevoked);
        let origin = PublicOrigin::parse("https://bouncer.example").expect("valid");
        assert_eq!(original_path(&origin, &headers), None);
        assert_eq!(
            login_url(&ended, None),
            "/login?reason=admin_revoked&next=/"
        );
        for (raw, expected) in [
            ("/player?t=1&x=2", Some("/player?t=1&x=2")),
            ("//evil.example/x", None),
            ("https://evil.example/", None),
            ("/\\evil.example", None),
            ("/\t/evil.example", None),
            ("/login?next=/", None),
        ] {
            headers.insert("x-forwarded-uri", HeaderValue::from_static(raw));
            assert_eq!(original_path(&origin, &headers), expected, "{raw}");
        }
        assert_eq!(
            login_url(&Visitor::Anonymous, Some("/player?t=1&x=2")),
            "/login?next=/player%3Ft%3D1%26x%3D2"
        );
        let long = format!("/{}", "%".repeat(MAX_LOGIN_URL));
        assert_eq!(login_url(&Visitor::Anonymous, Some(&long)), "/login?next=/");
    }
}
