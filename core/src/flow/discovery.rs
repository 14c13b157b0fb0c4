//! The discovery phase: the machine of core/src/discovery.rs (protected-resource metadata, then
//! authorization-server metadata, or the legacy path), then whatever the [`Goal`] asks for.

use super::{AuthFlow, FlowEvent, Goal, Phase};
use crate::discovery::{Discoverer, Progress, Sink};
use crate::error::Error;
use crate::http::HttpResponse;
use crate::pkce::Entropy;
use crate::time::UnixTime;
use crate::www_authenticate::{self, BearerChallenge};

impl AuthFlow {
    /// Starts an authorization without waiting for a 401 (a `login` command). Uses cached
    /// discovery when it is fresh. `entropy` supplies the PKCE verifier and `state`.
    pub fn begin_authorization(&mut self, now: UnixTime, entropy: Entropy) -> Result<(), Error> {
        self.cancel();
        self.start(now, Goal::Authorize { entropy, scope: None })
    }

    /// Runs discovery only (protected-resource metadata, then authorization-server metadata,
    /// with the same order, checks and per-server policies as an authorization), to warm this
    /// flow's discovery (headless grants use [`crate::headless::HeadlessFlow`], or
    /// [`crate::discovery::DiscoveryMachine`] alone). Uses cached discovery when it is fresh. The result is in
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
        self.note_dpop_challenge(response.header("www-authenticate"));
        match www_authenticate::bearer_challenge(response) {
            Ok(challenge) => self.unauthorized(now, challenge, entropy),
            Err(e) => Err(self.report(e.into())),
        }
    }

    /// [`AuthFlow::handle_unauthorized`] with the challenge read.
    pub(super) fn unauthorized(
        &mut self,
        now: UnixTime,
        challenge: Option<BearerChallenge>,
        entropy: Entropy,
    ) -> Result<(), Error> {
        if !matches!(self.phase, Phase::Idle) {
            return Ok(());
        }
        if challenge.is_some() {
            self.challenge = challenge.map(Box::new);
        }
        self.answering_challenge = false;
        let can_refresh = self.tokens.as_ref().is_some_and(|(_, t)| t.refresh_token.is_some());
        // A refused token makes cached discovery stale: the resource may name another
        // authorization server now (MCP SEP-2352), so its metadata is read again
        // (core/src/discovery.rs). Without tokens nothing can have moved away from under them.
        let revalidate = self.tokens.is_some();
        let goal = if can_refresh && !self.tokens_from_401_refresh {
            Goal::Refresh { fallback: Some(entropy) }
        } else {
            Goal::Authorize { entropy, scope: None }
        };
        self.start_with(now, goal, revalidate)
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
        self.start_with(now, goal, false)
    }

    /// [`AuthFlow::start`], revalidating cached discovery when `revalidate`.
    fn start_with(&mut self, now: UnixTime, goal: Goal, revalidate: bool) -> Result<(), Error> {
        let header_url = self.challenge.as_ref().and_then(|c| c.resource_metadata.clone());
        let (machine, done) = Discoverer::start(
            now,
            self.config.clone() as crate::discovery::SharedSettings,
            header_url,
            self.discovery.clone(),
            revalidate,
            &mut Sink {
                requests: &mut self.requests,
                events: &mut self.events,
                next_id: &mut self.next_id,
            },
        );
        self.phase = Phase::Discovering { machine: Box::new(machine), goal };
        self.discovered(now, done)
    }

    /// Answers the discovery request (the caller checked that the machine awaits it).
    pub(super) fn on_discovery(
        &mut self,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        let Phase::Discovering { machine, .. } = &mut self.phase else { return Ok(()) };
        let done = machine.answer(
            now,
            response,
            &mut Sink {
                requests: &mut self.requests,
                events: &mut self.events,
                next_id: &mut self.next_id,
            },
        );
        self.discovered(now, done)
    }

    /// Once discovery ended: keeps the result and pursues the goal, or fails.
    fn discovered(&mut self, now: UnixTime, done: Progress) -> Result<(), Error> {
        let Some(outcome) = done else { return Ok(()) };
        let Phase::Discovering { goal, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        match outcome {
            Ok(d) => {
                self.moved_to(d.server.issuer.as_str());
                self.discovery = Some(d);
                self.pursue(now, goal)
            }
            Err(e) => self.fail(e),
        }
    }

    /// The resource names `issuer` now: tokens from another issuer are dropped, never sent
    /// there (MCP SEP-2352); the registrations stay, each keyed by its own issuer.
    fn moved_to(&mut self, issuer: &str) {
        let Some(from) = self.tokens.as_ref().map(|(i, _)| i.clone()).filter(|i| i != issuer)
        else {
            return;
        };
        self.events.push_back(FlowEvent::AuthorizationServerChanged { from, to: issuer.into() });
        self.tokens = None;
        self.tokens_from_401_refresh = false;
        self.tokens_after_challenge = false;
        self.events.push_back(FlowEvent::TokensCleared);
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
