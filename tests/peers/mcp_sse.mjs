// An MCP server over the HTTP+SSE transport of MCP 2024-11-05 (@modelcontextprotocol/sdk's
// SSEServerTransport), without authorization, for mcp-oauth's tests of `transport: sse` groups.
// GET /sse opens a stream (one MCP session, one McpServer each); POST /messages?sessionId=…
// carries the client's messages. GET /stats: {"open": streams open now, "opened": in total}.
//
// stdout carries exactly one line, the JSON {"url":…,"port":…}; logs go to stderr.
// Tools: echo {text}; calls (how many tool calls this session has answered, this one included).

import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import * as z from 'zod';

console.log = console.error;
console.info = console.error;

const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT ?? 0);
const sessions = new Map();
let opened = 0;

function buildServer() {
  let calls = 0;
  const text = (value) => ({ content: [{ type: 'text', text: String(value) }] });
  const server = new McpServer({ name: 'mcp-oauth-sse-peer', version: '1.0.0' });
  server.registerTool('echo', {
    description: 'Returns its text argument',
    inputSchema: { text: z.string() },
  }, async ({ text: t }) => { calls += 1; return text(t); });
  server.registerTool('calls', {
    description: 'How many tool calls this session has answered, this one included',
  }, async () => { calls += 1; return text(calls); });
  return server;
}

const app = express();
app.use(express.json());
app.get('/sse', async (req, res) => {
  const transport = new SSEServerTransport('/messages', res);
  sessions.set(transport.sessionId, transport);
  opened += 1;
  res.on('close', () => sessions.delete(transport.sessionId));
  await buildServer().connect(transport);
});
app.post('/messages', async (req, res) => {
  const transport = sessions.get(String(req.query.sessionId ?? ''));
  if (!transport) {
    res.status(404).send('unknown session');
    return;
  }
  await transport.handlePostMessage(req, res, req.body);
});
app.get('/stats', (req, res) => res.json({ open: sessions.size, opened }));

const listener = app.listen(PORT, HOST, () => {
  const port = listener.address().port;
  process.stdout.write(`${JSON.stringify({ url: `http://${HOST}:${port}/sse`, port })}\n`);
});
const stop = () => { listener.close(() => process.exit(0)); listener.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
