#!/usr/bin/env bash
# Writes large adversarial seed inputs for the fuzz targets into fuzz/seeds/<target>/ (git-ignored;
# about 12 MB): the hostile inputs of the parsers' attack tests (tests/attacks/parsers.rs) and
# inputs just under and just over each cap. `.ci/run` runs it before fuzzing and passes each
# directory to `cargo fuzz run <target> fuzz/corpus/<target> fuzz/seeds/<target>`; libFuzzer
# then also sizes its -max_len from the largest seed, so large inputs get mutated too.
#
#     bash fuzz/seeds.sh && cd fuzz && cargo +nightly fuzz run fuzz_snapshot corpus/fuzz_snapshot seeds/fuzz_snapshot
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rm -rf seeds
mkdir -p seeds

# seed TARGET NAME PREFIX: writes PREFIX (printf format, for control bytes) then stdin.
seed() {
    mkdir -p "seeds/$1"
    { printf "$3"; cat; } >"seeds/$1/$2"
}
# members N: `"m000000":"abc",` N times, without the last comma.
members() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%s\"m%06d\":\"abc\"", (i ? "," : ""), i }'; }
# repeat N TEXT
repeat() { awk -v n="$1" -v t="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", t }'; }
# numbered N FORMAT: FORMAT with %d = 0..N-1, concatenated.
numbered() { awk -v n="$1" -v f="$2" 'BEGIN { for (i = 0; i < n; i++) printf f, i }'; }

md_head='{"issuer":"https://as.example/tenant","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"],'
# Control bytes: policy, status (ok), content type (JSON), body mode (raw).
{ printf '%s' "$md_head"; members 60000; printf '}'; } | seed fuzz_server_metadata members-60k '\0\0\0\0'
{ printf '%s' "$md_head"; members 1023; printf '}'; } | seed fuzz_server_metadata members-at-cap '\0\0\0\0'
repeat 100000 '[' | seed fuzz_server_metadata nested-100k '\0\0\0\0'
{ printf '{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example"],"scopes_supported":['
  numbered 99999 '"s%06d",'; printf '"last"]}'; } | seed fuzz_resource_metadata scopes-100k '\0\0\0\0'
{ printf '{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example"],"scopes_supported":['
  numbered 4095 '"s%06d",'; printf '"last"]}'; } | seed fuzz_resource_metadata scopes-at-cap '\0\0\0\0'
# Token responses: flags (fixed time), status, content type, body mode.
{ printf '{"access_token":"'; repeat 262144 'a'; printf '","token_type":"Bearer","expires_in":3600}'; } \
    | seed fuzz_token_response string-at-cap '\x20\0\0\0'
{ printf '{"access_token":"'; repeat 600000 'a'; printf '","token_type":"Bearer"}'; } \
    | seed fuzz_token_response string-600k '\x20\0\0\0'

{ printf 'Bearer realm="mcp"'; numbered 40000 ', a%05d=b'; } | seed fuzz_www_authenticate params-40k ''
{ printf 'Bearer realm="mcp"'; numbered 63 ', a%02d=b'; } | seed fuzz_www_authenticate params-at-cap ''
{ printf 'Bearer realm="'; repeat 16360 'r'; printf '"'; } | seed fuzz_www_authenticate length-at-cap ''

numbered 116000 'p%06d=&' | seed fuzz_form_decode pairs-1mib ''
repeat 8192 'a&' | seed fuzz_form_decode pairs-at-cap ''
repeat 8193 'a&' | seed fuzz_form_decode pairs-over-cap ''

{ printf 'https://as.example/'; repeat 1048576 'a'; } | seed fuzz_url url-1mib ''
{ printf 'https://as.example/'; repeat 16365 'a'; } | seed fuzz_url url-at-cap ''
# Callback: mode 2 (the right state, then the query tail).
numbered 116000 'p%06d=&' | seed fuzz_callback params-1mib '\x02'
numbered 2000 'p%05d=&' | seed fuzz_callback params-under-cap '\x02'

snap_head='{"version":1,"server_url":"https://mcp.example/mcp","registrations":['
reg='{"issuer":"https://as.example","client_id":"c","source":"dynamic","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"]}'
{ printf '%s' "$snap_head"; repeat 4000 "$reg,"; printf '%s]}' "$reg"; } | seed fuzz_snapshot registrations-4k ''
{ printf '%s' "$snap_head"; repeat 6000 "$reg,"; printf '%s]}' "$reg"; } | seed fuzz_snapshot registrations-6k ''
{ printf '{"version":1,"server_url":"https://mcp.example/mcp","last_requested_scope":"'; repeat 200000 's '; printf '"}'; } \
    | seed fuzz_snapshot scope-400k ''
{ printf '{"access_token":"a","token_type":"Bearer",'; members 1100; printf '}'; } | seed fuzz_snapshot token-members-1100 ''

repeat 80000 'max-age=1, no-transform, ' | seed fuzz_cache_control directives-2mib ''
repeat 60000 'private, max-age="60"\n' | seed fuzz_cache_control lines-60k ''
printf 'max-age=%s' "$(repeat 5000 9)" | seed fuzz_cache_control huge-number ''

du -sh seeds
