# Shared helpers for Bouncer's scripts. Sourced, not run.
# Every install step checks first, so running a script twice installs nothing twice.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (a shared cache),
# else target/ here. The browser bundle stays in $ROOT/target/site either way.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WASM_BINDGEN_VERSION="0.2.130"  # must equal the `=0.2.130` pin in Cargo.toml
BINARYEN_VERSION="132"          # wasm-opt from npm; Debian's binaryen 108 breaks the wasm
CARGO_FUZZ_VERSION="0.13.2"     # runs on stable with --sanitizer none (scripts/fuzz.sh)
WASM_SPLIT_VERSION="0.2.3"      # wasm-split-cli; pairs with leptos' wasm_split_helpers 0.2
export PATH="$HOME/.cargo/bin:$ROOT/.tools/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt-get update once per script run, only when something must be installed.
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    apt-get update -q >/dev/null
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# Whether the PostgreSQL server in a postgres:// URL accepts TCP connections.
postgres_answers() {
  local rest=${1#*://}
  rest=${rest#*@}
  rest=${rest%%/*}
  local host=${rest%%:*} port=5432
  [ "$rest" != "$host" ] && port=${rest##*:}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

ensure_wasm_toolchain() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "Installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
    # Without --locked on purpose: its lock file wants a crate the registry lacks.
    say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_wasm_split() {
  if ! [ -x "$HOME/.cargo/bin/wasm-split-cli" ] \
    || ! grep -qs "^$WASM_SPLIT_VERSION\$" "$HOME/.cargo/wasm-split-cli.version"; then
    say "Installing wasm-split-cli $WASM_SPLIT_VERSION (about 2 minutes, once)"
    cargo install wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --locked \
      --features build-binary --force
    echo "$WASM_SPLIT_VERSION" > "$HOME/.cargo/wasm-split-cli.version"
  fi
}

ensure_cargo_fuzz() {
  if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    say "Installing cargo-fuzz $CARGO_FUZZ_VERSION (about 2 minutes, once)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
  fi
}

ensure_wasm_opt() {
  if ! "$ROOT/.tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
    say "Installing binaryen@$BINARYEN_VERSION (wasm-opt) from npm"
    mkdir -p "$ROOT/.tools"
    (cd "$ROOT/.tools" && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" >/dev/null)
  fi
}

ensure_browser_test_deps() {
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  if [ ! -d "$ROOT/end2end/node_modules/playwright-core" ] || [ ! -d "$ROOT/end2end/node_modules/axe-core" ]; then
    say "Installing the browser test packages (playwright-core, axe-core; no browser download)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --silent)
  fi
}

# The webhook receiver of the tests and benchmarks (tests/webhook-receiver):
# Node.js and the Standard Webhooks reference library from npm, at the
# version its lock file pins.
ensure_webhook_receiver() {
  if ! command -v node >/dev/null; then
    apt_install nodejs npm
  fi
  if [ ! -f "$ROOT/tests/webhook-receiver/node_modules/standardwebhooks/package.json" ]; then
    say "Installing the webhook receiver's packages (standardwebhooks)"
    (cd "$ROOT/tests/webhook-receiver" && npm ci --no-audit --no-fund --silent)
  fi
}

# Installs Debian packages that ship a system service the tests must never
# have running: each test starts its own instance on a loopback port. Without
# systemd a service's start would fail the install, and with it, it would
# take a port. A policy-rc.d that refuses every service start (exit 101, see
# invoke-rc.d(8)) is put in place for the install when the machine has none,
# and removed after it.
apt_install_without_services() {
  local guard=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\n# Bouncer scripts/lib.sh: no service starts while packages install.\nexit 101\n' > "$guard"
    chmod 755 "$guard"
    added=1
  fi
  local status=0
  apt_install "$@" || status=$?
  if [ -n "$added" ]; then
    rm -f "$guard"
  fi
  return "$status"
}

# Debian's nginx, for the browser tests' one-origin proxy
# (end2end/tests/support/nginx.mjs).
NGINX_BIN="/usr/sbin/nginx"
ensure_nginx() {
  if [ ! -x "$NGINX_BIN" ]; then
    apt_install_without_services nginx
  fi
}

# Debian's Caddy, for the forward-authentication test of docs/INTEGRATION.md's
# Caddyfile (end2end/tests/support/caddy.mjs).
CADDY_BIN="/usr/bin/caddy"
ensure_caddy() {
  if [ ! -x "$CADDY_BIN" ]; then
    apt_install_without_services caddy
  fi
}

# Builds the hydrate bundle into target/site/pkg: debug or release.
# The lazy routes (`app::App`) are split out of the main module by
# wasm-split-cli, from the linker's relocations (.cargo/config.toml): the main
# module bouncer_bg.wasm, a chunk per lazy page plus chunks shared by several,
# and __wasm_split.js, which bouncer.js imports to fetch them on demand.
build_frontend() {
  local mode="$1" profile_dir cargo_profile
  ensure_wasm_toolchain
  ensure_wasm_split
  if [ "$mode" = release ]; then
    cargo_profile=(--profile wasm-release)
    profile_dir=wasm-release
  else
    cargo_profile=()
    profile_dir=debug
  fi
  say "Building the browser bundle ($mode)"
  (cd "$ROOT" && cargo build -p frontend --target wasm32-unknown-unknown "${cargo_profile[@]}")
  local out="$ROOT/target/site/pkg"
  local split="$TARGET_DIR/wasm-split/$profile_dir"
  rm -rf "$split"
  mkdir -p "$out" "$split"
  rm -f "$out"/*.wasm "$out"/*.js
  say "Splitting the lazy routes out of the wasm"
  wasm-split-cli --target web --out-name bouncer \
    "$TARGET_DIR/wasm32-unknown-unknown/$profile_dir/frontend.wasm" "$split"
  # --keep-lld-exports: the chunks link to the main module's functions.
  wasm-bindgen --target web --no-typescript --keep-lld-exports --out-dir "$out" --out-name bouncer \
    "$split/bouncer.wasm"
  find "$split" -maxdepth 1 -type f ! -name bouncer.wasm -exec cp {} "$out" \;
  if [ "$mode" = release ]; then
    ensure_wasm_opt
    say "Optimising the wasm (wasm-opt -Oz --converge)"
    # --converge repeats -Oz until the module stops shrinking (about 20 s more);
    # the producers and target-features sections are metadata no browser reads.
    local wasm
    for wasm in "$out"/*.wasm; do
      wasm-opt -Oz --converge --strip-producers --strip-target-features \
        --enable-bulk-memory --enable-nontrapping-float-to-int \
        -o "$wasm" "$wasm" 2> >(grep -v "unknown name subsection" >&2)
    done
  fi
  # Records which build is in the site, so release is never served with debug wasm.
  echo "$mode" > "$out/BUILD"
}
