//! Signing in and out through the cookie, as methods on [`Auth`]: the engine
//! decides, this module mints and sets (or removes) the cookie. Each returns
//! a [`SetCookie`] to put in the response.

use std::sync::Arc;

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponseParts, ResponseParts},
};
use bouncer_engine::{
    accounts::AccountError,
    ids::SessionId,
    login::{SignIn, SignInError, SignedIn},
    password::Password,
    sessions::ClientInfo,
    view::LiveSession,
    Visitor,
};

use crate::extract::Auth;

/// A `Set-Cookie` header for the response.
#[derive(Debug, Clone)]
pub struct SetCookie(pub HeaderValue);

impl IntoResponseParts for SetCookie {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.headers_mut().append(header::SET_COOKIE, self.0);
        Ok(parts)
    }
}

/// What a person typed to sign in.
#[derive(Debug)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a Password,
    /// Under `refuse_new`: one of the user's sessions to end so the sign-in
    /// proceeds.
    pub replace: Option<&'a SessionId>,
}

impl Auth {
    /// Signs in, always under a freshly minted cookie secret (no fixation).
    /// On `session_limit_reached` the cookie the browser holds (dead by then:
    /// a session of the same user would have been continued) is removed, so
    /// a refused sign-in keeps no cookie.
    pub async fn sign_in(
        &self,
        credentials: Credentials<'_>,
        client: &ClientInfo,
    ) -> Result<(SignedIn, SetCookie), (SignInError, Option<SetCookie>)> {
        let cookie = &self.0.edge.cookie;
        let minted = cookie.mint();
        let request = SignIn {
            username: credentials.username,
            password: credentials.password,
            client,
            replace: credentials.replace,
            visitor: self.visitor(),
        };
        match self.engine().login().sign_in(request, minted.secret).await {
            Ok(signed_in) => {
                let now = self.engine().now();
                let set = cookie.set(&minted, signed_in.session.created_at, now);
                Ok((signed_in, SetCookie(set)))
            }
            Err(e @ SignInError::LimitReached(_)) if self.0.had_cookie => {
                Err((e, Some(SetCookie(cookie.removal()))))
            }
            Err(e) => Err((e, None)),
        }
    }

    /// Logs the request's session out (see `Login::sign_out`) and removes
    /// its cookie. Harmless without a session: a request with no cookie of
    /// ours gets no `Set-Cookie` at all.
    pub async fn sign_out(&self) -> anyhow::Result<Option<SetCookie>> {
        if let Visitor::Live(live) = self.visitor() {
            self.engine().login().sign_out(live).await?;
        }
        Ok(self
            .0
            .had_cookie
            .then(|| SetCookie(self.0.edge.cookie.removal())))
    }

    /// Changes the caller's password (see `Accounts::change_own_password`)
    /// and keeps this session signed in under a fresh cookie secret.
    /// Returns how many other sessions ended.
    pub async fn change_password(
        &self,
        live: &Arc<LiveSession>,
        current: &Password,
        new: &Password,
        client: &ClientInfo,
    ) -> Result<(usize, SetCookie), AccountError> {
        let engine = self.engine();
        let ended = engine
            .accounts()
            .change_own_password(live, current, new, &client.ip)
            .await?;
        let cookie = &self.0.edge.cookie;
        let minted = cookie.mint();
        engine
            .login()
            .continue_session(live, &minted.secret, None)
            .await?;
        let set = cookie.set(&minted, live.created_at, engine.now());
        Ok((ended, SetCookie(set)))
    }
}
