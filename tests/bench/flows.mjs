// Cold and warm flows side by side (BENCHMARKS.md): our CLI (`mcp-oauth tools list --auth
// --browser follow`) and the MCP TypeScript SDK client (ts-client.mjs), against the same local
// peers, alternating runs. Counts every HTTP request at the peers and times each run (wall time of
// the whole command, process start included).
//
//   node tests/bench/flows.mjs <mcp-oauth binary> [runs=7] [out.json]
// With MCP_OAUTH_BENCH_ASSERT=1 it also fails unless our cold run makes the spec-minimum requests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { startAs, startMcp } = await import(pathToFileURL(join(here, '..', 'peers', 'harness.mjs')).href);
const [bin, runsArg, outJson] = process.argv.slice(2);
if (!bin) {
  console.error('usage: node flows.mjs <mcp-oauth binary> [runs] [out.json]');
  process.exit(2);
}
const runs = Number(runsArg ?? 7);

const as = await startAs();
const mcp = await startMcp(as.info.issuer);
const issuer = as.info.issuer;
const mcpBase = mcp.info.url.replace(/\/mcp$/, '');
const scratch = mkdtempSync(join(tmpdir(), 'mcp-oauth-bench-'));

async function reset() {
  await fetch(`${issuer}/__stats/reset`, { method: 'POST' });
  await fetch(`${mcpBase}/__stats/reset`, { method: 'POST' });
}

async function counts() {
  const a = await (await fetch(`${issuer}/__stats`)).json();
  const m = await (await fetch(`${mcpBase}/__stats`)).json();
  const token = Object.values(a.token ?? {}).reduce((x, y) => x + y, 0);
  const metadata = a.metadata + (a.other ?? 0);
  return {
    prm: m.prm,
    as_metadata: metadata,
    registration: a.register,
    token,
    browser_hops: a.authorization + a.resume + a.interaction,
    mcp: m.requests,
    mcp_401: m.rejected,
    total: m.prm + metadata + a.register + token + m.requests,
  };
}

function timeCommand(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, BROWSER: 'true' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || !r.stdout.includes('echo')) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const inner = /flow_ms=([0-9.]+)/.exec(r.stderr ?? '');
  return { ms, inner: inner ? Number(inner[1]) : null };
}

const ours = (dir) => timeCommand(bin, ['tools', 'list', '--auth', '--browser', 'follow', '--store-dir', dir, '--url', mcp.info.url, '--redirect-uri', 'http://127.0.0.1:0/callback']);
const ts = (file) => timeCommand(process.execPath, [join(here, 'ts-client.mjs'), mcp.info.url, file]);

const variants = {
  'ours cold': { times: [], counts: null },
  'TS SDK cold': { times: [], counts: null },
  'ours warm': { times: [], counts: null },
  'TS SDK warm': { times: [], counts: null },
};
// Warm state: one cold run each, kept.
const warmDir = join(scratch, 'ours-warm');
const warmFile = join(scratch, 'ts-warm.json');
ours(warmDir);
ts(warmFile);

async function measure(name, fn) {
  await reset();
  const t = fn();
  variants[name].times.push(t.ms);
  if (t.inner !== null) (variants[name].inner ??= []).push(t.inner);
  const c = await counts();
  variants[name].counts ??= c;
  if (JSON.stringify(c) !== JSON.stringify(variants[name].counts)) variants[name].varied = true;
}

try {
  for (let i = 0; i < runs; i++) {
    const d = join(scratch, `ours-${i}`);
    const f = join(scratch, `ts-${i}.json`);
    await measure('ours cold', () => ours(d));
    await measure('TS SDK cold', () => ts(f));
    await measure('ours warm', () => ours(warmDir));
    await measure('TS SDK warm', () => ts(warmFile));
  }
} finally {
  await mcp.stop();
  await as.stop();
  rmSync(scratch, { recursive: true, force: true });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const fmt = (x) => x.toFixed(1);
const summary = {};
for (const [name, v] of Object.entries(variants)) {
  summary[name] = { inner_median_ms: v.inner ? median(v.inner) : null, median_ms: median(v.times), min_ms: Math.min(...v.times), max_ms: Math.max(...v.times), runs: v.times.length, requests: v.counts, counts_varied: !!v.varied };
}
console.log(`| variant | runs | median ms (whole command) | min–max ms | ours/TS (median) | TS in-process median ms | PRM | AS metadata | registration | token | MCP (401s) | **client requests** | browser hops |`);
console.log('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|');
for (const [name, s] of Object.entries(summary)) {
  const other = name.startsWith('ours') ? summary[name.replace('ours', 'TS SDK')] : null;
  const ratio = other ? `**${(s.median_ms / other.median_ms).toFixed(2)}×**` : '';
  const c = s.requests;
  console.log(`| ${name} | ${s.runs} | ${fmt(s.median_ms)} | ${fmt(s.min_ms)}–${fmt(s.max_ms)} | ${ratio} | ${s.inner_median_ms === null ? '' : fmt(s.inner_median_ms)} | ${c.prm} | ${c.as_metadata} | ${c.registration} | ${c.token} | ${c.mcp} (${c.mcp_401}) | **${c.total}** | ${c.browser_hops} |`);
}
if (outJson) writeFileSync(outJson, JSON.stringify(summary, null, 2));

if (process.env.MCP_OAUTH_BENCH_ASSERT === '1') {
  // The spec minimum of a cold flow whose server publishes metadata at the first candidate:
  // initial 401, resource metadata, server metadata, registration, token, retry (here the MCP
  // session then sends `initialized` and `tools/list`: 4 MCP requests in all).
  const c = summary['ours cold'].requests;
  const want = { prm: 1, as_metadata: 1, registration: 1, token: 1, mcp: 4, mcp_401: 1 };
  for (const [k, v] of Object.entries(want)) {
    if (c[k] !== v) {
      console.error(`bench: ours cold made ${c[k]} ${k} requests, want ${v}`);
      process.exit(1);
    }
  }
  const w = summary['ours warm'].requests;
  if (w.prm + w.as_metadata + w.registration + w.token !== 0) {
    console.error(`bench: ours warm made authorization requests: ${JSON.stringify(w)}`);
    process.exit(1);
  }
  console.log('bench: request counts ok (cold = spec minimum, warm = no authorization requests)');
}
