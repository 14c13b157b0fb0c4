#!/usr/bin/env bash
# Builds the npm package `mcp-oauth` into pkg/dist (browser entry), pkg/dist/dpop (browser DPoP
# entry `mcp-oauth/dpop`, feature `dpop`) and pkg/dist/node (Node entry, with the headless grants
# of feature `headless` and DPoP), each:
#   cargo +nightly build -p mcp-oauth-wasm (profile release-wasm, wasm32-unknown-unknown,
#     -Zbuild-std with panic=immediate-abort: scripts/lib.sh wasm_cargo_build)
#   → wasm-bindgen --target web (the version in Cargo.lock)
#   → wasm-opt -Os --low-memory-unused -Os from the npm package `binaryen` in tools/ (not
#     Debian's wasm-opt 108, which silently breaks wasm-bindgen output)
#   → the glue's import names shortened in the .wasm and the glue (scripts/shorten-wasm-imports.mjs)
#   → the JS host pkg/src/*.js (plain ES modules that import ./mcp_oauth_wasm.js) copied next to it
#   → esbuild --minify of all JS (the browser's bundled into dist/browser.js) → a load check in
#     Node of both entries.
# Then `cd pkg && npm pack` makes the tarball.
#
#   pkg/build.sh            build (needs nightly with rust-src and the wasm32 target,
#                           wasm-bindgen-cli, node + npm; `.ci/run` installs them;
#                           MCP_OAUTH_WASM_TOOLCHAIN=stable builds a bigger payload on stable)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cargo_bin_on_path
cd "$REPO_ROOT"

want_bg="$(wasm_bindgen_lock_version)"
have_bg="$(wasm_bindgen_cli_version)"
if [ "$have_bg" != "$want_bg" ]; then
    die "wasm-bindgen CLI ${have_bg:-missing}, Cargo.lock has $want_bg: cargo install wasm-bindgen-cli --version $want_bg"
fi
ensure_npm_tools
check_wasm_toolchain
if [ "$(wasm_toolchain)" = stable ]; then
    echo "pkg: MCP_OAUTH_WASM_TOOLCHAIN=stable: no -Zbuild-std size settings, the payload is about 7 KB gzip bigger"
else
    echo "pkg: wasm toolchain $(rustc +"$(wasm_toolchain)" --version), RUSTFLAGS $(wasm_nightly_rustflags), -Zbuild-std"
fi

target_dir="$(cargo_target_dir)"
dist="$REPO_ROOT/pkg/dist"
crate_file="mcp_oauth_wasm"

rm -rf "$dist"
read -r -a features <<<"$(wasm_opt_feature_flags)"
strip=(--strip-debug --strip-producers --strip-target-features)
# -Os gzips smaller than -Oz here (BENCHMARKS.md). --low-memory-unused (no access below address
# 1024, so constant offsets fold into loads and stores) holds for Rust's wasm32 layout: the
# stack comes first and grows down from 1 MiB towards 0, data and heap lie above it.
opt=(-Os --low-memory-unused -Os)

# One variant: cargo build (extra cargo args: the features) → wasm-bindgen into $1 → wasm-opt.
build_variant() {
    local out="$1"
    shift
    echo "pkg: cargo +$(wasm_toolchain) build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown $*"
    wasm_cargo_build "$@"
    local raw_wasm="$target_dir/wasm32-unknown-unknown/release-wasm/$crate_file.wasm"
    [ -f "$raw_wasm" ] || die "build produced no $raw_wasm"
    mkdir -p "$out"
    echo "pkg: wasm-bindgen $have_bg --target web --out-dir ${out#"$REPO_ROOT"/}"
    wasm-bindgen --target web --out-dir "$out" "$raw_wasm"
    bg_wasm="$out/${crate_file}_bg.wasm"
    [ -f "$bg_wasm" ] && [ -f "$out/$crate_file.js" ] || die "wasm-bindgen did not write $bg_wasm"
    pre_opt="$target_dir/${crate_file}_bg.pre-opt.wasm"
    cp "$bg_wasm" "$pre_opt"
    echo "pkg: wasm-opt $("$TOOLS_BIN/wasm-opt" --version | awk '{print $3}') ${opt[*]} ${strip[*]} ${features[*]}"
    "$TOOLS_BIN/wasm-opt" "${opt[@]}" "${strip[@]}" "${features[@]}" "$bg_wasm" -o "$out/opt.wasm"
    mv "$out/opt.wasm" "$bg_wasm"
    node "$REPO_ROOT/scripts/shorten-wasm-imports.mjs" "$bg_wasm" "$out/$crate_file.js"
    # The JS host (pkg/src: plain ES modules importing ./mcp_oauth_wasm.js), next to the bindings.
    local js
    for js in client.js io.js ${HOST_JS_EXTRA:-}; do
        cp "$REPO_ROOT/pkg/src/$js" "$out/$js"
    done
    # DPoP keys (pkg/src/dpop.js) where the build has DPoP (feature `dpop`), else a stand-in.
    cp "$REPO_ROOT/pkg/src/${DPOP_JS:-dpop-none.js}" "$out/dpop.js"
    [ ! -d "$out/snippets" ] || die "wasm-bindgen wrote $out/snippets: the Rust crate must import no JS"
}

# dist/node: the Node entry's build, with the headless grants (feature `headless`, default) and
# McpOAuthHeadless (pkg/src/headless.js), and DPoP (feature `dpop`, default; pkg/src/dpop.js).
HOST_JS_EXTRA=headless.js DPOP_JS=dpop.js build_variant "$dist/node"

# dist/dpop: the browser DPoP build (package export `mcp-oauth/dpop`, pkg/dpop.js): the browser
# build plus DPoP (feature `dpop`) with non-extractable WebCrypto keys kept in IndexedDB
# (pkg/src/dpop-browser.js). Opt-in, so the default browser payload stays without it.
HOST_JS_EXTRA=browser.js DPOP_JS=dpop-browser.js build_variant "$dist/dpop" --no-default-features --features dpop

# dist: the browser entry's build, without them (browsers load only what they can use; DPoP is
# left out for the payload's size, BENCHMARKS.md). Built last so that the pre-wasm-opt copy
# scripts/size.sh reports is the browser one.
HOST_JS_EXTRA=browser.js build_variant "$dist" --no-default-features

# Minify the JS (the wasm-bindgen glue and the JS host) with esbuild; the readable sources are
# pkg/src/*.js in the repository. The browser's is bundled into one module, dist/browser.js.
echo "pkg: esbuild $("$TOOLS_BIN/esbuild" --version) --minify (glue and pkg/src; browser: --bundle)"
"$TOOLS_BIN/esbuild" --bundle --minify --format=esm --log-level=warning "$dist/browser.js" \
    --outfile="$dist/browser.js" --allow-overwrite
rm "$dist/client.js" "$dist/io.js" "$dist/dpop.js" "$dist/$crate_file.js"
"$TOOLS_BIN/esbuild" --bundle --minify --format=esm --log-level=warning "$dist/dpop/browser.js" \
    --outfile="$dist/dpop/browser.js" --allow-overwrite
rm "$dist/dpop/client.js" "$dist/dpop/io.js" "$dist/dpop/dpop.js" "$dist/dpop/$crate_file.js"
# mcp-oauth/callback: the popup's callback page, without the wasm or the client.
"$TOOLS_BIN/esbuild" --bundle --minify --format=esm --log-level=warning "$REPO_ROOT/pkg/src/callback.js" \
    --outfile="$dist/callback.js"
while IFS= read -r f; do
    "$TOOLS_BIN/esbuild" --minify --format=esm --log-level=warning "$f" --outfile="$f" --allow-overwrite
done < <(find "$dist/node" -name '*.js')

# The licences, into the tarball (package.json `files`).
cp "$REPO_ROOT/LICENSE-MIT" "$REPO_ROOT/LICENSE-APACHE" "$REPO_ROOT/pkg/"

echo "pkg: load check in node $(node --version)"
node --input-type=module -e "
import { readFileSync } from 'node:fs';
// The browser entry fetches its .wasm: serve file URLs to it.
const realFetch = globalThis.fetch;
let fetched = 0;
globalThis.fetch = async (u) => { fetched += 1; return new Response(readFileSync(new URL(u)), { headers: { 'content-type': 'application/wasm' } }); };
const b = await import('$REPO_ROOT/pkg/index.js');
const d = await import('$REPO_ROOT/pkg/dpop.js');
// No top-level await: importing fetches nothing; the wasm loads on McpOAuth.ready() (or create).
if (fetched !== 0) { console.error('pkg: FAIL: importing a browser entry fetched ' + fetched + ' file(s)'); process.exit(1); }
await b.McpOAuth.ready();
await d.McpOAuth.ready();
if (fetched !== 2) { console.error('pkg: FAIL: McpOAuth.ready() fetched ' + fetched + ' file(s), expected one per entry'); process.exit(1); }
globalThis.fetch = realFetch;
for (const name of ['McpOAuth', 'McpOAuthError', 'Flow', 'parseBearerChallenge']) {
  if (typeof b[name] !== 'function') { console.error('pkg: FAIL: browser export ' + name + ' missing'); process.exit(1); }
  if (typeof d[name] !== 'function') { console.error('pkg: FAIL: browser DPoP export ' + name + ' missing'); process.exit(1); }
}
if (typeof d.assembleDpopProof !== 'function' || 'assembleDpopProof' in b) { console.error('pkg: FAIL: DPoP belongs in the browser DPoP build only'); process.exit(1); }
const m = await import('$REPO_ROOT/pkg/node.js');
for (const name of ['McpOAuth', 'McpOAuthError', 'McpOAuthHeadless', 'Flow', 'parseBearerChallenge', 'HeadlessFlow', 'clientAssertionClaims']) {
  if (typeof m[name] !== 'function') { console.error('pkg: FAIL: export ' + name + ' missing'); process.exit(1); }
}
console.log('pkg: load check ok (browser entry: ' + Object.keys(b).length + ' exports, browser DPoP entry: ' + Object.keys(d).length + ', Node entry: ' + Object.keys(m).length + ')');
"
echo "pkg: built pkg/dist ($(du -sb "$dist" | cut -f1) bytes)"
