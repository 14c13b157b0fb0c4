//! The command line: options, subcommands and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error
  2  usage error (bad options, unknown tool)
  3  authorization failed (denied, timed out, server metadata or registration refused,
     token request rejected)
  4  not authorized yet (run `mcp-oauth login --url URL` or pass --auth)
  5  the MCP server failed (connection refused by it, protocol error, tool error)
  6  network error reaching a server
  7  token store error (unreadable, wrong key)
  130 cancelled with Ctrl-C";

#[derive(Parser, Debug)]
#[command(name = "mcp-oauth", version, about = "MCP client with OAuth 2 authorization", after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) opts: Opts,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct Opts {
    /// A configuration file (YAML: function_groups, authentication); see `config schema`.
    #[arg(long, global = true, env = "MCP_OAUTH_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The function group of --config to use (its server URL and authentication).
    #[arg(long, global = true, env = "MCP_OAUTH_GROUP", value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// How to obtain tokens.
    #[arg(long, global = true, env = "MCP_OAUTH_GRANT", value_enum, default_value_t = Grant::AuthorizationCode)]
    pub(crate) grant: Grant,
    /// The redirect URI (a loopback URI without a port listens on 8000; port 0 picks a free one)
    /// [default: http://localhost:8000/auth/redirect].
    #[arg(long, global = true, env = "MCP_OAUTH_REDIRECT_URI")]
    pub(crate) redirect_uri: Option<String>,
    /// A client id issued by the authorization server (skips registration).
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// The client secret of --client-id.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// The issuer --client-id belongs to (repeatable); its secret or key is never sent to
    /// another [default: the first issuer it is used with, pinned].
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_ISSUER", value_delimiter = ',')]
    pub(crate) client_issuer: Vec<String>,
    /// How --client-id authenticates at the token endpoint (none, client_secret_basic,
    /// client_secret_post, private_key_jwt) [default: client_secret_basic with a secret,
    /// private_key_jwt with --private-key].
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_TOKEN_ENDPOINT_AUTH_METHOD",
        value_name = "METHOD"
    )]
    pub(crate) token_endpoint_auth_method: Option<String>,
    /// A PEM private key (PKCS#8; PKCS#1 for RSA) for private_key_jwt client authentication.
    #[arg(long, global = true, env = "MCP_OAUTH_PRIVATE_KEY", value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,
    /// The algorithm of --private-key.
    #[arg(long, global = true, env = "MCP_OAUTH_SIGNING_ALG", value_enum, default_value_t = Alg::Es256)]
    pub(crate) signing_alg: Alg,
    /// Cross-app access: the identity provider's token endpoint (RFC 8693 exchange).
    #[arg(long, global = true, env = "MCP_OAUTH_IDP_TOKEN_ENDPOINT", value_name = "URL")]
    pub(crate) idp_token_endpoint: Option<String>,
    /// Cross-app access: the user's ID token from the identity provider.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_ID_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) id_token: Option<String>,
    /// Cross-app access: this client's id at the identity provider.
    #[arg(long, global = true, env = "MCP_OAUTH_IDP_CLIENT_ID", value_name = "ID")]
    pub(crate) idp_client_id: Option<String>,
    /// Cross-app access: the secret of --idp-client-id.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_IDP_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub(crate) idp_client_secret: Option<String>,
    /// Workload identity (--grant jwt-bearer): a file holding the platform's JWT (a Kubernetes
    /// service-account token, a cloud identity token), read again for every token request;
    /// without it, the environment variable MCP_OAUTH_ASSERTION.
    #[arg(long, global = true, env = "MCP_OAUTH_ASSERTION_FILE", value_name = "FILE")]
    pub(crate) assertion_file: Option<PathBuf>,
    /// A Client ID Metadata Document URL, used when the server supports it.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_METADATA_URL")]
    pub(crate) client_metadata_url: Option<String>,
    /// Scopes to request (space-separated), instead of the server's.
    #[arg(long, global = true, env = "MCP_OAUTH_SCOPE")]
    pub(crate) scope: Option<String>,
    /// How to get the user's consent.
    #[arg(long, global = true, env = "MCP_OAUTH_BROWSER", value_enum, default_value_t = Browser::Open)]
    pub(crate) browser: Browser,
    /// DPoP-bound tokens (RFC 9449), for every grant: auto = when the authorization server
    /// offers DPoP and the server needs it [default: auto, or the configuration's `dpop`].
    #[arg(long, global = true, env = "MCP_OAUTH_DPOP", value_enum)]
    pub(crate) dpop: Option<Dpop>,
    /// Where tokens are kept [default: file].
    #[arg(long, global = true, env = "MCP_OAUTH_TOKEN_STORE", value_enum)]
    pub(crate) token_store: Option<StoreKind>,
    /// The directory of the file store (default: $XDG_DATA_HOME/mcp-oauth or ~/.local/share/mcp-oauth).
    #[arg(long, global = true, env = "MCP_OAUTH_STORE_DIR")]
    pub(crate) store_dir: Option<PathBuf>,
    /// The user the tokens belong to [default: the config's default_user_id, else "default"].
    #[arg(long, global = true, env = "MCP_OAUTH_USER")]
    pub(crate) user: Option<String>,
    /// Seconds to wait for the authorization in the browser.
    #[arg(long, global = true, env = "MCP_OAUTH_TIMEOUT", default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Print results as JSON.
    #[arg(long, global = true, env = "MCP_OAUTH_JSON")]
    pub(crate) json: bool,
    /// Accept an authorization server (by issuer) that does not advertise PKCE S256 support;
    /// PKCE S256 is still used. Repeatable.
    #[arg(long, global = true, value_name = "ISSUER")]
    pub(crate) danger_assume_pkce_s256: Vec<String>,
    /// Send no `resource` parameter to this authorization server (by issuer). Repeatable.
    #[arg(long, global = true, value_name = "ISSUER")]
    pub(crate) danger_omit_resource: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Grant {
    /// A user authorizes in the browser (authorization code + PKCE).
    AuthorizationCode,
    /// The client's own token (RFC 6749 §4.4), with a secret or private_key_jwt.
    ClientCredentials,
    /// Enterprise-managed authorization (SEP-990): ID token → ID-JAG at the identity provider →
    /// access token (RFC 8693, RFC 7523).
    CrossApp,
    /// Workload identity (SEP-1933): the platform's JWT (--assertion-file or
    /// MCP_OAUTH_ASSERTION) for an access token (RFC 7523 §2.1).
    JwtBearer,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[value(name = "RS256")]
    Rs256,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum Dpop {
    /// When the authorization server offers DPoP and the MCP server needs it.
    Auto,
    /// On every token request.
    Always,
    /// Never: Bearer tokens.
    Never,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum Browser {
    /// Open the system browser ($BROWSER, else the OS opener).
    Open,
    /// Print the URL to open.
    Print,
    /// Follow the authorization server's redirects without a browser (auto-approving servers).
    Follow,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum StoreKind {
    /// Encrypted files in --store-dir.
    File,
    /// In memory, for this run only.
    Memory,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// List or call tools.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
    },
    /// Authorize now (opens the browser) and store the tokens.
    Login(UrlArg),
    /// Show what is stored (for one server with --url).
    Status(OptionalUrlArg),
    /// Revoke the tokens (when the server supports it) and delete them locally.
    Logout(UrlArg),
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the multi-user server: many users, each asked for consent in their own browser when
    /// a tool call needs it (HTTP and WebSocket API, /healthz, /readyz; stops on SIGTERM).
    #[cfg(feature = "server")]
    Serve(Box<crate::serve::ServeArgs>),
    /// Serve MCP over stdio to a host that speaks only stdio, forwarding to --url (streamable
    /// HTTP) with OAuth authorization; the instances of one user and server share one
    /// authorization through the token store (one browser tab, one registration).
    Proxy(crate::proxy::ProxyArgs),
    /// Maintain a token store (key rotation).
    Store {
        #[command(subcommand)]
        command: crate::reseal::StoreCommand,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print every option of an authentication `_type` (mcp_oauth2, mcp_service_account,
    /// mcp_workload_identity), or of a function group's `server`, with its type, default and
    /// meaning.
    Schema {
        /// The `_type` (mcp_oauth2, mcp_service_account, mcp_workload_identity), or `server`.
        kind: String,
    },
    /// Load --config (interpolating the environment) and list its groups, or say what is wrong.
    Check,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ToolsCommand {
    /// List the tools of an MCP server.
    List {
        #[command(flatten)]
        url: UrlArg,
        /// Authorize with OAuth when the server asks for it.
        #[arg(long)]
        auth: bool,
    },
    /// Call a tool.
    Call {
        /// The tool's name.
        #[arg(long)]
        name: String,
        /// The arguments as a JSON object.
        #[arg(long)]
        args: Option<String>,
        /// Authorize with OAuth when the server asks for it.
        #[arg(long)]
        auth: bool,
        #[command(flatten)]
        url: UrlArg,
    },
}

#[derive(Args, Debug)]
pub(crate) struct UrlArg {
    /// The MCP server's URL (streamable HTTP) [default: the --group's server: streamable-http,
    /// sse or stdio].
    #[arg(long, env = "MCP_OAUTH_URL")]
    pub(crate) url: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct OptionalUrlArg {
    /// The MCP server's URL.
    #[arg(long, env = "MCP_OAUTH_URL")]
    pub(crate) url: Option<String>,
}
