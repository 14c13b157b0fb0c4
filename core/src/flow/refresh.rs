//! Refresh (proactive and on 401), step-up on 403, timeouts, and logout with revocation.

use super::{AuthFlow, FlowEvent, Goal, Phase};
use crate::error::{Error, FlowError};
use crate::http::{HttpResponse, RequestId};
use crate::pkce::Entropy;
use crate::registration::IdentitySource;
use crate::revocation::{self, TokenKind};
use crate::time::UnixTime;
use crate::token::{self, TokenError};
use crate::www_authenticate;

impl AuthFlow {
    /// When the proactive refresh is due: expiry minus the skew, but never earlier than halfway
    /// through the token's lifetime (a server issuing tokens shorter than the skew would
    /// otherwise be asked for a refresh on every use), and not before a retry back-off.
    pub(super) fn refresh_deadline(&self) -> Option<UnixTime> {
        let (_, t) = self.tokens.as_ref()?;
        t.refresh_token.as_ref()?;
        let expires_at = t.expires_at?;
        let lifetime = expires_at.secs().saturating_sub(t.received_at.secs());
        let due = expires_at.minus(self.config.refresh_skew_secs.min(lifetime / 2));
        Some(match self.refresh_not_before {
            Some(nb) if nb > due => nb,
            _ => due,
        })
    }

    /// Acts on time passing: expires a pending authorization, starts a due proactive refresh.
    /// Afterwards [`AuthFlow::poll_timeout`] has moved past `now` (or is `None`).
    pub fn handle_timeout(&mut self, now: UnixTime) -> Result<(), Error> {
        match &self.phase {
            Phase::AwaitingCallback { pending }
                if now >= pending.created_at.plus(self.config.pending_ttl_secs) =>
            {
                let ttl_secs = self.config.pending_ttl_secs;
                self.fail(FlowError::AuthorizationTimedOut { ttl_secs })
            }
            Phase::Idle if self.refresh_deadline().is_some_and(|d| now >= d) => {
                // Should the refresh not even start (a missing registration, a signer that
                // fails), the deadline must still move: no busy loop on poll_timeout.
                self.refresh_not_before = Some(now.plus(self.config.retry_after_secs.max(1)));
                self.answering_challenge = false;
                self.start(now, Goal::Refresh { fallback: None })
            }
            _ => Ok(()),
        }
    }

    pub(super) fn start_refresh(
        &mut self,
        now: UnixTime,
        fallback: Option<Entropy>,
    ) -> Result<(), Error> {
        let Some(refresh_token) = self.tokens.as_ref().and_then(|(_, t)| t.refresh_token.clone())
        else {
            return match fallback {
                Some(entropy) => self.start_identity(now, entropy, None),
                None => self.fail(FlowError::ReauthorizationRequired),
            };
        };
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        // Tokens from another issuer are never sent to this one (SEP-2352 issuer binding).
        let token_issuer = self.tokens.as_ref().map(|(i, _)| i.as_str());
        if token_issuer != Some(discovery.server.issuer.as_str()) {
            self.tokens = None;
            self.events.push_back(FlowEvent::TokensCleared);
            return match fallback {
                Some(entropy) => self.start_identity(now, entropy, None),
                None => self.fail(FlowError::ReauthorizationRequired),
            };
        }
        let (reg, assertion) = match self.client_auth_parts(now) {
            Ok(parts) => parts,
            Err(e) => return self.fail(e),
        };
        let request = self.next_request_id();
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        let policy = self.config.policy(discovery.server.issuer.as_str());
        let resource = self.token_resource();
        let client = reg.client_auth(assertion.as_deref());
        let req = token::refresh_request(
            request,
            &token::RefreshParams {
                token_endpoint: &discovery.server.token_endpoint,
                client: &client,
                refresh_token: &refresh_token,
                scope: None,
                resource: (!policy.danger_omit_resource).then_some(&resource),
            },
        );
        let req = match req {
            Ok(req) => req,
            Err(e) => return self.fail(e),
        };
        if let Err(e) = self.send_token_request(now, req) {
            return self.fail(e);
        }
        self.phase = Phase::Refreshing { request, fallback };
        Ok(())
    }

    pub(super) fn on_refresh(
        &mut self,
        now: UnixTime,
        response: Result<&HttpResponse, &str>,
    ) -> Result<(), Error> {
        // RFC 9449 §8: `use_dpop_nonce` → once more with the server's nonce.
        if let Ok(r) = response {
            match self.token_nonce_retry(now, r) {
                Ok(Some(retry)) => {
                    if let Phase::Refreshing { request, .. } = &mut self.phase {
                        *request = retry;
                    }
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
        }
        let Phase::Refreshing { fallback, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        let Some((issuer, old)) = self.tokens.clone() else {
            return self.fail(FlowError::ReauthorizationRequired);
        };
        let response = match response {
            Ok(r) => r,
            Err(message) => {
                // Transient: keep the tokens, try again after the back-off.
                self.refresh_not_before = Some(now.plus(self.config.retry_after_secs));
                return Err(self.report(
                    FlowError::Transport {
                        purpose: "token refresh".into(),
                        url: self
                            .discovery
                            .as_ref()
                            .map(|d| d.server.token_endpoint.as_str().to_owned())
                            .unwrap_or_default(),
                        message: message.to_owned(),
                    }
                    .into(),
                ));
            }
        };
        match token::process_token_response_dpop(
            response,
            now,
            old.refresh_token.as_ref(),
            old.scope.as_deref(),
            self.dpop.proof_sent,
        ) {
            Ok(tokens) => {
                self.tokens_from_401_refresh = fallback.is_some();
                self.store_tokens(issuer, tokens);
                Ok(())
            }
            Err(e) if e.is_transient() => {
                self.refresh_not_before = Some(now.plus(self.config.retry_after_secs));
                Err(self.report(e.into()))
            }
            Err(e) => {
                // RFC 6749 §5.2 invalid_grant (and other non-transient errors): the grant is dead.
                self.tokens = None;
                self.events.push_back(FlowEvent::TokensCleared);
                if let TokenError::Rejected { error, .. } = &e {
                    if error.error == "invalid_client" {
                        // A revoked dynamic registration: register again next time.
                        self.registrations.retain(|r| {
                            !(r.issuer == issuer && r.source == IdentitySource::Dynamic)
                        });
                    }
                }
                match fallback {
                    Some(entropy) => self.start_identity(now, entropy, None),
                    None => self.fail(e),
                }
            }
        }
    }

    /// Handles the MCP server's `403 Forbidden` for `operation` (a tool name, a method): with
    /// `error="insufficient_scope"` it re-authorizes with the union of the scopes requested
    /// before, granted, and challenged, at most `max_step_up_attempts` times per operation.
    /// Hosts that send MCP requests use [`AuthFlow::handle_resource_response`], which also
    /// passes an application's 403 through.
    pub fn handle_forbidden(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
        operation: &str,
        entropy: Entropy,
    ) -> Result<(), Error> {
        let challenge = match www_authenticate::bearer_challenge(response) {
            Ok(c) => c,
            Err(e) => return Err(self.report(e.into())),
        };
        let Some(challenge) =
            challenge.filter(|c| c.error.as_deref() == Some("insufficient_scope"))
        else {
            let what = "no insufficient_scope challenge".to_owned();
            return Err(self.report(FlowError::Forbidden(what).into()));
        };
        self.step_up(now, challenge, operation, entropy)
    }

    /// Clears the step-up counter of an operation once it succeeded.
    pub fn step_up_succeeded(&mut self, operation: &str) {
        self.step_up_attempts.retain(|(op, _)| op != operation);
    }

    /// Logs out: drops the tokens at once (event `TokensCleared`) and, when the server has a
    /// `revocation_endpoint`, asks it to revoke the refresh and access tokens (RFC 7009).
    pub fn logout(&mut self, now: UnixTime) -> Result<(), Error> {
        self.cancel();
        let Some((issuer, tokens)) = self.tokens.take() else {
            return Ok(());
        };
        self.tokens_from_401_refresh = false;
        self.events.push_back(FlowEvent::TokensCleared);
        let Some(endpoint) = self
            .discovery
            .as_ref()
            .filter(|d| d.server.issuer.as_str() == issuer)
            .and_then(|d| d.server.revocation_endpoint.clone())
        else {
            return Ok(());
        };
        let (reg, assertion) = match self.client_auth_parts(now) {
            Ok(parts) => parts,
            Err(e) => return Err(self.report(e)),
        };
        let client = reg.client_auth(assertion.as_deref());
        let mut requests: Vec<RequestId> = Vec::new();
        let mut pending = Vec::new();
        if let Some(rt) = &tokens.refresh_token {
            pending.push((rt.secret().to_owned(), TokenKind::RefreshToken));
        }
        pending.push((tokens.access_token.secret().to_owned(), TokenKind::AccessToken));
        for (token, kind) in pending {
            let id = self.next_request_id();
            match revocation::revocation_request(
                id,
                &revocation::RevocationParams {
                    endpoint: &endpoint,
                    client: &client,
                    token: &token,
                    kind,
                },
            ) {
                Ok(req) => {
                    self.requests.push_back(req);
                    requests.push(id);
                }
                Err(e) => return Err(self.report(e.into())),
            }
        }
        self.phase = Phase::Revoking { requests };
        Ok(())
    }

    pub(super) fn on_revocation(
        &mut self,
        id: RequestId,
        response: &HttpResponse,
    ) -> Result<(), Error> {
        if let Phase::Revoking { requests } = &mut self.phase {
            requests.retain(|r| *r != id);
            if requests.is_empty() {
                self.phase = Phase::Idle;
            }
        }
        let endpoint = self
            .discovery
            .as_ref()
            .and_then(|d| d.server.revocation_endpoint.as_ref())
            .map_or_else(String::new, |e| e.as_str().to_owned());
        match revocation::process_revocation_response(response, &endpoint) {
            Ok(revocation::Revoked::Revoked) => Ok(()),
            Ok(revocation::Revoked::NotRevocable) => {
                self.events.push_back(FlowEvent::TokenNotRevocable { endpoint });
                Ok(())
            }
            Err(e) => Err(self.report(e.into())),
        }
    }
}
