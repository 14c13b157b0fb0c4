// McpOAuth: one user's authorization for one MCP server, in browsers and Node.
//
// Like the native `OAuthClient`, this only drives the Rust core's flow (the `Flow` class of the
// WebAssembly module) through its drain contract: after every input, send each request the flow
// asks for (never following redirects), answer it, then act on the events (persist, open the
// browser). Every protocol decision (discovery order, PKCE, state and iss checks, token
// validation, refresh timing, step-up) is the core's. This file owns the IO: fetch, storage,
// windows, the clock and entropy. It is JavaScript rather than async Rust for size: the same
// orchestration written with wasm-bindgen-futures added ~30 KB gzipped (BENCHMARKS.md). The
// WebAssembly module imports nothing from here: this file imports its bindings.
//
// Storage layout (string values; keys prefixed `mcp-oauth/v1/`):
//   index/["<user>","<resource>"]            → the issuer whose entry holds the tokens
//   entry/["<user>","<resource>","<issuer>"] → the core's persisted entry (tokens, client
//                                              registration, discovery; core/src/codec/entry.rs,
//                                              the format the native stores write), no pending
//                                              flow; older values (a flow snapshot) still read
//   pending/["<user>","<resource>"]          → {"state","entry"}: the authorization waiting
//                                              for its callback as an entry (no tokens), so a
//                                              page load (redirect mode) can finish it; deleted
//                                              once used, abandoned, or at logout().

// The WebAssembly module's bindings (wasm-bindgen output): pkg/build.sh puts them next to the
// minified copy of this file in each build (dist/, dist/node/). The Node entry instantiates the
// module as it loads (synchronously); the browser entries hand `setWasmLoader` a loader that
// fetches it on first need (`ready()`: `McpOAuth.create` or an explicit `McpOAuth.ready()`), so
// that importing the package costs an app no network request and no top-level await.
import { Flow } from './mcp_oauth_wasm.js';
import {
  McpOAuthError, makeError, nowSeconds, randomBytes, isBrowser, defaultFetch, makeStorage,
  storageGet, storageSet, storageDelete, openPopup, navigatePopup, closePopup, waitForPopup,
  completePopup, navigate, follow, callListener, requestUrl, prepareRequest, drain,
} from './io.js';
// DPoP keys (RFC 9449): pkg/src/dpop.js in the Node build, pkg/src/dpop-browser.js in the
// browser DPoP build (`mcp-oauth/dpop`), a stand-in without DPoP in the default browser build
// (pkg/src/dpop-none.js).
import * as dpopKeys from './dpop.js';

export { McpOAuthError };

/** Instantiates the WebAssembly module: `(wasmUrl?) => Promise`, from the entry. */
let wasmLoader = null;
/** The load in progress or done; null before the first and after a failed one. */
let wasmLoading = null;

/** The entry's loader (browser entries); the Node entry instantiates before exporting. */
export function setWasmLoader(loader) {
  wasmLoader = loader;
}

/**
 * Loads the WebAssembly module once (concurrent callers share the load). A failed load is an
 * McpOAuthError `wasm_load_failed` naming the URL, and the next call tries again.
 */
export function ready(options = {}) {
  if (options === null || typeof options !== 'object') {
    return Promise.reject(makeError('invalid_argument', 'McpOAuth.ready(options): options must be an object'));
  }
  const { wasmUrl } = options;
  if (wasmUrl != null && typeof wasmUrl !== 'string' && !(wasmUrl instanceof URL)) {
    return Promise.reject(bad('wasmUrl', 'expected a string or a URL'));
  }
  if (!wasmLoader) return Promise.resolve();
  wasmLoading ??= Promise.resolve()
    .then(() => wasmLoader(wasmUrl))
    .catch((e) => {
      wasmLoading = null;
      const url = e?.wasmUrl ?? String(wasmUrl ?? '(the package\'s mcp_oauth_wasm_bg.wasm)');
      throw makeError('wasm_load_failed', `the WebAssembly module of mcp-oauth did not load from ${url}: ${e?.message ?? e}. Serve the package's dist/mcp_oauth_wasm_bg.wasm there, or name its URL with McpOAuth.ready({ wasmUrl }); Vite 6's dev server needs optimizeDeps.exclude: ['mcp-oauth'] (README: bundlers)`, { url, cause: e });
    });
  return wasmLoading;
}

const KNOWN = ['serverUrl', 'redirectUri', 'clientName', 'clientId', 'clientSecret', 'clientMetadataUrl', 'scopes',
  'dpop', 'storage', 'fetch', 'onAuthorizationRequired', 'userId', 'timeoutMs'];

const bad = (option, problem) => makeError('invalid_option', `options.${option}: ${problem}`, { option });

/**
 * Checks the options: the core's by making the core's flow (returned), this host's here; every
 * error names the option.
 */
function checkOptions(options) {
  if (!options || typeof options !== 'object') {
    throw bad('(all)', 'McpOAuth.create needs an options object with at least serverUrl and redirectUri');
  }
  for (const k of Object.keys(options)) {
    if (!KNOWN.includes(k)) throw bad(k, `unknown option (known: ${KNOWN.join(', ')})`);
  }
  const flow = newFlow(options);
  const { fetch: f, onAuthorizationRequired: how, timeoutMs: t, userId: u } = options;
  if (f != null && typeof f !== 'function') throw bad('fetch', `expected a function, got ${typeof f}`);
  if (f == null && typeof globalThis.fetch !== 'function') throw bad('fetch', 'no global fetch here: pass options.fetch');
  if (how != null && typeof how !== 'function' && how !== 'follow') {
    throw bad('onAuthorizationRequired', `expected a function or "follow", got ${typeof how}`);
  }
  if (t != null && !(typeof t === 'number' && t > 0 && Number.isFinite(t))) {
    throw bad('timeoutMs', 'expected a positive number of milliseconds');
  }
  if (u != null && typeof u !== 'string') throw bad('userId', `expected a string, got ${typeof u}`);
  if (u === '') throw bad('userId', 'must not be empty');
  if (options.dpop === 'always' && !dpopKeys.available) {
    throw bad('dpop', '"always": this browser build has no DPoP; import the DPoP build, mcp-oauth/dpop (README)');
  }
  return flow;
}

/** The core's flow over the core's part of the options, with a stored `entry` of `user` loaded
 * when given. */
function newFlow(options, entry, user) {
  // The host's options stay here; the rest is the core's (Flow refuses anything else).
  const { storage, fetch, onAuthorizationRequired, userId, timeoutMs, ...core } = options;
  const flow = new Flow(core);
  // RFC 9449: this host signs proofs (WebCrypto, asynchronously) when DPoP is not refused.
  if (dpopKeys.available && options.dpop !== 'never') flow.useHostDpopSigning();
  if (entry !== undefined) flow.loadEntry(entry, user);
  return flow;
}

const PREFIX = 'mcp-oauth/v1/';
const key = (kind, parts) => `${PREFIX}${kind}/${JSON.stringify(parts)}`;

function callbackStateOf(url) {
  try {
    return new URL(url).searchParams.get('state');
  } catch {
    return null;
  }
}

/** A FIFO async lock: refreshes and authorizations run one at a time (single-flight). */
class Lock {
  #tail = Promise.resolve();
  async acquire() {
    let release;
    const mine = new Promise((r) => { release = r; });
    const previous = this.#tail;
    this.#tail = previous.then(() => mine);
    await previous;
    return release;
  }
}

export class McpOAuth {
  #flow;
  #options;
  #user;
  #storage;
  #fetch;
  #timeoutMs;
  #onAuthorizationRequired;
  #lock = new Lock();
  #listeners = new Set();
  #lastStatus = '';
  #boundFetch = null;
  /** The DPoP key (RFC 9449) of the flow; null without DPoP (the default browser build). */
  #dpop = dpopKeys.available ? new dpopKeys.DpopKeys(() => this.#flow, () => this.#storage) : null;

  /** Use `await McpOAuth.create(options)`. */
  constructor(secret, options, flow, storage) {
    if (secret !== CONSTRUCT) {
      throw makeError('invalid_argument', 'use `await McpOAuth.create(options)` to make an McpOAuth');
    }
    this.#options = options;
    this.#flow = flow;
    this.#storage = storage;
    this.#user = options.userId ?? 'default';
    this.#fetch = options.fetch ?? defaultFetch();
    this.#timeoutMs = options.timeoutMs ?? 300000;
    this.#onAuthorizationRequired = options.onAuthorizationRequired ?? null;
  }

  /**
   * Checks the options, loads this user's stored state for the server.
   * Options: serverUrl, redirectUri (required); clientName, clientId, clientSecret,
   * clientMetadataUrl, scopes, storage, fetch, onAuthorizationRequired, userId, timeoutMs.
   */
  static async create(options) {
    await ready();
    const flow = checkOptions(options);
    const storage = makeStorage(options.storage);
    const client = new McpOAuth(CONSTRUCT, options, flow, storage);
    await client.#load();
    client.#lastStatus = JSON.stringify(client.status());
    return client;
  }

  /**
   * Loads the WebAssembly module now (create() does it too, on first use): `wasmUrl` where the
   * bundle serves `mcp_oauth_wasm_bg.wasm`, when the bundler does not emit it by itself.
   */
  static ready(options) {
    return ready(options);
  }

  /** On the popup's callback page: hands the callback URL to the opener and closes the popup. */
  static completePopup() {
    completePopup();
  }

  get #resource() {
    return this.#flow.serverUrl;
  }

  get #pendingKey() {
    return key('pending', [this.#user, this.#resource]);
  }

  /** This client's pending record, or null. */
  async #pendingRecord() {
    const text = await storageGet(this.#storage, this.#pendingKey);
    try { return text === null ? null : JSON.parse(text); } catch { return null; }
  }

  /** Deletes the pending record of `state` (not a newer one another tab wrote since). */
  async #dropPending(state) {
    if (state && (await this.#pendingRecord())?.state === state) {
      await storageDelete(this.#storage, this.#pendingKey);
    }
  }

  #emit(type, fields = {}) {
    const event = { type, ...fields };
    for (const l of [...this.#listeners]) {
      if (l.type === type || l.type === '*') callListener(l.fn, event);
    }
  }

  #emitStatusIfChanged() {
    const status = this.status();
    const text = JSON.stringify(status);
    if (text !== this.#lastStatus) {
      this.#lastStatus = text;
      this.#emit('status', { status });
    }
  }

  async #load() {
    const index = key('index', [this.#user, this.#resource]);
    const issuer = await storageGet(this.#storage, index);
    if (issuer === null) return;
    const entry = key('entry', [this.#user, this.#resource, issuer]);
    const text = await storageGet(this.#storage, entry);
    if (text === null) return;
    try {
      this.#flow = newFlow(this.#options, text, this.#user);
      if (this.#dpop) await this.#dpop.adopt();
      // Left as is, never rewritten without its key (this build reads no `dpop_key`).
      else if (this.#flow.status(nowSeconds()).dpop) throw new Error('its tokens are DPoP-bound, and this build has no DPoP');
    } catch (e) {
      throw makeError('stored_state_invalid', `the stored state under ${entry} cannot be read (${e.message}); it was left as is`, { key: entry, cause: e });
    }
  }

  /** Writes what the flow holds, and the pending authorization if any. */
  async #persist() {
    const state = this.#flow.entry(this.#user);
    if (state) {
      await storageSet(this.#storage, key('entry', [this.#user, this.#resource, state.issuer]), state.entry);
      await storageSet(this.#storage, key('index', [this.#user, this.#resource]), state.issuer);
    }
    const pending = this.#flow.pendingState();
    if (pending) {
      const record = { state: pending, entry: this.#flow.pendingEntry(this.#user) };
      await storageSet(this.#storage, this.#pendingKey, JSON.stringify(record));
    }
  }

  /** The drain contract: requests, then events. Returns the authorization URL when the flow wants the browser. */
  async #drive() {
    const { events, error } = await drain(this.#flow, this.#fetch, undefined, this.#dpop);
    let browser = null;
    for (const ev of events) {
      switch (ev.type) {
        case 'client_registered':
          await this.#persist();
          this.#emit('registered', { clientId: ev.clientId });
          break;
        case 'authorization_pending':
          await this.#persist();
          break;
        case 'tokens_updated':
          await this.#persist();
          this.#emit('tokens', { issuer: ev.issuer });
          break;
        case 'authorization_server_changed':
          // MCP SEP-2352: the old issuer's tokens are dropped; its entry goes with them (the
          // index follows the new issuer on the next persist).
          await storageDelete(this.#storage, key('entry', [this.#user, this.#resource, ev.from]));
          this.#emit('authorization_server_changed', { from: ev.from, to: ev.to });
          break;
        case 'tokens_cleared':
          await this.#persist();
          this.#emit('tokens_cleared');
          break;
        case 'open_browser':
          browser = ev.url;
          this.#emit('authorization_required', { url: ev.url });
          break;
        case 'authorized':
          this.#emit('authorized');
          break;
        case 'failed':
          this.#emit('error', { error: ev.error });
          break;
        default:
      }
    }
    this.#emitStatusIfChanged();
    if (error) throw error;
    return browser;
  }

  /** Finishes an authorization with the URL the browser came back to. */
  async #complete(callbackUrl) {
    const pending = this.#flow.pendingState();
    let failure = null;
    try {
      this.#flow.handleCallback(nowSeconds(), callbackUrl);
    } catch (e) {
      failure = e;
    }
    try {
      await this.#drive();
    } catch (e) {
      failure ??= e;
    }
    await this.#dropPending(pending);
    if (failure) throw failure;
  }

  /** Drops a started authorization (popup closed, timeout); nothing pending stays behind. */
  async #abandon() {
    const state = this.#flow.pendingState();
    this.#flow.cancel();
    await this.#dropPending(state);
    this.#emitStatusIfChanged();
  }

  /**
   * Runs an authorization. `{ mode }`: 'popup' (browsers' default; call authorize()
   * synchronously in the click handler: the popup opens before the first await), 'redirect'
   * (the page navigates away; call handleRedirect() on return), 'follow' (Node; servers that
   * approve without a user), 'manual' (Node's default: resolves with `url` to open; pass the
   * callback URL to handleRedirect()). Resolves to the status.
   */
  authorize({ mode } = {}) {
    mode ??= isBrowser() ? 'popup' : 'manual';
    if (!['popup', 'redirect', 'follow', 'manual'].includes(mode)) {
      return Promise.reject(makeError('invalid_argument', `authorize: mode must be "popup", "redirect", "follow" or "manual", got ${JSON.stringify(mode)}`));
    }
    let popup = null;
    if (mode === 'popup') {
      try {
        popup = openPopup();
      } catch (e) {
        return Promise.reject(e);
      }
      if (!popup) {
        return Promise.reject(makeError('popup_blocked', "the browser blocked the authorization popup: call authorize() directly in a click handler, or use { mode: 'redirect' }"));
      }
    }
    return this.#authorize(mode, popup);
  }

  async #authorize(mode, popup) {
    const release = await this.#lock.acquire();
    try {
      let url;
      try {
        this.#flow.beginAuthorization(nowSeconds(), randomBytes(64));
        url = await this.#drive();
      } catch (e) {
        if (popup) closePopup(popup);
        throw e;
      }
      if (!url) {
        if (popup) closePopup(popup);
        return this.status();
      }
      let callback;
      try {
        if (mode === 'popup') {
          navigatePopup(popup, url);
          callback = await waitForPopup(popup, this.#flow.redirectUri, this.#flow.pendingState(), this.#timeoutMs);
        } else if (mode === 'follow') {
          callback = await follow(this.#fetch, url, this.#flow.redirectUri, this.#timeoutMs);
        } else {
          if (mode === 'redirect') navigate(url);
          return this.status();
        }
      } catch (e) {
        await this.#abandon();
        throw e;
      }
      await this.#complete(callback);
      return this.status();
    } finally {
      release();
    }
  }

  /**
   * On the page the authorization server redirected to (redirect mode), or with a pasted
   * callback URL (Node): finishes the pending authorization. Resolves to false when `url`
   * (default: the page's location) is not a callback.
   */
  async handleRedirect(url) {
    url ??= isBrowser() ? window.location.href : undefined;
    if (typeof url !== 'string') {
      throw makeError('invalid_argument', 'handleRedirect: pass the callback URL');
    }
    const state = callbackStateOf(url);
    if (!state) {
      let params;
      try { params = new URL(url).searchParams; } catch { params = new URLSearchParams(); }
      if (params.has('code') || params.has('error')) {
        throw makeError('unknown_state', 'handleRedirect: the callback URL has no state parameter; nothing was changed');
      }
      return false;
    }
    const unknown = () => makeError('unknown_state', 'handleRedirect: no pending authorization matches this callback\'s state (expired, already used, or started for another user or server); nothing was changed');
    const release = await this.#lock.acquire();
    try {
      if (this.#flow.pendingState() === state) {
        await this.#complete(url);
        return true;
      }
      const record = await this.#pendingRecord();
      // RFC 6749 §10.12: the callback must carry the state of the authorization we started.
      if (!record || record.state !== state) throw unknown();
      // The pending record has no tokens: on failure, the stored ones are loaded back.
      // (`snapshot`: a record written before the entry format; loadEntry migrates it.)
      this.#flow = newFlow(this.#options, record.entry ?? record.snapshot, this.#user);
      try {
        await this.#dpop?.adopt();
        await this.#complete(url);
      } catch (e) {
        this.#flow = newFlow(this.#options);
        await this.#load();
        throw e;
      }
      return true;
    } finally {
      release();
    }
  }

  /** A fresh access token (refreshed first when due), or null when none is held. */
  async accessToken() {
    const release = await this.#lock.acquire();
    try {
      return await this.#tokenLocked();
    } finally {
      release();
    }
  }

  async #tokenLocked() {
    const now = nowSeconds();
    let refreshError = null;
    const due = this.#flow.pollTimeout();
    if (due !== undefined && due <= now) {
      try {
        this.#flow.handleTimeout(now);
        await this.#drive();
      } catch (e) {
        refreshError = e;
      }
    }
    const token = this.#flow.accessToken(nowSeconds());
    if (token) return token;
    if (refreshError && this.#flow.hasTokens()) throw refreshError;
    return null;
  }

  /** The browser step for a request that needs the user (the fetch path). */
  async #interact(url) {
    const how = this.#onAuthorizationRequired;
    let callback = null;
    try {
      if (how === 'follow') callback = await follow(this.#fetch, url, this.#flow.redirectUri, this.#timeoutMs);
      else if (typeof how === 'function') callback = (await how(url)) ?? null;
    } catch (e) {
      await this.#abandon();
      throw e;
    }
    if (typeof callback === 'string') return this.#complete(callback);
    throw makeError('authorization_required', `${this.#resource} needs the user's authorization: call authorize() from a user gesture (or open ${url})`, { url, serverUrl: this.#resource });
  }

  /**
   * A `fetch` that adds the token and hands every answer to the core's decision: pass it
   * through, or send again after what the core ran (a refresh, an authorization, a step-up on
   * 403 `insufficient_scope`). A plain function: `{ fetch: auth.fetch }`.
   */
  get fetch() {
    this.#boundFetch ??= (input, init) => this.#fetchImpl(input, init);
    return this.#boundFetch;
  }

  async #fetchImpl(input, init) {
    const url = requestUrl(input);
    try {
      this.#flow.authorizationHeader(nowSeconds(), url);
    } catch (e) {
      // No token for another resource (MCP 2026-07-28 authorization): such requests pass through untouched.
      if (e && e.code === 'token_for_other_resource') return this.#fetch(input, init);
      throw e;
    }
    const method = init?.method ?? input?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? init.body : undefined;
    let token = await this.accessToken();
    for (;;) {
      // The core's scheme: RFC 9449 §7.1, a DPoP-bound token is `DPoP <token>` with a fresh
      // proof, never Bearer (no header once the token expired: the 401 goes to the core).
      const authorization = token && this.#flow.authorizationHeader(nowSeconds(), url);
      const proof = token && (await this.#dpop?.proof(method, url));
      const response = await this.#fetch(...prepareRequest(input, init, authorization, proof));
      const release = await this.#lock.acquire();
      try {
        if (!(await this.#decide(response, token, method, body))) return response;
        token = await this.#tokenLocked();
      } finally {
        release();
      }
    }
  }

  /** The core's decision on the server's answer (core/src/flow/resource.rs), and what it asks for. True: send again. */
  async #decide(response, token, method, body) {
    let retry;
    try {
      retry = this.#flow.handleResourceResponse(nowSeconds(), response.status, response.headers.get('www-authenticate') ?? undefined, token ?? undefined, method, body, randomBytes(64), response.headers.get('dpop-nonce') ?? undefined);
    } catch (e) {
      await this.#drive().catch(() => {});
      throw e;
    }
    await this.#drive();
    const status = this.#flow.status(nowSeconds());
    if (retry && status.state === 'awaiting_user') await this.#interact(status.url);
    return retry;
  }

  /** `{ state, authorized, serverUrl, userId, issuer, expiresAt, refreshable, scope, url, dpop }` (`dpop`: the tokens are DPoP-bound). */
  status() {
    return { ...this.#flow.status(nowSeconds()), userId: this.#user };
  }

  /**
   * Revokes the tokens when the server supports it (RFC 7009) and deletes the stored state.
   * Resolves to `{ hadTokens, revoked, revocationError }`.
   */
  async logout() {
    const release = await this.#lock.acquire();
    try {
      const hadTokens = this.#flow.hasTokens();
      const canRevoke = this.#flow.canRevoke();
      let revocationError = null;
      try {
        this.#flow.logout(nowSeconds());
        await this.#drive();
      } catch (e) {
        revocationError = e.message ?? String(e);
      }
      // The DPoP key goes with the tokens bound to it.
      await this.#dpop?.discard();
      const index = key('index', [this.#user, this.#resource]);
      const issuer = await storageGet(this.#storage, index);
      if (issuer !== null) await storageDelete(this.#storage, key('entry', [this.#user, this.#resource, issuer]));
      await storageDelete(this.#storage, index);
      await storageDelete(this.#storage, this.#pendingKey);
      this.#flow = newFlow(this.#options);
      this.#emit('logged_out');
      this.#emitStatusIfChanged();
      return { hadTokens, revoked: hadTokens && canRevoke && revocationError === null, revocationError };
    } finally {
      release();
    }
  }

  /**
   * Listens to `status`, `authorization_required`, `registered`, `tokens`, `tokens_cleared`,
   * `authorization_server_changed`, `authorized`, `logged_out`, `error`, or `*` (all). Returns a function that removes it.
   */
  on(type, listener) {
    if (typeof listener !== 'function') {
      throw makeError('invalid_argument', 'on(type, listener): listener must be a function');
    }
    const entry = { type, fn: listener };
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }
}

const CONSTRUCT = Symbol('McpOAuth.create');
