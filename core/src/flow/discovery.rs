//! Discovery phases: protected-resource metadata, then authorization-server metadata (or the
//! legacy path), then whatever the [`Goal`] asks for.

use std::sync::Arc;

use super::{AuthFlow, Discovery, FlowEvent, Goal, Phase, ServerMetadataPhase};
use crate::error::{Error, FlowError};
use crate::http::HttpResponse;
use crate::pkce::Entropy;
use crate::resource_metadata::{self as rm, ResourceMetadata, ResourceMetadataError};
use crate::server_metadata::{self as sm, ServerMetadataError};
use crate::time::UnixTime;
use crate::url::IssuerUrl;
use crate::www_authenticate::{self, BearerChallenge};

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

    /// Runs discovery unless a fresh cached result covers it, then pursues `goal`.
    pub(super) fn start(&mut self, now: UnixTime, goal: Goal) -> Result<(), Error> {
        let header_url = self.challenge.as_ref().and_then(|c| c.resource_metadata.clone());
        let cached = self.discovery.as_ref().is_some_and(|d| {
            d.cache_until.is_none_or(|t| now < t)
                && match &header_url {
                    // A challenge naming other metadata than the cached one wins.
                    Some(h) => {
                        d.header_url.as_deref() == Some(h.as_str())
                            || d.resource_metadata.as_ref().is_some_and(|m| m.url == *h)
                    }
                    None => true,
                }
        });
        if cached {
            return self.pursue(now, goal);
        }
        let candidates = match rm::candidate_urls(&self.config.server_url, header_url.as_deref()) {
            Ok(c) => c,
            Err(e) => return self.fail(e),
        };
        let Some(first) = candidates.first() else {
            return self.fail(ResourceMetadataError::NotFound { tried: String::new() });
        };
        let request = self.next_request_id();
        self.requests.push_back(rm::metadata_request(request, first));
        self.phase = Phase::ResourceMetadata { request, candidates, index: 0, goal };
        Ok(())
    }

    pub(super) fn on_resource_metadata(
        &mut self,
        _now: UnixTime,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        let Phase::ResourceMetadata { candidates, index, goal, .. } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        let url = &candidates[index];
        let outcome = match response {
            Ok(resp) => rm::process_metadata_response(url, &self.config.server_url, resp)
                .map(|m| (m, crate::cache_max_age(resp))),
            // A transport failure (CORS in browsers) counts like a 4xx: try the next candidate.
            Err(_) => {
                Err(ResourceMetadataError::UnexpectedStatus { url: url.as_str().into(), actual: 0 })
            }
        };
        match outcome {
            Ok((metadata, max_age)) => {
                let servers = self.order_servers(metadata.authorization_servers.clone());
                self.start_server_discovery(Some(metadata), servers, 0, None, max_age, goal)
            }
            Err(e) if e.try_next_candidate() || response.is_err() => {
                if index + 1 < candidates.len() {
                    let request = self.next_request_id();
                    self.requests.push_back(rm::metadata_request(request, &candidates[index + 1]));
                    self.phase =
                        Phase::ResourceMetadata { request, candidates, index: index + 1, goal };
                    return Ok(());
                }
                if self.config.legacy_discovery {
                    let origin = self.config.server_url.url().origin();
                    self.events.push_back(FlowEvent::UsingLegacyDiscovery { origin });
                    return self.start_legacy_discovery(goal);
                }
                let tried = candidates.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
                self.fail(ResourceMetadataError::NotFound { tried })
            }
            Err(e) => self.fail(e),
        }
    }

    /// Puts the preferred issuer first; the rest keep the server's order.
    fn order_servers(&self, mut servers: Vec<IssuerUrl>) -> Vec<IssuerUrl> {
        if let Some(pref) = &self.config.preferred_issuer {
            if let Some(pos) = servers.iter().position(|s| s.as_str() == pref) {
                let s = servers.remove(pos);
                servers.insert(0, s);
            }
        }
        servers
    }

    /// Asks for the metadata of `servers[server_index]`, first candidate URL.
    fn start_server_discovery(
        &mut self,
        resource_metadata: Option<ResourceMetadata>,
        servers: Vec<IssuerUrl>,
        server_index: usize,
        first_error: Option<Error>,
        cache_max_age: Option<u64>,
        goal: Goal,
    ) -> Result<(), Error> {
        let candidates = servers.get(server_index).map(sm::candidate_urls).unwrap_or_default();
        let Some((first, _)) = candidates.first() else {
            return self.fail(ResourceMetadataError::NoAuthorizationServers);
        };
        let request = self.next_request_id();
        self.requests.push_back(sm::metadata_request(request, first));
        self.phase = Phase::ServerMetadata(Box::new(ServerMetadataPhase {
            request,
            resource_metadata,
            servers,
            server_index,
            candidates,
            index: 0,
            first_error,
            legacy: false,
            cache_max_age,
            goal,
        }));
        Ok(())
    }

    fn start_legacy_discovery(&mut self, goal: Goal) -> Result<(), Error> {
        let candidates = sm::legacy_candidate_urls(&self.config.server_url);
        let Some((first, _)) = candidates.first() else {
            let origin = self.config.server_url.url().origin();
            return self
                .fail(ServerMetadataError::NotFound { issuer: origin, tried: String::new() });
        };
        let request = self.next_request_id();
        self.requests.push_back(sm::metadata_request(request, first));
        self.phase = Phase::ServerMetadata(Box::new(ServerMetadataPhase {
            request,
            resource_metadata: None,
            servers: Vec::new(),
            server_index: 0,
            candidates,
            index: 0,
            first_error: None,
            legacy: true,
            cache_max_age: None,
            goal,
        }));
        Ok(())
    }

    pub(super) fn on_server_metadata(
        &mut self,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        let Phase::ServerMetadata(phase) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Ok(());
        };
        let ServerMetadataPhase {
            resource_metadata,
            servers,
            server_index,
            candidates,
            index,
            mut first_error,
            legacy,
            cache_max_age,
            goal,
            ..
        } = *phase;
        let url = &candidates[index].0;
        let outcome = match response {
            Ok(resp) => {
                let parsed = if legacy {
                    let origin = self.config.server_url.url().origin();
                    sm::process_legacy_metadata_response(url, resp, &self.config.policy(&origin))
                } else {
                    let issuer = &servers[server_index];
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
        let error = match outcome {
            Ok((server, max_age)) => {
                let max_age = match (cache_max_age, max_age) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let discovery = Discovery {
                    resource_metadata,
                    server,
                    legacy,
                    header_url: self.challenge.as_ref().and_then(|c| c.resource_metadata.clone()),
                    cache_until: max_age.map(|a| now.plus(a)),
                };
                self.events.push_back(FlowEvent::MetadataDiscovered(discovery.clone()));
                self.discovery = Some(Arc::new(discovery));
                return self.pursue(now, goal);
            }
            Err(e) => e,
        };
        let next_candidate = error.try_next_candidate() || response.is_err();
        if next_candidate && index + 1 < candidates.len() {
            let request = self.next_request_id();
            self.requests.push_back(sm::metadata_request(request, &candidates[index + 1].0));
            self.phase = Phase::ServerMetadata(Box::new(ServerMetadataPhase {
                request,
                resource_metadata,
                servers,
                server_index,
                candidates,
                index: index + 1,
                first_error,
                legacy,
                cache_max_age,
                goal,
            }));
            return Ok(());
        }
        let error: Error = if next_candidate {
            let tried = candidates.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ");
            let issuer = servers
                .get(server_index)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| self.config.server_url.url().origin());
            ServerMetadataError::NotFound { issuer, tried }.into()
        } else {
            error.into()
        };
        if legacy {
            // 2025-03-26 "Fallbacks for Servers without Metadata Discovery": default endpoints,
            // but only when no metadata exists; a broken document is an error.
            if !next_candidate {
                return self.fail(error);
            }
            let server = match sm::legacy_default_metadata(&self.config.server_url) {
                Ok(s) => s,
                Err(e) => return self.fail(e),
            };
            let discovery = Discovery {
                resource_metadata: None,
                server,
                legacy: true,
                header_url: None,
                cache_until: None,
            };
            self.events.push_back(FlowEvent::MetadataDiscovered(discovery.clone()));
            self.discovery = Some(Arc::new(discovery));
            return self.pursue(now, goal);
        }
        // This authorization server is unusable: try the next one the resource lists.
        first_error.get_or_insert(error);
        if server_index + 1 < servers.len() {
            return self.start_server_discovery(
                resource_metadata,
                servers,
                server_index + 1,
                first_error,
                cache_max_age,
                goal,
            );
        }
        let error = first_error.unwrap_or_else(|| FlowError::NotDiscovered.into());
        self.fail(error)
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
