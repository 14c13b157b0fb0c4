// Browsers and bundlers: fetches and instantiates the WebAssembly module next to this file.
import init from './dist/mcp_oauth_wasm.js';

export * from './dist/mcp_oauth_wasm.js';
export { McpOAuth, McpOAuthError } from './dist/client.js';

await init({ module_or_path: new URL('./dist/mcp_oauth_wasm_bg.wasm', import.meta.url) });
