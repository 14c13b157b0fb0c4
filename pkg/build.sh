#!/usr/bin/env bash
# Builds the npm package `mcp-oauth` into pkg/dist (browser entry) and pkg/dist/node (Node entry,
# with the headless grants of feature `headless`), each:
#   cargo build -p mcp-oauth-wasm (profile release-wasm, wasm32-unknown-unknown)
#   → wasm-bindgen --target web (the version in Cargo.lock)
#   → wasm-opt -Oz from the npm package `binaryen` in tools/ (not Debian's wasm-opt 108, which
#     silently breaks wasm-bindgen output)
#   → a load check in Node.
# Then `cd pkg && npm pack` makes the tarball.
#
#   pkg/build.sh            build (needs the wasm32 target, wasm-bindgen-cli, node + npm;
#                           `.ci/run` installs them)
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

target_dir="$(cargo_target_dir)"
dist="$REPO_ROOT/pkg/dist"
crate_file="mcp_oauth_wasm"

rm -rf "$dist"
read -r -a features <<<"$(wasm_opt_feature_flags)"
strip=(--strip-debug --strip-producers --strip-target-features)

# One variant: cargo build (extra cargo args: the features) → wasm-bindgen into $1 → wasm-opt.
build_variant() {
    local out="$1"
    shift
    echo "pkg: cargo build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown $*"
    cargo build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown "$@"
    local raw_wasm="$target_dir/wasm32-unknown-unknown/release-wasm/$crate_file.wasm"
    [ -f "$raw_wasm" ] || die "build produced no $raw_wasm"
    mkdir -p "$out"
    echo "pkg: wasm-bindgen $have_bg --target web --out-dir ${out#"$REPO_ROOT"/}"
    wasm-bindgen --target web --out-dir "$out" "$raw_wasm"
    bg_wasm="$out/${crate_file}_bg.wasm"
    [ -f "$bg_wasm" ] && [ -f "$out/$crate_file.js" ] || die "wasm-bindgen did not write $bg_wasm"
    pre_opt="$target_dir/${crate_file}_bg.pre-opt.wasm"
    cp "$bg_wasm" "$pre_opt"
    echo "pkg: wasm-opt $("$TOOLS_BIN/wasm-opt" --version | awk '{print $3}') -Oz ${strip[*]} ${features[*]}"
    "$TOOLS_BIN/wasm-opt" -Oz "${strip[@]}" "${features[@]}" "$bg_wasm" -o "$out/opt.wasm"
    mv "$out/opt.wasm" "$bg_wasm"
    # McpOAuth and McpOAuthError live in the JS snippets, whose directory name carries a hash:
    # the variant's client.js re-exports them from a fixed path.
    snippet="$(cd "$out" && find snippets -name client.js | head -n 1)"
    [ -n "$snippet" ] || die "wasm-bindgen wrote no snippets/*/js/client.js"
    printf "export { McpOAuth, McpOAuthError } from './%s';\n" "$snippet" >"$out/client.js"
}

# dist/node: the Node entry's build, with the headless grants (feature `headless`, default).
# McpOAuthHeadless (js/headless.js) imports nothing from Rust, so wasm-bindgen does not copy it:
# it goes next to the other snippets (it imports ./io.js) and gets the step functions here.
build_variant "$dist/node"
headless="$(dirname "$snippet")/headless.js"
cp "$REPO_ROOT/wasm/js/headless.js" "$dist/node/$headless"
cat >>"$dist/node/client.js" <<EOF
import * as steps from './$crate_file.js';
import { McpOAuthHeadless, useSteps } from './$headless';
useSteps(steps);
export { McpOAuthHeadless };
EOF

# dist: the browser entry's build, without them (browsers load only what they can use). Built
# last so that the pre-wasm-opt copy scripts/size.sh reports is the browser one.
build_variant "$dist" --no-default-features

# Minify the JS (the wasm-bindgen glue and our snippets) with esbuild; the readable sources are
# wasm/js/*.js in the repository.
echo "pkg: esbuild $("$TOOLS_BIN/esbuild" --version) --minify (glue and snippets)"
while IFS= read -r f; do
    "$TOOLS_BIN/esbuild" --minify --format=esm --log-level=warning "$f" --outfile="$f" --allow-overwrite
done < <(find "$dist" -name '*.js')

echo "pkg: load check in node $(node --version)"
node --input-type=module -e "
const m = await import('$REPO_ROOT/pkg/node.js');
for (const name of ['McpOAuth', 'McpOAuthError', 'McpOAuthHeadless', 'Flow', 'parseBearerChallenge', 'HeadlessFlow', 'clientAssertionClaims']) {
  if (typeof m[name] !== 'function') { console.error('pkg: FAIL: export ' + name + ' missing'); process.exit(1); }
}
console.log('pkg: load check ok (' + Object.keys(m).length + ' exports)');
"
echo "pkg: built pkg/dist ($(du -sb "$dist" | cut -f1) bytes)"
