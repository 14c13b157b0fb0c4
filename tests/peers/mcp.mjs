// A real MCP server (streamable HTTP, @modelcontextprotocol/sdk) protected by OAuth bearer tokens
// from the authorization server in as.mjs, for mcp-oauth's end-to-end tests. See README.md.
//
// stdout carries exactly one line, the JSON {"url":…,"port":…}; logs go to stderr.

import { createHash, randomBytes, randomUUID } from 'node:crypto';

import express from 'express';
import {
  calculateJwkThumbprint, compactVerify, createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify,
} from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { EmptyResultSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

console.log = console.error;
console.info = console.error;

const env = process.env;
const HOST = '127.0.0.1';
const PORT = Number(env.PORT ?? 0);
const NO_AUTH = env.MCP_NO_AUTH === '1';
const AS_ISSUER = env.AS_ISSUER;
const TOOLS_SCOPE = env.MCP_TOOLS_SCOPE || 'mcp:tools';
const ADMIN_SCOPE = env.MCP_ADMIN_SCOPE || 'mcp:admin';
const SCOPES_SUPPORTED = (env.MCP_SCOPES_SUPPORTED || TOOLS_SCOPE).split(/\s+/).filter(Boolean);
const CHALLENGE_SCOPE = env.MCP_CHALLENGE_SCOPE !== '0';
const PRM_IN_HEADER = env.MCP_PRM_IN_HEADER !== '0';
const STATEFUL = env.MCP_STATEFUL === '1';
const JSON_RESPONSE = env.MCP_JSON_RESPONSE === '1';
// Resumable streams (streamable HTTP, "Resumability and Redelivery"; SEP-1699, MCP 2025-11-25):
// event ids from an event store, `retry` in the priming event, and the tools `poll` and
// `notify_standing`, which close their streams before the rest of what they send.
const RESUMABLE = env.MCP_RESUMABLE === '1';
const RETRY_MS = Number(env.MCP_RETRY_MS || 100);
const INTROSPECTION_CLIENT_ID = env.MCP_INTROSPECTION_CLIENT_ID || 'mcp-resource-server';
const INTROSPECTION_CLIENT_SECRET = env.MCP_INTROSPECTION_CLIENT_SECRET || 'mcp-resource-server-secret';
const DEBUG = env.MCP_DEBUG === '1';
// A 2026-07-28-style server (MCP 2026-07-28, basic/transports: streamable HTTP): every request
// must carry MCP-Protocol-Version, the first one included (else 400 with JSON-RPC -32020), and
// there are no sessions and no GET stream (405).
const STRICT_2026 = env.MCP_STRICT_2026 === '1';
// The newest version this server speaks: an initialize proposing a newer one is answered with
// this one (MCP lifecycle: version negotiation). Default: the SDK's newest.
const MAX_VERSION = env.MCP_MAX_VERSION || null;
// DPoP (RFC 9449): MCP_DPOP=1 accepts only DPoP-bound tokens with a valid proof (PRM
// dpop_bound_access_tokens_required, a DPoP challenge); MCP_DPOP_NONCE=1 also demands this
// server's nonce in every proof (§9: 401 use_dpop_nonce with DPoP-Nonce).
const DPOP = env.MCP_DPOP === '1' || env.MCP_DPOP_NONCE === '1';
const DPOP_NONCE = env.MCP_DPOP_NONCE === '1';
const DPOP_ALGS = ['ES256'];
const DPOP_IAT_WINDOW = 60; // seconds either side of now
let dpopNonce = randomBytes(16).toString('base64url');
const seenJtis = new Map(); // jti -> iat, replay protection (§11.1)
// A header every request must carry besides the bearer token ("Name: value"), like the second
// service token of a service-account setup; requests without it get 403 missing_header.
const REQUIRED_HEADER = (() => {
  if (!env.MCP_REQUIRED_HEADER) return null;
  const i = env.MCP_REQUIRED_HEADER.indexOf(':');
  if (i <= 0) {
    console.error('MCP_REQUIRED_HEADER must be "Name: value"');
    process.exit(2);
  }
  return { name: env.MCP_REQUIRED_HEADER.slice(0, i).trim(), value: env.MCP_REQUIRED_HEADER.slice(i + 1).trim() };
})();

if (STRICT_2026 && STATEFUL) {
  console.error('MCP_STRICT_2026=1 has no sessions: it cannot be combined with MCP_STATEFUL=1');
  process.exit(2);
}
// The event store of MCP_RESUMABLE: every event in order, ids from one counter. (The SDK's
// example store reads the stream out of an id by splitting it at `_`, which loses the standing
// stream, whose id is `_GET_stream`: nothing sent on it could be replayed.)
class EventStore {
  constructor() { this.events = []; this.next = 1; }

  async storeEvent(streamId, message) {
    const eventId = String(this.next);
    this.next += 1;
    this.events.push({ eventId, streamId, message });
    return eventId;
  }

  async getStreamIdForEventId(eventId) {
    return this.events.find((e) => e.eventId === eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const i = this.events.findIndex((e) => e.eventId === lastEventId);
    if (i < 0) return '';
    const { streamId } = this.events[i];
    for (const e of this.events.slice(i + 1)) {
      if (e.streamId === streamId) await send(e.eventId, e.message);
    }
    return streamId;
  }
}

if (RESUMABLE && (!STATEFUL || JSON_RESPONSE)) {
  console.error('MCP_RESUMABLE=1 needs MCP_STATEFUL=1 and SSE answers (no MCP_JSON_RESPONSE)');
  process.exit(2);
}
if (MAX_VERSION !== null && !/^\d{4}-\d{2}-\d{2}$/.test(MAX_VERSION)) {
  console.error('MCP_MAX_VERSION must be a protocol version YYYY-MM-DD');
  process.exit(2);
}

if (!NO_AUTH && !AS_ISSUER) {
  console.error('AS_ISSUER is required (the authorization server issuer), or set MCP_NO_AUTH=1');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Counters for GET /__stats.

function freshStats() {
  return {
    requests: 0, // every request to /mcp
    authorized: 0, // passed the bearer check
    rejected: 0, // 401
    forbidden: 0, // 403 insufficient_scope
    prm: 0, // protected resource metadata fetches
    subjects: {}, // sub -> authorized requests
    methods: {}, // JSON-RPC method -> count (authorized requests)
    tool_calls: {}, // tool name -> count
    reject_reasons: {}, // error_description -> count
    missing_header: 0, // requests refused for lacking MCP_REQUIRED_HEADER
    client_info: {}, // "name version" of initialize's clientInfo -> count
    http: {}, // HTTP method -> requests to /mcp
    protocol_version_header: {}, // MCP-Protocol-Version of each request to /mcp ("(none)" if absent)
    first_protocol_version: null, // that header on the first request to /mcp since the last reset
    missing_protocol_version: 0, // requests refused for lacking it (MCP_STRICT_2026)
    session_ids: 0, // requests that carried Mcp-Session-Id
    last_event_ids: [], // Last-Event-ID of each GET that carried one (a resumed stream)
    user_agents: {}, // User-Agent of each request to /mcp -> count ("(none)" if absent)
    // MCP_DPOP: every request's proof as received (header, claims) and what was decided.
    dpop_requests: [],
  };
}
let stats = freshStats();
const bump = (obj, key) => { obj[key] = (obj[key] ?? 0) + 1; };

// ---------------------------------------------------------------------------------------------
// Token checks: JWT access tokens are verified locally (JWKS of the AS), opaque ones through the
// AS's introspection endpoint (RFC 7662) with this server's own client credentials.

// The authorization server this resource trusts: AS_ISSUER, until POST /__config moves it
// (authorization-server migration, MCP SEP-2352).
let asIssuer = AS_ISSUER;
let asMetadata;
let jwks;
async function authorizationServer() {
  if (asMetadata) return asMetadata;
  const issuer = asIssuer;
  const res = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
  if (!res.ok) throw new Error(`AS metadata: HTTP ${res.status}`);
  const meta = await res.json();
  if (meta.issuer !== issuer) throw new Error(`AS metadata issuer ${meta.issuer} != ${issuer}`);
  jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
  asMetadata = meta;
  return meta;
}

class TokenError extends Error {}

// Values in a quoted auth-param may not hold '"' or '\' (RFC 6750 §3).
const quoted = (text) => String(text).replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');

function isJwt(token) {
  if (token.split('.').length !== 3) return false;
  try {
    return !!decodeProtectedHeader(token);
  } catch {
    return false;
  }
}

async function tokenClaims(token) {
  const meta = await authorizationServer();
  if (isJwt(token)) {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: asIssuer, typ: 'at+jwt' });
      return { ...payload, active: true };
    } catch (err) {
      throw new TokenError(`JWT access token rejected: ${err.code || ''} ${err.message}`.trim());
    }
  }
  const basic = Buffer.from(
    `${encodeURIComponent(INTROSPECTION_CLIENT_ID)}:${encodeURIComponent(INTROSPECTION_CLIENT_SECRET)}`,
  ).toString('base64');
  const res = await fetch(meta.introspection_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  if (!res.ok) throw new Error(`introspection: HTTP ${res.status} ${await res.text()}`);
  const claims = await res.json();
  if (!claims.active) {
    throw new TokenError('the access token is not active (unknown, expired or revoked)');
  }
  const expected = DPOP ? 'DPoP' : 'Bearer';
  if (claims.token_type && claims.token_type !== expected) {
    throw new TokenError(`token_type ${claims.token_type} is not ${expected}`);
  }
  return claims;
}

// ---------------------------------------------------------------------------------------------

const app = express();
app.disable('x-powered-by');

let RESOURCE; // set after listen
let PRM_URL;

function challenge({ error, description, scope } = {}) {
  const parts = [];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${quoted(description)}"`);
  if (scope) parts.push(`scope="${scope}"`);
  if (PRM_IN_HEADER) parts.push(`resource_metadata="${PRM_URL}"`);
  // RFC 9449 §7.1: a DPoP resource names the scheme and its algorithms.
  if (DPOP) return `DPoP algs="${DPOP_ALGS.join(' ')}"${parts.length ? `, ${parts.join(', ')}` : ''}`;
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

class DpopError extends Error {
  constructor(error, description) {
    super(description);
    this.error = error;
  }
}

// RFC 9449 §4.3 and §7.1: the proof of one request with `token`; returns the JWK thumbprint.
async function checkDpopProof(req, token, record) {
  const proofs = req.headers.dpop;
  if (!proofs) throw new DpopError('invalid_dpop_proof', 'no DPoP proof (send a DPoP header)');
  if (Array.isArray(proofs) || proofs.includes(',')) throw new DpopError('invalid_dpop_proof', 'more than one DPoP header');
  let header;
  let claims;
  try {
    header = decodeProtectedHeader(proofs);
    if (header.typ !== 'dpop+jwt') throw new Error(`typ ${header.typ} is not dpop+jwt`);
    if (!DPOP_ALGS.includes(header.alg)) throw new Error(`alg ${header.alg} is not one of ${DPOP_ALGS}`);
    if (!header.jwk || header.jwk.d !== undefined) throw new Error('jwk missing or private');
    const key = await importJWK(header.jwk, header.alg);
    const { payload } = await compactVerify(proofs, key);
    claims = JSON.parse(new TextDecoder().decode(payload));
  } catch (err) {
    throw new DpopError('invalid_dpop_proof', `DPoP proof rejected: ${err.message}`);
  }
  record.header = header;
  record.claims = claims;
  const target = new URL(req.originalUrl, RESOURCE);
  const htu = `${target.origin}${target.pathname}`;
  const now = Math.floor(Date.now() / 1000);
  const ath = createHash('sha256').update(token).digest('base64url');
  if (claims.htm !== req.method) throw new DpopError('invalid_dpop_proof', `htm ${claims.htm} is not ${req.method}`);
  if (claims.htu !== htu) throw new DpopError('invalid_dpop_proof', `htu ${claims.htu} is not ${htu}`);
  if (typeof claims.iat !== 'number' || Math.abs(claims.iat - now) > DPOP_IAT_WINDOW) {
    throw new DpopError('invalid_dpop_proof', `iat ${claims.iat} is not within ${DPOP_IAT_WINDOW} s of now`);
  }
  if (typeof claims.jti !== 'string' || !claims.jti) throw new DpopError('invalid_dpop_proof', 'no jti');
  for (const [jti, iat] of seenJtis) if (iat < now - 2 * DPOP_IAT_WINDOW) seenJtis.delete(jti);
  if (seenJtis.has(claims.jti)) throw new DpopError('invalid_dpop_proof', 'jti replayed');
  if (claims.ath !== ath) throw new DpopError('invalid_dpop_proof', 'ath is not the hash of the access token');
  if (DPOP_NONCE && claims.nonce !== dpopNonce) {
    throw new DpopError('use_dpop_nonce', 'Resource server requires nonce in DPoP proof');
  }
  seenJtis.set(claims.jti, claims.iat);
  return calculateJwkThumbprint(header.jwk, 'sha256');
}

function rejectDpop(res, record, err) {
  stats.rejected += 1;
  bump(stats.reject_reasons, err.message);
  record.decision = err.error;
  if (DEBUG) console.error(`[mcp] 401 ${err.error} ${err.message}`);
  res.set('WWW-Authenticate', `DPoP algs="${DPOP_ALGS.join(' ')}", error="${err.error}", error_description="${quoted(err.message)}"`);
  return res.status(401).json({ error: err.error, error_description: err.message });
}

function reject(res, status, { error, description, scope }) {
  if (status === 401) stats.rejected += 1;
  else stats.forbidden += 1;
  if (description) bump(stats.reject_reasons, description);
  if (DEBUG) console.error(`[mcp] ${status} ${error || ''} ${description || ''}`);
  // RFC 6750 §3.1: no error information in the challenge when no token was sent.
  res.set('WWW-Authenticate', challenge({ error, description: error ? description : undefined, scope }));
  const body = error ? { error, error_description: description } : { error: 'unauthorized', error_description: description };
  res.status(status).json(body);
}

// CORS, so browser clients can talk to this server too.
app.use((req, res, next) => {
  const origin = req.get('origin');
  if (origin) {
    res.set('Access-Control-Allow-Origin', origin);
    res.set('Vary', 'Origin');
    res.set('Access-Control-Expose-Headers', 'WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, DPoP-Nonce');
    if (req.method === 'OPTIONS') {
      res.set('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
      res.set('Access-Control-Allow-Headers', req.get('access-control-request-headers') || 'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, DPoP');
      res.set('Access-Control-Max-Age', '600');
      return res.status(204).end();
    }
  }
  return next();
});

app.get('/__stats', (_req, res) => res.json(stats));
// Test knobs: `authorization_server` moves the resource to another authorization server (its
// metadata names it, tokens are checked with it); `prm_failures` answers that many next
// metadata requests 503 (a transient failure); `reject_next` refuses that many next requests
// that carry a token with 401 invalid_token (as if it were revoked); `forget_sessions: true`
// ends every session (MCP_STATEFUL=1: their next request gets 404, as after a server restart).
let prmFailures = 0;
let rejectNext = 0;
app.post('/__config', express.json(), (req, res) => {
  const body = req.body ?? {};
  if (body.authorization_server !== undefined) {
    if (typeof body.authorization_server !== 'string' || !URL.canParse(body.authorization_server)) {
      return res.status(400).json({ error: 'invalid_request', error_description: 'authorization_server must be a URL' });
    }
    asIssuer = body.authorization_server;
    asMetadata = undefined;
    jwks = undefined;
  }
  if (body.forget_sessions === true) {
    for (const t of [...sessions.values()]) t.close().catch(() => {});
    sessions.clear();
  }
  for (const [name, apply] of [['prm_failures', (n) => { prmFailures = n; }], ['reject_next', (n) => { rejectNext = n; }]]) {
    if (body[name] === undefined) continue;
    if (!Number.isInteger(body[name]) || body[name] < 0) {
      return res.status(400).json({ error: 'invalid_request', error_description: `${name} must be a non-negative integer` });
    }
    apply(body[name]);
  }
  return res.json({ authorization_server: asIssuer, prm_failures: prmFailures, reject_next: rejectNext });
});
// MCP_DPOP_NONCE: a new nonce (the server rotates it; the next proof with the old one is refused).
app.post('/__dpop/rotate', (_req, res) => { dpopNonce = randomBytes(16).toString('base64url'); res.status(204).end(); });
app.post('/__stats/reset', (_req, res) => { stats = freshStats(); res.status(204).end(); });
// Forgets every session (a restarted server): the next request with a session id gets 404.
app.post('/__sessions/drop', (_req, res) => {
  const dropped = sessions.size;
  for (const t of sessions.values()) t.close().catch(() => {});
  sessions.clear();
  res.json({ dropped });
});

function protectedResourceMetadata(_req, res) {
  stats.prm += 1;
  if (NO_AUTH) return res.status(404).json({ error: 'not_found' });
  if (prmFailures > 0) {
    prmFailures -= 1;
    return res.status(503).json({ error: 'temporarily_unavailable' });
  }
  return res.json({
    resource: RESOURCE,
    authorization_servers: [asIssuer],
    scopes_supported: SCOPES_SUPPORTED,
    bearer_methods_supported: ['header'],
    resource_name: 'mcp-oauth test peer',
    ...(DPOP ? { dpop_bound_access_tokens_required: true, dpop_signing_alg_values_supported: DPOP_ALGS } : {}),
  });
}
app.get('/.well-known/oauth-protected-resource/mcp', protectedResourceMetadata);
app.get('/.well-known/oauth-protected-resource', protectedResourceMetadata);

function requestedTools(body) {
  const messages = Array.isArray(body) ? body : [body];
  return messages
    .filter((m) => m && m.method === 'tools/call' && typeof m.params?.name === 'string')
    .map((m) => m.params.name);
}

async function bearerAuth(req, res, next) {
  stats.requests += 1;
  const version = req.get('mcp-protocol-version') ?? '(none)';
  bump(stats.http, req.method);
  bump(stats.user_agents, req.get('user-agent') ?? '(none)');
  bump(stats.protocol_version_header, version);
  if (req.method === 'GET' && req.get('last-event-id')) stats.last_event_ids.push(req.get('last-event-id'));
  if (stats.requests === 1) stats.first_protocol_version = version;
  if (req.get('mcp-session-id') !== undefined) stats.session_ids += 1;
  if (REQUIRED_HEADER && req.get(REQUIRED_HEADER.name) !== REQUIRED_HEADER.value) {
    stats.missing_header += 1;
    return res.status(403).json({ error: 'missing_header', error_description: `${REQUIRED_HEADER.name} is missing or wrong` });
  }
  if (NO_AUTH) {
    req.auth = { token: '', clientId: 'anonymous', scopes: [], extra: { sub: 'anonymous' } };
    stats.authorized += 1;
    bump(stats.subjects, 'anonymous');
    return next();
  }
  const scopeHint = CHALLENGE_SCOPE ? TOOLS_SCOPE : undefined;
  const header = req.get('authorization');
  if (!header) {
    return reject(res, 401, { description: 'no access token (send Authorization: Bearer <token>)', scope: scopeHint });
  }
  const scheme = DPOP ? 'DPoP' : 'Bearer';
  const match = new RegExp(`^${scheme} +([A-Za-z0-9\\-._~+/]+=*)$`, 'i').exec(header);
  if (!match) {
    return reject(res, 401, { error: 'invalid_request', description: `malformed Authorization header, expected ${scheme} <token>`, scope: scopeHint });
  }
  let jkt;
  if (DPOP) {
    if (DPOP_NONCE) res.set('DPoP-Nonce', dpopNonce); // §9: the nonce for the next proof
    const record = { method: req.method, authorization_scheme: header.split(' ')[0] };
    stats.dpop_requests.push(record);
    try {
      jkt = await checkDpopProof(req, match[1], record);
    } catch (err) {
      if (err instanceof DpopError) return rejectDpop(res, record, err);
      throw err;
    }
    record.decision = 'accepted';
  }
  if (rejectNext > 0) {
    rejectNext -= 1;
    return reject(res, 401, { error: 'invalid_token', description: 'the access token was revoked (reject_next)', scope: scopeHint });
  }
  let claims;
  try {
    claims = await tokenClaims(match[1]);
    // §6.1 (RFC 9449): the token is bound to the proof's key.
    if (DPOP && claims.cnf?.jkt !== jkt) {
      throw new TokenError(`the token is bound to key ${claims.cnf?.jkt}, the proof is signed by ${jkt}`);
    }
  } catch (err) {
    if (err instanceof TokenError) {
      return reject(res, 401, { error: 'invalid_token', description: err.message, scope: scopeHint });
    }
    console.error('[mcp] token check failed:', err);
    return res.status(500).json({ error: 'server_error', error_description: err.message });
  }
  const aud = claims.aud === undefined ? [] : [].concat(claims.aud);
  if (!aud.includes(RESOURCE)) {
    const description = aud.length
      ? `token audience ${aud.join(' ')} does not match this resource ${RESOURCE}`
      : `token has no audience, expected ${RESOURCE} (request it with resource=${RESOURCE})`;
    return reject(res, 401, { error: 'invalid_token', description, scope: scopeHint });
  }
  if (typeof claims.exp === 'number' && claims.exp < Date.now() / 1000) {
    return reject(res, 401, { error: 'invalid_token', description: 'the access token expired', scope: scopeHint });
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  if (!scopes.includes(TOOLS_SCOPE)) {
    return reject(res, 403, {
      error: 'insufficient_scope',
      description: `this server needs scope ${TOOLS_SCOPE}`,
      scope: TOOLS_SCOPE,
    });
  }
  if (req.method === 'POST' && requestedTools(req.body).includes('admin_op') && !scopes.includes(ADMIN_SCOPE)) {
    return reject(res, 403, {
      error: 'insufficient_scope',
      description: `tool admin_op needs scope ${ADMIN_SCOPE}`,
      scope: `${TOOLS_SCOPE} ${ADMIN_SCOPE}`,
    });
  }
  req.auth = {
    token: match[1],
    clientId: claims.client_id,
    scopes,
    expiresAt: claims.exp,
    resource: new URL(RESOURCE),
    // Opaque client_credentials tokens introspect without sub; JWT ones carry sub = client_id.
    extra: { sub: claims.sub ?? claims.client_id, aud },
  };
  stats.authorized += 1;
  bump(stats.subjects, req.auth.extra.sub ?? '(none)');
  return next();
}

// ---------------------------------------------------------------------------------------------
// The MCP server and its tools.

function text(value) {
  return { content: [{ type: 'text', text: String(value) }] };
}

function buildServer() {
  const server = new McpServer({ name: 'mcp-oauth-test-peer', version: '1.0.0' });
  server.registerTool('echo', {
    description: 'Returns its text argument',
    inputSchema: { text: z.string() },
  }, async ({ text: t }) => { bump(stats.tool_calls, 'echo'); return text(t); });
  server.registerTool('add', {
    description: 'Adds two numbers',
    inputSchema: { a: z.number(), b: z.number() },
  }, async ({ a, b }) => { bump(stats.tool_calls, 'add'); return text(a + b); });
  server.registerTool('whoami', {
    description: 'Returns the subject (sub) of the access token that made this call',
  }, async (extra) => {
    bump(stats.tool_calls, 'whoami');
    return text(extra.authInfo?.extra?.sub ?? 'anonymous');
  });
  server.registerTool('admin_op', {
    description: `An operation that needs the ${ADMIN_SCOPE} scope (step-up)`,
  }, async (extra) => {
    bump(stats.tool_calls, 'admin_op');
    if (!NO_AUTH && !extra.authInfo?.scopes?.includes(ADMIN_SCOPE)) {
      return { ...text(`missing scope ${ADMIN_SCOPE}`), isError: true };
    }
    return text(`admin operation done for ${extra.authInfo?.extra?.sub ?? 'anonymous'}`);
  });
  // Progress notifications on the call's response stream (MCP: progress, when the request's
  // _meta carries a progressToken), then the answer.
  server.registerTool('progress', {
    description: 'Reports progress `steps` times, then answers',
    inputSchema: { steps: z.number().int().min(1).max(100) },
  }, async ({ steps }, extra) => {
    bump(stats.tool_calls, 'progress');
    const progressToken = extra._meta?.progressToken;
    for (let i = 1; i <= steps && progressToken !== undefined; i += 1) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress: i, total: steps, message: `step ${i} of ${steps}` },
      });
      // Work between the reports, as a tool that reports progress does.
      await new Promise((resolve) => { setTimeout(resolve, 20); });
    }
    return text(`done after ${steps} steps`);
  });
  // A server request in the middle of a call: the ping travels on the call's response stream
  // and the client's answer comes back as a POST of its own (needs MCP_STATEFUL=1, where that
  // POST reaches the same server).
  server.registerTool('ping_client', {
    description: 'Pings the client during the call, then answers',
  }, async (extra) => {
    bump(stats.tool_calls, 'ping_client');
    await extra.sendRequest({ method: 'ping' }, EmptyResultSchema, { timeout: 10000 });
    return text('the client answered the ping');
  });
  if (RESUMABLE) {
    // SEP-1699 polling: a progress report, then the call's stream is closed before the answer;
    // the second report and the answer are stored and reach a client that resumes the stream.
    server.registerTool('poll', {
      description: 'Closes its response stream, then reports progress again and answers',
    }, async (extra) => {
      bump(stats.tool_calls, 'poll');
      const progressToken = extra._meta?.progressToken;
      const report = (progress) => progressToken === undefined ? undefined : extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress, total: 2 },
      });
      await report(1);
      if (!extra.closeSSEStream) throw new Error('no closeSSEStream: is the event store on?');
      extra.closeSSEStream();
      await new Promise((resolve) => { setTimeout(resolve, 300); });
      await report(2);
      return text('answered after the stream was closed');
    });
    // The standing GET stream: one notification on it, the stream closed, a second one sent
    // while it is closed (stored; replayed to a client that reopens it with Last-Event-ID).
    server.registerTool('notify_standing', {
      description: 'Sends tools/list_changed on the standing stream, closes it, sends another',
    }, async (extra) => {
      bump(stats.tool_calls, 'notify_standing');
      await server.server.sendToolListChanged();
      await new Promise((resolve) => { setTimeout(resolve, 200); });
      if (!extra.closeStandaloneSSEStream) throw new Error('no closeStandaloneSSEStream');
      extra.closeStandaloneSSEStream();
      await server.server.sendToolListChanged();
      return text('two notifications sent, the standing stream closed between them');
    });
  }
  return server;
}

function countMethods(body) {
  for (const m of Array.isArray(body) ? body : [body]) {
    if (m && typeof m.method === 'string') bump(stats.methods, m.method);
    const info = m?.method === 'initialize' ? m.params?.clientInfo : undefined;
    if (info) bump(stats.client_info, `${info.name} ${info.version}`);
  }
}

function jsonRpcError(res, status, code, message, id = null) {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id });
}

const isInitialize = (m) => m?.method === 'initialize';

// MCP_STRICT_2026: the header on every request; on initialize it must name the version the
// client proposes. Answers the refusal and returns true, or returns false.
function refuseWithoutProtocolVersion(req, res) {
  const header = req.get('mcp-protocol-version');
  const messages = Array.isArray(req.body) ? req.body : [req.body];
  const id = messages.length === 1 && messages[0]?.id !== undefined ? messages[0].id : null;
  if (header === undefined) {
    stats.missing_protocol_version += 1;
    jsonRpcError(res, 400, -32020, 'Missing MCP-Protocol-Version header', id);
    return true;
  }
  const init = messages.find(isInitialize);
  if (init && init.params?.protocolVersion !== header) {
    jsonRpcError(res, 400, -32020,
      `MCP-Protocol-Version header (${header}) does not match initialize params.protocolVersion (${init.params?.protocolVersion})`, id);
    return true;
  }
  return false;
}

// MCP_MAX_VERSION: an initialize proposing a newer version is answered with MAX_VERSION (the SDK
// answers the proposed version when it supports it).
function capProposedVersion(body) {
  if (MAX_VERSION === null) return;
  for (const m of Array.isArray(body) ? body : [body]) {
    const proposed = m?.params?.protocolVersion;
    if (isInitialize(m) && typeof proposed === 'string' && proposed > MAX_VERSION) {
      m.params.protocolVersion = MAX_VERSION;
    }
  }
}

const sessions = new Map(); // stateful mode: session id -> transport

async function handleMcp(req, res) {
  try {
    if (req.method === 'POST') countMethods(req.body);
    if (STRICT_2026 && req.method === 'POST' && refuseWithoutProtocolVersion(req, res)) return undefined;
    if (req.method === 'POST') capProposedVersion(req.body);
    if (!STATEFUL) {
      if (req.method !== 'POST') return jsonRpcError(res, 405, -32000, 'Method not allowed (stateless server).');
      const server = buildServer();
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: JSON_RESPONSE,
      });
      res.on('close', () => {
        transport.close();
        server.close();
      });
      await server.connect(transport);
      return await transport.handleRequest(req, res, req.body);
    }
    const sessionId = req.get('mcp-session-id');
    let transport = sessionId ? sessions.get(sessionId) : undefined;
    if (!transport) {
      if (sessionId) return jsonRpcError(res, 404, -32001, 'Session not found');
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
        return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session ID provided');
      }
      const server = buildServer();
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: JSON_RESPONSE,
        onsessioninitialized: (id) => { sessions.set(id, transport); },
        ...(RESUMABLE ? { eventStore: new EventStore(), retryInterval: RETRY_MS } : {}),
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
        server.close();
      };
      await server.connect(transport);
    }
    return await transport.handleRequest(req, res, req.body);
  } catch (err) {
    console.error('[mcp] request failed:', err);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal server error');
    return undefined;
  }
}

app.all('/mcp', express.json({ limit: '4mb' }), bearerAuth, handleMcp);

// ---------------------------------------------------------------------------------------------

const httpServer = await new Promise((resolve, reject) => {
  const s = app.listen(PORT, HOST, (err) => (err ? reject(err) : resolve(s)));
});
// Node closes an idle keep-alive connection after 5 s; a client that sends on it at that moment
// sees the connection closed (RFC 9112 §9.6 allows either side to close an idle connection).
// MCP_KEEP_ALIVE_MS lengthens the idle time, for load tests about something else.
if (env.MCP_KEEP_ALIVE_MS) httpServer.keepAliveTimeout = Number(env.MCP_KEEP_ALIVE_MS);
const { port } = httpServer.address();
const origin = `http://${HOST}:${port}`;
const url = `${origin}/mcp`;
if (!env.MCP_RESOURCE) RESOURCE = url;
else if (env.MCP_RESOURCE === 'origin') RESOURCE = origin;
else RESOURCE = env.MCP_RESOURCE;
PRM_URL = `${origin}/.well-known/oauth-protected-resource/mcp`;

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  for (const t of sessions.values()) t.close().catch(() => {});
  httpServer.close(() => process.exit(0));
  httpServer.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ url, port, resource: RESOURCE, auth: !NO_AUTH })}\n`);
