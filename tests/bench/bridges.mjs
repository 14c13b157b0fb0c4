// stdio ↔ HTTP bridges side by side (BENCHMARKS.md, issue 16): `mcp-oauth proxy` and the npm
// bridge mcp-remote, run the same way against the same local peers, in the situations users of
// stdio-only hosts report:
//
//   cold   5 instances started at the same moment on a cold store (no tokens, no registration),
//          each driven by an MCP client over stdio (initialize, then tools/call whoami);
//   kill   the same, and the instance that opened the browser is killed while the user is in
//          the browser; the user then finishes in that tab;
//   storm  5 authorized instances find their access token expired at the same moment
//          (PEER_ACCESS_TTL=20, calls 21 s after the code grant) and call at once.
//
// The browser is scripted: BROWSER is a shell script that records each URL it is asked to open
// (one line = one tab) with the opener's process ids; the script here completes every tab it is
// shown, as a user would (the authorization server's redirects, then the callback request).
// Counted at the authorization server: authorization requests, registrations, code grants,
// refresh grants, token errors; and per instance whether its tool call answered within 60 s.
//
//   node tests/bench/bridges.mjs <mcp-oauth binary> [runs=1] [out.json] [bridges=mcp-oauth,mcp-remote]
// BRIDGES_SCENARIOS=cold,kill,storm picks scenarios; BRIDGES_KEEP=1 keeps each scratch directory
// (the bridges' stderr, the tabs file).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, chmodSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createServer } from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const { startAs, startMcp, browse } = await import(pathToFileURL(join(here, '..', 'peers', 'harness.mjs')).href);
const [bin, runsArg, outJson, bridgesArg] = process.argv.slice(2);
if (!bin) {
  console.error('usage: node bridges.mjs <mcp-oauth binary> [runs] [out.json] [bridges]');
  process.exit(2);
}
const runs = Number(runsArg ?? 1);
const bridges = (bridgesArg ?? 'mcp-oauth,mcp-remote').split(',');
const REMOTE = join(here, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const REMOTE_VERSION = JSON.parse(readFileSync(join(here, 'node_modules', 'mcp-remote', 'package.json'), 'utf8')).version;
const INSTANCES = 5;
const CALL_TIMEOUT_MS = 60_000;

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One bridge process driven over stdio. */
function startBridge(bridge, mcpUrl, work, store, port, name) {
  const env = { ...process.env, BROWSER: `sh ${join(work, 'browser.sh')}` };
  delete env.MCP_OAUTH_STORE_KEY;
  let child;
  if (bridge === 'mcp-oauth') {
    child = spawn(bin, ['proxy', '--url', mcpUrl, '--store-dir', store, '--timeout', '60',
      '--redirect-uri', `http://127.0.0.1:${port}/callback`], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  } else {
    // mcp-remote keeps its tokens, registration and lock files in MCP_REMOTE_CONFIG_DIR.
    env.MCP_REMOTE_CONFIG_DIR = store;
    child = spawn(process.execPath, [REMOTE, mcpUrl, String(port), '--allow-http', '--transport', 'http-only'],
      { env, stdio: ['pipe', 'pipe', 'pipe'] });
  }
  const log = createWriteStream(join(work, `${name}.stderr`));
  child.stderr.pipe(log);
  const waiting = new Map();
  const nonJson = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m;
    try { m = JSON.parse(line); } catch { nonJson.push(line); return; }
    if (m.method === 'ping' && m.id !== undefined) {
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {} })}\n`);
      return;
    }
    if (m.id !== undefined && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  let exited = false;
  child.once('exit', () => { exited = true; for (const r of waiting.values()) r({ error: { message: 'exited' } }); waiting.clear(); });
  const bridgeInstance = {
    child, nonJson, name,
    request(id, method, params, timeoutMs = CALL_TIMEOUT_MS) {
      if (exited) return Promise.resolve({ error: { message: 'exited' } });
      return new Promise((resolve) => {
        const timer = setTimeout(() => { waiting.delete(id); resolve({ error: { message: `no answer in ${timeoutMs} ms` } }); }, timeoutMs);
        waiting.set(id, (m) => { clearTimeout(timer); resolve(m); });
        child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      });
    },
    notify(method) { if (!exited) child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`); },
    async initializeAndCall(id) {
      const init = await bridgeInstance.request(`init-${id}`, 'initialize', {
        protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-host', version: '1' },
      });
      if (!init.result) return `initialize: ${init.error?.message}`;
      bridgeInstance.notify('notifications/initialized');
      return bridgeInstance.whoami(id);
    },
    async whoami(id) {
      const r = await bridgeInstance.request(`call-${id}`, 'tools/call', { name: 'whoami', arguments: {} });
      const text = r.result?.content?.[0]?.text;
      return text === 'alice' ? 'ok' : `tools/call: ${r.error?.message ?? JSON.stringify(r.result).slice(0, 200)}`;
    },
    async stop() {
      if (exited) return;
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    },
    get pid() { return child.pid; },
    get exited() { return exited; },
  };
  return bridgeInstance;
}

/** The scripted user: completes every tab the bridges open; `onFirstTab` runs before the first. */
function startBrowser(work, onFirstTab) {
  const tabsFile = join(work, 'tabs');
  let seen = 0;
  let stopped = false;
  const results = [];
  const loop = (async () => {
    while (!stopped) {
      const lines = existsSync(tabsFile) ? readFileSync(tabsFile, 'utf8').split('\n').filter(Boolean) : [];
      for (; seen < lines.length; seen += 1) {
        const [pid, ppid, url] = lines[seen].split(' ');
        if (seen === 0 && onFirstTab) await onFirstTab([Number(pid), Number(ppid)]);
        results.push(completeTab(url).catch((e) => `failed: ${e.message}`));
      }
      await sleep(20);
    }
  })();
  return {
    tabs: () => seen,
    async stop() { stopped = true; await loop; return Promise.all(results); },
  };
}

async function completeTab(url) {
  const redirectUri = new URL(url).searchParams.get('redirect_uri');
  const { callback } = await browse(url, redirectUri);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(callback, { redirect: 'manual', signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      return res.status;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(50);
    }
  }
}

async function counts(issuer) {
  const a = await (await fetch(`${issuer}/__stats`)).json();
  const errors = Object.values(a.token_errors ?? {}).reduce((x, y) => x + y, 0);
  return {
    authorization: a.authorization,
    registration: a.register,
    code_grants: a.token?.authorization_code ?? 0,
    refresh_grants: a.token?.refresh_token ?? 0,
    token_errors: errors,
  };
}

function scratch(prefix) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const store = join(work, 'store');
  // Both bridges get the opener's pid and its parent's (mcp-remote opens through xdg-open).
  writeFileSync(join(work, 'browser.sh'),
    `#!/bin/sh\necho "$PPID $(awk '{print $4}' /proc/$PPID/stat) $1" >> '${join(work, 'tabs')}'\n`);
  chmodSync(join(work, 'browser.sh'), 0o700);
  return { work, store };
}

/** Starts INSTANCES bridges at once, drives each, and completes what the browser shows. */
async function scenario(bridge, peers, kind) {
  const { work, store } = scratch(`bridge-${bridge}-${kind}-`);
  const port = await freePort();
  const t0 = Date.now();
  let killed = null;
  let instances = [];
  const browser = startBrowser(work, kind === 'kill' ? async (pids) => {
    const victim = instances.find((i) => pids.includes(i.pid));
    if (victim) { killed = victim; victim.child.kill('SIGKILL'); }
    await sleep(500);
  } : null);
  await fetch(`${peers.issuer}/__stats/reset`, { method: 'POST' });
  instances = Array.from({ length: INSTANCES }, (_, i) => startBridge(bridge, peers.mcpUrl, work, store, port, `i${i}`));
  let outcomes = await Promise.all(instances.map((b, i) => b.initializeAndCall(i)));
  const cold = await counts(peers.issuer);
  let row = { bridge, scenario: kind, tabs: browser.tabs(), ...cold,
    working: outcomes.filter((o) => o === 'ok').length, of: INSTANCES - (killed ? 1 : 0),
    seconds: (Date.now() - t0) / 1000, failures: outcomes.filter((o) => o !== 'ok') };
  if (kind === 'storm') {
    // Calls 21 s after the code grant: every access token (20 s) has expired.
    await sleep(Math.max(0, 21_000 - (Date.now() - t0)));
    const tabsBefore = browser.tabs();
    await fetch(`${peers.issuer}/__stats/reset`, { method: 'POST' });
    const t1 = Date.now();
    outcomes = await Promise.all(instances.map((b, i) => b.whoami(100 + i)));
    const storm = await counts(peers.issuer);
    row = { bridge, scenario: kind, tabs: browser.tabs() - tabsBefore, ...storm,
      working: outcomes.filter((o) => o === 'ok').length, of: INSTANCES,
      seconds: (Date.now() - t1) / 1000, failures: outcomes.filter((o) => o !== 'ok') };
  }
  row.non_json_stdout_lines = instances.reduce((n, i) => n + i.nonJson.length, 0);
  await Promise.all(instances.map((i) => i.stop()));
  await browser.stop();
  if (!process.env.BRIDGES_KEEP) rmSync(work, { recursive: true, force: true });
  else row.work = work;
  return row;
}

async function startPeers(env = {}) {
  const as = await startAs(env);
  const mcp = await startMcp(as.info.issuer);
  return { as, mcp, issuer: as.info.issuer, mcpUrl: mcp.info.url };
}

const rows = [];
for (let run = 1; run <= runs; run += 1) {
  for (const bridge of bridges) {
    for (const kind of (process.env.BRIDGES_SCENARIOS ?? 'cold,kill,storm').split(',')) {
      const peers = await startPeers({ PEER_REGISTRATION_SCOPE: 'ignore', ...(kind === 'storm' ? { PEER_ACCESS_TTL: '20' } : {}) });
      try {
        const row = { run, ...(await scenario(bridge, peers, kind)) };
        if (bridge === 'mcp-remote') row.version = REMOTE_VERSION;
        rows.push(row);
        console.log(JSON.stringify(row));
      } finally {
        await peers.mcp.stop();
        await peers.as.stop();
      }
    }
  }
}

console.log('\n| bridge | scenario | tabs | authorization requests | registrations | code grants | refresh grants | token errors | working |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const name = r.bridge === 'mcp-remote' ? `mcp-remote ${r.version}` : 'mcp-oauth proxy';
  console.log(`| ${name} | ${r.scenario} (run ${r.run}) | ${r.tabs} | ${r.authorization} | ${r.registration} | ${r.code_grants} | ${r.refresh_grants} | ${r.token_errors} | ${r.working} of ${r.of} |`);
}
if (outJson) writeFileSync(outJson, JSON.stringify(rows, null, 2));

// MCP_OAUTH_BENCH_ASSERT=1 (scripts/bench.sh --quick, CI): our rows must meet issue 16's goal.
if (process.env.MCP_OAUTH_BENCH_ASSERT === '1') {
  const missed = rows.filter((r) => r.bridge === 'mcp-oauth').filter((r) => {
    const flow = r.scenario === 'storm'
      ? r.tabs === 0 && r.authorization === 0 && r.refresh_grants === 1
      : r.tabs === 1 && r.authorization === 1 && r.registration === 1 && r.code_grants === 1;
    return !flow || r.token_errors !== 0 || r.working !== r.of || r.non_json_stdout_lines !== 0;
  });
  if (missed.length > 0) {
    console.error(`bridges: mcp-oauth proxy missed the goal in ${JSON.stringify(missed)}`);
    process.exit(1);
  }
}
process.exit(0);
