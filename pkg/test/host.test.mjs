// The JS host's own parts in Node, without servers: the IO primitives of src/io.js (entropy,
// storages, their errors), the options only the host checks, and the sans-IO Flow of the built
// package (core options only, no global fetch needed, entropy passed in).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  McpOAuthError, randomBytes, makeStorage, storageGet, storageSet, storageDelete,
} from '../src/io.js';
import { McpOAuth, McpOAuthError as PackageError, Flow } from '../node.js';

const REDIRECT = 'http://127.0.0.1:8976/callback';
const SERVER = 'https://mcp.example.com/mcp';
const isError = (code, re) => (e) => {
  assert.ok(e instanceof McpOAuthError, String(e));
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

function asyncStorage() {
  const map = new Map();
  return { map, get: async (k) => map.get(k) ?? null, set: async (k, v) => { map.set(k, v); }, delete: async (k) => { map.delete(k); } };
}

test('entropy comes from crypto.getRandomValues and differs', () => {
  const a = randomBytes(64);
  const b = randomBytes(64);
  assert.equal(a.length, 64);
  assert.notDeepEqual(a, b);
  assert.ok(a.some((x) => x !== 0));
});

test('memory and custom async storages round-trip', async () => {
  for (const spec of ['memory', undefined, asyncStorage()]) {
    const s = makeStorage(spec);
    assert.equal(await storageGet(s, 'k'), null);
    await storageSet(s, 'k', 'v1');
    assert.equal(await storageGet(s, 'k'), 'v1');
    await storageDelete(s, 'k');
    assert.equal(await storageGet(s, 'k'), null);
  }
});

test('storage failures name the operation and the key', async () => {
  const fire = async () => { throw new Error('disk on fire'); };
  const s = makeStorage({ get: fire, set: fire, delete: fire });
  await assert.rejects(storageSet(s, 'the-key', 'v'), isError('storage_failed', /set.*the-key.*disk on fire/));
  const wrongType = makeStorage({ get: async () => 42, set: fire, delete: fire });
  await assert.rejects(storageGet(wrongType, 'k'), isError('storage_failed', /expected a string, got number/));
});

test('bad storage options are refused; browser storages are unavailable in Node', () => {
  assert.throws(() => makeStorage('cookies'), isError('invalid_option', /storage/));
  assert.throws(() => makeStorage({ get() {} }), isError('invalid_option', /set, delete/));
  for (const kind of ['localStorage', 'sessionStorage', 'indexedDB']) {
    assert.throws(() => makeStorage(kind), isError('storage_unavailable', new RegExp(kind)));
  }
});

test("the host's options are checked by the host, with the codes and messages of the core's", async () => {
  const cases = [
    [undefined, /McpOAuth\.create needs an options object/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, colour: 'red' }, /options\.colour: unknown option \(known: serverUrl, .*timeoutMs\)/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, fetch: 'no' }, /options\.fetch: expected a function, got string/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, onAuthorizationRequired: 'sure' }, /options\.onAuthorizationRequired: expected a function or "follow", got string/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, timeoutMs: 0 }, /options\.timeoutMs: expected a positive number of milliseconds/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, timeoutMs: Infinity }, /timeoutMs/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, userId: 7 }, /options\.userId: expected a string, got number/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, userId: '' }, /options\.userId: must not be empty/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, clientSecret: 's' }, /options\.clientSecret: needs clientId/],
    [{ serverUrl: SERVER, redirectUri: REDIRECT, scopes: 3 }, /options\.scopes: expected a string or an array of strings, got number/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(McpOAuth.create(options), (e) => {
      assert.ok(e instanceof PackageError, String(e));
      assert.equal(e.code, 'invalid_option', e.message);
      assert.match(e.message, message);
      return true;
    }, String(message));
  }
});

test('without a global fetch: McpOAuth asks for options.fetch, Flow does not need one', async () => {
  const saved = globalThis.fetch;
  delete globalThis.fetch;
  try {
    await assert.rejects(McpOAuth.create({ serverUrl: SERVER, redirectUri: REDIRECT }), isError('invalid_option', /no global fetch here: pass options\.fetch/));
    const flow = new Flow({ serverUrl: SERVER, redirectUri: REDIRECT });
    flow.beginAuthorization(1_800_000_000, randomBytes(64));
    const req = flow.pollRequest();
    assert.equal(req.purpose, 'resource_metadata');
    assert.equal(req.method, 'GET');
  } finally {
    globalThis.fetch = saved;
  }
});

test("Flow takes only the core's options, and its entropy from the caller", () => {
  // The host's options are not the core's: a Flow refuses them.
  assert.throws(() => new Flow({ serverUrl: SERVER, redirectUri: REDIRECT, storage: 'memory' }), isError('invalid_option', /options\.storage: unknown option \(known: serverUrl, redirectUri, clientName, clientId, clientSecret, clientMetadataUrl, scopes, dpop\)/));
  assert.throws(() => new Flow(null), isError('invalid_option', /Flow needs an options object/));
  // Scopes are checked by the core (RFC 6749 §3.3 scope-token), as a string or an array.
  assert.throws(() => new Flow({ serverUrl: SERVER, redirectUri: REDIRECT, scopes: ['mcp:read', 'say "hi"'] }), isError('invalid_option', /options\.scopes: .*`say "hi"` is not a scope token/));
  assert.throws(() => new Flow({ serverUrl: SERVER, redirectUri: REDIRECT, scopes: 'a b\\c' }), isError('invalid_option', /scope token/));
  new Flow({ serverUrl: SERVER, redirectUri: REDIRECT, scopes: ['mcp:read', 'mcp:read', 'mcp:write'] });
  const flow = new Flow({ serverUrl: SERVER, redirectUri: REDIRECT });
  // Errors thrown by the WebAssembly module are Errors and McpOAuthErrors (of either import).
  assert.throws(() => flow.beginAuthorization(1_800_000_000), (e) => e instanceof Error && e instanceof PackageError && isError('invalid_argument', /entropy must be a Uint8Array of 64 bytes/)(e));
  assert.throws(() => flow.beginAuthorization(1_800_000_000, new Uint8Array(63)), isError('invalid_argument', /64 bytes/));
  assert.equal(flow.pollRequest(), undefined, 'nothing started');
  assert.throws(() => flow.handleResponse(1_800_000_000, 7, { status: 200, headers: [], body: '{}' }), isError('unknown_request'));
});
