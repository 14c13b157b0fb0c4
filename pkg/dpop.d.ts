// Types of the browser DPoP entry `mcp-oauth/dpop` (and, through node.d.ts, of the Node entry):
// the browser entry's, with the Flow's DPoP steps (RFC 9449; wasm/src/dpop.rs).
import { Flow as BrowserFlow } from './index.js';

export * from './index.js';

/** Flow with DPoP (RFC 9449): the host signs proofs with its own key. */
export declare class Flow extends BrowserFlow {
  /** The host signs proofs with an ES256 key it makes when dpopKeyWanted() says so. */
  useHostDpopSigning(): void;
  /** The public half of the host's ES256 key (JWK `x`, `y`, base64url); returns its RFC 7638 thumbprint. */
  setDpopKey(x: string, y: string): string;
  /** A proof waits for a key the host has not given yet. */
  dpopKeyWanted(): boolean;
  /** The next proof to sign; `jtiRandom`: 16 bytes from crypto.getRandomValues. */
  pollProof(jtiRandom: Uint8Array): { id: number; signingInput: string } | undefined;
  /** The ES256 signature (64 bytes `R || S`, as WebCrypto's ECDSA sign returns) of proof `id`. */
  provideProofSignature(id: number, signature: Uint8Array | number[]): void;
  handleProofSigningError(id: number, message: string): void;
  /** The signing input of the proof for a request to the MCP server with the DPoP-bound token held; undefined for a Bearer token or none. */
  resourceProofInput(now: number, method: string, url: string, jtiRandom: Uint8Array): string | undefined;
  /** The host's reference to its private key, persisted with the tokens; null to forget it. */
  setDpopKeyMaterial(material?: string | null): void;
  dpopKeyMaterial(): string | undefined;
}

/** The compact JWS of a proof: its signing input and signature (RFC 7515 §7.1). */
export declare function assembleDpopProof(signingInput: string, signature: Uint8Array | number[]): string;
