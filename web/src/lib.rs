//! Bouncer's HTTP edge for axum: everything between a request and the
//! engine. Mount [`SessionLayer`] around your routes, take [`Auth`],
//! [`Authenticated`] or [`Caller`] in handlers, put [`socket::upgrade`] at
//! `GET /api/ws`, and any axum app gets sessions that end live in every open
//! tab. It knows nothing of Leptos or of Bouncer's own pages.
//!
//! # Layout
//!
//! - [`cookie`] — the session cookie: minted, read back, removed.
//! - [`origin`] — the public origin and the cross-site request rule.
//! - [`forwarded`] — the client's address behind trusted proxies.
//! - [`request_id`] — a request id on every request, in its logs and errors.
//! - [`layer`] — [`SessionLayer`]: the origin check and the session check.
//! - [`extract`] — [`Auth`], [`Authenticated`], [`Caller`], [`Client`].
//! - [`auth`] — sign-in, sign-out and password changes through the cookie.
//! - [`operator`] — [`AdminCaller`]: a person or a service token on the admin API.
//! - [`socket`] — the tab's WebSocket.
//! - [`script`] — `GET /bouncer.js`, the same protocol for other apps' pages.
//! - [`wire`] — domain values as the API's JSON objects.
//! - [`error`] — [`ApiError`], the API's JSON errors, and its extractors.

pub mod auth;
pub mod cookie;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod layer;
pub mod operator;
pub mod origin;
pub mod reaper;
pub mod request_id;
pub mod script;
pub mod socket;
pub mod wire;

pub use crate::{
    auth::{Credentials, SetCookie},
    error::{ApiError, Json, Query},
    extract::{Auth, Authenticated, Caller, Client},
    forwarded::{ForwardedHeader, TrustedProxies},
    layer::{Edge, SessionLayer},
    operator::AdminCaller,
    origin::PublicOrigin,
    request_id::RequestIdLayer,
};
