// Attacks on the popup hand-over of the built npm package: another same-origin tab (a
// BroadcastChannel of this process) or window (a `message` event of the origin) sends forged
// callback messages while an authorization waits for its popup. Node plays the browser: a
// minimal `window` whose `open()` returns a popup object. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { McpOAuth } from '../../../pkg/node.js';
import { REDIRECT, recordingStorage, startFake } from './fake.mjs';

const ORIGIN = new URL(REDIRECT).origin;
const MESSAGE = 'mcp-oauth:callback';

let fake;
let popup;
before(async () => {
  fake = await startFake();
  const win = new EventTarget();
  win.open = () => popup;
  win.location = { href: `${ORIGIN}/`, origin: ORIGIN };
  win.close = () => {};
  globalThis.window = win;
  globalThis.document = {};
});
// The window stays: completePopup() closes it from a timer after the test.
after(() => fake.close());

/** Starts a popup authorization; resolves with the promise and the URL the popup was sent to. */
async function startPopup(storage) {
  let navigated;
  const opened = new Promise((r) => { navigated = r; });
  popup = { closed: false, close() { this.closed = true; }, location: { set href(u) { navigated(u); } } };
  const auth = await McpOAuth.create({ serverUrl: `${fake.base}/mcp`, redirectUri: REDIRECT, clientId: 'attack', storage, fetch: (u, i) => fetch(u, i) });
  const done = auth.authorize({ mode: 'popup' });
  done.catch(() => {});
  const url = await opened;
  // The authorization server approves; this is the callback URL the real popup would hand over.
  const callback = (await fetch(url, { redirect: 'manual' })).headers.get('location');
  return { done, callback };
}

const pendingKeys = (storage) => [...storage.map.keys()].filter((k) => k.includes('/pending/'));

test('a forged BroadcastChannel message without the pending state is ignored', async () => {
  const storage = recordingStorage();
  const { done, callback } = await startPopup(storage);
  const pending = pendingKeys(storage);
  assert.equal(pending.length, 1);
  // Another tab of the origin.
  const tab = new BroadcastChannel('mcp-oauth');
  tab.postMessage({ type: MESSAGE, url: `${REDIRECT}?code=forged` });
  tab.postMessage({ type: MESSAGE, url: `${REDIRECT}?code=forged&state=another-tabs-state` });
  tab.postMessage({ type: MESSAGE, url: `${REDIRECT}?error=access_denied&state=x` });
  // The genuine callback comes after them on the same channel (messages arrive in order).
  tab.postMessage({ type: MESSAGE, url: callback });
  tab.close();
  const status = await done;
  assert.equal(status.state, 'authorized', 'the forged messages did not end the wait');
  for (const k of storage.deletes) assert.ok(pending.includes(k), `deleted ${k}, not this tab's pending record`);
});

test('a forged postMessage of the origin without the pending state is ignored', async () => {
  const storage = recordingStorage();
  const { done, callback } = await startPopup(storage);
  const pending = pendingKeys(storage);
  const post = (url) => window.dispatchEvent(new MessageEvent('message', { origin: ORIGIN, data: { type: MESSAGE, url } }));
  post(`${REDIRECT}?code=forged`);
  post(`${REDIRECT}?code=forged&state=another-tabs-state`);
  post(callback);
  const status = await done;
  assert.equal(status.state, 'authorized', 'the forged messages did not end the wait');
  for (const k of storage.deletes) assert.ok(pending.includes(k), `deleted ${k}, not this tab's pending record`);
});

test('completePopup broadcasts only when there is no opener to post to', () => {
  const real = globalThis.BroadcastChannel;
  const broadcasts = [];
  globalThis.BroadcastChannel = class {
    postMessage(m) { broadcasts.push(m); }
    close() {}
  };
  try {
    const posted = [];
    window.location = { href: `${REDIRECT}?code=c&state=s`, origin: ORIGIN };
    window.opener = { closed: false, postMessage: (m, o) => posted.push([m, o]) };
    McpOAuth.completePopup();
    assert.equal(posted.length, 1);
    assert.equal(posted[0][1], ORIGIN);
    assert.deepEqual(broadcasts, [], 'the code went to every tab of the origin as well');

    window.opener = null;
    McpOAuth.completePopup();
    assert.equal(broadcasts.length, 1, 'no opener: the broadcast is the fallback');

    window.opener = { closed: false, postMessage: () => { throw new Error('cross-origin opener'); } };
    McpOAuth.completePopup();
    assert.equal(broadcasts.length, 2, 'postMessage threw: the broadcast is the fallback');
  } finally {
    globalThis.BroadcastChannel = real;
    delete window.opener;
  }
});
