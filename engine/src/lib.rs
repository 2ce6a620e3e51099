//! Bouncer's session engine: the domain core. Users, the session registry,
//! the policy, the revocation log and the services built from them. It knows
//! no HTTP, no cookie and no JSON shape: the edge (`bouncer-web`) turns
//! requests into calls here and answers into the API's objects, so any axum
//! app — or anything else — can drive it.
//!
//! # Layout
//!
//! Foundations:
//! - [`clock`] — `Timestamp` and the `Clock` every deadline is computed from.
//! - [`ids`] — `UserId`, `SessionId` (public) and `SecretHash` (the cookie's, hashed).
//! - [`db`], [`sql`] — the pool, the migrations, statements with `$N` binds.
//! - [`sync`] — locks that outlive a panic.
//! - [`policy`], [`authz`], [`privacy`] — the rules, as pure functions.
//! - [`password`] — argon2id off the runtime, bounded.
//! - [`throttle`] — failed-password counts behind `too_many_attempts`.
//! - [`messages`] — the sentences more than one error says.
//! - [`measures`] — the metrics' names, and the levels read at a scrape.
//!
//! Stores, one per table (each the only code that names its table):
//! - [`users`] — `users`.
//! - [`sessions`] — `sessions`.
//! - [`log`] — `events`, the append-only event log (endings and the rest).
//! - [`tokens`] — `service_tokens`.
//! - [`webhooks`] — `webhooks`, the endpoints and their delivery progress.
//! - [`leases`] — `leases`, which node does a job only one may do.
//!
//! In memory:
//! - [`view`] — the live sessions and tombstones the request path reads.
//! - [`identity`] — who each live session's user is, kept true by the log.
//! - [`hub`] — the tabs connected to this node and their bounded queues.
//!
//! Services, one job each:
//! - [`ending`] — the transaction that ends sessions, then applies the log.
//! - [`tailer`] — applies the log to the view, in order, exactly once.
//! - [`timeouts`] — deciding a session ran out of time, and ending it.
//! - [`check`] — the request-path check (`Visitor`).
//! - [`activity`] — "last seen" written behind the request path.
//! - [`credentials`] — password checks under the throttle.
//! - [`login`] — sign-in with the session limit, sign-out.
//! - [`accounts`] — new users, password changes, admin edits.
//! - [`devices`] — a person's own sessions and recent authentication.
//! - [`console`] — the operator's calls, permission checks included.
//! - [`service_tokens`] — tokens for scripts: made, revoked, checked.
//! - [`snapshot`] — a session described for lists.
//! - [`feed`] — the event feed (pages, live) and the webhooks' management.
//! - [`delivery`] — webhooks delivered in order, at least once, from one node.
//! - [`tabs`] — what a connected tab may do.
//! - [`pusher`], [`deadlines`], [`sweeper`], [`listener`] — background loops,
//!   run by [`workers`].
//! - [`health`] — the readiness checks: database, migrations, listener.
//! - [`engine`] — `Engine`, the front that builds and hands out the services.

pub mod accounts;
pub mod activity;
pub mod authz;
pub mod change;
pub mod check;
pub mod clock;
pub mod console;
pub mod credentials;
pub mod db;
pub mod deadlines;
pub mod delivery;
pub mod devices;
pub mod engine;
pub mod feed;
pub mod hash_queue;
pub mod health;
pub mod hub;
pub mod identity;
pub mod ids;
pub mod inbox;
pub mod leases;
pub mod listener;
pub mod log;
pub mod login;
pub mod measures;
pub mod messages;
pub mod password;
pub mod policy;
pub mod privacy;
pub mod pusher;
pub mod service_tokens;
pub mod sessions;
pub mod snapshot;
pub mod sql;
pub mod sweeper;
pub mod sync;
pub mod tabs;
pub mod tailer;
#[cfg(feature = "test-util")]
pub mod test_util;
pub mod throttle;
pub mod timeouts;
pub mod tokens;
pub mod users;
pub mod view;
pub mod webhooks;
pub mod workers;

pub use crate::{check::Visitor, engine::Engine, snapshot::SessionSnapshot};
