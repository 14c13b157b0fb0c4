// Authorization-server migration (MCP SEP-2352) with the built npm package (Node entry) against
// the real peers: the MCP server's metadata starts naming a second authorization server.
// Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { McpOAuth } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const { startAs, startMcp, getJson } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const REDIRECT = 'http://127.0.0.1:8976/callback';

async function whoami(auth, url) {
  const client = new Client({ name: 'pkg-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: auth.fetch }));
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();
  return JSON.stringify(res.content);
}

function memoryStorage() {
  const map = new Map();
  return { map, get: (k) => map.get(k) ?? null, set: (k, v) => { map.set(k, v); }, delete: (k) => { map.delete(k); } };
}

const stats = async (as) => (await getJson(`${as.info.issuer}/__stats`)).body;
const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) });

describe('authorization-server migration (npm package, real peers)', () => {
  let as1;
  let as2;
  let mcp;
  before(async () => {
    as1 = await startAs({});
    as2 = await startAs({});
    mcp = await startMcp(as1.info.issuer, {});
  });
  after(async () => {
    await mcp?.stop();
    await as2?.stop();
    await as1?.stop();
  });

  test('a resource that moves to another authorization server is followed there', async () => {
    const storage = memoryStorage();
    const events = [];
    const auth = await McpOAuth.create({
      serverUrl: mcp.info.url, redirectUri: REDIRECT, clientName: 'pkg test', storage,
      onAuthorizationRequired: 'follow', userId: 'alice',
    });
    auth.on('*', (e) => events.push(e));
    assert.match(await whoami(auth, mcp.info.url), /alice/);
    const as1Clients = (await stats(as1)).registered_client_ids;
    assert.equal(as1Clients.length, 1);
    await post(`${as1.info.issuer}/__stats/reset`);

    const moved = await post(mcp.info.url.replace('/mcp', '/__config'), { authorization_server: as2.info.issuer });
    assert.equal(moved.status, 200);
    assert.match(await whoami(auth, mcp.info.url), /alice/);

    const changed = events.filter((e) => e.type === 'authorization_server_changed');
    assert.deepEqual(changed.map(({ from, to }) => ({ from, to })), [{ from: as1.info.issuer, to: as2.info.issuer }]);
    const s2 = await stats(as2);
    assert.equal(s2.registered_client_ids.length, 1, JSON.stringify(s2));
    assert.equal(s2.token.authorization_code, 1, JSON.stringify(s2));
    for (const id of Object.keys(s2.client_ids)) {
      assert.ok(s2.registered_client_ids.includes(id), `AS2 saw a client id it did not issue: ${id}`);
      assert.ok(!as1Clients.includes(id), `AS1's client id went to AS2: ${id}`);
    }
    const s1 = await stats(as1);
    assert.deepEqual(s1.token, {}, JSON.stringify(s1));
    assert.equal(s1.authorization, 0);
    assert.equal(auth.status().issuer, as2.info.issuer);
    // Storage: the index names AS2; AS1's entry (with its tokens) is gone.
    const keys = [...storage.map.keys()];
    assert.ok(keys.some((k) => k.includes('/entry/') && k.includes(as2.info.issuer)), keys.join('\n'));
    assert.ok(!keys.some((k) => k.includes('/entry/') && k.includes(as1.info.issuer)), keys.join('\n'));
    const index = keys.find((k) => k.includes('/index/'));
    assert.equal(storage.map.get(index), as2.info.issuer);
    // A new instance on the same storage uses AS2's tokens: no request to any AS.
    await post(`${as2.info.issuer}/__stats/reset`);
    const again = await McpOAuth.create({ serverUrl: mcp.info.url, redirectUri: REDIRECT, storage, userId: 'alice' });
    assert.match(await whoami(again, mcp.info.url), /alice/);
    assert.deepEqual((await stats(as2)).token, {});
  });
});
