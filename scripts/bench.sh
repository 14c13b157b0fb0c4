#!/usr/bin/env bash
# Regenerates every table of BENCHMARKS.md side by side with what users would pick instead:
#   1. size      scripts/size.sh (our npm payload) + tests/bench/size-compare.mjs (the MCP
#                TypeScript SDK's auth module and oauth4webapi, esbuild --bundle --minify)
#   2. flows     tests/bench/flows.mjs: our CLI vs an MCP TypeScript SDK client, cold and warm,
#                alternating runs against the local peers; requests counted at the peers
#   3. storm     cargo bench --bench storm: shared metadata cache (2nd user: 0 discovery
#                requests) and N concurrent requests with an expired token (1 refresh)
#   4. hot path  cargo bench --bench hot_path (Criterion): warm request vs plain reqwest
#   5. bridges   tests/bench/bridges.mjs: `mcp-oauth proxy` vs the npm bridge mcp-remote, 5
#                instances at once (cold store, opener killed, refresh storm); counted at the AS
# Output: the tables on stdout and in target/bench/report.md (JSON next to it).
#
#   scripts/bench.sh [--quick]    --quick (CI): 2 flow runs, a 200-request storm, no Criterion;
#                                 asserts request counts (never timings)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_bin_on_path
cd "$REPO_ROOT"

quick=0
[ "${1:-}" = --quick ] && quick=1
runs=$([ "$quick" = 1 ] && echo 2 || echo "${BENCH_RUNS:-9}")
storm=$([ "$quick" = 1 ] && echo 200 || echo 1000)
# The quick variant only checks request counts: the dev profile (already built by the tests)
# spares CI two fat-LTO builds. Numbers for BENCHMARKS.md come from the release profile.
profile=$([ "$quick" = 1 ] && echo dev || echo release)
bin_dir=$([ "$quick" = 1 ] && echo debug || echo release)
out="$(cargo_target_dir)/bench"
mkdir -p "$out"
report="$out/report.md"
ensure_npm_ci "$REPO_ROOT/tests/peers"
ensure_npm_ci "$REPO_ROOT/tests/bench"

{
    echo "# mcp-oauth benchmarks ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
    echo
    echo "rustc: $(rustc --version | cut -d' ' -f2), node: $(node --version), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs || true)"
    echo
} >"$report"

echo "bench: 1. size"
scripts/size.sh >"$out/size.log"
{
    echo "## Size"
    echo
    node tests/bench/size-compare.mjs "$(cargo_target_dir)/size/size.json" "$out/size-compare.json"
    echo
} | tee -a "$report"

echo "bench: 2. cold and warm flows ($runs runs each)"
cargo build -q --profile "$profile" -p mcp-oauth --features serve --bin mcp-oauth
{
    echo "## Cold and warm flows (command: scripts/bench.sh; $runs alternating runs per variant)"
    echo
    MCP_OAUTH_BENCH_ASSERT=1 node tests/bench/flows.mjs "$(cargo_target_dir)/$bin_dir/mcp-oauth" "$runs" "$out/flows.json"
    echo
} | tee -a "$report"

echo "bench: 3. shared metadata cache and refresh storm ($storm requests)"
{
    echo "## Shared metadata cache and refresh storm"
    echo
    MCP_OAUTH_STORM="$storm" cargo bench -q -p mcp-oauth --bench storm --profile "$profile" 2>/dev/null | sed 's/^/- /'
    echo
} | tee -a "$report"

bridge_runs=$([ "$quick" = 1 ] && echo 1 || echo "${BENCH_BRIDGE_RUNS:-5}")
echo "bench: 5. stdio bridges, 5 instances at once ($bridge_runs runs)"
{
    echo "## stdio bridges: 5 instances at once, opener killed, refresh storm (tests/bench/bridges.mjs; $bridge_runs runs)"
    echo
    MCP_OAUTH_BENCH_ASSERT=1 node tests/bench/bridges.mjs "$(cargo_target_dir)/$bin_dir/mcp-oauth" "$bridge_runs" "$out/bridges.json" | grep '^|'
    echo
} | tee -a "$report"

if [ "$quick" = 0 ]; then
    echo "bench: 4. hot path (Criterion)"
    {
        echo "## Hot path (Criterion, median)"
        echo
        cargo bench -q -p mcp-oauth --bench hot_path >"$out/hot_path.log" 2>&1
        node -e '
          const fs = require("fs"), dir = process.argv[1] + "/criterion/warm_request";
          const med = (n) => JSON.parse(fs.readFileSync(`${dir}/${n}/new/estimates.json`, "utf8")).median.point_estimate;
          const us = (ns) => ns >= 1000 ? (ns / 1000).toFixed(1) + " µs" : ns.toFixed(0) + " ns";
          const plain = med("plain_reqwest"), ours = med("with_oauth_token"), tok = med("access_token_only");
          console.log("| benchmark | median |\n|---|---:|");
          console.log(`| plain reqwest request to a local server | ${us(plain)} |`);
          console.log(`| the same request with the OAuth token (OAuthClient::access_token + header) | ${us(ours)} (**${(ours / plain).toFixed(3)}×**) |`);
          console.log(`| OAuthClient::access_token() alone | ${us(tok)} |`);
        ' "$(cargo_target_dir)"
        echo
    } | tee -a "$report"
fi
echo "bench: report in ${report#"$REPO_ROOT"/}"
