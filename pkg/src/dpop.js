// DPoP keys (RFC 9449) of the Node build: WebCrypto ECDSA P-256 (ES256). The core builds every
// proof's signing input and assembles the proof (wasm/src/dpop.rs); this file makes, stores and
// uses the key, nothing else.
//
// Persistence: the private key goes into the persisted entry with the tokens bound to it
// (`dpop_key`: PKCS#8 DER in hex, the format the native client writes, native/src/dpop.rs), so
// an entry moves between the native client and this package with its key, and the key lives
// and dies with its tokens in whatever storage holds the entry. Node has no IndexedDB to keep a
// non-extractable key in; the key is exactly as protected as the refresh token it guards.

import { assembleDpopProof } from './mcp_oauth_wasm.js';
import { makeError } from './io.js';

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
export async function makeKey() {
  const pair = await subtle().generateKey(ALG, true, ['sign', 'verify']);
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', pair.privateKey));
  const jwk = await subtle().exportKey('jwk', pair.publicKey);
  return key(jwk, pair.privateKey, hex(pkcs8));
}

/** The key stored in an entry (`material`: PKCS#8 in hex). Throws naming what is wrong. */
export async function loadKey(material) {
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

/** The ES256 signature of `input` (RFC 7518 §3.4: R || S, what WebCrypto returns). */
export async function sign(privateKey, input) {
  const sig = await subtle().sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, new TextEncoder().encode(input));
  return new Uint8Array(sig);
}

/** The proof: the core's signing input and the signature (wasm/src/dpop.rs). */
export const proof = assembleDpopProof;
