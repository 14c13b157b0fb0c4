// Types of the Node entry (the `node` condition of `mcp-oauth` and `mcp-oauth/dpop`): the browser
// entry's with DPoP (dpop.d.ts), plus the headless grants (McpOAuthHeadless, HeadlessFlow).
import type { OAuthHttpRequest, OAuthHttpResponse } from './index.js';

export * from './dpop.js';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface McpOAuthHeadlessOptions {
  /** The MCP server URL (the `resource`, and where discovery starts). */
  serverUrl: string;
  /** Default 'client_credentials'. 'jwt_bearer': workload identity (SEP-1933), with `assertion`. */
  grant?: 'client_credentials' | 'cross_app' | 'service_account' | 'jwt_bearer';
  /** grant 'jwt_bearer': the platform's JWT (a Kubernetes service-account token, a cloud identity token), or a function returning it, called for every token request (platforms rotate it). A refused one (`invalid_grant`, `invalid_scope`, `unauthorized_client`) rejects with the server's error; nothing is retried. */
  assertion?: string | (() => string | Promise<string>);
  /** The client at the MCP server's authorization server. */
  clientId: string;
  clientSecret?: string;
  /** Default (chosen by the core): `private_key_jwt` with a key; with a secret, what the server's metadata lists (client_secret_basic first, also when it says nothing). */
  authMethod?: TokenEndpointAuthMethod;
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) for private_key_jwt. */
  privateKey?: string;
  /** Default 'ES256'. */
  signingAlg?: 'ES256' | 'RS256';
  /** Scopes to request (default: the protected-resource metadata's `scopes_supported`). */
  scopes?: string | string[];
  /** grant 'service_account' (or 'jwt_bearer', optional): the token endpoint (no discovery). */
  tokenUrl?: string;
  /** grant 'service_account': the issuer (assertion audience; default: tokenUrl). */
  issuer?: string;
  /** A second service token sent on every MCP request, in `serviceTokenHeader`. */
  serviceToken?: string;
  /** Default 'X-Service-Token'. */
  serviceTokenHeader?: string;
  /** grant 'cross_app': the identity provider and the user's ID token. */
  /** grant 'cross_app': the identity provider (its token endpoint, or its issuer: then its metadata gives the endpoint and the auth methods) and the user's ID token. */
  idp?: { tokenEndpoint?: string; issuer?: string; clientId: string; clientSecret?: string; authMethod?: TokenEndpointAuthMethod; idToken: string };
  /** Replace the token this long before it expires (default 60). */
  refreshBufferSeconds?: number;
  /** The fetch used for every request (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface McpOAuthHeadlessStatus {
  grant: 'client_credentials' | 'cross_app' | 'service_account' | 'jwt_bearer';
  serverUrl: string;
  issuer: string | null;
  authorized: boolean;
  /** Unix seconds. */
  expiresAt: number | null;
  scope: string | null;
}

/** Access tokens without a user (Node entry only). */
export declare class McpOAuthHeadless {
  private constructor();
  static create(options: McpOAuthHeadlessOptions): Promise<McpOAuthHeadless>;
  /** A drop-in fetch: adds the token (and the service token); on 401 drops it and retries once. */
  readonly fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** The cached token while fresh (with the refresh buffer), else a new one; single-flight. */
  accessToken(): Promise<string>;
  status(): McpOAuthHeadlessStatus;
}

/** The core's headless flow (Node entry only), driven by McpOAuthHeadless: one drain loop over pollRequest / pollSignature / pollEvent. */
export declare class HeadlessFlow {
  constructor(options: {
    serverUrl: string; clientId: string; clientSecret?: string; authMethod?: TokenEndpointAuthMethod; privateKeyJwt?: boolean;
    scopes?: string | string[]; tokenUrl?: string; issuer?: string; refreshBufferSeconds?: number; workloadIdentity?: boolean;
    idp?: { tokenEndpoint?: string; issuer?: string; clientId: string; clientSecret?: string; authMethod?: TokenEndpointAuthMethod; privateKeyJwt?: boolean; idToken: string };
  });
  begin(now: number): void;
  /** The MCP server's answer to a request carrying `used`: true = drain and send again with accessToken(); false = the response is the caller's. Throws token_rejected_by_resource when no new token helps. */
  handleResourceResponse(now: number, status: number, wwwAuthenticate?: string | null, used?: string | null): boolean;
  pollRequest(): OAuthHttpRequest | undefined;
  handleResponse(now: number, id: number, response: OAuthHttpResponse): void;
  handleTransportError(now: number, id: number, message: string): void;
  /** A JWS payload to sign with the key of `signer`'s client; `jtiRandom`: 16 bytes from crypto.getRandomValues. Signer 'workload' (workloadIdentity): answer with the platform's JWT as it is now. */
  pollSignature(jtiRandom: Uint8Array): { id: number; signer: 'authorization_server' | 'identity_provider'; payload: string } | { id: number; signer: 'workload'; audience: string } | undefined;
  provideAssertion(now: number, id: number, jwt: string): void;
  handleSigningError(id: number, message: string): void;
  pollEvent(): { type: string; error?: unknown } | undefined;
  accessToken(now: number): string | undefined;
  lastToken(): string | undefined;
  readonly busy: boolean;
  authorizationHeader(now: number, url: string): string | undefined;
  readonly serverUrl: string;
  status(now: number): { serverUrl: string; issuer: string | null; authorized: boolean; expiresAt: number | null; scope: string | null };
  free(): void;
}
export declare function clientAssertionClaims(clientId: string, audience: string, now: number, jtiRandom?: Uint8Array): {
  iss: string; sub: string; aud: string; iat: number; exp: number; jti: string;
};
