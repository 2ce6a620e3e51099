#!/usr/bin/env bash
# Runs every benchmark and writes BENCHMARKS.md (plus benchmarks-latency.svg).
#
#   scripts/bench.sh                 full scale, release builds, ~10 minutes
#   scripts/bench.sh --only push     one benchmark (push, end-user, throughput, two-nodes, wasm)
#   scripts/bench.sh --smoke         a few hundred tabs on debug builds, report under
#                                    target/bench-smoke/ (CI runs this so the harness keeps working)
#
# The two-node benchmark uses the PostgreSQL at TEST_DATABASE_URL (default: the
# local server) when it answers.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# 15,000 tabs need as many sockets in the server and in the load generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

smoke=false
for arg in "$@"; do [ "$arg" = --smoke ] && smoke=true; done

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
postgres_answers "$TEST_DATABASE_URL" || unset TEST_DATABASE_URL

if $smoke; then
  say "cargo build (debug) of the server and the harness"
  cargo build -p bouncer -p bouncer-bench
  mkdir -p target/bench-smoke
  exec "$TARGET_DIR/debug/bouncer-bench" --server "$TARGET_DIR/debug/bouncer" \
    --out target/bench-smoke/BENCHMARKS.md "$@"
fi

say "cargo build --release of the server and the harness"
cargo build --release -p bouncer -p bouncer-bench
build_frontend release
exec "$TARGET_DIR/release/bouncer-bench" --server "$TARGET_DIR/release/bouncer" \
  --wasm target/site/pkg/bouncer_bg.wasm --out BENCHMARKS.md "$@"
