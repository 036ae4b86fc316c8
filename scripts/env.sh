# Source this file (`. scripts/env.sh`) to put onair's toolchain into the current shell.
#
# Where the ordinary rustup `wasm32-unknown-unknown` target is installed this only adds the
# tool directories to PATH. Otherwise it points cargo at Debian's `rustc-web` (unpacked by
# `make setup` into $ONAIR_TOOLS, never installed system-wide) and builds the wasm std from the
# source it ships (-Zbuild-std), linking with rustup's rust-lld.

ONAIR_TOOLS="${ONAIR_TOOLS:-$HOME/.cache/onair}"
export ONAIR_TOOLS

case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) PATH="$HOME/.cargo/bin:$PATH" ;;
esac
# wasm-opt from the npm package `binaryen` (Debian's is too old for cargo-leptos).
case ":$PATH:" in
  *":$ONAIR_TOOLS/binaryen/node_modules/.bin:"*) ;;
  *) PATH="$ONAIR_TOOLS/binaryen/node_modules/.bin:$PATH" ;;
esac
export PATH

# A clean CI clone builds everything once: incremental caches would only fill its disk.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

onair_has_rustup_wasm() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown'
}

# ONAIR_RUSTC_WEB=1 forces the Debian path even where the rustup target exists (to test it).
if [ -x "$ONAIR_TOOLS/rustc-web/usr/bin/rustc" ] &&
  { [ "${ONAIR_RUSTC_WEB:-0}" = 1 ] || ! onair_has_rustup_wasm; }; then
  _web="$ONAIR_TOOLS/rustc-web"
  # rustup's rust-lld links the wasm; ask the rustup compiler, not rustc-web, for its sysroot.
  _sysroot="$(rustup run stable rustc --print sysroot 2>/dev/null || rustc --print sysroot)"
  export LD_LIBRARY_PATH="$_web/usr/lib/x86_64-linux-gnu:$_web/usr/lib/llvm-22/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export RUSTC="$_web/usr/bin/rustc"
  export RUSTC_BOOTSTRAP=1
  export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$_sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
  # Debian's clippy matches rustc-web; rustup's would reject crates built by it.
  case ":$PATH:" in
    *":$_web/usr/bin:"*) ;;
    *) export PATH="$_web/usr/bin:$PATH" ;;
  esac
  export ONAIR_TOOLCHAIN="rustc-web"
  unset _web _sysroot
else
  export ONAIR_TOOLCHAIN="rustup"
fi
