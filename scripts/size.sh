#!/usr/bin/env bash
# Size of the browser bundle: mcp-oauth-wasm built with the `release-wasm` profile, run through
# wasm-bindgen (--target web) and wasm-opt -Oz, load-checked in Node, then measured raw and
# gzip -9. Writes <target>/size/size.json.
#
#   scripts/size.sh [--budget-gzip BYTES]
#
# --budget-gzip BYTES  exit 1 when the total gzip size (wasm + JS glue) exceeds BYTES.
#
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli at the Cargo.lock version
# (`cargo install wasm-bindgen-cli --version <ver>`), node + npm (wasm-opt comes from the
# pinned npm package in tools/; `npm ci` runs here when needed). `.ci/run` installs all of it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_bin_on_path
cd "$REPO_ROOT"

budget=""
while [ $# -gt 0 ]; do
    case "$1" in
    --budget-gzip)
        [ $# -ge 2 ] || die "--budget-gzip needs a value (bytes)"
        budget="$2"
        shift 2
        ;;
    --budget-gzip=*)
        budget="${1#*=}"
        shift
        ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
if [ -n "$budget" ] && ! [[ "$budget" =~ ^[0-9]+$ ]]; then
    die "--budget-gzip wants a whole number of bytes, got '$budget'"
fi

command -v node >/dev/null 2>&1 || die "node not found (needed for wasm-opt and the load check)"
want_bg="$(wasm_bindgen_lock_version)"
have_bg="$(wasm_bindgen_cli_version)"
if [ "$have_bg" != "$want_bg" ]; then
    die "wasm-bindgen CLI ${have_bg:-missing}, Cargo.lock has $want_bg: cargo install wasm-bindgen-cli --version $want_bg"
fi
ensure_npm_tools

target_dir="$(cargo_target_dir)"
out="$target_dir/size"
pkg="$out/pkg"
crate_file="mcp_oauth_wasm"

echo "size: cargo build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown"
cargo build -p mcp-oauth-wasm --profile release-wasm --target wasm32-unknown-unknown
raw_wasm="$target_dir/wasm32-unknown-unknown/release-wasm/$crate_file.wasm"
[ -f "$raw_wasm" ] || die "build produced no $raw_wasm"

rm -rf "$pkg"
mkdir -p "$pkg"
echo "size: wasm-bindgen $have_bg --target web --out-dir ${pkg#"$REPO_ROOT"/}"
wasm-bindgen --target web --out-dir "$pkg" "$raw_wasm"
bg_wasm="$pkg/${crate_file}_bg.wasm"
glue="$pkg/$crate_file.js"
[ -f "$bg_wasm" ] && [ -f "$glue" ] || die "wasm-bindgen did not write $bg_wasm and $glue"

# Keep the unoptimised module for comparison; the optimised one replaces it in pkg/.
cp "$bg_wasm" "$out/${crate_file}_bg.pre-opt.wasm"
read -r -a features <<<"$(wasm_opt_feature_flags)"
# Custom sections only tools read (wasm-bindgen has run already): not part of what ships.
strip=(--strip-debug --strip-producers --strip-target-features)
echo "size: wasm-opt $("$TOOLS_BIN/wasm-opt" --version | awk '{print $3}') -Oz ${strip[*]} ${features[*]}"
"$TOOLS_BIN/wasm-opt" -Oz "${strip[@]}" "${features[@]}" "$bg_wasm" -o "$out/opt.wasm"
mv "$out/opt.wasm" "$bg_wasm"

# The --target web glue is an ES module in a .js file; tell Node so.
echo '{ "type": "module" }' >"$pkg/package.json"
echo "size: load check in node $(node --version)"
node "$REPO_ROOT/scripts/wasm-load-check.mjs" "$glue" "$bg_wasm"

gz() { gzip -9 -n -c "$1" | wc -c | tr -d ' '; }
pre_raw=$(wc -c <"$out/${crate_file}_bg.pre-opt.wasm" | tr -d ' ')
wasm_raw=$(wc -c <"$bg_wasm" | tr -d ' ')
wasm_gz=$(gz "$bg_wasm")
js_raw=$(wc -c <"$glue" | tr -d ' ')
js_gz=$(gz "$glue")
total_raw=$((wasm_raw + js_raw))
total_gz=$((wasm_gz + js_gz))

echo
printf '%-32s %10s %10s\n' "mcp-oauth-wasm (release-wasm)" "raw B" "gzip -9 B"
printf '%-32s %10s %10s\n' "--------------------------------" "----------" "----------"
printf '%-32s %10d %10d\n' "${crate_file}_bg.wasm (wasm-opt)" "$wasm_raw" "$wasm_gz"
printf '%-32s %10d %10d\n' "$crate_file.js (glue)" "$js_raw" "$js_gz"
printf '%-32s %10d %10d\n' "total" "$total_raw" "$total_gz"
echo "(before wasm-opt: $pre_raw B wasm)"

cat >"$out/size.json" <<EOF
{
  "crate": "mcp-oauth-wasm",
  "profile": "release-wasm",
  "wasm_bindgen": "$have_bg",
  "wasm_opt_level": "-Oz",
  "wasm": { "raw": $wasm_raw, "gzip": $wasm_gz, "raw_before_wasm_opt": $pre_raw },
  "js_glue": { "raw": $js_raw, "gzip": $js_gz },
  "total": { "raw": $total_raw, "gzip": $total_gz },
  "budget_gzip": ${budget:-null}
}
EOF
echo "size: wrote ${out#"$REPO_ROOT"/}/size.json"

if [ -n "$budget" ]; then
    if [ "$total_gz" -gt "$budget" ]; then
        echo "size: FAIL: total gzip $total_gz B exceeds the budget of $budget B by $((total_gz - budget)) B" >&2
        exit 1
    fi
    echo "size: total gzip $total_gz B is within the budget of $budget B ($((budget - total_gz)) B to spare)"
fi
