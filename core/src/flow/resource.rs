//! What the MCP server (the resource server) answered, and what the host does next: one decision
//! for every host.
//!
//! A host sends an MCP request with [`AuthFlow::access_token`], hands the answer to
//! [`AuthFlow::handle_resource_response`], and follows the [`ResourceDecision`]:
//!
//! ```text
//!  send ─▶ handle_resource_response ─┬─ PassThrough ─▶ the response goes to the caller
//!   ▲                                ├─ Retry ─▶ drain (refresh, or an authorization the user
//!   │                                │           completes in the browser) ─┐
//!   └────────── with access_token ◀──┼──────────────────────────────────────┘
//!                                    └─ Err ─▶ the request fails with it (also `Failed`)
//! ```
//!
//! The host keeps no counters: every loop ends in the core. A 401 starts a refresh or an
//! authorization (RFC 6750 §3.1 `invalid_token`); a 401 for a token obtained in answer to the
//! previous 401 or 403, and not expired yet, ends in [`FlowError::TokenRejectedByResource`], in
//! the server's words. A
//! 403 with `error="insufficient_scope"` (RFC 6750 §3.1) starts a step-up authorization on any
//! attempt, at most [`crate::FlowConfig::max_step_up_attempts`] times per operation
//! ([`operation_key`]), until the operation gets past authorization. Any other 403 is the
//! application's answer: it passes through, and is no error.

use super::{AuthFlow, Goal};
use crate::error::{Error, FlowError};
use crate::http::HttpResponse;
use crate::pkce::Entropy;
use crate::scope;
use crate::secret::AccessToken;
use crate::time::UnixTime;
use crate::www_authenticate::{self, BearerChallenge};

/// What the MCP server answered one request.
#[derive(Clone, Copy, Debug)]
pub struct ResourceResponse<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` value, if any.
    pub www_authenticate: Option<&'a str>,
    /// The access token the request carried, if any.
    pub token_used: Option<&'a AccessToken>,
    /// The operation, as [`operation_key`] names it: the step-up cap counts per operation.
    pub operation: &'a str,
    /// The `DPoP-Nonce` response header, if any (RFC 9449 §9).
    pub dpop_nonce: Option<&'a str>,
}

/// What the host does with the MCP server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceDecision {
    /// Hand the response to the caller: the request got past authorization, or the server
    /// refused it for the application's own reasons (a 403 without `insufficient_scope`).
    PassThrough,
    /// Drain the flow (a refresh, or discovery and registration for an authorization); when it
    /// then waits for the user ([`crate::FlowStatus::AwaitingUser`], event `OpenBrowser`), the
    /// user completes the authorization in the browser. Then send the request again with the
    /// current [`AuthFlow::access_token`]. Also returned, with nothing to drain, when a newer
    /// token than the one refused is already held.
    Retry,
}

/// The operation of an MCP request, for the step-up cap: the JSON-RPC `method` of the body,
/// followed by `:` and `params.name` when the request names one (`tools/call:admin_op`,
/// `prompts/get:summary`); any other request (a batch, a GET of the event stream, a DELETE of
/// the session, a body that is not JSON) is keyed by its HTTP method (`GET`, `DELETE`).
pub fn operation_key(http_method: &str, body: &[u8]) -> String {
    let message = crate::json::parse(body).ok();
    let method = message.as_ref().and_then(|m| m.get("method")).and_then(|m| m.as_str());
    let Some(method) = method else {
        return http_method.to_ascii_uppercase();
    };
    let params = message.as_ref().and_then(|m| m.get("params"));
    match params.and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
        Some(name) => format!("{method}:{name}"),
        None => method.to_owned(),
    }
}

/// The server's reason for refusing a token, from its challenge (RFC 6750 §3: `error`,
/// `error_description`), else the header as sent.
pub fn rejection_reason(challenge: Option<&BearerChallenge>, header: &str) -> String {
    match challenge.map(|c| (c.error.as_deref(), c.error_description.as_deref())) {
        Some((Some(e), Some(d))) => format!("{e}: {d}"),
        Some((Some(e), None)) => e.to_owned(),
        Some((None, Some(d))) => d.to_owned(),
        _ => header.to_owned(),
    }
}

/// The decision for a token from a headless grant (client credentials, cross-app access): no
/// user and no step-up. A 401 means: drop the token and get a new one (`Retry`), unless
/// `renewed`, the refused token was itself obtained after a 401; a 403 `insufficient_scope`
/// cannot be answered by asking for more scope.
pub fn headless_decision(
    response: &ResourceResponse<'_>,
    renewed: bool,
) -> Result<ResourceDecision, Error> {
    let Some((challenge, header)) = read_challenge(response)? else {
        return Ok(ResourceDecision::PassThrough);
    };
    let reason = || rejection_reason(challenge.as_ref(), header);
    if response.status == 403 {
        if !is_insufficient_scope(challenge.as_ref()) {
            return Ok(ResourceDecision::PassThrough);
        }
        let reason = format!("{} (a headless grant cannot step up)", reason());
        return Err(FlowError::TokenRejectedByResource { reason }.into());
    }
    if renewed {
        return Err(FlowError::TokenRejectedByResource { reason: reason() }.into());
    }
    Ok(ResourceDecision::Retry)
}

/// For a 401 or 403: the Bearer challenge (if any) and the header; `None` for other statuses.
#[allow(clippy::type_complexity)]
fn read_challenge<'a>(
    response: &ResourceResponse<'a>,
) -> Result<Option<(Option<BearerChallenge>, &'a str)>, Error> {
    if response.status != 401 && response.status != 403 {
        return Ok(None);
    }
    let header = response.www_authenticate.unwrap_or_default();
    let http = HttpResponse::new(
        response.status,
        vec![("WWW-Authenticate".to_owned(), header.to_owned())],
        Vec::new(),
    );
    Ok(Some((www_authenticate::bearer_challenge(&http)?, header)))
}

fn is_insufficient_scope(challenge: Option<&BearerChallenge>) -> bool {
    challenge.is_some_and(|c| c.error.as_deref() == Some("insufficient_scope"))
}

impl AuthFlow {
    /// Decides what to do about the MCP server's answer to a request (see the module docs).
    /// Call it for every answer: one that got past authorization (not 401 or 403) resets the
    /// operation's step-up count and confirms the token.
    pub fn handle_resource_response(
        &mut self,
        now: UnixTime,
        response: &ResourceResponse<'_>,
        entropy: Entropy,
    ) -> Result<ResourceDecision, Error> {
        // RFC 9449 §9: a `use_dpop_nonce` refusal → the same request with a proof carrying the
        // new nonce (AuthFlow::resource_request_headers adds it).
        if self
            .resource_dpop(response.status, response.www_authenticate, response.dpop_nonce)?
            .is_some()
        {
            return Ok(ResourceDecision::Retry);
        }
        let (challenge, header) = match read_challenge(response) {
            Ok(Some(read)) => read,
            Ok(None) => {
                self.step_up_succeeded(response.operation);
                if self.holds(response.token_used) {
                    self.tokens_after_challenge = false;
                }
                return Ok(ResourceDecision::PassThrough);
            }
            Err(e) => return Err(self.report(e)),
        };
        let step_up = response.status == 403;
        if step_up && !is_insufficient_scope(challenge.as_ref()) {
            return Ok(ResourceDecision::PassThrough);
        }
        // A newer token than the refused one is held (another request refreshed or stepped up
        // meanwhile): retry with it, no request.
        if self.access_token(now).is_some_and(|t| Some(t) != response.token_used) {
            return Ok(ResourceDecision::Retry);
        }
        // The token was obtained in answer to the previous refusal and is refused too: another
        // round would not help. Once said, the next 401 for it starts over.
        // A token that has expired by now was not refused for what it is: refresh it.
        let expired = self.tokens.as_ref().is_some_and(|(_, t)| !t.is_fresh(now, 0));
        if !step_up && self.tokens_after_challenge && !expired && self.holds(response.token_used) {
            self.tokens_after_challenge = false;
            let reason = rejection_reason(challenge.as_ref(), header);
            return Err(self.report(FlowError::TokenRejectedByResource { reason }.into()));
        }
        match challenge {
            Some(c) if step_up => self.step_up(now, c, response.operation, entropy)?,
            challenge => self.unauthorized(now, challenge, entropy)?,
        }
        self.answering_challenge = true;
        Ok(ResourceDecision::Retry)
    }

    /// Whether `token` is the access token held (expired or not).
    fn holds(&self, token: Option<&AccessToken>) -> bool {
        token.is_some() && self.tokens.as_ref().map(|(_, t)| &t.access_token) == token
    }

    /// Re-authorizes for `operation` with the union of the scopes requested before, granted,
    /// and challenged, at most `max_step_up_attempts` times per operation.
    pub(super) fn step_up(
        &mut self,
        now: UnixTime,
        challenge: BearerChallenge,
        operation: &str,
        entropy: Entropy,
    ) -> Result<(), Error> {
        let attempts =
            self.step_up_attempts.iter().find(|(op, _)| op == operation).map_or(0, |(_, n)| *n);
        if attempts >= self.config.max_step_up_attempts {
            return Err(self.report(
                FlowError::StepUpLimitReached {
                    operation: operation.to_owned(),
                    attempts,
                    scope: challenge.scope.unwrap_or_default(),
                }
                .into(),
            ));
        }
        self.step_up_attempts.retain(|(op, _)| op != operation);
        self.step_up_attempts.push((operation.to_owned(), attempts + 1));
        let granted = self.tokens.as_ref().and_then(|(_, t)| t.scope.clone());
        let scope = scope::step_up(
            self.last_requested_scope.as_deref(),
            granted.as_deref(),
            challenge.scope.as_deref(),
        );
        self.challenge = Some(Box::new(challenge));
        self.cancel();
        self.start(now, Goal::Authorize { entropy, scope })
    }

    /// Records where new tokens came from: in answer to a refusal of the MCP server or not.
    pub(super) fn note_token_origin(&mut self) {
        self.tokens_after_challenge = std::mem::take(&mut self.answering_challenge);
    }
}

#[cfg(test)]
mod tests;
