# Shared helpers for scripts/*.sh and .ci/run. Source it; it does nothing on its own.
# Requires bash. Every function works from any directory: paths are taken from REPO_ROOT.

REPO_ROOT="${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
TOOLS_DIR="$REPO_ROOT/tools"
TOOLS_BIN="$TOOLS_DIR/node_modules/.bin"

# rustup installs cargo binaries into $CARGO_HOME/bin; non-login shells (CI, cron) often lack it.
cargo_bin_on_path() {
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    case ":$PATH:" in
    *":$bin:"*) ;;
    *) [ -d "$bin" ] && export PATH="$bin:$PATH" ;;
    esac
}

die() {
    echo "error: $*" >&2
    exit 1
}

# The wasm-bindgen version pinned in Cargo.lock. wasm-bindgen-cli must match it exactly: the
# CLI refuses (or silently mis-generates) glue for a different library version.
wasm_bindgen_lock_version() {
    local v
    v="$(awk '
        /^\[\[package\]\]/ { name = "" }
        /^name = / { name = $3 }
        /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }
    ' "$REPO_ROOT/Cargo.lock")"
    [ -n "$v" ] || die "no wasm-bindgen package in $REPO_ROOT/Cargo.lock"
    echo "$v"
}

# Version of the wasm-bindgen CLI on PATH, empty if there is none.
wasm_bindgen_cli_version() {
    command -v wasm-bindgen >/dev/null 2>&1 || return 0
    wasm-bindgen --version 2>/dev/null | awk '{ print $2 }'
}

# `npm ci` in tools/ when node_modules is missing or package-lock.json changed since the last
# install (tracked by a hash stamp inside node_modules, so `git pull` triggers a reinstall).
ensure_npm_tools() {
    command -v npm >/dev/null 2>&1 || die "npm not found (need node >= 18 and npm; Debian: apt-get install nodejs npm)"
    local stamp="$TOOLS_DIR/node_modules/.mcp-oauth-lock.sha256"
    local want
    want="$(sha256sum "$TOOLS_DIR/package-lock.json" "$TOOLS_DIR/package.json" | sha256sum | cut -d' ' -f1)"
    if [ -x "$TOOLS_BIN/wasm-opt" ] && [ -x "$TOOLS_BIN/esbuild" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "tools: npm packages up to date (tools/node_modules), skipping npm ci"
        return 0
    fi
    echo "tools: npm ci in tools/"
    (cd "$TOOLS_DIR" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
}

# `npm ci` in DIR when its node_modules is missing or its lockfile changed since the last install.
ensure_npm_ci() {
    local dir="$1"
    command -v npm >/dev/null 2>&1 || die "npm not found (need node >= 20 and npm)"
    local stamp="$dir/node_modules/.mcp-oauth-lock.sha256"
    local want
    want="$(sha256sum "$dir/package-lock.json" "$dir/package.json" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "npm: ${dir#"$REPO_ROOT"/} up to date, skipping npm ci"
        return 0
    fi
    echo "npm: npm ci in ${dir#"$REPO_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund)
    echo "$want" >"$stamp"
}

# wasm-opt feature flags matching what rustc enables for wasm32-unknown-unknown. Derived from
# `rustc --print cfg` so a rustc that turns on a new default feature keeps validating; wasm-opt
# rejects input that uses a feature it was not told about.
# The toolchain of the npm package's wasm builds (pkg/build.sh). Nightly by default: the standard
# library rebuilt for the payload's size (-Zbuild-std) with `panic = immediate-abort` (a panic
# traps at once, no message formatting; the core has no panicking paths by design), Debug impls
# and panic locations compiled out, and std's `optimize_for_size` feature: 6,900 B gzip less
# than stable (BENCHMARKS.md, "npm package size in detail"). MCP_OAUTH_WASM_TOOLCHAIN=stable
# builds with the stable toolchain and none of that (a bigger payload, said so in the log).
wasm_toolchain() { printf '%s\n' "${MCP_OAUTH_WASM_TOOLCHAIN:-nightly}"; }

# Fails, naming the command that fixes it, when the wasm toolchain cannot build the package.
check_wasm_toolchain() {
    local tc
    tc="$(wasm_toolchain)"
    rustup run "$tc" rustc --version >/dev/null 2>&1 ||
        die "the npm package's wasm builds use the $tc toolchain, which is not installed: rustup toolchain install $tc --profile minimal --component rust-src --target wasm32-unknown-unknown (or MCP_OAUTH_WASM_TOOLCHAIN=stable for a bigger payload)"
    rustup +"$tc" target list --installed | grep -qx wasm32-unknown-unknown ||
        die "the $tc toolchain has no wasm32-unknown-unknown target: rustup +$tc target add wasm32-unknown-unknown"
    if [ "$tc" != stable ]; then
        rustup +"$tc" component list --installed | grep -q '^rust-src' ||
            die "the $tc toolchain has no rust-src (needed by -Zbuild-std): rustup +$tc component add rust-src"
    fi
}

# `cargo build` of mcp-oauth-wasm for wasm32 with the wasm toolchain; extra args are passed on.
wasm_cargo_build() {
    local tc
    tc="$(wasm_toolchain)"
    if [ "$tc" = stable ]; then
        cargo +stable build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown "$@"
    else
        RUSTFLAGS="${RUSTFLAGS:-} $(wasm_nightly_rustflags)" cargo +"$tc" build -p mcp-oauth-wasm \
            --profile release-wasm --target wasm32-unknown-unknown \
            -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size "$@"
    fi
}
wasm_nightly_rustflags() {
    printf '%s\n' "-Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none"
}

wasm_opt_feature_flags() {
    local f flags=()
    # RUSTFLAGS is a space-separated flag list, split on purpose (as cargo does).
    # shellcheck disable=SC2086
    for f in $(rustc +"$(wasm_toolchain)" --print cfg --target wasm32-unknown-unknown ${RUSTFLAGS:-} 2>/dev/null |
        sed -n 's/^target_feature="\(.*\)"$/\1/p'); do
        case "$f" in # rustc name -> binaryen name where they differ
        nontrapping-fptoint) flags+=(--enable-nontrapping-float-to-int) ;;
        simd128) flags+=(--enable-simd) ;;
        atomics) flags+=(--enable-threads) ;;
        *) flags+=("--enable-$f") ;;
        esac
    done
    if [ "${#flags[@]}" -eq 0 ]; then
        # rustc >= 1.82 defaults; used if rustc could not be asked.
        flags=(--enable-bulk-memory --enable-multivalue --enable-mutable-globals
            --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext)
    fi
    printf '%s\n' "${flags[@]}" | sort -u | tr '\n' ' '
}

# Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps --manifest-path "$REPO_ROOT/Cargo.toml" |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))'
}
