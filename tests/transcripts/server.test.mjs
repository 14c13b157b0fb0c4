// Self-test of the transcript machinery: the scripted server's recording and normalisation, its
// scripted answers, and the diff the comparison prints. Needs nothing built.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startScriptedServer } from './server.mjs';
import { diff } from './diff.mjs';

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('scripted server', () => {
  let s;
  before(async () => { s = await startScriptedServer(); });
  after(async () => { await s?.stop(); });

  test('volatile values become placeholders, credentials their client id, assertions their claims', async () => {
    s.load({ authMethods: ['client_secret_basic', 'private_key_jwt'] });
    const q = new URLSearchParams({ response_type: 'code', client_id: 'c', state: 'random-1', code_challenge: 'xyz', redirect_uri: 'http://127.0.0.1:1/cb', resource: s.mcpUrl });
    const auth = await fetch(`${s.base}/authorize?${q}`, { redirect: 'manual' });
    assert.equal(auth.status, 302);
    const back = new URL(auth.headers.get('location'));
    assert.equal(back.searchParams.get('state'), 'random-1', 'state is echoed');
    assert.equal(back.searchParams.get('iss'), s.base);
    const code = back.searchParams.get('code');
    assert.equal(code, 'code-1');
    const basic = `Basic ${Buffer.from('c%3Aid:s3cret').toString('base64')}`;
    const tok = await fetch(`${s.base}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: 'v'.repeat(43) }),
    });
    assert.equal(tok.status, 200);
    assert.equal((await tok.json()).access_token, 'at-1');
    const assertion = `${b64url({ alg: 'ES256' })}.${b64url({ iss: 'svc', sub: 'svc', aud: s.base, exp: 2, iat: 1, jti: 'j' })}.sig`;
    await fetch(`${s.base}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion: assertion, client_id: 'svc' }),
    });
    const t = s.transcript();
    assert.deepEqual(t[0].query, { client_id: 'c', code_challenge: '<code_challenge>', redirect_uri: 'http://127.0.0.1:1/cb', resource: '{server}/mcp', response_type: 'code', state: '<state>' });
    assert.deepEqual(t[1], { method: 'POST', path: '/token', body: { code: 'code-1', code_verifier: '<code_verifier>', grant_type: 'authorization_code' }, auth: 'Basic c:id' });
    assert.equal(t[2].body.client_assertion, '<jwt alg=ES256 iss=svc sub=svc aud={server} +exp,iat,jti>');
    assert.equal(t.length, 3);
  });

  test('scripted answers: methods the metadata does not list are refused; token errors; MCP challenges', async () => {
    s.load({ authMethods: ['client_secret_post'], tokenErrors: { refresh_token: { status: 400, error: 'invalid_grant' } }, prm: false });
    const form = (body, headers = {}) => fetch(`${s.base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });
    const basic = await form({ grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
    assert.equal(basic.status, 401);
    assert.equal((await basic.json()).error, 'invalid_client');
    const post = await form({ grant_type: 'client_credentials', client_id: 'a', client_secret: 'b', scope: 'x' });
    assert.deepEqual(await post.json(), { access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, scope: 'x' });
    assert.equal((await form({ grant_type: 'refresh_token', refresh_token: 'rt-9' })).status, 400);
    const mcp = await fetch(s.mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}' });
    assert.equal(mcp.status, 401);
    assert.equal(mcp.headers.get('www-authenticate'), 'Bearer', 'no resource_metadata without PRM');
    assert.equal((await fetch(`${s.base}/.well-known/oauth-protected-resource/mcp`)).status, 404);
    assert.throws(() => s.load({ colour: 'red' }), /unknown setting\(s\) colour/);
  });
});

test('diff marks lines only in one side', () => {
  assert.equal(diff(['a', 'b', 'c'], ['a', 'x', 'c']), '--- native\n+++ npm\n  a\n+ x\n- b\n  c');
  assert.equal(diff(['a'], ['a']), '--- native\n+++ npm\n  a');
});
