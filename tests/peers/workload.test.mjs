// Self-test of the workload-identity peer behaviour (MCP extension SEP-1933): the authorization
// server's jwt-bearer grant (RFC 7523 §2.1) accepts a JWT from the platform it trusts
// (PEER_WORKLOAD_ISSUER, keys in PEER_WORKLOAD_JWKS) and refuses a bad one with invalid_grant.
// Run: `node --test`.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { SignJWT, exportJWK } from 'jose';

import { getJson, mcpCallTool, postForm, startAs, startMcp } from './harness.mjs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const PLATFORM = 'https://platform.example';

const platformKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = { ...(await exportJWK(platformKey.publicKey)), alg: 'ES256', use: 'sig' };

let as; let mcp; let meta;

before(async () => {
  as = await startAs({
    PEER_CLIENTS: JSON.stringify([{ client_id: 'workload', grant_types: [JWT_BEARER], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' }]),
    PEER_WORKLOAD_ISSUER: PLATFORM,
    PEER_WORKLOAD_JWKS: JSON.stringify({ keys: [publicJwk] }),
  });
  mcp = await startMcp(as.info.issuer);
  meta = (await getJson(`${as.info.issuer}/.well-known/oauth-authorization-server`)).body;
});

after(async () => {
  await Promise.all([mcp?.stop(), as?.stop()]);
});

function platformJwt({ sub = 'system:serviceaccount:ci:agent', aud = as.info.issuer, iss = PLATFORM, ttl = 300, key = platformKey.privateKey } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(iss).setSubject(sub)
    .setAudience(aud).setIssuedAt(now - 30).setExpirationTime(now + ttl).sign(key);
}

const redeem = async (assertion, extra = {}) => postForm(meta.token_endpoint, {
  grant_type: JWT_BEARER, assertion, client_id: 'workload', resource: mcp.info.url, scope: 'mcp:tools', ...extra,
});

describe('workload identity (PEER_WORKLOAD_ISSUER)', () => {
  it('a platform JWT gives a token for its subject that the MCP server accepts', async () => {
    const r = await redeem(await platformJwt());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.scope, 'mcp:tools');
    const call = await mcpCallTool(mcp.info.url, r.body.access_token, 'whoami');
    assert.equal(call.toolText, 'system:serviceaccount:ci:agent');
  });

  it('expired, for another audience, signed by another key: invalid_grant with the reason', async () => {
    for (const [assertion, why] of [
      [await platformJwt({ ttl: -120 }), /exp/],
      [await platformJwt({ aud: 'https://other-as.example' }), /aud/],
      [await platformJwt({ key: otherKey.privateKey }), /signature|no applicable key/i],
      ['not-a-jwt', /not a JWT/],
    ]) {
      const r = await redeem(assertion);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_grant');
      assert.match(r.body.error_description, why);
    }
  });

  it('a scope the resource does not offer is invalid_scope', async () => {
    const r = await redeem(await platformJwt(), { scope: 'mcp:tools admin:everything' });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_scope');
  });
});
