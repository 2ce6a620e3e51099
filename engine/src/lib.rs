//! Bouncer's session engine: users, the session registry, the policy and the
//! revocation log, plus the axum glue to use them. It has no Leptos
//! dependency, so any axum app can mount it.
//!
//! # Layout
//!
//! - [`clock`] — `Timestamp` and the `Clock` every deadline is computed from.
//! - [`ids`] — `UserId`, `SessionId` (public) and `SecretHash` (the cookie's, hashed).
//! - [`db`] — opening the pool and the migrations.
//! - [`password`] — argon2id hashing off the runtime, bounded.
//! - [`users`] — accounts, roles, permissions.
//! - [`policy`] — limits and timeouts as pure functions.
//! - [`registry`] — the `sessions` table and the in-memory view the request path reads.
//! - [`revocation`] — the append-only log of endings and the tailer that applies it.
//! - [`privacy`] — how much of a client's IP address is stored.
//! - [`throttle`] — failed-login counts behind `too_many_attempts`.
//! - [`hub`] — the tabs connected to this node and their bounded queues.
//! - [`socket`] — one tab's WebSocket loop, generic over `Sink`/`Stream`.
//! - [`engine`] — `Engine`, the operations built from the above.
//! - [`accounts`] — password changes and admin edits, with the sessions they end.
//! - [`reauth`] — recent authentication, needed to end one's other sessions.
//! - [`authz`] — who may do what, as pure functions.
//! - [`console`] — the operator's calls, permission checks included.
//! - [`web`] — the cookie layer, the check middleware, extractors, sign-in/out.

pub mod accounts;
pub mod authz;
pub mod clock;
pub mod console;
pub mod cookie_store;
pub mod db;
pub mod engine;
pub mod hub;
pub mod ids;
pub mod listener;
pub mod password;
pub mod policy;
pub mod privacy;
pub mod reauth;
pub mod registry;
pub mod revocation;
pub mod socket;
pub mod sql;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod throttle;
pub mod users;
pub mod web;

pub use crate::engine::{Engine, SessionSnapshot, SignInError, Visitor};
