// One persisted entry for every host (core/src/codec/entry.rs), across hosts, against the real
// peers (tests/peers): an entry written by the native client is read by this npm package in
// Node, and the other way round; the reader calls the MCP server with the writer's tokens and
// makes no authorization request. The native side is native/examples/entry_peer.rs (built here
// with cargo). Build the package first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { Flow, McpOAuth } from '../node.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const peersDir = join(repo, 'tests', 'peers');
const { startAs, startMcp, getJson, browse } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const REDIRECT = 'http://127.0.0.1:8976/callback';
const PREFIX = 'mcp-oauth/v1/';

/** Builds the native helper once; resolves to its executable. */
async function buildNative() {
  const { stdout } = await run('cargo', ['build', '-q', '-p', 'mcp-oauth', '--example', 'entry_peer', '--message-format=json'], {
    cwd: repo, maxBuffer: 64 << 20, env: { CARGO_INCREMENTAL: '0', ...process.env },
  });
  const exe = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .find((m) => m.reason === 'compiler-artifact' && m.target?.name === 'entry_peer' && m.executable)?.executable;
  assert.ok(exe, 'cargo reported no entry_peer executable');
  return exe;
}

async function native(exe, args) {
  try {
    const { stdout } = await run(exe, args, { cwd: repo, timeout: 120000 });
    return JSON.parse(stdout.trim().split('\n').pop());
  } catch (e) {
    throw new Error(`entry_peer ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

function memoryStorage() {
  const map = new Map();
  return { map, get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); }, delete: (k) => { map.delete(k); } };
}

/** A fetch that records every request's URL and Authorization header. */
function recordingFetch() {
  const seen = [];
  const f = async (input, init = {}) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, authorization: req.headers.get('authorization') });
    return fetch(req);
  };
  return { seen, fetch: f };
}

/** What the authorization server saw since the last reset, less the MCP server's introspection. */
async function asRequests(as) {
  const s = (await getJson(`${as.info.issuer}/__stats`)).body;
  return { metadata: s.metadata, register: s.register, authorization: s.authorization, token: s.token };
}

const reset = (as) => fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });

async function whoami(auth, url) {
  const client = new Client({ name: 'entry-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: auth.fetch }));
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();
  assert.ok(!res.isError, JSON.stringify(res));
  return res.content[0].text;
}

const noAuthorization = { metadata: 0, register: 0, authorization: 0, token: {} };

describe('one persisted entry, native ⇄ npm package (Node)', () => {
  let as;
  let mcp;
  let exe;
  let dir;
  before(async () => {
    [exe, as, dir] = await Promise.all([buildNative(), startAs({ PEER_ACCESS_TTL: '3600' }), mkdtemp(join(tmpdir(), 'mcp-oauth-entry-'))]);
    mcp = await startMcp(as.info.issuer);
  }, { timeout: 900000 });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('native writes, the npm package reads and calls the server without authorizing', async () => {
    const file = join(dir, 'native.entry.json');
    await reset(as);
    const wrote = await native(exe, ['authorize', mcp.info.url, 'alice', file]);
    const nativeRequests = await asRequests(as);
    assert.equal(nativeRequests.register, 1, JSON.stringify(nativeRequests));
    assert.equal(nativeRequests.token.authorization_code, 1, JSON.stringify(nativeRequests));
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const text = await readFile(file, 'utf8');
    const entry = JSON.parse(text);
    assert.equal(entry.format, 'mcp-oauth/entry');
    assert.equal(entry.version, 1);
    assert.equal(entry.user, 'alice');
    assert.equal(entry.issuer, as.info.issuer);
    assert.equal(entry.tokens.access_token, wrote.token, 'the file holds the token the native calls used');
    assert.ok(entry.registration?.client_id && entry.discovery?.server, Object.keys(entry).join());

    // Into the package's storage, under its documented layout (pkg/src/client.js).
    const storage = memoryStorage();
    storage.set(`${PREFIX}index/${JSON.stringify([entry.user, entry.resource])}`, entry.issuer);
    storage.set(`${PREFIX}entry/${JSON.stringify([entry.user, entry.resource, entry.issuer])}`, text);
    await reset(as);
    const rec = recordingFetch();
    const asked = [];
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice', fetch: rec.fetch,
      onAuthorizationRequired: (url) => { asked.push(url); throw new Error('no authorization expected'); },
    });
    assert.equal(auth.status().state, 'authorized');
    const sub = await whoami(auth, mcp.info.url);
    assert.equal(sub, wrote.whoami.content[0].text, 'the same subject as the native call');
    assert.deepEqual(await asRequests(as), noAuthorization);
    assert.deepEqual(asked, []);
    const toMcp = rec.seen.filter((r) => r.url.startsWith(mcp.info.url));
    assert.ok(toMcp.length > 0);
    for (const r of toMcp) assert.equal(r.authorization, `Bearer ${wrote.token}`);
    assert.equal(rec.seen.length, toMcp.length, rec.seen.map((r) => r.url).join('\n'));
    assert.equal(await auth.accessToken(), wrote.token);
  });

  test('the npm package writes, native reads and calls the server without authorizing', async () => {
    const storage = memoryStorage();
    await reset(as);
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'bob', onAuthorizationRequired: 'follow',
    });
    await auth.authorize({ mode: 'follow' });
    const sub = await whoami(auth, mcp.info.url);
    const token = await auth.accessToken();
    const jsRequests = await asRequests(as);
    assert.equal(jsRequests.register, 1, JSON.stringify(jsRequests));
    assert.equal(jsRequests.token.authorization_code, 1, JSON.stringify(jsRequests));

    const entries = [...storage.map].filter(([k]) => k.startsWith(`${PREFIX}entry/`));
    assert.equal(entries.length, 1, [...storage.map.keys()].join('\n'));
    const [, text] = entries[0];
    const entry = JSON.parse(text);
    assert.equal(entry.format, 'mcp-oauth/entry');
    assert.equal(entry.user, 'bob');
    assert.equal(entry.tokens.access_token, token);
    assert.equal(entry.pending, undefined, 'no pending authorization is kept with the tokens');
    const file = join(dir, 'npm.entry.json');
    await writeFile(file, text, { mode: 0o600 });

    await reset(as);
    const read = await native(exe, ['call', mcp.info.url, file]);
    assert.equal(read.user, 'bob');
    assert.equal(read.issuer, as.info.issuer);
    assert.equal(read.token, token, 'native called with the token the package stored');
    assert.equal(read.whoami.content[0].text, sub);
    assert.deepEqual(await asRequests(as), noAuthorization);
  });

  test('a pending authorization started natively is finished by the npm package', async () => {
    const file = join(dir, 'native.pending.json');
    await reset(as);
    const started = await native(exe, ['start', mcp.info.url, 'carol', REDIRECT, file]);
    const text = await readFile(file, 'utf8');
    const entry = JSON.parse(text);
    assert.equal(entry.user, 'carol');
    assert.ok(entry.pending?.verifier && entry.registration?.client_id, Object.keys(entry).join());
    assert.equal(entry.tokens, undefined, 'a pending entry holds no tokens');
    assert.equal(entry.pending.authorization_url, started.url);
    // The user consents in a browser; the callback comes to the npm package's process.
    const callback = (await browse(started.url, REDIRECT)).callback.href;
    const storage = memoryStorage();
    storage.set(`${PREFIX}pending/${JSON.stringify([entry.user, entry.resource])}`, JSON.stringify({ state: entry.pending.state, entry: text }));
    await reset(as);
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'carol' });
    assert.equal(await auth.handleRedirect(callback), true);
    assert.equal(auth.status().authorized, true);
    const sub = await whoami(auth, mcp.info.url);
    assert.notEqual(sub, 'anonymous');
    const s = await asRequests(as);
    // The native registration and discovery were used: one code exchange, nothing else.
    assert.deepEqual(s, { metadata: 0, register: 0, authorization: 0, token: { authorization_code: 1 } });
    assert.ok(![...storage.map.keys()].some((k) => k.includes('/pending/')), 'the pending record was used up');
  });

  test('a pending authorization started by the npm package is finished natively', async () => {
    const storage = memoryStorage();
    await reset(as);
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'dave' });
    const pending = await auth.authorize({ mode: 'manual' });
    const pendingKeys = [...storage.map.keys()].filter((k) => k.startsWith(`${PREFIX}pending/`));
    assert.equal(pendingKeys.length, 1, [...storage.map.keys()].join('\n'));
    const record = JSON.parse(storage.get(pendingKeys[0]));
    const entry = JSON.parse(record.entry);
    assert.equal(entry.format, 'mcp-oauth/entry');
    assert.equal(entry.pending.state, record.state);
    assert.equal(entry.tokens, undefined);
    const file = join(dir, 'npm.pending.json');
    await writeFile(file, record.entry, { mode: 0o600 });
    const callback = (await browse(pending.url, REDIRECT)).callback.href;
    await reset(as);
    const done = await native(exe, ['finish', mcp.info.url, REDIRECT, file, callback]);
    assert.equal(done.user, 'dave');
    assert.notEqual(done.whoami.content[0].text, 'anonymous');
    const s = await asRequests(as);
    assert.deepEqual(s, { metadata: 0, register: 0, authorization: 0, token: { authorization_code: 1 } });
  });

  test('a value stored before the entry format (a flow snapshot) is still read', async () => {
    const text = await readFile(join(dir, 'native.entry.json'), 'utf8');
    const entry = JSON.parse(text);
    // The old value: the whole flow snapshot (core/src/codec.rs), as the package stored it.
    const snapshot = JSON.stringify({
      version: 1, server_url: entry.resource, discovery: entry.discovery,
      registrations: [entry.registration], tokens: { issuer: entry.issuer, tokens: entry.tokens },
    });
    const storage = memoryStorage();
    storage.set(`${PREFIX}index/${JSON.stringify([entry.user, entry.resource])}`, entry.issuer);
    storage.set(`${PREFIX}entry/${JSON.stringify([entry.user, entry.resource, entry.issuer])}`, snapshot);
    await reset(as);
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice' });
    assert.equal(await auth.accessToken(), entry.tokens.access_token);
    assert.notEqual(await whoami(auth, mcp.info.url), 'anonymous');
    assert.deepEqual(await asRequests(as), noAuthorization);
    // Another user's entry is refused by name.
    assert.throws(() => new Flow({ serverUrl: mcp.info.url, redirectUri: REDIRECT }).loadEntry(text, 'mallory'), /belongs to user `alice`, not `mallory`/);
  });

  test('an entry of a newer format version is refused with a message that says so', async () => {
    const file = join(dir, 'native.entry.json');
    const text = (await readFile(file, 'utf8')).replace('"version":1', '"version":2');
    const storage = memoryStorage();
    const e = JSON.parse(text);
    storage.set(`${PREFIX}index/${JSON.stringify([e.user, e.resource])}`, e.issuer);
    storage.set(`${PREFIX}entry/${JSON.stringify([e.user, e.resource, e.issuer])}`, text);
    await assert.rejects(
      McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice' }),
      (err) => err.code === 'stored_state_invalid' && /version: 2 was written by a newer mcp-oauth/.test(err.message),
    );
    const newer = join(dir, 'newer.entry.json');
    await writeFile(newer, text, { mode: 0o600 });
    await assert.rejects(native(exe, ['call', mcp.info.url, newer]), /version: 2 was written by a newer mcp-oauth/);
  });
});
