//! Helpers shared by Bouncer's fuzz targets (`fuzz_targets/`): how a fuzz
//! input is cut into pieces, and the oracles that say what the product must
//! do with them. The oracles are written from `shared/API.md`, not from the
//! code under test, so a target fails when the two disagree.
//!
//! # Layout
//!
//! - [`input`] — the byte format every target reads: pieces split on `0xFF`.
//! - [`frames`] — a tab's WebSocket frames from an input, and what the
//!   contract says the server answers to them.
//! - [`same_origin`] — what "the same origin as the public origin" means for
//!   an `Origin` or `Referer` header, as plain string rules.

pub mod frames;
pub mod input;
pub mod same_origin;
