#!/usr/bin/env bash
# The main job on a fresh machine: start the local peers (an OAuth authorization server on
# oidc-provider and a protected MCP server on the MCP TypeScript SDK, both from the npm
# registry), then let the `mcp-oauth` CLI discover, register, authorize (follow mode: the test
# server approves without a user) and list the server's tools. Stops the peers at the end.
#
#   bash scripts/demo.sh [extra mcp-oauth options]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_bin_on_path
cd "$REPO_ROOT"

command -v node >/dev/null 2>&1 || die "node not found (need node >= 20 and npm)"
ensure_npm_ci "$REPO_ROOT/tests/peers"
echo "demo: cargo build -p mcp-oauth --features serve --bin mcp-oauth" >&2
cargo build -q -p mcp-oauth --features serve --bin mcp-oauth
bin="$(cargo_target_dir)/debug/mcp-oauth"

info="$(mktemp)"
(cd tests/peers && exec node start.mjs >"$info" 2>/dev/null) &
peers=$!
trap 'kill "$peers" 2>/dev/null || true; wait "$peers" 2>/dev/null || true; rm -f "$info"' EXIT
for _ in $(seq 1 100); do
    [ -s "$info" ] && break
    sleep 0.1
done
[ -s "$info" ] || die "the peers did not start (run: cd tests/peers && node start.mjs)"
url="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).mcp_url)' "$info")"
echo "demo: MCP server at $url" >&2
echo "demo: mcp-oauth tools list --auth --browser follow --token-store memory --url $url" >&2
"$bin" tools list --auth --browser follow --token-store memory "$@" --url "$url"
