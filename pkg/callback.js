// The popup's callback page (package export `mcp-oauth/callback`): `import 'mcp-oauth/callback'`
// completes the authorization (built by pkg/build.sh from pkg/src/callback.js).
export * from './dist/callback.js';
