// The npm driver of the transcript tests: runs one scenario's steps through the built npm package
// (pkg/node.js, after `bash pkg/build.sh`) as a Node program uses it — McpOAuth in follow mode, or
// McpOAuthHeadless, with the MCP TypeScript SDK's client calling tools through `fetch: auth.fetch`
// — against the scripted server, and prints what each step gave: `ok`, or the error code.
// Same input and output as the native driver (native/examples/transcript.rs):
//
//   node tests/transcripts/npm-driver.mjs '{"mcpUrl":…,"redirectUri":…,"client":{…},"steps":[…]}'
//   → {"steps":[{"step":"connect","result":"ok"},…]}
//
// An error of the MCP client (StreamableHTTPError: an HTTP status; McpError: a JSON-RPC error) is
// reported as `mcp_failed`, the code the native host gives such errors; any other error that is
// not the package's McpOAuthError is reported as `unexpected <name>: <message>`.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { McpOAuth, McpOAuthHeadless, McpOAuthError } = await import(pathToFileURL(join(root, 'pkg', 'node.js')).href);
// The MCP TypeScript SDK client, from the peers' pinned install (as pkg/test does).
const sdk = createRequire(join(root, 'tests', 'peers', 'package.json'));
const { Client } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/index.js')).href);
const { StreamableHTTPClientTransport, StreamableHTTPError } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/client/streamableHttp.js')).href);
const { McpError } = await import(pathToFileURL(sdk.resolve('@modelcontextprotocol/sdk/types.js')).href);

/** The package's code; `mcp_failed` for the MCP client's own errors; anything else is a bug, named as such. */
const code = (e) => {
  if (e instanceof McpOAuthError) return e.code;
  if (e instanceof StreamableHTTPError || e instanceof McpError) return 'mcp_failed';
  return `unexpected ${e?.name ?? typeof e}: ${e?.message ?? e}`;
};

async function makeClient(spec) {
  const c = spec.client;
  if (c.kind === 'user') {
    const options = {
      serverUrl: spec.mcpUrl, redirectUri: spec.redirectUri, clientName: 'mcp-oauth',
      onAuthorizationRequired: 'follow', timeoutMs: 20000,
    };
    for (const k of ['clientId', 'clientSecret', 'scopes', 'timeoutMs']) if (c[k] !== undefined) options[k] = c[k];
    return McpOAuth.create(options);
  }
  if (c.kind === 'headless') {
    const options = { serverUrl: spec.mcpUrl, grant: c.grant, clientId: c.clientId };
    for (const k of ['clientSecret', 'authMethod', 'scopes', 'idp', 'signingAlg', 'assertion']) if (c[k] !== undefined) options[k] = c[k];
    // Paths are relative to the repository root, as for the native driver.
    if (c.privateKeyFile !== undefined) options.privateKey = readFileSync(join(root, c.privateKeyFile), 'utf8');
    return McpOAuthHeadless.create(options);
  }
  throw new Error(`unknown client kind ${c.kind}`);
}

async function step(name, spec, auth, ctx) {
  const [verb, arg] = name.includes(':') ? [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)] : [name, ''];
  const session = () => ctx.session ?? Promise.reject(Object.assign(new Error('no session'), { transcriptCode: 'no_session' }));
  switch (verb) {
    case 'login':
      if (auth instanceof McpOAuthHeadless) await auth.accessToken();
      else await auth.authorize({ mode: 'follow' });
      return;
    case 'connect': {
      const client = new Client({ name: 'mcp-oauth-transcript', version: '0.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(spec.mcpUrl), { fetch: auth.fetch }));
      ctx.session = client;
      return;
    }
    case 'list':
      await (await session()).listTools();
      return;
    case 'call': {
      const res = await (await session()).callTool({ name: arg, arguments: {} });
      if (res.isError) throw Object.assign(new Error('tool error'), { transcriptCode: 'tool_error' });
      return;
    }
    case 'wait':
      await new Promise((r) => setTimeout(r, Number(arg)));
      return;
    case 'logout':
      if (auth instanceof McpOAuthHeadless) throw Object.assign(new Error('unsupported'), { transcriptCode: 'unsupported' });
      await auth.logout();
      return;
    default:
      throw Object.assign(new Error(`unknown step ${name}`), { transcriptCode: `unknown_step ${name}` });
  }
}

/** Runs `spec`'s steps; resolves to `{ steps: [{ step, result }] }`. */
export async function drive(spec) {
  const auth = await makeClient(spec);
  const ctx = { session: null };
  const out = [];
  let failed = false;
  for (const s of spec.steps) {
    if (failed) {
      out.push({ step: s, result: 'not_run' });
      continue;
    }
    try {
      await step(s, spec, auth, ctx);
      out.push({ step: s, result: 'ok' });
    } catch (e) {
      failed = true;
      out.push({ step: s, result: e?.transcriptCode ?? code(e) });
      if (process.env.TRANSCRIPT_VERBOSE) console.error(e);
    }
  }
  await ctx.session?.close().catch(() => {});
  return { steps: out };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  let spec;
  try {
    spec = JSON.parse(process.argv[2] ?? '');
  } catch (e) {
    console.error(`npm-driver: usage: npm-driver.mjs '<scenario driver JSON>' (${e.message})`);
    process.exit(2);
  }
  console.log(JSON.stringify(await drive(spec)));
}
