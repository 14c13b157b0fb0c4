// The npm package as web developers load it (issue 15): tests/bundlers/app, a small chat app on
// the MCP TypeScript SDK, built by Vite 8 and Vite 6 (build and dev server), webpack 5, esbuild
// and Rollup (build.mjs), each loaded in headless Chromium (playwright-core, /usr/bin/chromium)
// against the peers of tests/peers: the page renders, the popup flow runs through the package's
// callback entry, the tools are listed and `whoami` answers, and so does the redirect flow (the
// page leaves for the authorization server and finishes on its return); then, with the resource metadata,
// the authorization-server metadata or the token endpoint refusing cross-origin requests in turn,
// the page shows an error naming that URL and CORS. Screenshots go to test-output/. Needs `bash pkg/build.sh`, `npm ci` here and in tests/peers.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { BUNDLERS, installPackage, serveDir, viteDev } from '../build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const { startAs, startMcp, chromiumOptions } = await import(pathToFileURL(join(root, 'tests', 'peers', 'harness.mjs')).href);
const outDir = join(here, '..', 'test-output');
mkdirSync(outDir, { recursive: true });

describe('the chat app built by each bundler, in Chromium', () => {
  let as;
  let mcp;
  let profile;
  let context;

  before(async () => {
    installPackage();
    as = await startAs();
    mcp = await startMcp(as.info.issuer);
    profile = mkdtempSync(join(tmpdir(), 'mcp-oauth-chromium-'));
    context = await chromium.launchPersistentContext(profile, chromiumOptions());
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await mcp?.stop();
    await as?.stop();
  });

  /** Loads the app at `base`, runs the popup flow, returns what the page showed. */
  async function popupFlow(name, base) {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${base}index.html?server=${encodeURIComponent(mcp.info.url)}`);
      await page.waitForSelector('body[data-rendered="true"]', { timeout: 30000 });
      await page.waitForSelector('body[data-ready="true"], body[data-error]', { timeout: 30000 });
      assert.equal(await page.textContent('#error'), '', `${name}: before the click`);
      const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
      await popup.waitForEvent('close', { timeout: 30000 });
      await page.waitForSelector('body[data-done="true"], body[data-error]', { timeout: 30000 });
      const shown = {
        error: await page.textContent('#error'),
        state: await page.textContent('#state'),
        tools: await page.$$eval('#tools li', (lis) => lis.map((li) => li.dataset.tool)),
      };
      const path = join(outDir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      console.log(`# ${name}: screenshot ${path}`);
      assert.equal(shown.error, '', `${name}: ${JSON.stringify(shown)}`);
      assert.ok(shown.tools.includes('whoami') && shown.tools.includes('echo'), `${name}: ${shown.tools}`);
      assert.match(shown.state, /^authorized: /, name);
      assert.deepEqual(errors, [], name);
    } finally {
      await page.close();
    }
  }

  /** Loads the app at `base` in redirect mode: the page leaves for the authorization server,
   * comes back to itself with the code, finishes the authorization on load and lists the tools. */
  async function redirectFlow(name, base) {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${base}index.html?mode=redirect&server=${encodeURIComponent(mcp.info.url)}`);
      await page.waitForSelector('body[data-ready="true"], body[data-error]', { timeout: 30000 });
      assert.equal(await page.textContent('#error'), '', `${name} (redirect): before the click`);
      await page.click('#connect');
      // Away to the authorization server and back to index.html with the callback's query.
      await page.waitForSelector('body[data-returned="true"], body[data-error]', { timeout: 30000 });
      await page.waitForSelector('body[data-done="true"], body[data-error]', { timeout: 30000 });
      const shown = {
        error: await page.textContent('#error'),
        state: await page.textContent('#state'),
        tools: await page.$$eval('#tools li', (lis) => lis.map((li) => li.dataset.tool)),
        url: page.url(),
      };
      await page.screenshot({ path: join(outDir, `${name}-redirect.png`), fullPage: true });
      assert.equal(shown.error, '', `${name} (redirect): ${JSON.stringify(shown)}`);
      assert.ok(shown.tools.includes('whoami'), `${name} (redirect): ${shown.tools}`);
      assert.match(shown.state, /^authorized: /, `${name} (redirect)`);
      assert.ok(!shown.url.includes('code='), `${name} (redirect): the query was removed: ${shown.url}`);
      assert.deepEqual(errors, [], `${name} (redirect)`);
    } finally {
      await page.close();
    }
  }

  /** The app at `base` with the requests to `pattern` refused as a browser refuses a response
   * without CORS headers: a network error (Fetch standard, CORS check: a failed check is a
   * network error, and the page sees `TypeError: Failed to fetch` either way; Playwright adds
   * CORS headers to responses it fulfills, so taking them off a real response does not work).
   * The page shows an error that names `blocked` (the first such URL) and CORS. */
  async function corsFailure(name, base, what, blocked, pattern = blocked) {
    const page = await context.newPage();
    try {
      await page.route(pattern, (route) => route.abort('failed'));
      await page.goto(`${base}index.html?server=${encodeURIComponent(mcp.info.url)}`);
      await page.waitForSelector('body[data-ready="true"], body[data-error]', { timeout: 30000 });
      const popup = page.waitForEvent('popup', { timeout: 5000 }).catch(() => null);
      await page.click('#connect');
      await page.waitForSelector('body[data-error], body[data-done]', { timeout: 30000 }).catch(() => {});
      await (await popup)?.close().catch(() => {});
      const error = await page.textContent('#error');
      await page.screenshot({ path: join(outDir, `${name}-no-cors-${what}.png`), fullPage: true });
      const state = await page.textContent('#state');
      assert.ok(error.startsWith('transport_failed: '), `${name}, ${what}: state ${state}, error: ${error}`);
      assert.ok(error.includes(blocked), `${name}, ${what}: the message names ${blocked}: ${error}`);
      assert.match(error, /CORS/, `${name}, ${what}`);
    } finally {
      await page.close();
    }
  }

  for (const name of Object.keys(BUNDLERS)) {
    test(`${name}: build, load, popup flow, redirect flow; without CORS at each endpoint, a message naming it`, async () => {
      const dir = join(here, '..', 'out', name);
      const started = Date.now();
      await BUNDLERS[name](dir);
      console.log(`# ${name}: built in ${Date.now() - started} ms`);
      const site = await serveDir(dir);
      try {
        await popupFlow(name, site.url);
        await redirectFlow(name, site.url);
        const mcpOrigin = new URL(mcp.info.url).origin;
        const metadataUrl = `${as.info.issuer}/.well-known/oauth-authorization-server`;
        const metadata = await (await fetch(metadataUrl)).json();
        // A server without CORS answers none of its metadata URLs with it.
        await corsFailure(name, site.url, 'resource-metadata', `${mcpOrigin}/.well-known/oauth-protected-resource/mcp`,
          `${mcpOrigin}/.well-known/**`);
        await corsFailure(name, site.url, 'server-metadata', metadataUrl, `${as.info.issuer}/.well-known/**`);
        await corsFailure(name, site.url, 'token', metadata.token_endpoint);
      } finally {
        await site.close();
      }
    });
  }

  test('vite dev server: load, popup flow, no configuration', async () => {
    const dev = await viteDev('vite');
    try {
      await popupFlow('vite-dev', dev.url);
    } finally {
      await dev.close();
    }
  });

  test('vite6 dev server: without configuration the wasm load fails with a clear error on a live page; with optimizeDeps.exclude the popup flow runs', async () => {
    let dev = await viteDev('vite6');
    const page = await context.newPage();
    try {
      await page.goto(`${dev.url}index.html?server=${encodeURIComponent(mcp.info.url)}`);
      await page.waitForSelector('body[data-error]', { timeout: 30000 });
      assert.equal(await page.textContent('#state'), 'rendered');
      const error = await page.textContent('#error');
      assert.match(error, /^wasm_load_failed: the WebAssembly module of mcp-oauth did not load from http:\/\/127\.0\.0\.1:\d+\/.*mcp_oauth_wasm_bg\.wasm/);
      await page.screenshot({ path: join(outDir, 'vite6-dev-unconfigured.png'), fullPage: true });
    } finally {
      await page.close();
      await dev.close();
    }
    dev = await viteDev('vite6', { exclude: true });
    try {
      await popupFlow('vite6-dev', dev.url);
    } finally {
      await dev.close();
    }
  });
});
