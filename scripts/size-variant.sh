#!/usr/bin/env bash
# The browser build's .wasm size for one variant of the tree: builds the default browser entry
# (`mcp-oauth-wasm --no-default-features`, the `release-wasm` profile, the nightly settings of
# scripts/lib.sh) → wasm-bindgen → wasm-opt as pkg/build.sh does (without the import-name
# shortening, so numbers are about 600 B above scripts/size.sh's), then prints raw and gzip -9
# bytes. For measuring a size lever before adopting it (BENCHMARKS.md, "npm package size").
#
#   scripts/size-variant.sh [--patch FILE] [--rustflags "FLAGS"] [-- WASM_OPT_ARGS...]
#
# --patch FILE        apply FILE (a `git diff`) to a throw-away worktree of HEAD and measure
#                     that; the checkout itself is not touched.
# --rustflags FLAGS   extra RUSTFLAGS for the wasm build (e.g. "-Cllvm-args=-inline-threshold=0").
# -- ARGS             wasm-opt passes instead of pkg/build.sh's `-Os --low-memory-unused -Os`.
#
# Builds into <target>/size-variant (its own directory: a variant never dirties the main build).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_bin_on_path

patch=""
extra=""
opt=(-Os --low-memory-unused -Os)
while [ $# -gt 0 ]; do
    case "$1" in
    --patch)
        [ $# -ge 2 ] || die "--patch needs a file"
        patch="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
        [ -f "$patch" ] || die "--patch: no such file: $2"
        shift 2
        ;;
    --rustflags)
        [ $# -ge 2 ] || die "--rustflags needs a value"
        extra="$2"
        shift 2
        ;;
    --)
        shift
        [ $# -gt 0 ] || die "-- needs wasm-opt arguments"
        opt=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

target_dir="$(cd "$REPO_ROOT" && cargo_target_dir)"
export CARGO_TARGET_DIR="$target_dir/size-variant"
src="$REPO_ROOT"
worktree=""
cleanup() {
    if [ -n "$worktree" ]; then
        git -C "$REPO_ROOT" worktree remove --force "$worktree" >/dev/null 2>&1 || rm -rf "$worktree"
    fi
}
trap cleanup EXIT
if [ -n "$patch" ]; then
    worktree="$(mktemp -d "${TMPDIR:-/tmp}/mcp-oauth-variant.XXXXXX")"
    rmdir "$worktree"
    git -C "$REPO_ROOT" worktree add --detach -q "$worktree" HEAD
    git -C "$worktree" apply "$patch" || die "--patch: $patch does not apply to HEAD"
    src="$worktree"
fi

ensure_npm_tools
[ -x "$TOOLS_BIN/wasm-opt" ] || die "no wasm-opt in $TOOLS_BIN (npm ci in tools/)"
(cd "$src" && RUSTFLAGS="$extra" wasm_cargo_build --no-default-features) >"$CARGO_TARGET_DIR.log" 2>&1 ||
    {
        tail -30 "$CARGO_TARGET_DIR.log" >&2
        die "the wasm build failed (log: $CARGO_TARGET_DIR.log)"
    }
out="$CARGO_TARGET_DIR/out"
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release-wasm/mcp_oauth_wasm.wasm"
read -r -a features <<<"$(RUSTFLAGS="$extra" wasm_opt_feature_flags)"
"$TOOLS_BIN/wasm-opt" "${opt[@]}" --strip-debug --strip-producers --strip-target-features \
    "${features[@]}" "$out/mcp_oauth_wasm_bg.wasm" -o "$out/opt.wasm"
raw=$(wc -c <"$out/opt.wasm" | tr -d ' ')
gz=$(gzip -9 -n -c "$out/opt.wasm" | wc -c | tr -d ' ')
echo "variant${patch:+ $(basename "$patch")}${extra:+ rustflags=[$extra]} wasm-opt=[${opt[*]}]: wasm raw $raw B, gzip -9 $gz B"
