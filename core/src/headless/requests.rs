//! The headless flow's requests and their answers: binding the client's credentials to an
//! issuer, the token and exchange requests of each step (RFC 6749 §4.4, RFC 7523 §2.1,
//! RFC 8693), reading the token responses, and reporting failures. Split from
//! core/src/headless.rs, which drives the steps.

use super::{HeadlessAuth, HeadlessConfig, HeadlessFlow, Phase, Step, Target};
use crate::error::{Error, FlowError};
use crate::flow::FlowEvent;
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::secret::GrantAssertion;
use crate::time::UnixTime;
use crate::token::TokenError;
use crate::token_exchange::{self, token_types};
use crate::url::IssuerUrl;
use crate::{client_credentials, jwt_bearer, registration};

impl HeadlessFlow {
    /// Refuses the authorization-server client's credentials at an issuer they do not belong
    /// to; pins the first issuer used. A public client has no credentials, unless it presents
    /// the workload's assertion: a bearer credential too.
    pub(super) fn bind(&mut self, issuer: &str) -> Result<(), Error> {
        let client = &self.config.client;
        if matches!(client.auth, HeadlessAuth::None) && !self.config.workload_identity {
            return Ok(());
        }
        let pinned: Vec<&str> = self
            .pins
            .iter()
            .filter(|(id, _)| *id == client.client_id)
            .map(|(_, i)| i.as_str())
            .collect();
        registration::check_credential_issuer(&client.client_id, &client.issuers, &pinned, issuer)?;
        if client.issuers.is_empty() && pinned.is_empty() {
            self.pins.push((client.client_id.clone(), issuer.to_owned()));
            self.events.push_back(FlowEvent::CredentialPinned {
                issuer: issuer.to_owned(),
                client_id: client.client_id.clone(),
            });
        }
        Ok(())
    }

    /// Builds and queues the request of `step`.
    pub(super) fn send(
        &mut self,
        now: UnixTime,
        step: Step,
        target: Target,
        assertion: Option<&str>,
    ) -> Result<(), Error> {
        let id = RequestId(self.next_id);
        let config = self.config.clone();
        let built = match step {
            Step::Exchange => self.exchange_request(id, &config, &target, assertion),
            Step::Token => self.token_request(id, &config, &target, assertion).and_then(|mut r| {
                // RFC 9449 §5: the grant request carries a proof when DPoP is due (dpop.rs).
                self.add_grant_proof(now, &mut r)?;
                Ok(r)
            }),
        };
        match built {
            Ok(req) => {
                self.next_id += 1;
                self.requests.push_back(req);
                self.phase = Phase::Requesting { request: id, step, target: Box::new(target) };
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn exchange_request(
        &self,
        id: RequestId,
        config: &HeadlessConfig,
        target: &Target,
        assertion: Option<&str>,
    ) -> Result<HttpRequest, Error> {
        let (Some(x), Some(idp)) = (&config.cross_app, &target.idp) else {
            return Err(FlowError::NotDiscovered.into());
        };
        let method = x.idp_client.method(idp.auth_methods.as_deref())?;
        let audience = IssuerUrl::parse(&target.issuer)?;
        Ok(token_exchange::id_jag_request(
            id,
            &token_exchange::IdJagParams {
                idp_token_endpoint: &idp.token_endpoint,
                client: &x.idp_client.client_auth(method, assertion),
                id_token: &x.id_token,
                audience: &audience,
                resource: target.send_resource.as_ref(),
                scope: target.scope.as_deref(),
            },
        )?)
    }

    pub(super) fn token_request(
        &self,
        id: RequestId,
        config: &HeadlessConfig,
        target: &Target,
        assertion: Option<&str>,
    ) -> Result<HttpRequest, Error> {
        let method = config.client.method(target.auth_methods.as_deref())?;
        let client = config.client.client_auth(method, assertion);
        if let Some(assertion) = &target.workload {
            // RFC 7523 §2.1 with the platform's JWT; RFC 8707 resource, the core's scope.
            return Ok(jwt_bearer::jwt_bearer_request(
                id,
                &jwt_bearer::JwtBearerParams {
                    token_endpoint: &target.token_endpoint,
                    client: &client,
                    assertion,
                    scope: target.scope.as_deref(),
                    resource: target.send_resource.as_ref(),
                },
            )?);
        }
        Ok(match &target.jag {
            Some((jag, jag_scope)) => jwt_bearer::jwt_bearer_request(
                id,
                &jwt_bearer::JwtBearerParams {
                    token_endpoint: &target.token_endpoint,
                    client: &client,
                    assertion: jag,
                    scope: jag_scope.as_deref().or(target.scope.as_deref()),
                    resource: target.send_resource.as_ref(),
                },
            )?,
            None => client_credentials::client_credentials_request(
                id,
                &client_credentials::ClientCredentialsParams {
                    token_endpoint: &target.token_endpoint,
                    client: &client,
                    scope: target.scope.as_deref(),
                    resource: target.send_resource.as_ref(),
                },
            )?,
        })
    }

    pub(super) fn on_response(
        &mut self,
        now: UnixTime,
        step: Step,
        mut target: Target,
        resp: &HttpResponse,
    ) -> Result<(), Error> {
        match step {
            Step::Exchange => {
                let jag = match token_exchange::process_token_exchange_response(
                    resp,
                    now,
                    Some(token_types::ID_JAG),
                ) {
                    Ok(j) => j,
                    Err(e) => return self.fail(e),
                };
                target.jag = Some((jag.token, jag.scope));
                self.next(now, target)
            }
            Step::Token => {
                let tokens = match crate::token::process_token_response_dpop(
                    resp,
                    now,
                    None,
                    target.scope.as_deref(),
                    self.dpop.proof_sent,
                ) {
                    Ok(t) => t,
                    Err(e) => return self.fail(e),
                };
                self.events.push_back(FlowEvent::TokensUpdated {
                    issuer: target.issuer.clone(),
                    resource: target.resource.as_str().to_owned(),
                    tokens: tokens.clone(),
                });
                self.tokens = Some((target.issuer, tokens));
                self.renewed = std::mem::take(&mut self.refused);
                Ok(())
            }
        }
    }

    pub(super) fn report(&mut self, error: Error) -> Error {
        self.events.push_back(FlowEvent::Failed(error.clone()));
        error
    }

    pub(super) fn fail(&mut self, error: impl Into<Error>) -> Result<(), Error> {
        self.phase = Phase::Idle;
        Err(self.report(error.into()))
    }
}

/// The host's workload assertion, trimmed (files end with a newline): RFC 7523 §2.1 wants a
/// single JWT, so an empty value or one that is not three base64url parts is refused here, before
/// it reaches the server.
pub(super) fn workload_assertion(value: &str) -> Result<GrantAssertion, TokenError> {
    let jwt = value.trim();
    if jwt.is_empty() {
        return Err(TokenError::WorkloadAssertionUnavailable("it is empty".to_owned()));
    }
    let base64url = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b));
    let parts: Vec<&str> = jwt.split('.').collect();
    // RFC 7519 §7.2: a JWT is a JWS (three parts) or a JWE (five).
    if !matches!(parts.len(), 3 | 5) || !parts.iter().all(|p| base64url(p)) || parts[0].is_empty() {
        return Err(TokenError::WorkloadAssertionUnavailable(
            "it is not a JWT (compact serialization: base64url parts separated by dots)".to_owned(),
        ));
    }
    Ok(GrantAssertion::new(jwt))
}
