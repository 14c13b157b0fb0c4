// Self-test of the headless peer behaviour: static clients (PEER_CLIENTS) with client_credentials
// and private_key_jwt, the identity provider (idp.mjs) with its RFC 8693 exchange for ID-JAGs, and
// the authorization server's jwt-bearer grant (PEER_IDP_ISSUER). Run: `node --test`.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { SignJWT, exportJWK } from 'jose';

import { getJson, mcpCallTool, postForm, postJson, startAs, startMcp, startPeer } from './harness.mjs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig' };

const CLIENTS = [
  {
    client_id: 'svc-secret',
    client_secret: 'svc-secret-value',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'svc-jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [publicJwk] },
  },
  {
    client_id: 'mcp-client',
    client_secret: 'mcp-client-as-secret',
    grant_types: [JWT_BEARER],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  },
];

let idp; let as; let mcp; let meta; let mcpUrl;

before(async () => {
  idp = await startPeer('idp.mjs');
  as = await startAs({ PEER_CLIENTS: JSON.stringify(CLIENTS), PEER_IDP_ISSUER: idp.info.issuer });
  mcp = await startMcp(as.info.issuer);
  mcpUrl = mcp.info.url;
  meta = (await getJson(`${as.info.issuer}/.well-known/oauth-authorization-server`)).body;
});

after(async () => {
  await Promise.all([mcp?.stop(), as?.stop(), idp?.stop()]);
});

async function clientAssertion({ aud = as.info.issuer, exp, sub = 'svc-jwt' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(sub)
    .setSubject(sub)
    .setAudience(aud)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(exp ?? now + 120)
    .sign(privateKey);
}

async function idToken(body = {}) {
  return (await postJson(`${idp.info.issuer}/__id_token`, body)).body.id_token;
}

async function exchange(overrides = {}) {
  return postForm(`${idp.info.issuer}/token`, {
    grant_type: TOKEN_EXCHANGE,
    requested_token_type: ID_JAG,
    audience: as.info.issuer,
    resource: mcpUrl,
    scope: 'mcp:tools',
    subject_token: await idToken(),
    subject_token_type: ID_TOKEN,
    client_id: 'mcp-client',
    client_secret: 'mcp-client-idp-secret',
    ...overrides,
  });
}

async function redeem(assertion, extra = {}) {
  return postForm(meta.token_endpoint, {
    grant_type: JWT_BEARER,
    assertion,
    client_id: 'mcp-client',
    client_secret: 'mcp-client-as-secret',
    ...extra,
  });
}

describe('static clients (PEER_CLIENTS)', () => {
  it('client_credentials with client_secret_basic gives a token the MCP server accepts', async () => {
    const r = await postForm(meta.token_endpoint, { grant_type: 'client_credentials', scope: 'mcp:tools', resource: mcpUrl }, { basic: ['svc-secret', 'svc-secret-value'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.scope, 'mcp:tools');
    const call = await mcpCallTool(mcpUrl, r.body.access_token, 'whoami');
    assert.equal(call.toolText, 'svc-secret');
  });

  it('client_credentials with a wrong secret is invalid_client', async () => {
    const r = await postForm(meta.token_endpoint, { grant_type: 'client_credentials', resource: mcpUrl }, { basic: ['svc-secret', 'nope'] });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
  });

  it('private_key_jwt verifies the assertion against the client jwks', async () => {
    const r = await postForm(meta.token_endpoint, {
      grant_type: 'client_credentials', scope: 'mcp:tools', resource: mcpUrl,
      client_id: 'svc-jwt', client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  it('private_key_jwt refuses a wrong audience and an expired assertion', async () => {
    for (const assertion of [
      await clientAssertion({ aud: 'https://elsewhere.example' }),
      await clientAssertion({ exp: Math.floor(Date.now() / 1000) - 60 }),
    ]) {
      const r = await postForm(meta.token_endpoint, {
        grant_type: 'client_credentials', resource: mcpUrl,
        client_id: 'svc-jwt', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion,
      });
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_client');
    }
  });
});

describe('cross-app access (idp.mjs + jwt-bearer)', () => {
  it('exchanges an ID token for an ID-JAG and redeems it for an MCP token', async () => {
    const ex = await exchange();
    assert.equal(ex.status, 200, JSON.stringify(ex.body));
    assert.equal(ex.body.issued_token_type, ID_JAG);
    assert.equal(ex.body.token_type, 'N_A');
    const [header, payload] = ex.body.access_token.split('.').slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    assert.equal(header.typ, 'oauth-id-jag+jwt');
    assert.equal(payload.aud, as.info.issuer);
    assert.equal(payload.resource, mcpUrl);
    assert.equal(payload.client_id, 'mcp-client');
    assert.equal(payload.scope, 'mcp:tools', JSON.stringify(payload));
    const r = await redeem(ex.body.access_token, { resource: mcpUrl });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.scope, 'mcp:tools', JSON.stringify(r.body));
    const call = await mcpCallTool(mcpUrl, r.body.access_token, 'whoami');
    assert.equal(call.toolText, 'alice');
    // RFC 7523 §3 item 7: the same ID-JAG twice is refused.
    const again = await redeem(ex.body.access_token);
    assert.equal(again.body.error, 'invalid_grant');
  });

  it('the IdP refuses bad exchanges', async () => {
    const badSecret = await exchange({ client_secret: 'wrong' });
    assert.equal(badSecret.body.error, 'invalid_client');
    const wrongType = await exchange({ requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    assert.equal(wrongType.body.error, 'invalid_request');
    const otherAudience = await exchange({ subject_token: await idToken({ aud: 'someone-else' }) });
    assert.equal(otherAudience.body.error, 'invalid_grant', 'ID token for another client');
    const expired = await exchange({ subject_token: await idToken({ ttl: -10 }) });
    assert.equal(expired.body.error, 'invalid_grant');
    const noAudience = await exchange({ audience: undefined });
    assert.equal(noAudience.body.error, 'invalid_request');
  });

  it('the authorization server refuses an ID-JAG with a wrong audience, expired, or for another client', async () => {
    for (const tamper of [{ audience: 'https://other-as.example' }, { expired: true }, { clientId: 'svc-secret' }]) {
      await postJson(`${idp.info.issuer}/__config`, { audience: null, expired: false, clientId: null, ...tamper });
      const ex = await exchange();
      assert.equal(ex.status, 200);
      const r = await redeem(ex.body.access_token);
      assert.equal(r.status, 400, `${JSON.stringify(tamper)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'invalid_grant', JSON.stringify(tamper));
    }
    await postJson(`${idp.info.issuer}/__config`, { audience: null, expired: false, clientId: null });
    const ex = await exchange();
    const wrongResource = await redeem(ex.body.access_token, { resource: 'http://127.0.0.1:1/other' });
    assert.equal(wrongResource.body.error, 'invalid_target');
    const forged = await redeem(`${ex.body.access_token.slice(0, -4)}AAAA`);
    assert.equal(forged.body.error, 'invalid_grant', 'bad signature');
  });
});

describe('MCP_REQUIRED_HEADER (service-account second token)', () => {
  it('refuses requests without the header and accepts them with it', async () => {
    const strict = await startMcp(as.info.issuer, { MCP_REQUIRED_HEADER: 'X-Backend-Token: s2' });
    try {
      const r = await postForm(meta.token_endpoint, { grant_type: 'client_credentials', scope: 'mcp:tools', resource: strict.info.url }, { basic: ['svc-secret', 'svc-secret-value'] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
      const headers = {
        authorization: `Bearer ${r.body.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      };
      const without = await fetch(strict.info.url, { method: 'POST', headers, body });
      assert.equal(without.status, 403);
      assert.equal((await without.json()).error, 'missing_header');
      const withIt = await fetch(strict.info.url, { method: 'POST', headers: { ...headers, 'x-backend-token': 's2' }, body });
      assert.equal(withIt.status, 200);
      const stats = (await getJson(strict.info.url.replace('/mcp', '/__stats'))).body;
      assert.equal(stats.missing_header, 1);
    } finally {
      await strict.stop();
    }
  });
});
