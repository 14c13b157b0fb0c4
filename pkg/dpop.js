// Browsers and bundlers, with DPoP (RFC 9449; package export `mcp-oauth/dpop`): the browser build
// plus DPoP proofs signed with a non-extractable WebCrypto key kept in IndexedDB (built by
// pkg/build.sh into dist/dpop from pkg/src/browser.js and pkg/src/dpop-browser.js). The same API
// as the default entry, whose payload stays without DPoP.
export * from './dist/dpop/browser.js';
