// A real OAuth 2 / OpenID Connect authorization server for mcp-oauth's end-to-end tests, built on
// oidc-provider (https://github.com/panva/node-oidc-provider). See README.md for the env vars.
//
// stdout carries exactly one line, the JSON {"issuer":…,"port":…}; everything else goes to
// stderr (oidc-provider prints its notices with console.info, so console.info/log are redirected).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { Provider, errors } from 'oidc-provider';

console.log = console.error;
console.info = console.error;

// ---------------------------------------------------------------------------------------------
// Configuration from the environment (some of it changeable at run time through POST /__config).

const env = process.env;
const HOST = '127.0.0.1';
const PORT = Number(env.PORT ?? 0);
const DEFAULT_USER = env.PEER_USER || 'alice';
const RESOURCE_SCOPES = (env.PEER_RESOURCE_SCOPES || 'mcp:tools mcp:admin').split(/\s+/).filter(Boolean);
const ALLOWED_RESOURCES = env.PEER_RESOURCES
  ? env.PEER_RESOURCES.split(',').map((s) => s.trim()).filter(Boolean)
  : null; // null: any absolute http(s) URL is accepted as a resource indicator
const RS_CLIENT_ID = env.PEER_RS_CLIENT_ID || 'mcp-resource-server';
const RS_CLIENT_SECRET = env.PEER_RS_CLIENT_SECRET || 'mcp-resource-server-secret';
const DEBUG = env.PEER_DEBUG === '1';
// oidc-provider's default in-memory store is an LRU of 1000 entries: past a few hundred users
// it evicts live clients, grants and refresh tokens. PEER_STORE=map keeps everything (until it
// expires) for load tests with many users.
const STORE = env.PEER_STORE || 'lru';
// DPoP (RFC 9449): oidc-provider binds tokens to a proof's key whenever a token request carries
// one (dPoP is on by default in v9). PEER_DPOP_NONCE=1 makes the token endpoint demand a server
// nonce (§8: 400 use_dpop_nonce with DPoP-Nonce until the proof carries it).
const DPOP_NONCE = env.PEER_DPOP_NONCE === '1';

function positiveInt(name, value, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function oneOf(name, value, allowed, fallback) {
  if (value === undefined || value === '') return fallback;
  if (!allowed.includes(value)) {
    throw new TypeError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function startupSetting(fn) {
  try {
    return fn();
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
}

// RFC 7591 §3.2.1 says 201 Created; PEER_REGISTRATION_STATUS=200 imitates the servers that
// answer a registration with 200 OK. PEER_AUTH_METHODS: the token endpoint's client
// authentication methods (comma-separated; default: oidc-provider's), e.g. only
// `client_secret_basic,client_secret_post` for a server that registers no public clients.
const REGISTRATION_STATUS = Number(startupSetting(() => oneOf('PEER_REGISTRATION_STATUS', env.PEER_REGISTRATION_STATUS, ['201', '200'], '201')));
const REGISTRATION_SCOPE = startupSetting(() => oneOf('PEER_REGISTRATION_SCOPE', env.PEER_REGISTRATION_SCOPE, ['check', 'ignore'], 'check'));
const AUTH_METHODS = env.PEER_AUTH_METHODS
  ? env.PEER_AUTH_METHODS.split(',').map((m) => m.trim()).filter(Boolean)
  : undefined;

// Mutable settings (POST /__config changes them without a restart).
const settings = startupSetting(() => ({
  consent: oneOf('PEER_CONSENT', env.PEER_CONSENT, ['approve', 'deny', 'hold'], 'approve'),
  accessTtl: positiveInt('PEER_ACCESS_TTL', env.PEER_ACCESS_TTL, 3600),
  refreshTtl: positiveInt('PEER_REFRESH_TTL', env.PEER_REFRESH_TTL, 14 * 24 * 3600),
  tokenFormat: oneOf('PEER_TOKEN_FORMAT', env.PEER_TOKEN_FORMAT, ['opaque', 'jwt'], 'opaque'),
  rotateRefresh: oneOf('PEER_ROTATE_REFRESH', env.PEER_ROTATE_REFRESH, ['0', '1'], '1') === '1',
}));

// Static clients besides the resource server's (client_credentials, private_key_jwt with a
// `jwks`, jwt-bearer): a JSON array of client metadata objects.
const EXTRA_CLIENTS = startupSetting(() => {
  if (!env.PEER_CLIENTS) return [];
  const value = JSON.parse(env.PEER_CLIENTS);
  if (!Array.isArray(value) || !value.every((c) => c && typeof c.client_id === 'string')) {
    throw new TypeError('PEER_CLIENTS must be a JSON array of client metadata objects with client_id');
  }
  return value;
});
// The enterprise identity provider (idp.mjs) whose ID-JAGs the jwt-bearer grant accepts.
const IDP_ISSUER = env.PEER_IDP_ISSUER || '';
// Workload identity (MCP extension SEP-1933): a platform (a Kubernetes cluster, a cloud) whose
// JWTs the jwt-bearer grant accepts as they are: PEER_WORKLOAD_ISSUER (their `iss`) and
// PEER_WORKLOAD_JWKS (a JSON JWK Set with the platform's public keys).
const WORKLOAD_ISSUER = env.PEER_WORKLOAD_ISSUER || '';
const WORKLOAD_KEYS = startupSetting(() => {
  if (!WORKLOAD_ISSUER) return undefined;
  const jwks = JSON.parse(env.PEER_WORKLOAD_JWKS || 'null');
  if (!jwks || !Array.isArray(jwks.keys)) throw new TypeError('PEER_WORKLOAD_ISSUER needs PEER_WORKLOAD_JWKS, a JSON JWK Set');
  return createLocalJWKSet(jwks);
});
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

// ---------------------------------------------------------------------------------------------
// Counters for GET /__stats.

function freshStats() {
  return {
    metadata: 0,
    metadata_by_path: {},
    register: 0,
    authorization: 0,
    resume: 0,
    interaction: 0,
    token: {},
    token_errors: {},
    // client_id -> count, as sent to the authorization and token endpoints (and as registered):
    // which client identities this server was shown (authorization-server migration tests).
    client_ids: {},
    registered_client_ids: [],
    // User-Agent -> count, over metadata, registration, token and revocation requests.
    client_user_agents: {},
    revocation: 0,
    introspection: 0,
    rs_introspection: 0,
    jwks: 0,
    userinfo: 0,
    other: 0,
    // Every token request with a DPoP proof: its header and claims as sent, and the answer.
    dpop_token_requests: [],
  };
}
let stats = freshStats();
const bump = (obj, key) => { obj[key] = (obj[key] ?? 0) + 1; };

// ---------------------------------------------------------------------------------------------
// Listen first (PORT=0 picks a free port), then build the provider with the real issuer.

let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const issuer = `http://${HOST}:${port}`;

async function getResourceServerInfo(_ctx, resourceIndicator) {
  const url = URL.parse(resourceIndicator);
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    throw new errors.InvalidTarget('resource indicator must be an absolute http(s) URL');
  }
  if (ALLOWED_RESOURCES && !ALLOWED_RESOURCES.includes(resourceIndicator)) {
    throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
  }
  return {
    scope: RESOURCE_SCOPES.join(' '),
    audience: resourceIndicator,
    accessTokenTTL: settings.accessTtl,
    accessTokenFormat: settings.tokenFormat,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// An unbounded in-memory adapter (PEER_STORE=map): entries live until their expiry.
function mapAdapterFactory() {
  const items = new Map(); // key -> { payload, expiresAt }
  const live = (key) => {
    const item = items.get(key);
    if (item && item.expiresAt !== undefined && item.expiresAt <= Date.now()) {
      items.delete(key);
      return undefined;
    }
    return item?.payload;
  };
  return (model) => ({
    key: (id) => `${model}:${id}`,
    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
      items.set(`${model}:${id}`, { payload, expiresAt });
      if (model === 'Session' && payload.uid) items.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt });
    },
    async find(id) { return live(`${model}:${id}`); },
    async findByUid(uid) { const id = live(`sessionUid:${uid}`); return id && live(`${model}:${id}`); },
    async findByUserCode() { return undefined; },
    async consume(id) { const p = live(`${model}:${id}`); if (p) p.consumed = Math.floor(Date.now() / 1000); },
    async destroy(id) { items.delete(`${model}:${id}`); },
    async revokeByGrantId(grantId) {
      for (const [key, item] of items) if (item.payload?.grantId === grantId) items.delete(key);
    },
  });
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-rs256', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  ...(STORE === 'map' ? { adapter: mapAdapterFactory() } : {}),
  clients: [
    // The MCP server's own credentials, used only to call the introspection endpoint.
    {
      client_id: RS_CLIENT_ID,
      client_secret: RS_CLIENT_SECRET,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    ...EXTRA_CLIENTS,
  ],
  jwks: { keys: [signingJwk] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
  },
  scopes: ['openid', 'offline_access'],
  responseTypes: ['code'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email'],
  },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: sub, email: `${sub}@example.test` };
      },
    };
  },
  ...(AUTH_METHODS ? { clientAuthMethods: AUTH_METHODS } : {}),
  features: {
    devInteractions: { enabled: false }, // our own auto-consent handler below
    registration: { enabled: true }, // open dynamic client registration (RFC 7591)
    revocation: {
      enabled: true, // RFC 7009
      // A client may revoke only its own tokens; others' are left alone (RFC 7009 §2.1).
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    introspection: {
      enabled: true, // RFC 7662
      // Confidential clients (the MCP server) may introspect any token, public ones their own.
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
    },
    clientCredentials: { enabled: true },
    dPoP: DPOP_NONCE
      ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
      : { enabled: true },
    resourceIndicators: {
      enabled: true, // RFC 8707
      // No resource in the request: no default resource (the token then has no audience and
      // the MCP server rejects it), unless PEER_DEFAULT_RESOURCE says otherwise.
      async defaultResource(_ctx, _client, oneOfResources) {
        if (oneOfResources) return oneOfResources;
        return env.PEER_DEFAULT_RESOURCE || undefined;
      },
      async useGrantedResource() {
        return true;
      },
      getResourceServerInfo,
    },
  },
  pkce: {
    required: () => true, // code_challenge_methods_supported is always ["S256"] in v9
  },
  // Refresh tokens for every code (and refresh) grant of a client that registered the
  // refresh_token grant, not only for offline_access.
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: () => settings.rotateRefresh,
  expiresWithSession: async () => false,
  clientBasedCORS: () => true,
  ttl: {
    AccessToken: () => settings.accessTtl,
    ClientCredentials: () => settings.accessTtl,
    AuthorizationCode: 120,
    RefreshToken: () => settings.refreshTtl,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// ---------------------------------------------------------------------------------------------
// RFC 7523 §2.1 jwt-bearer grant with an Identity Assertion JWT Authorization Grant (ID-JAG) from
// IDP_ISSUER: MCP extension SEP-990 §5, draft-ietf-oauth-identity-assertion-authz-grant §4.4.

const seenJagIds = new Map(); // jti -> exp, replay protection (RFC 7523 §3 item 7)

async function jwtBearerGrant(ctx) {
  const { client, params } = ctx.oidc;
  // InvalidGrant would hide the reason in error_detail; the tests want it in error_description.
  const fail = (description) => new errors.CustomOIDCProviderError('invalid_grant', description);
  if (!params.assertion) throw new errors.InvalidRequest('missing assertion');
  let claimed;
  try { claimed = decodeJwt(params.assertion); } catch { throw fail('the assertion is not a JWT'); }
  if (WORKLOAD_ISSUER && claimed.iss === WORKLOAD_ISSUER) return workloadGrant(ctx, fail);
  let payload;
  try {
    ({ payload } = await jwtVerify(params.assertion, idpKeys, {
      issuer: IDP_ISSUER, // draft §4.4.1: the IdP this server trusts
      audience: issuer, // RFC 7523 §3 item 3 / SEP-990 §4: aud = this server's issuer
      typ: 'oauth-id-jag+jwt', // draft §3.1
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    }));
  } catch (err) {
    throw fail(`ID-JAG rejected: ${err.code || ''} ${err.message}`.trim());
  }
  // draft §4.4.1: the ID-JAG was issued for the authenticated client.
  if (payload.client_id !== client.clientId) {
    throw fail(`ID-JAG client_id ${payload.client_id} is not the authenticated client ${client.clientId}`);
  }
  // RFC 7523 §3 item 7: a jti is used once.
  const now = Math.floor(Date.now() / 1000);
  for (const [jti, exp] of seenJagIds) if (exp < now) seenJagIds.delete(jti);
  if (seenJagIds.has(payload.jti)) throw fail('ID-JAG replayed (jti already used)');
  seenJagIds.set(payload.jti, payload.exp);
  // SEP-990 §5.1: the token is audience-restricted to the ID-JAG's resource; a resource in the
  // request must be that one.
  const requested = [].concat(params.resource ?? []);
  const resource = payload.resource ?? requested[0];
  if (!resource) throw new errors.InvalidTarget('no resource in the ID-JAG or the request');
  if (requested.some((r) => r !== resource)) {
    throw new errors.InvalidTarget(`resource ${requested.join(' ')} is not the ID-JAG's resource ${resource}`);
  }
  const info = await getResourceServerInfo(ctx, resource, client);
  // SEP-990 §7.2.1: grant the intersection of requested, ID-JAG and resource scopes.
  const offered = new Set(info.scope.split(' '));
  const jagScopes = new Set(String(payload.scope ?? '').split(' ').filter(Boolean));
  const requestedScopes = String(params.scope || payload.scope || '').split(' ').filter(Boolean);
  if (DEBUG) console.error('[as] jwt-bearer', JSON.stringify({ scope: params.scope, resource: params.resource, jag: payload.scope }));
  const scope = requestedScopes.filter((s) => jagScopes.has(s) && offered.has(s)).join(' ');

  const grant = new provider.Grant({ accountId: payload.sub, clientId: client.clientId });
  if (scope) grant.addResourceScope(resource, scope);
  const grantId = await grant.save();
  const at = new provider.AccessToken({
    accountId: payload.sub,
    client,
    grantId,
    gty: 'jwt_bearer',
    scope: scope || undefined,
  });
  at.resourceServer = info;
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();
  ctx.body = {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: at.expiration,
    ...(scope ? { scope } : {}),
  };
}

// SEP-1933 / RFC 7523 §3: the platform's JWT, issued by WORKLOAD_ISSUER for this server (`aud`),
// not expired; `sub` (the workload) becomes the token's subject. Scope: the requested scopes the
// resource offers.
async function workloadGrant(ctx, fail) {
  const { client, params } = ctx.oidc;
  let payload;
  try {
    ({ payload } = await jwtVerify(params.assertion, WORKLOAD_KEYS, {
      issuer: WORKLOAD_ISSUER,
      audience: issuer, // RFC 7523 §3 item 3
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (err) {
    throw fail(`workload assertion rejected: ${err.code || ''} ${err.message}`.trim());
  }
  const resource = [].concat(params.resource ?? [])[0];
  if (!resource) throw new errors.InvalidTarget('no resource in the request');
  const info = await getResourceServerInfo(ctx, resource, client);
  const offered = new Set(info.scope.split(' '));
  const requested = String(params.scope || '').split(' ').filter(Boolean);
  const unknown = requested.filter((s) => !offered.has(s));
  if (unknown.length) throw new errors.InvalidScope(`scope ${unknown.join(' ')} is not offered`, unknown.join(' '));
  if (DEBUG) console.error('[as] workload jwt-bearer', JSON.stringify({ sub: payload.sub, scope: params.scope, resource }));
  const scope = requested.join(' ');
  const grant = new provider.Grant({ accountId: payload.sub, clientId: client.clientId });
  if (scope) grant.addResourceScope(resource, scope);
  const grantId = await grant.save();
  const at = new provider.AccessToken({ accountId: payload.sub, client, grantId, gty: 'jwt_bearer', scope: scope || undefined });
  at.resourceServer = info;
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();
  ctx.body = { access_token: accessToken, token_type: 'Bearer', expires_in: at.expiration, ...(scope ? { scope } : {}) };
}

let idpKeys;
if (IDP_ISSUER) idpKeys = createRemoteJWKSet(new URL(`${IDP_ISSUER}/jwks`));
if (IDP_ISSUER || WORKLOAD_ISSUER) {
  provider.registerGrantType(JWT_BEARER, jwtBearerGrant, ['assertion', 'scope', 'resource'], ['resource']);
}

// ---------------------------------------------------------------------------------------------
// Middleware in front of oidc-provider's router.

function cookieWithout(header, names) {
  if (!header) return header;
  return header
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && !names.some((n) => c.startsWith(`${n}=`)))
    .join('; ');
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function autoInteraction(ctx) {
  if (settings.consent === 'hold') {
    // PEER_CONSENT=hold: a user who looks at the consent page and decides nothing.
    ctx.type = 'html';
    ctx.body = '<!doctype html><title>Consent</title><p>Waiting for the user to decide.</p>';
    return;
  }
  ctx.respond = false; // interactionFinished writes the 303 itself
  const { req, res } = ctx;
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;

  if (settings.consent === 'deny') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the end-user denied the authorization request (PEER_CONSENT=deny)',
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'login') {
    const accountId = params.login_hint || DEFAULT_USER;
    return provider.interactionFinished(req, res, { login: { accountId } }, {
      mergeWithLastSubmission: false,
    });
  }

  if (prompt.name === 'consent') {
    const accountId = session.accountId;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    if (missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }

  return provider.interactionFinished(req, res, {
    error: 'interaction_required',
    error_description: `the peer cannot satisfy the prompt ${prompt.name}`,
  }, { mergeWithLastSubmission: false });
}

if (REGISTRATION_STATUS === 200) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/reg' && ctx.method === 'POST' && ctx.status === 201) ctx.status = 200;
  });
}

provider.use(async (ctx, next) => {
  const { path, method } = ctx;
  if (DEBUG) console.error(`[as] ${method} ${ctx.url}`);

  if (path === '/__stats' && method === 'GET') {
    ctx.type = 'json';
    ctx.body = { ...stats, settings };
    return;
  }
  if (path === '/__stats/reset' && method === 'POST') {
    stats = freshStats();
    ctx.status = 204;
    return;
  }
  if (path === '/__config' && method === 'POST') {
    ctx.type = 'json';
    try {
      const body = await readJson(ctx.req);
      const updated = { ...settings };
      if (body.consent !== undefined) updated.consent = oneOf('consent', body.consent, ['approve', 'deny']);
      if (body.accessTtl !== undefined) updated.accessTtl = positiveInt('accessTtl', body.accessTtl);
      if (body.refreshTtl !== undefined) updated.refreshTtl = positiveInt('refreshTtl', body.refreshTtl);
      if (body.tokenFormat !== undefined) updated.tokenFormat = oneOf('tokenFormat', body.tokenFormat, ['opaque', 'jwt']);
      if (body.rotateRefresh !== undefined) updated.rotateRefresh = body.rotateRefresh === true;
      Object.assign(settings, updated);
      ctx.body = settings;
    } catch (err) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: err.message };
    }
    return;
  }

  // PEER_REGISTRATION_SCOPE=ignore: the `scope` member of a registration request is ignored
  // (RFC 7591 §2 lets a server replace what it does not accept), as servers that grant scopes per
  // resource do; oidc-provider would refuse the resource scopes it advertises itself.
  if (path === '/reg' && method === 'POST' && REGISTRATION_SCOPE === 'ignore') {
    const body = await readJson(ctx.req);
    delete body.scope;
    ctx.req.body = body;
  }

  // CORS for the registration endpoint, which oidc-provider leaves without (browser clients).
  if (path === '/reg') {
    const origin = ctx.get('Origin');
    if (origin) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.vary('Origin');
      if (method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'POST');
        const h = ctx.get('Access-Control-Request-Headers');
        if (h) ctx.set('Access-Control-Allow-Headers', h);
        ctx.status = 204;
        return;
      }
    }
  }

  const interactionMatch = /^\/interaction\/([^/]+)$/.exec(path);
  if (interactionMatch && method === 'GET') {
    stats.interaction += 1;
    try {
      await autoInteraction(ctx);
    } catch (err) {
      console.error('[as] interaction failed:', err);
      ctx.respond = true;
      ctx.status = err.statusCode || 500;
      ctx.type = 'json';
      ctx.body = { error: err.error || 'server_error', error_description: err.error_description || err.message };
    }
    return;
  }

  // Every authorization request starts a fresh login: ignore the browser's provider session and
  // tell the browser to drop it, so a reused cookie jar never meets a "switch account" logout
  // page and login_hint (or PEER_USER) always decides the user.
  const freshLogin = path === '/auth' && /(^|;\s*)_session[.=]/.test(ctx.req.headers.cookie || '');
  if (freshLogin) {
    ctx.req.headers.cookie = cookieWithout(ctx.req.headers.cookie, ['_session', '_session.sig']);
  }

  await next();

  if (freshLogin) {
    for (const name of ['_session', '_session.sig']) {
      ctx.append('Set-Cookie', `${name}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; samesite=lax; httponly`);
    }
  }

  const route = ctx.oidc?.route;
  // The clients' own requests (not the browser's): which User-Agent each carried, to tell an
  // application's own HTTP client (mcp_oauth::http::HttpClient::from_reqwest) from the crate's.
  if (route === 'discovery' || route === 'registration' || route === 'token' || route === 'revocation') {
    bump(stats.client_user_agents, ctx.get('user-agent') || '(none)');
  }
  switch (route) {
    case 'discovery':
      // RFC 8414 scopes_supported: the resource scopes too, not only the OpenID ones.
      if (ctx.status === 200 && ctx.body && Array.isArray(ctx.body.scopes_supported)) {
        ctx.body.scopes_supported = [...new Set([...ctx.body.scopes_supported, ...RESOURCE_SCOPES])];
      }
      stats.metadata += 1;
      bump(stats.metadata_by_path, path);
      break;
    case 'registration':
      stats.register += 1;
      if (ctx.status === 201 && typeof ctx.body?.client_id === 'string') stats.registered_client_ids.push(ctx.body.client_id);
      break;
    case 'authorization':
      stats.authorization += 1;
      if (ctx.oidc.params?.client_id) bump(stats.client_ids, ctx.oidc.params.client_id);
      break;
    case 'resume':
      stats.resume += 1;
      break;
    case 'token': {
      const gt = ctx.oidc.params?.grant_type || 'unknown';
      bump(stats.token, gt);
      if (ctx.status >= 400) bump(stats.token_errors, gt);
      const id = ctx.oidc.params?.client_id ?? ctx.oidc.client?.clientId;
      if (id) bump(stats.client_ids, id);
      const proof = ctx.get('dpop');
      if (proof) {
        let header;
        let claims;
        try {
          header = decodeProtectedHeader(proof);
          claims = decodeJwt(proof);
        } catch (err) {
          header = { error: err.message };
        }
        stats.dpop_token_requests.push({
          grant_type: gt,
          header,
          claims,
          status: ctx.status,
          error: ctx.status >= 400 ? ctx.body?.error : undefined,
          token_type: ctx.status === 200 ? ctx.body?.token_type : undefined,
          dpop_nonce: ctx.response.get('dpop-nonce') || undefined,
        });
      }
      break;
    }
    case 'revocation':
      stats.revocation += 1;
      break;
    case 'introspection':
      if (ctx.oidc.client?.clientId === RS_CLIENT_ID) stats.rs_introspection += 1;
      else stats.introspection += 1;
      break;
    case 'jwks':
      stats.jwks += 1;
      break;
    case 'userinfo':
      stats.userinfo += 1;
      break;
    default:
      if (!route?.startsWith('cors.')) stats.other += 1;
  }
});

for (const event of ['server_error', 'grant.error', 'authorization.error', 'registration_create.error', 'introspection.error', 'revocation.error']) {
  provider.on(event, (ctx, err) => {
    if (event === 'server_error' || DEBUG) {
      console.error(`[as] ${event}: ${err?.error || ''} ${err?.error_description || err?.message || err}`);
    }
  });
}

handler = provider.callback();

// ---------------------------------------------------------------------------------------------

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  if (DEBUG) console.error(`[as] ${signal}, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
