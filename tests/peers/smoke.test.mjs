// Self-test of the peers: starts the real authorization server (as.mjs) and MCP server (mcp.mjs)
// as child processes and drives them as a client would. Run: `cd tests/peers && node --test`.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import {
  CookieJar,
  browse,
  getJson,
  mcpCallTool,
  mcpInitialize,
  mcpRequest,
  pkce,
  postForm,
  postJson,
  randomState,
  startAs,
  startMcp,
} from './harness.mjs';

const REDIRECT_URI = 'http://127.0.0.1:9/cb'; // never contacted: the browser stops at its Location
const OTHER_RESOURCE = 'http://127.0.0.1:1/other/mcp';

const peers = [];
async function start(promise) {
  const peer = await promise;
  peers.push(peer);
  return peer;
}

let as; let mcp; let issuer; let mcpUrl; let meta; let client;

function authorizationUrl({ clientId, resource, scope, state, challenge, loginHint, endpoint }) {
  const url = new URL(endpoint);
  const params = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope,
    resource,
    state,
    code_challenge: challenge,
    code_challenge_method: challenge ? 'S256' : undefined,
    login_hint: loginHint,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

async function register(registrationEndpoint, extra = {}) {
  return postJson(registrationEndpoint, {
    client_name: 'peers smoke test',
    application_type: 'native',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra,
  });
}

/**
 * Full code flow: returns the token response body (asserting 200). `resource: null` sends no
 * resource indicator at all; `at` = { meta, client, issuer } of another authorization server.
 */
async function authorize({
  resource: wanted = mcpUrl, scope = 'mcp:tools', loginHint, jar = new CookieJar(),
  at = { meta, client, issuer },
} = {}) {
  const resource = wanted ?? undefined;
  const { verifier, challenge } = pkce();
  const state = randomState();
  const { callback, hops } = await browse(
    authorizationUrl({
      endpoint: at.meta.authorization_endpoint, clientId: at.client.client_id, resource, scope, state, challenge, loginHint,
    }),
    REDIRECT_URI,
    jar,
  );
  assert.equal(callback.searchParams.get('state'), state);
  assert.equal(callback.searchParams.get('iss'), at.issuer);
  assert.equal(callback.searchParams.get('error'), null, callback.href);
  const code = callback.searchParams.get('code');
  assert.match(code, /^[A-Za-z0-9_-]{20,}$/);
  const token = await postForm(at.meta.token_endpoint, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: at.client.client_id,
    resource,
  });
  assert.equal(token.status, 200, JSON.stringify(token.body));
  return { ...token.body, code, verifier, hops };
}

const jwtPayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

const refresh = (refreshToken, resource = mcpUrl) => postForm(meta.token_endpoint, {
  grant_type: 'refresh_token',
  refresh_token: refreshToken,
  client_id: client.client_id,
  resource,
});

const introspect = (token) => postForm(meta.introspection_endpoint, { token, client_id: client.client_id });

function challengeParams(header) {
  assert.ok(header, 'WWW-Authenticate header expected');
  assert.match(header, /^Bearer /);
  const out = {};
  for (const m of header.matchAll(/([a-z_]+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

describe('mcp-oauth test peers', { timeout: 60_000 }, () => {
  before(async () => {
    as = await start(startAs({ PEER_ACCESS_TTL: '3600' }));
    issuer = as.info.issuer;
    mcp = await start(startMcp(issuer));
    mcpUrl = mcp.info.url;
  });

  after(async () => {
    const codes = await Promise.all(peers.map((p) => p.stop()));
    assert.deepEqual(codes, peers.map(() => 0), 'peers exit 0 on SIGTERM');
  });

  it('prints its start lines', () => {
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(as.info.port, Number(new URL(issuer).port));
    assert.equal(mcpUrl, `http://127.0.0.1:${mcp.info.port}/mcp`);
  });

  it('serves protected resource metadata at both well-knowns', async () => {
    const origin = new URL(mcpUrl).origin;
    const expected = {
      resource: mcpUrl,
      authorization_servers: [issuer],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: 'mcp-oauth test peer',
    };
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const prm = await getJson(`${origin}${path}`);
      assert.equal(prm.status, 200);
      assert.deepEqual(prm.body, expected);
    }
  });

  it('answers 401 with resource_metadata and no error when no token is sent', async () => {
    const r = await mcpRequest(mcpUrl, { method: 'tools/list' });
    assert.equal(r.status, 401);
    const c = challengeParams(r.headers.get('www-authenticate'));
    assert.equal(c.resource_metadata, `${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(c.scope, 'mcp:tools');
    assert.equal(c.error, undefined);
  });

  it('answers 401 invalid_token for an unknown token', async () => {
    const r = await mcpRequest(mcpUrl, { method: 'tools/list', token: 'not-a-real-token' });
    assert.equal(r.status, 401);
    const c = challengeParams(r.headers.get('www-authenticate'));
    assert.equal(c.error, 'invalid_token');
    assert.match(c.error_description, /not active/);
  });

  it('serves the same AS metadata at RFC 8414 and OIDC well-knowns', async () => {
    const a = await getJson(`${issuer}/.well-known/oauth-authorization-server`);
    const o = await getJson(`${issuer}/.well-known/openid-configuration`);
    assert.equal(a.status, 200);
    assert.equal(o.status, 200);
    assert.deepEqual(a.body, o.body);
    meta = a.body;
    assert.equal(meta.issuer, issuer);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.equal(meta.authorization_endpoint, `${issuer}/auth`);
    assert.equal(meta.token_endpoint, `${issuer}/token`);
    assert.equal(meta.registration_endpoint, `${issuer}/reg`);
    assert.equal(meta.revocation_endpoint, `${issuer}/token/revocation`);
    assert.equal(meta.introspection_endpoint, `${issuer}/token/introspection`);
    assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.ok(meta.scopes_supported.includes('mcp:tools'));
    assert.ok(meta.scopes_supported.includes('mcp:admin'));
    assert.ok(meta.scopes_supported.includes('offline_access'));
  });

  it('registers a public native client (RFC 7591, 201)', async () => {
    const r = await register(meta.registration_endpoint);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    client = r.body;
    assert.match(client.client_id, /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(client.client_secret, undefined);
    assert.equal(client.token_endpoint_auth_method, 'none');
    assert.equal(client.application_type, 'native');
    assert.deepEqual(client.grant_types, ['authorization_code', 'refresh_token']);
    assert.deepEqual(client.redirect_uris, [REDIRECT_URI]);
    const bad = await register(meta.registration_endpoint, { redirect_uris: ['http://example.com/cb'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_redirect_uri');
  });

  let alice; // token response of the first flow
  it('runs the code flow with PKCE and issues resource-bound tokens', async () => {
    alice = await authorize();
    assert.equal(alice.token_type, 'Bearer');
    assert.equal(alice.expires_in, 3600);
    assert.equal(alice.scope, 'mcp:tools');
    assert.match(alice.access_token, /^[A-Za-z0-9_-]{40,}$/); // opaque by default
    assert.match(alice.refresh_token, /^[A-Za-z0-9_-]{40,}$/);
    assert.equal(alice.hops.filter((h) => h.includes('/interaction/')).length, 2); // login, consent
    const info = await introspect(alice.access_token);
    assert.equal(info.body.active, true);
    assert.equal(info.body.sub, 'alice');
    assert.equal(info.body.aud, mcpUrl);
    assert.equal(info.body.scope, 'mcp:tools');
    assert.equal(info.body.client_id, client.client_id);
  });

  it('treats codes as single-use: a replay fails and revokes the tokens issued from it', async () => {
    const t = await authorize();
    const again = await postForm(meta.token_endpoint, {
      grant_type: 'authorization_code', code: t.code, redirect_uri: REDIRECT_URI,
      code_verifier: t.verifier, client_id: client.client_id, resource: mcpUrl,
    });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
    assert.deepEqual((await introspect(t.access_token)).body, { active: false });
    assert.equal((await refresh(t.refresh_token)).body.error, 'invalid_grant');
  });

  it('rejects a wrong PKCE verifier and a request without code_challenge', async () => {
    const { challenge } = pkce();
    const state = randomState();
    const { callback } = await browse(
      authorizationUrl({ endpoint: meta.authorization_endpoint, clientId: client.client_id, resource: mcpUrl, scope: 'mcp:tools', state, challenge }),
      REDIRECT_URI,
    );
    const r = await postForm(meta.token_endpoint, {
      grant_type: 'authorization_code', code: callback.searchParams.get('code'), redirect_uri: REDIRECT_URI,
      code_verifier: pkce().verifier, client_id: client.client_id, resource: mcpUrl,
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    const noPkce = await browse(
      authorizationUrl({ endpoint: meta.authorization_endpoint, clientId: client.client_id, resource: mcpUrl, scope: 'mcp:tools', state }),
      REDIRECT_URI,
    );
    assert.equal(noPkce.callback.searchParams.get('error'), 'invalid_request');
    assert.match(noPkce.callback.searchParams.get('error_description'), /PKCE/);
    assert.equal(noPkce.callback.searchParams.get('iss'), issuer);
    assert.equal(noPkce.callback.searchParams.get('state'), state);
  });

  it('serves MCP over streamable HTTP to the token (initialize, tools/list, tools/call)', async () => {
    const init = await mcpInitialize(mcpUrl, alice.access_token);
    assert.equal(init.result.serverInfo.name, 'mcp-oauth-test-peer');
    assert.equal(init.headers.get('content-type'), 'text/event-stream');
    const list = await mcpRequest(mcpUrl, { method: 'tools/list', token: alice.access_token });
    assert.equal(list.status, 200);
    assert.deepEqual(list.message.result.tools.map((t) => t.name).sort(), ['add', 'admin_op', 'echo', 'ping_client', 'progress', 'whoami']);
    assert.equal((await mcpCallTool(mcpUrl, alice.access_token, 'whoami')).toolText, 'alice');
    assert.equal((await mcpCallTool(mcpUrl, alice.access_token, 'echo', { text: 'héllo' })).toolText, 'héllo');
    assert.equal((await mcpCallTool(mcpUrl, alice.access_token, 'add', { a: 2, b: 40 })).toolText, '42');
  });

  it('answers 403 insufficient_scope for admin_op without mcp:admin (step-up)', async () => {
    const r = await mcpCallTool(mcpUrl, alice.access_token, 'admin_op');
    assert.equal(r.status, 403);
    const c = challengeParams(r.headers.get('www-authenticate'));
    assert.equal(c.error, 'insufficient_scope');
    assert.equal(c.scope, 'mcp:tools mcp:admin');
    assert.equal(c.resource_metadata, `${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp`);
  });

  let bob;
  it('logs in the login_hint user with the same cookie jar and grants the stepped-up scope', async () => {
    const jar = new CookieJar();
    await authorize({ jar }); // alice in this jar first
    bob = await authorize({ jar, loginHint: 'bob', scope: 'mcp:tools mcp:admin' });
    assert.equal(bob.scope, 'mcp:tools mcp:admin');
    assert.equal((await mcpCallTool(mcpUrl, bob.access_token, 'whoami')).toolText, 'bob');
    const admin = await mcpCallTool(mcpUrl, bob.access_token, 'admin_op');
    assert.equal(admin.status, 200);
    assert.equal(admin.toolText, 'admin operation done for bob');
  });

  it('refreshes with rotation and detects refresh-token reuse', async () => {
    const r1 = await refresh(alice.refresh_token);
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.notEqual(r1.body.refresh_token, alice.refresh_token, 'rotated');
    assert.notEqual(r1.body.access_token, alice.access_token);
    assert.equal(r1.body.scope, 'mcp:tools');
    assert.equal(r1.body.expires_in, 3600);
    assert.equal((await mcpCallTool(mcpUrl, r1.body.access_token, 'whoami')).toolText, 'alice');
    const r2 = await refresh(r1.body.refresh_token);
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    assert.equal((await mcpCallTool(mcpUrl, r2.body.access_token, 'whoami')).toolText, 'alice');

    // The rotated-out refresh token is rejected, and its reuse revokes the whole grant.
    const reuse = await refresh(alice.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    assert.equal(reuse.body.error_description, 'grant request is invalid');
    assert.deepEqual((await introspect(r2.body.access_token)).body, { active: false });
    assert.equal((await refresh(r2.body.refresh_token)).body.error, 'invalid_grant');
    assert.equal((await mcpCallTool(mcpUrl, r2.body.access_token, 'whoami')).status, 401);
  });

  it('revokes an access token (RFC 7009); oidc-provider then drops the refresh token too', async () => {
    const t = await authorize();
    assert.equal((await mcpCallTool(mcpUrl, t.access_token, 'whoami')).toolText, 'alice');
    const rev = await postForm(meta.revocation_endpoint, {
      token: t.access_token, token_type_hint: 'access_token', client_id: client.client_id,
    });
    assert.equal(rev.status, 200);
    assert.equal(rev.body, '');
    assert.deepEqual((await introspect(t.access_token)).body, { active: false });
    const revoked = await mcpCallTool(mcpUrl, t.access_token, 'whoami');
    assert.equal(revoked.status, 401);
    const c = challengeParams(revoked.headers.get('www-authenticate'));
    assert.equal(c.error, 'invalid_token');
    assert.equal(c.error_description, 'the access token is not active (unknown, expired or revoked)');
    assert.deepEqual((await introspect(t.refresh_token)).body, { active: false });
    // Revoking an unknown token is a success too (RFC 7009 §2.2).
    const unknown = await postForm(meta.revocation_endpoint, { token: 'nope', client_id: client.client_id });
    assert.equal(unknown.status, 200);
  });

  it('revoking a refresh token revokes its grant (introspection inactive)', async () => {
    assert.equal((await introspect(bob.refresh_token)).body.active, true);
    const rev = await postForm(meta.revocation_endpoint, {
      token: bob.refresh_token, token_type_hint: 'refresh_token', client_id: client.client_id,
    });
    assert.equal(rev.status, 200);
    assert.deepEqual((await introspect(bob.refresh_token)).body, { active: false });
    assert.deepEqual((await introspect(bob.access_token)).body, { active: false });
    assert.equal((await mcpCallTool(mcpUrl, bob.access_token, 'whoami')).status, 401);
  });

  it('rejects a token for another resource or without audience at the MCP server', async () => {
    const other = await authorize({ resource: OTHER_RESOURCE });
    assert.equal((await introspect(other.access_token)).body.aud, OTHER_RESOURCE);
    const r = await mcpCallTool(mcpUrl, other.access_token, 'whoami');
    assert.equal(r.status, 401);
    const c = challengeParams(r.headers.get('www-authenticate'));
    assert.equal(c.error, 'invalid_token');
    assert.equal(c.error_description, `token audience ${OTHER_RESOURCE} does not match this resource ${mcpUrl}`);

    // A refresh for a resource other than the granted one fails (RFC 8707 invalid_target).
    const wrong = await refresh(other.refresh_token, mcpUrl);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_target');

    const none = await authorize({ resource: null, scope: 'openid mcp:tools' });
    const n = await mcpCallTool(mcpUrl, none.access_token, 'whoami');
    assert.equal(n.status, 401);
    assert.match(challengeParams(n.headers.get('www-authenticate')).error_description, /no audience/);
  });

  it('issues client_credentials tokens to a confidential client', async () => {
    const reg = await postJson(meta.registration_endpoint, {
      client_name: 'peers smoke service', grant_types: ['client_credentials'], response_types: [],
      redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.ok(reg.body.client_secret);
    const t = await postForm(meta.token_endpoint, {
      grant_type: 'client_credentials', scope: 'mcp:tools', resource: mcpUrl,
    }, { basic: [reg.body.client_id, reg.body.client_secret] });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.scope, 'mcp:tools');
    assert.equal(t.body.refresh_token, undefined);
    assert.equal((await mcpCallTool(mcpUrl, t.body.access_token, 'whoami')).toolText, reg.body.client_id);
  });

  it('issues JWT access tokens on demand (POST /__config) that the MCP server verifies', async () => {
    const cfg = await postJson(`${issuer}/__config`, { tokenFormat: 'jwt' });
    assert.equal(cfg.body.tokenFormat, 'jwt');
    try {
      const t = await authorize();
      const [header, payload] = t.access_token.split('.').slice(0, 2)
        .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
      assert.equal(header.typ, 'at+jwt');
      assert.equal(header.alg, 'RS256');
      assert.equal(payload.aud, mcpUrl);
      assert.equal(payload.iss, issuer);
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.scope, 'mcp:tools');
      assert.equal((await mcpCallTool(mcpUrl, t.access_token, 'whoami')).toolText, 'alice');
    } finally {
      await postJson(`${issuer}/__config`, { tokenFormat: 'opaque' });
    }
  });

  it('honours a short access-token TTL (expired token -> 401, refresh works)', async () => {
    await postJson(`${issuer}/__config`, { accessTtl: 1 });
    try {
      const t = await authorize();
      assert.equal(t.expires_in, 1);
      await sleep(2100);
      const r = await mcpCallTool(mcpUrl, t.access_token, 'whoami');
      assert.equal(r.status, 401);
      assert.equal(challengeParams(r.headers.get('www-authenticate')).error, 'invalid_token');
      await postJson(`${issuer}/__config`, { accessTtl: 3600 });
      const fresh = await refresh(t.refresh_token);
      assert.equal(fresh.body.expires_in, 3600);
      assert.equal((await mcpCallTool(mcpUrl, fresh.body.access_token, 'whoami')).toolText, 'alice');
    } finally {
      await postJson(`${issuer}/__config`, { accessTtl: 3600 });
    }
  });

  it('counts requests in /__stats and resets them', async () => {
    assert.equal((await fetch(`${issuer}/__stats/reset`, { method: 'POST' })).status, 204);
    assert.equal((await fetch(`${new URL(mcpUrl).origin}/__stats/reset`, { method: 'POST' })).status, 204);
    await getJson(`${issuer}/.well-known/oauth-authorization-server`);
    await getJson(`${issuer}/.well-known/openid-configuration`);
    await register(meta.registration_endpoint);
    const t = await authorize({ loginHint: 'carol' });
    const r1 = await refresh(t.refresh_token);
    const r2 = await refresh(r1.body.refresh_token);
    await refresh(t.refresh_token); // reuse: an error
    await introspect(r2.body.access_token);
    await postForm(meta.revocation_endpoint, { token: r2.body.refresh_token, client_id: client.client_id });
    await mcpRequest(mcpUrl, { method: 'tools/list' }); // 401
    await mcpCallTool(mcpUrl, t.access_token, 'whoami'); // inactive by now -> 401
    const fresh = await authorize({ loginHint: 'carol' });
    await mcpCallTool(mcpUrl, fresh.access_token, 'whoami');
    await mcpCallTool(mcpUrl, fresh.access_token, 'admin_op'); // 403

    const s = (await getJson(`${issuer}/__stats`)).body;
    assert.equal(s.metadata, 2);
    assert.deepEqual(s.metadata_by_path, { // the MCP server cached its copy before the reset
      '/.well-known/oauth-authorization-server': 1,
      '/.well-known/openid-configuration': 1,
    });
    assert.equal(s.register, 1);
    assert.equal(s.authorization, 2);
    assert.equal(s.resume, 4);
    assert.equal(s.interaction, 4);
    assert.deepEqual(s.token, { authorization_code: 2, refresh_token: 3 });
    assert.deepEqual(s.token_errors, { refresh_token: 1 });
    assert.equal(s.introspection, 1);
    assert.equal(s.rs_introspection, 3); // the MCP server checked three bearer tokens
    assert.equal(s.revocation, 1);

    const m = (await getJson(`${new URL(mcpUrl).origin}/__stats`)).body;
    assert.equal(m.requests, 4);
    assert.equal(m.authorized, 1);
    assert.equal(m.rejected, 2);
    assert.equal(m.forbidden, 1);
    assert.deepEqual(m.subjects, { carol: 1 });
    assert.deepEqual(m.tool_calls, { whoami: 1 });
    assert.deepEqual(m.methods, { 'tools/call': 1 });
  });

  it('deny mode (PEER_CONSENT=deny) ends the flow with access_denied', async () => {
    const denyAs = await start(startAs({ PEER_CONSENT: 'deny' }));
    const denyIssuer = denyAs.info.issuer;
    const denyMeta = (await getJson(`${denyIssuer}/.well-known/oauth-authorization-server`)).body;
    const reg = await register(denyMeta.registration_endpoint);
    assert.equal(reg.status, 201);
    const state = randomState();
    const { callback } = await browse(authorizationUrl({
      endpoint: denyMeta.authorization_endpoint, clientId: reg.body.client_id, resource: mcpUrl,
      scope: 'mcp:tools', state, challenge: pkce().challenge,
    }), REDIRECT_URI);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), denyIssuer);
    assert.equal(callback.searchParams.get('code'), null);
    const s = (await getJson(`${denyIssuer}/__stats`)).body;
    assert.equal(s.settings.consent, 'deny');
    assert.equal(s.interaction, 1);
  });

  it('MCP_NO_AUTH=1 serves tools without a token; MCP_STATEFUL=1 + MCP_JSON_RESPONSE=1 work', async () => {
    const open = await start(startMcp(undefined, { MCP_NO_AUTH: '1' }));
    assert.equal(open.info.auth, false);
    assert.equal((await getJson(`${new URL(open.info.url).origin}/.well-known/oauth-protected-resource/mcp`)).status, 404);
    await mcpInitialize(open.info.url);
    assert.equal((await mcpCallTool(open.info.url, undefined, 'whoami')).toolText, 'anonymous');

    const stateful = await start(startMcp(issuer, { MCP_STATEFUL: '1', MCP_JSON_RESPONSE: '1' }));
    const t = await authorize({ resource: stateful.info.url });
    const init = await mcpInitialize(stateful.info.url, t.access_token);
    assert.match(init.sessionId, /^[0-9a-f-]{36}$/);
    assert.match(init.headers.get('content-type'), /^application\/json/);
    const noSession = await mcpCallTool(stateful.info.url, t.access_token, 'whoami');
    assert.equal(noSession.status, 400);
    const w = await mcpCallTool(stateful.info.url, t.access_token, 'whoami', {}, init.sessionId);
    assert.equal(w.status, 200);
    assert.equal(w.toolText, 'alice');
  });

  it('MCP_STRICT_2026=1 wants MCP-Protocol-Version on every request, has no sessions; MCP_MAX_VERSION caps the answer', async () => {
    const strict = await start(startMcp(undefined, {
      MCP_NO_AUTH: '1', MCP_STRICT_2026: '1', MCP_MAX_VERSION: '2025-03-26',
    }));
    const url = strict.info.url;
    const stats = () => getJson(url.replace('/mcp', '/__stats')).then((r) => r.body);
    const initialize = (version) => ({
      jsonrpc: '2.0', id: 7, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'smoke', version: '0' } },
    });
    const accept = { accept: 'application/json, text/event-stream' };
    const missing = await postJson(url, initialize('2025-06-18'), accept);
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.body, { jsonrpc: '2.0', error: { code: -32020, message: 'Missing MCP-Protocol-Version header' }, id: 7 });
    const mismatch = await postJson(url, initialize('2025-06-18'), { ...accept, 'mcp-protocol-version': '2025-11-25' });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.error.code, -32020);
    assert.match(mismatch.body.error.message, /does not match/);
    // The harness sends the header (2025-06-18) with initialize; the server speaks up to 2025-03-26.
    const init = await mcpInitialize(url);
    assert.equal(init.result.protocolVersion, '2025-03-26');
    assert.equal(init.sessionId, undefined, 'no session');
    assert.equal((await getJson(url, accept)).status, 405, 'no GET stream');
    const s = await stats();
    assert.equal(s.missing_protocol_version, 1);
    assert.equal(s.first_protocol_version, '(none)');
    assert.deepEqual(s.protocol_version_header, { '(none)': 2, '2025-11-25': 1, '2025-06-18': 2 });
    assert.deepEqual(s.http, { POST: 4, GET: 1 });
    assert.equal(s.session_ids, 0);
  });

  it('honours the AS options PEER_USER, PEER_RESOURCES, PEER_DEFAULT_RESOURCE, PEER_TOKEN_FORMAT, PEER_ROTATE_REFRESH', async () => {
    const other = await start(startAs({
      PEER_USER: 'dave', PEER_RESOURCES: OTHER_RESOURCE, PEER_DEFAULT_RESOURCE: OTHER_RESOURCE,
      PEER_TOKEN_FORMAT: 'jwt', PEER_ROTATE_REFRESH: '0',
    }));
    const otherMeta = (await getJson(`${other.info.issuer}/.well-known/oauth-authorization-server`)).body;
    const otherClient = (await register(otherMeta.registration_endpoint)).body;
    const at = { meta: otherMeta, client: otherClient, issuer: other.info.issuer };

    const state = randomState();
    const refused = await browse(authorizationUrl({
      endpoint: otherMeta.authorization_endpoint, clientId: otherClient.client_id, resource: mcpUrl,
      scope: 'mcp:tools', state, challenge: pkce().challenge,
    }), REDIRECT_URI);
    assert.equal(refused.callback.searchParams.get('error'), 'invalid_target');
    assert.equal(refused.callback.searchParams.get('state'), state);

    const t = await authorize({ resource: null, at });
    const claims = jwtPayload(t.access_token);
    assert.equal(claims.aud, OTHER_RESOURCE);
    assert.equal(claims.sub, 'dave');
    assert.equal(claims.scope, 'mcp:tools');
    const r = await postForm(otherMeta.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: otherClient.client_id,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.refresh_token, t.refresh_token, 'not rotated');
    assert.equal(jwtPayload(r.body.access_token).aud, OTHER_RESOURCE);
  });

  it('PEER_REGISTRATION_SCOPE=ignore drops the scope of a registration the default refuses', async () => {
    const scoped = { scope: 'mcp:tools offline_access' };
    const refused = await register(meta.registration_endpoint, scoped);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'invalid_client_metadata');
    const lenient = await start(startAs({ PEER_REGISTRATION_SCOPE: 'ignore' }));
    const lenientMeta = (await getJson(`${lenient.info.issuer}/.well-known/oauth-authorization-server`)).body;
    const r = await register(lenientMeta.registration_endpoint, scoped);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.scope, undefined);
  });

  it('honours the MCP options MCP_RESOURCE=origin, MCP_CHALLENGE_SCOPE=0, MCP_PRM_IN_HEADER=0', async () => {
    const m = await start(startMcp(issuer, {
      MCP_RESOURCE: 'origin', MCP_CHALLENGE_SCOPE: '0', MCP_PRM_IN_HEADER: '0',
      MCP_SCOPES_SUPPORTED: 'mcp:tools mcp:admin',
    }));
    const origin = new URL(m.info.url).origin;
    assert.equal(m.info.resource, origin);
    const prm = await getJson(`${origin}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(prm.body.resource, origin);
    assert.deepEqual(prm.body.scopes_supported, ['mcp:tools', 'mcp:admin']);
    const r = await mcpRequest(m.info.url, { method: 'tools/list' });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    const t = await authorize({ resource: origin });
    assert.equal((await mcpCallTool(m.info.url, t.access_token, 'whoami')).toolText, 'alice');
    const wrong = await mcpCallTool(m.info.url, alice.access_token, 'whoami'); // revoked by now
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'),
      'Bearer error="invalid_token", error_description="the access token is not active (unknown, expired or revoked)"');
  });
});
