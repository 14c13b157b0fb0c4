#!/usr/bin/env bash
# Measures the CLI's cold flow against the local peers: N runs of `mcp-oauth tools list --auth
# --browser follow` from an empty store (cold) and N with the store of a first run (warm),
# printing wall times and the requests counted at the peers. A quick measurement for the
# native issue; the side-by-side benchmark with the TypeScript SDK is its own script.
#
#   bash scripts/cold-flow.sh [N]      (default N=5; release build)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_bin_on_path
cd "$REPO_ROOT"
n="${1:-5}"
ensure_npm_ci "$REPO_ROOT/tests/peers"
cargo build -q --release -p mcp-oauth --features serve --bin mcp-oauth
bin="$(cargo_target_dir)/release/mcp-oauth"
info="$(mktemp)"
store="$(mktemp -d)"
(cd tests/peers && exec node start.mjs >"$info" 2>/dev/null) &
peers=$!
trap 'kill "$peers" 2>/dev/null || true; wait "$peers" 2>/dev/null || true; rm -rf "$info" "$store"' EXIT
for _ in $(seq 1 100); do [ -s "$info" ] && break; sleep 0.1; done
field() { node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[process.argv[2]]))' "$info" "$1"; }
url="$(field mcp_url)"
issuer="$(field issuer)"
mcp_base="${url%/mcp}"
reset() { curl -s -X POST "$issuer/__stats/reset" >/dev/null; curl -s -X POST "$mcp_base/__stats/reset" >/dev/null; }
counts() {
    node -e '
      const [a, m] = process.argv.slice(1).map((s) => JSON.parse(s));
      const tok = Object.values(a.token || {}).reduce((x, y) => x + y, 0);
      const as = a.metadata + a.register + a.authorization + a.resume + a.interaction + tok;
      console.log(`AS: metadata=${a.metadata} register=${a.register} authorize+interaction hops=${a.authorization + a.resume + a.interaction} token=${tok} (total ${as}); MCP: requests=${m.requests} (401: ${m.rejected})`);
    ' "$(curl -s "$issuer/__stats")" "$(curl -s "$mcp_base/__stats")"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
run() { "$bin" tools list --auth --browser follow --store-dir "$1" --url "$url" >/dev/null 2>&1; }

echo "cold (empty store each run):"
for i in $(seq 1 "$n"); do
    d="$(mktemp -d)"; reset; t0=$(ms); run "$d"; t1=$(ms); rm -rf "$d"
    echo "  run $i: $((t1 - t0)) ms"
    [ "$i" = 1 ] && echo "  requests of run 1: $(counts)"
done
echo "warm (tokens stored):"
run "$store"
for i in $(seq 1 "$n"); do
    reset; t0=$(ms); run "$store"; t1=$(ms)
    echo "  run $i: $((t1 - t0)) ms"
    [ "$i" = 1 ] && echo "  requests of run 1: $(counts)"
done
