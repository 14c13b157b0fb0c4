//! The MCP server's answers to requests that carried this client's token: the core decides
//! what a 401 or 403 calls for (core/src/flow/resource.rs); this runs it (a refresh, single-flight
//! across processes, or an authorization with the browser step when interactive) and says whether
//! to send the request again.

use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::{AuthFlow, FlowStatus, ResourceDecision, ResourceResponse};

use super::{Handoff, OAuthClient, Pending, Progress, ResourceAnswer};
use crate::{entropy, Error};

impl OAuthClient {
    /// Handles the MCP server's 401 to a request that carried `used` (or no token): refresh, or
    /// authorize when `interactive`, else [`Error::AuthorizationRequired`].
    pub async fn handle_unauthorized(
        &self,
        response: &HttpResponse,
        used: Option<&AccessToken>,
        interactive: bool,
    ) -> Result<(), Error> {
        let header = response.header("www-authenticate");
        self.handle_resource_response(401, header, used, "", interactive).await.map(|_| ())
    }

    /// Acts on the MCP server's answer to a request for `operation` (see
    /// [`mcp_oauth_core::flow::resource::operation_key`]) that carried `used`: the core decides
    /// (core/src/flow/resource.rs), this runs what it asks for: a refresh (single-flight across
    /// processes, see [`OAuthClient`]), or an authorization, with the browser step when
    /// `interactive` (else [`Error::AuthorizationRequired`]). On
    /// [`ResourceDecision::Retry`] send the request again with [`OAuthClient::access_token`].
    pub async fn handle_resource_response(
        &self,
        status: u16,
        www_authenticate: Option<&str>,
        used: Option<&AccessToken>,
        operation: &str,
        interactive: bool,
    ) -> Result<ResourceDecision, Error> {
        let answer = ResourceAnswer { status, www_authenticate, dpop_nonce: None };
        self.handle_resource_answer(answer, used, operation, interactive).await
    }

    /// [`OAuthClient::handle_resource_response`] with the answer's `DPoP-Nonce` (RFC 9449 §9):
    /// a `use_dpop_nonce` refusal is then retried with the server's nonce.
    pub async fn handle_resource_answer(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
        interactive: bool,
    ) -> Result<ResourceDecision, Error> {
        let mode = if interactive { Pending::Browser } else { Pending::Refuse };
        match self.resource_answer(answer, used, operation, mode).await? {
            Handoff::Decision(d) => Ok(d),
            // Not with these modes (finish_pending ran).
            Handoff::Authorize(_) => {
                Err(Error::AuthorizationRequired { server: self.opts.server_url.clone() })
            }
        }
    }

    /// [`OAuthClient::handle_resource_answer`] for a host that runs the browser step itself
    /// (the `proxy` command, which coordinates it with other processes): when the core's
    /// decision starts an authorization, its pending authorization comes back
    /// ([`Handoff::Authorize`]) instead of a browser being opened, and this client no longer
    /// holds it; finish it with [`OAuthClient::complete_authorization`], here or in another
    /// process. Discovery and registration have run by then (the registration is stored).
    pub async fn handle_resource_answer_handoff(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
    ) -> Result<Handoff, Error> {
        self.resource_answer(answer, used, operation, Pending::Handoff).await
    }

    async fn resource_answer(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
        mode: Pending,
    ) -> Result<Handoff, Error> {
        let ResourceAnswer { status, www_authenticate, dpop_nonce } = answer;
        let gate = self.registration_gate().await;
        let mut inner = self.inner.lock().await;
        let flow = self.flow(&mut inner).await?;
        if gate.is_some() {
            self.adopt_shared_registrations(flow).await?;
        }
        let response =
            ResourceResponse { status, www_authenticate, token_used: used, operation, dpop_nonce };
        let decide = async |this: &Self, flow: &mut AuthFlow, _| {
            let decision = flow.handle_resource_response(self.now(), &response, entropy()?)?;
            // The same progress as `authorize` (the login command) when this starts one.
            if flow.tokens().is_none()
                && matches!(
                    flow.status(self.now()),
                    FlowStatus::Discovering
                        | FlowStatus::Registering
                        | FlowStatus::AwaitingUser { .. }
                )
            {
                this.progress(Progress::Authorizing);
            }
            this.drive(flow).await?;
            Ok(decision)
        };
        let decision = if status == 401 && used.is_some() {
            // A refresh may follow: under the store's lock, after adopting newer tokens another
            // process stored (the core then retries with them).
            self.with_refresh_lock(flow, decide).await?
        } else {
            decide(self, flow, false).await?
        };
        if decision == ResourceDecision::Retry {
            match mode {
                Pending::Handoff => {
                    if let FlowStatus::AwaitingUser { .. } = flow.status(self.now()) {
                        let pending = flow.pending().cloned();
                        flow.cancel();
                        if let Some(pending) = pending {
                            return Ok(Handoff::Authorize(Box::new(pending)));
                        }
                    }
                }
                Pending::Browser => self.finish_pending(flow, true).await?,
                Pending::Refuse => self.finish_pending(flow, false).await?,
            }
        }
        Ok(Handoff::Decision(decision))
    }

    /// When the flow now waits for the user: the browser step if `interactive`, else
    /// [`Error::AuthorizationRequired`] (and the authorization is dropped).
    async fn finish_pending(&self, flow: &mut AuthFlow, interactive: bool) -> Result<(), Error> {
        match flow.status(self.now()) {
            FlowStatus::AwaitingUser { url } if interactive => self.interact(flow, url).await,
            FlowStatus::AwaitingUser { .. } => {
                flow.cancel();
                Err(Error::AuthorizationRequired { server: self.opts.server_url.clone() })
            }
            _ => Ok(()),
        }
    }
}
