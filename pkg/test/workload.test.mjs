// McpOAuthHeadless with grant 'jwt_bearer' (workload identity, MCP SEP-1933) of the built npm
// package (Node entry) against the real peers: the authorization server trusts a "platform"
// issuer's key (PEER_WORKLOAD_ISSUER / PEER_WORKLOAD_JWKS), the test signs the platform's JWTs.
// The assertion function is called for every token request; a refused assertion rejects with
// the server's error after one token request. Build first: `bash pkg/build.sh`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { McpOAuthHeadless, McpOAuthError } from '../node.js';

const here = dirname(fileURLToPath(import.meta.url));
const peersDir = join(here, '..', '..', 'tests', 'peers');
const keysDir = join(here, '..', '..', 'native', 'tests', 'fixtures', 'keys');
const { startAs, startMcp, getJson } = await import(pathToFileURL(join(peersDir, 'harness.mjs')).href);
const peerRequire = createRequire(join(peersDir, 'package.json'));
const { SignJWT } = await import(pathToFileURL(peerRequire.resolve('jose')).href);
const { Client } = await import(pathToFileURL(peerRequire.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport } = await import(pathToFileURL(peerRequire.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const PLATFORM = 'https://kubernetes.default.svc.cluster.local';
const key = createPrivateKey(readFileSync(join(keysDir, 'es256.pem'), 'utf8'));
const publicJwk = JSON.parse(readFileSync(join(keysDir, 'es256.pub.jwk.json'), 'utf8'));

describe('McpOAuthHeadless jwt_bearer (workload identity) against the real peers', () => {
  let as;
  let mcp;
  const asStats = async () => (await getJson(`${as.info.issuer}/__stats`)).body;
  const grants = async () => (await asStats()).token?.[JWT_BEARER] ?? 0;
  const platformJwt = (sub, { aud = as.info.issuer, ttl = 300 } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(PLATFORM).setSubject(sub)
      .setAudience(aud).setIssuedAt(now - 60).setExpirationTime(now + ttl).sign(key);
  };
  const create = (options) => McpOAuthHeadless.create({ serverUrl: mcp.info.url, clientId: 'workload', grant: 'jwt_bearer', ...options });
  /** The MCP server's whoami tool: the token's subject. */
  const whoami = async (headless) => {
    const client = new Client({ name: 'pkg-workload-test', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcp.info.url), { fetch: headless.fetch }));
    try {
      const res = await client.callTool({ name: 'whoami', arguments: {} });
      assert.ok(!res.isError, JSON.stringify(res));
      return res.content[0].text;
    } finally {
      await client.close();
    }
  };

  before(async () => {
    const clients = [{ client_id: 'workload', grant_types: [JWT_BEARER], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' }];
    as = await startAs({
      PEER_CLIENTS: JSON.stringify(clients),
      PEER_WORKLOAD_ISSUER: PLATFORM,
      PEER_WORKLOAD_JWKS: JSON.stringify({ keys: [publicJwk] }),
    });
    mcp = await startMcp(as.info.issuer);
  });
  after(async () => {
    await mcp?.stop();
    await as?.stop();
  });

  test('the assertion function is called for every token request: a rotated JWT is used', async () => {
    let current = await platformJwt('system:serviceaccount:ci:builder');
    let calls = 0;
    // Longer than the tokens live: every accessToken() is a token request.
    const headless = await create({ assertion: async () => { calls += 1; return `${current}\n`; }, refreshBufferSeconds: 7200 });
    const before = await grants();
    const first = await headless.accessToken();
    assert.equal(calls, 1);
    const status = headless.status();
    assert.equal(status.grant, 'jwt_bearer');
    assert.equal(status.authorized, true);
    assert.equal(status.issuer, as.info.issuer);
    current = await platformJwt('system:serviceaccount:ci:deployer');
    const second = await headless.accessToken();
    assert.equal(calls, 2);
    assert.notEqual(first, second);
    assert.equal(await grants(), before + 2, 'one token request per assertion');
    // The MCP server sees the rotated workload.
    assert.equal(await whoami(headless), 'system:serviceaccount:ci:deployer');
  });

  test('a string assertion, and an expired one: invalid_grant in the server\'s words after one request', async () => {
    const ok = await create({ assertion: await platformJwt('workload-string') });
    assert.equal(await whoami(ok), 'workload-string');

    const before = await grants();
    const errorsBefore = (await asStats()).token_errors?.[JWT_BEARER] ?? 0;
    const expired = await create({ assertion: await platformJwt('workload-a', { ttl: -300 }) });
    await assert.rejects(expired.accessToken(), (e) => {
      assert.ok(e instanceof McpOAuthError, String(e));
      assert.equal(e.code, 'invalid_grant', e.message);
      assert.match(e.message, /workload assertion rejected/);
      return true;
    });
    const s = await asStats();
    assert.equal(s.token[JWT_BEARER], before + 1, 'one token request, no retry');
    assert.equal(s.token_errors[JWT_BEARER], errorsBefore + 1);
    assert.equal(s.token.client_credentials ?? 0, 0, 'no other grant');
    // The next call asks again (one request), it does not loop.
    await assert.rejects(expired.accessToken(), (e) => e.code === 'invalid_grant');
    assert.equal((await asStats()).token[JWT_BEARER], before + 2);
  });

  test('a function that throws or gives no JWT: workload_assertion_unavailable, no request', async () => {
    const before = await grants();
    for (const assertion of [() => { throw new Error('no token file yet'); }, () => '', async () => 42]) {
      const headless = await create({ assertion });
      await assert.rejects(headless.accessToken(), (e) => {
        assert.equal(e.code, 'workload_assertion_unavailable', e.message);
        return true;
      });
    }
    assert.equal(await grants(), before);
  });

  test('option checks', async () => {
    await assert.rejects(create({}), (e) => e.code === 'invalid_option' && e.option === 'assertion');
    await assert.rejects(create({ assertion: 42 }), (e) => e.code === 'invalid_option' && e.option === 'assertion');
    await assert.rejects(McpOAuthHeadless.create({ serverUrl: mcp.info.url, clientId: 'x', assertion: 'a.b.c' }), (e) => e.code === 'invalid_option' && e.option === 'assertion');
  });
});
