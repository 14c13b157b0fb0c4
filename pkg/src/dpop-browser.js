// DPoP keys (RFC 9449) of the browser DPoP build (package export `mcp-oauth/dpop`, pkg/build.sh
// copies this file as dpop.js into dist/dpop): a WebCrypto ECDSA P-256 (ES256) key made
// non-extractable, so no script (nor an XSS) can read the private key out of the page; it can
// only sign with it while it runs there. The core builds every proof's signing input and
// assembles the proof (wasm/src/dpop.rs); this file makes, keeps and uses the key.
//
// Persistence: the CryptoKey object itself goes into IndexedDB (structured clone keeps it
// non-extractable; database `mcp-oauth-dpop`, object store `keys`, keyed by the key's RFC 7638
// thumbprint), and the entry's `dpop_key` holds a reference to it:
//
//   webcrypto:v1:<jkt>        (REF below; the native client and the Node entry refuse it by
//                              name: native/src/dpop.rs, pkg/src/dpop.js)
//
// With `storage: 'memory'` the key stays in this McpOAuth's memory, like its tokens. logout()
// deletes the key with the tokens bound to it.

import { assembleDpopProof } from './mcp_oauth_wasm.js';
import { makeError, nowSeconds, randomBytes } from './io.js';

export const available = true;

const ALG = { name: 'ECDSA', namedCurve: 'P-256' };
const REF = 'webcrypto:v1:';
const DB = 'mcp-oauth-dpop';
const STORE = 'keys';

const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw makeError('entropy_unavailable', 'DPoP needs WebCrypto (crypto.subtle): a secure context (https or localhost)');
  return s;
};

/** One IndexedDB request on the key store, in its own transaction; resolves to its result. */
let opened;
async function idb(mode, op) {
  const idb = globalThis.indexedDB;
  if (!idb) throw new Error('indexedDB is not available here (it holds the DPoP key); use storage: "memory"');
  opened ||= new Promise((resolve, reject) => {
    const req = idb.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`the IndexedDB database ${DB} is blocked by another tab`));
  });
  const db = await opened.catch((e) => { opened = null; throw e; });
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = op(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

/**
 * The DPoP key of one McpOAuth, for its current flow (`flow()`): made when the flow first wants
 * one, found again by the reference in the entry it is stored with, and the signer of the drain
 * loop (pkg/src/io.js). `storage()`: the McpOAuth's storage (kind 'memory': the key stays here).
 */
export class DpopKeys {
  #flow;
  #storage;
  /** The key in use: `{ x, y, privateKey }`. */
  #key = null;
  /** Keys of a memory storage, by thumbprint. */
  #memory = new Map();

  constructor(flow, storage) {
    this.#flow = flow;
    this.#storage = storage;
  }

  get #inMemory() {
    return this.#storage().kind === 'memory';
  }

  /** Hands key `k` to the flow; returns its thumbprint (the core computes it, RFC 7638). */
  #use(k) {
    const jkt = this.#flow().setDpopKey(k.x, k.y);
    this.#key = k;
    return jkt;
  }

  /** A new non-extractable ES256 key, kept under its thumbprint before the entry names it. */
  async #make() {
    const pair = await subtle().generateKey(ALG, false, ['sign']);
    // The public half is always extractable (WebCrypto), the private one is not.
    const jwk = await subtle().exportKey('jwk', pair.publicKey);
    const k = { x: jwk.x, y: jwk.y, privateKey: pair.privateKey };
    const jkt = this.#use(k);
    if (this.#inMemory) this.#memory.set(jkt, k);
    else await idb('readwrite', (s) => s.put(k, jkt));
    this.#flow().setDpopKeyMaterial(REF + jkt);
  }

  /**
   * The drain loop's DPoP step (pkg/src/io.js) on `flow`: makes the key when the flow wants
   * one, then signs the next proof it asks for and answers through `answer` (which keeps the
   * first error). True when there was a proof.
   */
  async step(flow, answer) {
    if (flow.dpopKeyWanted()) {
      try {
        await this.#make();
      } catch (e) {
        // No key, no proof: the token request waiting for one is dropped.
        flow.cancel();
        throw makeError('dpop_signing_failed', `signing the DPoP proof failed: no key (${(e && e.message) || e})`);
      }
    }
    const proof = flow.pollProof(randomBytes(16));
    if (!proof) return false;
    let sig;
    try {
      sig = await this.sign(proof.signingInput);
    } catch (e) {
      answer(() => flow.handleProofSigningError(proof.id, (e && e.message) || String(e)));
      return true;
    }
    answer(() => flow.provideProofSignature(proof.id, sig));
    return true;
  }

  /** The ES256 signature of `input` (RFC 7518 §3.4: R || S, what WebCrypto returns). */
  async sign(input) {
    const sig = await subtle().sign({ name: 'ECDSA', hash: 'SHA-256' }, this.#key.privateKey, new TextEncoder().encode(input));
    return new Uint8Array(sig);
  }

  /** The thumbprint the entry's `dpop_key` refers to, or null; throws for any other value. */
  #referenced() {
    const material = this.#flow().dpopKeyMaterial();
    if (!material) return null;
    if (!material.startsWith(REF) || !/^[A-Za-z0-9_-]{43}$/.test(material.slice(REF.length))) {
      const what = /^(?:[0-9a-f]{2})+$/i.test(material)
        ? 'an exported PKCS#8 key (written by the native client or the Node entry), which this browser build does not take: its keys are non-extractable WebCrypto keys'
        : `not a reference ${REF}<thumbprint>`;
      throw new Error(`its DPoP key (dpop_key) is ${what}`);
    }
    return material.slice(REF.length);
  }

  /**
   * The key of the entry just loaded into the flow (`dpop_key`). DPoP-bound tokens whose key is
   * gone throw (a clear error, never a Bearer request nor a silent new login): the caller
   * decides (deleting the entry and a new authorization).
   */
  async adopt() {
    this.#key = null;
    const jkt = this.#referenced();
    if (jkt) {
      const k = this.#inMemory ? this.#memory.get(jkt) : await idb('readonly', (s) => s.get(jkt));
      if (!k?.privateKey || typeof k.x !== 'string' || typeof k.y !== 'string') {
        const where = this.#inMemory ? 'this client\'s memory' : `this browser's IndexedDB (${DB})`;
        throw new Error(`its tokens are bound to DPoP key ${jkt}, which is not in ${where}`);
      }
      if (this.#use(k) !== jkt) throw new Error(`the DPoP key stored under ${jkt} has another thumbprint`);
    } else if (this.#flow().status(nowSeconds()).dpop) {
      throw new Error('its tokens are DPoP-bound (RFC 9449) and it holds no DPoP key for them');
    }
  }

  /** logout(): deletes the key of the flow's entry (its tokens are gone with it). */
  async discard() {
    let jkt = null;
    try {
      jkt = this.#referenced();
    } catch {
      // Not ours (another host's PKCS#8): nothing of it is kept here.
    }
    this.#key = null;
    if (!jkt) return;
    if (this.#inMemory) this.#memory.delete(jkt);
    else await idb('readwrite', (s) => s.delete(jkt));
  }

  /**
   * The proof of a request to the MCP server with the DPoP-bound token held (`ath`, the
   * server's latest nonce; the core builds it), or null for a Bearer token.
   */
  async proof(method, url) {
    const input = this.#flow().resourceProofInput(nowSeconds(), method, url, randomBytes(16));
    return input ? assembleDpopProof(input, await this.sign(input)) : null;
  }
}
