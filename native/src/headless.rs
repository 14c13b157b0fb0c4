//! [`HeadlessClient`]: access tokens without a user or a browser, for CI pipelines and backend
//! services.
//!
//! Grants ([`HeadlessGrant`]):
//! - **client credentials** (RFC 6749 §4.4) with `client_secret_basic`, `client_secret_post` or
//!   `private_key_jwt` (RFC 7523, [`crate::signer::PrivateKeySigner`]);
//! - **cross-app access** (MCP extension SEP-990, enterprise-managed authorization): the user's ID
//!   token is exchanged at the identity provider for an ID-JAG (RFC 8693), which is redeemed at
//!   the MCP server's authorization server with the jwt-bearer grant (RFC 7523 §2.1);
//! - **workload identity** (MCP extension SEP-1933): the jwt-bearer grant (RFC 7523 §2.1) with
//!   a JWT the workload's platform issued (a Kubernetes service-account token, a cloud identity
//!   token), read from its [`AssertionSource`] again for every token request (platforms rotate
//!   it). A refusal (`invalid_grant`, `invalid_scope`, `unauthorized_client`) is returned with
//!   the server's error; nothing is retried and no other grant is tried.
//!
//! The core's [`HeadlessFlow`] sequences everything (discovery, unless a fixed token URL is
//! configured — **service-account mode**, which may add a static header, such as a second
//! service token, to every MCP request —, the scope, the client authentication method, the
//! `resource`, the credential binding, the grant requests); this file only drives it: it sends
//! the requests it yields with [`HttpClient`], signs the claims it asks for with the configured
//! [`ClientAssertionSigner`] (ring, [`crate::signer::PrivateKeySigner`]) and shares discovery
//! through the [`MetadataCache`].
//!
//! The token is cached in memory and replaced [`HeadlessOptions::refresh_buffer`] before it
//! expires. An async mutex makes the fetch single-flight: concurrent callers wait for the one
//! request the first of them makes. Nothing is persisted: a new token is one request away.
//!
//! DPoP (RFC 9449, [`HeadlessOptions::dpop`]): unless `Never`, each client makes an ES256 key
//! ([`crate::dpop::RingDpopSigner`]) when it is built, and the core decides when grant requests
//! carry a proof and when MCP requests carry `Authorization: DPoP` with one
//! ([`HeadlessClient::resource_request_headers`]). The key lives as long as the client, in
//! memory only, like the tokens bound to it: a new process has neither and makes both anew (a
//! headless grant needs no earlier state), so there is nothing to persist or to protect at rest.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::dpop::{DpopMode, DpopSigner};
use mcp_oauth_core::headless::{
    AssertionFor, CrossAppConfig, FixedTokenEndpoint, HeadlessAuth, HeadlessConfig,
    HeadlessCredentials, HeadlessFlow, SigningRequest,
};
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::secret::{AccessToken, ClientSecret, GrantAssertion, IdToken};
use mcp_oauth_core::token::{ClientAssertionSigner, TokenEndpointAuth, TokenSet};
use mcp_oauth_core::url::EndpointUrl;
use mcp_oauth_core::{ResourceDecision, ResourceResponse};
use tokio::sync::Mutex;

use crate::cache::MetadataCache;
use crate::client::ResourceAnswer;
use crate::http::HttpClient;
use crate::Error;

/// Default for [`HeadlessOptions::refresh_buffer`]: a token is replaced a minute before expiry.
pub const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(60);

/// How a client authenticates at a token endpoint.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    /// The secret, for `client_secret_basic` / `client_secret_post`.
    pub client_secret: Option<ClientSecret>,
    /// The method; `None` with a secret: chosen by the core from the server's metadata
    /// ([`mcp_oauth_core::headless`] documents the rule).
    pub method: Option<TokenEndpointAuth>,
    /// The signer, for `private_key_jwt`.
    pub signer: Option<Arc<dyn ClientAssertionSigner + Send + Sync>>,
    /// The issuers these credentials belong to; empty: the first issuer discovery leads to,
    /// pinned for the client's lifetime. The secret or an assertion is never sent to another.
    pub issuers: Vec<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .field("has_secret", &self.client_secret.is_some())
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// A client secret sent with `method` (`client_secret_basic` or `client_secret_post`).
    pub fn secret(
        client_id: impl Into<String>,
        secret: impl Into<String>,
        method: TokenEndpointAuth,
    ) -> ClientCredentials {
        ClientCredentials { method: Some(method), ..Self::client_secret(client_id, secret) }
    }

    /// A client secret sent with the method the core chooses from the server's metadata.
    pub fn client_secret(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: Some(ClientSecret::new(secret)),
            method: None,
            signer: None,
            issuers: Vec::new(),
        }
    }

    /// `private_key_jwt` with this signer.
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        signer: Arc<dyn ClientAssertionSigner + Send + Sync>,
    ) -> ClientCredentials {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: None,
            method: Some(TokenEndpointAuth::PrivateKeyJwt),
            signer: Some(signer),
            issuers: Vec::new(),
        }
    }

    /// A public client (`client_id` only): allowed for the jwt-bearer grant, refused by the
    /// client credentials grant (RFC 6749 §4.4.2).
    pub fn public(client_id: impl Into<String>) -> ClientCredentials {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: None,
            method: Some(TokenEndpointAuth::None),
            signer: None,
            issuers: Vec::new(),
        }
    }

    /// Binds the credentials to these issuers (see [`ClientCredentials::issuers`]).
    pub fn with_issuers(mut self, issuers: Vec<String>) -> ClientCredentials {
        self.issuers = issuers;
        self
    }

    /// The core's view of these credentials.
    fn core(&self) -> Result<HeadlessCredentials, Error> {
        let auth = match (self.method, &self.client_secret) {
            (Some(TokenEndpointAuth::PrivateKeyJwt), _) => HeadlessAuth::PrivateKeyJwt,
            (Some(TokenEndpointAuth::None), _) | (None, None) => HeadlessAuth::None,
            (method, Some(secret)) => HeadlessAuth::Secret { secret: secret.clone(), method },
            (Some(m), None) => {
                let e =
                    mcp_oauth_core::token::TokenError::MissingClientSecret { method: m.as_str() };
                return Err(mcp_oauth_core::Error::from(e).into());
            }
        };
        Ok(HeadlessCredentials {
            client_id: self.client_id.clone(),
            auth,
            issuers: self.issuers.clone(),
        })
    }
}

/// Where a workload's platform assertion comes from; read again for every token request.
#[derive(Clone)]
#[non_exhaustive]
pub enum AssertionSource {
    /// A file the platform writes (and rotates), e.g.
    /// `/var/run/secrets/kubernetes.io/serviceaccount/token`.
    File(std::path::PathBuf),
    /// An environment variable (conventionally `MCP_OAUTH_ASSERTION`).
    Env(String),
    /// A fixed value.
    Value(GrantAssertion),
}

impl std::fmt::Debug for AssertionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Env(v) => f.debug_tuple("Env").field(v).finish(),
            Self::Value(_) => f.write_str("Value(..)"),
        }
    }
}

impl AssertionSource {
    /// The assertion now (the core trims it and checks that it is a JWT).
    pub fn read(&self) -> Result<String, String> {
        match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the assertion file {}: {e}", path.display())),
            Self::Env(var) => std::env::var(var)
                .map_err(|e| format!("cannot read the environment variable {var}: {e}")),
            Self::Value(v) => Ok(v.secret().to_owned()),
        }
    }
}

/// The grant a [`HeadlessClient`] uses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HeadlessGrant {
    /// RFC 6749 §4.4 client credentials.
    ClientCredentials {
        /// The client at the authorization server.
        client: ClientCredentials,
    },
    /// SEP-990 cross-app access: RFC 8693 exchange at the identity provider, then the RFC 7523
    /// jwt-bearer grant at the authorization server.
    CrossApp {
        /// The identity provider's token endpoint.
        idp_token_endpoint: String,
        /// The user's ID token (from single sign-on at the identity provider).
        id_token: IdToken,
        /// The client at the identity provider.
        idp_client: ClientCredentials,
        /// The client at the MCP server's authorization server.
        client: ClientCredentials,
    },
    /// SEP-1933 workload identity: the RFC 7523 §2.1 jwt-bearer grant with the platform's JWT.
    JwtBearer {
        /// The platform's assertion, read for every token request.
        assertion: AssertionSource,
        /// The client at the authorization server (often public: `client_id` only).
        client: ClientCredentials,
    },
}

/// Options of a [`HeadlessClient`].
#[derive(Clone)]
#[non_exhaustive]
pub struct HeadlessOptions {
    /// The MCP server URL (the `resource`, and where discovery starts).
    pub server_url: String,
    /// The grant.
    pub grant: HeadlessGrant,
    /// Scopes to request (space-delimited); default: the protected-resource metadata's
    /// `scopes_supported`.
    pub scopes: Option<String>,
    /// Service-account mode: use this token endpoint and skip discovery.
    pub token_url: Option<String>,
    /// With `token_url`: the authorization server's issuer (the `aud` of `private_key_jwt`
    /// assertions and the ID-JAG audience; default: the token URL, which RFC 7523 §3 item 3
    /// allows for assertions).
    pub issuer: Option<String>,
    /// Per-issuer quirk settings (`danger_assume_pkce_s256` for discovery,
    /// `danger_omit_resource`).
    pub policies: Vec<(String, ServerPolicy)>,
    /// Replace the token this long before it expires.
    pub refresh_buffer: Duration,
    /// Headers added to every MCP request (service-account mode: a second service token).
    pub extra_headers: Vec<(String, String)>,
    /// The HTTP client for token and discovery requests.
    pub http: HttpClient,
    /// Shared discovery results.
    pub cache: Arc<MetadataCache>,
    /// When tokens are DPoP-bound (RFC 9449; `--dpop`, `dpop:` in YAML; the core's rule,
    /// [`mcp_oauth_core::dpop::DpopMode`]). Unless `Never`, the client has an ES256 key in
    /// memory (module docs).
    pub dpop: DpopMode,
    /// The time source (the system clock by default): token expiry and refresh.
    pub clock: crate::Clock,
}

impl std::fmt::Debug for HeadlessOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessOptions")
            .field("server_url", &self.server_url)
            .field("grant", &self.grant)
            .field("scopes", &self.scopes)
            .field("token_url", &self.token_url)
            .field("issuer", &self.issuer)
            .field("extra_headers", &self.extra_headers.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl HeadlessOptions {
    /// Defaults: discovery, the metadata's scopes, a one-minute refresh buffer.
    pub fn new(server_url: impl Into<String>, grant: HeadlessGrant) -> Result<Self, Error> {
        Ok(HeadlessOptions {
            server_url: server_url.into(),
            grant,
            scopes: None,
            token_url: None,
            issuer: None,
            policies: Vec::new(),
            refresh_buffer: DEFAULT_REFRESH_BUFFER,
            extra_headers: Vec::new(),
            http: HttpClient::new()?,
            cache: MetadataCache::global(),
            dpop: DpopMode::Auto,
            clock: crate::Clock::system(),
        })
    }
}

/// Access tokens from a headless grant, cached and single-flight.
pub struct HeadlessClient {
    opts: HeadlessOptions,
    flow: Mutex<HeadlessFlow>,
    /// The RFC 7638 thumbprint of the DPoP key, when the client has one.
    dpop_thumbprint: Option<String>,
}

impl std::fmt::Debug for HeadlessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessClient").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl HeadlessClient {
    /// Validates the options (URLs, extra header names and values).
    pub fn new(opts: HeadlessOptions) -> Result<HeadlessClient, Error> {
        for (name, value) in &opts.extra_headers {
            let reserved = ["authorization", "content-type", "accept", "mcp-session-id"];
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                || reserved.contains(&name.to_ascii_lowercase().as_str())
            {
                return Err(Error::Usage(format!("invalid extra header name `{name}`")));
            }
            if value.bytes().any(|b| b.is_ascii_control()) {
                return Err(Error::Usage(format!(
                    "the value of header `{name}` has control characters"
                )));
            }
        }
        let (client, cross_app) = match &opts.grant {
            HeadlessGrant::ClientCredentials { client }
            | HeadlessGrant::JwtBearer { client, .. } => (client.core()?, None),
            HeadlessGrant::CrossApp { idp_token_endpoint, id_token, idp_client, client } => (
                client.core()?,
                Some(CrossAppConfig {
                    idp_issuer: None,
                    idp_token_endpoint: Some(EndpointUrl::parse(idp_token_endpoint)?),
                    idp_client: idp_client.core()?,
                    id_token: id_token.clone(),
                }),
            ),
        };
        let mut config = HeadlessConfig::new(&opts.server_url, client)?;
        config.scopes = opts.scopes.clone();
        config.cross_app = cross_app;
        config.workload_identity = matches!(opts.grant, HeadlessGrant::JwtBearer { .. });
        config.policies = opts.policies.clone();
        config.refresh_skew_secs = opts.refresh_buffer.as_secs();
        if let Some(url) = &opts.token_url {
            config.token_endpoint = Some(FixedTokenEndpoint {
                token_endpoint: EndpointUrl::parse(url)?,
                issuer: opts.issuer.clone(),
            });
        }
        config.dpop = opts.dpop;
        let mut flow = HeadlessFlow::new(config);
        let mut dpop_thumbprint = None;
        if opts.dpop != DpopMode::Never {
            let signer = crate::dpop::RingDpopSigner::generate()?;
            dpop_thumbprint = Some(signer.key().jwk.thumbprint());
            flow.set_dpop_signer(Arc::new(signer));
        }
        Ok(HeadlessClient { opts, flow: Mutex::new(flow), dpop_thumbprint })
    }

    /// The RFC 7638 thumbprint of this client's DPoP key (the `jkt` of the `cnf` of tokens
    /// bound to it, RFC 9449 §6.1); `None` with [`DpopMode::Never`].
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        self.dpop_thumbprint.as_deref()
    }

    /// The headers of a request to the MCP server (`method`, `url`): `Authorization` with the
    /// token held (`DPoP <token>` for a DPoP-bound token, never Bearer then) and, for a
    /// DPoP-bound token, a fresh `DPoP` proof with `ath` and the server's nonce (RFC 9449 §7.1,
    /// §9). Empty when no usable token is held.
    pub async fn resource_request_headers(
        &self,
        method: &str,
        url: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let flow = self.flow.lock().await;
        Ok(flow.resource_request_headers(self.opts.clock.now(), method, url)?)
    }

    /// The headers to add to every MCP request.
    pub fn extra_headers(&self) -> &[(String, String)] {
        &self.opts.extra_headers
    }

    /// The tokens held, if any.
    pub async fn tokens(&self) -> Option<TokenSet> {
        self.flow.lock().await.tokens().map(|(_, t)| t.clone())
    }

    /// A usable access token: the cached one while it is fresh (with the refresh buffer to
    /// spare), else a new one from the grant. Concurrent callers share one request.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        let mut flow = self.flow.lock().await;
        if let Some(t) = flow.access_token(self.opts.clock.now()) {
            return Ok(t.clone());
        }
        if !flow.is_busy() {
            if let Some(d) =
                self.opts.cache.get_shared(flow.config().server_url.as_str(), self.opts.clock.now())
            {
                flow.use_discovery(d);
            }
            flow.begin(self.opts.clock.now())?;
        }
        self.drive(&mut flow).await?;
        flow.tokens().map(|(_, t)| t.access_token.clone()).ok_or_else(|| {
            mcp_oauth_core::Error::from(mcp_oauth_core::error::FlowError::NotDiscovered).into()
        })
    }

    /// The MCP server refused `used` (401): the core drops it, unless another task already
    /// replaced it, and the next [`HeadlessClient::access_token`] sends what it queued.
    pub async fn handle_unauthorized(&self, used: Option<&AccessToken>) {
        let mut flow = self.flow.lock().await;
        // An error here (credentials bound elsewhere, say) comes back from access_token.
        let _ = flow.handle_unauthorized(self.opts.clock.now(), used);
    }

    /// Acts on the MCP server's answer to a request that carried `used`, as the core decides
    /// for headless grants ([`HeadlessFlow::handle_resource_response`]: no user, no step-up).
    /// On [`ResourceDecision::Retry`] send the request again with the next
    /// [`HeadlessClient::access_token`].
    pub async fn handle_resource_response(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        used: Option<&AccessToken>,
    ) -> Result<ResourceDecision, Error> {
        let answer = ResourceAnswer { status, www_authenticate, dpop_nonce: None };
        self.handle_resource_answer(answer, used).await
    }

    /// [`HeadlessClient::handle_resource_response`] with the answer's `DPoP-Nonce` (RFC 9449
    /// §9): a `use_dpop_nonce` refusal is then retried with the server's nonce.
    pub async fn handle_resource_answer(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
    ) -> Result<ResourceDecision, Error> {
        let mut flow = self.flow.lock().await;
        let ResourceAnswer { status, www_authenticate, dpop_nonce } = answer;
        let response = ResourceResponse {
            status,
            www_authenticate,
            token_used: used,
            operation: "",
            dpop_nonce,
        };
        Ok(flow.handle_resource_response(self.opts.clock.now(), &response)?)
    }

    /// The drain loop of the core's drain contract: requests, signatures, then events.
    async fn drive(&self, flow: &mut HeadlessFlow) -> Result<(), Error> {
        let sign = |sig: &SigningRequest| match (&self.opts.grant, sig.signer) {
            // Not a signature: the platform's JWT, read now (it may have been rotated).
            (HeadlessGrant::JwtBearer { assertion, .. }, AssertionFor::Workload) => {
                assertion.read()
            }
            _ => match self.signer(sig.signer) {
                Some(s) => s.sign(&sig.claims),
                None => Err("no signing key is configured".to_owned()),
            },
        };
        // Discovery results go into the cache as they come (crate::drive::drain).
        let server_url = flow.config().server_url.as_str().to_owned();
        let cache = (&*self.opts.cache, server_url.as_str());
        let drained =
            crate::drive::drain(flow, &self.opts.http, cache, &sign, None, &self.opts.clock).await;
        drained.error.map_or(Ok(()), Err)
    }

    /// The signer of the client the core asks for.
    fn signer(&self, whose: AssertionFor) -> Option<&Arc<dyn ClientAssertionSigner + Send + Sync>> {
        match (&self.opts.grant, whose) {
            (HeadlessGrant::ClientCredentials { client }, AssertionFor::AuthorizationServer)
            | (HeadlessGrant::JwtBearer { client, .. }, AssertionFor::AuthorizationServer)
            | (HeadlessGrant::CrossApp { client, .. }, AssertionFor::AuthorizationServer)
            | (
                HeadlessGrant::CrossApp { idp_client: client, .. },
                AssertionFor::IdentityProvider,
            ) => client.signer.as_ref(),
            _ => None,
        }
    }
}
