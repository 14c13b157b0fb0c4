// A small enterprise identity provider for mcp-oauth's cross-app access tests (MCP extension
// "Enterprise-Managed Authorization", SEP-990). See README.md for the env vars.
//
// It issues ID tokens through a test endpoint (standing in for the user's single sign-on) and
// performs the RFC 8693 token exchange of an ID token for an Identity Assertion JWT Authorization
// Grant (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant), signed with its own key and
// published at /jwks, which the authorization server (as.mjs with PEER_IDP_ISSUER) verifies.
//
// stdout carries exactly one line, the JSON {"issuer":…,"port":…}; logs go to stderr.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import { SignJWT, exportJWK, jwtVerify, createLocalJWKSet } from 'jose';

console.log = console.error;
console.info = console.error;

const env = process.env;
const HOST = '127.0.0.1';
const PORT = Number(env.PORT ?? 0);
const DEBUG = env.IDP_DEBUG === '1';

const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPE_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TYPE_ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';

function parseClients(text) {
  const value = JSON.parse(text);
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('IDP_CLIENTS must be a JSON object {"client_id":"secret", …}');
  }
  return value;
}

let clients;
try {
  // Clients of the IdP (the MCP client's single sign-on registration): id → secret.
  clients = parseClients(env.IDP_CLIENTS || '{"mcp-client":"mcp-client-idp-secret"}');
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
// Which client id the ID-JAG names (its `client_id` claim, the client's id at the authorization
// server; draft §5): IDP_AS_CLIENT_ID, else the IdP client id.
const AS_CLIENT_ID = env.IDP_AS_CLIENT_ID || '';
const JAG_TTL = Number(env.IDP_JAG_TTL || 300);
// Audiences (authorization-server issuers) the policy allows; empty: any.
const ALLOWED_AUDIENCES = (env.IDP_ALLOWED_AUDIENCES || '').split(',').map((s) => s.trim()).filter(Boolean);

// Run-time knobs for negative tests (POST /__config): make the next ID-JAGs wrong on purpose.
const tamper = { audience: null, expired: false, clientId: null, resource: null };

const stats = { id_tokens: 0, exchanges: 0, exchange_errors: 0, jwks: 0, metadata: 0 };

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'idp-es256';
const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
const ownKeys = createLocalJWKSet({ keys: [publicJwk] });

let issuer;

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

class OAuthError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

// RFC 6749 §2.3.1: client_secret_basic or client_secret_post.
function authenticateClient(req, params) {
  let id;
  let secret;
  const header = req.headers.authorization || '';
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } else {
    id = params.get('client_id');
    secret = params.get('client_secret');
  }
  if (!id || !(id in clients) || clients[id] !== secret) {
    throw new OAuthError(401, 'invalid_client', 'client authentication failed');
  }
  return id;
}

async function mintIdToken({ sub = 'alice', aud = Object.keys(clients)[0], ttl = 600, email } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: email ?? `${sub}@example.test` })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(privateKey);
}

// draft-ietf-oauth-identity-assertion-authz-grant §4.3: the token exchange.
async function exchange(req, params) {
  const clientId = authenticateClient(req, params);
  const need = (name) => {
    const v = params.get(name);
    if (!v) throw new OAuthError(400, 'invalid_request', `missing ${name}`);
    return v;
  };
  // RFC 8693 §2.1 / draft §4.3.1: the parameters of this profile.
  if (need('requested_token_type') !== TYPE_ID_JAG) {
    throw new OAuthError(400, 'invalid_request', `requested_token_type must be ${TYPE_ID_JAG}`);
  }
  if (need('subject_token_type') !== TYPE_ID_TOKEN) {
    throw new OAuthError(400, 'invalid_request', `subject_token_type must be ${TYPE_ID_TOKEN}`);
  }
  const audience = need('audience');
  if (params.getAll('audience').length !== 1) {
    throw new OAuthError(400, 'invalid_request', 'exactly one audience');
  }
  const resource = params.get('resource') || undefined;
  // draft §4.3.3: the subject token is an ID token this IdP issued to the authenticated client.
  let subject;
  try {
    ({ payload: subject } = await jwtVerify(need('subject_token'), ownKeys, { issuer, audience: clientId }));
  } catch (err) {
    throw new OAuthError(400, 'invalid_grant', `subject_token rejected: ${err.code || ''} ${err.message}`.trim());
  }
  // Administrator policy (draft §4.3.3): which authorization servers the client may reach.
  if (ALLOWED_AUDIENCES.length && !ALLOWED_AUDIENCES.includes(audience)) {
    throw new OAuthError(400, 'invalid_target', `policy does not allow audience ${audience}`);
  }
  const now = Math.floor(Date.now() / 1000);
  const iat = tamper.expired ? now - 2 * JAG_TTL : now;
  const scope = params.get('scope') || undefined;
  const claims = {
    client_id: tamper.clientId ?? (AS_CLIENT_ID || clientId),
    ...(resource || tamper.resource ? { resource: tamper.resource ?? resource } : {}),
    ...(scope ? { scope } : {}),
    email: subject.email,
  };
  // draft §3.1: typ oauth-id-jag+jwt; iss, sub, aud, client_id, jti, exp, iat.
  const jag = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'oauth-id-jag+jwt' })
    .setIssuer(issuer)
    .setSubject(subject.sub)
    .setAudience(tamper.audience ?? audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + JAG_TTL)
    .sign(privateKey);
  // draft §4.3.4: the response.
  return {
    issued_token_type: TYPE_ID_JAG,
    access_token: jag,
    token_type: 'N_A',
    expires_in: JAG_TTL,
    ...(scope ? { scope } : {}),
  };
}

async function handle(req, res) {
  const url = new URL(req.url, issuer);
  if (DEBUG) console.error(`[idp] ${req.method} ${url.pathname}`);
  if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
    stats.metadata += 1;
    return send(res, 200, {
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      grant_types_supported: [GRANT_TOKEN_EXCHANGE],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
  }
  if (req.method === 'GET' && url.pathname === '/jwks') {
    stats.jwks += 1;
    return send(res, 200, { keys: [publicJwk] });
  }
  if (req.method === 'GET' && url.pathname === '/__stats') {
    return send(res, 200, { ...stats, tamper });
  }
  // Test endpoint: the ID token the user's single sign-on would have produced.
  if (req.method === 'POST' && url.pathname === '/__id_token') {
    const body = await readJson(req);
    stats.id_tokens += 1;
    return send(res, 200, { id_token: await mintIdToken(body) });
  }
  if (req.method === 'POST' && url.pathname === '/__config') {
    const body = await readJson(req);
    for (const key of Object.keys(tamper)) if (key in body) tamper[key] = body[key];
    return send(res, 200, tamper);
  }
  if (req.method === 'POST' && url.pathname === '/token') {
    stats.exchanges += 1;
    try {
      const params = await readForm(req);
      if (params.get('grant_type') !== GRANT_TOKEN_EXCHANGE) {
        throw new OAuthError(400, 'unsupported_grant_type', 'only token exchange is supported');
      }
      return send(res, 200, await exchange(req, params));
    } catch (err) {
      stats.exchange_errors += 1;
      if (err instanceof OAuthError) {
        return send(res, err.status, { error: err.error, error_description: err.message });
      }
      console.error('[idp] server error:', err);
      return send(res, 500, { error: 'server_error', error_description: err.message });
    }
  }
  return send(res, 404, { error: 'not_found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('[idp] failed:', err);
    if (!res.headersSent) send(res, 500, { error: 'server_error' });
  });
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
issuer = `http://${HOST}:${port}`;

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
