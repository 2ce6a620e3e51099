#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests (SQLite,
# and PostgreSQL when TEST_DATABASE_URL is set), then the browser tests in
# Chromium. Installs what is missing first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (server, engine, wire; then the app for wasm)"
cargo clippy --all-targets -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
ensure_wasm_toolchain
cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings

# One package at a time: `--workspace` would unify app's ssr and hydrate features.
for package in bouncer-wire bouncer-engine app bouncer; do
  say "cargo test -p $package"
  if [ "$package" = app ]; then
    cargo test -p app --features ssr
  else
    cargo test -p "$package"
  fi
done

build_frontend debug
cargo build -p bouncer
ensure_browser_test_deps
say "Browser tests (Chromium)"
(cd end2end && BOUNCER_BIN="$ROOT/target/debug/bouncer" BOUNCER_SITE_ROOT="$ROOT/target/site" node --test --test-concurrency=1 tests/)
