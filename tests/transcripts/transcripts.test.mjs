// Transcript tests: every scenario of scenarios.json runs through the native client
// (native/examples/transcript.rs) and through the npm package in Node (npm-driver.mjs) against the
// same scripted server (server.mjs). The requests each host makes (method, path, query and body
// parameters, client authentication) and the error codes each surfaces must be identical, and
// the step results must be the scenario's `expect`. A scenario marked `known_drift` must differ
// (it is reported as an expected failure with its diff; once the hosts agree it fails: remove
// the mark). Expected failures are node --test TODOs: `# todo N`. See README.md.
//
//   node --test tests/transcripts/
//
// Needs pkg/dist (`bash pkg/build.sh`) and the native driver: TRANSCRIPT_NATIVE_BIN, else it runs
// `cargo build --workspace --example transcript` (a no-op after a workspace test build).
// TRANSCRIPT_ONLY=name,name runs only those scenarios; TRANSCRIPT_CONCURRENCY (4) how many at once.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { diff } from './diff.mjs';
import { startScriptedServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const table = JSON.parse(readFileSync(join(here, 'scenarios.json'), 'utf8'));
const only = process.env.TRANSCRIPT_ONLY?.split(',').filter(Boolean);
const scenarios = table.scenarios.filter((s) => !only || only.includes(s.name));

function nativeBinary() {
  if (process.env.TRANSCRIPT_NATIVE_BIN) return process.env.TRANSCRIPT_NATIVE_BIN;
  execFileSync('cargo', ['build', '-q', '--workspace', '--example', 'transcript'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  return join(target, 'debug', 'examples', 'transcript');
}

/** Runs a driver program with the spec; resolves to its JSON output. */
function run(file, args, spec) {
  return new Promise((resolve, reject) => {
    execFile(file, [...args, JSON.stringify(spec)], { cwd: root, timeout: 60000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${file} failed (${err.code ?? err.signal}): ${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)));
      } catch {
        reject(new Error(`${file} printed no JSON result:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** `{server}` in the scenario's client settings → the server's origin. */
function spec(scenario, server) {
  const client = JSON.parse(JSON.stringify(scenario.client).split('{server}').join(server.base));
  return { mcpUrl: server.mcpUrl, redirectUri: table.redirectUri, client, steps: scenario.steps };
}

/** One line per request and per step result: what is compared, and what a diff shows. */
function lines(t) {
  return [
    ...t.requests.map((r) => `${r.method} ${r.path}${r.query ? ` ?${JSON.stringify(r.query)}` : ''}${r.body ? ` ${JSON.stringify(r.body)}` : ''}${r.auth ? ` [${r.auth}]` : ''}${r.dpop ? ` dpop${JSON.stringify(r.dpop)}` : ''}`),
    ...t.steps.map((s) => `=> ${s.step}: ${s.result}`),
  ];
}

// Scenarios run concurrently, each on a server of its own from this pool (a scenario's two hosts
// run one after the other on the same server).
const POOL = Math.max(1, Number(process.env.TRANSCRIPT_CONCURRENCY ?? 4));

describe('transcripts: the native client and the npm package make the same requests', { concurrency: POOL }, () => {
  const free = [];
  const waiting = [];
  const acquire = () => (free.length ? Promise.resolve(free.pop()) : new Promise((r) => waiting.push(r)));
  const release = (server) => (waiting.length ? waiting.shift()(server) : free.push(server));
  const servers = [];
  let native;
  const summary = new Map();
  before(async () => {
    assert.ok(existsSync(join(root, 'pkg', 'dist', 'node')), 'pkg/dist/node is missing: run `bash pkg/build.sh` first');
    native = nativeBinary();
    assert.ok(existsSync(native), `the native driver ${native} is missing`);
    for (let i = 0; i < POOL; i++) servers.push(await startScriptedServer());
    free.push(...servers);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (summary.size) {
      const w = Math.max(...scenarios.map((s) => s.name.length));
      const rows = scenarios.filter((s) => summary.has(s.name)).map((s) => {
        const [verdict, why] = summary.get(s.name);
        return `  ${s.name.padEnd(w)}  ${verdict}${why ? `  (${why})` : ''}`;
      });
      console.log(`transcripts: scenario × host\n${rows.join('\n')}`);
    }
  });

  /** Both hosts' transcripts of `scenario`, on one server of the pool. */
  async function transcripts(scenario) {
    const server = await acquire();
    try {
      const s = spec(scenario, server);
      server.load(scenario.server);
      const nat = { steps: (await run(native, [], s)).steps, requests: server.transcript() };
      server.load(scenario.server);
      const npm = { steps: (await run(process.execPath, [join(here, 'npm-driver.mjs')], s)).steps, requests: server.transcript() };
      return [nat, npm];
    } finally {
      release(server);
    }
  }

  for (const scenario of scenarios) {
    test(scenario.name, async (t) => {
      const [nat, npm] = await transcripts(scenario);
      const [a, b] = [lines(nat), lines(npm)];
      const same = JSON.stringify(a) === JSON.stringify(b);
      if (scenario.known_drift) {
        if (same) {
          summary.set(scenario.name, ['FIXED', 'remove known_drift']);
          assert.fail(`drift fixed: ${scenario.name} now gives the same transcript in both hosts; remove its known_drift mark in scenarios.json (and its row in README.md)`);
        }
        // An expected failure: reported as TODO (node --test's `# todo` count), with the diff.
        summary.set(scenario.name, ['known drift', scenario.known_drift]);
        t.todo(`known drift: ${scenario.known_drift}`);
        // console.log, not t.diagnostic: TAP diagnostics escape the newlines of the diff.
        console.log(`expected failure ${scenario.name} (${scenario.known_drift}):\n${diff(a, b)}`);
        return;
      }
      summary.set(scenario.name, [same ? 'match' : 'DIFFERENT', '']);
      assert.ok(same, `${scenario.name}: the hosts' transcripts differ\n${diff(a, b)}`);
      assert.deepEqual(nat.steps.map((x) => x.result), scenario.expect, `${scenario.name}: both hosts agree, but not with the scenario's expect\n${a.join('\n')}`);
      assert.ok(nat.requests.length > 0, 'the server saw requests');
    });
  }
});
