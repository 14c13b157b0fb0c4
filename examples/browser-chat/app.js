// The browser chat: connects to an MCP server with the MCP TypeScript SDK, whose requests go
// through `auth.fetch` of the mcp-oauth package (token, 401 → refresh or authorization, 403 →
// step-up). Authorization runs in a popup (opened inside the click) or by a full-page redirect.
// `?dpop=1` loads the package's browser DPoP entry (`mcp-oauth/dpop`: DPoP-bound tokens, RFC 9449,
// signed with a non-extractable key kept in IndexedDB) instead of the default entry.
import { Client, StreamableHTTPClientTransport } from 'mcp-sdk';

const $ = (id) => document.getElementById(id);
const settings = window.sessionStorage;
const params = new URLSearchParams(location.search);
const dpop = (params.get('dpop') ?? settings.getItem('chat.dpop')) === '1';
settings.setItem('chat.dpop', dpop ? '1' : '0');
const { McpOAuth } = await import(dpop ? 'mcp-oauth/dpop' : 'mcp-oauth');

let auth = null;
let client = null;
let tools = [];

function say(kind, text) {
  const div = document.createElement('div');
  div.className = `msg ${kind}`;
  div.textContent = text;
  $('log').append(div);
  $('log').scrollTop = $('log').scrollHeight;
  return div;
}

function showError(e) {
  const code = e && e.code ? `${e.code}: ` : '';
  const div = say('error', `${code}${(e && e.message) || e}`);
  div.dataset.code = (e && e.code) || 'error';
}

function showStatus(s) {
  $('auth-state').textContent = s.state.replace('_', ' ');
  $('auth-state').dataset.state = s.state;
  const parts = [];
  if (s.scope) parts.push(`scope: ${s.scope}`);
  if (s.expiresAt) parts.push(`expires ${new Date(s.expiresAt * 1000).toLocaleTimeString()}`);
  if (s.issuer) parts.push(`issuer: ${s.issuer}`);
  if (s.dpop) parts.push('DPoP-bound');
  $('auth-detail').textContent = parts.length ? `(${parts.join(', ')})` : '';
}

function redirectUri(mode) {
  // Popup: a small page that hands the callback to this window. Redirect: this page itself.
  return mode === 'redirect' ? `${location.origin}/index.html` : `${location.origin}/callback.html`;
}

/** Makes the McpOAuth for the chosen server and mode (before any click, so authorize() can open the popup synchronously). */
async function prepare() {
  const serverUrl = $('server').value.trim();
  const mode = $('mode').value;
  settings.setItem('chat.server', serverUrl);
  settings.setItem('chat.mode', mode);
  if (!serverUrl) return;
  auth = await McpOAuth.create({
    serverUrl,
    redirectUri: redirectUri(mode),
    clientName: 'mcp-oauth browser chat',
    storage: 'sessionStorage', // survives the redirect mode's page loads, per tab
    userId: 'browser-user',
  });
  auth.on('status', (e) => showStatus(e.status));
  showStatus(auth.status());
}

async function connect() {
  const serverUrl = auth.status().serverUrl;
  client = new Client({ name: 'mcp-oauth browser chat', version: '0.1.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { fetch: auth.fetch }));
  ({ tools } = await client.listTools());
  const list = $('tools');
  list.replaceChildren(...tools.map((t) => {
    const li = document.createElement('li');
    li.dataset.tool = t.name;
    li.innerHTML = '<b></b><br><small></small>';
    li.querySelector('b').textContent = t.name;
    li.querySelector('small').textContent = t.description ?? '';
    return li;
  }));
  $('input').disabled = false;
  $('send').disabled = false;
  say('info', `connected to ${serverUrl}: ${tools.length} tools`);
}

$('connect-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!auth) {
    showError(new Error('enter the MCP server URL'));
    return;
  }
  // authorize() opens the popup now, inside the click; everything else may await.
  const ready = auth.status().authorized
    ? Promise.resolve()
    : auth.authorize({ mode: $('mode').value });
  ready.then(() => (auth.status().authorized ? connect() : undefined)).catch(showError);
});

$('logout').addEventListener('click', async () => {
  try {
    const r = await auth?.logout();
    await client?.close();
    client = null;
    $('tools').innerHTML = '<li class="muted">not connected</li>';
    say('info', r ? `logged out (revoked: ${r.revoked})` : 'not connected');
  } catch (e) {
    showError(e);
  }
});

for (const id of ['server', 'mode']) {
  $(id).addEventListener('change', () => prepare().catch(showError));
}

$('chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = $('input').value.trim();
  if (!text || !client) return;
  $('input').value = '';
  say('user', text);
  const [name, ...rest] = text.split(/\s+/);
  const tool = tools.find((t) => t.name === name);
  if (!tool) {
    say('error', `no tool ${name}; available: ${tools.map((t) => t.name).join(', ')}`);
    return;
  }
  const argText = rest.join(' ');
  let args = {};
  if (argText.startsWith('{')) {
    args = JSON.parse(argText);
  } else {
    const props = Object.keys(tool.inputSchema?.properties ?? {});
    if (props.length) args[props[0]] = argText;
  }
  try {
    const result = await client.callTool({ name, arguments: args });
    const out = (result.content ?? []).map((c) => (c.type === 'text' ? c.text : JSON.stringify(c))).join('\n');
    say(result.isError ? 'error' : 'tool', out || '(no content)');
  } catch (e) {
    showError(e);
  }
});

// Page load: settings from the query or this tab's session, then a redirect callback if this is one.
$('server').value = params.get('server') ?? settings.getItem('chat.server') ?? '';
$('mode').value = params.get('mode') ?? settings.getItem('chat.mode') ?? 'popup';
try {
  await prepare();
  if (auth && (await auth.handleRedirect(location.href))) {
    history.replaceState(null, '', '/index.html');
    say('info', 'authorized (redirect)');
    await connect();
  }
} catch (e) {
  showError(e);
}
// For the browser tests (and the console): the current client.
window.mcpChat = { get auth() { return auth; } };
document.body.dataset.ready = 'true';
