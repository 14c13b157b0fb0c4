//! The discovery phase: the machine of core/src/discovery.rs (protected-resource metadata, then
//! authorization-server metadata, or the legacy path), then whatever the [`Goal`] asks for.

use super::{AuthFlow, FlowEvent, Goal, Phase};
use crate::discovery::{DiscoveryConfig, DiscoveryEvent, DiscoveryMachine, DiscoveryStart};
use crate::error::Error;
use crate::http::{HttpResponse, RequestId};
use crate::pkce::Entropy;
use crate::time::UnixTime;
use crate::www_authenticate;

impl AuthFlow {
    /// Starts an authorization without waiting for a 401 (a `login` command). Uses cached
    /// discovery when it is fresh. `entropy` supplies the PKCE verifier and `state`.
    pub fn begin_authorization(&mut self, now: UnixTime, entropy: Entropy) -> Result<(), Error> {
        self.cancel();
        self.start(now, Goal::Authorize { entropy, scope: None })
    }

    /// Runs discovery only (protected-resource metadata, then authorization-server metadata,
    /// with the same order, checks and per-server policies as an authorization), for headless
    /// grants ([`crate::client_credentials`], [`crate::token_exchange`]) that need the issuer and
    /// the token endpoint but no user. Uses cached discovery when it is fresh. The result is in
    /// [`AuthFlow::discovery`] once the requests are drained (and in a `MetadataDiscovered` event
    /// when it was fetched).
    pub fn begin_discovery(&mut self, now: UnixTime) -> Result<(), Error> {
        self.cancel();
        self.start(now, Goal::Discover)
    }

    /// Handles the MCP server's `401 Unauthorized`. With a refresh token (and unless a refresh
    /// made for the previous 401 did not help) the flow refreshes, falling back to a new
    /// authorization when the refresh token is rejected; otherwise it authorizes.
    /// While an authorization is already in progress, the 401 is absorbed.
    pub fn handle_unauthorized(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
        entropy: Entropy,
    ) -> Result<(), Error> {
        let challenge = match www_authenticate::bearer_challenge(response) {
            Ok(c) => c,
            Err(e) => return Err(self.report(e.into())),
        };
        if !matches!(self.phase, Phase::Idle) {
            return Ok(());
        }
        if challenge.is_some() {
            self.challenge = challenge.map(Box::new);
        }
        let can_refresh = self.tokens.as_ref().is_some_and(|(_, t)| t.refresh_token.is_some());
        if can_refresh && !self.tokens_from_401_refresh {
            return self.start(now, Goal::Refresh { fallback: Some(entropy) });
        }
        self.start(now, Goal::Authorize { entropy, scope: None })
    }

    /// Like [`AuthFlow::handle_unauthorized`], for a 401 to a request that carried `used`: when
    /// the flow already holds a different, fresh access token (another task refreshed while this
    /// request was in flight), the 401 is stale and nothing is done — retry with the current
    /// token. Concurrent requests failing with the same expired token thus cause one refresh,
    /// not one refresh and then a re-authorization.
    pub fn handle_unauthorized_for(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
        used: &crate::secret::AccessToken,
        entropy: Entropy,
    ) -> Result<(), Error> {
        if self.access_token(now).is_some_and(|current| current != used) {
            return Ok(());
        }
        self.handle_unauthorized(now, response, entropy)
    }

    /// Runs discovery (the machine of [`crate::discovery`]) unless a fresh cached result covers
    /// it, then pursues `goal`.
    pub(super) fn start(&mut self, now: UnixTime, goal: Goal) -> Result<(), Error> {
        let config = DiscoveryConfig {
            server_url: self.config.server_url.clone(),
            policies: self.config.policies.clone(),
            preferred_issuer: self.config.preferred_issuer.clone(),
            legacy_discovery: self.config.legacy_discovery,
        };
        let start = DiscoveryStart {
            header_url: self.challenge.as_ref().and_then(|c| c.resource_metadata.clone()),
            cached: self.discovery.clone(),
            first_request_id: RequestId(self.next_id),
        };
        let machine = DiscoveryMachine::start(now, config, start);
        self.phase = Phase::Discovering { machine: Box::new(machine), goal };
        self.advance_discovery(now)
    }

    /// Answers the discovery request `id`.
    pub(super) fn on_discovery(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        if let Phase::Discovering { machine, .. } = &mut self.phase {
            // An error ends the machine; advance_discovery reports its outcome.
            let _ = match response {
                Ok(r) => machine.handle_response(now, id, r),
                Err(m) => machine.handle_transport_error(now, id, m),
            };
        }
        self.advance_discovery(now)
    }

    /// Moves the machine's requests and events into the flow's queues; once it is done,
    /// keeps the result and pursues the goal, or fails.
    fn advance_discovery(&mut self, now: UnixTime) -> Result<(), Error> {
        let Phase::Discovering { machine, .. } = &mut self.phase else { return Ok(()) };
        if let Some(r) = machine.poll_request() {
            self.requests.push_back(r);
        }
        while let Some(e) = machine.poll_event() {
            self.events.push_back(match e {
                DiscoveryEvent::UsingLegacyDiscovery { origin } => {
                    FlowEvent::UsingLegacyDiscovery { origin }
                }
                DiscoveryEvent::MetadataDiscovered(d) => FlowEvent::MetadataDiscovered(d),
            });
        }
        self.next_id = machine.next_request_id().0;
        if !machine.is_done() {
            return Ok(());
        }
        let Phase::Discovering { machine, goal } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        match machine.outcome() {
            Some(Ok(d)) => {
                self.discovery = Some(d.clone());
                self.pursue(now, goal)
            }
            Some(Err(e)) => self.fail(e.clone()),
            None => Ok(()),
        }
    }

    /// Discovery is done: do what was asked.
    pub(super) fn pursue(&mut self, now: UnixTime, goal: Goal) -> Result<(), Error> {
        match goal {
            Goal::Authorize { entropy, scope } => self.start_identity(now, entropy, scope),
            Goal::Refresh { fallback } => self.start_refresh(now, fallback),
            Goal::Discover => Ok(()),
        }
    }
}
