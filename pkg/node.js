// Node (>= 20): reads and instantiates the Node build of the WebAssembly module (dist/node: with
// the headless grants, McpOAuthHeadless).
import { readFileSync } from 'node:fs';
import { initSync } from './dist/node/mcp_oauth_wasm.js';

export * from './dist/node/mcp_oauth_wasm.js';
export { McpOAuth, McpOAuthError } from './dist/node/client.js';
export { McpOAuthHeadless, clientAssertionClaims } from './dist/node/headless.js';

initSync({ module: readFileSync(new URL('./dist/node/mcp_oauth_wasm_bg.wasm', import.meta.url)) });
