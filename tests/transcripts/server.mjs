// The scripted server of the transcript tests: one HTTP server on 127.0.0.1 playing the MCP server
// (streamable HTTP, JSON-RPC answered as JSON), its authorization server (RFC 9728 protected
// resource metadata, RFC 8414 metadata, RFC 7591 registration, the authorization and token
// endpoints, RFC 7009 revocation) and an identity provider's token endpoint (RFC 8693 exchange for
// an ID-JAG). What it answers comes from the scenario's `server` entry (scenarios.json); every
// request is recorded, normalised so that two clients making the same requests give equal
// transcripts: volatile values (state, PKCE, assertions' times, the port) become placeholders,
// everything the server itself hands out (client ids, codes, tokens) is numbered per scenario.
//
//   const s = await startScriptedServer();
//   s.load(scenario.server);   // resets state and the transcript
//   ... a client runs against s.mcpUrl ...
//   s.transcript();            // [{ method, path, query?, body?, auth? }, ...]
//   await s.stop();
//
// Also runnable alone (`node tests/transcripts/server.mjs SCENARIO`) to poke at it by hand: it
// prints its MCP URL, and the transcript on SIGINT/SIGTERM.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/** Server behaviour defaults; a scenario's `server` object overrides any of them. */
const DEFAULTS = {
  prm: true, // serve protected-resource metadata (false: 404, the client falls back to legacy discovery)
  prmScopes: ['mcp:tools'], // its scopes_supported
  prmResource: null, // its `resource` (null: the MCP server's URL; RFC 9728 §3.3 says they must be equal)
  asIssuer: null, // the `issuer` of the AS metadata (null: the AS's own; RFC 8414 §3.3 says it must be)
  challengeScope: null, // `scope` of the 401 challenge (null: none)
  asMetadata: true, // serve RFC 8414 metadata
  authMethods: ['none', 'client_secret_basic', 'client_secret_post'], // token_endpoint_auth_methods_supported
  registration: true, // offer a registration_endpoint
  revocation: true, // offer a revocation_endpoint
  authorize: 'approve', // or 'deny' (access_denied), or 'page' (200 with a login page: a user is needed)
  authorizeDelayMs: 0, // the authorization endpoint answers this late
  firstExpiresIn: null, // expires_in of the first access token issued (later ones: 3600)
  tokenErrors: {}, // grant_type → { status, error, error_description }: every such request fails
  toolScopes: {}, // tool name → the scope it needs (403 insufficient_scope without it); `{n}`: per call
  forbiddenTools: [], // tools answered 403 with a challenge that is not about scope (application refusal)
  revokeOnce: null, // a JSON-RPC method whose first request is answered 401 invalid_token (and its token revoked)
  // DPoP (RFC 9449): the AS advertises ES256 and issues DPoP-bound tokens for requests with a
  // proof, the MCP server takes only those (PRM dpop_bound_access_tokens_required) with a proof
  // carrying `ath`; `asNonce`/`rsNonce`: each demands its nonce (`as-nonce`, `rs-nonce`) in proofs.
  dpop: null, // or { asNonce: bool, rsNonce: bool }
};

function problem(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const b64urlJson = (part) => {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
};

export async function startScriptedServer() {
  let cfg = { ...DEFAULTS };
  let state;
  let log = [];
  const reset = () => {
    state = { n: { client: 0, code: 0, at: 0, rt: 0, jag: 0 }, codes: new Map(), tokens: new Map(), refresh: new Map(), clients: new Map(), calls: new Map(), revokedOnce: false, keys: new Map() };
    log = [];
  };
  reset();

  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        problem(res, 500, { error: 'server_error', error_description: String(e?.stack ?? e) });
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  const mcpPath = '/mcp';
  const prmUrl = `${base}/.well-known/oauth-protected-resource${mcpPath}`;

  // ------------------------------------------------------------------------- normalisation
  const norm = (v) => (typeof v === 'string' ? v.split(base).join('{server}') : v);
  const sorted = (obj) => Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
  /** A JWT as its algorithm, issuer, subject and audience, and the names of its other claims. */
  const jwt = (token) => {
    const [header, payload] = String(token).split('.');
    const alg = header && b64urlJson(header)?.alg;
    const claims = payload && b64urlJson(payload);
    if (!claims) return '<not a JWT>';
    const { iss, sub, aud, ...rest } = claims;
    return `<jwt alg=${alg} iss=${norm(iss)} sub=${norm(sub)} aud=${norm(aud)} +${Object.keys(rest).sort().join(',')}>`;
  };
  const VOLATILE = { state: '<state>', code_challenge: '<code_challenge>', code_verifier: '<code_verifier>', nonce: '<nonce>' };
  const params = (entries) => {
    const out = {};
    for (const [k, v] of entries) {
      let value = VOLATILE[k] ?? norm(v);
      if (k === 'client_assertion') value = jwt(v);
      out[k] = k in out ? [].concat(out[k], value) : value;
    }
    return sorted(out);
  };
  const authOf = (req) => {
    const h = req.headers.authorization;
    if (!h) return undefined;
    const [scheme, value = ''] = h.split(/\s+/, 2);
    if (/^basic$/i.test(scheme)) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      return `Basic ${decodeURIComponent(decoded.slice(0, i))}`;
    }
    return `${scheme} ${value}`;
  };
  /**
   * A DPoP proof as what it says (RFC 9449 §4.2): `typ`, `alg`, the key numbered per scenario by
   * its thumbprint (RFC 7638), `htm`, `htu`, `ath` as the token it hashes, `nonce`, and the
   * names of the other claims (`jti`, `iat`: fresh per proof).
   */
  const proofOf = (req) => {
    const proof = req.headers.dpop;
    if (!proof) return undefined;
    const [h, p] = String(proof).split('.');
    const header = h && b64urlJson(h);
    const claims = p && b64urlJson(p);
    if (!header || !claims) return '<not a JWT>';
    const { crv, kty, x, y } = header.jwk ?? {};
    const jkt = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
    if (!state.keys.has(jkt)) state.keys.set(jkt, `key-${state.keys.size + 1}`);
    const { htm, htu, ath, nonce, ...rest } = claims;
    const token = ath && [...state.tokens.keys()].find((t) => athOf(t) === ath);
    const out = { typ: header.typ, alg: header.alg, jwk: state.keys.get(jkt), htm, htu: norm(htu) };
    if (ath) out.ath = token ?? '<not a token of this server>';
    if (nonce) out.nonce = nonce;
    out.other = Object.keys(rest).sort().join(',');
    return out;
  };
  const athOf = (token) => createHash('sha256').update(token).digest('base64url');
  const basicCredentials = (req) => {
    const h = req.headers.authorization ?? '';
    if (!/^basic\s/i.test(h)) return null;
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
  };

  // ------------------------------------------------------------------------------- answers
  const asMeta = () => ({
    issuer: cfg.asIssuer ?? base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    ...(cfg.registration ? { registration_endpoint: `${base}/register` } : {}),
    ...(cfg.revocation ? { revocation_endpoint: `${base}/revoke` } : {}),
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', JWT_BEARER],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: cfg.authMethods,
    scopes_supported: ['mcp:tools', 'mcp:admin'],
    authorization_response_iss_parameter_supported: true,
    ...(cfg.dpop ? { dpop_signing_alg_values_supported: ['ES256'] } : {}),
  });

  const issue = (scope, { refresh = true, dpop = false } = {}) => {
    state.n.at += 1;
    const access = `at-${state.n.at}`;
    state.tokens.set(access, { scope: scope ?? '', revoked: false, dpop });
    const first = state.n.at === 1 && cfg.firstExpiresIn !== null;
    const body = { access_token: access, token_type: dpop ? 'DPoP' : 'Bearer', expires_in: first ? cfg.firstExpiresIn : 3600 };
    if (scope) body.scope = scope;
    if (refresh) {
      state.n.rt += 1;
      body.refresh_token = `rt-${state.n.rt}`;
      state.refresh.set(body.refresh_token, { scope });
    }
    return body;
  };

  /** Client authentication at the token endpoint, as the metadata allows (RFC 6749 §2.3). */
  const clientAuth = (req, form) => {
    const basic = basicCredentials(req);
    const method = basic ? 'client_secret_basic' : form.get('client_assertion') ? 'private_key_jwt' : form.get('client_secret') ? 'client_secret_post' : 'none';
    if (!cfg.authMethods.includes(method)) {
      return { error: { error: 'invalid_client', error_description: `${method} is not a supported client authentication method` } };
    }
    return { clientId: basic?.id ?? form.get('client_id') };
  };

  const token = (req, res, form) => {
    const grant = form.get('grant_type');
    const fail = cfg.tokenErrors[grant];
    if (fail) return problem(res, fail.status ?? 400, { error: fail.error, ...(fail.error_description ? { error_description: fail.error_description } : {}) });
    const auth = clientAuth(req, form);
    if (auth.error) return problem(res, 401, auth.error);
    // RFC 9449 §8: the server's nonce in the proof, else 400 use_dpop_nonce with it.
    const proof = cfg.dpop && proofOf(req);
    if (proof && cfg.dpop.asNonce && proof.nonce !== 'as-nonce') {
      return problem(res, 400, { error: 'use_dpop_nonce', error_description: 'Authorization server requires nonce in DPoP proof' }, { 'dpop-nonce': 'as-nonce' });
    }
    const dpop = !!proof;
    switch (grant) {
      case 'authorization_code': {
        const code = state.codes.get(form.get('code'));
        if (!code) return problem(res, 400, { error: 'invalid_grant', error_description: 'unknown code' });
        state.codes.delete(form.get('code'));
        return problem(res, 200, issue(code.scope, { dpop }));
      }
      case 'refresh_token': {
        const rt = state.refresh.get(form.get('refresh_token'));
        if (!rt) return problem(res, 400, { error: 'invalid_grant', error_description: 'unknown refresh token' });
        state.refresh.delete(form.get('refresh_token'));
        return problem(res, 200, issue(rt.scope, { dpop }));
      }
      case 'client_credentials':
        return problem(res, 200, issue(form.get('scope'), { refresh: false }));
      case JWT_BEARER: {
        // An ID-JAG of this IdP, or a workload's platform JWT (SEP-1933: iss https://platform.example).
        const assertion = form.get('assertion') ?? '';
        const workload = b64urlJson(assertion.split('.')[1] ?? '')?.iss === 'https://platform.example';
        if (!/^jag-\d+$/.test(assertion) && !workload) return problem(res, 400, { error: 'invalid_grant', error_description: 'not an ID-JAG of this IdP' });
        return problem(res, 200, issue(form.get('scope'), { refresh: false }));
      }
      default:
        return problem(res, 400, { error: 'unsupported_grant_type' });
    }
  };

  const idpToken = (req, res, form) => {
    const fail = cfg.tokenErrors[TOKEN_EXCHANGE];
    if (fail) return problem(res, fail.status ?? 400, { error: fail.error });
    if (form.get('grant_type') !== TOKEN_EXCHANGE || form.get('subject_token_type') !== ID_TOKEN || form.get('requested_token_type') !== ID_JAG) {
      return problem(res, 400, { error: 'invalid_request' });
    }
    state.n.jag += 1;
    const scope = form.get('scope');
    return problem(res, 200, { access_token: `jag-${state.n.jag}`, issued_token_type: ID_JAG, token_type: 'N_A', expires_in: 300, ...(scope ? { scope } : {}) });
  };

  const challenge = (extra = '') => {
    const parts = [];
    if (extra) parts.push(extra);
    if (cfg.prm) parts.push(`resource_metadata="${prmUrl}"`);
    if (cfg.challengeScope) parts.push(`scope="${cfg.challengeScope}"`);
    return `Bearer ${parts.join(', ')}`.trim();
  };

  const mcp = (req, res, message) => {
    const h = req.headers.authorization ?? '';
    const bearer = new RegExp(`^${cfg.dpop ? 'dpop' : 'bearer'}\\s+(.+)$`, 'i').exec(h)?.[1];
    const t = bearer && state.tokens.get(bearer);
    if (!t || t.revoked) {
      const www = bearer ? challenge('error="invalid_token"') : challenge();
      return problem(res, 401, { error: 'unauthorized' }, { 'www-authenticate': www });
    }
    if (cfg.dpop) {
      // RFC 9449 §7.1, §9: a DPoP-bound token, a proof with its ath, the server's nonce.
      const nonce = cfg.dpop.rsNonce ? { 'dpop-nonce': 'rs-nonce' } : {};
      const refuse = (error) => problem(res, 401, { error }, { 'www-authenticate': `DPoP algs="ES256", error="${error}"`, ...nonce });
      const proof = proofOf(req);
      if (!t.dpop || !proof || proof.ath !== bearer) return refuse('invalid_dpop_proof');
      if (cfg.dpop.rsNonce && proof.nonce !== 'rs-nonce') return refuse('use_dpop_nonce');
      res.setHeader('dpop-nonce', 'rs-nonce');
    }
    if (cfg.revokeOnce && message?.method === cfg.revokeOnce && !state.revokedOnce) {
      state.revokedOnce = true;
      t.revoked = true;
      return problem(res, 401, { error: 'unauthorized' }, { 'www-authenticate': challenge('error="invalid_token"') });
    }
    if (message?.id === undefined) {
      res.writeHead(202);
      return res.end();
    }
    const reply = (result) => problem(res, 200, { jsonrpc: '2.0', id: message.id, result });
    switch (message.method) {
      case 'initialize':
        return reply({ protocolVersion: message.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'scripted', version: '0.0.0' } });
      case 'tools/list':
        return reply({ tools: ['whoami', 'admin_op', 'secret_op'].map((name) => ({ name, inputSchema: { type: 'object' } })) });
      case 'tools/call': {
        const name = message.params?.name;
        // `{n}` in a tool's scope: the scope of its n-th successful call (a per-call approval).
        const needs = cfg.toolScopes[name]?.replace('{n}', String((state.calls.get(name) ?? 0) + 1));
        if (needs && !t.scope.split(' ').includes(needs)) {
          const www = `Bearer error="insufficient_scope", scope="${needs}"${cfg.prm ? `, resource_metadata="${prmUrl}"` : ''}`;
          return problem(res, 403, { error: 'insufficient_scope' }, { 'www-authenticate': www });
        }
        if (cfg.forbiddenTools.includes(name)) {
          return problem(res, 403, { error: 'forbidden' }, { 'www-authenticate': 'Bearer error="access_denied", error_description="not for you"' });
        }
        state.calls.set(name, (state.calls.get(name) ?? 0) + 1);
        return reply({ content: [{ type: 'text', text: `${name}: ok` }] });
      }
      default:
        return problem(res, 200, { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'method not found' } });
    }
  };

  function handle(req, res, raw) {
    const url = new URL(req.url, base);
    const path = url.pathname;
    const type = req.headers['content-type'] ?? '';
    const form = type.includes('x-www-form-urlencoded') ? new URLSearchParams(raw) : null;
    let json = null;
    if (type.includes('json') && raw) {
      try { json = JSON.parse(raw); } catch { json = null; }
    }

    // The MCP transport's own housekeeping (SSE stream, session end) is the MCP client
    // library's, not the authorization's: answered, not recorded.
    if (path === mcpPath && req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' });
      return res.end();
    }
    const entry = { method: req.method, path };
    if ([...url.searchParams.keys()].length) entry.query = params(url.searchParams);
    if (form) entry.body = params(form);
    else if (path === mcpPath) entry.body = json ? { rpc: json.method, ...(json.params?.name ? { tool: json.params.name } : {}) } : norm(raw);
    else if (json) entry.body = JSON.parse(norm(JSON.stringify(sorted(json))));
    const auth = authOf(req);
    if (auth) entry.auth = auth;
    const proof = cfg.dpop && proofOf(req);
    if (proof) entry.dpop = proof;
    log.push(entry);

    if (path === mcpPath) return mcp(req, res, json);
    if (req.method === 'GET' && path === `/.well-known/oauth-protected-resource${mcpPath}` && cfg.prm) {
      return problem(res, 200, { resource: cfg.prmResource ?? `${base}${mcpPath}`, authorization_servers: [base], scopes_supported: cfg.prmScopes, bearer_methods_supported: ['header'], ...(cfg.dpop ? { dpop_bound_access_tokens_required: true } : {}) });
    }
    if (req.method === 'GET' && path === '/.well-known/oauth-authorization-server' && cfg.asMetadata) return problem(res, 200, asMeta());
    if (req.method === 'POST' && path === '/register' && cfg.registration) {
      state.n.client += 1;
      const client = { ...json, client_id: `client-${state.n.client}`, client_id_issued_at: 1700000000 };
      state.clients.set(client.client_id, client);
      return problem(res, 201, client);
    }
    if (req.method === 'GET' && path === '/authorize') {
      const p = url.searchParams;
      if (cfg.authorize === 'page') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<!doctype html><title>Sign in</title><form method="post"><input name="user"></form>');
      }
      const back = new URL(p.get('redirect_uri'));
      if (cfg.authorize === 'deny') {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'the user denied the request');
      } else {
        state.n.code += 1;
        const code = `code-${state.n.code}`;
        state.codes.set(code, { scope: p.get('scope') });
        back.searchParams.set('code', code);
      }
      if (p.get('state') !== null) back.searchParams.set('state', p.get('state'));
      back.searchParams.set('iss', base);
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(302, { location: back.href });
        res.end();
      };
      if (cfg.authorizeDelayMs > 0) return void setTimeout(answer, cfg.authorizeDelayMs).unref();
      return answer();
    }
    if (req.method === 'POST' && path === '/token') return token(req, res, form ?? new URLSearchParams());
    if (req.method === 'POST' && path === '/idp/token') return idpToken(req, res, form ?? new URLSearchParams());
    if (req.method === 'POST' && path === '/revoke' && cfg.revocation) {
      const t = state.tokens.get(form?.get('token'));
      if (t) t.revoked = true;
      state.refresh.delete(form?.get('token'));
      res.writeHead(200);
      return res.end();
    }
    return problem(res, 404, { error: 'not_found' });
  }

  return {
    base,
    mcpUrl: `${base}${mcpPath}`,
    /** Resets state and the transcript, and answers as `serverConfig` says from now on. */
    load(serverConfig = {}) {
      const unknown = Object.keys(serverConfig).filter((k) => !(k in DEFAULTS));
      if (unknown.length) throw new Error(`scenario server: unknown setting(s) ${unknown.join(', ')} (known: ${Object.keys(DEFAULTS).join(', ')})`);
      cfg = { ...DEFAULTS, ...serverConfig };
      reset();
    },
    /** The requests recorded since the last load(). */
    transcript: () => log.map((e) => ({ ...e })),
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const table = JSON.parse(readFileSync(new URL('./scenarios.json', import.meta.url), 'utf8'));
  const scenario = table.scenarios.find((s) => s.name === process.argv[2]);
  const s = await startScriptedServer();
  s.load(scenario?.server ?? {});
  console.log(JSON.stringify({ url: s.mcpUrl, scenario: scenario?.name ?? null }));
  const done = async () => {
    console.error(JSON.stringify(s.transcript(), null, 2));
    await s.stop();
  };
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
}
