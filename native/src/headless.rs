//! [`HeadlessClient`]: access tokens without a user or a browser, for CI pipelines and backend
//! services.
//!
//! Grants ([`HeadlessGrant`]):
//! - **client credentials** (RFC 6749 §4.4) with `client_secret_basic`, `client_secret_post` or
//!   `private_key_jwt` (RFC 7523, [`crate::signer::PrivateKeySigner`]);
//! - **cross-app access** (MCP extension SEP-990, enterprise-managed authorization): the user's ID
//!   token is exchanged at the identity provider for an ID-JAG (RFC 8693), which is redeemed at
//!   the MCP server's authorization server with the jwt-bearer grant (RFC 7523 §2.1).
//!
//! The authorization server is found by the core's discovery ([`AuthFlow::begin_discovery`]:
//! protected-resource metadata, then authorization-server metadata, with the per-issuer
//! policies) unless a fixed token URL is configured (**service-account mode**, which skips
//! discovery and may add a static header, such as a second service token, to every MCP request).
//!
//! The token is cached in memory and replaced [`HeadlessOptions::refresh_buffer`] before it
//! expires. An async mutex makes the fetch single-flight: concurrent callers wait for the one
//! request the first of them makes. Nothing is persisted: a new token is one request away.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::flow::resource;
use mcp_oauth_core::http::{HttpRequest, HttpResponse, RequestId};
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::{self, ClientConfig};
use mcp_oauth_core::secret::{AccessToken, ClientSecret, IdToken};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{ClientAssertionSigner, ClientAuth, TokenEndpointAuth, TokenSet};
use mcp_oauth_core::token_exchange::{self, token_types};
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, ResourceUrl};
use mcp_oauth_core::{client_credentials, jwt_bearer, AuthFlow, FlowConfig, FlowEvent};
use mcp_oauth_core::{ResourceDecision, ResourceResponse};
use tokio::sync::Mutex;

use crate::cache::MetadataCache;
use crate::client::DEFAULT_REDIRECT_URI;
use crate::http::HttpClient;
use crate::{now, Error};

/// Default for [`HeadlessOptions::refresh_buffer`]: a token is replaced a minute before expiry.
pub const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(60);

/// How a client authenticates at a token endpoint.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    /// The secret, for `client_secret_basic` / `client_secret_post`.
    pub client_secret: Option<ClientSecret>,
    /// The method.
    pub method: TokenEndpointAuth,
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
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: Some(ClientSecret::new(secret)),
            method,
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
            method: TokenEndpointAuth::PrivateKeyJwt,
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
            method: TokenEndpointAuth::None,
            signer: None,
            issuers: Vec::new(),
        }
    }

    /// Binds the credentials to these issuers (see [`ClientCredentials::issuers`]).
    pub fn with_issuers(mut self, issuers: Vec<String>) -> ClientCredentials {
        self.issuers = issuers;
        self
    }

    /// The signed assertion for `private_key_jwt` at the server `audience` (its issuer), with a
    /// fresh `jti` (RFC 7523 §3).
    fn assertion(&self, audience: &str, now: UnixTime) -> Result<Option<String>, Error> {
        if self.method != TokenEndpointAuth::PrivateKeyJwt {
            return Ok(None);
        }
        let signer = self
            .signer
            .as_ref()
            .ok_or(mcp_oauth_core::token::TokenError::MissingClientAssertion)
            .map_err(mcp_oauth_core::Error::from)?;
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| Error::Entropy(e.to_string()))?;
        let claims = jwt_bearer::client_assertion_claims(&self.client_id, audience, now, &jti);
        let jwt = signer
            .sign(&claims)
            .map_err(mcp_oauth_core::token::TokenError::AssertionSigningFailed)
            .map_err(mcp_oauth_core::Error::from)?;
        Ok(Some(jwt))
    }

    fn auth<'a>(&'a self, assertion: Option<&'a str>) -> ClientAuth<'a> {
        ClientAuth {
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            method: self.method,
            assertion,
        }
    }
}

/// The grant a [`HeadlessClient`] uses.
#[derive(Clone, Debug)]
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
        })
    }
}

/// Where tokens come from, once known.
struct Target {
    issuer: String,
    token_endpoint: EndpointUrl,
    resource: Option<ResourceUrl>,
    scope: Option<String>,
}

struct State {
    flow: AuthFlow,
    tokens: Option<TokenSet>,
    next_id: u64,
    /// The issuer each client id without configured issuers was first used with.
    pins: Vec<(String, String)>,
    /// The MCP server refused the last token (the next one is `renewed`).
    refused: bool,
    /// The token held was fetched because the MCP server refused the one before.
    renewed: bool,
}

/// Access tokens from a headless grant, cached and single-flight.
pub struct HeadlessClient {
    opts: HeadlessOptions,
    server: ResourceUrl,
    state: Mutex<State>,
}

impl std::fmt::Debug for HeadlessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessClient").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl HeadlessClient {
    /// Validates the options (URLs, extra header names and values).
    pub fn new(opts: HeadlessOptions) -> Result<HeadlessClient, Error> {
        let server = ResourceUrl::parse(&opts.server_url)?;
        if let Some(u) = &opts.token_url {
            EndpointUrl::parse(u)?;
        }
        if let HeadlessGrant::CrossApp { idp_token_endpoint, .. } = &opts.grant {
            EndpointUrl::parse(idp_token_endpoint)?;
        }
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
        let mut config = FlowConfig::new(
            &opts.server_url,
            DEFAULT_REDIRECT_URI,
            ClientConfig::dynamic("mcp-oauth"),
        )?;
        config.policies = opts.policies.clone();
        config.scopes = opts.scopes.clone();
        let flow = AuthFlow::new(config);
        Ok(HeadlessClient {
            opts,
            server,
            state: Mutex::new(State {
                flow,
                tokens: None,
                next_id: 1,
                pins: Vec::new(),
                refused: false,
                renewed: false,
            }),
        })
    }

    /// The headers to add to every MCP request.
    pub fn extra_headers(&self) -> &[(String, String)] {
        &self.opts.extra_headers
    }

    /// The tokens held, if any.
    pub async fn tokens(&self) -> Option<TokenSet> {
        self.state.lock().await.tokens.clone()
    }

    /// A usable access token: the cached one while it is fresh (with the refresh buffer to
    /// spare), else a new one from the grant. Concurrent callers share one request.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        let mut state = self.state.lock().await;
        let now = now();
        let buffer = self.opts.refresh_buffer.as_secs();
        if let Some(t) = state.tokens.as_ref().filter(|t| t.is_fresh(now, buffer)) {
            return Ok(t.access_token.clone());
        }
        let tokens = self.fetch(&mut state, now).await?;
        let token = tokens.access_token.clone();
        state.tokens = Some(tokens);
        state.renewed = std::mem::take(&mut state.refused);
        Ok(token)
    }

    /// Acts on the MCP server's answer to a request that carried `used`, as the core decides
    /// for headless grants ([`resource::headless_decision`]: no user, no step-up): on
    /// [`ResourceDecision::Retry`] the refused token is dropped, and the request goes again
    /// with the next [`HeadlessClient::access_token`].
    pub async fn handle_resource_response(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        used: Option<&AccessToken>,
    ) -> Result<ResourceDecision, Error> {
        let mut state = self.state.lock().await;
        let held = used.is_some() && state.tokens.as_ref().map(|t| &t.access_token) == used;
        let response =
            ResourceResponse { status, www_authenticate, token_used: used, operation: "" };
        let decision = resource::headless_decision(&response, held && state.renewed)?;
        if decision == ResourceDecision::Retry && (used.is_none() || held) {
            state.tokens = None;
            state.refused = true;
        } else if decision == ResourceDecision::PassThrough && held {
            state.renewed = false;
        }
        Ok(decision)
    }

    /// The MCP server refused `used` (401): forget it, unless another task already replaced it,
    /// so the next [`HeadlessClient::access_token`] asks for a new one.
    pub async fn handle_unauthorized(&self, used: Option<&AccessToken>) {
        let mut state = self.state.lock().await;
        let current = state.tokens.as_ref().map(|t| &t.access_token);
        if used.is_none() || current == used {
            state.tokens = None;
        }
    }

    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, Error> {
        self.opts.http.send(req).await.map_err(|t| match t.egress {
            Some(denied) => Error::Egress(denied),
            None => Error::Transport { url: t.url, message: t.message },
        })
    }

    fn request_id(state: &mut State) -> RequestId {
        state.next_id += 1;
        RequestId(state.next_id)
    }

    /// Refuses to send `client`'s secret or an assertion to `issuer` unless they belong to it
    /// (the core's [`registration::check_credential_issuer`]); pins the first issuer used.
    fn bind(state: &mut State, client: &ClientCredentials, issuer: &str) -> Result<(), Error> {
        if client.method == TokenEndpointAuth::None {
            return Ok(());
        }
        let pinned: Vec<&str> = state
            .pins
            .iter()
            .filter(|(id, _)| *id == client.client_id)
            .map(|(_, i)| i.as_str())
            .collect();
        registration::check_credential_issuer(&client.client_id, &client.issuers, &pinned, issuer)
            .map_err(mcp_oauth_core::Error::from)?;
        if client.issuers.is_empty() && pinned.is_empty() {
            state.pins.push((client.client_id.clone(), issuer.to_owned()));
        }
        Ok(())
    }

    /// Finds the token endpoint: the configured one, or discovery through the core.
    async fn target(&self, state: &mut State, now: UnixTime) -> Result<Target, Error> {
        if let Some(url) = &self.opts.token_url {
            let token_endpoint = EndpointUrl::parse(url)?;
            let issuer = self.opts.issuer.clone().unwrap_or_else(|| url.clone());
            let policy = state.flow.config().policy(&issuer);
            return Ok(Target {
                issuer,
                token_endpoint,
                resource: (!policy.danger_omit_resource).then(|| self.server.clone()),
                scope: self.opts.scopes.clone(),
            });
        }
        if let Some(d) = self.opts.cache.get_shared(self.server.as_str(), now) {
            state.flow.use_discovery(d);
        }
        state.flow.begin_discovery(now)?;
        let mut first_error = None;
        let mut denied = None;
        while let Some(req) = state.flow.poll_request() {
            let result = match self.opts.http.send(&req).await {
                Ok(resp) => state.flow.handle_response(now, req.id, resp),
                Err(t) => {
                    denied = denied.or(t.egress);
                    state.flow.handle_transport_error(now, req.id, &t.message)
                }
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        while let Some(event) = state.flow.poll_event() {
            if let FlowEvent::MetadataDiscovered(d) = event {
                self.opts.cache.put(self.server.as_str(), d, now);
            }
        }
        if let Some(e) = denied {
            return Err(Error::Egress(e));
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        let d = state
            .flow
            .discovery()
            .cloned()
            .ok_or(mcp_oauth_core::error::FlowError::NotDiscovered)
            .map_err(mcp_oauth_core::Error::from)?;
        let issuer = d.server.issuer.as_str().to_owned();
        let policy = state.flow.config().policy(&issuer);
        let scope = self.opts.scopes.clone().or_else(|| {
            d.resource_metadata
                .as_ref()
                .and_then(|m| m.scopes_supported.as_ref())
                .filter(|s| !s.is_empty())
                .map(|s| s.join(" "))
        });
        Ok(Target {
            issuer,
            token_endpoint: d.server.token_endpoint.clone(),
            resource: (!policy.danger_omit_resource).then(|| state.flow.resource()),
            scope,
        })
    }

    async fn fetch(&self, state: &mut State, now: UnixTime) -> Result<TokenSet, Error> {
        let target = self.target(state, now).await?;
        let scope = target.scope.as_deref();
        match &self.opts.grant {
            HeadlessGrant::ClientCredentials { client } => {
                Self::bind(state, client, &target.issuer)?;
                let assertion = client.assertion(&target.issuer, now)?;
                let req = client_credentials::client_credentials_request(
                    Self::request_id(state),
                    &target.token_endpoint,
                    &client.auth(assertion.as_deref()),
                    scope,
                    target.resource.as_ref(),
                )
                .map_err(mcp_oauth_core::Error::from)?;
                let resp = self.send(&req).await?;
                Ok(client_credentials::process_client_credentials_response(&resp, now, scope)
                    .map_err(mcp_oauth_core::Error::from)?)
            }
            HeadlessGrant::CrossApp { idp_token_endpoint, id_token, idp_client, client } => {
                // Checked before the identity provider is asked for a grant for this issuer.
                Self::bind(state, client, &target.issuer)?;
                let idp_endpoint = EndpointUrl::parse(idp_token_endpoint)?;
                let audience = IssuerUrl::parse(&target.issuer)?;
                // The identity provider's client assertion names the identity provider; its
                // issuer is not known here, so its token endpoint stands in (RFC 7523 §3 item 3).
                let idp_assertion = idp_client.assertion(idp_endpoint.as_str(), now)?;
                let req = token_exchange::id_jag_request(
                    Self::request_id(state),
                    &token_exchange::IdJagParams {
                        idp_token_endpoint: &idp_endpoint,
                        client: &idp_client.auth(idp_assertion.as_deref()),
                        id_token,
                        audience: &audience,
                        resource: target.resource.as_ref(),
                        scope,
                    },
                )
                .map_err(mcp_oauth_core::Error::from)?;
                let resp = self.send(&req).await?;
                let jag = token_exchange::process_token_exchange_response(
                    &resp,
                    now,
                    Some(token_types::ID_JAG),
                )
                .map_err(mcp_oauth_core::Error::from)?;
                let assertion = client.assertion(&target.issuer, now)?;
                let req = jwt_bearer::jwt_bearer_request(
                    Self::request_id(state),
                    &target.token_endpoint,
                    &client.auth(assertion.as_deref()),
                    &jag.token,
                    jag.scope.as_deref().or(scope),
                    target.resource.as_ref(),
                )
                .map_err(mcp_oauth_core::Error::from)?;
                let resp = self.send(&req).await?;
                Ok(jwt_bearer::process_jwt_bearer_response(&resp, now, scope)
                    .map_err(mcp_oauth_core::Error::from)?)
            }
        }
    }
}
