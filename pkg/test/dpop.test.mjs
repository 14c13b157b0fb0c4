// DPoP (RFC 9449) with the built npm package (Node entry) against the real peers: the
// authorization server issues DPoP-bound tokens and demands its nonce (PEER_DPOP_NONCE), the MCP
// server accepts only DPoP-bound tokens with a valid proof and demands its own nonce
// (MCP_DPOP_NONCE). Both peers record every proof they get; the assertions count them there.
// The last tests move DPoP-bound entries (tokens and key) between this package and the native
// client (native/examples/entry_peer.rs, built here with cargo).
// Build first: `bash pkg/build.sh`. DPOP_TRANSCRIPT=1 prints the decoded proofs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { McpOAuth } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const { startAs, startMcp, getJson, browse } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const REDIRECT = 'http://127.0.0.1:8976/callback';
const PREFIX = 'mcp-oauth/v1/';
const show = (title, rows) => {
  if (!process.env.DPOP_TRANSCRIPT) return;
  console.log(`--- ${title} ---`);
  for (const r of rows) console.log(JSON.stringify(r));
};

function memoryStorage() {
  const map = new Map();
  return { map, get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); }, delete: (k) => { map.delete(k); } };
}

/** A fetch that records every request's URL, Authorization and DPoP headers. */
function recordingFetch() {
  const seen = [];
  const f = async (input, init = {}) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, authorization: req.headers.get('authorization'), dpop: req.headers.get('dpop') });
    return fetch(req);
  };
  return { seen, fetch: f };
}

async function whoami(auth, url) {
  const client = new Client({ name: 'dpop-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: auth.fetch }));
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();
  assert.ok(!res.isError, JSON.stringify(res));
  return res.content[0].text;
}

const stats = async (peer) => (await getJson(`${peer.info.issuer ?? new URL(peer.info.url).origin}/__stats`)).body;
const reset = (peer) => fetch(`${peer.info.issuer ?? new URL(peer.info.url).origin}/__stats/reset`, { method: 'POST' });
const thumbprint = (jwk) => createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');

describe('DPoP (npm package, Node, real peers with nonces)', () => {
  let as;
  let mcp;
  before(async () => {
    as = await startAs({ PEER_DPOP_NONCE: '1', PEER_ACCESS_TTL: '2' });
    mcp = await startMcp(as.info.issuer, { MCP_DPOP: '1', MCP_DPOP_NONCE: '1' });
  });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
  });

  test('cold flow: proofs at the token endpoint and the MCP server, nonce retries, never Bearer; refresh in a new client with the stored key', async () => {
    await reset(as);
    await reset(mcp);
    const storage = memoryStorage();
    const rec = recordingFetch();
    const options = {
      serverUrl: mcp.info.url, redirectUri: REDIRECT, clientName: 'dpop test', storage,
      onAuthorizationRequired: 'follow', userId: 'alice', fetch: rec.fetch,
    };
    const auth = await McpOAuth.create(options);
    assert.match(await whoami(auth, mcp.info.url), /alice/);
    assert.equal(auth.status().dpop, true, 'the tokens are DPoP-bound');

    // The token endpoint: the exchange's first proof has no nonce and is refused with
    // use_dpop_nonce (§8); the retry carries the server's nonce and gets a DPoP token.
    const asProofs = (await stats(as)).dpop_token_requests;
    show('token endpoint (authorization server)', asProofs);
    const exchange = asProofs.filter((r) => r.grant_type === 'authorization_code');
    assert.equal(exchange.length, 2, JSON.stringify(asProofs));
    assert.equal(exchange[0].status, 400);
    assert.equal(exchange[0].error, 'use_dpop_nonce');
    assert.equal(exchange[0].claims.nonce, undefined);
    assert.equal(exchange[1].status, 200);
    assert.equal(exchange[1].token_type, 'DPoP');
    assert.equal(exchange[1].claims.nonce, exchange[0].dpop_nonce);
    for (const r of exchange) {
      assert.equal(r.header.typ, 'dpop+jwt');
      assert.equal(r.header.alg, 'ES256');
      assert.equal(r.header.jwk.d, undefined, 'no private member in the proof');
      assert.equal(r.claims.htm, 'POST');
      assert.equal(r.claims.ath, undefined, 'no ath at the token endpoint');
    }
    assert.notEqual(exchange[0].claims.jti, exchange[1].claims.jti, 'a fresh proof per request');
    const jwk = exchange[0].header.jwk;

    // The MCP server: the first request without its nonce is refused (§9), every other one is
    // accepted; all with ath and the same key.
    const mcpProofs = (await stats(mcp)).dpop_requests;
    show('MCP server (resource server)', mcpProofs);
    assert.ok(mcpProofs.length >= 3, JSON.stringify(mcpProofs));
    assert.equal(mcpProofs[0].decision, 'use_dpop_nonce');
    assert.equal(mcpProofs[0].claims.nonce, undefined);
    assert.ok(mcpProofs.slice(1).every((r) => r.decision === 'accepted'), JSON.stringify(mcpProofs));
    for (const r of mcpProofs) {
      assert.equal(r.authorization_scheme, 'DPoP');
      assert.deepEqual(r.header.jwk, jwk);
      assert.match(r.claims.ath, /^[A-Za-z0-9_-]{43}$/);
    }
    assert.equal(new Set(mcpProofs.map((r) => r.claims.jti)).size, mcpProofs.length, 'no proof reused');
    const toMcp = rec.seen.filter((r) => r.url.startsWith(mcp.info.url));
    assert.ok(toMcp.length >= mcpProofs.length);
    assert.ok(toMcp.every((r) => !/^bearer /i.test(r.authorization ?? '')), 'never Bearer for a bound token');
    assert.ok(toMcp.filter((r) => r.authorization).every((r) => r.dpop), 'every request with the token has a proof');

    // The key is persisted with the tokens, in the native format (PKCS#8 hex).
    const [, entry] = [...storage.map].find(([k]) => k.startsWith(`${PREFIX}entry/`));
    const persisted = JSON.parse(entry);
    assert.match(JSON.stringify(persisted), /"dpop_key":"[0-9a-f]{200,}"/);

    // A new client (a new process) on the same storage after the access token expired: the
    // refresh carries a proof of the stored key (the refresh token is bound to it, §5).
    await new Promise((r) => setTimeout(r, 3000));
    await reset(as);
    await reset(mcp);
    const again = await McpOAuth.create(options);
    assert.match(await whoami(again, mcp.info.url), /alice/);
    const s = await stats(as);
    show('token endpoint, the refresh', s.dpop_token_requests);
    assert.equal(s.authorization, 0, 'no new authorization');
    const refreshes = s.dpop_token_requests.filter((r) => r.grant_type === 'refresh_token');
    const ok = refreshes.find((r) => r.status === 200);
    assert.ok(ok, JSON.stringify(refreshes));
    assert.equal(ok.token_type, 'DPoP');
    assert.deepEqual(ok.header.jwk, jwk, 'the same key');
    assert.equal(typeof ok.claims.nonce, 'string');
    const after = (await stats(mcp)).dpop_requests;
    assert.ok(after.length > 0 && after.every((r) => r.authorization_scheme === 'DPoP'));
    assert.ok(after.some((r) => r.decision === 'accepted'));
    assert.equal(thumbprint(after.at(-1).header.jwk), thumbprint(jwk));
  });

  test('an authorization finished by another client (handleRedirect from storage) binds its tokens to a key made then', async () => {
    const storage = memoryStorage();
    const options = { serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'dave' };
    const first = await McpOAuth.create(options);
    const { url } = await first.authorize({ mode: 'manual' });
    const callback = (await browse(url, REDIRECT)).callback.href;
    const second = await McpOAuth.create(options);
    assert.equal(await second.handleRedirect(callback), true);
    assert.equal(second.status().dpop, true);
    assert.match(await whoami(second, mcp.info.url), /alice/, "the peer's one user");
    const [, entry] = [...storage.map].find(([k]) => k.startsWith(`${PREFIX}entry/`));
    assert.match(entry, /"dpop_key":"[0-9a-f]{200,}"/);
    assert.ok(![...storage.map.keys()].some((k) => k.includes('/pending/')), 'the pending record was used up');
  });

  test("dpop: 'never' against a server that takes only DPoP-bound tokens: a clear error", async () => {
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, clientName: 'dpop never', storage: memoryStorage(),
      onAuthorizationRequired: 'follow', userId: 'bob', dpop: 'never',
    });
    await assert.rejects(whoami(auth, mcp.info.url), (e) => {
      assert.equal(e.code, 'token_rejected_by_resource', e.message);
      assert.match(e.message, /expected DPoP <token>/);
      return true;
    });
    assert.equal(auth.status().dpop, false);
  });

  test('the dpop option is checked, and bound tokens without their key are refused with a clear error', async () => {
    await assert.rejects(
      McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, dpop: 'sometimes' }),
      (e) => e.code === 'invalid_option' && e.option === 'dpop' && /auto/.test(e.message),
    );
    // An entry whose DPoP-bound tokens lost their key (written by a host without DPoP, or edited).
    const storage = memoryStorage();
    const options = { serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, onAuthorizationRequired: 'follow', userId: 'carol' };
    const auth = await McpOAuth.create(options);
    await whoami(auth, mcp.info.url);
    const [key, value] = [...storage.map].find(([k]) => k.startsWith(`${PREFIX}entry/`));
    storage.map.set(key, value.replace(/,?"dpop_key":"[0-9a-f]+"/, ''));
    await assert.rejects(McpOAuth.create(options), (e) => {
      assert.equal(e.code, 'stored_state_invalid');
      assert.match(e.message, /DPoP-bound .* no DPoP key/);
      return true;
    });
    // A damaged key: named as such.
    storage.map.set(key, value.replace(/"dpop_key":"[0-9a-f]+"/, '"dpop_key":"3041"'));
    await assert.rejects(McpOAuth.create(options), (e) => e.code === 'stored_state_invalid' && /PKCS#8/.test(e.message));
    // The browser DPoP entry's reference to a key that stays in that browser (pkg/src/dpop-browser.js): named, not misread.
    storage.map.set(key, value.replace(/"dpop_key":"[0-9a-f]+"/, `"dpop_key":"webcrypto:v1:${'A'.repeat(43)}"`));
    await assert.rejects(McpOAuth.create(options), (e) => {
      assert.equal(e.code, 'stored_state_invalid');
      assert.match(e.message, /a browser's non-extractable WebCrypto key \(webcrypto:v1:…\)/);
      return true;
    });
  });
});

const run = promisify(execFile);
const repo = join(here, '..', '..');

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

describe('DPoP-bound entries, native ⇄ npm package (Node)', () => {
  let as;
  let mcp;
  let exe;
  let dir;
  before(async () => {
    [exe, as, dir] = await Promise.all([buildNative(), startAs({ PEER_DPOP_NONCE: '1', PEER_ACCESS_TTL: '3600' }), mkdtemp(join(tmpdir(), 'mcp-oauth-dpop-'))]);
    mcp = await startMcp(as.info.issuer, { MCP_DPOP: '1', MCP_DPOP_NONCE: '1' });
  }, { timeout: 900000 });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const authorizations = async () => {
    const s = await stats(as);
    return { authorization: s.authorization, token: s.dpop_token_requests.length };
  };

  test('native writes a DPoP-bound entry; the npm package uses its tokens with its key', async () => {
    const file = join(dir, 'native.entry.json');
    await native(exe, ['authorize', mcp.info.url, 'alice', file]);
    const text = await readFile(file, 'utf8');
    const entry = JSON.parse(text);
    assert.match(entry.tokens.token_type, /^dpop$/i);
    assert.match(entry.dpop_key, /^[0-9a-f]+$/);
    const nativeJwk = (await stats(mcp)).dpop_requests.at(-1).header.jwk;
    const storage = memoryStorage();
    storage.set(`${PREFIX}index/${JSON.stringify([entry.user, entry.resource])}`, entry.issuer);
    storage.set(`${PREFIX}entry/${JSON.stringify([entry.user, entry.resource, entry.issuer])}`, text);
    await reset(as);
    await reset(mcp);
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice',
      onAuthorizationRequired: () => { throw new Error('no authorization expected'); },
    });
    assert.equal(auth.status().dpop, true);
    assert.match(await whoami(auth, mcp.info.url), /alice/);
    assert.deepEqual(await authorizations(), { authorization: 0, token: 0 });
    const proofs = (await stats(mcp)).dpop_requests;
    assert.ok(proofs.some((r) => r.decision === 'accepted'), JSON.stringify(proofs));
    for (const r of proofs) assert.deepEqual(r.header.jwk, nativeJwk, 'the native key');
  });

  test('the npm package writes a DPoP-bound entry; native uses its tokens with its key', async () => {
    const storage = memoryStorage();
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'bob', onAuthorizationRequired: 'follow',
    });
    await whoami(auth, mcp.info.url);
    const jsJwk = (await stats(mcp)).dpop_requests.at(-1).header.jwk;
    const [, text] = [...storage.map].find(([k]) => k.startsWith(`${PREFIX}entry/`));
    const file = join(dir, 'npm.entry.json');
    await writeFile(file, text, { mode: 0o600 });
    await reset(as);
    await reset(mcp);
    const read = await native(exe, ['call', mcp.info.url, file]);
    assert.equal(read.token, await auth.accessToken(), 'native called with the token the package stored');
    assert.deepEqual(await authorizations(), { authorization: 0, token: 0 });
    const proofs = (await stats(mcp)).dpop_requests;
    assert.ok(proofs.some((r) => r.decision === 'accepted'), JSON.stringify(proofs));
    for (const r of proofs) assert.deepEqual(r.header.jwk, jsJwk, 'the package\'s key');
  });

  test("an entry of the browser DPoP entry (dpop_key webcrypto:v1:<jkt>) is refused by native, naming it", async () => {
    const storage = memoryStorage();
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'dave', onAuthorizationRequired: 'follow',
    });
    await whoami(auth, mcp.info.url);
    const [, text] = [...storage.map].find(([k]) => k.startsWith(`${PREFIX}entry/`));
    const browserEntry = text.replace(/"dpop_key":"[0-9a-f]+"/, `"dpop_key":"webcrypto:v1:${'A'.repeat(43)}"`);
    assert.notEqual(browserEntry, text);
    const file = join(dir, 'browser.entry.json');
    await writeFile(file, browserEntry, { mode: 0o600 });
    await reset(mcp);
    await assert.rejects(native(exe, ['call', mcp.info.url, file]), (e) => {
      assert.match(e.message, /non-extractable WebCrypto key \(webcrypto:v1:…\), which only that browser holds/);
      return true;
    });
    assert.equal((await stats(mcp)).dpop_requests.length, 0, 'nothing sent with the tokens');
  });
});
