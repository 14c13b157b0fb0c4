// The browser chat in real headless Chromium (playwright-core with /usr/bin/chromium), against
// the real peers of tests/peers (oidc-provider and the MCP TypeScript SDK server). Screenshots go
// to test-output/ (their paths are printed). Needs: `bash pkg/build.sh`, `npm ci` here and in
// tests/peers.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { serve } from '../serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { startAs, startMcp, chromiumOptions } = await import(pathToFileURL(join(here, '..', '..', '..', 'tests', 'peers', 'harness.mjs')).href);
const outDir = join(here, '..', 'test-output');
mkdirSync(outDir, { recursive: true });

async function config(as, settings) {
  const res = await fetch(`${as.info.issuer}/__config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings) });
  assert.equal(res.status, 200);
}

async function stats(as) {
  return (await fetch(`${as.info.issuer}/__stats`)).json();
}

async function shot(page, name) {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`# screenshot: ${path}`);
}

describe('browser chat in Chromium', () => {
  let as;
  let mcp;
  let site;
  let profile;
  let context;

  before(async () => {
    as = await startAs();
    mcp = await startMcp(as.info.issuer);
    site = await serve();
  });
  after(async () => {
    await site?.close();
    await mcp?.stop();
    await as?.stop();
  });

  async function newPage() {
    profile = mkdtempSync(join(tmpdir(), 'mcp-oauth-chromium-'));
    context = await chromium.launchPersistentContext(profile, chromiumOptions());
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    return { page, errors };
  }

  async function closeBrowser() {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
  }

  test('popup flow end to end: consent in a popup, tools appear, a tool call answers', async () => {
    const { page, errors } = await newPage();
    try {
      await fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
      await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=popup`);
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.textContent('#auth-state'), 'unauthorized');
      const [popup] = await Promise.all([
        page.waitForEvent('popup'),
        page.click('#connect'),
      ]);
      // The popup goes to the authorization server, which approves and redirects to callback.html,
      // which hands the URL to this page and closes itself.
      await popup.waitForEvent('close', { timeout: 30000 });
      await page.waitForSelector('#tools li[data-tool="echo"]', { timeout: 30000 });
      assert.equal(await page.textContent('#auth-state'), 'authorized');
      const names = await page.$$eval('#tools li', (lis) => lis.map((li) => li.dataset.tool));
      assert.ok(names.includes('whoami') && names.includes('add'), names.join());
      await page.fill('#input', 'echo hello from chromium');
      await page.click('#send');
      await page.waitForSelector('.msg.tool');
      assert.match(await page.textContent('.msg.tool'), /hello from chromium/);
      await shot(page, 'popup-flow');
      const s = await stats(as);
      assert.equal(s.register, 1);
      assert.equal(s.token.authorization_code, 1);
      assert.deepEqual(errors, []);
    } finally {
      await closeBrowser();
    }
  });

  test('redirect flow across a full page load', async () => {
    const { page, errors } = await newPage();
    try {
      await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=redirect`);
      await page.waitForSelector('body[data-ready="true"]');
      // The page navigates to the authorization server and comes back to /index.html?code=…
      await Promise.all([
        page.waitForURL(/\/index\.html\?.*code=/, { timeout: 30000 }),
        page.click('#connect'),
      ]);
      await page.waitForSelector('#tools li[data-tool="echo"]', { timeout: 30000 });
      assert.equal(await page.textContent('#auth-state'), 'authorized');
      // The query was removed from the address bar after the callback was used.
      assert.match(page.url(), /\/index\.html$/);
      await shot(page, 'redirect-flow');
      // A reload finds the tokens in sessionStorage: still authorized, no new consent.
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.textContent('#auth-state'), 'authorized');
      assert.deepEqual(errors, []);
    } finally {
      await closeBrowser();
    }
  });

  test('attack: forged callbacks from another tab of the origin do not end the popup authorization', async () => {
    const { page, errors } = await newPage();
    let release;
    const held = new Promise((r) => { release = r; });
    let reached;
    const atAs = new Promise((r) => { reached = r; });
    try {
      // The authorization server is held until the forged messages were delivered.
      await context.route(`${as.info.issuer}/auth**`, async (route) => { reached(); await held; await route.continue(); });
      await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=popup`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.click('#connect');
      await atAs; // the popup is at the authorization server: the page waits for its callback
      // A listener made after the package's runs after it, for each message.
      await page.evaluate(() => {
        window.heard = new Promise((resolve) => {
          const ch = new BroadcastChannel('mcp-oauth');
          let n = 0;
          ch.onmessage = () => { if (++n === 2) { ch.close(); resolve(n); } };
        });
      });
      // Another tab of the origin sends callbacks without the pending state.
      const tab = await context.newPage();
      await tab.goto(new URL('/style.css', site.url).href);
      await tab.evaluate(() => {
        const ch = new BroadcastChannel('mcp-oauth');
        const cb = `${location.origin}/callback.html`;
        ch.postMessage({ type: 'mcp-oauth:callback', url: `${cb}?code=forged` });
        ch.postMessage({ type: 'mcp-oauth:callback', url: `${cb}?code=forged&state=another-tabs-state` });
        ch.close();
      });
      assert.equal(await page.evaluate(() => window.heard), 2);
      release();
      await page.waitForSelector('#tools li[data-tool="echo"], .msg.error', { timeout: 30000 });
      assert.equal(await page.$eval('.msg.error', (e) => e.textContent).catch(() => null), null, 'the page shows an error');
      assert.equal(await page.textContent('#auth-state'), 'authorized');
      assert.deepEqual(errors, []);
    } finally {
      release();
      await context.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
      await closeBrowser();
    }
  });

  test('denied consent is shown as an error and nothing is authorized', async () => {
    const { page } = await newPage();
    await config(as, { consent: 'deny' });
    try {
      await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=popup`);
      await page.waitForSelector('body[data-ready="true"]');
      const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
      await popup.waitForEvent('close', { timeout: 30000 });
      await page.waitForSelector('.msg.error', { timeout: 30000 });
      assert.equal(await page.getAttribute('.msg.error', 'data-code'), 'access_denied');
      assert.match(await page.textContent('.msg.error'), /denied/);
      assert.equal(await page.textContent('#auth-state'), 'unauthorized');
      assert.equal(await page.$('#tools li[data-tool]'), null);
      await shot(page, 'denied-consent');
    } finally {
      await config(as, { consent: 'approve' });
      await closeBrowser();
    }
  });

  test('popup closed by the user, and popup blocked outside a click, are clear errors', async () => {
    const { page } = await newPage();
    try {
      // The authorization server never answers, so the user closes the popup while it waits.
      await context.route(`${as.info.issuer}/auth**`, () => {});
      await page.goto(`${site.url}?server=${encodeURIComponent(mcp.info.url)}&mode=popup`);
      await page.waitForSelector('body[data-ready="true"]');
      const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#connect')]);
      await popup.close();
      await page.waitForSelector('.msg.error', { timeout: 30000 });
      assert.equal(await page.getAttribute('.msg.error', 'data-code'), 'popup_closed');
      assert.equal(await page.textContent('#auth-state'), 'unauthorized');
      // Nothing pending is left in storage.
      const keys = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes('/pending/')));
      assert.deepEqual(keys, []);
      await shot(page, 'popup-closed');
      // A blocked popup: window.open answers null, as a popup blocker does (headless Chromium
      // under Playwright does not block, so the blocker's answer is imitated here).
      const blocked = await page.evaluate(() => { window.open = () => null; return window.mcpChat.auth.authorize({ mode: 'popup' }).then(() => null, (e) => ({ code: e.code, message: e.message })); });
      assert.equal(blocked?.code, 'popup_blocked', JSON.stringify(blocked));
      assert.match(blocked.message, /redirect/);
    } finally {
      await context.unrouteAll({ behavior: 'ignoreErrors' }).catch(() => {});
      await closeBrowser();
    }
  });
});
