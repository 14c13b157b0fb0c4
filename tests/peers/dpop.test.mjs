// Self-test of the peers' DPoP (RFC 9449): the authorization server with PEER_DPOP_NONCE=1 and
// the MCP server with MCP_DPOP_NONCE=1, driven with proofs made here (jose). The MCP server must
// refuse what a DPoP resource refuses: Bearer, no proof, a proof without its nonce, a wrong
// `ath` or `htu`, a replayed proof, a proof by another key than the token's.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { SignJWT, exportJWK, generateKeyPair } from 'jose';

import { browse, getJson, pkce, postJson, randomState, startAs, startMcp } from './harness.mjs';

const REDIRECT_URI = 'http://127.0.0.1:9/cb';

async function proofKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, jwk: await exportJWK(publicKey) };
}

async function proof(key, { htm = 'POST', htu, token, nonce, jti = randomUUID(), iat } = {}) {
  const claims = { htm, htu, jti };
  if (token) claims.ath = createHash('sha256').update(token).digest('base64url');
  if (nonce) claims.nonce = nonce;
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    .setIssuedAt(iat)
    .sign(key.privateKey);
}

async function tokenRequest(endpoint, params, dpop) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', dpop },
    body: new URLSearchParams(params),
  });
  return { status: res.status, nonce: res.headers.get('dpop-nonce'), body: await res.json() };
}

async function mcpPost(url, authorization, dpop) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  };
  if (authorization) headers.authorization = authorization;
  if (dpop) headers.dpop = dpop;
  const body = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), nonce: res.headers.get('dpop-nonce') };
}

describe('DPoP at the peers', { timeout: 60_000 }, () => {
  let as; let mcp; let meta; let key; let token; let nonce;
  before(async () => {
    as = await startAs({ PEER_DPOP_NONCE: '1' });
    mcp = await startMcp(as.info.issuer, { MCP_DPOP_NONCE: '1' });
    meta = (await getJson(`${as.info.issuer}/.well-known/oauth-authorization-server`)).body;
  });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
  });

  it('advertises DPoP: AS metadata and PRM', async () => {
    assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
    const prm = (await getJson(mcp.info.url.replace('/mcp', '/.well-known/oauth-protected-resource/mcp'))).body;
    assert.equal(prm.dpop_bound_access_tokens_required, true);
    assert.deepEqual(prm.dpop_signing_alg_values_supported, ['ES256']);
    const r = await mcpPost(mcp.info.url);
    assert.equal(r.status, 401);
    assert.match(r.challenge, /^DPoP algs="ES256"/);
  });

  it('issues a DPoP token after a use_dpop_nonce round at the token endpoint', async () => {
    const client = (await postJson(meta.registration_endpoint, {
      redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    })).body;
    const { verifier, challenge } = pkce();
    const url = new URL(meta.authorization_endpoint);
    for (const [k, v] of Object.entries({
      response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT_URI, scope: 'mcp:tools',
      resource: mcp.info.url, state: randomState(), code_challenge: challenge, code_challenge_method: 'S256',
    })) url.searchParams.set(k, v);
    const { callback } = await browse(url.href, REDIRECT_URI);
    const params = {
      grant_type: 'authorization_code', code: callback.searchParams.get('code'), redirect_uri: REDIRECT_URI,
      code_verifier: verifier, client_id: client.client_id, resource: mcp.info.url,
    };
    key = await proofKey();
    const first = await tokenRequest(meta.token_endpoint, params, await proof(key, { htu: meta.token_endpoint }));
    assert.equal(first.status, 400);
    assert.equal(first.body.error, 'use_dpop_nonce');
    assert.ok(first.nonce);
    const retry = await tokenRequest(
      meta.token_endpoint,
      params,
      await proof(key, { htu: meta.token_endpoint, nonce: first.nonce }),
    );
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.body.token_type, 'DPoP');
    token = retry.body.access_token;
  });

  it('demands its nonce, then accepts a valid proof with ath', async () => {
    const first = await mcpPost(mcp.info.url, `DPoP ${token}`, await proof(key, { htu: mcp.info.url, token }));
    assert.equal(first.status, 401);
    assert.match(first.challenge, /error="use_dpop_nonce"/);
    nonce = first.nonce;
    assert.ok(nonce);
    const ok = await mcpPost(mcp.info.url, `DPoP ${token}`, await proof(key, { htu: mcp.info.url, token, nonce }));
    assert.equal(ok.status, 200);
  });

  it('refuses Bearer, no proof, wrong ath, wrong htu, a replay, another key', async () => {
    const url = mcp.info.url;
    const refused = async (authorization, dpop, pattern) => {
      const r = await mcpPost(url, authorization, dpop);
      assert.equal(r.status, 401, `${pattern}`);
      assert.match(r.challenge, pattern);
    };
    await refused(`Bearer ${token}`, await proof(key, { htu: url, token, nonce }), /invalid_request/);
    await refused(`DPoP ${token}`, undefined, /no DPoP proof/);
    await refused(`DPoP ${token}`, await proof(key, { htu: url, token: 'other', nonce }), /ath is not/);
    await refused(`DPoP ${token}`, await proof(key, { htu: `${url}/x`, token, nonce }), /htu/);
    await refused(`DPoP ${token}`, await proof(key, { htu: url, token, nonce, iat: 1 }), /iat/);
    const once = await proof(key, { htu: url, token, nonce });
    assert.equal((await mcpPost(url, `DPoP ${token}`, once)).status, 200);
    await refused(`DPoP ${token}`, once, /replayed/);
    const other = await proofKey();
    await refused(`DPoP ${token}`, await proof(other, { htu: url, token, nonce }), /bound to key/);
  });
});
