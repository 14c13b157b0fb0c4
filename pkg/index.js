// Browsers and bundlers: the module next to the .wasm (built by pkg/build.sh from
// pkg/src/browser.js) fetches and instantiates it.
export * from './dist/browser.js';
