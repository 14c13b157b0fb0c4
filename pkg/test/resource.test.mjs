// What the MCP server answers `auth.fetch`, decided by the core (core/src/flow/resource.rs):
// step-up on any attempt, capped per operation; an application's 403 is the caller's, no error.
// Against the real peers of tests/peers. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { McpOAuth, McpOAuthError } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const { startAs, startMcp, getJson } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const REDIRECT = 'http://127.0.0.1:8977/callback';
const JSON_RPC = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function connect(auth, url) {
  const client = new Client({ name: 'pkg-resource-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: auth.fetch }));
  return client;
}

async function asStats(as) {
  return (await getJson(`${as.info.issuer}/__stats`)).body;
}

describe('the resource server decision, through auth.fetch', () => {
  let as;
  const started = [];
  before(async () => {
    as = await startAs({ PEER_ACCESS_TTL: '3600' });
  });
  after(async () => {
    for (const p of started) await p.stop();
    await as?.stop();
  });
  const mcp = async (env) => {
    const p = await startMcp(as.info.issuer, env);
    started.push(p);
    return p;
  };

  test("an application's 403 is returned to the caller, with no error event and no authorization", async () => {
    // Every request without the header is refused with a plain 403 (no insufficient_scope).
    const guarded = await mcp({ MCP_REQUIRED_HEADER: 'X-Team: blue' });
    await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
    const auth = await McpOAuth.create({ serverUrl: guarded.info.url, redirectUri: REDIRECT, onAuthorizationRequired: 'follow' });
    const events = [];
    auth.on('*', (e) => events.push(e.type));
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
    const res = await auth.fetch(guarded.info.url, { method: 'POST', headers: JSON_RPC, body });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error, 'missing_header');
    assert.ok(!events.includes('error'), events.join());
    const s = await asStats(as);
    assert.equal(s.register ?? 0, 0, 'no authorization started');
    // With the header, the same client authorizes and gets through.
    const ok = await auth.fetch(guarded.info.url, { method: 'POST', headers: { ...JSON_RPC, 'x-team': 'blue' }, body });
    assert.equal(ok.status, 200);
    assert.ok(!events.includes('error'), events.join());
  });

  test('step-up on the retry that follows the login', async () => {
    // The metadata offers only mcp:admin and the 401 names no scope: the login's token lacks
    // mcp:tools, and the retry of `initialize` gets 403 insufficient_scope.
    const narrow = await mcp({ MCP_CHALLENGE_SCOPE: '0', MCP_SCOPES_SUPPORTED: 'mcp:admin' });
    await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
    const auth = await McpOAuth.create({ serverUrl: narrow.info.url, redirectUri: REDIRECT, onAuthorizationRequired: 'follow' });
    const events = [];
    auth.on('*', (e) => events.push(e.type));
    const client = await connect(auth, narrow.info.url);
    const { tools } = await client.listTools();
    await client.close();
    assert.ok(tools.some((t) => t.name === 'echo'), JSON.stringify(tools));
    assert.match(auth.status().scope, /mcp:tools/);
    assert.match(auth.status().scope, /mcp:admin/);
    assert.equal((await asStats(as)).token.authorization_code, 2, 'the login, then the step-up');
    assert.ok(!events.includes('error'), events.join());
  });

  test('a server that keeps asking for scope ends in step_up_limit_reached, naming the scope', async () => {
    const server = await mcp({ MCP_SCOPES_SUPPORTED: 'mcp:tools mcp:admin' });
    await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
    // In front of the real server: admin_op is always refused for scope, whatever the token.
    const stubborn = (input, init) => (typeof init?.body === 'string' && init.body.includes('"admin_op"')
      ? Promise.resolve(new Response('', { status: 403, headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="mcp:admin"' } }))
      : fetch(input, init));
    const auth = await McpOAuth.create({ serverUrl: server.info.url, redirectUri: REDIRECT, onAuthorizationRequired: 'follow', fetch: stubborn });
    const events = [];
    auth.on('*', (e) => events.push(e.type));
    const call = (name, id) => auth.fetch(server.info.url, {
      method: 'POST', headers: JSON_RPC, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }),
    });
    const err = await call('admin_op', 1).then(() => null, (e) => e);
    assert.ok(err instanceof McpOAuthError, String(err));
    assert.equal(err.code, 'step_up_limit_reached', err.message);
    assert.match(err.message, /tools\/call:admin_op/);
    assert.match(err.message, /mcp:admin/);
    assert.ok(events.includes('error'), 'a real failure is an error event');
    // Two step-ups (the cap; the first is also the login, the 403 came before any 401), no more.
    assert.equal((await asStats(as)).token.authorization_code, 2);
    // The cap is per operation: another one is not affected.
    assert.equal((await call('whoami', 2)).status, 200);
  });
});
