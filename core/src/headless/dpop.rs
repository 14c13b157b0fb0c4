//! DPoP (RFC 9449) for the headless grants: proofs on the grant request at the authorization
//! server (client credentials, the jwt-bearer grant of cross-app access and of workload
//! identity, a service account's fixed token endpoint), the `use_dpop_nonce` retry there (§8),
//! and the MCP server's side: `Authorization: DPoP` with a fresh proof carrying `ath` (§7.1) and
//! its nonce (§9). The proofs are [`crate::dpop`]'s; the key and the signature are the host's
//! ([`crate::dpop::DpopSigner`], [`HeadlessFlow::set_dpop_signer`]).
//!
//! When ([`crate::dpop::proof_wanted`], the rule of [`crate::AuthFlow`]):
//! [`crate::dpop::DpopMode::Never`] never, [`crate::dpop::DpopMode::Always`] on every grant
//! request, [`crate::dpop::DpopMode::Auto`] when the authorization server advertises DPoP
//! (`dpop_signing_alg_values_supported`, §5.1) and the resource needs it (RFC 9728 §2
//! `dpop_bound_access_tokens_required`, or a `DPoP` challenge in its 401, §7.1) and the host
//! gave a key. A service account's fixed token endpoint has no metadata to advertise anything:
//! there `Auto` follows the resource alone (its `DPoP` challenge), and the token type the server
//! answers says whether it bound the token. The identity provider's token exchange of cross-app
//! access carries no proof: the ID-JAG is an assertion for the authorization server, not an
//! access token (SEP-990).
//!
//! Feature `dpop` (the native adapter enables it). Without it no proof is ever sent and a `DPoP`
//! token type is refused, as for a request without a proof.

#[cfg(feature = "dpop")]
use std::sync::Arc;

use super::HeadlessFlow;
#[cfg(feature = "dpop")]
use crate::dpop::{self, DpopError, DpopMode, DpopSigner};
use crate::error::Error;
#[cfg(feature = "dpop")]
use crate::error::FlowError;
#[cfg(feature = "dpop")]
use crate::flow::ResourceDecision;
use crate::flow::ResourceResponse;
use crate::http::{HttpRequest, HttpResponse};
use crate::time::UnixTime;

/// The DPoP state of one headless flow.
#[derive(Default)]
pub(super) struct HeadlessDpop {
    #[cfg(feature = "dpop")]
    signer: Option<Arc<dyn DpopSigner + Send + Sync>>,
    /// The last nonce of each server (§8.2, §9).
    #[cfg(feature = "dpop")]
    nonces: dpop::NonceCache,
    /// The grant request in flight carried a proof.
    pub(super) proof_sent: bool,
    /// The grant request in flight carried a proof and is a first attempt: a `use_dpop_nonce`
    /// refusal is retried once (§8).
    #[cfg(feature = "dpop")]
    may_retry: bool,
    /// The next grant request is that retry.
    #[cfg(feature = "dpop")]
    retrying: bool,
    /// The MCP server answered with a `DPoP` challenge (§7.1).
    #[cfg(feature = "dpop")]
    resource_challenged: bool,
    /// `use_dpop_nonce` refusals of the MCP server since it last accepted a request.
    #[cfg(feature = "dpop")]
    resource_nonce_refusals: u32,
}

impl std::fmt::Debug for HeadlessDpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlessDpop").field("proof_sent", &self.proof_sent).finish_non_exhaustive()
    }
}

impl HeadlessFlow {
    /// Sets the host's DPoP key (RFC 9449). Without one, [`DpopMode::Auto`] uses Bearer tokens
    /// and [`DpopMode::Always`] fails with `dpop_signer_missing`.
    #[cfg(feature = "dpop")]
    pub fn set_dpop_signer(&mut self, signer: Arc<dyn DpopSigner + Send + Sync>) {
        self.dpop.signer = Some(signer);
    }

    /// The headers of a request to the MCP server at `url` with `method`: `Authorization` with
    /// the token held (`DPoP <token>` for a DPoP-bound token, never `Bearer` then; RFC 9449
    /// §7.1) and, for a DPoP-bound token, a fresh `DPoP` proof with `ath` and the MCP server's
    /// latest nonce (§9). Empty when the token held has expired (or none is held); unlike
    /// [`HeadlessFlow::access_token`], a token inside its refresh margin is still used: it is
    /// the one [`HeadlessFlow::begin`] just obtained when it lives shorter than the margin. Call
    /// it for every request: each proof is good for one request.
    pub fn resource_request_headers(
        &self,
        now: UnixTime,
        method: &str,
        url: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        // The resource check of authorization_header (RFC 8707), whatever it returns.
        self.authorization_header(now, url)?;
        let Some((_, tokens)) = self.tokens.as_ref().filter(|(_, t)| t.is_fresh(now, 0)) else {
            return Ok(Vec::new());
        };
        let token = &tokens.access_token;
        let scheme = if tokens.is_dpop_bound() { crate::dpop::TOKEN_TYPE } else { "Bearer" };
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut headers =
            vec![("Authorization".to_owned(), format!("{scheme} {}", token.secret()))];
        #[cfg(feature = "dpop")]
        if tokens.is_dpop_bound() {
            let signer = self.dpop.signer.as_ref().ok_or(DpopError::SignerMissing)?;
            let nonce = self.dpop.nonces.nonce_for(url);
            let proof = dpop::sign_proof(&**signer, method, url, now, Some(token.secret()), nonce)?;
            headers.push((dpop::DPOP_HEADER.to_owned(), proof));
        }
        #[cfg(not(feature = "dpop"))]
        let _ = method;
        Ok(headers)
    }

    /// True when the token held is DPoP-bound (`token_type` DPoP, RFC 9449 §5).
    pub(super) fn holds_bound_token(&self) -> bool {
        self.tokens.as_ref().is_some_and(|(_, t)| t.is_dpop_bound())
    }
}

#[cfg(feature = "dpop")]
impl HeadlessFlow {
    /// The signer for the next grant request, when it carries a proof (module docs).
    fn grant_request_signer(&self) -> Result<Option<Arc<dyn DpopSigner + Send + Sync>>, Error> {
        let mode = self.config.dpop;
        // A fixed token endpoint: the discovery the host may have cached is not its server's.
        let discovery = self.discovery.as_ref().filter(|_| self.config.token_endpoint.is_none());
        let advertised = discovery.and_then(|d| d.server.dpop_signing_alg_values_supported.clone());
        let required = discovery
            .and_then(|d| d.resource_metadata.as_ref())
            .is_some_and(|m| m.dpop_bound_access_tokens_required);
        let fixed = self.config.token_endpoint.is_some();
        let needs = required || self.dpop.resource_challenged;
        if !dpop::proof_wanted(mode, advertised.is_some() || fixed, needs) {
            return Ok(None);
        }
        let Some(signer) = self.dpop.signer.clone() else {
            // Auto without a key: Bearer, and the resource says whether that suffices.
            if mode == DpopMode::Always {
                return Err(DpopError::SignerMissing.into());
            }
            return Ok(None);
        };
        // RFC 9449 §5.1: a proof the server can verify.
        dpop::choose_alg(advertised.as_deref(), &[signer.key().alg.as_str()])?;
        Ok(Some(signer))
    }

    /// Adds a proof to the grant request when one is due (with the server's latest nonce).
    pub(super) fn add_grant_proof(
        &mut self,
        now: UnixTime,
        req: &mut HttpRequest,
    ) -> Result<(), Error> {
        self.dpop.proof_sent = false;
        let retry = std::mem::take(&mut self.dpop.retrying);
        self.dpop.may_retry = false;
        let Some(signer) = self.grant_request_signer()? else {
            return Ok(());
        };
        let nonce = self.dpop.nonces.nonce_for(&req.url);
        let proof = dpop::sign_proof(&*signer, "POST", &req.url, now, None, nonce)?;
        req.headers.push((dpop::DPOP_HEADER.to_owned(), proof));
        self.dpop.proof_sent = true;
        self.dpop.may_retry = !retry;
        Ok(())
    }

    /// Reads the grant response of `token_endpoint` for DPoP: remembers its nonce; true when it
    /// is a `use_dpop_nonce` refusal (§8) of a first attempt with a proof, to be retried once.
    /// The retry is built anew (the caller goes back to the grant step): a fresh proof with the
    /// nonce, and a fresh client assertion, whose `jti` the server may have recorded (RFC 7523
    /// §3 item 7). The refusal of a retry is processed as any error.
    pub(super) fn grant_nonce_retry(
        &mut self,
        token_endpoint: &str,
        response: &HttpResponse,
    ) -> bool {
        self.dpop.nonces.remember(token_endpoint, response);
        let retry = std::mem::take(&mut self.dpop.may_retry)
            && dpop::nonce_to_retry_with(response).is_some();
        self.dpop.retrying = retry;
        retry
    }

    /// Reads the DPoP parts of the MCP server's answer: its `DPoP-Nonce` (for the next proof)
    /// and a `DPoP` challenge (the resource wants DPoP-bound tokens). `Some(Retry)` when the
    /// answer is a `use_dpop_nonce` refusal (§9) to retry with the new nonce; an error once the
    /// server keeps refusing fresh nonces, or when it asks for DPoP and DPoP is off.
    pub(super) fn resource_dpop(
        &mut self,
        response: &ResourceResponse<'_>,
    ) -> Result<Option<ResourceDecision>, Error> {
        let url = self.resource().as_str().to_owned();
        let mut headers = Vec::new();
        if let Some(n) = response.dpop_nonce {
            headers.push((dpop::NONCE_HEADER.to_owned(), n.to_owned()));
        }
        if let Some(h) = response.www_authenticate {
            headers.push(("WWW-Authenticate".to_owned(), h.to_owned()));
        }
        let http = HttpResponse::new(response.status, headers, Vec::new());
        self.dpop.nonces.remember(&url, &http);
        if response.status != 401 && response.status != 403 {
            self.dpop.resource_nonce_refusals = 0;
            return Ok(None);
        }
        if response.status == 401 && dpop::has_dpop_challenge(response.www_authenticate) {
            self.dpop.resource_challenged = true;
            // Only DPoP-bound tokens, and none will come: say so instead of renewing a Bearer
            // token the server refuses again.
            let bearer_too = dpop::has_challenge(response.www_authenticate, "Bearer");
            if self.config.dpop == DpopMode::Never && !bearer_too {
                let reason = format!(
                    "{}the MCP server accepts only DPoP-bound tokens (RFC 9449 §7.1) and DPoP is \
                     off (dpop: never)",
                    dpop_challenge_reason(response.www_authenticate)
                );
                return Err(self.report(FlowError::TokenRejectedByResource { reason }.into()));
            }
        }
        if dpop::nonce_to_retry_with(&http).is_none() {
            return Ok(None);
        }
        self.dpop.resource_nonce_refusals += 1;
        if self.dpop.resource_nonce_refusals > dpop::MAX_RESOURCE_NONCE_RETRIES {
            self.dpop.resource_nonce_refusals = 0;
            let reason = "use_dpop_nonce: the server refused proofs with the nonce it sent \
                          (RFC 9449 §9)"
                .to_owned();
            return Err(self.report(FlowError::TokenRejectedByResource { reason }.into()));
        }
        Ok(Some(ResourceDecision::Retry))
    }

    /// Forgets a pending nonce retry (the attempt was cancelled).
    pub(super) fn forget_grant_retry(&mut self) {
        self.dpop.may_retry = false;
        self.dpop.retrying = false;
    }
}

/// The server's words in its `DPoP` challenge (`error: error_description; `), if any.
#[cfg(feature = "dpop")]
fn dpop_challenge_reason(www_authenticate: Option<&str>) -> String {
    let challenges =
        www_authenticate.and_then(|h| crate::www_authenticate::parse(h).ok()).unwrap_or_default();
    let Some(c) = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case(dpop::TOKEN_TYPE))
    else {
        return String::new();
    };
    match (c.param("error"), c.param("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}; "),
        (Some(e), None) => format!("{e}; "),
        (None, Some(d)) => format!("{d}; "),
        (None, None) => String::new(),
    }
}

/// Without feature `dpop`: no proof is ever sent (module docs).
#[cfg(not(feature = "dpop"))]
impl HeadlessFlow {
    pub(super) fn add_grant_proof(
        &mut self,
        _now: UnixTime,
        _req: &mut HttpRequest,
    ) -> Result<(), Error> {
        Ok(())
    }

    pub(super) fn grant_nonce_retry(
        &mut self,
        _token_endpoint: &str,
        _response: &HttpResponse,
    ) -> bool {
        false
    }

    pub(super) fn resource_dpop(
        &mut self,
        _response: &ResourceResponse<'_>,
    ) -> Result<Option<crate::flow::ResourceDecision>, Error> {
        Ok(None)
    }

    pub(super) fn forget_grant_retry(&mut self) {}
}
