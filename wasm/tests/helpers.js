// Test helpers for the wasm-bindgen tests (Node and Chromium).

/** A custom storage with async methods, recording calls. */
export function asyncStorage() {
  const map = new Map();
  const calls = [];
  return {
    calls,
    map,
    get: async (k) => { calls.push(`get ${k}`); return map.get(k) ?? null; },
    set: async (k, v) => { calls.push(`set ${k}`); map.set(k, v); },
    delete: async (k) => { calls.push(`delete ${k}`); map.delete(k); },
  };
}

/** A storage whose every call fails. */
export function brokenStorage() {
  return {
    get: async () => { throw new Error('disk on fire'); },
    set: async () => { throw new Error('disk on fire'); },
    delete: async () => { throw new Error('disk on fire'); },
  };
}

/**
 * A `fetch` served by `handler(method, url, headers, bodyText) -> [status, headersObject, bodyText]`
 * (the in-page fake server), returning real `Response` objects.
 */
export function fakeFetch(handler) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.href ?? input.url;
    const headers = new Headers(init.headers);
    let body = '';
    if (init.body instanceof Uint8Array) body = new TextDecoder().decode(init.body);
    else if (typeof init.body === 'string') body = init.body;
    const pairs = [];
    headers.forEach((v, k) => pairs.push([k, v]));
    const [status, outHeaders, outBody] = handler(init.method ?? 'GET', url, pairs, body);
    return new Response(status === 204 ? null : outBody, { status, headers: outHeaders });
  };
}

export function objectWith(entries) {
  return Object.fromEntries(entries);
}

export async function rejectionOf(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

export function errorInfo(e) {
  return { isMcpOAuthError: e?.name === 'McpOAuthError', code: e?.code, message: e?.message };
}
