// The browser build's stand-in for dpop.js (pkg/build.sh copies it as dpop.js): the browser
// build has no DPoP yet (its payload budget, BENCHMARKS.md), so `dpop: 'auto'` uses Bearer
// tokens and `dpop: 'always'` is refused when the client is made.
export const available = false;
export let DpopKeys;
