#!/usr/bin/env bash
# Runs the benchmarks and writes BENCHMARKS.md (plus its charts and
# benchmarks-data.json, which keeps every benchmark's latest figures).
#
#   scripts/bench.sh                 every benchmark, full scale, release builds (~30 minutes)
#   scripts/bench.sh --only chaos    one benchmark (push, end-user, throughput, two-nodes,
#                                    wasm, chaos, soak, login-flood, hostile, idle,
#                                    forward-auth, webhooks, webhook-nodes); the report
#                                    keeps the others' figures. --only may be repeated.
#   scripts/bench.sh --only soak --soak-minutes 30
#   scripts/bench.sh --smoke         small numbers on debug builds, report under
#                                    target/bench-smoke/ (CI runs this so the harness keeps
#                                    working; a lost or spurious ending fails it)
#
# The two-node and chaos benchmarks use the PostgreSQL at TEST_DATABASE_URL
# (default: the local server); without one they are skipped with a notice,
# except in CI (CI set), where that fails.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# 15,000 tabs need as many sockets in the server and in the load generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

smoke=false
only=()
previous=""
for arg in "$@"; do
  [ "$arg" = --smoke ] && smoke=true
  [ "$previous" = --only ] && only+=("$arg")
  case "$arg" in --only=*) only+=("${arg#--only=}") ;; esac
  previous="$arg"
done

# The webhook benchmarks' receiver (Node.js and the Standard Webhooks library).
ensure_webhook_receiver

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
# The wasm bundle (a slow release build) only when its size is measured.
wasm=()
if [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" wasm "* ]]; then
  build_frontend release
  wasm=(--wasm target/site/pkg/bouncer_bg.wasm)
fi
exec "$TARGET_DIR/release/bouncer-bench" --server "$TARGET_DIR/release/bouncer" \
  "${wasm[@]}" --out BENCHMARKS.md "$@"
