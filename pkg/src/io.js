// IO primitives of the JS host (browsers and Node): fetch, storage, windows, messages, clock,
// entropy. Imports nothing; no protocol decision is made here, the Rust core makes them all.

/**
 * The one error class of the package; `code` is the stable code shared with Rust. The
 * WebAssembly module throws `Error`s named `McpOAuthError` with a `code` (wasm/src/error.rs):
 * they are instances too.
 */
export class McpOAuthError extends Error {
  constructor(code, message, fields) {
    super(message);
    this.name = 'McpOAuthError';
    this.code = code;
    if (fields) Object.assign(this, fields);
  }

  static [Symbol.hasInstance](e) {
    return e instanceof Error && e.name === 'McpOAuthError' && typeof e.code === 'string';
  }
}

export function makeError(code, message, fields) {
  return new McpOAuthError(code, message, fields || undefined);
}

export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/** `n` bytes from the platform CSPRNG (`crypto.getRandomValues`, browsers and Node >= 19). */
export function randomBytes(n) {
  const c = globalThis.crypto;
  if (!c || typeof c.getRandomValues !== 'function') {
    throw makeError('entropy_unavailable', 'crypto.getRandomValues is not available in this environment (need a browser or Node >= 19)');
  }
  const out = new Uint8Array(n);
  c.getRandomValues(out);
  return out;
}

export function isBrowser() {
  return typeof window !== 'undefined' && typeof document !== 'undefined';
}

export function defaultFetch() {
  if (typeof globalThis.fetch !== 'function') return null;
  return (input, init) => globalThis.fetch(input, init);
}

const MAX_BODY = 1 << 20;

/**
 * Sends one request the core asked for; never follows redirects. Resolves to
 * `{ status, headers: [[name, value]...], body: Uint8Array }`, or `{ error: message }` when no
 * HTTP response arrived (network failure, CORS refusal, bad URL).
 */
export async function send(fetchFn, method, url, headers, body) {
  const init = { method, headers: Object.fromEntries(headers), redirect: 'manual' };
  if (body && body.length) init.body = body;
  let res;
  try {
    res = await fetchFn(url, init);
  } catch (e) {
    const why = (e && e.message) || String(e);
    const cors = isBrowser()
      ? `; if the server is up, it probably does not allow cross-origin requests: it must answer CORS (Access-Control-Allow-Origin) on its discovery, registration and token endpoints`
      : '';
    return { error: `no response from ${url} (${why})${cors}` };
  }
  if (res.type === 'opaqueredirect') {
    // Browsers hide manual redirects; report one so the core refuses it by status.
    return { status: 302, headers: [], body: new Uint8Array(0) };
  }
  let bytes;
  try {
    bytes = await readCapped(res);
  } catch (e) {
    return { error: `the response body from ${url} could not be read (${(e && e.message) || e})` };
  }
  if (!bytes) {
    return { error: `the response from ${url} is larger than the ${MAX_BODY}-byte cap; it was not read further` };
  }
  return { status: res.status, headers: [...res.headers], body: bytes };
}

/** The body, read with a running count: `null` (and the body cancelled) past `MAX_BODY`. */
async function readCapped(res) {
  const stop = () => { res.body?.cancel().catch(() => {}); return null; };
  if (Number(res.headers.get('content-length')) > MAX_BODY) return stop();
  const reader = res.body?.getReader?.();
  if (!reader) {
    const all = new Uint8Array(await res.arrayBuffer());
    return all.length > MAX_BODY ? null : all;
  }
  const chunks = [];
  let n = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    n += r.value.length;
    if (n > MAX_BODY) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(r.value);
  }
  const out = new Uint8Array(n);
  n = 0;
  for (const c of chunks) { out.set(c, n); n += c.length; }
  return out;
}

// ------------------------------------------------------------------------------------ storage

function memoryStorage() {
  const map = new Map();
  return {
    kind: 'memory',
    get: async (k) => (map.has(k) ? map.get(k) : null),
    set: async (k, v) => { map.set(k, v); },
    delete: async (k) => { map.delete(k); },
  };
}

function webStorage(kind) {
  let s;
  try {
    s = globalThis[kind];
  } catch (e) {
    throw makeError('storage_unavailable', `${kind} is not accessible here (${(e && e.message) || e})`, { storage: kind });
  }
  if (!s || typeof s.getItem !== 'function') {
    throw makeError('storage_unavailable', `${kind} is not available in this environment (use "memory", "indexedDB" or a custom { get, set, delete } object)`, { storage: kind });
  }
  return {
    kind,
    get: async (k) => s.getItem(k),
    set: async (k, v) => { s.setItem(k, v); },
    delete: async (k) => { s.removeItem(k); },
  };
}

function indexedDbStorage(dbName = 'mcp-oauth', storeName = 'kv') {
  const idb = globalThis.indexedDB;
  if (!idb) {
    throw makeError('storage_unavailable', 'indexedDB is not available in this environment', { storage: 'indexedDB' });
  }
  let opened;
  const db = () => (opened ||= new Promise((resolve, reject) => {
    const req = idb.open(dbName, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(storeName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`the IndexedDB database ${dbName} is blocked by another tab`));
  }));
  const run = async (mode, op) => {
    const d = await db();
    return new Promise((resolve, reject) => {
      const tx = d.transaction(storeName, mode);
      const req = op(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
    });
  };
  return {
    kind: 'indexedDB',
    get: async (k) => (await run('readonly', (s) => s.get(k))) ?? null,
    set: async (k, v) => { await run('readwrite', (s) => s.put(v, k)); },
    delete: async (k) => { await run('readwrite', (s) => s.delete(k)); },
  };
}

/**
 * Turns the `storage` option into `{ kind, get, set, delete }` with async methods:
 * "memory" (default), "sessionStorage", "localStorage", "indexedDB", or a custom object with
 * (possibly async) get/set/delete of string values.
 */
export function makeStorage(spec) {
  if (spec === undefined || spec === null || spec === 'memory') return memoryStorage();
  if (spec === 'sessionStorage' || spec === 'localStorage') return webStorage(spec);
  if (spec === 'indexedDB') return indexedDbStorage();
  if (typeof spec === 'object') {
    const missing = ['get', 'set', 'delete'].filter((m) => typeof spec[m] !== 'function');
    if (missing.length) {
      throw makeError('invalid_option', `options.storage: a custom storage needs methods get, set and delete; missing: ${missing.join(', ')}`, { option: 'storage' });
    }
    return {
      kind: 'custom',
      get: async (k) => (await spec.get(k)) ?? null,
      set: async (k, v) => { await spec.set(k, v); },
      delete: async (k) => { await spec.delete(k); },
    };
  }
  throw makeError('invalid_option', `options.storage: expected "memory", "sessionStorage", "localStorage", "indexedDB" or an object with get/set/delete, got ${JSON.stringify(spec)}`, { option: 'storage' });
}

export async function storageGet(storage, key) {
  try {
    const v = await storage.get(key);
    if (v !== null && typeof v !== 'string') {
      throw new Error(`expected a string, got ${typeof v}`);
    }
    return v;
  } catch (e) {
    throw storageError('get', key, storage, e);
  }
}

export async function storageSet(storage, key, value) {
  try {
    await storage.set(key, value);
  } catch (e) {
    throw storageError('set', key, storage, e);
  }
}

export async function storageDelete(storage, key) {
  try {
    await storage.delete(key);
  } catch (e) {
    throw storageError('delete', key, storage, e);
  }
}

function storageError(op, key, storage, e) {
  if (e instanceof McpOAuthError) return e;
  return makeError('storage_failed', `storage ${op} of ${key} failed in ${storage.kind} storage: ${(e && e.message) || e}`, { operation: op, key });
}

// ----------------------------------------------------------------------- popup and redirect

const CHANNEL = 'mcp-oauth';
const MESSAGE = 'mcp-oauth:callback';

/** Opens the popup; call synchronously inside the user's gesture. `null` when blocked. */
export function openPopup() {
  if (!isBrowser()) {
    throw makeError('popup_unavailable', 'the popup mode needs a browser window; in Node use mode "follow" or "manual"');
  }
  const w = window.open('about:blank', 'mcp-oauth', 'popup,width=520,height=720');
  return w || null;
}

export function navigatePopup(popup, url) {
  popup.location.href = url;
}

export function closePopup(popup) {
  try { popup.close(); } catch { /* already gone */ }
}

/**
 * Waits for the popup's callback page to hand over its URL: a `postMessage` from the popup
 * whose origin is the redirect URI's origin, or a `BroadcastChannel` message (when the popup
 * lost its opener). Only a URL carrying `state`, the pending authorization's, is taken: any
 * other message (another tab's, a forged one) is ignored. Rejects when the popup is closed
 * first or after `timeoutMs`.
 */
export function waitForPopup(popup, redirectUri, state, timeoutMs) {
  const origin = new URL(redirectUri).origin;
  return new Promise((resolve, reject) => {
    let channel = null;
    let closedSince = 0;
    const done = (fn, v) => {
      window.removeEventListener('message', onMessage);
      if (channel) channel.close();
      clearInterval(poll);
      clearTimeout(timer);
      fn(v);
    };
    const accept = (data) => {
      let url;
      try { url = new URL(data?.type === MESSAGE && data.url); } catch { return; }
      // RFC 6749 §10.12: only the response to the request this tab made (its exact state).
      if (url.origin === origin && url.searchParams.get('state') === state) done(resolve, url.href);
    };
    const onMessage = (e) => {
      if (e.origin !== origin) return; // origin check: only our own callback page
      accept(e.data);
    };
    window.addEventListener('message', onMessage);
    if (typeof BroadcastChannel === 'function') {
      channel = new BroadcastChannel(CHANNEL);
      channel.onmessage = (e) => accept(e.data);
    }
    const poll = setInterval(() => {
      if (!popup.closed) return;
      // The callback page posts, then closes: give its message a moment to arrive.
      closedSince ||= Date.now();
      if (Date.now() - closedSince > 1000) {
        done(reject, makeError('popup_closed', 'the authorization popup was closed before the authorization finished'));
      }
    }, 250);
    const timer = setTimeout(() => {
      closePopup(popup);
      done(reject, makeError('authorization_timed_out', `no authorization callback within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
  });
}

/** On the popup's callback page: hands the URL to the opener and closes the popup. */
export function completePopup() {
  if (!isBrowser()) {
    throw makeError('popup_unavailable', 'completePopup() runs on the popup callback page in a browser');
  }
  const msg = { type: MESSAGE, url: window.location.href };
  let posted = false;
  try {
    // Only a window of the same origin receives it.
    window.opener.postMessage(msg, window.location.origin);
    posted = !window.opener.closed;
  } catch { /* no opener, or not ours: the broadcast below */ }
  if (!posted) {
    // The fallback only: every same-origin tab gets the URL (with the code).
    if (typeof BroadcastChannel !== 'function') {
      throw makeError('popup_unavailable', 'this page has no opener to hand the authorization callback to');
    }
    const ch = new BroadcastChannel(CHANNEL);
    ch.postMessage(msg);
    ch.close();
  }
  setTimeout(() => window.close(), 50);
}

export function navigate(url) {
  window.location.assign(url);
}

/** True for 127.0.0.0/8, ::1 and localhost (WHATWG-parsed hostnames). */
const isLoopback = (host) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Follow mode (Node, servers that approve without a user): fetches the authorization URL like a
 * browser with a cookie jar, following redirects until one points at the redirect URI; returns
 * that URL. Never sends anything to the redirect URI itself. Cookies go back only to the origin
 * that set them; plain http only to loopback.
 */
export async function follow(fetchFn, url, redirectUri, timeoutMs) {
  const target = new URL(redirectUri);
  // origin → (cookie name → value): host-only (RFC 6265 §5.3 step 6; Domain is ignored), and
  // per scheme and port too.
  const jars = new Map();
  const deadline = Date.now() + timeoutMs;
  let current = new URL(url);
  const timedOut = () => makeError('authorization_timed_out', `follow mode: the redirect URI was not reached within ${Math.round(timeoutMs / 1000)} s (waiting for ${current.href})`, { url: current.href });
  for (let hop = 0; hop < 20; hop++) {
    if (Date.now() >= deadline) throw timedOut();
    // RFC 6749 §3.1: TLS to the authorization endpoint; loopback exempt as in RFC 8252 §8.3.
    if (current.protocol !== 'https:' && !(current.protocol === 'http:' && isLoopback(current.hostname))) {
      throw makeError('follow_failed', `follow mode: refused ${current.href}: only https, or http to a loopback host (127.0.0.0/8, ::1, localhost)`, { url: current.href });
    }
    const jar = jars.get(current.origin) ?? new Map();
    jars.set(current.origin, jar);
    const headers = { accept: 'text/html,*/*;q=0.8' };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let res;
    // The whole walk has one deadline: a slow answer is abandoned when it passes.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, deadline - Date.now()));
    try {
      res = await fetchFn(current.href, { redirect: 'manual', headers, signal: abort.signal });
    } catch (e) {
      if (abort.signal.aborted) throw timedOut();
      throw makeError('follow_failed', `follow mode: no response from ${current.href} (${(e && e.message) || e})`, { url: current.href });
    } finally {
      clearTimeout(timer);
    }
    const cookies = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    for (const c of cookies) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a) || /^\s*expires\s*=\s*Thu, 01 Jan 1970/i.test(a));
      if (expired) jar.delete(name); else jar.set(name, pair.slice(eq + 1).trim());
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status > 399 || !location) {
      throw makeError('follow_failed', `follow mode: ${current.href} answered ${res.status} instead of a redirect (follow mode needs a server that approves without a user)`, { url: current.href, status: res.status });
    }
    const next = new URL(location, current);
    if (next.origin === target.origin && next.pathname === target.pathname) return next.href;
    current = next;
  }
  throw makeError('follow_failed', `follow mode: the redirect URI was not reached within 20 redirects`, { url: current.href });
}

// ------------------------------------------------------------------------------- drain loop

/**
 * The one drain loop of the JS host (the core's drain contract, core/src/machine.rs): sends
 * each request the flow asks for (never following redirects) and answers it, signs each JWT it
 * asks for with `sign(signatureRequest)` (HeadlessFlow only; `sign` absent for Flow), and each
 * DPoP proof it asks for with `dpop.step` (Flow with DPoP keys only: pkg/src/dpop.js), until all
 * are empty; then returns its events. The first failure is returned as `error` (the caller
 * throws it after acting on the events).
 */
export async function drain(flow, fetchFn, sign, dpop) {
  let error = null;
  const step = (fn) => { try { fn(); } catch (e) { error ??= e; } };
  for (;;) {
    const req = flow.pollRequest();
    if (req) {
      const out = await send(fetchFn, req.method, req.url, req.headers, req.body);
      step(() => (out.error !== undefined ? flow.handleTransportError(nowSeconds(), req.id, out.error) : flow.handleResponse(nowSeconds(), req.id, out)));
      continue;
    }
    try {
      if (await dpop?.step(flow, step)) continue;
    } catch (e) {
      error ??= e;
      break;
    }
    const sig = sign ? flow.pollSignature(randomBytes(16)) : undefined;
    if (!sig) break;
    let jwt = null;
    let why = null;
    try { jwt = await sign(sig); } catch (e) { why = (e && e.message) || String(e); }
    step(() => (jwt !== null ? flow.provideAssertion(nowSeconds(), sig.id, jwt) : flow.handleSigningError(sig.id, why)));
  }
  const events = [];
  for (let ev = flow.pollEvent(); ev; ev = flow.pollEvent()) events.push(ev);
  return { events, error };
}

// ------------------------------------------------------------------------------- misc helpers

export function callListener(listener, event) {
  try {
    listener(event);
  } catch (e) {
    // A listener's bug must not break the flow; report it where developers look.
    console.error('mcp-oauth: an event listener threw', e);
  }
}

// ------------------------------------------------------------------- the drop-in fetch's parts

/**
 * The URL a `fetch` input names (a string, a URL, or a Request), as `fetch` will send it: parsed
 * by the platform's URL parser, which removes dot segments (`/mcp/../admin`, `/mcp/%2e%2e/admin`
 * become `/admin`; RFC 3986 §5.2.4). Unparseable strings are returned as given (the core
 * refuses them).
 */
export function requestUrl(input) {
  let url = typeof input === 'string' ? input : input?.href ?? input?.url;
  if (typeof url !== 'string') {
    throw makeError('invalid_argument', `fetch: the first argument must be a URL string, a URL or a Request, got ${typeof input}`);
  }
  try { url = new URL(url, isBrowser() ? document.baseURI : undefined).href; } catch { /* as given */ }
  return url;
}

/**
 * Copies `input`/`init` with `Authorization` set (or removed when `authorization` is null) and
 * the `DPoP` proof (RFC 9449) when given, so the request can be sent twice (the retry after a
 * 401/403). A Request is cloned; a streamed body cannot be replayed and is refused with a clear
 * error.
 */
export function prepareRequest(input, init, authorization, proof) {
  const isRequest = typeof Request === 'function' && input instanceof Request;
  const headers = new Headers(isRequest ? input.headers : undefined);
  if (init && init.headers) new Headers(init.headers).forEach((v, k) => headers.set(k, v));
  if (authorization) headers.set('authorization', authorization);
  else headers.delete('authorization');
  // RFC 9449 §7.1: a fresh proof per request, the caller's never reused.
  if (proof) headers.set('dpop', proof);
  else headers.delete('dpop');
  if (init && init.body && typeof init.body.getReader === 'function') {
    throw makeError('invalid_argument', 'fetch: a ReadableStream body cannot be retried after authorization; pass a string, Blob, ArrayBuffer, FormData or URLSearchParams');
  }
  return [isRequest ? input.clone() : input, { ...(init || {}), headers }];
}

export function callFetch(fetchFn, pair) {
  return fetchFn(pair[0], pair[1]);
}

export function responseStatus(res) {
  return res.status;
}

export function responseHeader(res, name) {
  return res.headers.get(name);
}

/** `(input, init) => impl(input, init)`: a plain function, so `{ fetch: auth.fetch }` works. */
export function bindFetch(impl) {
  return (input, init) => impl(input, init);
}
