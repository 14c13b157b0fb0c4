//! The headless flow's configuration: the client's credentials at a token endpoint, cross-app
//! access, a fixed token endpoint (service accounts), and the options of [`super::HeadlessFlow`].

use crate::dpop::DpopMode;
use crate::error::Error;
use crate::policy::ServerPolicy;
use crate::registration;
use crate::secret::{ClientSecret, IdToken};
use crate::token::{ClientAuth, TokenEndpointAuth};
use crate::url::{EndpointUrl, IssuerUrl, ResourceUrl};

/// How a client authenticates at a token endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum HeadlessAuth {
    /// A public client (`client_id` only): allowed for the jwt-bearer grant, refused by the
    /// client credentials grant (RFC 6749 §4.4.2).
    None,
    /// A client secret. `method`: `client_secret_basic` or `client_secret_post`; `None` lets
    /// the core choose from the server's metadata (module docs).
    Secret {
        /// The secret.
        secret: ClientSecret,
        /// The configured method, if any.
        method: Option<TokenEndpointAuth>,
    },
    /// `private_key_jwt` (RFC 7523 §2.2): the host signs what [`super::HeadlessFlow::poll_signature`]
    /// yields.
    PrivateKeyJwt,
}

impl std::fmt::Debug for HeadlessAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Secret { method, .. } => {
                f.debug_struct("Secret").field("method", method).finish_non_exhaustive()
            }
            Self::PrivateKeyJwt => f.write_str("PrivateKeyJwt"),
        }
    }
}

/// A client at one token endpoint.
#[derive(Clone, Debug)]
pub struct HeadlessCredentials {
    /// `client_id`.
    pub client_id: String,
    /// How it authenticates.
    pub auth: HeadlessAuth,
    /// The issuers these credentials belong to; empty: the first issuer they are used with,
    /// pinned for the flow's lifetime. A secret or an assertion is never sent to another
    /// (MCP SEP-2352, [`registration::check_credential_issuer`]).
    pub issuers: Vec<String>,
}

impl HeadlessCredentials {
    /// A client secret; the method is chosen from the server's metadata.
    pub fn secret(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        let auth = HeadlessAuth::Secret { secret: ClientSecret::new(secret), method: None };
        HeadlessCredentials { client_id: client_id.into(), auth, issuers: Vec::new() }
    }

    /// `private_key_jwt`.
    pub fn private_key_jwt(client_id: impl Into<String>) -> Self {
        let auth = HeadlessAuth::PrivateKeyJwt;
        HeadlessCredentials { client_id: client_id.into(), auth, issuers: Vec::new() }
    }

    /// A public client.
    pub fn public(client_id: impl Into<String>) -> Self {
        HeadlessCredentials {
            client_id: client_id.into(),
            auth: HeadlessAuth::None,
            issuers: Vec::new(),
        }
    }

    /// Forces the secret method (ignored for other kinds of authentication).
    pub fn with_method(mut self, m: TokenEndpointAuth) -> Self {
        if let HeadlessAuth::Secret { method, .. } = &mut self.auth {
            *method = Some(m);
        }
        self
    }

    /// Binds the credentials to these issuers (see [`HeadlessCredentials::issuers`]).
    pub fn with_issuers(mut self, issuers: Vec<String>) -> Self {
        self.issuers = issuers;
        self
    }

    /// The method at a server that supports `supported` (module docs).
    pub(super) fn method(&self, supported: Option<&[String]>) -> Result<TokenEndpointAuth, Error> {
        Ok(match &self.auth {
            HeadlessAuth::None => TokenEndpointAuth::None,
            HeadlessAuth::Secret { method: Some(m), .. } => *m,
            HeadlessAuth::Secret { method: None, .. } => {
                registration::secret_method_for(supported)?
            }
            HeadlessAuth::PrivateKeyJwt => TokenEndpointAuth::PrivateKeyJwt,
        })
    }

    pub(super) fn client_auth<'a>(
        &'a self,
        method: TokenEndpointAuth,
        assertion: Option<&'a str>,
    ) -> ClientAuth<'a> {
        let client_secret = match &self.auth {
            HeadlessAuth::Secret { secret, .. } => Some(secret),
            _ => None,
        };
        ClientAuth { client_id: &self.client_id, client_secret, method, assertion }
    }
}

/// Cross-app access (MCP extension SEP-990): the user's ID token is exchanged at the identity
/// provider for an ID-JAG, redeemed at the authorization server with the jwt-bearer grant.
#[derive(Clone, Debug)]
pub struct CrossAppConfig {
    /// The identity provider's issuer: its metadata (RFC 8414 / OIDC Discovery, the checks of
    /// discovery) gives the token endpoint and the supported auth methods.
    pub idp_issuer: Option<IssuerUrl>,
    /// The identity provider's token endpoint, used when no issuer is configured.
    pub idp_token_endpoint: Option<EndpointUrl>,
    /// The client at the identity provider.
    pub idp_client: HeadlessCredentials,
    /// The user's ID token (the subject token).
    pub id_token: IdToken,
}

/// Service-account mode: a configured token endpoint, no discovery.
#[derive(Clone, Debug)]
pub struct FixedTokenEndpoint {
    /// The token endpoint.
    pub token_endpoint: EndpointUrl,
    /// The authorization server's issuer (assertion audience, ID-JAG audience, policy key);
    /// default: the token endpoint (RFC 7523 §3 item 3 allows it as an audience).
    pub issuer: Option<String>,
}

impl FixedTokenEndpoint {
    /// The issuer this endpoint stands for: the configured one, else the token endpoint itself
    /// (RFC 7523 §3 item 3 allows it as an audience). Its [`ServerPolicy`] is looked up by this
    /// value, so a host that sets a policy for a configured endpoint keys it with this.
    pub fn effective_issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| self.token_endpoint.as_str().to_owned())
    }
}

/// Configuration of a [`super::HeadlessFlow`]. Build with [`HeadlessConfig::new`], then set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HeadlessConfig {
    /// The MCP server (the `resource`, and where discovery starts).
    pub server_url: ResourceUrl,
    /// The client at the authorization server.
    pub client: HeadlessCredentials,
    /// Scopes to request (space-delimited); default: the module docs' rule.
    pub scopes: Option<String>,
    /// Cross-app access instead of client credentials.
    pub cross_app: Option<CrossAppConfig>,
    /// Workload identity (SEP-1933) instead of client credentials: the jwt-bearer grant with the
    /// host's platform assertion (module docs). Not together with `cross_app`.
    pub workload_identity: bool,
    /// Service-account mode.
    pub token_endpoint: Option<FixedTokenEndpoint>,
    /// Per-issuer quirk settings (`danger_assume_pkce_s256`, `danger_omit_resource`).
    pub policies: Vec<(String, ServerPolicy)>,
    /// Issuer to try first when the resource lists several.
    pub preferred_issuer: Option<String>,
    /// The 2025-03-26 discovery fallback (default true).
    pub legacy_discovery: bool,
    /// A token is replaced this many seconds before it expires (default 60).
    pub refresh_skew_secs: u64,
    /// When grant requests carry DPoP proofs (RFC 9449; default [`DpopMode::Auto`];
    /// core/src/headless/dpop.rs).
    pub dpop: DpopMode,
}

impl HeadlessConfig {
    /// Client credentials for `client` at the MCP server `server_url`, with discovery.
    pub fn new(server_url: &str, client: HeadlessCredentials) -> Result<HeadlessConfig, Error> {
        Ok(HeadlessConfig {
            server_url: ResourceUrl::parse(server_url)?,
            client,
            scopes: None,
            cross_app: None,
            workload_identity: false,
            token_endpoint: None,
            policies: Vec::new(),
            preferred_issuer: None,
            legacy_discovery: true,
            refresh_skew_secs: 60,
            dpop: DpopMode::Auto,
        })
    }
}
