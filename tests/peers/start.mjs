// Starts the authorization server (as.mjs) and then the MCP server (mcp.mjs, with AS_ISSUER set)
// and prints ONE JSON line: {"issuer":…,"as_port":…,"mcp_url":…,"mcp_port":…}. Both inherit this
// process's environment (PEER_*, MCP_*); AS_PORT and MCP_PORT choose their ports (default: free
// ones). Their stderr is forwarded to this process's stderr. SIGTERM/SIGINT stop both; if one of
// them dies, the other is stopped and this process exits with status 1.

import { startAs, startMcp } from './harness.mjs';

const opts = { forwardStderr: true };
const as = await startAs({ PORT: process.env.AS_PORT ?? '0' }, opts);
let mcp;
try {
  mcp = await startMcp(as.info.issuer, { PORT: process.env.MCP_PORT ?? '0' }, opts);
} catch (err) {
  console.error(err.message);
  await as.stop();
  process.exit(1);
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  await Promise.all([mcp.stop(), as.stop()]);
  process.exit(code);
}

for (const peer of [as, mcp]) {
  peer.child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`a peer exited unexpectedly (${code ?? signal}); stopping the other`);
    stopAll(1);
  });
}
process.on('SIGTERM', () => stopAll(0));
process.on('SIGINT', () => stopAll(0));

process.stdout.write(`${JSON.stringify({
  issuer: as.info.issuer,
  as_port: as.info.port,
  mcp_url: mcp.info.url,
  mcp_port: mcp.info.port,
})}\n`);
