#!/usr/bin/env bash
# Idempotent install of everything onair needs to build, run and test.
# Each step says what it does; a step whose result is already there is skipped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# shellcheck source=scripts/env.sh
. scripts/env.sh

CARGO_LEPTOS_VERSION="0.3.11"
BINARYEN_VERSION="132.0.0"
RUSTC_WEB_VERSION="1.96.0+dfsg1-1~deb12u2"
LLVM_VERSION="1:22.1.8-1~deb12u1"
AIORTC_VERSION="1.16.0"
AIOHTTP_VERSION="3.14.5"
PROMETHEUS_CLIENT_VERSION="0.26.0"

step() { printf '\n==> %s\n' "$*"; }
skip() { printf '    already there: %s\n' "$*"; }
fail() {
  printf '\nsetup failed: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf 'what to do: %s\n' "$2" >&2
  exit 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -q || fail "apt-get update failed" "check that Debian's package mirror is reachable"
    apt_updated=1
  fi
}

command -v cargo >/dev/null || fail "cargo is not installed" "install Rust with rustup (https://rustup.rs)"
command -v npm >/dev/null || fail "node/npm is not installed" "install Node.js 20 or newer (Debian: apt-get install nodejs npm)"

# --- 1. A compiler that can build wasm32-unknown-unknown ---------------------------------
# Debian's rustc-web (1.96) is unpacked into $ONAIR_TOOLS, not installed: it builds the wasm std
# from source where the rustup target cannot be downloaded, and it compiles cargo-leptos, whose
# locked dependencies need rustc >= 1.96.
fetch_rustc_web() {
  if [ -x "$ONAIR_TOOLS/rustc-web/usr/bin/rustc" ]; then
    skip "Debian rustc-web in $ONAIR_TOOLS/rustc-web"
    return
  fi
  echo "    downloading Debian's rustc-web $RUSTC_WEB_VERSION into $ONAIR_TOOLS/rustc-web"
  apt_update_once
  local debs="$ONAIR_TOOLS/debs" deb
  rm -rf "$debs" "$ONAIR_TOOLS/rustc-web.tmp"
  mkdir -p "$debs" "$ONAIR_TOOLS/rustc-web.tmp"
  (cd "$debs" && apt-get download -q \
    "rustc-web=$RUSTC_WEB_VERSION" "libstd-rust-web-1.96=$RUSTC_WEB_VERSION" \
    "libstd-rust-web-dev=$RUSTC_WEB_VERSION" "rust-web-src=$RUSTC_WEB_VERSION" \
    "rust-web-clippy=$RUSTC_WEB_VERSION" "libllvm22=$LLVM_VERSION") ||
    fail "could not download rustc-web from Debian" \
      "enable Debian's bookworm-security suite in apt sources (it serves rustc-web $RUSTC_WEB_VERSION)"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$ONAIR_TOOLS/rustc-web.tmp"; done
  mv "$ONAIR_TOOLS/rustc-web.tmp" "$ONAIR_TOOLS/rustc-web"
  rm -rf "$debs"
}

rustc_web_env() {
  local web="$ONAIR_TOOLS/rustc-web"
  env LD_LIBRARY_PATH="$web/usr/lib/x86_64-linux-gnu:$web/usr/lib/llvm-22/lib" \
    RUSTC="$web/usr/bin/rustc" RUSTC_BOOTSTRAP=1 "$@"
}

step "Rust toolchain for wasm32-unknown-unknown"
fetch_rustc_web
rustc_web_env "$ONAIR_TOOLS/rustc-web/usr/bin/rustc" --version >/dev/null ||
  fail "the unpacked rustc-web does not run" "delete $ONAIR_TOOLS/rustc-web and run make setup again"
if onair_has_rustup_wasm; then
  skip "rustup target wasm32-unknown-unknown"
else
  echo "    trying: rustup target add wasm32-unknown-unknown (20 s limit; it needs the internet)"
  if timeout 20 rustup target add wasm32-unknown-unknown >/dev/null 2>&1 && onair_has_rustup_wasm; then
    echo "    installed the rustup target"
  else
    echo "    no download; the build uses rustc-web with -Zbuild-std instead"
  fi
fi
. scripts/env.sh
echo "    the build uses: $ONAIR_TOOLCHAIN ($(${RUSTC:-rustc} --version))"

# --- 2. cargo-leptos -----------------------------------------------------------------------
step "cargo-leptos $CARGO_LEPTOS_VERSION"
if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  skip "cargo-leptos $CARGO_LEPTOS_VERSION"
else
  echo "    compiling it once (about 15-20 minutes on 2 cores)"
  rustc_web_env cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads ||
    fail "cargo install cargo-leptos failed" "it needs rustc >= 1.96 (see step 1) and crates.io"
fi

# --- 3. wasm-bindgen-cli, the exact version of the wasm-bindgen crate in Cargo.lock ---------
wb_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)"
[ -n "$wb_version" ] || fail "no wasm-bindgen version found in Cargo.lock" "run cargo generate-lockfile"
step "wasm-bindgen-cli $wb_version"
if wasm-bindgen --version 2>/dev/null | grep -q " $wb_version\$"; then
  skip "wasm-bindgen $wb_version"
else
  # Not --locked: its lockfile names a crate version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$wb_version" --force ||
    fail "cargo install wasm-bindgen-cli $wb_version failed" "check that crates.io is reachable"
fi

# --- 4. wasm-opt (npm binaryen) --------------------------------------------------------------
step "wasm-opt (npm binaryen $BINARYEN_VERSION)"
if [ -x "$ONAIR_TOOLS/binaryen/node_modules/.bin/wasm-opt" ]; then
  skip "wasm-opt $("$ONAIR_TOOLS/binaryen/node_modules/.bin/wasm-opt" --version)"
else
  mkdir -p "$ONAIR_TOOLS/binaryen"
  npm install --prefix "$ONAIR_TOOLS/binaryen" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" ||
    fail "npm install binaryen failed" "check that the npm registry is reachable"
fi

# --- 5. Chromium for the browser tests --------------------------------------------------------
step "Chromium"
if [ -n "${ONAIR_CHROMIUM:-}" ] && [ -x "$ONAIR_CHROMIUM" ]; then
  skip "$ONAIR_CHROMIUM (ONAIR_CHROMIUM)"
elif command -v chromium >/dev/null 2>&1; then
  skip "$(command -v chromium)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core ||
    fail "apt-get install chromium failed" "install Chromium and set ONAIR_CHROMIUM to its path"
else
  fail "no Chromium found" "install Chromium and set ONAIR_CHROMIUM to its path"
fi

# --- 6. Playwright (npm, no browser download) -------------------------------------------------
step "Playwright test runner (end2end/)"
if [ -d end2end/node_modules/@playwright/test ] && [ end2end/node_modules/.package-lock.json -nt end2end/package-lock.json ]; then
  skip "end2end/node_modules"
else
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) ||
    fail "npm ci in end2end/ failed" "check that the npm registry is reachable"
fi

# --- 7. Interop clients from PyPI, in a venv of our own -------------------------------------
# aiortc (WHIP/WHEP), and prometheus_client's parser that reads /metrics.
step "aiortc $AIORTC_VERSION, prometheus_client $PROMETHEUS_CLIENT_VERSION (interop tests)"
venv="$ONAIR_TOOLS/interop-venv"
if "$venv/bin/python" -c "
import sys, importlib.metadata as m, aiortc, aiohttp, prometheus_client
sys.exit(aiortc.__version__ != '$AIORTC_VERSION' or m.version('prometheus_client') != '$PROMETHEUS_CLIENT_VERSION')
" 2>/dev/null; then
  skip "$venv"
else
  command -v python3 >/dev/null || fail "python3 is not installed" "install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)"
  # Debian ships the venv module apart (python3-venv).
  if ! python3 -m venv "$venv" 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv ||
      fail "apt-get install python3-venv failed" "install Python's venv module"
    rm -rf "$venv"
  fi
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" ||
    fail "python3 -m venv failed" "install the venv module (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install -q "aiortc==$AIORTC_VERSION" "aiohttp==$AIOHTTP_VERSION" \
    "prometheus_client==$PROMETHEUS_CLIENT_VERSION" ||
    fail "pip install of the interop clients failed" "check that PyPI is reachable"
fi

# --- 8. Firefox ESR (Debian), for the Firefox tests (puppeteer-core drives it, no driver) -------
step "Firefox ESR (Firefox tests)"
if [ -n "${ONAIR_FIREFOX:-}" ] && [ -x "$ONAIR_FIREFOX" ]; then
  skip "ONAIR_FIREFOX=$ONAIR_FIREFOX"
elif command -v firefox-esr >/dev/null 2>&1; then
  skip "$(command -v firefox-esr)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends firefox-esr ||
    fail "apt-get install firefox-esr failed" "install Firefox ESR, or set ONAIR_FIREFOX to a Firefox binary"
else
  fail "no Firefox found" "install Firefox ESR and set ONAIR_FIREFOX to its path"
fi

# --- 9. ffprobe/ffmpeg (Debian), which check the recordings in the tests ------------------------
step "ffmpeg (recording tests)"
if command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1; then
  skip "$(command -v ffprobe)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ffmpeg ||
    fail "apt-get install ffmpeg failed" "install ffmpeg (it provides ffprobe)"
else
  fail "no ffprobe found" "install ffmpeg"
fi

# --- 10. Redis (Debian), which the several-node tests share rooms through ---------------------
step "Redis (several-node tests)"
if command -v redis-server >/dev/null 2>&1; then
  skip "$(command -v redis-server)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update_once
  # The tests start redis-server on ports of their own; the package's service is not needed.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server ||
    fail "apt-get install redis-server failed" "install Redis 6 or newer (redis-server on PATH)"
else
  fail "no redis-server found" "install Redis 6 or newer (redis-server on PATH)"
fi

# --- 11. nginx (Debian): the load balancer in front of several nodes in the tests ------------
step "nginx (several-node tests)"
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  skip "$(command -v nginx || echo /usr/sbin/nginx)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update_once
  # The tests run nginx with a configuration of their own; the package's service is not needed.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx ||
    fail "apt-get install nginx failed" "install nginx (on PATH, or /usr/sbin/nginx)"
else
  fail "no nginx found" "install nginx"
fi

step "setup complete ($ONAIR_TOOLCHAIN toolchain)"
