//! [`HeadlessFlow`]: access tokens without a user or a browser (CI pipelines, backend services),
//! sequenced by the core so that every host sends the same requests.
//!
//! ```text
//!  begin / handle_unauthorized / handle_timeout
//!    │ fixed token endpoint (service account)? ─────────────────────────────┐
//!    ▼                                                                      │
//!  discovery machine (core/src/discovery.rs): PRM ─▶ AS metadata, cached    │
//!    ▼                                                                      ▼
//!  target: issuer, token endpoint, resource (unless danger_omit_resource), scope
//!    │ cross-app (SEP-990)? ── IdP metadata (when its issuer is configured)
//!    │                      ── [sign IdP assertion] ─▶ RFC 8693 exchange: ID token ─▶ ID-JAG
//!    │ workload identity (SEP-1933)? ── [the host's platform assertion, read again each time]
//!    ▼
//!  credentials bound to the issuer (SEP-2352) ─▶ [sign assertion] ─▶
//!  client_credentials (RFC 6749 §4.4) or jwt-bearer with the ID-JAG or the workload's
//!  assertion (RFC 7523 §2.1)
//!    ▼
//!  TokensUpdated
//! ```
//!
//! Decisions the core makes, once for every host:
//! - **scope**: configured scopes, else the protected-resource metadata's `scopes_supported`
//!   ([`crate::scope::select`], the rule of the authorization-code flow; no `offline_access`:
//!   RFC 6749 §4.4.3 issues no refresh token to this grant);
//! - **client secret method**: the configured one, else [`crate::registration::secret_method_for`] on
//!   the server's `token_endpoint_auth_methods_supported` (`client_secret_basic` when listed or
//!   when the server does not say, RFC 8414 §2; else `client_secret_post`), at the authorization
//!   server and at the identity provider alike;
//! - **resource**: the protected-resource metadata's `resource` (else the server URL) on every
//!   request (RFC 8707 §2.2; SEP-990 §4 for the exchange), unless the issuer's policy says
//!   `danger_omit_resource`;
//! - **assertion audience** (RFC 7523 §3 item 3): the authorization server's issuer; at the
//!   identity provider its issuer when configured, else its token endpoint.
//! - **workload identity** ([`HeadlessConfig::workload_identity`], MCP extension SEP-1933): the
//!   grant is RFC 7523 §2.1 with a JWT the workload's platform issued (a Kubernetes
//!   service-account token, a cloud identity token). The core has no files: before every token
//!   request it asks the host for the assertion with a [`SigningRequest`] whose signer is
//!   [`AssertionFor::Workload`] (its `claims.aud` names the audience the assertion should
//!   carry); the host reads it anew each time (platforms rotate it) and answers with
//!   [`HeadlessFlow::provide_assertion`]. A refusal (`invalid_grant`, `invalid_scope`,
//!   `unauthorized_client`, RFC 6749 §5.2) ends the attempt with the server's error: no retry
//!   and no other grant. The flow then holds no token and starts nothing by itself
//!   ([`HeadlessFlow::poll_timeout`] is `None`); the host's next [`HeadlessFlow::begin`] (its next
//!   need for a token) reads the assertion again and makes one request, so a rotated assertion
//!   recovers and an unchanged one fails once per call, never in a loop. The assertion is a
//!   bearer credential: it is bound like a client secret (SEP-2352, [`HeadlessCredentials::issuers`],
//!   else the first issuer is pinned), also for a public client.
//! - **DPoP** (RFC 9449, [`HeadlessConfig::dpop`], core/src/headless/dpop.rs): the rule of the
//!   authorization-code flow ([`crate::dpop::proof_wanted`]) for a proof on the grant request,
//!   the `use_dpop_nonce` retry there and at the MCP server, and
//!   [`HeadlessFlow::resource_request_headers`] (`Authorization: DPoP` and a proof with `ath`).
//!
//! # Drain contract
//! As [`crate::AuthFlow`]'s, with signing: after every input (`begin`, `handle_*`,
//! `provide_assertion`), drain [`HeadlessFlow::poll_request`] (send each, never following
//! redirects, answer with [`HeadlessFlow::handle_response`] /
//! [`HeadlessFlow::handle_transport_error`]) and [`HeadlessFlow::poll_signature`] (sign the
//! claims with the client's key, answer with [`HeadlessFlow::provide_assertion`] or
//! [`HeadlessFlow::handle_signing_error`]) until both are empty; then drain
//! [`HeadlessFlow::poll_event`]; read [`HeadlessFlow::poll_timeout`] and call
//! [`HeadlessFlow::handle_timeout`] when it passes. Every `Err` is also queued as
//! [`FlowEvent::Failed`].

use std::collections::VecDeque;
use std::sync::Arc;

use crate::discovery::{self, DiscoveryMachine, DiscoveryStart};
use crate::error::{Error, FlowError};
use crate::flow::{Discovery, FlowEvent};
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::secret::{AccessToken, GrantAssertion};
use crate::time::UnixTime;
use crate::token::{AssertionClaims, TokenError, TokenSet};
use crate::url::{EndpointUrl, ResourceUrl, Url};
use crate::{jwt_bearer, scope};

mod config;
mod dpop;
mod requests;

pub use config::{
    CrossAppConfig, FixedTokenEndpoint, HeadlessAuth, HeadlessConfig, HeadlessCredentials,
};
use requests::workload_assertion;

/// Whose key signs an assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssertionFor {
    /// The client at the MCP server's authorization server ([`HeadlessConfig::client`]).
    AuthorizationServer,
    /// The client at the identity provider ([`CrossAppConfig::idp_client`]).
    IdentityProvider,
    /// Not a signature: the workload's platform assertion, which the host reads (a file, an
    /// environment variable) and hands back as is ([`HeadlessConfig::workload_identity`]);
    /// `claims` only say what it is for (`aud`: the authorization server's issuer).
    Workload,
}

/// Claims the host must sign (compact JWS), then hand back with
/// [`HeadlessFlow::provide_assertion`]. `claims.jti` is `None`: the signer adds 128 random bits
/// (RFC 7523 §3 item 7), as [`crate::token::ClientAssertionSigner`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningRequest {
    /// Answer with this id.
    pub id: u64,
    /// Whose key.
    pub signer: AssertionFor,
    /// The RFC 7523 §3 claims.
    pub claims: AssertionClaims,
}

/// Where tokens come from, once discovery (or the configuration) said.
#[derive(Clone, Debug)]
struct Target {
    issuer: String,
    token_endpoint: EndpointUrl,
    auth_methods: Option<Vec<String>>,
    /// The resource the tokens are for (for `TokensUpdated`).
    resource: ResourceUrl,
    /// `resource` as sent (`None` under `danger_omit_resource`).
    send_resource: Option<ResourceUrl>,
    scope: Option<String>,
    idp: Option<IdpTarget>,
    /// The ID-JAG, once exchanged, with its granted scope.
    jag: Option<(GrantAssertion, Option<String>)>,
    /// The workload's assertion, once the host supplied it for this request.
    workload: Option<GrantAssertion>,
}

#[derive(Clone, Debug)]
struct IdpTarget {
    token_endpoint: EndpointUrl,
    audience: String,
    auth_methods: Option<Vec<String>>,
}

/// The request the flow is about to make, or made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// RFC 8693 at the identity provider.
    Exchange,
    /// The grant at the authorization server.
    Token,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Discovering(Box<DiscoveryMachine>),
    DiscoveringIdp(Box<DiscoveryMachine>, Box<Target>),
    Signing { id: u64, step: Step, signer: AssertionFor, target: Box<Target> },
    Requesting { request: RequestId, step: Step, target: Box<Target> },
}

/// The headless flow (module docs for the sequence, the decisions and the drain contract).
pub struct HeadlessFlow {
    config: Arc<HeadlessConfig>,
    phase: Phase,
    next_id: u64,
    next_signature: u64,
    requests: VecDeque<HttpRequest>,
    signatures: VecDeque<SigningRequest>,
    events: VecDeque<FlowEvent>,
    discovery: Option<Arc<Discovery>>,
    tokens: Option<(String, TokenSet)>,
    /// (client id, issuer) pins of credentials without configured issuers.
    pins: Vec<(String, String)>,
    /// The MCP server refused the last token: the next one is `renewed`.
    refused: bool,
    /// The token held was obtained because the MCP server refused the one before it.
    renewed: bool,
    /// DPoP (RFC 9449): the host's key, nonces, the grant request to retry
    /// (core/src/headless/dpop.rs).
    dpop: dpop::HeadlessDpop,
}

impl std::fmt::Debug for HeadlessFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessFlow")
            .field("server_url", &self.config.server_url)
            .field("phase", &self.phase)
            .field("has_tokens", &self.tokens.is_some())
            .finish_non_exhaustive()
    }
}

impl HeadlessFlow {
    /// A flow with no tokens.
    pub fn new(config: impl Into<Arc<HeadlessConfig>>) -> HeadlessFlow {
        HeadlessFlow {
            config: config.into(),
            phase: Phase::Idle,
            next_id: 1,
            next_signature: 1,
            requests: VecDeque::new(),
            signatures: VecDeque::new(),
            events: VecDeque::new(),
            discovery: None,
            tokens: None,
            pins: Vec::new(),
            refused: false,
            renewed: false,
            dpop: dpop::HeadlessDpop::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HeadlessConfig {
        &self.config
    }

    /// Uses metadata discovered earlier (the host's cache): no discovery request while it is
    /// fresh.
    pub fn use_discovery(&mut self, discovery: impl Into<Arc<Discovery>>) {
        self.discovery = Some(discovery.into());
    }

    /// The discovery result in use, if any.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_deref()
    }

    /// The resource tokens are for: the protected-resource metadata's `resource` when
    /// discovered, else the server URL.
    pub fn resource(&self) -> ResourceUrl {
        self.discovery
            .as_ref()
            .and_then(|d| d.resource_metadata.as_ref())
            .map(|m| m.resource.clone())
            .unwrap_or_else(|| self.config.server_url.clone())
    }

    /// True while a token is being obtained.
    pub fn is_busy(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// The tokens held (possibly expired), with their issuer.
    pub fn tokens(&self) -> Option<(&str, &TokenSet)> {
        self.tokens.as_ref().map(|(i, t)| (i.as_str(), t))
    }

    /// The access token while it has `refresh_skew_secs` to live at `now`.
    pub fn access_token(&self, now: UnixTime) -> Option<&AccessToken> {
        let skew = self.config.refresh_skew_secs;
        self.tokens.as_ref().filter(|(_, t)| t.is_fresh(now, skew)).map(|(_, t)| &t.access_token)
    }

    /// The `Authorization` header value for a request to `request_url`, when a usable token is
    /// held. Refuses a URL outside the token's resource (RFC 8707; MCP: no token for another
    /// resource). A DPoP-bound token is `DPoP <token>`, never Bearer (RFC 9449 §7.1), and needs
    /// a proof: hosts use [`HeadlessFlow::resource_request_headers`], which adds it.
    pub fn authorization_header(
        &self,
        now: UnixTime,
        request_url: &str,
    ) -> Result<Option<String>, Error> {
        let url = Url::parse(request_url)?;
        let resource = self.resource();
        if !resource.covers_request(&url) {
            return Err(FlowError::TokenForOtherResource {
                resource: resource.as_str().to_owned(),
                url: request_url.to_owned(),
            }
            .into());
        }
        let scheme = if self.holds_bound_token() { crate::dpop::TOKEN_TYPE } else { "Bearer" };
        Ok(self.access_token(now).map(|t| format!("{scheme} {}", t.secret())))
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.requests.pop_front()
    }

    /// The next claims to sign.
    #[must_use]
    pub fn poll_signature(&mut self) -> Option<SigningRequest> {
        self.signatures.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// When the token should be replaced (`refresh_skew_secs` before it expires); `None` when
    /// busy or nothing expires.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        if self.is_busy() {
            return None;
        }
        let (_, t) = self.tokens.as_ref()?;
        t.expires_at.map(|e| UnixTime(e.secs().saturating_sub(self.config.refresh_skew_secs)))
    }

    /// Replaces the token when [`HeadlessFlow::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: UnixTime) -> Result<(), Error> {
        match self.poll_timeout() {
            Some(t) if now >= t => self.begin(now),
            _ => Ok(()),
        }
    }

    /// Obtains a token (discovery when needed, then the grant). While one is being obtained,
    /// nothing more is started: callers share it.
    pub fn begin(&mut self, now: UnixTime) -> Result<(), Error> {
        self.begin_with(now, false)
    }

    /// [`HeadlessFlow::begin`]; `revalidate` after the MCP server refused the token held: the
    /// cached discovery may be stale (a resource that moved to another authorization server,
    /// MCP SEP-2352, core/src/discovery.rs), so the resource metadata is read again. Credentials
    /// pinned to the old issuer are then refused before anything is sent.
    fn begin_with(&mut self, now: UnixTime, revalidate: bool) -> Result<(), Error> {
        if self.is_busy() {
            return Ok(());
        }
        if let Some(fixed) = &self.config.token_endpoint {
            let issuer = fixed.effective_issuer();
            let target = self.target(issuer, fixed.token_endpoint.clone(), None, None);
            return self.next(now, target);
        }
        let start = DiscoveryStart {
            header_url: None,
            cached: self.discovery.clone(),
            first_request_id: RequestId(self.next_id),
            revalidate,
        };
        let machine = DiscoveryMachine::start(now, self.config.clone(), start);
        self.phase = Phase::Discovering(Box::new(machine));
        self.advance_discovery(now)
    }

    /// The MCP server answered 401 to a request that carried `used`: unless the flow already
    /// holds another, usable token (a stale 401), the token is dropped and a new one obtained.
    pub fn handle_unauthorized(
        &mut self,
        now: UnixTime,
        used: Option<&AccessToken>,
    ) -> Result<(), Error> {
        if let (Some(used), Some(current)) = (used, self.access_token(now)) {
            if used != current {
                return Ok(());
            }
        }
        let held = self.tokens.take().is_some();
        if held {
            self.events.push_back(FlowEvent::TokensCleared);
        }
        self.begin_with(now, held)
    }

    /// Acts on the MCP server's answer to a request that carried `response.token_used`, as
    /// the core decides for headless grants ([`crate::flow::resource::headless_decision`]: no
    /// user, so no step-up). A 401 to the token held drops it and starts getting a new one
    /// (`Retry`: drain, then send again with [`HeadlessFlow::access_token`]); a 401 to an older
    /// token is stale (`Retry` with the current one); a new token refused again, or a 403
    /// `insufficient_scope`, is `token_rejected_by_resource` in the server's words; anything
    /// else passes through.
    pub fn handle_resource_response(
        &mut self,
        now: UnixTime,
        response: &crate::flow::ResourceResponse<'_>,
    ) -> Result<crate::flow::ResourceDecision, Error> {
        use crate::flow::ResourceDecision;
        // RFC 9449 §9: a `use_dpop_nonce` refusal → the same request with a proof carrying the
        // new nonce (HeadlessFlow::resource_request_headers adds it); the token stays.
        if let Some(decision) = self.resource_dpop(response)? {
            return Ok(decision);
        }
        let used = response.token_used;
        let held = used.is_some() && self.tokens.as_ref().map(|(_, t)| &t.access_token) == used;
        let decision =
            match crate::flow::resource::headless_decision(response, held && self.renewed) {
                Ok(d) => d,
                Err(e) => return Err(self.report(e)),
            };
        match decision {
            ResourceDecision::Retry if held || used.is_none() => {
                self.refused = true;
                if self.tokens.take().is_some() {
                    self.events.push_back(FlowEvent::TokensCleared);
                }
                if !self.is_busy() {
                    self.begin_with(now, held)?;
                }
            }
            ResourceDecision::PassThrough if held => self.renewed = false,
            _ => {}
        }
        Ok(decision)
    }

    /// Drops what is in progress. Tokens are kept.
    pub fn cancel(&mut self) {
        self.phase = Phase::Idle;
        self.forget_grant_retry();
        self.requests.clear();
        self.signatures.clear();
    }

    /// Answers a request the flow asked for.
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: HttpResponse,
    ) -> Result<(), Error> {
        self.answer(now, id, Ok(&response))
    }

    /// Reports that a request could not be sent or answered. A discovery request moves on to
    /// the next candidate; a token request fails (`transport_failed`).
    pub fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error> {
        self.answer(now, id, Err(message))
    }

    /// The signed JWT for the signing request `id`.
    pub fn provide_assertion(&mut self, now: UnixTime, id: u64, jwt: &str) -> Result<(), Error> {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Signing { id: expected, signer: AssertionFor::Workload, mut target, .. }
                if expected == id =>
            {
                match workload_assertion(jwt) {
                    Ok(a) => {
                        target.workload = Some(a);
                        self.next(now, *target)
                    }
                    Err(e) => self.fail(e),
                }
            }
            Phase::Signing { id: expected, step, target, .. } if expected == id => {
                self.send(now, step, *target, Some(jwt))
            }
            other => {
                self.phase = other;
                Err(self.report(FlowError::UnknownRequest(id).into()))
            }
        }
    }

    /// Signing the request `id` failed (no key, WebCrypto refused), or the workload's assertion
    /// could not be read: the attempt fails.
    pub fn handle_signing_error(&mut self, id: u64, message: &str) -> Result<(), Error> {
        match &self.phase {
            Phase::Signing { id: expected, signer, .. } if *expected == id => {
                let message = message.to_owned();
                self.fail(match signer {
                    AssertionFor::Workload => TokenError::WorkloadAssertionUnavailable(message),
                    _ => TokenError::AssertionSigningFailed(message),
                })
            }
            _ => Err(self.report(FlowError::UnknownRequest(id).into())),
        }
    }

    fn answer(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Discovering(m) | Phase::DiscoveringIdp(m, _) if m.awaits(id) => {
                // An error ends the machine; advance_discovery reports its outcome.
                let _ = match response {
                    Ok(r) => m.handle_response(now, id, r),
                    Err(e) => m.handle_transport_error(now, id, e),
                };
                self.advance_discovery(now)
            }
            Phase::Requesting { request, .. } if *request == id => {
                let Phase::Requesting { step, target, .. } =
                    std::mem::replace(&mut self.phase, Phase::Idle)
                else {
                    return Ok(());
                };
                if let (Step::Token, Ok(r)) = (step, response) {
                    // RFC 9449 §8: `use_dpop_nonce` → the grant once more, with the nonce.
                    if self.grant_nonce_retry(target.token_endpoint.as_str(), r) {
                        return self.next(now, *target);
                    }
                }
                match response {
                    Ok(r) => self.on_response(now, step, *target, r),
                    Err(message) => {
                        let (url, purpose) = match step {
                            Step::Exchange => {
                                ("the identity provider's token endpoint", "token exchange")
                            }
                            Step::Token => ("the token endpoint", "token"),
                        };
                        self.fail(FlowError::Transport {
                            purpose: purpose.to_owned(),
                            url: url.to_owned(),
                            message: message.to_owned(),
                        })
                    }
                }
            }
            _ => Err(self.report(FlowError::UnknownRequest(id.0).into())),
        }
    }

    /// Moves the machine's requests and events into the flow's queues; once it is done, goes
    /// on with its result or fails.
    fn advance_discovery(&mut self, now: UnixTime) -> Result<(), Error> {
        let (Phase::Discovering(machine) | Phase::DiscoveringIdp(machine, _)) = &mut self.phase
        else {
            return Ok(());
        };
        if let Some(r) = machine.poll_request() {
            self.requests.push_back(r);
        }
        let idp = matches!(self.phase, Phase::DiscoveringIdp(..));
        let (Phase::Discovering(machine) | Phase::DiscoveringIdp(machine, _)) = &mut self.phase
        else {
            return Ok(());
        };
        while let Some(e) = machine.poll_event() {
            // The identity provider's metadata is not the MCP server's: not for the host's cache.
            if !(idp && matches!(e, FlowEvent::MetadataDiscovered(_))) {
                self.events.push_back(e);
            }
        }
        self.next_id = machine.next_request_id().0;
        if !machine.is_done() {
            return Ok(());
        }
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Discovering(machine) => match machine.outcome() {
                Some(Ok(d)) => {
                    self.discovery = Some(d.clone());
                    let target = self.discovered_target(d);
                    self.next(now, target)
                }
                Some(Err(e)) => self.fail(e.clone()),
                None => Ok(()),
            },
            Phase::DiscoveringIdp(machine, mut target) => match machine.outcome() {
                Some(Ok(d)) => {
                    target.idp = Some(IdpTarget {
                        token_endpoint: d.server.token_endpoint.clone(),
                        audience: d.server.issuer.as_str().to_owned(),
                        auth_methods: d.server.token_endpoint_auth_methods_supported.clone(),
                    });
                    self.next(now, *target)
                }
                Some(Err(e)) => self.fail(e.clone()),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The target of a discovery result: its issuer and token endpoint, the configured scopes
    /// else the resource's `scopes_supported`.
    fn discovered_target(&self, d: &Discovery) -> Target {
        let prm_scopes = d.resource_metadata.as_ref().and_then(|m| m.scopes_supported.as_deref());
        // MCP "Scope Selection Strategy", as the authorization-code flow (no challenge here);
        // no offline_access: RFC 6749 §4.4.3.
        let scope = scope::select(self.config.scopes.as_deref(), None, prm_scopes, None, false);
        let mut target = self.target(
            d.server.issuer.as_str().to_owned(),
            d.server.token_endpoint.clone(),
            d.server.token_endpoint_auth_methods_supported.clone(),
            None,
        );
        target.scope = scope;
        target
    }

    fn target(
        &self,
        issuer: String,
        token_endpoint: EndpointUrl,
        auth_methods: Option<Vec<String>>,
        scope: Option<String>,
    ) -> Target {
        let resource = self.resource();
        let policy = discovery::policy_of(&self.config.policies, &issuer);
        // RFC 8707 §2.2: resource on every token request, unless this server's policy says not.
        let send_resource = (!policy.danger_omit_resource).then(|| resource.clone());
        Target {
            issuer,
            token_endpoint,
            auth_methods,
            resource,
            send_resource,
            scope: scope.or_else(|| self.config.scopes.clone()),
            idp: None,
            jag: None,
            workload: None,
        }
    }

    /// Decides the next step for `target`: the identity provider's metadata, the exchange, or
    /// the grant; each after its assertion is signed when the client uses `private_key_jwt`.
    fn next(&mut self, now: UnixTime, mut target: Target) -> Result<(), Error> {
        let config = self.config.clone();
        if config.workload_identity && config.cross_app.is_some() {
            return self.fail(FlowError::ConflictingGrants);
        }
        let step = match (&config.cross_app, &target.jag) {
            (Some(x), None) => {
                if target.idp.is_none() {
                    if let Some(issuer) = &x.idp_issuer {
                        let machine = DiscoveryMachine::start_at_issuer(
                            config.clone(),
                            issuer.clone(),
                            RequestId(self.next_id),
                        );
                        self.phase = Phase::DiscoveringIdp(Box::new(machine), Box::new(target));
                        return self.advance_discovery(now);
                    }
                    let Some(endpoint) = &x.idp_token_endpoint else {
                        return self.fail(FlowError::NotDiscovered);
                    };
                    target.idp = Some(IdpTarget {
                        token_endpoint: endpoint.clone(),
                        // RFC 7523 §3 item 3: the token endpoint may stand for the audience.
                        audience: endpoint.as_str().to_owned(),
                        auth_methods: None,
                    });
                }
                Step::Exchange
            }
            _ => Step::Token,
        };
        // SEP-2352: checked before the identity provider is asked for a grant for this issuer
        // and before the secret or an assertion is sent.
        if let Err(e) = self.bind(&target.issuer) {
            return self.fail(e);
        }
        let (client, audience, signer) = match step {
            Step::Exchange => {
                let Some(x) = &config.cross_app else { return self.fail(FlowError::NotDiscovered) };
                let aud = target.idp.as_ref().map(|i| i.audience.clone()).unwrap_or_default();
                (&x.idp_client, aud, AssertionFor::IdentityProvider)
            }
            Step::Token => {
                (&config.client, target.issuer.clone(), AssertionFor::AuthorizationServer)
            }
        };
        if config.workload_identity && step == Step::Token && target.workload.is_none() {
            // SEP-1933: a fresh assertion from the host for every token request (module docs).
            let id = self.next_signature;
            self.next_signature += 1;
            let claims = AssertionClaims {
                iss: String::new(),
                sub: String::new(),
                aud: target.issuer.clone(),
                iat: now.secs(),
                exp: now.secs(),
                jti: None,
            };
            let signer = AssertionFor::Workload;
            self.signatures.push_back(SigningRequest { id, signer, claims });
            self.phase = Phase::Signing { id, step, signer, target: Box::new(target) };
            return Ok(());
        }
        if matches!(client.auth, HeadlessAuth::PrivateKeyJwt) {
            let id = self.next_signature;
            self.next_signature += 1;
            // RFC 7523 §3; jti left to the signer (SigningRequest docs).
            let mut claims =
                jwt_bearer::client_assertion_claims(&client.client_id, &audience, now, &[0; 16]);
            claims.jti = None;
            self.signatures.push_back(SigningRequest { id, signer, claims });
            self.phase = Phase::Signing { id, step, signer, target: Box::new(target) };
            return Ok(());
        }
        self.send(now, step, target, None)
    }
}

#[cfg(test)]
mod tests;
