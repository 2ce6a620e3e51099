//! The harness: the real application on port 0 with a fresh database and a
//! manual clock per test, and clients that speak to it as browsers, tabs and
//! operators do.
//!
//! The suite is parametrised by backend: `BOUNCER_TEST_BACKEND=postgres` runs
//! every test on a fresh PostgreSQL database, otherwise each gets a SQLite
//! file (`bouncer_engine::test_util`); `scripts/test.sh` runs it both ways.
//!
//! - `app` — `TestApp`, `TestUser`, and every use of the engine's internals.
//! - `browser` — `Browser`: a cookie-keeping client, or one holding a cookie.
//! - `endpoints` — one typed call per API endpoint.
//! - `answer` — `Answer`: an answer read into `bouncer-wire` types.
//! - `cookies` — `Set-Cookie` taken apart.
//! - `tab` — `Tab`: a tab's WebSocket, reading `ServerMessage`s.
//! - `command` — the `bouncer` binary as another process.
//! - `node` — `Node`: `bouncer serve` as a process of its own.
//! - `nginx` — `Nginx`: Debian's nginx in front of nodes.
//! - `scrape` — a node's Prometheus metrics, read.
//! - `wait` — `eventually`: asking until something has happened.
//! - `receiver` — the webhook receiver (Node.js, Standard Webhooks' library).
//! - `stream` — `GET /api/admin/events/stream` as an SSE client reads it.

mod answer;
mod app;
mod browser;
mod command;
mod cookies;
mod endpoints;
mod nginx;
mod node;
mod receiver;
mod scrape;
mod stream;
mod tab;
mod wait;

pub use self::{
    answer::{assert_throttled, Answer},
    app::{
        fresh_database, shared_postgres_database, spawn_app, spawn_app_with, spawn_https_app,
        IpPrivacy, PostgresDatabase, TestApp, TestUser,
    },
    browser::{send, Browser},
    command::{add_users, bouncer, bouncer_with, database_with_users, text},
    cookies::{
        attribute, attributes, cookie_header_from, cookie_value, session_cookie, session_set_cookie,
    },
    nginx::{Nginx, LOCATION as NGINX_LOCATION},
    node::{free_port, Node, ORIGIN},
    receiver::{new_secret, Receiver},
    scrape::Metrics,
    tab::{is_announcement, upgrade_refusal, upgrade_status, Tab, WAIT},
    wait::eventually,
};
