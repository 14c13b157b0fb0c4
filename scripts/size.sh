#!/usr/bin/env bash
# Size of the npm package's browser payload: pkg/build.sh (mcp-oauth-wasm with the `release-wasm`
# profile -> wasm-bindgen --target web -> wasm-opt -Os --low-memory-unused -Os -> esbuild bundle
# of the glue and the JS host, load-checked in Node), then every file a browser loads (the .wasm,
# dist/browser.js and the entry) measured raw and gzip -9. Writes <target>/size/size.json.
#
#   scripts/size.sh [--budget-gzip BYTES] [--budget-gzip-dpop BYTES]
#
# --budget-gzip BYTES       exit 1 when the total gzip size (wasm + JS glue) exceeds BYTES.
# --budget-gzip-dpop BYTES  the same for the opt-in browser DPoP entry (`mcp-oauth/dpop`:
#                           dist/dpop and pkg/dpop.js), reported on its own after the default.
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
budget_dpop=""
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
    --budget-gzip-dpop)
        [ $# -ge 2 ] || die "--budget-gzip-dpop needs a value (bytes)"
        budget_dpop="$2"
        shift 2
        ;;
    --budget-gzip-dpop=*)
        budget_dpop="${1#*=}"
        shift
        ;;
    -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
if [ -n "$budget" ] && ! [[ "$budget" =~ ^[0-9]+$ ]]; then
    die "--budget-gzip wants a whole number of bytes, got '$budget'"
fi
if [ -n "$budget_dpop" ] && ! [[ "$budget_dpop" =~ ^[0-9]+$ ]]; then
    die "--budget-gzip-dpop wants a whole number of bytes, got '$budget_dpop'"
fi

bash "$REPO_ROOT/pkg/build.sh"

target_dir="$(cargo_target_dir)"
out="$target_dir/size"
mkdir -p "$out"
dist="$REPO_ROOT/pkg/dist"
pre_raw=$(wc -c <"$target_dir/mcp_oauth_wasm_bg.pre-opt.wasm" | tr -d ' ')

gz() { gzip -9 -n -c "$1" | wc -c | tr -d ' '; }
total_raw=0
total_gz=0
wasm_raw=0
wasm_gz=0
files=("$dist/mcp_oauth_wasm_bg.wasm" "$dist/browser.js" "$REPO_ROOT/pkg/index.js")
echo
printf '%-44s %10s %10s\n' "npm package mcp-oauth (browser payload)" "raw B" "gzip -9 B"
printf '%-44s %10s %10s\n' "--------------------------------------------" "----------" "----------"
for f in "${files[@]}"; do
    [ -f "$f" ] || die "missing $f"
    r=$(wc -c <"$f" | tr -d ' ')
    g=$(gz "$f")
    total_raw=$((total_raw + r))
    total_gz=$((total_gz + g))
    case "$f" in *.wasm) wasm_raw=$r wasm_gz=$g ;; esac
    name="${f#"$REPO_ROOT"/pkg/}"
    printf '%-44s %10d %10d\n' "$name" "$r" "$g"
done
printf '%-44s %10d %10d\n' "total" "$total_raw" "$total_gz"
echo "(before wasm-opt: $pre_raw B wasm)"
js_raw=$((total_raw - wasm_raw))
js_gz=$((total_gz - wasm_gz))

# The opt-in browser DPoP entry (`mcp-oauth/dpop`): a page loads it instead of the default one.
dpop_raw=0
dpop_gz=0
dpop_wasm_gz=0
echo
printf '%-44s %10s %10s\n' "npm package mcp-oauth/dpop (browser payload)" "raw B" "gzip -9 B"
printf '%-44s %10s %10s\n' "--------------------------------------------" "----------" "----------"
for f in "$dist/dpop/mcp_oauth_wasm_bg.wasm" "$dist/dpop/browser.js" "$REPO_ROOT/pkg/dpop.js"; do
    [ -f "$f" ] || die "missing $f"
    r=$(wc -c <"$f" | tr -d ' ')
    g=$(gz "$f")
    dpop_raw=$((dpop_raw + r))
    dpop_gz=$((dpop_gz + g))
    case "$f" in *.wasm) dpop_wasm_gz=$g ;; esac
    printf '%-44s %10d %10d\n' "${f#"$REPO_ROOT"/pkg/}" "$r" "$g"
done
printf '%-44s %10d %10d\n' "total" "$dpop_raw" "$dpop_gz"
echo "(DPoP costs $((dpop_gz - total_gz)) B gzip over the default entry)"

cat >"$out/size.json" <<EOF
{
  "package": "mcp-oauth",
  "profile": "release-wasm",
  "wasm_bindgen": "$(wasm_bindgen_cli_version)",
  "wasm_opt_level": "-Os --low-memory-unused -Os",
  "wasm": { "raw": $wasm_raw, "gzip": $wasm_gz, "raw_before_wasm_opt": $pre_raw },
  "js": { "raw": $js_raw, "gzip": $js_gz },
  "total": { "raw": $total_raw, "gzip": $total_gz },
  "budget_gzip": ${budget:-null},
  "dpop_entry": { "wasm_gzip": $dpop_wasm_gz, "total": { "raw": $dpop_raw, "gzip": $dpop_gz }, "budget_gzip": ${budget_dpop:-null} }
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
if [ -n "$budget_dpop" ]; then
    if [ "$dpop_gz" -gt "$budget_dpop" ]; then
        echo "size: FAIL: the DPoP entry's total gzip $dpop_gz B exceeds its budget of $budget_dpop B by $((dpop_gz - budget_dpop)) B" >&2
        exit 1
    fi
    echo "size: the DPoP entry's total gzip $dpop_gz B is within its budget of $budget_dpop B ($((budget_dpop - dpop_gz)) B to spare)"
fi
