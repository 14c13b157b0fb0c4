//! The documented options of each authentication `_type` (used for `config schema` and for the
//! unknown-key check of the loader).

/// One documented option.
#[derive(Clone, Copy, Debug)]
pub struct OptionDoc {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub ty: &'static str,
    /// Its default (`required` when there is none).
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

pub(super) const fn opt(
    name: &'static str,
    ty: &'static str,
    default: &'static str,
    meaning: &'static str,
) -> OptionDoc {
    OptionDoc { name, ty, default, meaning }
}

/// The options of `_type: mcp_oauth2`.
pub const MCP_OAUTH2_OPTIONS: &[OptionDoc] = &[
    opt("_type", "string", "required", "`mcp_oauth2`"),
    opt("server_url", "URL", "required", "the MCP server (streamable HTTP endpoint) the tokens are for"),
    opt("redirect_uri", "URL", crate::client::DEFAULT_REDIRECT_URI, "where the browser returns; a loopback URI without a port listens on 8000, port 0 picks a free port"),
    opt("client_id", "string", "none", "a client id issued by the authorization server; skips registration"),
    opt("client_secret", "string", "none", "the secret of client_id (confidential clients)"),
    opt("client_issuer", "issuer URL or list of them", "the first issuer client_id is used with (pinned)", "the authorization servers client_id belongs to; its secret or key is never sent to another"),
    opt("enable_dynamic_registration", "bool", "true", "register with RFC 7591 when the server offers it; ignored when client_id is set"),
    opt("client_name", "string", "mcp-oauth", "the client_name sent at dynamic registration"),
    opt("token_endpoint_auth_method", "none | client_secret_basic | client_secret_post | private_key_jwt", "chosen from the server's metadata (private_key_jwt with private_key_file)", "how client_id authenticates at the token endpoint"),
    opt("private_key_file", "path", "none", "PEM private key (PKCS#8; PKCS#1 for RSA) of client_id for private_key_jwt"),
    opt("signing_alg", "ES256 | RS256", "ES256", "the JWS algorithm of private_key_file"),
    opt("scopes", "list of strings (or one space-separated string)", "the server's (challenge, then metadata)", "scopes to request"),
    opt("dpop", "auto | always | never", "auto", "DPoP-bound tokens (RFC 9449): auto = when the authorization server offers DPoP and the MCP server needs it"),
    opt("use_pkce", "bool", "true", "must stay true: PKCE S256 is required by the MCP specification; `false` is rejected"),
    opt("default_user_id", "string", "default", "the user whose tokens are used when none is named (--user wins)"),
    opt("token_storage", "memory | file | redis, or {type: file, dir: PATH} | {type: redis, url: redis://…, key_prefix: STRING} | {type: mysql, url: mysql://…/DB, table: NAME} | {type: s3, bucket: NAME, prefix: STRING, region: STRING, endpoint: URL}", "file", "where tokens are kept; redis, mysql and s3 need the multi-user server (s3: credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)"),
    opt("client_metadata_url", "https URL", "none", "a Client ID Metadata Document URL, used when the server supports it"),
    opt("server_policies", "map issuer → {danger_assume_pkce_s256: bool, danger_omit_resource: bool, authorization_params: map}", "none", "per-authorization-server risk acceptance and extra authorization-request parameters"),
];

/// The options of `_type: mcp_service_account`.
pub const MCP_SERVICE_ACCOUNT_OPTIONS: &[OptionDoc] = &[
    opt("_type", "string", "required", "`mcp_service_account`"),
    opt("token_url", "URL", "required", "the token endpoint; discovery is skipped"),
    opt("client_id", "string", "required", "the service account's client id"),
    opt("client_secret", "string", "required unless private_key_jwt", "its secret"),
    opt(
        "token_endpoint_auth_method",
        "client_secret_basic | client_secret_post | private_key_jwt",
        "client_secret_basic (private_key_jwt with private_key_file)",
        "client authentication (RFC 6749 §2.3.1, RFC 7523)",
    ),
    opt(
        "private_key_file",
        "path",
        "none",
        "PEM private key (PKCS#8; PKCS#1 for RSA) for private_key_jwt",
    ),
    opt("signing_alg", "ES256 | RS256", "ES256", "the JWS algorithm of the client assertion"),
    opt(
        "issuer",
        "URL",
        "token_url",
        "the authorization server's issuer: the `aud` of client assertions",
    ),
    opt("scopes", "list of strings (or one space-separated string)", "none", "scopes to request"),
    opt(
        "token_cache_buffer_seconds",
        "integer",
        "60",
        "replace the cached token this many seconds before it expires",
    ),
    opt(
        "service_token",
        "string",
        "none",
        "a second service token sent on every MCP request in service_token_header",
    ),
    opt(
        "service_token_header",
        "header name",
        "X-Service-Token",
        "the header carrying service_token",
    ),
    opt(
        "send_resource",
        "bool",
        "true",
        "send the RFC 8707 `resource` (the MCP server URL) with the token request",
    ),
    opt("dpop", "auto | always | never", "auto", HEADLESS_DPOP_DOC),
];

/// The `dpop` option of the headless providers.
pub(super) const HEADLESS_DPOP_DOC: &str = "DPoP-bound tokens (RFC 9449): auto = when the MCP server needs them (with token_url: its DPoP challenge; else also the authorization server's metadata); the key lives in memory with the token";

/// The options of a function group's `server` (`config schema server`).
pub const SERVER_OPTIONS: &[OptionDoc] = &[
    opt("transport", "streamable-http | sse | stdio", "streamable-http", "how the MCP server is reached: streamable HTTP (with OAuth), the HTTP+SSE transport of MCP 2024-11-05 (no authorization), or a local process speaking MCP on stdin/stdout (no authorization)"),
    opt("url", "URL", "required for streamable-http and sse", "the MCP endpoint (sse: the SSE stream's URL)"),
    opt("auth_provider", "name under authentication", "none", "how requests are authorized (streamable-http only; refused on sse and stdio)"),
    opt("command", "string", "required for stdio", "the program to start (looked up on PATH); stopped when the session ends: stdin closed, SIGTERM after 2 s, SIGKILL after 2 s more"),
    opt("args", "list of strings (or one space-separated string)", "none", "its arguments (stdio)"),
    opt("env", "map name → string", "none", "variables set for it (stdio); only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG and TMPDIR are inherited from mcp-oauth's environment"),
    opt("cwd", "path", "mcp-oauth's working directory", "its working directory (stdio)"),
];

/// The options of each `_type`, by name (for `config schema`), and of `server`.
pub fn schema(kind: &str) -> Option<&'static [OptionDoc]> {
    match kind {
        "server" => Some(SERVER_OPTIONS),
        "mcp_oauth2" => Some(MCP_OAUTH2_OPTIONS),
        "mcp_service_account" => Some(MCP_SERVICE_ACCOUNT_OPTIONS),
        "mcp_workload_identity" => Some(super::workload::MCP_WORKLOAD_IDENTITY_OPTIONS),
        _ => None,
    }
}

/// The schema as a table (what `mcp-oauth config schema KIND` prints).
pub fn schema_text(kind: &str) -> Option<String> {
    let options = schema(kind)?;
    let mut out = format!("{kind} options:\n");
    for o in options {
        out.push_str(&format!(
            "  {}\n      type:    {}\n      default: {}\n      {}\n",
            o.name, o.ty, o.default, o.meaning
        ));
    }
    Some(out)
}
