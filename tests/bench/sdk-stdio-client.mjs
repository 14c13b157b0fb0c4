// A host as stdio-only hosts are built: the MCP TypeScript SDK's `Client` over its
// `StdioClientTransport`, running `mcp-oauth proxy` as the server command. Lists the tools,
// calls `echo`, calls `progress` with a progress callback (the server's notifications), calls
// `ping_client` (a server request the SDK answers), and prints one JSON line: what it saw and
// the whole session transcript (`->` host to proxy, `<-` proxy to host).
//
//   node sdk-stdio-client.mjs <mcp-oauth binary> <mcp-url> [proxy args...]
// Used by native/tests/proxy.rs (the SDK client through the proxy); exit 1 on failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [bin, url, ...extra] = process.argv.slice(2);
if (!bin || !url) {
  console.error('usage: node sdk-stdio-client.mjs <mcp-oauth binary> <mcp-url> [proxy args...]');
  process.exit(2);
}

const transcript = [];
const inner = new StdioClientTransport({
  command: bin,
  args: ['proxy', '--url', url, ...extra],
  env: { ...process.env },
  stderr: 'inherit',
});
// The SDK's transport, with every message written down.
const transport = {
  async start() {
    inner.onmessage = (m) => { transcript.push(`<- ${JSON.stringify(m)}`); this.onmessage?.(m); };
    inner.onerror = (e) => this.onerror?.(e);
    inner.onclose = () => this.onclose?.();
    return inner.start();
  },
  async send(m, options) { transcript.push(`-> ${JSON.stringify(m)}`); return inner.send(m, options); },
  async close() { return inner.close(); },
};

const client = new Client({ name: 'sdk-stdio-host', version: '1.0.0' });
try {
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'through the proxy' } });
  const progress = [];
  const done = await client.callTool({ name: 'progress', arguments: { steps: 2 } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  const pinged = await client.callTool({ name: 'ping_client', arguments: {} });
  await client.close();
  console.log(JSON.stringify({
    server: client.getServerVersion()?.name,
    tools,
    echo: echo.content?.[0]?.text,
    progress,
    done: done.content?.[0]?.text,
    pinged: pinged.content?.[0]?.text,
    transcript,
  }));
} catch (e) {
  console.error(`sdk-stdio-client: ${e.stack ?? e}`);
  console.log(JSON.stringify({ error: String(e), transcript }));
  process.exit(1);
}
