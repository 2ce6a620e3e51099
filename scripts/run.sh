#!/usr/bin/env bash
# Builds Bouncer (release) and runs it on the embedded SQLite default with demo
# accounts. Installs what is missing first. Extra arguments go to `bouncer serve`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
build_frontend release
say "Building the server (release)"
cargo build --release -p bouncer
exec "$TARGET_DIR/release/bouncer" serve --demo "$@"
