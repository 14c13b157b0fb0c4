// Attacks on McpOAuth of the built npm package (Node entry; build first: `bash pkg/build.sh`):
// tokens left in pending records, pending records surviving logout, dot segments that move a
// request out of the token's resource, and response bodies far over the 1 MiB cap.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { McpOAuth } from '../../../pkg/node.js';
import { REDIRECT, recordingFetch, recordingStorage, startFake } from './fake.mjs';

const isPending = (k) => k.includes('/pending/');

describe('pending records', () => {
  let fake;
  before(async () => { fake = await startFake(); });
  after(() => fake.close());

  const login = async (storage) => {
    const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', storage });
    await auth.authorize({ mode: 'follow' });
    assert.match(await auth.accessToken(), /^secret-access-/);
    return auth;
  };

  test('a pending record written while tokens are held does not contain them', async () => {
    const storage = recordingStorage();
    const auth = await login(storage);
    // A second authorization (re-consent, step-up) while the tokens are held: the pending
    // record may sit in storage for as long as the user leaves the page.
    await auth.authorize({ mode: 'manual' });
    const records = storage.sets.filter(([k]) => isPending(k));
    assert.ok(records.length >= 2, 'one pending record per authorization');
    for (const [k, v] of records) {
      assert.ok(!/secret-access|secret-refresh/.test(v), `pending record ${k} holds a token: ${v}`);
    }
  });

  test('logout() deletes the pending authorization too', async () => {
    const storage = recordingStorage();
    const auth = await login(storage);
    await auth.authorize({ mode: 'manual' });
    assert.ok([...storage.map.keys()].some(isPending), 'a pending record before logout');
    await auth.logout();
    assert.deepEqual([...storage.map.keys()], [], 'nothing of this client stays in storage');
  });

  test('the pending record still finishes the authorization in a new instance', async () => {
    const storage = recordingStorage();
    const first = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', storage });
    const { url } = await first.authorize({ mode: 'manual' });
    const back = (await fetch(url, { redirect: 'manual' })).headers.get('location');
    const second = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', storage });
    assert.equal(await second.handleRedirect(back), true);
    assert.equal(second.status().state, 'authorized');
    assert.ok(![...storage.map.keys()].some(isPending));
  });
});

describe('token only for its resource', () => {
  let fake;
  before(async () => { fake = await startFake(); });
  after(() => fake.close());

  test('dot segments out of /mcp get no Authorization header', async () => {
    const rec = recordingFetch();
    const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', storage: 'memory', fetch: rec.fn });
    await auth.authorize({ mode: 'follow' });
    // The attacker gets the application to call these (a link, a tool's URL).
    for (const path of ['/mcp/../admin', '/mcp/%2e%2e/admin', '/mcp/%2E%2e/admin', '/mcp/./../admin']) {
      const seen = fake.log.length;
      await auth.fetch(`${fake.base}${path}`);
      const received = fake.log.slice(seen);
      assert.deepEqual(received.map((r) => r.path), ['/admin'], path);
      assert.equal(received[0].headers.authorization, undefined, `${path} reached /admin with the token`);
    }
    // Control: the resource itself gets the token.
    const seen = fake.log.length;
    await auth.fetch(`${fake.base}/mcp/tools`);
    assert.match(fake.log[seen].headers.authorization ?? '', /^Bearer secret-access-/);
  });
});

describe('response body cap (1 MiB)', () => {
  const CAP = 1 << 20;
  const BIG = 5 << 20;
  let written = 0;
  // 5 MiB of JSON-ish bytes, written as fast as the client reads.
  const huge = (declareLength) => async (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...(declareLength ? { 'content-length': BIG } : {}) });
    const chunk = Buffer.alloc(64 << 10, 0x20);
    for (let sent = 0; sent < BIG && !res.destroyed; sent += chunk.length) {
      if (!res.write(chunk)) {
        await new Promise((r) => {
          const go = () => { res.off('drain', go); res.off('close', go); r(); };
          res.on('drain', go);
          res.on('close', go);
        });
      }
      written += chunk.length;
    }
    res.end();
  };
  /** A fetch whose response bodies count the bytes the client pulls (no read-ahead). */
  function countingFetch() {
    const bodies = [];
    const fn = async (input, init) => {
      const res = await fetch(input, init);
      const reader = res.body.getReader();
      const stats = { url: String(input), pulled: 0, cancelled: false };
      bodies.push(stats);
      const body = new ReadableStream({
        async pull(c) {
          const { done, value } = await reader.read();
          if (done) return c.close();
          stats.pulled += value.length;
          c.enqueue(value);
        },
        cancel(reason) {
          stats.cancelled = true;
          return reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    return { fn, bodies };
  }

  for (const [name, declared, maxPulled] of [
    ['a streamed (chunked) 5 MiB body is cut off just past the cap', false, CAP + (64 << 10)],
    ['a 5 MiB Content-Length is refused before reading the body', true, 0],
  ]) {
    test(name, async (t) => {
      written = 0;
      // The token endpoint answers the code exchange with 5 MiB.
      const fake = await startFake({ '/token': huge(declared) });
      t.after(() => fake.close());
      const { fn, bodies } = countingFetch();
      const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', fetch: fn });
      const token = `${fake.base}/token`;
      await assert.rejects(auth.authorize({ mode: 'follow' }), (e) => {
        // The error names the URL and the cap.
        assert.ok(e.message.includes(token) && e.message.includes(String(CAP)), e.message);
        return true;
      });
      const b = bodies.find((x) => x.url === token);
      t.diagnostic(`client read ${b.pulled} of ${BIG} bytes (cap ${CAP}); server wrote ${written} (socket buffers included)`);
      assert.ok(b.pulled <= maxPulled, `read ${b.pulled} bytes of a ${BIG}-byte body`);
      assert.equal(b.cancelled, true, 'the body was drained, not cancelled');
    });
  }
});
