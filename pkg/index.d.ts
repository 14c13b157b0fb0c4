// Types of the npm package `mcp-oauth`, browser entry (the default condition). The Node entry's
// are node.d.ts (this plus the headless grants and DPoP), the browser DPoP entry's dpop.d.ts.
// `Flow` and the step functions are the WebAssembly module's (wasm/src/steps.rs), typed here by
// hand (wasm-bindgen's own declarations say `any` and need `esnext.disposable`); McpOAuth and
// McpOAuthError are JavaScript (pkg/src). Checked by tests/bundlers/types under `strict` and
// `skipLibCheck: false`.

/** The core's state machine (wasm/src/steps.rs), driven by McpOAuth; in browsers it exists once `await McpOAuth.ready()` resolved. Times are Unix seconds. */
export declare class Flow {
  /** The core's part of McpOAuthOptions: serverUrl, redirectUri (required), clientName, clientId, clientSecret, clientMetadataUrl, scopes, dpop. Anything else is refused with `invalid_option`. */
  constructor(options: FlowOptions);
  readonly serverUrl: string;
  readonly redirectUri: string;
  /** The MCP server's answer to a request made with token `used`: `true` = drain, finish what waits for the user, then send again with accessToken(); `false` = the response is the caller's. Throws when no retry can help. */
  handleResourceResponse(now: number, status: number, wwwAuthenticate: string | null | undefined, used: string | null | undefined, method: string, body: string | null | undefined, entropy: Uint8Array, dpopNonce?: string | null): boolean;
  /** Starts an authorization; `entropy`: 64 bytes from crypto.getRandomValues. */
  beginAuthorization(now: number, entropy: Uint8Array): void;
  pollRequest(): OAuthHttpRequest | undefined;
  handleResponse(now: number, id: number, response: OAuthHttpResponse): void;
  /** Request `id` got no HTTP response (network, CORS, timeout). */
  handleTransportError(now: number, id: number, message: string): void;
  handleCallback(now: number, url: string): void;
  handleTimeout(now: number): void;
  /** When handleTimeout() is due (Unix seconds), if ever. */
  pollTimeout(): number | undefined;
  pollEvent(): FlowEvent | undefined;
  /** `Bearer <token>` (`DPoP <token>` for a DPoP-bound token) for a request to `url` while a fresh token is held; throws `token_for_other_resource` outside the token's resource. */
  authorizationHeader(now: number, url: string): string | undefined;
  logout(now: number): void;
  status(now: number): FlowStatus;
  /** What a host keeps for `user` (the core's persisted entry, the format the native stores write). */
  entry(user: string): { issuer: string; entry: string } | undefined;
  /** What a page load needs to finish the pending authorization (an encoded entry, without tokens). */
  pendingEntry(user: string): string | undefined;
  /** Loads an encoded entry of `user`; refuses another user's or another server's, naming what is wrong. */
  loadEntry(text: string, user: string): void;
  pendingState(): string | undefined;
  accessToken(now: number): string | undefined;
  hasTokens(): boolean;
  canRevoke(): boolean;
  cancel(): void;
  /** Frees the WebAssembly memory of this flow. */
  free(): void;
}

/** The core's options (the Flow constructor's; McpOAuthOptions adds the host's). */
export interface FlowOptions {
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
}

/** What Flow.pollEvent() gives. */
export type FlowEvent =
  | { type: 'metadata_discovered'; issuer: string }
  | { type: 'legacy_discovery' }
  | { type: 'client_registered'; clientId: string }
  | { type: 'authorization_pending' }
  | { type: 'open_browser'; url: string }
  | { type: 'tokens_updated'; issuer: string }
  | { type: 'tokens_cleared' }
  | { type: 'authorization_server_changed'; from: string; to: string }
  | { type: 'authorized' }
  | { type: 'failed'; error: McpOAuthError }
  | { type: 'other' };

/** Flow.status(): McpOAuthStatus without the host's userId. */
export type FlowStatus = Omit<McpOAuthStatus, 'userId'>;

/** The `Bearer` challenge of a 401/403 `WWW-Authenticate` value (RFC 6750 §3, RFC 9728 §5.1), or null without one; throws on a malformed header. */
export declare function parseBearerChallenge(wwwAuthenticate: string): {
  resourceMetadata: string | null; scope: string | null; error: string | null; errorDescription: string | null;
} | null;
/** The protected-resource metadata URLs to try, in order (RFC 9728 §3.1). */
export declare function resourceMetadataUrls(serverUrl: string, headerUrl?: string | null): string[];
/** The authorization-server metadata URLs to try, in order (RFC 8414 §3.1, OIDC Discovery §4). */
export declare function serverMetadataUrls(issuer: string): string[];
/** The `state` parameter of a callback URL. */
export declare function callbackState(url: string): string | undefined;
/** The codes the binding adds to the core's (each in McpOAuthErrorCode). */
export declare function bindingErrorCodes(): McpOAuthErrorCode[];

/** A storage for tokens and pending authorizations: string values, possibly async methods. */
export interface McpOAuthStorage {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  set(key: string, value: string): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

export interface McpOAuthOptions extends FlowOptions {
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
 * (`bindingErrorCodes()`). Generated from the Rust lists (core/src/error.rs CORE_CODES,
 * wasm/src/error.rs BINDING_CODES): `MCP_OAUTH_UPDATE_CODES=1 cargo test -p mcp-oauth-core --test
 * error_codes` writes it, and the same test fails when it is stale.
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
  /** The failed or awaited URL (transport failures, `authorization_required`, `follow_failed`, `wasm_load_failed`). */
  url?: string;
  /** The MCP server (`authorization_required`). */
  serverUrl?: string;
  /** What the failed request was for (transport failures: `resource_metadata`, `token_refresh`, …). */
  purpose?: string;
  /** The OAuth error the server sent (`invalid_client`, `invalid_grant`, …), when it sent one. */
  oauthError?: string;
  errorDescription?: string | null;
  /** The option an `invalid_option` error is about. */
  option?: string;
  /** The storage kind (`storage_unavailable`). */
  storage?: string;
  /** The storage key (`storage_failed`, `stored_state_invalid`). */
  key?: string;
  /** `get`, `set` or `delete` (`storage_failed`). */
  operation?: string;
  /** The HTTP status (`follow_failed`). */
  status?: number;
  cause?: unknown;
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
