#!/usr/bin/env bash
# Fuzzes Bouncer's untrusted inputs: runs every target of fuzz/ for a bounded
# time each, starting from the committed seeds (fuzz/seeds/<target>) and the
# corpus earlier runs grew (fuzz/corpus/<target>, not committed), and prints
# one summary line per target. Exits non-zero if any target found a crash, a
# failed property, a hang or an out-of-memory; libFuzzer then writes the input
# to fuzz/artifacts/<target>/, and
#   RUSTFLAGS="--cfg erase_components" cargo fuzz run --sanitizer none <target> <that file>
# replays it on the same build (cargo-fuzz's own "Reproduce with" line lacks
# the RUSTFLAGS, and so would rebuild everything).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
#
# Stable toolchain: `--sanitizer none` keeps every flag cargo-fuzz passes
# stable (coverage instrumentation through -Cpasses and -Cllvm-args); the
# sanitizers need nightly's -Zsanitizer. The code under test forbids unsafe
# code, and the fuzz build keeps debug assertions and overflow checks on
# (fuzz/Cargo.toml), so a panic is what a bug looks like here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]  (a whole number of seconds, at least 1)" >&2
  exit 2
fi

ensure_cargo_fuzz

# cargo-fuzz sets RUSTFLAGS for its instrumentation, and a RUSTFLAGS variable
# replaces .cargo/config.toml's list; cargo-fuzz appends ours to its own, so
# the project's flag is passed here to fuzz the code exactly as it ships.
export RUSTFLAGS="--cfg erase_components"
# The fuzz build's own target directory: its flags differ from every other
# build's, so sharing one would only mix two sets of artifacts.
FUZZ_FLAGS=(--sanitizer none --target-dir "$ROOT/fuzz/target")

mapfile -t TARGETS < <(cargo fuzz list)

say "Building the fuzz targets (${TARGETS[*]})"
build_started=$SECONDS
cargo fuzz build "${FUZZ_FLAGS[@]}"
say "Built in $((SECONDS - build_started)) s"

summary=()
failed=0
for target in "${TARGETS[@]}"; do
  say "Fuzzing $target for $SECONDS_PER_TARGET s"
  corpus_dir="fuzz/corpus/$target" artifacts_dir="fuzz/artifacts/$target"
  mkdir -p "$corpus_dir" "$artifacts_dir"
  log="$artifacts_dir/last-run.log"
  before=$(find "$artifacts_dir" -type f ! -name last-run.log | wc -l)
  status=0
  # -timeout: an input that takes 10 s is a hang (they take microseconds).
  cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$corpus_dir" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  after=$(find "$artifacts_dir" -type f ! -name last-run.log | wc -l)
  crashes=$((after - before))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(find "$corpus_dir" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ] || [ -z "$executions" ]; then
    failed=1
    tail -n 60 "$log" >&2
    line="$target: FAILED (exit $status), ${executions:-?} executions, $crashes crashes; log: $log"
  else
    line="$target: $executions executions, $crashes crashes, corpus $corpus inputs"
  fi
  summary+=("$line")
  echo "$line" >&2
done

say "Fuzzing summary ($SECONDS_PER_TARGET s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
