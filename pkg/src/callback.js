// `mcp-oauth/callback`: the popup's callback page as one import. Importing it hands the page's
// URL (the authorization response) to the window that opened the popup and closes the popup;
// it loads neither the WebAssembly module nor the client, only pkg/src/io.js's completePopup
// (pkg/build.sh bundles it into dist/callback.js). An error (no opener, not a browser) is shown
// on the page and thrown.
import { completePopup } from './io.js';

export { completePopup };

try {
  completePopup();
} catch (e) {
  if (typeof document !== 'undefined' && document.body) document.body.textContent = `${e.code}: ${e.message}`;
  throw e;
}
