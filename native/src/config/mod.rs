//! The configuration file: MCP servers (`function_groups`) and how each authorizes
//! (`authentication`), in the YAML shape of the agent system this crate replaces. Loaded by the
//! CLI (`--config FILE --group NAME`) and meant for the multi-user server too.
//!
//! ```yaml
//! function_groups:
//!   mcp_jira:
//!     _type: per_user_mcp_client        # or mcp_client
//!     server:
//!       transport: streamable-http      # or sse, stdio
//!       url: ${CORPORATE_MCP_JIRA_URL}
//!       auth_provider: mcp_oauth2_jira
//!   files:
//!     _type: mcp_client
//!     server:
//!       transport: stdio                # a local process; no auth_provider
//!       command: npx
//!       args: [-y, "@modelcontextprotocol/server-filesystem", /data]
//!       env: {LOG_LEVEL: info}          # over PATH, HOME, USER, … (nothing else is inherited)
//!       cwd: /srv/mcp
//!   legacy:
//!     _type: mcp_client
//!     server: {transport: sse, url: "https://legacy.example/sse"}   # MCP 2024-11-05; no auth
//! authentication:
//!   mcp_oauth2_jira:
//!     _type: mcp_oauth2
//!     server_url: ${CORPORATE_MCP_JIRA_URL}
//!     redirect_uri: ${MCP_OAUTH_REDIRECT_URI:-http://localhost:8000/auth/redirect}
//! ```
//!
//! `${VAR}` and `${VAR:-default}` are replaced in string values (after parsing, so a variable
//! can never add YAML structure); `$$` is a literal `$`. The default applies when the variable
//! is unset or empty. Every error names the YAML path it is about
//! (`authentication.mcp_oauth2_jira.use_pkce: …`). The options of each `_type` are listed, with
//! type, default and meaning, by [`schema`] (`mcp-oauth config schema mcp_oauth2`).
//!
//! The file is read with `serde_yaml_ng` into a generic value and walked here by hand instead of
//! derived, so that unknown keys, wrong types and missing variables are reported with their
//! exact path.

use std::fmt;
#[cfg(feature = "config")]
use std::path::Path;
use std::path::PathBuf;

#[cfg(feature = "config")]
use serde_yaml_ng::Value;

use mcp_oauth_core::token::TokenEndpointAuth;

use crate::signer::SigningAlg;

/// What is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigError {
    /// The YAML path (`authentication.mcp_oauth2_jira.use_pkce`), or the file for parse errors.
    pub path: String,
    /// What is wrong there.
    pub problem: ConfigProblem,
}

/// The kinds of configuration errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The file is not YAML.
    #[error("not valid YAML: {0}")]
    Yaml(String),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// A key this section does not have.
    #[error("unknown key; expected one of: {allowed}")]
    UnknownKey {
        /// The keys allowed here.
        allowed: String,
    },
    /// A value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("required")]
    Missing,
    /// `${VAR}` names an unset variable and gives no default.
    #[error("environment variable {name} is not set and `${{{name}}}` has no default (write `${{{name}:-default}}`)")]
    MissingVariable {
        /// The variable.
        name: String,
    },
    /// `${…}` that is not `${NAME}` or `${NAME:-default}`.
    #[error(
        "bad variable reference `{0}`: write ${{NAME}} or ${{NAME:-default}} ($$ for a literal $)"
    )]
    BadInterpolation(String),
    /// A value outside its allowed set or format.
    #[error("{0}")]
    InvalidValue(String),
    /// `use_pkce: false`.
    #[error(
        "PKCE cannot be disabled: the MCP authorization specification requires PKCE (S256) for \
         every authorization; servers that support it without advertising it need a \
         `server_policies.<issuer>.danger_assume_pkce_s256: true` instead"
    )]
    PkceRequired,
    /// An `sse` server with an `auth_provider`.
    #[error(
        "SSE does not support authentication; use streamable-http for a server that needs \
         authorization, or leave out the auth_provider (the sse transport of MCP 2024-11-05 \
         runs without one)"
    )]
    SseWithAuth,
    /// A `stdio` server with an `auth_provider`.
    #[error(
        "a stdio server runs locally and takes no network authorization; leave out the \
         auth_provider (pass credentials in `env`)"
    )]
    StdioWithAuth,
    /// An `auth_provider` that `authentication` does not define.
    #[error("no authentication provider `{name}` is defined (defined: {defined})")]
    UnknownAuthProvider {
        /// The name used.
        name: String,
        /// The names defined.
        defined: String,
    },
    /// `--group NAME` that the file does not define.
    #[error("no function group `{name}` (defined: {defined})")]
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The names defined.
        defined: String,
    },
}

impl ConfigProblem {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Yaml(_) => "config_yaml",
            Self::Io(_) => "config_io",
            Self::UnknownKey { .. } => "config_unknown_key",
            Self::WrongType { .. } => "config_wrong_type",
            Self::Missing => "config_missing",
            Self::MissingVariable { .. } => "config_missing_variable",
            Self::BadInterpolation(_) => "config_bad_interpolation",
            Self::InvalidValue(_) => "config_invalid_value",
            Self::PkceRequired => "config_pkce_required",
            Self::SseWithAuth => "config_sse_with_auth",
            Self::StdioWithAuth => "config_stdio_with_auth",
            Self::UnknownAuthProvider { .. } => "config_unknown_auth_provider",
            Self::UnknownGroup { .. } => "config_unknown_group",
        }
    }
}

fn err(path: &str, problem: ConfigProblem) -> ConfigError {
    ConfigError { path: path.to_owned(), problem }
}

// ------------------------------------------------------------------------------------------
// The model

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    /// MCP servers by name, in file order.
    pub function_groups: Vec<(String, FunctionGroup)>,
    /// Authentication providers by name, in file order.
    pub authentication: Vec<(String, AuthProvider)>,
    /// `egress.allow`: origins (`https://as.corp.example:8443`) and networks (`10.1.0.0/16`) that
    /// the multi-user server may reach although they are internal ([`crate::egress`]). The CLI
    /// does not apply an egress policy, so it ignores this list.
    pub egress_allow: Vec<crate::egress::EgressAllow>,
}

/// `function_groups.<name>._type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// `per_user_mcp_client`: tokens per user.
    PerUser,
    /// `mcp_client`: one identity for everyone.
    Shared,
}

/// One MCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionGroup {
    /// `_type`.
    pub kind: GroupKind,
    /// `server`.
    pub server: ServerConfig,
}

/// `server.transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `streamable-http`.
    StreamableHttp,
    /// `sse` (no authentication).
    Sse,
    /// `stdio` (a local process).
    Stdio,
}

/// `function_groups.<name>.server`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// `transport`.
    pub transport: Transport,
    /// `url` (http transports).
    pub url: Option<String>,
    /// `command` (stdio).
    pub command: Option<String>,
    /// `args` (stdio).
    pub args: Vec<String>,
    /// `env` (stdio): variables set for the process, over the few it inherits
    /// (`mcp::stdio`, feature `rmcp`).
    pub env: Vec<(String, String)>,
    /// `cwd` (stdio): its working directory.
    pub cwd: Option<PathBuf>,
    /// `auth_provider`: a name under `authentication`.
    pub auth_provider: Option<String>,
}

/// `authentication.<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthProvider {
    /// `_type: mcp_oauth2`.
    OAuth2(McpOAuth2),
    /// `_type: mcp_service_account`.
    ServiceAccount(ServiceAccount),
    /// `_type: mcp_workload_identity` (SEP-1933).
    WorkloadIdentity(WorkloadIdentity),
}

/// Where `mcp_oauth2` keeps tokens. `Debug` hides a password in the Redis or MySQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenStorage {
    /// In memory, for the process lifetime.
    Memory,
    /// Encrypted files.
    File {
        /// The directory (default: the CLI's).
        dir: Option<PathBuf>,
    },
    /// Redis (the multi-user server's store).
    Redis {
        /// `redis://` or `rediss://` URL.
        url: String,
        /// Key prefix.
        key_prefix: String,
    },
    /// A MySQL / MariaDB table (the multi-user server's store, feature `mysql`).
    Mysql {
        /// `mysql://user:password@host:3306/database` URL.
        url: String,
        /// The table (created if missing).
        table: String,
    },
    /// An S3 bucket (the multi-user server's store, feature `s3`); credentials come from the
    /// AWS environment, never from the file.
    S3 {
        /// The bucket.
        bucket: String,
        /// Object name prefix (`mcp-oauth/` by default).
        prefix: String,
        /// The signing region (`AWS_REGION`, then `us-east-1`, when unset).
        region: Option<String>,
        /// An S3-compatible endpoint (`AWS_ENDPOINT_URL`, then AWS, when unset).
        endpoint: Option<String>,
    },
}

/// Per-issuer settings for real servers' quirks.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServerPolicyConfig {
    /// `danger_assume_pkce_s256`.
    pub danger_assume_pkce_s256: bool,
    /// `danger_omit_resource`.
    pub danger_omit_resource: bool,
    /// `authorization_params`.
    pub authorization_params: Vec<(String, String)>,
}

/// `_type: mcp_oauth2`: a user authorizes in the browser (authorization code + PKCE).
/// `Debug` prints `client_secret` as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct McpOAuth2 {
    /// `server_url`.
    pub server_url: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `enable_dynamic_registration`.
    pub enable_dynamic_registration: bool,
    /// `client_name`.
    pub client_name: String,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: Option<TokenEndpointAuth>,
    /// `client_issuer`: the issuers `client_id` belongs to (empty: pinned on first use).
    pub client_issuer: Vec<String>,
    /// `private_key_file` (private_key_jwt).
    pub private_key_file: Option<PathBuf>,
    /// `signing_alg`.
    pub signing_alg: SigningAlg,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `dpop`: when tokens are DPoP-bound (RFC 9449).
    pub dpop: mcp_oauth_core::dpop::DpopMode,
    /// `default_user_id`.
    pub default_user_id: Option<String>,
    /// `token_storage`.
    pub token_storage: TokenStorage,
    /// `client_metadata_url`.
    pub client_metadata_url: Option<String>,
    /// `server_policies`: issuer → settings.
    pub server_policies: Vec<(String, ServerPolicyConfig)>,
}

/// `_type: mcp_service_account`: client credentials at a fixed token URL, no discovery.
/// `Debug` prints `client_secret` and `service_token` as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// `token_url`.
    pub token_url: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: TokenEndpointAuth,
    /// `private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `signing_alg`.
    pub signing_alg: SigningAlg,
    /// `issuer`.
    pub issuer: Option<String>,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `token_cache_buffer_seconds`.
    pub token_cache_buffer_seconds: u64,
    /// `service_token`.
    pub service_token: Option<String>,
    /// `service_token_header`.
    pub service_token_header: String,
    /// `send_resource`.
    pub send_resource: bool,
    /// `dpop`: when tokens are DPoP-bound (RFC 9449).
    pub dpop: mcp_oauth_core::dpop::DpopMode,
}

/// `Some("<redacted>")` for a present secret, so `Debug` still shows whether one is set.
fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for McpOAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpOAuth2")
            .field("server_url", &self.server_url)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("enable_dynamic_registration", &self.enable_dynamic_registration)
            .field("client_name", &self.client_name)
            .field("token_endpoint_auth_method", &self.token_endpoint_auth_method)
            .field("private_key_file", &self.private_key_file)
            .field("signing_alg", &self.signing_alg)
            .field("scopes", &self.scopes)
            .field("dpop", &self.dpop)
            .field("default_user_id", &self.default_user_id)
            .field("token_storage", &self.token_storage)
            .field("client_metadata_url", &self.client_metadata_url)
            .field("server_policies", &self.server_policies)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("token_endpoint_auth_method", &self.token_endpoint_auth_method)
            .field("private_key_file", &self.private_key_file)
            .field("signing_alg", &self.signing_alg)
            .field("issuer", &self.issuer)
            .field("scopes", &self.scopes)
            .field("token_cache_buffer_seconds", &self.token_cache_buffer_seconds)
            .field("service_token", &redacted(&self.service_token))
            .field("service_token_header", &self.service_token_header)
            .field("send_resource", &self.send_resource)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TokenStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenStorage::Memory => f.write_str("Memory"),
            TokenStorage::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            TokenStorage::Redis { url, key_prefix } => f
                .debug_struct("Redis")
                .field("url", &redact_url_password(url))
                .field("key_prefix", key_prefix)
                .finish(),
            TokenStorage::Mysql { url, table } => f
                .debug_struct("Mysql")
                .field("url", &redact_url_password(url))
                .field("table", table)
                .finish(),
            TokenStorage::S3 { bucket, prefix, region, endpoint } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("prefix", prefix)
                .field("region", region)
                .field("endpoint", endpoint)
                .finish(),
        }
    }
}

/// `redis://user:pass@host` → `redis://user:<redacted>@host` (RFC 3986 §3.2.1 userinfo).
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>{}", &rest[at..]),
        None => url.to_owned(),
    }
}
#[cfg(feature = "config")]
mod load;
mod options;
#[cfg(any(feature = "config", feature = "s3"))]
pub(crate) mod s3;
mod schema;
mod workload;

#[cfg(feature = "config")]
pub use load::interpolate;
pub use schema::{
    schema, schema_text, OptionDoc, MCP_OAUTH2_OPTIONS, MCP_SERVICE_ACCOUNT_OPTIONS, SERVER_OPTIONS,
};
pub use workload::{WorkloadIdentity, MCP_WORKLOAD_IDENTITY_OPTIONS};

impl Config {
    /// Parses YAML text, interpolating with `env` (feature `config`).
    #[cfg(feature = "config")]
    pub fn parse_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let root: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| err("(file)", ConfigProblem::Yaml(e.to_string())))?;
        load::Walker { env }.config(&root)
    }

    /// Parses YAML text with the process environment (feature `config`).
    #[cfg(feature = "config")]
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Self::parse_with_env(text, &|name| std::env::var(name).ok())
    }

    /// Reads and parses a file with the process environment (feature `config`).
    #[cfg(feature = "config")]
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(&path.display().to_string(), ConfigProblem::Io(e.to_string())))?;
        Self::parse(&text).map_err(|mut e| {
            if e.path == "(file)" {
                e.path = path.display().to_string();
            }
            e
        })
    }

    /// The group `name` and its authentication provider, if any.
    pub fn group(
        &self,
        name: &str,
    ) -> Result<(&FunctionGroup, Option<&AuthProvider>), ConfigError> {
        let Some((_, group)) = self.function_groups.iter().find(|(n, _)| n == name) else {
            let defined: Vec<&str> = self.function_groups.iter().map(|(n, _)| n.as_str()).collect();
            return Err(err(
                "function_groups",
                ConfigProblem::UnknownGroup {
                    name: name.to_owned(),
                    defined: if defined.is_empty() { "none".into() } else { defined.join(", ") },
                },
            ));
        };
        let provider = group
            .server
            .auth_provider
            .as_ref()
            .and_then(|p| self.authentication.iter().find(|(n, _)| n == p).map(|(_, a)| a));
        Ok((group, provider))
    }
}
