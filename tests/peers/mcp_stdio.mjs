// A local MCP server over stdio (MCP transports: stdio; @modelcontextprotocol/sdk's
// StdioServerTransport) for mcp-oauth's tests of `transport: stdio` groups. It is started by
// mcp-oauth itself, as a configuration file's `command`; stdout carries only MCP messages.
//
// Tools: echo {text}; calls (how many tool calls this process has answered, this one
// included: two users sharing a process would see each other's); pid; env {name} (the value
// of a variable in this process, or "(unset)").
// Environment: MCP_STDIO_PID_FILE (write this process's id there at start),
// MCP_STDIO_EXIT_EARLY=N (write "exiting early" to stderr and exit with N before reading
// anything), MCP_STDIO_LINGER=1 (stay alive after stdin closes: only SIGTERM stops it).

import { writeFileSync } from 'node:fs';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import * as z from 'zod';

console.log = console.error;
console.info = console.error;

const env = process.env;
if (env.MCP_STDIO_EXIT_EARLY) {
  console.error('exiting early, as MCP_STDIO_EXIT_EARLY asks');
  process.exit(Number(env.MCP_STDIO_EXIT_EARLY));
}
if (env.MCP_STDIO_PID_FILE) writeFileSync(env.MCP_STDIO_PID_FILE, String(process.pid));
if (env.MCP_STDIO_LINGER === '1') setInterval(() => {}, 1000);

let calls = 0;
const text = (value) => ({ content: [{ type: 'text', text: String(value) }] });
const server = new McpServer({ name: 'mcp-oauth-stdio-peer', version: '1.0.0' });
server.registerTool('echo', {
  description: 'Returns its text argument',
  inputSchema: { text: z.string() },
}, async ({ text: t }) => { calls += 1; return text(t); });
server.registerTool('calls', {
  description: 'How many tool calls this process has answered, this one included',
}, async () => { calls += 1; return text(calls); });
server.registerTool('pid', {
  description: 'This process id',
}, async () => { calls += 1; return text(process.pid); });
server.registerTool('env', {
  description: 'The value of an environment variable of this process',
  inputSchema: { name: z.string() },
}, async ({ name }) => { calls += 1; return text(env[name] ?? '(unset)'); });

console.error('stdio peer: ready');
await server.connect(new StdioServerTransport());
