// A browser app's use of the package, type-checked with `strict` and `skipLibCheck: false`
// (tsconfig.browser.json: moduleResolution bundler, the default export condition; run by
// tests/bundlers/test/types.test.mjs). Each
// `@ts-expect-error` is a mistake the types must catch; tsc fails if one is not caught.
import { McpOAuth, McpOAuthError, Flow, parseBearerChallenge, type McpOAuthErrorCode, type McpOAuthStatus } from 'mcp-oauth';
import { completePopup } from 'mcp-oauth/callback';
// @ts-expect-error the headless grants are in the Node entry only
import { McpOAuthHeadless } from 'mcp-oauth';

export async function app(): Promise<string> {
  await McpOAuth.ready({ wasmUrl: new URL('/assets/x.wasm', 'https://app.example') });
  const auth = await McpOAuth.create({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'https://app.example/cb', storage: 'localStorage' });
  const status: McpOAuthStatus = auth.status();
  try {
    await auth.authorize({ mode: 'popup' });
  } catch (e) {
    if (e instanceof McpOAuthError) {
      const code: McpOAuthErrorCode = e.code;
      if (code === 'wasm_load_failed' && e.url) return e.url;
      // @ts-expect-error a typo in a code is not a code
      if (e.code === 'acess_denied') return 'never';
      // @ts-expect-error no index signature: unknown fields are errors
      return e.urll;
    }
  }
  // @ts-expect-error modes are a closed set
  await auth.authorize({ mode: 'tab' });
  const flow = new Flow({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'https://app.example/cb' });
  const event = flow.pollEvent();
  if (event?.type === 'open_browser') return event.url;
  const request = flow.pollRequest();
  if (request) {
    const method: 'GET' | 'POST' = request.method;
    flow.handleResponse(0, request.id, { status: 200, headers: [['content-type', 'application/json']], body: '{}' });
    return method;
  }
  const saved = flow.entry('alice');
  if (saved) return `${saved.issuer} ${saved.entry.length}`;
  // @ts-expect-error the DPoP steps are in the mcp-oauth/dpop entry
  flow.pollProof(new Uint8Array(16));
  const challenge = parseBearerChallenge('Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"');
  completePopup();
  return `${status.state} ${challenge?.resourceMetadata ?? ''} ${flow.status(0).state}`;
}
