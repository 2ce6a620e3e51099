//! The session cookie as the tests see it: `Set-Cookie` headers taken
//! apart, and `Cookie` headers made by hand.

use reqwest::header::{HeaderMap, SET_COOKIE};

/// The `Set-Cookie` header for the session cookie, if there is one
/// (`bouncer_session`, or `__Host-bouncer_session` on an https origin).
pub fn session_set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bouncer_session=") || v.starts_with("__Host-bouncer_session="))
        .map(str::to_owned)
}

/// The cookie's value from a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default()
}

/// The `Cookie` header a browser sends back for a session cookie value
/// (on an http origin).
pub fn session_cookie(value: &str) -> String {
    format!("bouncer_session={value}")
}

/// The `Cookie` header for the session cookie a response set.
pub fn cookie_header_from(headers: &HeaderMap) -> String {
    session_cookie(&cookie_value(
        &session_set_cookie(headers).expect("a session cookie is set"),
    ))
}

/// The attributes of a `Set-Cookie` header after the name and value, as
/// (lowercased name, value) pairs.
pub fn attributes(set_cookie: &str) -> Vec<(String, String)> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|attribute| {
            let (name, value) = attribute.split_once('=').unwrap_or((attribute, ""));
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect()
}

/// One attribute's value from [`attributes`]; `Some("")` for a flag.
pub fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}
