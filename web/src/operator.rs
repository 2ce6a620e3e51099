//! [`AdminCaller`]: who calls the admin API — a signed-in person, by their
//! session cookie, or a service token, by `Authorization: Bearer bnc_…`.
//!
//! Only the admin API's handlers take it. Pages, the socket, `/api/auth/*`
//! and `/api/sessions` know sessions only ([`crate::Caller`],
//! [`crate::Authenticated`]): a token sent there is no session, so those
//! answer as to anyone signed out, and a token can never sign in, hold a
//! tab or pass forward authentication.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap},
};
use bouncer_engine::{console::Operator, ids::SessionId, service_tokens::ServiceToken};

use crate::{
    error::ApiError,
    extract::{Auth, Caller},
};

/// The caller of an admin API call.
#[derive(Debug, Clone)]
pub enum AdminCaller {
    /// A person, from their live session (the console's rules then ask for
    /// staff or admin).
    Person(Caller),
    /// A service token that holds (known, not revoked, not expired).
    Token(ServiceToken),
}

impl AdminCaller {
    /// The caller as the console's operations take them.
    pub fn operator(&self) -> Operator<'_> {
        match self {
            AdminCaller::Person(caller) => caller.operator(),
            AdminCaller::Token(token) => Operator::Token(token),
        }
    }

    /// The caller's own session (a token has none).
    pub fn session(&self) -> Option<&SessionId> {
        match self {
            AdminCaller::Person(caller) => Some(&caller.live.id),
            AdminCaller::Token(_) => None,
        }
    }
}

/// What the request's `Authorization` header says: `None` without one,
/// else the token it carries, or `Err` when it carries none — another
/// scheme, no value, bytes that are not text, or the header given twice
/// (which of the two would count is not for the server to guess).
fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    let invalid = || ApiError::Bearer(bouncer_engine::service_tokens::BearerError::Invalid);
    if values.next().is_some() {
        return Some(Err(invalid()));
    }
    let token = value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim_matches(' '))
    });
    Some(token.ok_or_else(invalid))
}

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match bearer(&parts.headers) {
            None => Ok(AdminCaller::Person(
                Caller::from_request_parts(parts, state).await?,
            )),
            Some(presented) => {
                let presented = presented?.to_owned();
                let auth = Auth::from_request_parts(parts, state).await?;
                let token = auth.engine().tokens().authenticate(&presented).await?;
                Ok(AdminCaller::Token(token))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn only_one_bearer_header_carries_a_token() {
        assert!(bearer(&headers(&[])).is_none());
        for (value, token) in [
            (&b"Bearer bnc_1"[..], "bnc_1"),
            (b"bearer bnc_2", "bnc_2"),
            (b"BEARER  bnc_3 ", "bnc_3"),
        ] {
            match bearer(&headers(&[value])) {
                Some(Ok(got)) => assert_eq!(got, token),
                other => panic!("{value:?} gave {other:?}"),
            }
        }
        for value in [
            &b"Basic YWxpY2U6cHc="[..],
            b"Bearer",
            b"bnc_1",
            b"Bearer \xff\xfe",
        ] {
            assert!(
                matches!(bearer(&headers(&[value])), Some(Err(_))),
                "{value:?}"
            );
        }
        assert!(matches!(
            bearer(&headers(&[b"Bearer bnc_1", b"Bearer bnc_2"])),
            Some(Err(_))
        ));
    }
}
