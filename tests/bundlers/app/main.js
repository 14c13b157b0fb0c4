// A small MCP chat app as a web developer writes it: the MCP TypeScript SDK's client with the
// mcp-oauth package's fetch. Built by each bundler in build.mjs. The page renders before the
// package's wasm loads; `?server=` names the MCP server, `?wasm=` the wasm's URL for bundlers
// that do not emit it (esbuild, Rollup: build.mjs copies the file next to the bundle instead).
// `?mode=redirect` authorizes by leaving the page (redirect mode) instead of in a popup: the
// authorization server comes back to this page, which finishes the authorization on load.
import { McpOAuth } from 'mcp-oauth';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// The callback's query replaces ours: what the page needs after the redirect waits in
// sessionStorage.
const serverUrl = params.get('server') ?? sessionStorage.getItem('app.server');
const mode = params.get('mode') ?? sessionStorage.getItem('app.mode') ?? 'popup';
$('state').textContent = 'rendered';
document.body.dataset.rendered = 'true';

function fail(e) {
  $('error').textContent = `${e.code ?? e.name}: ${e.message}`;
  document.body.dataset.error = e.code ?? 'error';
}

let auth;
async function setup() {
  auth = await McpOAuth.create({
    serverUrl,
    // Redirect mode comes back to this page; the popup to the callback page.
    redirectUri: new URL(mode === 'redirect' ? 'index.html' : 'callback.html', location.href).href,
    clientName: 'bundler test chat',
    storage: 'sessionStorage',
  });
  auth.on('status', ({ status }) => { $('state').textContent = status.state; });
  $('state').textContent = auth.status().state;
  if (mode === 'redirect' && (await auth.handleRedirect())) {
    history.replaceState(null, '', location.pathname);
    document.body.dataset.returned = 'true';
    await connect();
    return;
  }
  $('connect').disabled = false;
  document.body.dataset.ready = 'true';
}

async function connect() {
  try {
    if (!auth.status().authorized) {
      if (mode === 'redirect') {
        sessionStorage.setItem('app.server', serverUrl);
        sessionStorage.setItem('app.mode', mode);
        // The page is about to be left: nothing after this.
        await auth.authorize({ mode: 'redirect' });
        return;
      }
      // Synchronously in the click: the popup opens before the first await.
      await auth.authorize({ mode: 'popup' });
    }
    const client = new Client({ name: 'bundler-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: auth.fetch }));
    const { tools } = await client.listTools();
    for (const t of tools) {
      const li = document.createElement('li');
      li.dataset.tool = t.name;
      li.textContent = t.name;
      $('tools').append(li);
    }
    const whoami = await client.callTool({ name: 'whoami', arguments: {} });
    $('state').textContent = `${auth.status().state}: ${whoami.content[0].text}`;
    document.body.dataset.done = 'true';
  } catch (e) {
    fail(e);
  }
}

$('connect').onclick = connect;

setup().catch(fail);
