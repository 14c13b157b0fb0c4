// DPoP keys (RFC 9449) of the Node build: WebCrypto ECDSA P-256 (ES256). The core builds every
// proof's signing input and assembles the proof (wasm/src/dpop.rs); this file makes, stores and
// uses the key, nothing else. (In Node the drain loop's import of this file is the only one.)
//
// Persistence: the private key goes into the persisted entry with the tokens bound to it
// (`dpop_key`: PKCS#8 DER in hex, the format the native client writes, native/src/dpop.rs), so
// an entry moves between the native client and this package with its key, and the key lives
// and dies with its tokens in whatever storage holds the entry. Node has no IndexedDB to keep a
// non-extractable key in; the key is exactly as protected as the refresh token it guards.

import { assembleDpopProof } from './mcp_oauth_wasm.js';
import { makeError, nowSeconds, randomBytes } from './io.js';

export const available = true;

const ALG = { name: 'ECDSA', namedCurve: 'P-256' };

const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw makeError('entropy_unavailable', 'DPoP needs WebCrypto (crypto.subtle): Node >= 20');
  return s;
};

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** A key from its public JWK and private CryptoKey: `{ x, y, privateKey, material }`. */
function key(jwk, privateKey, material) {
  return { x: jwk.x, y: jwk.y, privateKey, material };
}

/** A new ES256 key pair. */
async function makeKey() {
  const pair = await subtle().generateKey(ALG, true, ['sign', 'verify']);
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', pair.privateKey));
  const jwk = await subtle().exportKey('jwk', pair.publicKey);
  return key(jwk, pair.privateKey, hex(pkcs8));
}

/** The key stored in an entry (`material`: PKCS#8 in hex). Throws naming what is wrong. */
async function loadKey(material) {
  // The browser DPoP build's reference to a non-extractable key in that browser (pkg/src/dpop-browser.js).
  if (material.startsWith('webcrypto:')) {
    throw new Error(`the stored DPoP key is a browser's non-extractable WebCrypto key (${material.split(':', 2).join(':')}:…), which only that browser holds`);
  }
  if (!/^(?:[0-9a-f]{2})+$/i.test(material)) {
    throw new Error('the stored DPoP key is not PKCS#8 in hexadecimal');
  }
  const der = new Uint8Array(material.match(/../g).map((b) => parseInt(b, 16)));
  let privateKey;
  let jwk;
  try {
    // Extractable once, to read the public coordinates; the signing key is not.
    const full = await subtle().importKey('pkcs8', der, ALG, true, ['sign']);
    jwk = await subtle().exportKey('jwk', full);
    privateKey = await subtle().importKey('pkcs8', der, ALG, false, ['sign']);
  } catch (e) {
    throw new Error(`the stored DPoP key is not a P-256 PKCS#8 key (${(e && e.message) || e})`);
  }
  return key(jwk, privateKey, material.toLowerCase());
}

/**
 * The DPoP key of one McpOAuth, for its current flow (`flow()`): made when the flow first wants
 * one, loaded with the entry it is stored in, and the signer of the drain loop (pkg/src/io.js).
 */
export class DpopKeys {
  #flow;
  #key = null;

  constructor(flow) {
    this.#flow = flow;
  }

  #use(k) {
    this.#flow().setDpopKeyMaterial(k.material);
    this.#flow().setDpopKey(k.x, k.y);
    this.#key = k;
  }

  /**
   * The drain loop's DPoP step (pkg/src/io.js) on `flow`: makes the key when the flow wants
   * one, then signs the next proof it asks for and answers through `answer` (which keeps the
   * first error). True when there was a proof.
   */
  async step(flow, answer) {
    if (flow.dpopKeyWanted()) {
      try {
        this.#use(await makeKey());
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

  /**
   * The key of the entry just loaded into the flow (`dpop_key`). DPoP-bound tokens without it
   * throw (a clear error, never a Bearer request nor a silent new login): the entry holds the
   * key and its tokens together, so one without the other was written by a host without DPoP
   * or damaged, and the caller decides (logout() and a new authorization).
   */
  async adopt() {
    this.#key = null;
    const material = this.#flow().dpopKeyMaterial();
    if (material) this.#use(await loadKey(material));
    else if (this.#flow().status(nowSeconds()).dpop) {
      throw new Error('its tokens are DPoP-bound (RFC 9449) and it holds no DPoP key for them');
    }
  }

  /** logout(): the key was in the entry, deleted with it. */
  async discard() {
    this.#key = null;
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
