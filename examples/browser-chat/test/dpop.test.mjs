// The npm package's browser DPoP build (`mcp-oauth/dpop`, pkg/dpop.js; RFC 9449) in real headless
// Chromium (playwright-core with /usr/bin/chromium) against the real peers of tests/peers with
// DPoP nonces demanded at both servers (PEER_DPOP_NONCE=1, MCP_DPOP_NONCE=1): a popup
// authorization yields DPoP-bound tokens, the key is a non-extractable WebCrypto key in
// IndexedDB under its thumbprint (the entry's `dpop_key` refers to it), a page reload signs with
// the same key without a new consent, logout deletes the key, and a missing key is a clear error.
// Needs: `bash pkg/build.sh`, `npm ci` here and in tests/peers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { serve } from '../serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const { startAs, startMcp, chromiumOptions } = await import(pathToFileURL(join(root, 'tests', 'peers', 'harness.mjs')).href);
const { follow } = await import(pathToFileURL(join(root, 'pkg', 'src', 'io.js')).href);

/** RFC 7638 §3: the SHA-256 thumbprint of an EC public JWK. */
const thumbprint = (jwk) => createHash('sha256')
  .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');

const getJson = async (url) => (await fetch(url)).json();
const reset = (url) => fetch(url, { method: 'POST' });

describe('browser DPoP build in Chromium', { timeout: 120_000 }, () => {
  let as;
  let mcp;
  let site;
  let profile;
  let context;
  let page;
  const asStats = () => getJson(`${as.info.issuer}/__stats`);
  const mcpStats = () => getJson(mcp.info.url.replace(/\/mcp$/, '/__stats'));
  const resetStats = async () => {
    await reset(`${as.info.issuer}/__stats/reset`);
    await reset(mcp.info.url.replace(/\/mcp$/, '/__stats/reset'));
  };

  const introspect = async (token) => {
    const meta = await getJson(`${as.info.issuer}/.well-known/oauth-authorization-server`);
    const res = await fetch(meta.introspection_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('mcp-resource-server:mcp-resource-server-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    assert.equal(res.status, 200);
    const claims = await res.json();
    assert.equal(claims.active, true);
    return claims;
  };

  before(async () => {
    as = await startAs({ PEER_DPOP_NONCE: '1' });
    mcp = await startMcp(as.info.issuer, { MCP_DPOP_NONCE: '1' });
    site = await serve();
    profile = mkdtempSync(join(tmpdir(), 'mcp-oauth-chromium-'));
    context = await chromium.launchPersistentContext(profile, chromiumOptions());
    page = context.pages()[0] ?? (await context.newPage());
    await page.exposeFunction('approveInNode', (url, redirectUri) => follow(fetch, url, redirectUri, 30000));
    await page.goto(`${site.url}pkg/package.json`);
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await site?.close();
    await mcp?.stop();
    await as?.stop();
  });

  // In the page: the DPoP entry's McpOAuth over localStorage, helpers on `window.t`.
  const setup = (serverUrl, userId) => page.evaluate(async ({ serverUrl, userId }) => {
    const pkg = await import('/pkg/dpop.js');
    const options = { serverUrl, redirectUri: `${location.origin}/callback.html`, storage: 'localStorage', userId, dpop: 'always' };
    const idb = (mode, op) => new Promise((resolve, reject) => {
      const req = indexedDB.open('mcp-oauth-dpop', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('keys');
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const tx = req.result.transaction('keys', mode);
        const r = op(tx.objectStore('keys'));
        tx.oncomplete = () => { req.result.close(); resolve(r.result); };
        tx.onerror = () => reject(tx.error);
      };
    });
    const entry = () => {
      const k = Object.keys(localStorage).find((x) => x.includes('/entry/') && x.includes(JSON.stringify(userId)));
      return k ? JSON.parse(localStorage.getItem(k)) : null;
    };
    const mcpCall = async (auth) => {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } });
      const res = await auth.fetch(serverUrl, { method: 'POST', headers, body });
      await res.text();
      return res.status;
    };
    window.t = { pkg, options, idb, entry, mcpCall };
    window.auth = await pkg.McpOAuth.create(options);
    return window.auth.status();
  }, { serverUrl, userId });

  test('a popup authorization gets DPoP-bound tokens; the key is non-extractable and survives a reload; logout deletes it', async () => {
    const serverUrl = mcp.info.url;
    await resetStats();
    const initial = await setup(serverUrl, 'popup');
    assert.equal(initial.authorized, false);
    // A user gesture opens the popup (authorize() synchronously in the click handler).
    await page.evaluate(() => {
      const b = document.createElement('button');
      b.id = 'go';
      b.textContent = 'connect';
      b.onclick = () => {
        window.done = window.auth.authorize({ mode: 'popup' }).then((s) => ({ s }), (e) => ({ e: `${e.code}: ${e.message}` }));
      };
      document.body.append(b);
    });
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#go')]);
    await popup.waitForEvent('close', { timeout: 30000 });
    const r = await page.evaluate(async () => {
      const done = await window.done;
      const { idb, entry, mcpCall } = window.t;
      const e = entry();
      const jkt = e.dpop_key?.replace(/^webcrypto:v1:/, '');
      const stored = await idb('readonly', (s) => s.get(jkt));
      const exported = await crypto.subtle.exportKey('pkcs8', stored.privateKey).then(() => 'exported', (x) => x.name);
      const exportedJwk = await crypto.subtle.exportKey('jwk', stored.privateKey).then(() => 'exported', (x) => x.name);
      const token = await window.auth.accessToken();
      return {
        token, done, tokenType: e.tokens?.token_type, dpopKey: e.dpop_key, jkt, extractable: stored.privateKey.extractable,
        type: stored.privateKey.type, exported, exportedJwk, status: await mcpCall(window.auth),
      };
    });
    assert.equal(r.done.e, undefined, r.done.e);
    assert.equal(r.done.s.authorized, true);
    assert.equal(r.done.s.dpop, true, 'DPoP-bound tokens');
    assert.equal(r.tokenType, 'DPoP');
    assert.match(r.dpopKey, /^webcrypto:v1:[A-Za-z0-9_-]{43}$/);
    assert.equal(r.type, 'private');
    assert.equal(r.extractable, false);
    assert.equal(r.exported, 'InvalidAccessError', 'exportKey rejects the private key');
    assert.equal(r.exportedJwk, 'InvalidAccessError');
    assert.equal(r.status, 200);
    // The access token is bound to that key: cnf.jkt (RFC 9449 §6.1), by introspection (RFC 7662)
    // with the resource server's credentials at the peer AS (tests/peers/as.mjs).
    assert.equal((await introspect(r.token)).cnf?.jkt, r.jkt);

    // The AS: the code exchange's proof (after its use_dpop_nonce round) is signed by that key.
    const a = await asStats();
    assert.equal(a.authorization, 1);
    const code = a.dpop_token_requests.filter((x) => x.grant_type === 'authorization_code');
    assert.deepEqual(code.map((x) => x.error ?? x.token_type), ['use_dpop_nonce', 'DPoP']);
    assert.ok(code.every((x) => thumbprint(x.header.jwk) === r.jkt), 'the token request proofs carry the stored key');
    // The MCP server: DPoP scheme, a nonce round, then accepted (the token's cnf.jkt is the proof's key).
    const m = await mcpStats();
    assert.ok(m.dpop_requests.length >= 2, JSON.stringify(m.dpop_requests));
    assert.ok(m.dpop_requests.every((x) => x.authorization_scheme === 'DPoP'));
    assert.equal(m.dpop_requests.at(-1).decision, 'accepted');
    assert.ok(m.dpop_requests.some((x) => x.decision !== 'accepted'), 'a use_dpop_nonce round');
    assert.ok(m.dpop_requests.every((x) => thumbprint(x.header.jwk) === r.jkt));
    assert.ok(m.dpop_requests.at(-1).claims.ath, 'ath');

    // A page reload: the entry and the key come back; same key, no new consent.
    await resetStats();
    await page.reload();
    const again = await setup(serverUrl, 'popup');
    assert.equal(again.authorized, true);
    assert.equal(again.dpop, true);
    const status = await page.evaluate(() => window.t.mcpCall(window.auth));
    assert.equal(status, 200);
    const a2 = await asStats();
    assert.equal(a2.authorization, 0, 'no new consent');
    assert.equal(a2.register, 0);
    const m2 = await mcpStats();
    assert.equal(m2.dpop_requests.at(-1).decision, 'accepted');
    assert.ok(m2.dpop_requests.every((x) => thumbprint(x.header.jwk) === r.jkt), 'the same key after the reload');

    // logout(): tokens and key go together.
    const out = await page.evaluate(async (jkt) => {
      const report = await window.auth.logout();
      const key = await window.t.idb('readonly', (s) => s.get(jkt));
      const third = await window.t.pkg.McpOAuth.create(window.t.options);
      return { hadTokens: report.hadTokens, key: key === undefined ? null : 'still there', after: third.status().authorized };
    }, r.jkt);
    assert.deepEqual(out, { hadTokens: true, key: null, after: false });
  });

  test('a DPoP-bound entry whose key is gone is stored_state_invalid, left as is; memory storage keeps the key in memory', async () => {
    const serverUrl = mcp.info.url;
    await setup(serverUrl, 'lost');
    const r = await page.evaluate(async () => {
      const { pkg, options, idb, entry, mcpCall } = window.t;
      const redirectUri = options.redirectUri;
      const pending = await window.auth.authorize({ mode: 'manual' });
      await window.auth.handleRedirect(await window.approveInNode(pending.url, redirectUri));
      const before = entry();
      const jkt = before.dpop_key.replace(/^webcrypto:v1:/, '');
      await idb('readwrite', (s) => s.delete(jkt));
      const e = await pkg.McpOAuth.create(options).then(() => null, (x) => x);
      const kept = JSON.stringify(entry()) === JSON.stringify(before);
      // storage 'memory': a key made here, none added to IndexedDB.
      const keysBefore = await idb('readonly', (s) => s.count());
      const mem = await pkg.McpOAuth.create({ ...options, storage: 'memory', userId: 'memory' });
      const p2 = await mem.authorize({ mode: 'manual' });
      await mem.handleRedirect(await window.approveInNode(p2.url, redirectUri));
      const memStatus = await mcpCall(mem);
      const keysAfter = await idb('readonly', (s) => s.count());
      return { code: e?.code, message: e?.message, jkt, kept, memDpop: mem.status().dpop, memStatus, keysBefore, keysAfter };
    });
    assert.equal(r.code, 'stored_state_invalid', r.message);
    assert.ok(r.message.includes(`bound to DPoP key ${r.jkt}, which is not in this browser's IndexedDB`), r.message);
    assert.equal(r.kept, true, 'the entry is left as is');
    assert.equal(r.memDpop, true);
    assert.equal(r.memStatus, 200);
    assert.equal(r.keysAfter, r.keysBefore, 'memory storage: the key stays in memory');
  });

  test('the chat page with ?dpop=1: popup consent, the MCP SDK client over DPoP, a reload keeps key and tokens', async () => {
    await resetStats();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=popup&dpop=1`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.textContent('#auth-state'), 'unauthorized');
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
    await popup.waitForEvent('close', { timeout: 30000 });
    await page.waitForSelector('#tools li[data-tool="echo"]', { timeout: 30000 });
    assert.match(await page.textContent('#auth-detail'), /DPoP-bound/);
    await page.fill('#input', 'echo hello over dpop');
    await page.click('#send');
    await page.waitForSelector('.msg.tool');
    assert.match(await page.textContent('.msg.tool'), /hello over dpop/);
    const m = await mcpStats();
    const accepted = m.dpop_requests.filter((x) => x.decision === 'accepted');
    assert.ok(accepted.length >= 3, 'initialize, tools/list, tools/call');
    assert.ok(m.dpop_requests.every((x) => x.authorization_scheme === 'DPoP'), 'never Bearer');
    const jkts = new Set(m.dpop_requests.map((x) => thumbprint(x.header.jwk)));
    assert.equal(jkts.size, 1, 'one key');
    // The reload finds tokens and key: no new consent, the same key.
    await resetStats();
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.textContent('#auth-state'), 'authorized');
    await page.click('#connect');
    await page.waitForSelector('#tools li[data-tool="echo"]', { timeout: 30000 });
    assert.equal((await asStats()).authorization, 0, 'no new consent');
    const m2 = await mcpStats();
    assert.ok(m2.dpop_requests.some((x) => x.decision === 'accepted'));
    assert.deepEqual(new Set(m2.dpop_requests.map((x) => thumbprint(x.header.jwk))), jkts, 'the same key');
    assert.deepEqual(errors, []);
  });

  test('the default browser entry stays without DPoP', async () => {
    const r = await page.evaluate(async () => {
      const plain = await import('/pkg/index.js');
      const dpop = await import('/pkg/dpop.js');
      return { plain: typeof plain.assembleDpopProof, dpop: typeof dpop.assembleDpopProof };
    });
    assert.deepEqual(r, { plain: 'undefined', dpop: 'function' });
  });
});
