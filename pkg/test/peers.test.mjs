// The built npm package (pkg/, Node entry) against the real peers of tests/peers: oidc-provider
// as the authorization server and the MCP TypeScript SDK's server, driven by the MCP TypeScript
// SDK's client with `fetch: auth.fetch`. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { McpOAuth, McpOAuthError, Flow, parseBearerChallenge } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const { startAs, startMcp, getJson, postForm } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
// The MCP TypeScript SDK client, from the peers' pinned install.
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const REDIRECT = 'http://127.0.0.1:8976/callback';

async function connect(auth, url) {
  const client = new Client({ name: 'pkg-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: auth.fetch }));
  return client;
}

function memoryStorage() {
  const map = new Map();
  return { map, get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); }, delete: (k) => { map.delete(k); } };
}

async function stats(as) {
  return (await getJson(`${as.info.issuer}/__stats`)).body;
}

describe('npm package against the real peers', () => {
  let as;
  let mcp;
  before(async () => {
    as = await startAs({ PEER_ACCESS_TTL: '3600' });
    mcp = await startMcp(as.info.issuer, { MCP_SCOPES_SUPPORTED: 'mcp:tools mcp:admin' });
  });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
  });

  test('cold flow through the TS SDK transport: discovery, registration, follow, tools', async () => {
    await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
    const storage = memoryStorage();
    const events = [];
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, clientName: 'pkg test', storage,
      onAuthorizationRequired: 'follow', userId: 'alice',
    });
    auth.on('*', (e) => events.push(e.type));
    const client = await connect(auth, mcp.info.url);
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'), JSON.stringify(tools));
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    assert.match(JSON.stringify(res.content), /alice/);
    await client.close();
    const s = await stats(as);
    assert.equal(s.register, 1);
    assert.equal(s.token.authorization_code, 1);
    assert.ok(events.includes('registered') && events.includes('tokens') && events.includes('authorized'), events.join());
    const status = auth.status();
    assert.equal(status.state, 'authorized');
    assert.equal(status.authorized, true);
    assert.equal(status.userId, 'alice');
    // Stored per (user, resource, issuer), with no pending authorization left behind.
    const keys = [...storage.map.keys()];
    assert.ok(keys.some((k) => k.startsWith('mcp-oauth/v1/entry/') && k.includes('"alice"') && k.includes(as.info.issuer)), keys.join('\n'));
    assert.ok(!keys.some((k) => k.includes('/pending/')), keys.join('\n'));

    // A second instance on the same storage is authorized without any AS request.
    await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
    const again = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice' });
    const c2 = await connect(again, mcp.info.url);
    await c2.listTools();
    await c2.close();
    const s2 = await stats(as);
    assert.equal(s2.register, 0);
    assert.deepEqual(s2.token, {}, "no token request");
  });

  test('refresh: an expired access token is refreshed once, rotated refresh token stored', async () => {
    await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTtl: 2 }) });
    try {
      const storage = memoryStorage();
      const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, onAuthorizationRequired: 'follow' });
      await auth.authorize({ mode: 'follow' });
      const before = [...storage.map.values()].join();
      // The refreshed token lives long: a slow machine must not see it expire again.
      await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTtl: 3600 }) });
      await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
      await new Promise((r) => setTimeout(r, 2500));
      // Ten concurrent requests with the expired token: one refresh.
      const results = await Promise.all(Array.from({ length: 10 }, () => auth.accessToken()));
      assert.ok(results.every((t) => typeof t === 'string' && t === results[0]));
      const client = await connect(auth, mcp.info.url);
      await client.listTools();
      await client.close();
      const s = await stats(as);
      assert.equal(s.token.refresh_token, 1, JSON.stringify(s.token));
      assert.equal(s.token.authorization_code ?? 0, 0);
      assert.notEqual([...storage.map.values()].join(), before, 'the rotated tokens were stored');
    } finally {
      await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accessTtl: 3600 }) });
    }
  });

  test('step-up: a 403 insufficient_scope re-authorizes with the wider scope and retries', async () => {
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, onAuthorizationRequired: 'follow' });
    const client = await connect(auth, mcp.info.url);
    assert.doesNotMatch(auth.status().scope ?? '', /mcp:admin/);
    const res = await client.callTool({ name: 'admin_op', arguments: {} });
    assert.ok(!res.isError, JSON.stringify(res));
    assert.match(auth.status().scope, /mcp:admin/);
    await client.close();
  });

  test('logout revokes: introspection shows the token inactive, storage emptied', async () => {
    const storage = memoryStorage();
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, onAuthorizationRequired: 'follow' });
    await auth.authorize({ mode: 'follow' });
    const token = await auth.accessToken();
    const report = await auth.logout();
    assert.deepEqual(report, { hadTokens: true, revoked: true, revocationError: null });
    assert.equal(auth.status().state, 'unauthorized');
    assert.equal(await auth.accessToken(), null);
    assert.equal([...storage.map.keys()].filter((k) => !k.includes('/pending/')).length, 0, [...storage.map.keys()].join());
    const intro = await postForm(`${as.info.issuer}/token/introspection`, { token }, { basic: ['mcp-resource-server', 'mcp-resource-server-secret'] });
    assert.equal(intro.body.active, false);
  });

  test('manual mode: the URL to open, then the pasted callback URL; a replayed callback is refused', async () => {
    const storage = memoryStorage();
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage });
    const pending = await auth.authorize({ mode: 'manual' });
    assert.equal(pending.state, 'awaiting_user');
    assert.match(pending.url, /code_challenge_method=S256/);
    assert.match(pending.url, /resource=/);
    // A user agent: follow the AS's redirects with cookies up to the redirect URI.
    const { browse } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
    const callback = (await browse(pending.url, REDIRECT)).callback.href;
    // A new instance (a restarted script) finishes it from storage.
    const later = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage });
    assert.equal(await later.handleRedirect(callback), true);
    assert.equal(later.status().authorized, true);
    await assert.rejects(later.handleRedirect(callback), (e) => e instanceof McpOAuthError && e.code === 'unknown_state');
    assert.equal(await later.handleRedirect('http://127.0.0.1:8976/callback'), false);
  });

  test('denied consent is an McpOAuthError with the OAuth error code, nothing stored as tokens', async () => {
    await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ consent: 'deny' }) });
    try {
      const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT });
      await assert.rejects(auth.authorize({ mode: 'follow' }), (e) => {
        assert.ok(e instanceof McpOAuthError, String(e));
        assert.equal(e.code, 'access_denied', e.message);
        assert.match(e.message, /denied/);
        return true;
      });
      assert.equal(auth.status().authorized, false);
    } finally {
      await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ consent: 'approve' }) });
    }
  });

  test('without a way to ask the user, fetch rejects with authorization_required and the URL', async () => {
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT });
    const err = await auth.fetch(mcp.info.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' }).then(() => null, (e) => e);
    assert.ok(err instanceof McpOAuthError);
    assert.equal(err.code, 'authorization_required');
    assert.match(err.url, /^http:\/\/127\.0\.0\.1:\d+\/auth\?/);
    assert.equal(err.serverUrl, mcp.info.url);
  });

  test('requests to other URLs pass through with no token', async () => {
    const seen = [];
    const spy = (input, init) => { seen.push([String(input), new Headers(init?.headers).get('authorization')]); return fetch(input, init); };
    const auth = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, fetch: spy, onAuthorizationRequired: 'follow' });
    await auth.authorize({ mode: 'follow' });
    await auth.fetch(`${as.info.issuer}/__stats`);
    const last = seen.at(-1);
    assert.equal(last[0], `${as.info.issuer}/__stats`);
    assert.equal(last[1], null);
  });

  test('options are checked, each error names the option', async () => {
    const cases = [
      [{ redirectUri: REDIRECT }, 'invalid_option', /serverUrl/],
      [{ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage: 'cookies' }, 'invalid_option', /storage/],
      [{ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage: { get() {} } }, 'invalid_option', /set, delete/],
      [{ serverUrl: mcp.info.url, redirectUri: REDIRECT, colour: 'red' }, 'invalid_option', /colour/],
      [{ serverUrl: mcp.info.url, redirectUri: REDIRECT, timeoutMs: -1 }, 'invalid_option', /timeoutMs/],
      [{ serverUrl: 'ftp://x/mcp', redirectUri: REDIRECT }, null, /ftp/],
      [{ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage: 'localStorage' }, 'storage_unavailable', /localStorage/],
    ];
    for (const [opts, code, message] of cases) {
      await assert.rejects(McpOAuth.create(opts), (e) => {
        assert.ok(e instanceof McpOAuthError, `${JSON.stringify(opts)}: ${e}`);
        if (code) assert.equal(e.code, code);
        assert.match(e.message, message);
        return true;
      });
    }
  });

  test('low-level Flow and step functions', () => {
    const c = parseBearerChallenge('Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", scope="a b"');
    assert.equal(c.resourceMetadata, 'https://x/.well-known/oauth-protected-resource');
    assert.equal(c.scope, 'a b');
    const flow = new Flow({ serverUrl: mcp.info.url, redirectUri: REDIRECT });
    const retry = flow.handleResourceResponse(1_800_000_000, 401, 'Bearer resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp"', undefined, 'POST', '{"jsonrpc":"2.0","id":1,"method":"initialize"}', crypto.getRandomValues(new Uint8Array(64)));
    assert.equal(retry, true);
    const req = flow.pollRequest();
    assert.equal(req.method, 'GET');
    assert.equal(req.purpose, 'resource_metadata');
    assert.equal(req.url, 'http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp');
    assert.throws(() => flow.handleResponse(1_800_000_000, req.id + 99, { status: 200, headers: [], body: '{}' }), (e) => e.code === 'unknown_request');
  });
});
