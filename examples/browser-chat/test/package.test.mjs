// The npm package's browser-only parts in real headless Chromium (playwright-core with
// /usr/bin/chromium): the storages a browser has (pkg/src/io.js), tokens kept across clients in
// localStorage and IndexedDB against the real peers of tests/peers, the browser build without
// DPoP against a DPoP-only server, and the CORS hint of a transport failure. Needs: `bash pkg/build.sh`, `npm ci` here and in tests/peers.
import assert from 'node:assert/strict';
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
// Follow mode of the package (Node side): approves at the peer AS, which needs no user.
const { follow } = await import(pathToFileURL(join(root, 'pkg', 'src', 'io.js')).href);

describe('npm package in Chromium', () => {
  let as;
  let mcp;
  let site;
  let profile;
  let context;
  let page;

  before(async () => {
    as = await startAs();
    mcp = await startMcp(as.info.issuer);
    site = await serve();
    profile = mkdtempSync(join(tmpdir(), 'mcp-oauth-chromium-'));
    context = await chromium.launchPersistentContext(profile, chromiumOptions());
    page = context.pages()[0] ?? (await context.newPage());
    await page.exposeFunction('approveInNode', (url, redirectUri) => follow(fetch, url, redirectUri, 30000));
    // Any page of the site's origin: the tests import the package themselves.
    await page.goto(`${site.url}pkg/package.json`);
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await site?.close();
    await mcp?.stop();
    await as?.stop();
  });

  test('importing the package fetches no wasm; the first create() does, and a failed load is an error on that call', async () => {
    const p = await context.newPage();
    const wasm = [];
    let fail = true;
    await p.route('**/*.wasm', (route) => {
      wasm.push(route.request().url());
      if (fail) {
        fail = false;
        return route.fulfill({ status: 404, contentType: 'text/plain', body: 'not here' });
      }
      return route.continue();
    });
    try {
      await p.goto(`${site.url}pkg/package.json`);
      const imported = await p.evaluate(async () => {
        const { McpOAuth } = await import('/pkg/index.js');
        window.McpOAuthUnderTest = McpOAuth;
        return typeof McpOAuth.create;
      });
      assert.equal(imported, 'function');
      assert.deepEqual(wasm, [], 'the import fetched the wasm');
      const r = await p.evaluate(async ({ serverUrl }) => {
        const McpOAuth = window.McpOAuthUnderTest;
        const options = { serverUrl, redirectUri: `${location.origin}/callback.html`, storage: 'memory' };
        const failed = await McpOAuth.create(options).then(() => null, (e) => ({ code: e.code, url: e.url, message: e.message }));
        document.body.textContent = 'still here';
        const auth = await McpOAuth.create(options);
        return { failed, page: document.body.textContent, state: auth.status().state };
      }, { serverUrl: mcp.info.url });
      assert.equal(r.failed?.code, 'wasm_load_failed', JSON.stringify(r));
      assert.match(r.failed.url, /\/pkg\/dist\/mcp_oauth_wasm_bg\.wasm$/);
      assert.equal(r.page, 'still here');
      assert.equal(r.state, 'unauthorized');
      assert.equal(wasm.length, 2, `one failed load, one retry: ${wasm}`);
    } finally {
      await p.close();
    }
  });

  test('localStorage, sessionStorage and IndexedDB storages round-trip', async () => {
    const results = await page.evaluate(async () => {
      const { makeStorage, storageGet, storageSet, storageDelete } = await import('/pkg/src/io.js');
      const out = {};
      for (const kind of ['localStorage', 'sessionStorage', 'indexedDB']) {
        const s = makeStorage(kind);
        const key = `test/${kind}`;
        const seen = [];
        await storageSet(s, key, 'v1');
        seen.push(await storageGet(s, key));
        await storageSet(s, key, 'v2');
        seen.push(await storageGet(s, key));
        await storageDelete(s, key);
        seen.push(await storageGet(s, key));
        out[kind] = seen;
      }
      return out;
    });
    for (const kind of ['localStorage', 'sessionStorage', 'indexedDB']) {
      assert.deepEqual(results[kind], ['v1', 'v2', null], kind);
    }
  });

  test('tokens survive a new client in localStorage and IndexedDB', async () => {
    for (const storage of ['localStorage', 'indexedDB']) {
      const r = await page.evaluate(async ({ serverUrl, storage }) => {
        const { McpOAuth } = await import('/pkg/index.js');
        const redirectUri = `${location.origin}/callback.html`;
        const options = { serverUrl, redirectUri, storage, userId: `user-${storage}` };
        const auth = await McpOAuth.create(options);
        const pending = await auth.authorize({ mode: 'manual' });
        await auth.handleRedirect(await window.approveInNode(pending.url, redirectUri));
        const again = await McpOAuth.create(options);
        const before = again.status();
        const token = await again.accessToken();
        const report = await again.logout();
        const third = await McpOAuth.create(options);
        return { first: auth.status().authorized, before, token, report, after: third.status().authorized };
      }, { serverUrl: mcp.info.url, storage });
      assert.equal(r.first, true, storage);
      assert.equal(r.before.authorized, true, storage);
      assert.equal(r.before.serverUrl, mcp.info.url);
      assert.ok(typeof r.token === 'string' && r.token.length > 0, storage);
      assert.equal(r.report.hadTokens, true);
      assert.equal(r.after, false, `${storage}: logout removed the stored tokens`);
    }
  });

  test('DPoP is not in the browser build: "always" is refused, a DPoP-only server refuses its Bearer tokens in its words', async () => {
    const dpopMcp = await startMcp(as.info.issuer, { MCP_DPOP: '1' });
    try {
      const r = await page.evaluate(async ({ serverUrl }) => {
        const { McpOAuth } = await import('/pkg/index.js');
        const redirectUri = `${location.origin}/callback.html`;
        const always = await McpOAuth.create({ serverUrl, redirectUri, dpop: 'always' }).then(() => null, (e) => e);
        const map = new Map();
        const storage = { get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); }, delete: (k) => { map.delete(k); } };
        const auth = await McpOAuth.create({ serverUrl, redirectUri, userId: 'dpop', storage });
        const pending = await auth.authorize({ mode: 'manual' });
        await auth.handleRedirect(await window.approveInNode(pending.url, redirectUri));
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
        const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
        const e = await auth.fetch(serverUrl, { method: 'POST', headers, body }).then((res) => ({ status: res.status }), (x) => x);
        // A DPoP-bound entry (another host's) is refused and left as is, not rewritten without its key.
        const [key, entry] = [...map].find(([k]) => k.includes('/entry/'));
        const bound = entry.replace(/"token_type":"[A-Za-z]+"/, '"token_type":"DPoP"');
        map.set(key, bound);
        const refused = await McpOAuth.create({ serverUrl, redirectUri, userId: 'dpop', storage }).then(() => null, (x) => x);
        return {
          always: { code: always?.code, option: always?.option, message: always?.message }, code: e?.code, message: e?.message, status: auth.status(),
          refused: { code: refused?.code, message: refused?.message }, kept: map.get(key) === bound,
        };
      }, { serverUrl: dpopMcp.info.url });
      assert.equal(r.always.code, 'invalid_option');
      assert.equal(r.always.option, 'dpop');
      assert.match(r.always.message, /browser build has no DPoP/);
      assert.equal(r.status.dpop, false, 'Bearer tokens');
      assert.equal(r.code, 'token_rejected_by_resource', r.message);
      assert.match(r.message, /expected DPoP <token>/);
      assert.equal(r.refused.code, 'stored_state_invalid');
      assert.match(r.refused.message, /DPoP-bound, and this build has no DPoP/);
      assert.equal(r.kept, true);
    } finally {
      await dpopMcp.stop();
    }
  });

  test('a transport failure names the URL and the CORS requirement; errors are McpOAuthErrors', async () => {
    const r = await page.evaluate(async () => {
      const { McpOAuth, McpOAuthError, Flow } = await import('/pkg/index.js');
      // Nothing listens on port 9 (discard): a network error, as a CORS refusal looks to a page.
      const auth = await McpOAuth.create({ serverUrl: 'http://127.0.0.1:9/mcp', redirectUri: `${location.origin}/callback.html` });
      const e = await auth.authorize({ mode: 'manual' }).then(() => null, (x) => x);
      let thrown = null;
      try { new Flow({ serverUrl: 'ftp://x/mcp', redirectUri: `${location.origin}/callback.html` }); } catch (x) { thrown = x; }
      return {
        isError: e instanceof McpOAuthError, code: e?.code, message: e?.message,
        flowError: thrown instanceof McpOAuthError && thrown instanceof Error, flowCode: thrown?.code,
      };
    });
    assert.equal(r.isError, true);
    assert.ok(r.code, 'a code');
    assert.match(r.message, /127\.0\.0\.1:9/);
    assert.match(r.message, /CORS/);
    assert.equal(r.flowError, true);
    assert.equal(r.flowCode, 'url_unsupported_scheme');
  });
});
