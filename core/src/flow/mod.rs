//! The [`AuthFlow`] state machine: it only sequences the step functions of the other modules
//! and never parses or validates anything itself.
//!
//! ```text
//!  handle_unauthorized ─┬─ tokens with refresh token ─▶ Refreshing ──invalid_grant──┐
//!  begin_authorization ─┘                                                           ▼
//!       Idle ─▶ resource metadata (RFC 9728) ─▶ server metadata (RFC 8414/OIDC) ─▶ identity
//!                     │ none found                                                  │
//!                     └▶ legacy: metadata at the origin, else /authorize /token ────┤
//!       identity: pre-registered │ metadata document │ RFC 7591 registration ◀──────┘
//!         ─▶ AwaitingCallback (events: AuthorizationPending, OpenBrowser)
//!         ─▶ handle_callback ─▶ code exchange ─▶ TokensUpdated, Authorized ─▶ Idle
//!       poll_timeout ─▶ handle_timeout: proactive refresh, pending-authorization expiry
//!       handle_forbidden (403 insufficient_scope) ─▶ step-up authorization (capped)
//!       handle_resource_response: any answer of the MCP server ─▶ pass through, retry, or error
//! ```
//!
//! # Drain contract
//! After **every** input (`handle_*`, `begin_authorization`, `logout`):
//! 1. drain [`AuthFlow::poll_request`] and send each request (never following redirects);
//!    answer each with [`AuthFlow::handle_response`] or [`AuthFlow::handle_transport_error`];
//! 2. drain [`AuthFlow::poll_event`] (save state on `AuthorizationPending`, `ClientRegistered`,
//!    `CredentialPinned`, `TokensUpdated`, and the entry of `from` on
//!    `AuthorizationServerChanged`; open the browser on `OpenBrowser`);
//! 3. read [`AuthFlow::poll_timeout`] and call [`AuthFlow::handle_timeout`] when it passes.
//!
//! Every `Err` a `handle_*` call returns is also queued as [`FlowEvent::Failed`], so a host that
//! only watches events sees every failure.

mod authorization;
mod config;
mod discovery;
mod dpop;
mod entry;
mod refresh;
pub mod resource;
mod snapshot;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

pub use config::FlowConfig;
pub use entry::{EntryKey, PersistedEntry, ENTRY_VERSION};
pub use resource::{ResourceDecision, ResourceResponse};
pub use snapshot::{Discovery, FlowSnapshot, StoredTokens, SNAPSHOT_VERSION};

use crate::authorize::PendingAuthorization;
use crate::error::{Error, FlowError};
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::pkce::Entropy;
use crate::registration::ClientRegistration;
use crate::secret::AccessToken;
use crate::time::UnixTime;
use crate::token::{ClientAssertionSigner, TokenSet};
use crate::url::Url;
use crate::www_authenticate::BearerChallenge;

/// What the host should know or do.
// Events are few per flow; boxing the large variants would only add allocations and `*` noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowEvent {
    /// Metadata was discovered; hosts may share it between flows until `cache_until`.
    MetadataDiscovered(Discovery),
    /// The server has no protected-resource metadata; the 2025-03-26 fallback is in use.
    UsingLegacyDiscovery {
        /// The MCP server's origin, taken as the authorization server.
        origin: String,
    },
    /// A client identity was obtained: persist it keyed by its issuer.
    ClientRegistered(ClientRegistration),
    /// Configured (pre-registered) credentials were used with this issuer for the first time
    /// and are now pinned to it: persist the flow's registration for `issuer` (a later
    /// discovery that leads elsewhere is refused with `credential_issuer_mismatch`).
    CredentialPinned {
        /// The issuer they are pinned to.
        issuer: String,
        /// The configured client id.
        client_id: String,
    },
    /// An authorization is about to start: persist [`AuthFlow::pending_entry`] now, before
    /// the browser leaves (the callback may arrive in another process).
    AuthorizationPending(PendingAuthorization),
    /// Send the user's browser to this URL.
    OpenBrowser {
        /// The authorization URL.
        url: String,
    },
    /// New tokens: persist them keyed by (user, resource, issuer).
    TokensUpdated {
        /// The issuer that issued them.
        issuer: String,
        /// The resource they are for.
        resource: String,
        /// The tokens.
        tokens: TokenSet,
    },
    /// The tokens were dropped (logout, rejected refresh token): delete them from storage.
    TokensCleared,
    /// The authorization completed.
    Authorized,
    /// A failure (also returned by the call that caused it).
    Failed(Error),
    /// At logout, the authorization server answered `unsupported_token_type` (RFC 7009 §2.2.1):
    /// it does not revoke that kind of token, which stays valid until it expires. Not a failure:
    /// the tokens are deleted locally all the same.
    TokenNotRevocable {
        /// The revocation endpoint.
        endpoint: String,
    },
    /// The MCP server's protected-resource metadata (RFC 9728) now names another authorization
    /// server than the one the tokens came from (MCP SEP-2352): the old tokens are dropped
    /// (`TokensCleared` follows; persist the entry of `from`) and the flow authorizes at `to`
    /// with an identity of its own there. Worth a log line.
    AuthorizationServerChanged {
        /// The issuer the tokens came from.
        from: String,
        /// The issuer the resource names now.
        to: String,
    },
    /// The server deviated from a specification in a way the flow accepted: worth a log line.
    Notice {
        /// What happened.
        message: String,
    },
}

/// Where the flow is, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowStatus {
    /// No usable token and nothing in progress.
    Unauthorized,
    /// Fetching metadata.
    Discovering,
    /// Registering the client.
    Registering,
    /// Waiting for the user to finish in the browser.
    AwaitingUser {
        /// The authorization URL.
        url: String,
    },
    /// Exchanging the code.
    ExchangingCode,
    /// Refreshing the token.
    Refreshing,
    /// Revoking tokens.
    LoggingOut,
    /// A token is held.
    Authorized {
        /// When it expires.
        expires_at: Option<UnixTime>,
        /// The granted scope.
        scope: Option<String>,
    },
}

/// What the flow does once discovery is done.
#[derive(Clone, Debug)]
enum Goal {
    /// Authorize with this entropy; `scope` forces the scope (step-up).
    Authorize { entropy: Entropy, scope: Option<String> },
    /// Refresh; on `invalid_grant` authorize with the fallback entropy when there is one.
    Refresh { fallback: Option<Entropy> },
    /// Nothing more: the host runs a headless grant with the discovered metadata.
    Discover,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Discovering {
        machine: Box<
            crate::discovery::Discoverer<dyn crate::discovery::DiscoverySettings + Send + Sync>,
        >,
        goal: Goal,
    },
    Registering {
        request: RequestId,
        entropy: Entropy,
        scope: Option<String>,
    },
    AwaitingCallback {
        pending: Box<PendingAuthorization>,
    },
    ExchangingCode {
        request: RequestId,
        pending: Box<PendingAuthorization>,
    },
    Refreshing {
        request: RequestId,
        fallback: Option<Entropy>,
    },
    Revoking {
        requests: Vec<RequestId>,
    },
}

/// The sans-IO authorization flow for one user and one MCP server. See the module docs for the
/// diagram and the drain contract.
pub struct AuthFlow {
    /// Shared: every flow of a host for the same server and client may hold the same one.
    config: Arc<FlowConfig>,
    phase: Phase,
    next_id: u64,
    requests: VecDeque<HttpRequest>,
    events: VecDeque<FlowEvent>,
    // Boxed, as the in-progress phase payloads: an idle flow (most of a server's sessions)
    // then costs a word for it instead of its full size.
    challenge: Option<Box<BearerChallenge>>,
    /// Shared with the host's cache and the other flows of the same server when the host
    /// passes it to [`AuthFlow::use_discovery`].
    discovery: Option<Arc<Discovery>>,
    registrations: Vec<ClientRegistration>,
    tokens: Option<(String, TokenSet)>,
    /// The current tokens came from a refresh made because of a 401: another 401 means the
    /// refresh did not help, so authorize instead of refreshing in a loop.
    tokens_from_401_refresh: bool,
    last_requested_scope: Option<String>,
    step_up_attempts: Vec<(String, u32)>,
    /// The flow in progress answers the MCP server's 401 or 403 (core/src/flow/resource.rs).
    answering_challenge: bool,
    /// The tokens held were obtained in answer to a 401 or 403 and not yet accepted since.
    tokens_after_challenge: bool,
    refresh_not_before: Option<UnixTime>,
    signer: Option<Arc<dyn ClientAssertionSigner + Send + Sync>>,
    /// DPoP (RFC 9449): the host's key, nonces, the token request to retry (core/src/flow/dpop.rs).
    dpop: dpop::DpopState,
}

impl std::fmt::Debug for AuthFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFlow")
            .field("server_url", &self.config.server_url)
            .field("phase", &self.phase)
            .field("has_tokens", &self.tokens.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthFlow {
    /// A flow with no stored state. The configuration may be shared (`Arc<FlowConfig>`) by
    /// the flows of many users of the same server.
    pub fn new(config: impl Into<Arc<FlowConfig>>) -> AuthFlow {
        AuthFlow {
            config: config.into(),
            phase: Phase::Idle,
            next_id: 1,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            challenge: None,
            discovery: None,
            registrations: Vec::new(),
            tokens: None,
            tokens_from_401_refresh: false,
            last_requested_scope: None,
            step_up_attempts: Vec::new(),
            answering_challenge: false,
            tokens_after_challenge: false,
            refresh_not_before: None,
            signer: None,
            dpop: dpop::DpopState::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The discovery result in use, if any.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_deref()
    }

    /// The resource to name in token requests for this server: the protected-resource
    /// metadata's `resource` when discovered (RFC 9728 §3.3 checked it), else the server URL.
    pub fn resource(&self) -> crate::url::ResourceUrl {
        self.token_resource()
    }

    /// Sets the signer used for `private_key_jwt` client authentication.
    pub fn set_assertion_signer(&mut self, signer: Arc<dyn ClientAssertionSigner + Send + Sync>) {
        self.signer = Some(signer);
    }

    /// Uses metadata discovered earlier (by another flow of the same process, say) so that this
    /// flow makes no discovery requests. Ignored once it is older than its `cache_until`.
    /// An `Arc<Discovery>` is kept as is, shared with whoever else holds it.
    pub fn use_discovery(&mut self, discovery: impl Into<Arc<Discovery>>) {
        self.discovery = Some(discovery.into());
    }

    /// The client registration held for `issuer`, if any.
    pub fn registration_for(&self, issuer: &str) -> Option<&ClientRegistration> {
        self.registrations.iter().find(|r| r.issuer == issuer)
    }

    /// Adds a stored client registration (keyed by its issuer; replaces one for the same
    /// issuer).
    pub fn add_registration(&mut self, registration: ClientRegistration) {
        self.registrations.retain(|r| r.issuer != registration.issuer);
        self.registrations.push(registration);
    }

    /// The next request to send.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// When [`AuthFlow::handle_timeout`] should be called next: the proactive-refresh deadline
    /// or the pending authorization's expiry. `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        match &self.phase {
            Phase::AwaitingCallback { pending } => {
                Some(pending.created_at.plus(self.config.pending_ttl_secs))
            }
            Phase::Idle => self.refresh_deadline(),
            _ => None,
        }
    }

    /// The access token, when one is held and not expired at `now`.
    pub fn access_token(&self, now: UnixTime) -> Option<&AccessToken> {
        self.tokens.as_ref().filter(|(_, t)| t.is_fresh(now, 0)).map(|(_, t)| &t.access_token)
    }

    /// The tokens held (possibly expired), with their issuer.
    pub fn tokens(&self) -> Option<(&str, &TokenSet)> {
        self.tokens.as_ref().map(|(i, t)| (i.as_str(), t))
    }

    /// The `Authorization` header value for a request to `request_url`, when a fresh token is
    /// held. Refuses a URL outside the token's resource (MCP 2026-07-28 authorization,
    /// token handling: no token for another resource, never in a query string; RFC 8707).
    /// A DPoP-bound token is `DPoP <token>`, never Bearer (RFC 9449 §7.1), and needs a proof:
    /// hosts use [`AuthFlow::resource_request_headers`], which adds it.
    pub fn authorization_header(
        &self,
        now: UnixTime,
        request_url: &str,
    ) -> Result<Option<String>, Error> {
        let url = Url::parse(request_url)?;
        let resource = self.token_resource();
        if !resource.covers_request(&url) {
            return Err(FlowError::TokenForOtherResource {
                resource: resource.as_str().to_owned(),
                url: request_url.to_owned(),
            }
            .into());
        }
        let bound = self.tokens.as_ref().is_some_and(|(_, t)| t.is_dpop_bound());
        let scheme = if bound { crate::dpop::TOKEN_TYPE } else { "Bearer" };
        Ok(self.access_token(now).map(|t| format!("{scheme} {}", t.secret())))
    }

    /// Where the flow is.
    pub fn status(&self, now: UnixTime) -> FlowStatus {
        match &self.phase {
            Phase::Discovering { .. } => FlowStatus::Discovering,
            Phase::Registering { .. } => FlowStatus::Registering,
            Phase::AwaitingCallback { pending } => {
                FlowStatus::AwaitingUser { url: pending.authorization_url.clone() }
            }
            Phase::ExchangingCode { .. } => FlowStatus::ExchangingCode,
            Phase::Refreshing { .. } => FlowStatus::Refreshing,
            Phase::Revoking { .. } => FlowStatus::LoggingOut,
            Phase::Idle => match &self.tokens {
                Some((_, t)) if t.is_fresh(now, 0) || t.refresh_token.is_some() => {
                    FlowStatus::Authorized { expires_at: t.expires_at, scope: t.scope.clone() }
                }
                _ => FlowStatus::Unauthorized,
            },
        }
    }

    /// Answers a request the flow asked for.
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: HttpResponse,
    ) -> Result<(), Error> {
        match &self.phase {
            Phase::Discovering { machine, .. } if machine.awaits(id) => {
                self.on_discovery(now, Ok(&response))
            }
            Phase::Registering { request, .. } if *request == id => {
                self.on_registration(now, &response)
            }
            Phase::ExchangingCode { request, .. } if *request == id => {
                self.on_code_exchange(now, &response)
            }
            Phase::Refreshing { request, .. } if *request == id => {
                self.on_refresh(now, Ok(&response))
            }
            Phase::Revoking { requests } if requests.contains(&id) => {
                self.on_revocation(id, &response)
            }
            _ => Err(self.report(FlowError::UnknownRequest(id.0).into())),
        }
    }

    /// Reports that a request could not be sent or answered (network, CORS, timeout). A
    /// discovery request moves on to the next candidate; a refresh keeps the tokens and retries
    /// later; anything else fails.
    pub fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error> {
        let failure = |url: &str, purpose: &str| FlowError::Transport {
            purpose: purpose.to_owned(),
            url: url.to_owned(),
            message: message.to_owned(),
        };
        match &self.phase {
            Phase::Discovering { machine, .. } if machine.awaits(id) => {
                self.on_discovery(now, Err(message))
            }
            Phase::Refreshing { request, .. } if *request == id => {
                self.on_refresh(now, Err(message))
            }
            Phase::Registering { request, .. } if *request == id => {
                self.phase = Phase::Idle;
                Err(self.report(failure("the registration endpoint", "client registration").into()))
            }
            Phase::ExchangingCode { request, .. } if *request == id => {
                self.phase = Phase::Idle;
                Err(self.report(failure("the token endpoint", "token").into()))
            }
            Phase::Revoking { requests } if requests.contains(&id) => {
                let mut requests = requests.clone();
                requests.retain(|r| *r != id);
                self.phase =
                    if requests.is_empty() { Phase::Idle } else { Phase::Revoking { requests } };
                Err(self.report(failure("the revocation endpoint", "revocation").into()))
            }
            _ => Err(self.report(FlowError::UnknownRequest(id.0).into())),
        }
    }

    /// Drops whatever is in progress (a pending authorization, an unanswered request). Tokens
    /// are kept.
    pub fn cancel(&mut self) {
        self.phase = Phase::Idle;
        self.requests.clear();
        self.dpop.cancel();
        self.answering_challenge = false;
    }

    fn next_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Queues the error as an event and hands it back for the caller to return.
    fn report(&mut self, error: Error) -> Error {
        self.events.push_back(FlowEvent::Failed(error.clone()));
        error
    }

    /// Ends the current attempt with an error.
    fn fail(&mut self, error: impl Into<Error>) -> Result<(), Error> {
        self.phase = Phase::Idle;
        Err(self.report(error.into()))
    }

    /// The resource the tokens are for: the metadata's `resource` when known, else the server
    /// URL.
    fn token_resource(&self) -> crate::url::ResourceUrl {
        self.discovery
            .as_ref()
            .and_then(|d| d.resource_metadata.as_ref())
            .map(|m| m.resource.clone())
            .unwrap_or_else(|| self.config.server_url.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::tests::harness::{authorize, drain, entropy, World, MCP, REDIRECT};
    use super::{AuthFlow, FlowConfig, FlowSnapshot};
    use crate::registration::ClientConfig;

    /// A snapshot with every member set: tokens, a registration, discovery and a pending
    /// step-up authorization.
    pub(crate) fn full_snapshot() -> FlowSnapshot {
        let mut world = World::new();
        let mut flow =
            AuthFlow::new(FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap());
        authorize(&mut flow, &mut world, 1);
        flow.handle_unauthorized(world.now, &world.unauthorized(None), entropy(2)).unwrap();
        drain(&mut flow, &mut world);
        flow.cancel();
        flow.begin_authorization(world.now, entropy(3)).unwrap();
        drain(&mut flow, &mut world);
        let snap = flow.snapshot();
        assert!(snap.tokens.is_some() && snap.pending.is_some() && snap.discovery.is_some());
        snap
    }
}
