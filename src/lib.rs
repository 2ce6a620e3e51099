//! The Bouncer server: wires the session engine (`bouncer-engine`), the JSON
//! API and the Leptos app (`app`) into one axum application, and the
//! `bouncer` command line around it.
//!
//! # Layout
//!
//! - [`config`] — `Settings` from `bouncer.toml` and `BOUNCER_*` variables.
//! - [`startup`] — `Application::build` (database, engine, router, listener).
//! - [`api`] — the JSON API of `shared/API.md`, over `bouncer-web`'s edge.
//! - [`pages`] — the page guard (redirects to `/login` with the reason).
//! - [`cli`] — the `bouncer` subcommands.
//! - [`demo`] — the `--demo` accounts.
//! - [`telemetry`] — logging.
//! - [`webhooks`] — webhook requests: signing, the address check, reqwest.

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod pages;
pub mod startup;
pub mod telemetry;
pub mod webhooks;
