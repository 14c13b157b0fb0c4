//! Discovery as a sans-IO machine of its own: protected-resource metadata (RFC 9728), then
//! authorization-server metadata (RFC 8414, OpenID Connect Discovery 1.0 §4), or the
//! 2025-03-26 fallback for servers without protected-resource metadata. Used by the
//! authorization-code flow ([`crate::AuthFlow`]) and the headless flow
//! ([`crate::headless::HeadlessFlow`]), so both find the authorization server with the same
//! order, checks, per-issuer policies and cache.
//!
//! ```text
//!  cached and fresh (and matching the challenge's resource_metadata URL)? ─▶ done, no request
//!    (revalidating after a 401: the cache is stale, but kept as the known result, below)
//!  resource metadata: challenge URL, /.well-known/…/<path>, /.well-known/…   (RFC 9728 §3, §5)
//!     │ 4xx / transport error: next candidate; none left: legacy (if enabled) or not_found;
//!     │ no candidate answered at all (unreachable, or CORS in a browser): transport_failed
//!     ▼
//!  server metadata per authorization server, in order (preferred issuer first):
//!     RFC 8414 insert, OIDC insert, OIDC append; 4xx: next candidate, 5xx: next server;
//!     no candidate of a server answered: transport_failed for it (legacy: no default endpoints)
//!     ▼
//!  MetadataDiscovered(Discovery)  (cache_until from the smallest Cache-Control max-age)
//! ```
//!
//! Revalidation ([`DiscoveryStart::revalidate`], the flow's answer to a 401): the resource
//! metadata is fetched again whatever the cache says, so that a resource that now names another
//! authorization server is noticed (MCP SEP-2352). Only a valid document is evidence of a move.
//! A transport error or a 5xx at the first candidate, or no document at any candidate (4xx),
//! keeps the known result: no other candidate after a transient failure, and no 2025-03-26
//! fallback, which would take the MCP server's origin for the authorization server. A document
//! that still names the known issuer first reuses its fresh server metadata (no request).
//!
//! Drain contract: after [`DiscoveryMachine::start`] and after every answer, drain
//! [`DiscoveryMachine::poll_request`] (send without following redirects; answer with
//! [`DiscoveryMachine::handle_response`] or [`DiscoveryMachine::handle_transport_error`]), then
//! [`DiscoveryMachine::poll_event`]. [`DiscoveryMachine::outcome`] holds the result once done.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::{Error, FlowError};
use crate::flow::{Discovery, FlowEvent};
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::policy::ServerPolicy;
use crate::resource_metadata::{self as rm, ResourceMetadata, ResourceMetadataError};
use crate::server_metadata::{self as sm, MetadataVariant, ServerMetadataError};
use crate::time::UnixTime;
use crate::url::{EndpointUrl, IssuerUrl, ResourceUrl};

/// What discovery needs to know; implemented by [`DiscoveryConfig`], [`crate::FlowConfig`] and
/// [`crate::headless::HeadlessConfig`], so a flow shares its configuration with its machine.
pub trait DiscoverySettings {
    /// The MCP server (its canonical URL is the resource the metadata must name).
    fn server_url(&self) -> &ResourceUrl;
    /// The policy for an issuer (the default, strict one when none is configured).
    fn policy(&self, issuer: &str) -> ServerPolicy;
    /// Issuer to try first when the resource lists several authorization servers.
    fn preferred_issuer(&self) -> Option<&str>;
    /// Fall back to the 2025-03-26 discovery when there is no protected-resource metadata.
    fn legacy_discovery(&self) -> bool;
}

/// The settings as a value of their own, for a host that runs the machine alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// The MCP server (its canonical URL is the resource the metadata must name).
    pub server_url: ResourceUrl,
    /// Per-issuer quirk settings (keyed by the exact issuer string).
    pub policies: Vec<(String, ServerPolicy)>,
    /// Issuer to try first when the resource lists several authorization servers.
    pub preferred_issuer: Option<String>,
    /// Fall back to the 2025-03-26 discovery when the server publishes no protected-resource
    /// metadata.
    pub legacy_discovery: bool,
}

impl DiscoveryConfig {
    /// Strict defaults: no policies, no preferred issuer, legacy fallback on (as
    /// [`crate::FlowConfig::new`]).
    pub fn new(server_url: ResourceUrl) -> DiscoveryConfig {
        DiscoveryConfig {
            server_url,
            policies: Vec::new(),
            preferred_issuer: None,
            legacy_discovery: true,
        }
    }
}

/// Implements [`DiscoverySettings`] for a configuration with the same four fields.
macro_rules! discovery_settings {
    ($t:ty) => {
        impl DiscoverySettings for $t {
            fn server_url(&self) -> &ResourceUrl {
                &self.server_url
            }
            fn policy(&self, issuer: &str) -> ServerPolicy {
                policy_of(&self.policies, issuer)
            }
            fn preferred_issuer(&self) -> Option<&str> {
                self.preferred_issuer.as_deref()
            }
            fn legacy_discovery(&self) -> bool {
                self.legacy_discovery
            }
        }
    };
}
discovery_settings!(DiscoveryConfig);
discovery_settings!(crate::FlowConfig);
discovery_settings!(crate::headless::HeadlessConfig);

/// The policy for `issuer` in `policies` (the default, strict one when none is configured).
pub(crate) fn policy_of(policies: &[(String, ServerPolicy)], issuer: &str) -> ServerPolicy {
    policies.iter().find(|(i, _)| i == issuer).map(|(_, p)| p.clone()).unwrap_or_default()
}

/// Settings shared with a flow (the `Arc` of its configuration).
pub type SharedSettings = Arc<dyn DiscoverySettings + Send + Sync>;

/// How a discovery starts.
#[derive(Clone, Debug)]
pub struct DiscoveryStart {
    /// The `resource_metadata` URL of the 401 challenge (RFC 9728 §5.1), tried first.
    pub header_url: Option<String>,
    /// A result found earlier (this host's cache): used without any request while it is fresh
    /// and matches `header_url`.
    pub cached: Option<Arc<Discovery>>,
    /// The id of the first request (ids then count up), so that a flow embedding the machine
    /// keeps one id sequence.
    pub first_request_id: RequestId,
    /// Fetch the resource metadata again even when `cached` is fresh (the MCP server refused a
    /// token: the cache may be stale); `cached` is then the known result, kept when the
    /// metadata cannot be read (module docs).
    pub revalidate: bool,
}

impl Default for DiscoveryStart {
    fn default() -> Self {
        DiscoveryStart {
            header_url: None,
            cached: None,
            first_request_id: RequestId(1),
            revalidate: false,
        }
    }
}

#[derive(Debug)]
struct ServerStage {
    resource_metadata: Option<ResourceMetadata>,
    servers: Vec<IssuerUrl>,
    server_index: usize,
    candidates: Vec<(EndpointUrl, MetadataVariant)>,
    index: usize,
    first_error: Option<Error>,
    legacy: bool,
    cache_max_age: Option<u64>,
    /// Every candidate of this server so far failed in transport: the first (URL, message).
    unanswered: Option<(String, String)>,
}

impl ServerStage {
    fn new(
        resource_metadata: Option<ResourceMetadata>,
        servers: Vec<IssuerUrl>,
        cache_max_age: Option<u64>,
    ) -> Box<ServerStage> {
        Box::new(ServerStage {
            resource_metadata,
            servers,
            server_index: 0,
            candidates: Vec::new(),
            index: 0,
            first_error: None,
            legacy: false,
            cache_max_age,
            unanswered: None,
        })
    }
}

#[derive(Debug)]
enum Stage {
    ResourceMetadata {
        candidates: Vec<EndpointUrl>,
        index: usize,
        /// Every candidate so far failed in transport: the first (URL, message).
        unanswered: Option<Box<(String, String)>>,
    },
    ServerMetadata(Box<ServerStage>),
    Done,
}

/// Where the machine puts what it produces: the queues of the flow that embeds it (or of a
/// [`DiscoveryMachine`]), so nothing is copied between queues.
pub(crate) struct Sink<'a> {
    pub(crate) requests: &'a mut VecDeque<HttpRequest>,
    pub(crate) events: &'a mut VecDeque<FlowEvent>,
    pub(crate) next_id: &'a mut u64,
}

/// The machine proper, writing into a [`Sink`]; [`DiscoveryMachine`] is its public face.
/// Generic over the settings so that a flow's machine calls its configuration directly.
pub(crate) struct Discoverer<C: DiscoverySettings + ?Sized> {
    config: Arc<C>,
    header_url: Option<String>,
    stage: Stage,
    in_flight: Option<RequestId>,
    done: Option<Result<Arc<Discovery>, Error>>,
    /// Revalidating: the result known before, kept unless a document names another server.
    known: Option<Arc<Discovery>>,
}

impl<C: DiscoverySettings + ?Sized> std::fmt::Debug for Discoverer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discoverer")
            .field("stage", &self.stage)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// What a step of the machine led to.
pub(crate) type Progress = Option<Result<Arc<Discovery>, Error>>;

impl<C: DiscoverySettings + ?Sized> Discoverer<C> {
    fn empty(config: Arc<C>, header_url: Option<String>) -> Self {
        Discoverer {
            config,
            header_url,
            stage: Stage::Done,
            in_flight: None,
            done: None,
            known: None,
        }
    }

    /// Starts; `Some` when done at once (fresh cache, or an error). With `revalidate` the
    /// cache is not used as is but kept as the known result (module docs).
    pub(crate) fn start(
        now: UnixTime,
        config: Arc<C>,
        header_url: Option<String>,
        cached: Option<Arc<Discovery>>,
        revalidate: bool,
        out: &mut Sink<'_>,
    ) -> (Self, Progress) {
        let mut m = Discoverer::empty(config, header_url);
        if revalidate {
            m.known = cached;
        } else if let Some(d) = cached.filter(|d| m.covers(d, now)) {
            return (m, Some(Ok(d)));
        }
        match rm::candidate_urls(m.config.server_url(), m.header_url.as_deref()) {
            Ok(candidates) if !candidates.is_empty() => {
                m.send(out, rm::metadata_request, &candidates[0]);
                m.stage = Stage::ResourceMetadata { candidates, index: 0, unanswered: None };
            }
            Ok(_) => m.finish(Err(ResourceMetadataError::NotFound { tried: String::new() }.into())),
            Err(e) => m.finish(Err(e.into())),
        }
        let done = m.done.take();
        (m, done)
    }

    /// Starts at a known authorization server.
    pub(crate) fn start_at_issuer(
        config: Arc<C>,
        issuer: IssuerUrl,
        out: &mut Sink<'_>,
    ) -> (Self, Progress) {
        let mut m = Discoverer::empty(config, None);
        m.server_discovery(out, ServerStage::new(None, vec![issuer], None));
        let done = m.done.take();
        (m, done)
    }

    /// A fresh cached result that answers the current challenge.
    fn covers(&self, d: &Discovery, now: UnixTime) -> bool {
        d.cache_until.is_none_or(|t| now < t)
            && match &self.header_url {
                // A challenge naming other metadata than the cached one wins.
                Some(h) => {
                    d.header_url.as_deref() == Some(h.as_str())
                        || d.resource_metadata.as_ref().is_some_and(|m| m.url == *h)
                }
                None => true,
            }
    }

    /// True when `id` is the request this machine waits for.
    pub(crate) fn awaits(&self, id: RequestId) -> bool {
        self.in_flight == Some(id)
    }

    /// Answers the outstanding request (the caller checked [`Discoverer::awaits`]); `Some`
    /// once discovery ended.
    pub(crate) fn answer(
        &mut self,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
        out: &mut Sink<'_>,
    ) -> Progress {
        self.in_flight = None;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::ResourceMetadata { candidates, index, unanswered } => {
                self.on_resource_metadata(out, now, response, candidates, index, unanswered)
            }
            Stage::ServerMetadata(stage) => self.on_server_metadata(out, now, response, stage),
            Stage::Done => {}
        }
        self.done.take()
    }

    fn send(
        &mut self,
        out: &mut Sink<'_>,
        build: fn(RequestId, &EndpointUrl) -> HttpRequest,
        url: &EndpointUrl,
    ) {
        let id = RequestId(*out.next_id);
        *out.next_id += 1;
        self.in_flight = Some(id);
        out.requests.push_back(build(id, url));
    }

    fn finish(&mut self, outcome: Result<Arc<Discovery>, Error>) {
        self.stage = Stage::Done;
        self.done = Some(outcome);
    }

    fn found(&mut self, out: &mut Sink<'_>, discovery: Discovery) {
        out.events.push_back(FlowEvent::MetadataDiscovered(discovery.clone()));
        self.finish(Ok(Arc::new(discovery)));
    }

    fn on_resource_metadata(
        &mut self,
        out: &mut Sink<'_>,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
        candidates: Vec<EndpointUrl>,
        index: usize,
        unanswered: Option<Box<(String, String)>>,
    ) {
        let url = &candidates[index];
        // No candidate answered yet and this one failed in transport too: in a browser that is
        // how a refused CORS request looks, so it must not pass for "no metadata here".
        let unanswered = match response {
            Err(message) if index == 0 || unanswered.is_some() => {
                unanswered.or_else(|| Some(Box::new((url.as_str().to_owned(), message.to_owned()))))
            }
            _ => None,
        };
        let outcome = match response {
            Ok(resp) => rm::process_metadata_response(url, self.config.server_url(), resp)
                .map(|m| (m, crate::cache_max_age(resp))),
            // A transport failure (CORS in browsers) counts like a 4xx: try the next candidate.
            Err(_) => {
                Err(ResourceMetadataError::UnexpectedStatus { url: url.as_str().into(), actual: 0 })
            }
        };
        // Revalidating: a transient failure (transport error, 5xx) is no evidence of a move.
        let transient = response.is_err()
            || matches!(&outcome, Err(ResourceMetadataError::UnexpectedStatus { actual, .. })
                if *actual >= 500);
        if transient {
            if let Some(known) = self.known.take() {
                return self.finish(Ok(known));
            }
        }
        match outcome {
            Ok((metadata, max_age)) => {
                let servers = self.order_servers(metadata.authorization_servers.clone());
                if let Some(known) = self.known.take().filter(|k| {
                    !k.legacy
                        && k.cache_until.is_none_or(|t| now < t)
                        && servers.first() == Some(&k.server.issuer)
                }) {
                    // Still the known server: its fresh metadata serves, with the new document.
                    let cache_until = match (max_age.map(|a| now.plus(a)), known.cache_until) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    return self.found(
                        out,
                        Discovery {
                            resource_metadata: Some(metadata),
                            server: known.server.clone(),
                            legacy: false,
                            header_url: self.header_url.clone(),
                            cache_until,
                        },
                    );
                }
                let st = ServerStage::new(Some(metadata), servers, max_age);
                self.server_discovery(out, st);
            }
            Err(e) if e.try_next_candidate() || response.is_err() => {
                if index + 1 < candidates.len() {
                    self.send(out, rm::metadata_request, &candidates[index + 1]);
                    self.stage =
                        Stage::ResourceMetadata { candidates, index: index + 1, unanswered };
                } else if let Some(known) = self.known.take() {
                    // No document at all: nothing names another server.
                    self.finish(Ok(known));
                } else if let Some(first) = unanswered {
                    // No candidate answered at all: no evidence of a server without metadata,
                    // so no 2025-03-26 fallback; the first failure, as it was reported.
                    let (url, message) = *first;
                    let purpose = "protected resource metadata".to_owned();
                    self.finish(Err(FlowError::Transport { purpose, url, message }.into()));
                } else if self.config.legacy_discovery() {
                    let origin = self.config.server_url().url().origin();
                    out.events.push_back(FlowEvent::UsingLegacyDiscovery { origin });
                    self.legacy_discovery(out);
                } else {
                    let tried =
                        candidates.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
                    self.finish(Err(ResourceMetadataError::NotFound { tried }.into()));
                }
            }
            Err(e) => self.finish(Err(e.into())),
        }
    }

    /// Puts the preferred issuer first; the rest keep the server's order.
    fn order_servers(&self, mut servers: Vec<IssuerUrl>) -> Vec<IssuerUrl> {
        if let Some(pref) = self.config.preferred_issuer() {
            if let Some(pos) = servers.iter().position(|s| s.as_str() == pref) {
                let s = servers.remove(pos);
                servers.insert(0, s);
            }
        }
        servers
    }

    /// Asks for the metadata of `st.servers[st.server_index]`, first candidate URL.
    fn server_discovery(&mut self, out: &mut Sink<'_>, mut st: Box<ServerStage>) {
        st.candidates = st.servers.get(st.server_index).map(sm::candidate_urls).unwrap_or_default();
        st.index = 0;
        st.unanswered = None;
        let Some((first, _)) = st.candidates.first() else {
            return self.finish(Err(ResourceMetadataError::NoAuthorizationServers.into()));
        };
        self.send(out, sm::metadata_request, first);
        self.stage = Stage::ServerMetadata(st);
    }

    fn legacy_discovery(&mut self, out: &mut Sink<'_>) {
        let candidates = sm::legacy_candidate_urls(self.config.server_url());
        let Some((first, _)) = candidates.first() else {
            let origin = self.config.server_url().url().origin();
            let e = ServerMetadataError::NotFound { issuer: origin, tried: String::new() };
            return self.finish(Err(e.into()));
        };
        self.send(out, sm::metadata_request, first);
        self.stage = Stage::ServerMetadata(Box::new(ServerStage {
            resource_metadata: None,
            servers: Vec::new(),
            server_index: 0,
            candidates,
            index: 0,
            first_error: None,
            legacy: true,
            cache_max_age: None,
            unanswered: None,
        }));
    }

    fn on_server_metadata(
        &mut self,
        out: &mut Sink<'_>,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
        mut st: Box<ServerStage>,
    ) {
        let url = &st.candidates[st.index].0;
        let outcome = match response {
            Ok(resp) => {
                let parsed = if st.legacy {
                    let origin = self.config.server_url().url().origin();
                    sm::process_legacy_metadata_response(url, resp, &self.config.policy(&origin))
                } else {
                    let issuer = &st.servers[st.server_index];
                    sm::process_metadata_response(
                        issuer,
                        url,
                        resp,
                        &self.config.policy(issuer.as_str()),
                    )
                };
                parsed.map(|m| (m, crate::cache_max_age(resp)))
            }
            Err(_) => {
                Err(ServerMetadataError::UnexpectedStatus { url: url.as_str().into(), actual: 0 })
            }
        };
        // As for the resource metadata: a server none of whose candidates answered is
        // unreachable (or refuses CORS), not a server without metadata.
        st.unanswered = match response {
            Err(message) if st.index == 0 || st.unanswered.is_some() => {
                st.unanswered.take().or_else(|| Some((url.as_str().to_owned(), message.to_owned())))
            }
            _ => None,
        };
        let error = match outcome {
            Ok((server, max_age)) => {
                let max_age = match (st.cache_max_age, max_age) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                return self.found(
                    out,
                    Discovery {
                        resource_metadata: st.resource_metadata.take(),
                        server,
                        legacy: st.legacy,
                        header_url: self.header_url.clone(),
                        cache_until: max_age.map(|a| now.plus(a)),
                    },
                );
            }
            Err(e) => e,
        };
        let next_candidate = error.try_next_candidate() || response.is_err();
        if next_candidate && st.index + 1 < st.candidates.len() {
            st.index += 1;
            self.send(out, sm::metadata_request, &st.candidates[st.index].0);
            self.stage = Stage::ServerMetadata(st);
            return;
        }
        let error: Error = if let Some((url, message)) = st.unanswered.take() {
            let purpose = "authorization server metadata".to_owned();
            FlowError::Transport { purpose, url, message }.into()
        } else if next_candidate {
            let tried =
                st.candidates.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
            let issuer = st
                .servers
                .get(st.server_index)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| self.config.server_url().url().origin());
            ServerMetadataError::NotFound { issuer, tried }.into()
        } else {
            error.into()
        };
        if st.legacy {
            // 2025-03-26 "Fallbacks for Servers without Metadata Discovery": default endpoints,
            // but only when no metadata exists; a broken document or no answer is an error.
            if !next_candidate || matches!(&error, Error::Flow(FlowError::Transport { .. })) {
                return self.finish(Err(error));
            }
            return match sm::legacy_default_metadata(self.config.server_url()) {
                Ok(server) => self.found(
                    out,
                    Discovery {
                        resource_metadata: None,
                        server,
                        legacy: true,
                        header_url: None,
                        cache_until: None,
                    },
                ),
                Err(e) => self.finish(Err(e.into())),
            };
        }
        // This authorization server is unusable: try the next one the resource lists.
        st.first_error.get_or_insert(error);
        if st.server_index + 1 < st.servers.len() {
            st.server_index += 1;
            return self.server_discovery(out, st);
        }
        let error = st.first_error.take().unwrap_or_else(|| FlowError::NotDiscovered.into());
        self.finish(Err(error));
    }
}

/// The discovery machine on its own (module docs for the sequence and the drain contract).
/// Events are the discovery variants of [`FlowEvent`]: `UsingLegacyDiscovery`,
/// `MetadataDiscovered`.
#[derive(Debug)]
pub struct DiscoveryMachine {
    inner: Discoverer<dyn DiscoverySettings + Send + Sync>,
    next_id: u64,
    requests: VecDeque<HttpRequest>,
    events: VecDeque<FlowEvent>,
    outcome: Option<Result<Arc<Discovery>, Error>>,
}

impl DiscoveryMachine {
    fn wrap(
        next_id: u64,
        start: impl FnOnce(&mut Sink<'_>) -> (Discoverer<dyn DiscoverySettings + Send + Sync>, Progress),
    ) -> DiscoveryMachine {
        let (mut requests, mut events, mut next_id) = (VecDeque::new(), VecDeque::new(), next_id);
        let (inner, outcome) = start(&mut Sink {
            requests: &mut requests,
            events: &mut events,
            next_id: &mut next_id,
        });
        DiscoveryMachine { inner, next_id, requests, events, outcome }
    }

    /// Starts discovery for the settings' server: done at once with `start.cached` when it is
    /// fresh at `now` and matches the challenge, else the first request is ready.
    pub fn start(now: UnixTime, config: SharedSettings, start: DiscoveryStart) -> Self {
        let DiscoveryStart { header_url, cached, first_request_id, revalidate } = start;
        Self::wrap(first_request_id.0, |out| {
            Discoverer::start(now, config, header_url, cached, revalidate, out)
        })
    }

    /// Starts at a known authorization server: its metadata only (RFC 8414, OIDC Discovery),
    /// with the same candidate order, issuer check and policy (an identity provider, say).
    pub fn start_at_issuer(config: SharedSettings, issuer: IssuerUrl, first: RequestId) -> Self {
        Self::wrap(first.0, |out| Discoverer::start_at_issuer(config, issuer, out))
    }

    /// The next request to send (at most one is outstanding).
    #[must_use]
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// The result, once discovery ended (`None` while requests are outstanding).
    pub fn outcome(&self) -> Option<&Result<Arc<Discovery>, Error>> {
        self.outcome.as_ref()
    }

    /// True once [`DiscoveryMachine::outcome`] is set.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    /// The id the next request would get (a flow embedding the machine continues from it).
    pub fn next_request_id(&self) -> RequestId {
        RequestId(self.next_id)
    }

    /// True when `id` is the request this machine waits for.
    pub fn awaits(&self, id: RequestId) -> bool {
        self.inner.awaits(id)
    }

    /// Answers the outstanding request. `Err` when discovery failed with this answer (the error
    /// is also the outcome) or `id` is not the outstanding request.
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: &HttpResponse,
    ) -> Result<(), Error> {
        self.answer(now, id, Ok(response))
    }

    /// Reports that the outstanding request failed in transport (network, CORS, timeout): it
    /// counts as a 4xx, so the next candidate is tried.
    pub fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error> {
        self.answer(now, id, Err(message))
    }

    fn answer(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        if !self.inner.awaits(id) {
            return Err(FlowError::UnknownRequest(id.0).into());
        }
        let mut out = Sink {
            requests: &mut self.requests,
            events: &mut self.events,
            next_id: &mut self.next_id,
        };
        if let Some(done) = self.inner.answer(now, response, &mut out) {
            self.outcome = Some(done);
        }
        match &self.outcome {
            Some(Err(e)) => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
