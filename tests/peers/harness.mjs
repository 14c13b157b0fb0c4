// Helpers to start the peers as child processes and to act as a client against them: a cookie jar
// "browser" that follows redirects, PKCE, form posts and a small streamable-HTTP MCP client.
// Used by smoke.test.mjs and start.mjs; other Node tests may import it too.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Child processes

/**
 * Starts `node <script>` with extra env vars, waits for its one JSON line on stdout and returns
 * { info, child, stderr(), stop() }. Rejects when the process exits or prints nothing in time.
 */
const running = new Set();
// Never leave a peer behind when this process ends (normally or through an exception).
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startPeer(script, env = {}, { timeoutMs = 60000, forwardStderr = !!process.env.PEERS_VERBOSE } = {}) {
  const child = spawn(process.execPath, [join(here, script)], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; if (forwardStderr) process.stderr.write(d); });
  child.stdout.setEncoding('utf8');
  let out = '';
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} printed no start line within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before its start line; stderr:\n${stderr}`));
    };
    child.once('exit', onExit);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) {
        clearTimeout(timer);
        child.off('exit', onExit);
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (err) {
          reject(new Error(`${script} start line is not JSON: ${out.slice(0, nl)}`, { cause: err }));
        }
      }
    });
  });
  return {
    info,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export const startAs = (env, opts) => startPeer('as.mjs', env, opts);
export const startMcp = (asIssuer, env, opts) => startPeer('mcp.mjs', { AS_ISSUER: asIssuer ?? '', ...env }, opts);

// ---------------------------------------------------------------------------------------------
// A minimal RFC 6265 cookie jar (host-only cookies, Path matching, Max-Age/Expires deletion).

export class CookieJar {
  constructor() {
    this.cookies = new Map(); // `${host} ${path} ${name}` -> { host, name, value, path, expires }
  }

  store(url, setCookieHeaders) {
    const u = new URL(url);
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = u.pathname.lastIndexOf('/') > 0 ? u.pathname.slice(0, u.pathname.lastIndexOf('/')) : '/';
      let expires = Infinity;
      for (const attr of attrs) {
        const [k, ...rest] = attr.split('=');
        const v = rest.join('=');
        switch (k.toLowerCase()) {
          case 'path': if (v.startsWith('/')) path = v; break;
          case 'max-age': expires = Date.now() + Number(v) * 1000; break;
          case 'expires': if (expires === Infinity) expires = Date.parse(v); break;
          default: break;
        }
      }
      const key = `${u.hostname} ${path} ${name}`;
      if (expires <= Date.now()) this.cookies.delete(key);
      else this.cookies.set(key, { host: u.hostname, name, value, path, expires });
    }
  }

  header(url) {
    const u = new URL(url);
    const now = Date.now();
    const matching = [...this.cookies.values()].filter((c) => c.host === u.hostname
      && c.expires > now
      && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)));
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

/**
 * Acts as the user's browser: GETs `url`, follows redirects with the cookie jar until a
 * Location points at `redirectUri`'s origin+path, which is returned as a URL (never fetched).
 * Returns { callback: URL, hops: [urls] }. Throws if a page is answered instead of a redirect.
 */
export async function browse(url, redirectUri, jar = new CookieJar(), { maxHops = 20 } = {}) {
  const target = new URL(redirectUri);
  const hops = [];
  let current = url;
  for (let i = 0; i < maxHops; i += 1) {
    hops.push(current);
    const headers = { accept: 'text/html,application/json' };
    const cookie = jar.header(current);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(current, { redirect: 'manual', headers });
    jar.store(current, res.headers.getSetCookie());
    if (res.status < 300 || res.status >= 400) {
      throw new Error(`browse: ${current} answered ${res.status} instead of a redirect: ${(await res.text()).slice(0, 500)}`);
    }
    await res.arrayBuffer();
    const next = new URL(res.headers.get('location'), current);
    if (next.origin === target.origin && next.pathname === target.pathname) {
      return { callback: next, hops };
    }
    current = next.href;
  }
  throw new Error(`browse: more than ${maxHops} redirects: ${hops.join(' -> ')}`);
}

// ---------------------------------------------------------------------------------------------
// OAuth helpers

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function randomState() {
  return randomBytes(16).toString('base64url');
}

/** POSTs an application/x-www-form-urlencoded body; returns { status, headers, body (parsed JSON or text) }. */
export async function postForm(url, params, { basic } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (basic) {
    const [id, secret] = basic;
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  }
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of [].concat(v)) body.append(k, item);
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, body: await parseBody(res) };
}

export async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers: { accept: 'application/json', ...headers } });
  return { status: res.status, headers: res.headers, body: await parseBody(res) };
}

export async function postJson(url, payload, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify(payload),
  });
  return { status: res.status, headers: res.headers, body: await parseBody(res) };
}

async function parseBody(res) {
  const text = await res.text();
  if ((res.headers.get('content-type') || '').includes('json') && text) {
    try { return JSON.parse(text); } catch { /* fall through */ }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// A small streamable-HTTP MCP client (JSON-RPC over POST, JSON or SSE answers).

export function parseSse(text) {
  const messages = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length) {
      try { messages.push(JSON.parse(data.join('\n'))); } catch { /* e.g. priming events */ }
    }
  }
  return messages;
}

let rpcId = 0;
/**
 * Sends one JSON-RPC message to an MCP endpoint. Returns { status, headers, message (the
 * response with the same id, if any), messages (all), text }.
 */
export async function mcpRequest(url, { method, params, token, sessionId, notification = false }) {
  const payload = { jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) };
  if (!notification) payload.id = ++rpcId;
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-06-18',
  };
  if (token) headers.authorization = `Bearer ${token}`;
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload) });
  const text = await res.text();
  const type = res.headers.get('content-type') || '';
  let messages = [];
  if (type.includes('text/event-stream')) messages = parseSse(text);
  else if (type.includes('json') && text) messages = [].concat(JSON.parse(text));
  const message = messages.find((m) => m.id === payload.id);
  return { status: res.status, headers: res.headers, message, messages, text };
}

/** initialize + notifications/initialized; returns { sessionId, result }. */
export async function mcpInitialize(url, token) {
  const init = await mcpRequest(url, {
    method: 'initialize',
    token,
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'mcp-oauth-peers-smoke', version: '0.0.0' },
    },
  });
  if (init.status !== 200 || !init.message?.result) {
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  }
  const sessionId = init.headers.get('mcp-session-id') ?? undefined;
  const done = await mcpRequest(url, { method: 'notifications/initialized', token, sessionId, notification: true });
  if (done.status !== 202) throw new Error(`notifications/initialized: ${done.status} ${done.text}`);
  return { sessionId, result: init.message.result, headers: init.headers };
}

/** tools/call; returns the raw mcpRequest answer plus `text` of the first content item. */
export async function mcpCallTool(url, token, name, args = {}, sessionId) {
  const r = await mcpRequest(url, { method: 'tools/call', params: { name, arguments: args }, token, sessionId });
  return { ...r, toolText: r.message?.result?.content?.[0]?.text };
}

/** Options of playwright-core's `chromium.launchPersistentContext` for the browser tests: Debian's
 * /usr/bin/chromium (or `CHROMIUM`), headless, nothing that reaches the network by itself. */
export function chromiumOptions() {
  return {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  };
}
