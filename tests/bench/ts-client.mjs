// The comparison client of BENCHMARKS.md: the MCP TypeScript SDK's own OAuth support
// (`StreamableHTTPClientTransport` with an `authProvider`), doing what `mcp-oauth tools list
// --auth --browser follow` does: connect, authorize (following the authorization server's
// redirects with a cookie jar, as a browser would), list the tools. State (client registration,
// tokens) persists in a JSON file so a second run is warm.
//
//   node ts-client.mjs <mcp-url> <state-file>     prints the tool names; exit 1 on failure
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [url, stateFile] = process.argv.slice(2);
if (!url || !stateFile) {
  console.error('usage: node ts-client.mjs <mcp-url> <state-file>');
  process.exit(2);
}
const REDIRECT = 'http://127.0.0.1:8976/callback';

let state = {};
try { state = JSON.parse(readFileSync(stateFile, 'utf8')); } catch { /* cold */ }
const save = () => writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });

/** Follows redirects with a cookie jar until the redirect URI; returns the `code`. */
async function follow(authorizationUrl) {
  const jar = new Map();
  let current = authorizationUrl.href;
  for (let hop = 0; hop < 20; hop++) {
    const headers = jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
    const res = await fetch(current, { redirect: 'manual', headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    await res.arrayBuffer();
    const next = new URL(res.headers.get('location'), current);
    if (next.href.startsWith(REDIRECT)) {
      const code = next.searchParams.get('code');
      if (!code) throw new Error(`authorization failed: ${next.search}`);
      return code;
    }
    current = next.href;
  }
  throw new Error('too many redirects');
}

// The TS SDK sends the challenge's scope at dynamic registration; oidc-provider (our peer AS)
// refuses resource scopes there ("scope must only contain Authorization Server supported scope
// values"), so out of the box the SDK cannot register with it (mcp-oauth sends no scope at
// registration). This fetch drops `scope` from the registration body only: same requests, same
// count, so the comparison stays like for like (BENCHMARKS.md notes it).
const registrationFetch = async (input, init) => {
  if (init?.method === 'POST' && typeof init.body === 'string' && String(input).endsWith('/reg')) {
    const body = JSON.parse(init.body);
    delete body.scope;
    init = { ...init, body: JSON.stringify(body) };
  }
  return fetch(input, init);
};

let pendingCode = null;
const authProvider = {
  get redirectUrl() { return REDIRECT; },
  get clientMetadata() {
    return { client_name: 'ts-sdk bench client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  },
  clientInformation: () => state.client,
  saveClientInformation: (c) => { state.client = c; save(); },
  tokens: () => state.tokens,
  saveTokens: (t) => { state.tokens = t; save(); },
  redirectToAuthorization: async (u) => { pendingCode = await follow(u); },
  saveCodeVerifier: (v) => { state.verifier = v; save(); },
  codeVerifier: () => state.verifier,
  // The SDK's optional discovery cache: without it, finishAuth() repeats discovery.
  discoveryState: () => state.discovery,
  saveDiscoveryState: (d) => { state.discovery = d; save(); },
};

async function connect() {
  const client = new Client({ name: 'ts-sdk-bench', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider, fetch: registrationFetch });
  try {
    await client.connect(transport);
    return client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !pendingCode) throw e;
    await transport.finishAuth(pendingCode);
    pendingCode = null;
    const again = new Client({ name: 'ts-sdk-bench', version: '0.0.0' });
    await again.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider, fetch: registrationFetch }));
    return again;
  }
}

const t0 = performance.now();
const client = await connect();
const { tools } = await client.listTools();
await client.close();
// In-process time of the flow (no Node start-up, no module loading), for BENCHMARKS.md.
console.error(`flow_ms=${(performance.now() - t0).toFixed(1)}`);
console.log(tools.map((t) => t.name).join('\n'));
