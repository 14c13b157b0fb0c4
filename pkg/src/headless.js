// McpOAuthHeadless: access tokens without a user or a browser, for Node scripts, CI pipelines and
// backend services (the JS side of the native `HeadlessClient`). Grants:
//   client_credentials  RFC 6749 §4.4 with client_secret_basic, client_secret_post or
//                       private_key_jwt (RFC 7523; ES256/RS256 PKCS#8 keys, signed by WebCrypto)
//   cross_app           MCP SEP-990: the user's ID token for an ID-JAG at the identity provider
//                       (RFC 8693), redeemed with the jwt-bearer grant (RFC 7523 §2.1)
//   service_account     client credentials at a fixed token URL (no discovery), with an optional
//                       second service token sent in a header on every MCP request
//   jwt_bearer          workload identity (MCP SEP-1933): the platform's JWT (a Kubernetes
//                       service-account token, a cloud identity token) for an access token
//                       (RFC 7523 §2.1); `assertion` (a function: called for every token request)
// The Rust core's HeadlessFlow (src/headless.rs) sequences every step and makes every protocol
// decision (discovery, scope, client authentication method, resource, credential binding); this
// file is one drain loop plus IO: fetch, the clock, WebCrypto signing of the payloads the core
// asks for, and the option checks. Nothing is persisted: a new token is one request away.

// The WebAssembly module's bindings (wasm-bindgen output, the Node build): pkg/build.sh puts
// them next to the minified copy of this file (dist/node/); node.js initialises the module.
import * as steps from './mcp_oauth_wasm.js';
import { makeError, nowSeconds, randomBytes, defaultFetch, requestUrl, prepareRequest, drain } from './io.js';

/** The core's RFC 7523 §3 assertion claims; `jtiRandom` (16 bytes) from `crypto.getRandomValues` when not given. */
export function clientAssertionClaims(clientId, audience, now, jtiRandom = randomBytes(16)) {
  return steps.clientAssertionClaims(clientId, audience, now, jtiRandom);
}

const GRANTS = ['client_credentials', 'cross_app', 'service_account', 'jwt_bearer'];
const KNOWN = ['serverUrl', 'grant', 'clientId', 'clientSecret', 'authMethod', 'privateKey', 'signingAlg',
  'scopes', 'tokenUrl', 'issuer', 'serviceToken', 'serviceTokenHeader', 'idp', 'assertion', 'refreshBufferSeconds', 'fetch'];
const CONSTRUCT = Symbol('McpOAuthHeadless.create');

const bad = (option, problem) => makeError('invalid_option', `options.${option}: ${problem}`, { option });

function check(options) {
  if (!options || typeof options !== 'object') {
    throw bad('(all)', 'McpOAuthHeadless.create needs an options object with at least serverUrl and clientId');
  }
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw bad(k, `unknown option (known: ${KNOWN.join(', ')})`);
  }
  const o = { grant: 'client_credentials', signingAlg: 'ES256', serviceTokenHeader: 'X-Service-Token', refreshBufferSeconds: 60, ...options };
  const str = (name, v = o[name]) => {
    if (v !== undefined && typeof v !== 'string') throw bad(name, `expected a string, got ${typeof v}`);
  };
  ['serverUrl', 'clientId', 'clientSecret', 'authMethod', 'privateKey', 'tokenUrl', 'issuer', 'serviceToken', 'serviceTokenHeader'].forEach((k) => str(k));
  for (const k of ['serverUrl', 'clientId']) if (!o[k]) throw bad(k, 'is required');
  if (!GRANTS.includes(o.grant)) throw bad('grant', `expected one of ${GRANTS.join(', ')}, got ${JSON.stringify(o.grant)}`);
  if (o.grant === 'jwt_bearer') {
    // The assertion is read for every token request: a function lets a rotated one be used.
    if (o.assertion === undefined) throw bad('assertion', "is required for grant 'jwt_bearer': the platform's JWT, or a function returning it (called for every token request)");
    if (typeof o.assertion !== 'string' && typeof o.assertion !== 'function') throw bad('assertion', `expected a string or a function, got ${typeof o.assertion}`);
  } else if (o.assertion !== undefined) {
    throw bad('assertion', "is only for grant 'jwt_bearer'");
  }
  if (o.grant !== 'jwt_bearer' && (o.grant === 'service_account') !== (o.tokenUrl !== undefined)) {
    throw bad('tokenUrl', o.tokenUrl === undefined ? "is required for grant 'service_account'" : "is only for grant 'service_account' (the other grants discover the token endpoint)");
  }
  if (o.clientSecret !== undefined && o.privateKey !== undefined) throw bad('privateKey', 'give clientSecret or privateKey, not both');
  if (!['ES256', 'RS256'].includes(o.signingAlg)) throw bad('signingAlg', `expected "ES256" or "RS256", got ${JSON.stringify(o.signingAlg)}`);
  if (o.scopes !== undefined) {
    const list = typeof o.scopes === 'string' ? [o.scopes] : o.scopes;
    if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw bad('scopes', 'expected a string or an array of strings');
  }
  if (!/^[\w-]+$/.test(o.serviceTokenHeader) || /^authorization$/i.test(o.serviceTokenHeader)) {
    throw bad('serviceTokenHeader', 'must be an HTTP header name other than Authorization');
  }
  if (!(o.refreshBufferSeconds >= 0)) throw bad('refreshBufferSeconds', 'expected a number of seconds, 0 or more');
  if (o.fetch !== undefined && typeof o.fetch !== 'function') throw bad('fetch', `expected a function, got ${typeof o.fetch}`);
  if (o.grant === 'cross_app') {
    const idp = o.idp;
    if (!idp || typeof idp !== 'object') throw bad('idp', "is required for grant 'cross_app': { tokenEndpoint | issuer, clientId, clientSecret?, authMethod?, idToken }");
    const need = idp.issuer === undefined ? ['tokenEndpoint', 'clientId', 'idToken'] : ['clientId', 'idToken'];
    for (const k of need) if (!idp[k] || typeof idp[k] !== 'string') throw bad(`idp.${k}`, 'is required (a string)');
    for (const k of ['clientSecret', 'authMethod', 'issuer']) str(`idp.${k}`, idp[k]);
  } else if (o.idp !== undefined) {
    throw bad('idp', "is only for grant 'cross_app'");
  }
  return o;
}

// ------------------------------------------------------------- private_key_jwt with WebCrypto

const subtle = () => globalThis.crypto?.subtle ?? (() => { throw makeError('entropy_unavailable', 'WebCrypto (crypto.subtle) is not available here (need Node >= 20 or a browser)'); })();

async function importKey(pem, alg) {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \1-----/.exec(pem);
  if (!m) throw bad('privateKey', 'not a PEM key (expected "-----BEGIN PRIVATE KEY-----", PKCS#8)');
  if (m[1] !== 'PRIVATE KEY') {
    throw bad('privateKey', `a "${m[1]}" PEM is not supported: convert it to an unencrypted PKCS#8 "PRIVATE KEY" with \`openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem\``);
  }
  const params = alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  try {
    const der = Uint8Array.from(atob(m[2].replace(/\s+/g, '')), (c) => c.charCodeAt(0));
    return await subtle().importKey('pkcs8', der, params, false, ['sign']);
  } catch (e) {
    throw bad('privateKey', `not a PKCS#8 private key for ${alg} (${alg === 'ES256' ? 'EC P-256' : 'RSA'}): ${e.message}`);
  }
}

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const utf8 = (s) => new TextEncoder().encode(s);

/** A compact JWS (RFC 7515 §7.1) of the core's `payload`; ECDSA signatures come out as raw r||s, as JWS wants. */
async function signJwt(key, alg, payload) {
  const input = `${b64url(utf8(JSON.stringify({ alg, typ: 'JWT' })))}.${b64url(utf8(payload))}`;
  const params = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  return `${input}.${b64url(new Uint8Array(await subtle().sign(params, key, utf8(input))))}`;
}

// ------------------------------------------------------------------------------------ client

/** The core's options (HeadlessFlow in src/headless.rs) from the checked options. */
function coreOptions(o) {
  const idp = o.grant === 'cross_app'
    ? { tokenEndpoint: o.idp.tokenEndpoint, issuer: o.idp.issuer, clientId: o.idp.clientId, clientSecret: o.idp.clientSecret, authMethod: o.idp.authMethod, idToken: o.idp.idToken }
    : undefined;
  return {
    serverUrl: o.serverUrl, clientId: o.clientId, clientSecret: o.clientSecret, authMethod: o.authMethod,
    privateKeyJwt: o.privateKey !== undefined, scopes: o.scopes, tokenUrl: o.tokenUrl, issuer: o.issuer, idp,
    workloadIdentity: o.grant === 'jwt_bearer', refreshBufferSeconds: o.refreshBufferSeconds,
  };
}

export class McpOAuthHeadless {
  #o;
  #flow;
  #key;
  #fetch;
  #pending = null;
  #bound = null;

  /** Use `await McpOAuthHeadless.create(options)`. */
  constructor(secret, o, flow, key) {
    if (secret !== CONSTRUCT) throw makeError('invalid_argument', 'use `await McpOAuthHeadless.create(options)`');
    this.#o = o;
    this.#flow = flow;
    this.#key = key;
    this.#fetch = o.fetch ?? defaultFetch();
  }

  /**
   * Checks the options and imports the key. Options: serverUrl, clientId (required); grant
   * ('client_credentials' default, 'cross_app', 'service_account', 'jwt_bearer'), clientSecret, authMethod,
   * privateKey (PKCS#8 PEM), signingAlg ('ES256' default, 'RS256'), scopes, tokenUrl + issuer
   * (service account; optional for jwt_bearer), serviceToken + serviceTokenHeader, idp (cross app),
   * assertion (jwt_bearer: a string, or a function called for every token request), refreshBufferSeconds
   * (60), fetch.
   */
  static async create(options) {
    const o = check(options);
    const flow = new steps.HeadlessFlow(coreOptions(o));
    const key = o.privateKey === undefined ? null : await importKey(o.privateKey, o.signingAlg);
    return new McpOAuthHeadless(CONSTRUCT, o, flow, key);
  }

  /** A usable access token: the cached one while it has `refreshBufferSeconds` to live, else a new one; concurrent callers share one request. */
  async accessToken() {
    const t = this.#flow.accessToken(nowSeconds());
    if (t !== undefined) return t;
    this.#pending ??= this.#obtain().finally(() => { this.#pending = null; });
    return this.#pending;
  }

  async #obtain() {
    if (!this.#flow.busy) this.#flow.begin(nowSeconds());
    await this.#drain();
    const t = this.#flow.lastToken();
    if (t === undefined) throw makeError('not_discovered', 'the headless flow ended without a token');
    return t;
  }

  /** The drain contract: requests and signatures until both are empty, then events; the first error is thrown. */
  async #drain() {
    const sign = async (sig) => {
      if (sig.signer === 'workload') {
        // Not a signature: the platform's JWT as it is now (it may have been rotated).
        const a = typeof this.#o.assertion === 'function' ? await this.#o.assertion() : this.#o.assertion;
        if (typeof a !== 'string') throw new Error(`options.assertion must give a string (the platform's JWT), got ${typeof a}`);
        return a;
      }
      if (!this.#key || sig.signer !== 'authorization_server') throw new Error('no privateKey is configured for this client');
      return signJwt(this.#key, this.#o.signingAlg, sig.payload);
    };
    // Nothing to persist: tokens and discovery stay in the flow.
    const { error } = await drain(this.#flow, this.#fetch, sign);
    if (error) throw error;
  }


  /**
   * A `fetch` for the MCP server: adds the token (and the service token header); on a 401 or
   * 403 the core decides (a new token and the request again, the response as is, or an error).
   * Requests to other URLs pass through untouched. A plain function: `{ fetch: headless.fetch }`.
   */
  get fetch() {
    return (this.#bound ??= (input, init) => this.#fetchImpl(input, init));
  }

  #request(input, init, token) {
    const req = prepareRequest(input, init, `Bearer ${token}`);
    if (this.#o.serviceToken !== undefined) req[1].headers.set(this.#o.serviceTokenHeader, this.#o.serviceToken);
    return req;
  }

  async #fetchImpl(input, init) {
    try {
      this.#flow.authorizationHeader(nowSeconds(), requestUrl(input));
    } catch (e) {
      if (e && e.code === 'token_for_other_resource') return this.#fetch(input, init);
      throw e;
    }
    for (;;) {
      const token = await this.accessToken();
      const res = await this.#fetch(...this.#request(input, init, token));
      if (res.status !== 401 && res.status !== 403) return res;
      // The core decides (no user, so no step-up): a new token and again, the response as is, or
      // an error when no new token can help. It bounds the retries.
      const retry = this.#flow.handleResourceResponse(nowSeconds(), res.status, res.headers.get('www-authenticate') ?? undefined, token);
      if (!retry) return res;
      await res.arrayBuffer().catch(() => {});
    }
  }

  /** `{ grant, serverUrl, issuer, authorized, expiresAt, scope }` (no secrets). */
  status() {
    return { grant: this.#o.grant, ...this.#flow.status(nowSeconds()) };
  }
}
