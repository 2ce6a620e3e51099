#!/usr/bin/env bash
# Takes the README's screenshots from the real app: builds it (release by
# default, `debug` as the first argument for a quicker build), then drives
# Debian's Chromium with playwright-core through scripts/screenshots.mjs,
# which starts `bouncer serve --demo` on fresh databases and writes PNGs at
# 375 and 1280 px wide into docs/screenshots/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
mode="${1:-release}"
case "$mode" in
  release) bin="$TARGET_DIR/release/bouncer"; cargo_flags=(--release) ;;
  debug) bin="$TARGET_DIR/debug/bouncer"; cargo_flags=() ;;
  *) echo "usage: scripts/screenshots.sh [release|debug]" >&2; exit 2 ;;
esac
build_frontend "$mode"
say "Building the server ($mode)"
cargo build "${cargo_flags[@]}" -p bouncer
ensure_browser_test_deps
say "Taking the screenshots"
BOUNCER_BIN="$bin" BOUNCER_SITE_ROOT="$ROOT/target/site" node scripts/screenshots.mjs "$ROOT/docs/screenshots"
