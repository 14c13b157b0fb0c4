// Types of the npm package `mcp-oauth`. `Flow` and the step functions come from the
// wasm-bindgen output (dist/mcp_oauth_wasm.d.ts); McpOAuth, McpOAuthHeadless and McpOAuthError
// are JavaScript. McpOAuthHeadless and HeadlessFlow are in the Node entry only.
export {
  Flow,
  parseBearerChallenge,
  resourceMetadataUrls,
  serverMetadataUrls,
  callbackState,
  bindingErrorCodes,
} from './dist/mcp_oauth_wasm.js';

/** A storage for tokens and pending authorizations: string values, possibly async methods. */
export interface McpOAuthStorage {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  set(key: string, value: string): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

export interface McpOAuthOptions {
  /** The MCP server URL (https, or http on a loopback host). */
  serverUrl: string;
  /** Where the authorization server sends the browser back (registered with the client). */
  redirectUri: string;
  /** `client_name` for dynamic registration (default "mcp-oauth"). */
  clientName?: string;
  /** A pre-registered client. */
  clientId?: string;
  clientSecret?: string;
  /** An https URL serving this client's metadata document (used when the server supports it). */
  clientMetadataUrl?: string;
  /** Scopes to request instead of the server's (space-separated or an array). */
  scopes?: string | string[];
  /**
   * DPoP (RFC 9449) sender-constrained tokens: "auto" (default: when the authorization server
   * advertises DPoP and the MCP server requires it), "always", "never". The Node entry and the
   * browser DPoP entry `mcp-oauth/dpop`; the default browser entry uses Bearer tokens and
   * refuses "always" (README).
   */
  dpop?: 'auto' | 'always' | 'never';
  /** Default "memory". */
  storage?: 'memory' | 'sessionStorage' | 'localStorage' | 'indexedDB' | McpOAuthStorage;
  /** The fetch used for every request (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * What `auth.fetch` does when the user must authorize: a function that gets the authorization
   * URL and may resolve to the callback URL, or "follow" (Node, servers that approve without a
   * user). Without it, `auth.fetch` rejects with code `authorization_required` and `url`.
   */
  onAuthorizationRequired?: 'follow' | ((url: string) => string | null | undefined | Promise<string | null | undefined>);
  /** Whose tokens these are (storage key; default "default"). */
  userId?: string;
  /** How long to wait for the user (default 300000 ms). */
  timeoutMs?: number;
}

export interface McpOAuthStatus {
  state: 'unauthorized' | 'discovering' | 'registering' | 'awaiting_user' | 'exchanging_code' | 'refreshing' | 'logging_out' | 'authorized';
  authorized: boolean;
  serverUrl: string;
  userId: string;
  issuer: string | null;
  /** Unix seconds. */
  expiresAt: number | null;
  refreshable: boolean;
  scope: string | null;
  /** The authorization URL while `awaiting_user`. */
  url: string | null;
  /** The tokens are DPoP-bound (RFC 9449): sent as `DPoP` with a proof, never as Bearer. */
  dpop: boolean;
}

export type McpOAuthEvent =
  | { type: 'status'; status: McpOAuthStatus }
  | { type: 'authorization_required'; url: string }
  | { type: 'registered'; clientId: string }
  | { type: 'tokens'; issuer: string }
  | { type: 'tokens_cleared' }
  /** The server's protected-resource metadata names another authorization server (MCP SEP-2352): the tokens of `from` were dropped; authorization continues at `to`. */
  | { type: 'authorization_server_changed'; from: string; to: string }
  | { type: 'authorized' }
  | { type: 'logged_out' }
  | { type: 'error'; error: McpOAuthError };

export declare class McpOAuth {
  private constructor();
  /** Loads the WebAssembly module (on first create() otherwise); a failure is `wasm_load_failed`, and the next call tries again. `wasmUrl`: where the app serves `mcp_oauth_wasm_bg.wasm`, for bundlers that do not emit it. The low-level exports (`Flow`, `parseBearerChallenge`, …) need it first in browsers. */
  static ready(options?: { wasmUrl?: string | URL }): Promise<void>;
  static create(options: McpOAuthOptions): Promise<McpOAuth>;
  /** On the popup's callback page: hands the callback URL to the opener and closes the popup. */
  static completePopup(): void;
  /** A drop-in fetch: token, 401 → refresh or authorization, 403 insufficient_scope → step-up (capped per operation), then the request again; any other answer (an application's 403 too) is returned as is. */
  readonly fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  authorize(options?: { mode?: 'popup' | 'redirect' | 'follow' | 'manual' }): Promise<McpOAuthStatus>;
  handleRedirect(url?: string): Promise<boolean>;
  accessToken(): Promise<string | null>;
  status(): McpOAuthStatus;
  logout(): Promise<{ hadTokens: boolean; revoked: boolean; revocationError: string | null }>;
  on<T extends McpOAuthEvent['type'] | '*'>(type: T, listener: (event: T extends '*' ? McpOAuthEvent : Extract<McpOAuthEvent, { type: T }>) => void): () => void;
}

/**
 * Every value of `McpOAuthError.code`: the core's error codes and the package's own
 * (`bindingErrorCodes()`), from the one list in core/src/error.rs (a Rust test keeps them equal).
 */
export type McpOAuthErrorCode =
  | 'protected_parameter'
  | 'callback_url_invalid'
  | 'redirect_uri_mismatch'
  | 'callback_malformed_query'
  | 'callback_duplicate_parameter'
  | 'state_missing'
  | 'state_mismatch'
  | 'callback_issuer_missing'
  | 'callback_issuer_mismatch'
  | 'access_denied'
  | 'authorization_error'
  | 'code_missing'
  | 'form_malformed'
  | 'form_too_long'
  | 'form_too_many_pairs'
  | 'unknown_request'
  | 'no_pending_authorization'
  | 'forbidden'
  | 'step_up_limit_reached'
  | 'scope_invalid'
  | 'token_rejected_by_resource'
  | 'authorization_timed_out'
  | 'transport_failed'
  | 'token_for_other_resource'
  | 'snapshot_invalid'
  | 'reauthorization_required'
  | 'not_discovered'
  | 'conflicting_grants'
  | 'no_registration'
  | 'empty_client_name'
  | 'pending_server_mismatch'
  | 'pending_client_changed'
  | 'no_client_identity'
  | 'no_supported_auth_method'
  | 'registration_rejected'
  | 'registration_status'
  | 'registration_not_json'
  | 'registration_malformed'
  | 'registration_missing_field'
  | 'registration_invalid_field'
  | 'registration_unsupported_auth_method'
  | 'registration_secret_expired'
  | 'registration_missing_secret'
  | 'credential_issuer_mismatch'
  | 'resource_metadata_url_invalid'
  | 'resource_metadata_status'
  | 'resource_metadata_not_json'
  | 'resource_metadata_malformed'
  | 'resource_metadata_missing_field'
  | 'resource_metadata_invalid_field'
  | 'resource_metadata_invalid_url'
  | 'resource_mismatch'
  | 'no_authorization_servers'
  | 'resource_metadata_not_found'
  | 'server_metadata_status'
  | 'server_metadata_not_json'
  | 'server_metadata_malformed'
  | 'issuer_mismatch'
  | 'server_metadata_missing_field'
  | 'server_metadata_invalid_field'
  | 'server_metadata_invalid_endpoint'
  | 'code_response_type_not_supported'
  | 'pkce_support_not_advertised'
  | 'pkce_s256_not_supported'
  | 'server_metadata_not_found'
  | 'legacy_issuer_origin_mismatch'
  | 'invalid_grant'
  | 'token_rejected'
  | 'token_status'
  | 'token_not_json'
  | 'token_malformed'
  | 'token_missing_field'
  | 'token_invalid_field'
  | 'unsupported_token_type'
  | 'missing_client_secret'
  | 'missing_client_assertion'
  | 'assertion_signing_failed'
  | 'workload_assertion_unavailable'
  | 'client_authentication_required'
  | 'token_exchange_rejected'
  | 'token_exchange_status'
  | 'token_exchange_not_json'
  | 'token_exchange_malformed'
  | 'token_exchange_missing_field'
  | 'token_exchange_invalid_field'
  | 'issued_token_type_mismatch'
  | 'dpop_url_invalid'
  | 'dpop_method_invalid'
  | 'dpop_algorithm_invalid'
  | 'dpop_no_common_algorithm'
  | 'dpop_signer_missing'
  | 'dpop_signing_failed'
  | 'revocation_rejected'
  | 'revocation_status'
  | 'url_empty'
  | 'url_not_absolute'
  | 'url_unsupported_scheme'
  | 'url_userinfo'
  | 'url_empty_host'
  | 'url_non_ascii_host'
  | 'url_invalid_host'
  | 'url_invalid_port'
  | 'url_invalid_character'
  | 'url_invalid_percent_escape'
  | 'url_insecure_scheme'
  | 'url_fragment'
  | 'url_query'
  | 'url_missing_path'
  | 'url_too_long'
  | 'challenge_malformed'
  | 'challenge_duplicate_parameter'
  | 'challenge_too_long'
  | 'challenge_too_many_parameters'
  | 'invalid_option'
  | 'invalid_argument'
  | 'storage_unavailable'
  | 'storage_failed'
  | 'stored_state_invalid'
  | 'entropy_unavailable'
  | 'popup_unavailable'
  | 'popup_blocked'
  | 'popup_closed'
  | 'authorization_required'
  | 'follow_failed'
  | 'unknown_state'
  | 'wasm_load_failed';

export declare class McpOAuthError extends Error {
  name: 'McpOAuthError';
  /** The stable code shared with the Rust crates (e.g. `access_denied`, `issuer_mismatch`). */
  code: McpOAuthErrorCode;
  /** Present on some codes: the authorization URL, the MCP server, the failed URL, … */
  url?: string;
  serverUrl?: string;
  /** The OAuth error the server sent (`invalid_client`, `invalid_grant`, …), when it sent one. */
  oauthError?: string;
  errorDescription?: string | null;
  /** The option an `invalid_option` error is about. */
  option?: string;
  [field: string]: unknown;
}

// ------------------------------------------------------------------ headless grants (Node only)

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

/** A request to send (never following redirects), as `Flow.pollRequest()` gives them. */
export interface OAuthHttpRequest {
  id: number;
  /** `resource_metadata`, `server_metadata`, `client_registration`, `code_exchange`, `token_refresh`, `revocation`, `client_credentials`, `jwt_bearer`, `identity_assertion_exchange`. */
  purpose: string;
  method: 'GET' | 'POST';
  url: string;
  headers: [string, string][];
  body: Uint8Array;
}

/** A response, as `Flow.handleResponse()` takes them. */
export interface OAuthHttpResponse {
  status: number;
  headers: [string, string][] | Record<string, string>;
  body: string | Uint8Array;
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
