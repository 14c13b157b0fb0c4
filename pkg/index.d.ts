// Types of the npm package `mcp-oauth`. `Flow` and the step functions come from the
// wasm-bindgen output (dist/mcp_oauth_wasm.d.ts); McpOAuth and McpOAuthError are JavaScript.
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
}

export type McpOAuthEvent =
  | { type: 'status'; status: McpOAuthStatus }
  | { type: 'authorization_required'; url: string }
  | { type: 'registered'; clientId: string }
  | { type: 'tokens'; issuer: string }
  | { type: 'tokens_cleared' }
  | { type: 'authorized' }
  | { type: 'logged_out' }
  | { type: 'error'; error: McpOAuthError };

export declare class McpOAuth {
  private constructor();
  static create(options: McpOAuthOptions): Promise<McpOAuth>;
  /** On the popup's callback page: hands the callback URL to the opener and closes the popup. */
  static completePopup(): void;
  /** A drop-in fetch: token, 401 → refresh or authorization, 403 insufficient_scope → step-up, one retry. */
  readonly fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  authorize(options?: { mode?: 'popup' | 'redirect' | 'follow' | 'manual' }): Promise<McpOAuthStatus>;
  handleRedirect(url?: string): Promise<boolean>;
  accessToken(): Promise<string | null>;
  status(): McpOAuthStatus;
  logout(): Promise<{ hadTokens: boolean; revoked: boolean; revocationError: string | null }>;
  on<T extends McpOAuthEvent['type'] | '*'>(type: T, listener: (event: T extends '*' ? McpOAuthEvent : Extract<McpOAuthEvent, { type: T }>) => void): () => void;
}

export declare class McpOAuthError extends Error {
  name: 'McpOAuthError';
  /** The stable code shared with the Rust crates (e.g. `access_denied`, `issuer_mismatch`). */
  code: string;
  /** Present on some codes: the authorization URL, the MCP server, the failed URL, … */
  url?: string;
  serverUrl?: string;
  [field: string]: unknown;
}
