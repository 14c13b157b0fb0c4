//! `_type: mcp_workload_identity` (MCP extension SEP-1933): the jwt-bearer grant (RFC 7523 §2.1)
//! with the JWT the workload's platform issued (a Kubernetes service-account token, a cloud
//! identity token), read from `assertion_file` (or the variable `assertion_env`) again for every
//! token request ([`crate::headless::AssertionSource`]).
//!
//! ```yaml
//! authentication:
//!   k8s:
//!     _type: mcp_workload_identity
//!     assertion_file: /var/run/secrets/tokens/mcp-token
//!     client_id: my-workload
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mcp_oauth_core::token::TokenEndpointAuth;

use super::{err, ConfigProblem};
use crate::headless::{AssertionSource, ClientCredentials};
use crate::signer::SigningAlg;
use crate::{Error, HeadlessGrant, HeadlessOptions};

/// The options of `_type: mcp_workload_identity`.
pub const MCP_WORKLOAD_IDENTITY_OPTIONS: &[super::OptionDoc] = &[
    super::schema::opt("_type", "string", "required", "`mcp_workload_identity`"),
    super::schema::opt(
        "assertion_file",
        "path",
        "required unless assertion_env",
        "the platform's JWT (a Kubernetes service-account token, a cloud identity token), read again for every token request",
    ),
    super::schema::opt(
        "assertion_env",
        "environment variable name",
        "none",
        "instead of assertion_file: the variable holding the platform's JWT (e.g. MCP_OAUTH_ASSERTION)",
    ),
    super::schema::opt("client_id", "string", "required", "this client's id at the authorization server"),
    super::schema::opt("client_secret", "string", "none (a public client)", "its secret, when the server wants client authentication"),
    super::schema::opt(
        "token_endpoint_auth_method",
        "none | client_secret_basic | client_secret_post | private_key_jwt",
        "none; with client_secret chosen from the server's metadata; private_key_jwt with private_key_file",
        "client authentication (RFC 6749 §2.3.1, RFC 7523 §2.2)",
    ),
    super::schema::opt("private_key_file", "path", "none", "PEM private key (PKCS#8; PKCS#1 for RSA) for private_key_jwt"),
    super::schema::opt("signing_alg", "ES256 | RS256", "ES256", "the JWS algorithm of private_key_file"),
    super::schema::opt("token_url", "URL", "discovered from the MCP server", "the token endpoint; discovery is skipped"),
    super::schema::opt("issuer", "URL", "token_url", "with token_url: the authorization server's issuer (the `aud` of client assertions)"),
    super::schema::opt("scopes", "list of strings (or one space-separated string)", "the server's metadata", "scopes to request"),
    super::schema::opt("token_cache_buffer_seconds", "integer", "60", "replace the cached token this many seconds before it expires"),
    super::schema::opt("dpop", "auto | always | never", "auto", super::schema::HEADLESS_DPOP_DOC),
];

/// `_type: mcp_workload_identity`. `Debug` prints `client_secret` as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkloadIdentity {
    /// `assertion_file`.
    pub assertion_file: Option<PathBuf>,
    /// `assertion_env`.
    pub assertion_env: Option<String>,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `token_endpoint_auth_method`.
    pub token_endpoint_auth_method: Option<TokenEndpointAuth>,
    /// `private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `signing_alg`.
    pub signing_alg: SigningAlg,
    /// `token_url`.
    pub token_url: Option<String>,
    /// `issuer`.
    pub issuer: Option<String>,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `token_cache_buffer_seconds`.
    pub token_cache_buffer_seconds: u64,
    /// `dpop`: when tokens are DPoP-bound (RFC 9449).
    pub dpop: mcp_oauth_core::dpop::DpopMode,
}

impl fmt::Debug for WorkloadIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadIdentity")
            .field("assertion_file", &self.assertion_file)
            .field("assertion_env", &self.assertion_env)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("token_endpoint_auth_method", &self.token_endpoint_auth_method)
            .field("private_key_file", &self.private_key_file)
            .field("token_url", &self.token_url)
            .field("issuer", &self.issuer)
            .field("scopes", &self.scopes)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl WorkloadIdentity {
    /// The headless options for the MCP server `server_url`; reads `private_key_file` (IO) for
    /// `private_key_jwt`, never the assertion (that is read for every token request). `path`
    /// (`authentication.<name>`) prefixes errors.
    pub fn headless_options(&self, path: &str, server_url: &str) -> Result<HeadlessOptions, Error> {
        let id = self.client_id.clone();
        let client = match (self.token_endpoint_auth_method, &self.client_secret) {
            (Some(TokenEndpointAuth::PrivateKeyJwt), _) => {
                super::options::private_key_jwt_credentials(
                    &id,
                    self.private_key_file.as_deref(),
                    self.signing_alg,
                    path,
                )?
            }
            (method, Some(secret)) => {
                ClientCredentials { method, ..ClientCredentials::client_secret(id, secret.clone()) }
            }
            (_, None) => ClientCredentials::public(id),
        };
        let assertion = match (&self.assertion_file, &self.assertion_env) {
            (Some(file), _) => AssertionSource::File(file.clone()),
            (None, Some(var)) => AssertionSource::Env(var.clone()),
            (None, None) => {
                return Err(err(&format!("{path}.assertion_file"), ConfigProblem::Missing).into())
            }
        };
        let mut o =
            HeadlessOptions::new(server_url, HeadlessGrant::JwtBearer { assertion, client })?;
        o.token_url = self.token_url.clone();
        o.issuer = self.issuer.clone();
        o.scopes = super::options::scope_value(self.scopes.as_deref(), path)?;
        o.refresh_buffer = Duration::from_secs(self.token_cache_buffer_seconds);
        o.dpop = self.dpop;
        Ok(o)
    }
}
