//! The Bouncer server: wires the session engine (`bouncer-engine`), the JSON
//! API and the Leptos app (`app`) into one axum application, and the
//! `bouncer` command line around it.
//!
//! # Layout
//!
//! - [`config`] — `Settings` from `bouncer.toml` and `BOUNCER_*` variables.
//! - [`serve`] — the HTTP server loop: header-read timeout, connection cap.
//! - [`startup`] — `Application::build` (database, engine, router, listener).
//! - [`api`] — the JSON API of `shared/API.md`, over `bouncer-web`'s edge.
//! - [`pages`] — the page guard (redirects to `/login` with the reason).
//! - [`cli`] — the `bouncer` subcommands.
//! - [`demo`] — the `--demo` accounts.
//! - [`telemetry`] — logging, as text or JSON.
//! - [`health`] — `GET /healthz` and `GET /readyz`.
//! - [`exporter`] — the Prometheus metrics on their own listener.
//! - [`wake`] — the command line telling the server beside it (SQLite) to read the log now.
//! - [`webhooks`] — webhook requests: signing, the address check, reqwest.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod exporter;
pub mod health;
pub mod pages;
pub mod serve;
pub mod startup;
pub mod telemetry;
pub mod wake;
pub mod webhooks;
