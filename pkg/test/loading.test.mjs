// How the package loads (issue 15): the browser entries have no top-level await and fetch their
// .wasm on first need (McpOAuth.ready() or McpOAuth.create()); a failed load is a clear error
// on that call, and the next call tries again; `mcp-oauth/callback` loads no wasm; CommonJS
// `require('mcp-oauth')` works on the Node versions `engines` names; the tarball carries the
// licences and every entry. Build the package first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..');

test('the browser entry fetches its wasm on first need, and a failed load is a clear error that the next call retries', async () => {
  const seen = [];
  let fail = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (u) => {
    seen.push(String(u));
    if (fail) return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
    return new Response(await readFile(new URL(u)), { headers: { 'content-type': 'application/wasm' } });
  };
  try {
    const { McpOAuth } = await import('../index.js');
    assert.deepEqual(seen, [], 'importing the entry fetched something');
    const options = { serverUrl: 'https://mcp.example.com/mcp', redirectUri: 'https://app.example.com/callback.html', storage: 'memory' };
    await assert.rejects(McpOAuth.create(options), (e) => {
      assert.equal(e.code, 'wasm_load_failed');
      assert.match(e.message, /mcp_oauth_wasm_bg\.wasm/);
      assert.match(e.url, /^file:.*mcp_oauth_wasm_bg\.wasm$/);
      return true;
    });
    assert.equal(seen.length, 1);
    // An explicit URL that is not a string or URL is refused before any fetch.
    await assert.rejects(McpOAuth.ready({ wasmUrl: 7 }), (e) => e.code === 'invalid_option' && e.option === 'wasmUrl');
    fail = false;
    // Two callers at once share one load.
    await Promise.all([McpOAuth.ready(), McpOAuth.ready()]);
    assert.equal(seen.length, 2, `one more fetch: ${seen}`);
    const auth = await McpOAuth.create(options);
    assert.equal(auth.status().state, 'unauthorized');
    assert.equal(seen.length, 2, 'loaded once');
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('the callback entry loads no wasm and reports where it cannot run', async () => {
  const realFetch = globalThis.fetch;
  let fetched = 0;
  globalThis.fetch = async () => { fetched += 1; throw new Error('no fetch expected'); };
  try {
    await assert.rejects(import('../callback.js'), (e) => e.code === 'popup_unavailable');
    assert.equal(fetched, 0);
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('CommonJS require() gets the Node entry, on the Node versions engines names', async () => {
  const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(manifest.engines.node, '^20.19.0 || >=22.12.0');
  const require = createRequire(join(pkgDir, 'package.json'));
  const m = require(join(pkgDir, 'node.js'));
  assert.equal(typeof m.McpOAuth, 'function');
  assert.equal(typeof m.McpOAuthHeadless, 'function');
  await m.McpOAuth.ready();
});

test('the tarball has the licences and every entry', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: pkgDir, maxBuffer: 16 << 20 });
  const files = JSON.parse(stdout)[0].files.map((f) => f.path);
  for (const want of ['LICENSE-MIT', 'LICENSE-APACHE', 'index.js', 'dpop.js', 'node.js', 'callback.js', 'callback.d.ts',
    'index.d.ts', 'dpop.d.ts', 'node.d.ts', 'dist/browser.js', 'dist/callback.js', 'dist/mcp_oauth_wasm_bg.wasm', 'dist/dpop/browser.js',
    'dist/node/mcp_oauth_wasm_bg.wasm']) {
    assert.ok(files.includes(want), `${want} missing from the tarball: ${files.join(', ')}`);
  }
});
