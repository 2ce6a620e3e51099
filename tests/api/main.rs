//! The server's integration tests, in one binary: the real app on port 0,
//! spoken to over HTTP, WebSocket and the command line (`helpers`).
//!
//! - `auth` — sign-in, sign-out, "who am I", bad input.
//! - `sessions` — the session limit, logout-everywhere, timeouts.
//! - `own_sessions` — a user's own sessions, password change, activity.
//! - `reauth` — re-authentication before ending one's other sessions.
//! - `admin` — the admin API, its permissions and the audit log.
//! - `forward` — `GET /api/auth/verify`, forward authentication for a proxy.
//! - `tokens` — service tokens on the admin API, and nowhere else.
//! - `socket` — `GET /api/ws`: who connects, what each tab is told.
//! - `front_door` — the attacks on round 1's front door (issue 15), replayed.
//! - `security` — the properties `docs/SECURITY.md` lists.
//! - `privacy` — `BOUNCER_IP_PRIVACY`.
//! - `shutdown` — a stopping node.
//! - `cli` — the `bouncer` binary.
//! - `events` — the event feed and its live stream.
//! - `webhooks` — webhook endpoints: the command line, delivery, signatures.
//! - `multinode` — several `bouncer` processes on one PostgreSQL database.
//! - `proxies` — trusted proxies' forwarding headers, request ids.
//! - `health` — `/healthz`, `/readyz`, and draining first when stopping.
//! - `metrics` — the Prometheus metrics of a `bouncer` process.
//! - `balancer` — two nodes on PostgreSQL behind a real nginx.
//! - `logs` — JSON logs: request ids, one ending across two nodes.

mod helpers;

mod admin;
mod auth;
mod balancer;
mod cli;
mod events;
mod forward;
mod front_door;
mod health;
mod logs;
mod metrics;
mod multinode;
mod own_sessions;
mod privacy;
mod proxies;
mod reauth;
mod security;
mod sessions;
mod shutdown;
mod socket;
mod tokens;
mod webhooks;
