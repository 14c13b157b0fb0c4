// Node (>= 20): reads and instantiates the WebAssembly module next to this file.
import { readFileSync } from 'node:fs';
import { initSync } from './dist/mcp_oauth_wasm.js';

export * from './dist/mcp_oauth_wasm.js';
export { McpOAuth, McpOAuthError } from './dist/client.js';

initSync({ module: readFileSync(new URL('./dist/mcp_oauth_wasm_bg.wasm', import.meta.url)) });
