//! Identity, registration, the authorization request, the callback and the code exchange.

use super::{AuthFlow, FlowEvent, Phase};
use crate::authorize::{self, AuthorizationParams};
use crate::error::{Error, FlowError};
use crate::http::HttpResponse;
use crate::pkce::Entropy;
use crate::registration::{self, ClientRegistration, IdentityChoice, IdentitySource};
use crate::scope;
use crate::time::UnixTime;
use crate::token::{self, AssertionClaims, TokenEndpointAuth, TokenError};

impl AuthFlow {
    /// The scope for a new authorization (scope::select), unless one is forced (step-up).
    fn authorization_scope(&self, forced: Option<String>) -> Option<String> {
        if forced.is_some() {
            return forced;
        }
        let d = self.discovery.as_ref()?;
        scope::select(
            self.config.scopes.as_deref(),
            self.challenge.as_ref().and_then(|c| c.scope.as_deref()),
            d.resource_metadata.as_ref().and_then(|m| m.scopes_supported.as_deref()),
            d.server.scopes_supported.as_deref(),
            self.config.request_offline_access,
        )
    }

    pub(super) fn start_identity(
        &mut self,
        now: UnixTime,
        entropy: Entropy,
        forced_scope: Option<String>,
    ) -> Result<(), Error> {
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        let issuer = discovery.server.issuer.as_str().to_owned();
        // MCP SEP-2352 (authorization-server binding): credentials go only to their issuer.
        if let Err(e) = self.check_credential_binding(&issuer) {
            return self.fail(e);
        }
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        let stored = self.registrations.iter().find(|r| r.issuer == issuer);
        let choice = registration::choose_identity(
            &self.config.client,
            &discovery.server,
            &self.config.redirect_uri,
            stored,
            now,
        );
        let scope = self.authorization_scope(forced_scope);
        match choice {
            Ok(IdentityChoice::Ready(mut reg)) => {
                // RFC 7523 §2.2: configured credentials without a method, and a signing key
                // held by the host, authenticate with a signed assertion.
                let unset = self
                    .config
                    .client
                    .pre_registered
                    .as_ref()
                    .is_some_and(|p| p.auth_method.is_none());
                if reg.source == IdentitySource::PreRegistered && unset && self.signer.is_some() {
                    reg.auth_method = TokenEndpointAuth::PrivateKeyJwt;
                }
                self.authorize_with(now, reg, entropy, scope)
            }
            Ok(IdentityChoice::Register(endpoint)) => {
                let request = self.next_request_id();
                let auth_method = self.discovery.as_ref().map_or(TokenEndpointAuth::None, |d| {
                    registration::registration_auth_method(&d.server)
                });
                self.requests.push_back(registration::registration_request(
                    request,
                    &registration::RegistrationParams {
                        endpoint: &endpoint,
                        config: &self.config.client,
                        redirect_uri: &self.config.redirect_uri,
                        auth_method,
                    },
                ));
                self.phase = Phase::Registering { request, entropy, scope };
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn on_registration(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
    ) -> Result<(), Error> {
        let Phase::Registering { entropy, scope, .. } =
            std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        let issuer = discovery.server.issuer.as_str().to_owned();
        match registration::process_registration_response(
            response,
            &issuer,
            &self.config.redirect_uri,
            now,
        ) {
            Ok(reg) => {
                if response.status == 200 {
                    self.events.push_back(FlowEvent::Notice {
                        message: format!(
                            "the registration endpoint of {issuer} answered 200 OK, not 201 \
                             Created (RFC 7591 §3.2.1); its client information was accepted"
                        ),
                    });
                }
                self.authorize_with(now, reg, entropy, scope)
            }
            Err(e) => self.fail(e),
        }
    }

    fn authorize_with(
        &mut self,
        now: UnixTime,
        reg: ClientRegistration,
        entropy: Entropy,
        scope: Option<String>,
    ) -> Result<(), Error> {
        let known = self.registrations.contains(&reg);
        if !known {
            if reg.source == IdentitySource::Dynamic {
                self.events.push_back(FlowEvent::ClientRegistered(reg.clone()));
            }
            let first_use = reg.source == IdentitySource::PreRegistered
                && self.pinned_issuers(&reg.client_id).is_empty();
            self.add_registration(reg.clone());
            if first_use {
                self.events.push_back(FlowEvent::CredentialPinned {
                    issuer: reg.issuer.clone(),
                    client_id: reg.client_id.clone(),
                });
            }
        }
        let Some(discovery) = &self.discovery else {
            return self.fail(FlowError::NotDiscovered);
        };
        let policy = self.config.policy(discovery.server.issuer.as_str());
        let resource = self.token_resource();
        let pending = authorize::authorization_request(
            AuthorizationParams {
                metadata: &discovery.server,
                client_id: &reg.client_id,
                redirect_uri: &self.config.redirect_uri,
                resource: (!policy.danger_omit_resource).then_some(&resource),
                scope: scope.as_deref(),
                extra_params: &policy.extra_authorization_params,
            },
            &entropy,
            now,
        );
        match pending {
            Ok(pending) => {
                self.last_requested_scope = pending.scope.clone();
                self.phase = Phase::AwaitingCallback { pending: Box::new(pending.clone()) };
                // Save first, then leave: the callback may come back to another process.
                let url = pending.authorization_url.clone();
                self.events.push_back(FlowEvent::AuthorizationPending(pending));
                self.events.push_back(FlowEvent::OpenBrowser { url });
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    /// The issuers the configured credentials with `client_id` were used with (their pins:
    /// stored pre-registered identities, persisted with the registrations).
    fn pinned_issuers(&self, client_id: &str) -> Vec<&str> {
        self.registrations
            .iter()
            .filter(|r| r.source == IdentitySource::PreRegistered && r.client_id == client_id)
            .map(|r| r.issuer.as_str())
            .collect()
    }

    /// Refuses to use the configured credentials with `issuer` unless they belong to it
    /// ([`registration::check_credential_issuer`]).
    fn check_credential_binding(&self, issuer: &str) -> Result<(), Error> {
        let Some(pre) = &self.config.client.pre_registered else {
            return Ok(());
        };
        let pinned = self.pinned_issuers(&pre.client_id);
        Ok(registration::check_credential_issuer(&pre.client_id, &pre.issuers, &pinned, issuer)?)
    }

    /// The client's token-endpoint authentication for the current issuer.
    pub(super) fn client_auth_parts(
        &self,
        now: UnixTime,
    ) -> Result<(ClientRegistration, Option<String>), Error> {
        let discovery =
            self.discovery.as_ref().ok_or_else(|| Error::from(FlowError::NotDiscovered))?;
        let issuer = discovery.server.issuer.as_str();
        let reg =
            self.registrations.iter().find(|r| r.issuer == issuer).cloned().ok_or_else(|| {
                Error::from(FlowError::NoRegistration { issuer: issuer.to_owned() })
            })?;
        if reg.source == IdentitySource::PreRegistered {
            // SEP-2352 binding, checked again before every request that carries the secret.
            self.check_credential_binding(issuer)?;
        }
        let assertion = if reg.auth_method == TokenEndpointAuth::PrivateKeyJwt {
            let signer = self.signer.as_ref().ok_or(TokenError::MissingClientAssertion)?;
            let claims = AssertionClaims {
                iss: reg.client_id.clone(),
                sub: reg.client_id.clone(),
                // RFC 7523 §3: the audience is the authorization server's issuer.
                aud: issuer.to_owned(),
                iat: now.secs(),
                exp: now.plus(token::ASSERTION_LIFETIME_SECS).secs(),
                jti: None,
            };
            Some(signer.sign(&claims).map_err(TokenError::AssertionSigningFailed)?)
        } else {
            None
        };
        Ok((reg, assertion))
    }

    /// Handles the full URL the browser was redirected to (`http://localhost:8000/auth/redirect?code=…`).
    ///
    /// A callback that fails before its `state` is verified (wrong URL, wrong or missing
    /// `state`) leaves the pending authorization in place, so a forged request cannot cancel
    /// the user's real one. Any later failure ends it.
    pub fn handle_callback(&mut self, now: UnixTime, callback_url: &str) -> Result<(), Error> {
        let Phase::AwaitingCallback { pending } = &self.phase else {
            return Err(self.report(FlowError::NoPendingAuthorization.into()));
        };
        if now >= pending.created_at.plus(self.config.pending_ttl_secs) {
            let ttl_secs = self.config.pending_ttl_secs;
            return self.fail(FlowError::AuthorizationTimedOut { ttl_secs });
        }
        let code = match authorize::process_callback(pending, callback_url) {
            Ok(code) => code,
            Err(e) => {
                use crate::authorize::CallbackError as C;
                let keep_pending = matches!(
                    e,
                    C::InvalidUrl(_)
                        | C::RedirectUriMismatch { .. }
                        | C::MalformedQuery
                        | C::DuplicateParameter(_)
                        | C::MissingState
                        | C::StateMismatch
                );
                if keep_pending {
                    return Err(self.report(e.into()));
                }
                return self.fail(e);
            }
        };
        let Phase::AwaitingCallback { pending } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        let Some(discovery) = self.discovery.clone() else {
            return self.fail(FlowError::NotDiscovered);
        };
        // RFC 9700 §4.4.2: the code goes only to the token endpoint of the authorization server
        // the user was sent to; a discovery that now names another one is refused (mix-up).
        let token_endpoint = pending
            .token_endpoint
            .clone()
            .unwrap_or_else(|| discovery.server.token_endpoint.clone());
        if discovery.server.issuer.as_str() != pending.issuer
            || discovery.server.token_endpoint != token_endpoint
        {
            return self.fail(FlowError::PendingServerMismatch {
                pending_issuer: pending.issuer.clone(),
                pending_token_endpoint: token_endpoint.as_str().to_owned(),
                current_issuer: discovery.server.issuer.as_str().to_owned(),
                current_token_endpoint: discovery.server.token_endpoint.as_str().to_owned(),
            });
        }
        let (reg, assertion) = match self.client_auth_parts(now) {
            Ok(parts) => parts,
            Err(e) => return self.fail(e),
        };
        // RFC 6749 §4.1.3: the code is bound to the client the authorization request named.
        if reg.client_id != pending.client_id {
            return self.fail(FlowError::PendingClientChanged {
                pending_client_id: pending.client_id.clone(),
                current_client_id: reg.client_id.clone(),
            });
        }
        let request = self.next_request_id();
        let client = reg.client_auth(assertion.as_deref());
        let req = token::code_exchange_request(
            request,
            &token::CodeExchangeParams {
                token_endpoint: &token_endpoint,
                client: &client,
                code: &code,
                verifier: &pending.verifier,
                redirect_uri: &pending.redirect_uri,
                resource: pending.resource.as_ref(),
            },
        );
        let req = match req {
            Ok(req) => req,
            Err(e) => return self.fail(e),
        };
        if let Err(e) = self.send_token_request(now, req) {
            return self.fail(e);
        }
        self.phase = Phase::ExchangingCode { request, pending };
        Ok(())
    }

    pub(super) fn on_code_exchange(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
    ) -> Result<(), Error> {
        // RFC 9449 §8: `use_dpop_nonce` → once more with the server's nonce.
        match self.token_nonce_retry(now, response) {
            Ok(Some(retry)) => {
                if let Phase::ExchangingCode { request, .. } = &mut self.phase {
                    *request = retry;
                }
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => return self.fail(e),
        }
        let Phase::ExchangingCode { pending, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Ok(());
        };
        let proof_sent = self.dpop.proof_sent;
        let scope = pending.scope.as_deref();
        match token::process_token_response_dpop(response, now, None, scope, proof_sent) {
            Ok(tokens) => {
                self.tokens_from_401_refresh = false;
                self.store_tokens(pending.issuer, tokens);
                self.events.push_back(FlowEvent::Authorized);
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn store_tokens(&mut self, issuer: String, tokens: crate::token::TokenSet) {
        self.refresh_not_before = None;
        self.note_token_origin();
        self.events.push_back(FlowEvent::TokensUpdated {
            issuer: issuer.clone(),
            resource: self.token_resource().as_str().to_owned(),
            tokens: tokens.clone(),
        });
        self.tokens = Some((issuer, tokens));
    }
}
