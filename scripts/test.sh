#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests (on
# SQLite, then again on PostgreSQL), a short fuzzing run, then the browser
# tests in Chromium.
# Installs what is missing first.
#
# PostgreSQL is TEST_DATABASE_URL (default: the local server); each test makes
# its own database there. Without one answering, the PostgreSQL pass is skipped
# with a notice, except in CI (CI=true), where that is a failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

say "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

say "No import circles between the modules of a crate"
python3 scripts/import-cycles.py engine/src web/src src app/src

say "cargo clippy (server, engine, edge, wire; then the app for wasm)"
cargo clippy --all-targets -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
cargo clippy -p bouncer-bench -p plain-axum --all-targets -- -D warnings
ensure_wasm_toolchain
cargo clippy -p frontend -p app --target wasm32-unknown-unknown --features app/hydrate -- -D warnings

# Debian's nginx: the balancer test of tests/api/ (two nodes behind it) and
# the one-origin proxy of end2end/tests/bouncer-js.test.mjs and
# forward-auth.test.mjs; Debian's Caddy: the same for forward-auth.test.mjs.
ensure_nginx
ensure_caddy

# The webhook tests and the bench's smoke run verify with a real receiver.
ensure_webhook_receiver

# One package at a time: `--workspace` would unify app's ssr and hydrate features.
for package in bouncer-wire bouncer-engine bouncer-web app bouncer bouncer-bench plain-axum; do
  say "cargo test -p $package"
  if [ "$package" = app ]; then
    cargo test -p app --features ssr
  else
    cargo test -p "$package"
  fi
done

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if postgres_answers "$TEST_DATABASE_URL"; then
  say "cargo test -p bouncer --tests and the engine's property tests on PostgreSQL ($TEST_DATABASE_URL)"
  BOUNCER_TEST_BACKEND=postgres cargo test -p bouncer --tests
  BOUNCER_TEST_BACKEND=postgres cargo test -p bouncer-engine --test properties
elif [ -n "${CI:-}" ]; then
  echo "CI needs PostgreSQL at $TEST_DATABASE_URL for the PostgreSQL and multi-node tests" >&2
  exit 1
else
  printf '\n\033[1;33m*** SKIPPED: the PostgreSQL pass (no server answers at %s) ***\033[0m\n\n' "$TEST_DATABASE_URL" >&2
fi

# The fuzz crate is a workspace of its own; its oracles' unit tests and lints
# build in the main target directory, which already holds its dependencies.
say "Fuzz targets: lints and the unit tests of their oracles"
FUZZ_TARGET_DIR=(--target-dir "${CARGO_TARGET_DIR:-$ROOT/target}")
cargo clippy --manifest-path fuzz/Cargo.toml "${FUZZ_TARGET_DIR[@]}" --all-targets -- -D warnings
cargo test --manifest-path fuzz/Cargo.toml "${FUZZ_TARGET_DIR[@]}" --lib
say "Fuzzing, 20 s per target (the targets keep building and find no crash)"
scripts/fuzz.sh 20

say "Benchmark harness, smoke scale (figures not judged; nothing may be lost)"
scripts/bench.sh --smoke

build_frontend debug
cargo build -p bouncer
ensure_browser_test_deps
say "Browser tests (Chromium, and nginx in front of Bouncer and an app)"
(cd end2end && BOUNCER_BIN="$TARGET_DIR/debug/bouncer" BOUNCER_SITE_ROOT="$ROOT/target/site" node --test --test-concurrency=1 tests/)
