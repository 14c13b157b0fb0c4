// The browser entry's body. pkg/build.sh bundles it with the wasm-bindgen bindings and the JS
// host (client.js, io.js) into one minified module, dist/browser.js, next to the .wasm (one file
// compresses better than four); pkg/index.js re-exports it.
//
// No top-level await: the .wasm is fetched on first need (McpOAuth.create or McpOAuth.ready(),
// pkg/src/client.js), so the app renders first and an app that never authorizes never loads it.
// The `new URL('…', import.meta.url)` form is the one bundlers (Vite, webpack) recognise to emit
// the file and rewrite the URL. The low-level exports (Flow, parseBearerChallenge, …) need
// `await McpOAuth.ready()` first.
import init from './mcp_oauth_wasm.js';
import { setWasmLoader } from './client.js';

export * from './mcp_oauth_wasm.js';
export { McpOAuth, McpOAuthError } from './client.js';

setWasmLoader(async (wasmUrl) => {
  const url = wasmUrl ?? new URL('./mcp_oauth_wasm_bg.wasm', import.meta.url);
  try {
    await init({ module_or_path: url });
  } catch (e) {
    e.wasmUrl = String(url);
    throw e;
  }
});
