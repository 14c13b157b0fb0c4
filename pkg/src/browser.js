// The browser entry's body. pkg/build.sh bundles it with the wasm-bindgen bindings and the JS
// host (client.js, io.js) into one minified module, dist/browser.js, next to the .wasm (one file
// compresses better than four); pkg/index.js re-exports it.
import init from './mcp_oauth_wasm.js';

export * from './mcp_oauth_wasm.js';
export { McpOAuth, McpOAuthError } from './client.js';

await init({ module_or_path: new URL('./mcp_oauth_wasm_bg.wasm', import.meta.url) });
