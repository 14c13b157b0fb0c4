// McpOAuthHeadless of the built npm package (Node entry) against the real peers of tests/peers,
// started as native/tests/headless.rs starts them: the identity provider (idp.mjs), the
// authorization server trusting it (PEER_IDP_ISSUER) with static clients (PEER_CLIENTS), the MCP
// server; and a second MCP server requiring a service token (MCP_REQUIRED_HEADER). The MCP
// TypeScript SDK's client calls tools with `fetch: headless.fetch`. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { McpOAuthHeadless, McpOAuthError, clientAssertionClaims } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const keysDir = join(here, '..', '..', 'native', 'tests', 'fixtures', 'keys');
const { startPeer, startAs, startMcp, getJson, postForm, postJson } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const sdk = createRequire(join(peersDir, 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const pem = (name) => readFileSync(join(keysDir, name), 'utf8');
const jwk = (name) => JSON.parse(readFileSync(join(keysDir, name), 'utf8'));

/** The static clients of the authorization server (the same as native/tests/headless.rs). */
function clients() {
  const cc = (id, extra) => ({ client_id: id, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...extra });
  return JSON.stringify([
    cc('svc-basic', { client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' }),
    cc('svc-post', { client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' }),
    cc('svc-es256', { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [jwk('es256.pub.jwk.json')] } }),
    cc('svc-rs256', { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'RS256', jwks: { keys: [jwk('rs256.pub.jwk.json')] } }),
    {
      client_id: 'mcp-client', client_secret: 'mcp-client-as-secret', grant_types: [JWT_BEARER],
      response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_post',
    },
  ]);
}

async function whoami(headless, url) {
  const client = new Client({ name: 'pkg-headless-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: headless.fetch }));
  try {
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    assert.ok(!res.isError, JSON.stringify(res));
    return res.content[0].text;
  } finally {
    await client.close();
  }
}

const isError = (code, check = () => {}) => (e) => {
  assert.ok(e instanceof McpOAuthError, String(e));
  assert.equal(e.code, code, e.message);
  check(e);
  return true;
};

describe('McpOAuthHeadless against the real peers', () => {
  let idp;
  let as;
  let mcp;
  let guarded;
  let tokenUrl;
  const asStats = async () => (await getJson(`${as.info.issuer}/__stats`)).body;
  const resetAs = () => fetch(`${as.info.issuer}/__stats/reset`, { method: 'POST' });
  const idToken = async (sub, aud) => (await postJson(`${idp.info.issuer}/__id_token`, { sub, aud })).body.id_token;
  const create = (options) => McpOAuthHeadless.create({ serverUrl: mcp.info.url, ...options });

  before(async () => {
    idp = await startPeer('idp.mjs');
    as = await startAs({ PEER_CLIENTS: clients(), PEER_IDP_ISSUER: idp.info.issuer });
    mcp = await startMcp(as.info.issuer);
    guarded = await startMcp(as.info.issuer, { MCP_REQUIRED_HEADER: 'X-Backend-Token: second-secret' });
    tokenUrl = (await getJson(`${as.info.issuer}/.well-known/oauth-authorization-server`)).body.token_endpoint;
  });
  after(async () => {
    await guarded?.stop();
    await mcp?.stop();
    await as?.stop();
    await idp?.stop();
  });

  test('client credentials with client_secret_basic and client_secret_post: the MCP server accepts the token', async () => {
    await resetAs();
    for (const [clientId, clientSecret, authMethod] of [['svc-basic', 'basic-secret', 'client_secret_basic'], ['svc-post', 'post-secret', 'client_secret_post']]) {
      const headless = await create({ clientId, clientSecret, authMethod });
      assert.equal(await whoami(headless, mcp.info.url), clientId);
      const status = headless.status();
      assert.equal(status.authorized, true);
      assert.equal(status.issuer, as.info.issuer);
      // Scopes default to the protected-resource metadata's scopes_supported.
      assert.equal(status.scope, 'mcp:tools');
      assert.ok(status.expiresAt > Date.now() / 1000);
    }
    // Without authMethod, a secret goes the way the server's metadata allows (basic first).
    assert.equal(await whoami(await create({ clientId: 'svc-basic', clientSecret: 'basic-secret' }), mcp.info.url), 'svc-basic');
    const s = await asStats();
    assert.equal(s.token.client_credentials, 3, JSON.stringify(s.token));
    assert.equal(s.register, 0, 'no registration');
    assert.equal(s.authorization, 0, 'no browser');
  });

  test('private_key_jwt with ES256 and RS256 PKCS#8 keys, signed by WebCrypto', async () => {
    for (const [clientId, file, signingAlg] of [['svc-es256', 'es256.pem', 'ES256'], ['svc-rs256', 'rs256.pem', 'RS256']]) {
      const headless = await create({ clientId, privateKey: pem(file), signingAlg });
      assert.equal(await whoami(headless, mcp.info.url), clientId, file);
    }
    // A key the server does not hold for the client: invalid_client from the server.
    const wrongKey = await create({ clientId: 'svc-rs256', privateKey: pem('es256.pem'), signingAlg: 'ES256' });
    await assert.rejects(wrongKey.accessToken(), isError('token_rejected', (e) => assert.equal(e.oauthError, 'invalid_client')));
  });

  test('single flight: ten concurrent accessToken() calls make one token request; cached afterwards', async () => {
    const headless = await create({ clientId: 'svc-basic', clientSecret: 'basic-secret' });
    await resetAs();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => headless.accessToken()));
    assert.ok(tokens.every((t) => typeof t === 'string' && t === tokens[0]));
    assert.equal((await asStats()).token.client_credentials, 1);
    assert.equal(await headless.accessToken(), tokens[0]);
    assert.equal((await asStats()).token.client_credentials, 1, 'cached');
    // A token inside the refresh buffer is replaced (1 h tokens, a 2 h buffer).
    const eager = await create({ clientId: 'svc-basic', clientSecret: 'basic-secret', refreshBufferSeconds: 7200 });
    assert.notEqual(await eager.accessToken(), await eager.accessToken());
    assert.equal((await asStats()).token.client_credentials, 3);
  });

  test('fetch: a 401 for a revoked token drops it and retries once with a new token', async () => {
    const headless = await create({ clientId: 'svc-basic', clientSecret: 'basic-secret' });
    const first = await headless.accessToken();
    const revoked = await postForm(`${as.info.issuer}/token/revocation`, { token: first }, { basic: ['svc-basic', 'basic-secret'] });
    assert.equal(revoked.status, 200);
    await resetAs();
    assert.equal(await whoami(headless, mcp.info.url), 'svc-basic');
    assert.notEqual(await headless.accessToken(), first);
    assert.equal((await asStats()).token.client_credentials, 1, 'one new token');
    // Requests to other URLs pass through without the token.
    const seen = [];
    const spy = (input, init) => { seen.push(new Headers(init?.headers).get('authorization')); return fetch(input, init); };
    const passthrough = await create({ clientId: 'svc-basic', clientSecret: 'basic-secret', fetch: spy });
    await passthrough.fetch(`${as.info.issuer}/__stats`);
    assert.deepEqual(seen, [null]);
  });

  test('cross-app access: ID token → ID-JAG at the IdP (RFC 8693) → jwt-bearer grant; the token is the user\'s', async () => {
    await resetAs();
    const options = {
      grant: 'cross_app', clientId: 'mcp-client', clientSecret: 'mcp-client-as-secret', authMethod: 'client_secret_post',
      idp: { tokenEndpoint: `${idp.info.issuer}/token`, clientId: 'mcp-client', clientSecret: 'mcp-client-idp-secret', idToken: await idToken('carol', 'mcp-client') },
    };
    const headless = await create(options);
    assert.equal(await whoami(headless, mcp.info.url), 'carol');
    assert.equal((await asStats()).token[JWT_BEARER], 1);
    assert.equal((await getJson(`${idp.info.issuer}/__stats`)).body.exchanges, 1);
    // An ID token issued to another client is refused by the IdP.
    const foreign = await create({ ...options, idp: { ...options.idp, idToken: await idToken('carol', 'another-app') } });
    await assert.rejects(foreign.accessToken(), isError('token_exchange_rejected', (e) => assert.equal(e.oauthError, 'invalid_grant')));
    // An ID-JAG for another audience is refused by the authorization server.
    await postJson(`${idp.info.issuer}/__config`, { audience: 'https://other-as.example' });
    try {
      await assert.rejects((await create(options)).accessToken(), isError('invalid_grant', (e) => assert.match(e.message, /aud/)));
    } finally {
      await postJson(`${idp.info.issuer}/__config`, { audience: null });
    }
  });

  test('service account: fixed token URL (no discovery) and the second service token header', async () => {
    await fetch(`${guarded.info.url.replace(/\/mcp$/, '')}/__stats/reset`, { method: 'POST' });
    const options = {
      serverUrl: guarded.info.url, grant: 'service_account', tokenUrl, issuer: as.info.issuer,
      clientId: 'svc-basic', clientSecret: 'basic-secret', scopes: ['mcp:tools'],
      serviceToken: 'second-secret', serviceTokenHeader: 'X-Backend-Token',
    };
    const headless = await McpOAuthHeadless.create(options);
    assert.equal(await whoami(headless, guarded.info.url), 'svc-basic');
    assert.equal(headless.status().scope, 'mcp:tools');
    const mcpStats = async () => (await getJson(`${guarded.info.url.replace(/\/mcp$/, '')}/__stats`)).body;
    let s = await mcpStats();
    assert.equal(s.prm, 0, 'no discovery');
    assert.equal(s.missing_header, 0);
    // A wrong second token: the MCP server refuses.
    const wrong = await McpOAuthHeadless.create({ ...options, serviceToken: 'wrong' });
    await assert.rejects(whoami(wrong, guarded.info.url));
    s = await mcpStats();
    assert.ok(s.missing_header >= 1, JSON.stringify(s));
  });

  test('a wrong secret is an McpOAuthError with the OAuth error code, and the secret is not in it', async () => {
    const headless = await create({ clientId: 'svc-basic', clientSecret: 'not-the-secret' });
    await assert.rejects(headless.accessToken(), isError('token_rejected', (e) => {
      assert.equal(e.oauthError, 'invalid_client');
      assert.match(e.message, /invalid_client/);
      assert.doesNotMatch(`${e.message} ${JSON.stringify(e)}`, /not-the-secret/);
    }));
    assert.equal(headless.status().authorized, false);
    // The failure is not cached as a token: the next call asks again.
    await assert.rejects(headless.accessToken(), isError('token_rejected'));
  });

  test('client credentials needs client authentication: a public client is refused by the core', async () => {
    const headless = await create({ clientId: 'svc-basic' });
    await assert.rejects(headless.accessToken(), isError('client_authentication_required', (e) => assert.match(e.message, /client_credentials/)));
  });

  test('bad keys are refused at create with a clear error', async () => {
    const cases = [
      [pem('rs256-pkcs1.pem'), 'RS256', /RSA PRIVATE KEY.*openssl pkcs8 -topk8 -nocrypt/],
      ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n', 'ES256', /EC PRIVATE KEY.*openssl pkcs8 -topk8 -nocrypt/],
      ['not a key', 'ES256', /not a PEM/],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'ES256', /not a PKCS#8 private key for ES256/],
      [pem('rs256.pem'), 'ES256', /not a PKCS#8 private key for ES256/],
      [pem('es256.pem'), 'RS256', /not a PKCS#8 private key for RS256/],
    ];
    for (const [privateKey, signingAlg, message] of cases) {
      await assert.rejects(create({ clientId: 'svc-es256', privateKey, signingAlg }), isError('invalid_option', (e) => {
        assert.equal(e.option, 'privateKey');
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /MII|AAAA/, 'no key material in the message');
      }));
    }
  });

  test('options are checked, each error names the option', async () => {
    const cases = [
      [{ clientSecret: 's' }, /options\.clientId: is required/],
      [{ clientId: 'c', colour: 'red' }, /options\.colour: unknown option/],
      [{ clientId: 'c', grant: 'password' }, /options\.grant/],
      [{ clientId: 'c', grant: 'service_account' }, /options\.tokenUrl: is required for grant 'service_account'/],
      [{ clientId: 'c', tokenUrl: 'http://127.0.0.1:1/token' }, /options\.tokenUrl: is only for grant 'service_account'/],
      [{ clientId: 'c', grant: 'cross_app' }, /options\.idp: is required/],
      [{ clientId: 'c', grant: 'cross_app', idp: { tokenEndpoint: 'http://127.0.0.1:1/token', clientId: 'x' } }, /options\.idp\.idToken/],
      [{ clientId: 'c', clientSecret: 's', privateKey: pem('es256.pem') }, /options\.privateKey: give clientSecret or privateKey/],
      [{ clientId: 'c', privateKey: pem('es256.pem'), signingAlg: 'HS256' }, /options\.signingAlg/],
      [{ clientId: 'c', serviceTokenHeader: 'Authorization' }, /options\.serviceTokenHeader/],
      [{ clientId: 'c', scopes: 3 }, /options\.scopes/],
      [{ clientId: 'c', refreshBufferSeconds: -1 }, /options\.refreshBufferSeconds/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(create(options), isError('invalid_option', (e) => assert.match(e.message, message)));
    }
    await assert.rejects(McpOAuthHeadless.create({ serverUrl: 'ftp://x/mcp', clientId: 'c' }), (e) => e instanceof McpOAuthError && /ftp/.test(e.message));
  });

  test('clientAssertionClaims: RFC 7523 §3 claims from the core, jti from the given bytes', () => {
    const c = clientAssertionClaims('svc', 'https://as.example', 1000, new Uint8Array(16));
    assert.deepEqual(c, { iss: 'svc', sub: 'svc', aud: 'https://as.example', iat: 1000, exp: 1120, jti: 'AAAAAAAAAAAAAAAAAAAAAA' });
    assert.notEqual(clientAssertionClaims('svc', 'https://as.example', 1000).jti, c.jti, 'random jti by default');
    assert.throws(() => clientAssertionClaims('svc', 'https://as.example', 1000, new Uint8Array(3)), isError('invalid_argument'));
  });
});
