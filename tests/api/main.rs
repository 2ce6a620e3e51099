//! The server's integration tests, in one binary: the real app on port 0,
//! spoken to over HTTP, WebSocket and the command line (`helpers`).
//!
//! - `auth` — sign-in, sign-out, "who am I", bad input.
//! - `sessions` — the session limit, logout-everywhere, timeouts.
//! - `own_sessions` — a user's own sessions, password change, activity.
//! - `reauth` — re-authentication before ending one's other sessions.
//! - `admin` — the admin API, its permissions and the audit log.
//! - `socket` — `GET /api/ws`: who connects, what each tab is told.
//! - `security` — the properties `docs/SECURITY.md` lists.
//! - `privacy` — `BOUNCER_IP_PRIVACY`.
//! - `shutdown` — a stopping node.
//! - `cli` — the `bouncer` binary.
//! - `events` — the event feed and its live stream.
//! - `webhooks` — webhook endpoints: the command line, delivery, signatures.
//! - `multinode` — several `bouncer` processes on one PostgreSQL database.

mod helpers;

mod admin;
mod auth;
mod cli;
mod events;
mod multinode;
mod own_sessions;
mod privacy;
mod reauth;
mod security;
mod sessions;
mod shutdown;
mod socket;
mod webhooks;
