//! DPoP (RFC 9449) in the flow: when token requests carry a proof, the `use_dpop_nonce` retry at
//! the token endpoint (§8), the headers of a resource request with a DPoP-bound token (§7.1)
//! and the resource server's nonce (§9). The proofs themselves are [`crate::dpop`]'s; the key
//! and the signature are the host's: a synchronous [`crate::dpop::DpopSigner`] (ring, natively),
//! or a host that signs asynchronously (WebCrypto): then the flow holds each token request until
//! the host signed its proof (core/src/flow/dpop/host.rs).
//!
//! When: [`crate::dpop::DpopMode::Never`] never; [`crate::dpop::DpopMode::Always`] on every token request;
//! [`crate::dpop::DpopMode::Auto`] when the authorization server advertises DPoP
//! (`dpop_signing_alg_values_supported`, §5.1) and the resource needs it (RFC 9728 §2
//! `dpop_bound_access_tokens_required`, or a `DPoP` challenge in its 401, §7.1) and the host
//! gave a key. A token held that is DPoP-bound is always refreshed with a proof (§5: the refresh
//! token of a public client is bound to the same key).
//!
//! Feature `dpop` (the native adapter and the npm package enable it). Without it no proof is
//! ever sent, whatever the mode, and a `DPoP` token type is refused as for a request without a
//! proof.

#[cfg(feature = "dpop")]
use std::sync::Arc;

#[cfg(feature = "dpop")]
mod host;

use super::AuthFlow;
#[cfg(feature = "dpop")]
use crate::dpop::{self, DpopError, DpopMode, DpopSigner};
use crate::error::Error;
#[cfg(feature = "dpop")]
use crate::error::FlowError;
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::time::UnixTime;

/// How many `use_dpop_nonce` refusals of the MCP server in a row are answered with a retry
/// before the flow gives up (§9: one retry with the new nonce; concurrent requests may each
/// meet one).
#[cfg(feature = "dpop")]
const MAX_RESOURCE_NONCE_RETRIES: u32 = 2;

/// The DPoP state of one flow.
#[derive(Default)]
pub(super) struct DpopState {
    #[cfg(feature = "dpop")]
    pub(super) signer: Option<Arc<dyn DpopSigner + Send + Sync>>,
    /// The last nonce of each server (§8.2, §9).
    #[cfg(feature = "dpop")]
    pub(super) nonces: dpop::NonceCache,
    /// The token request in flight carried a proof.
    pub(super) proof_sent: bool,
    /// The token request in flight, kept for one `use_dpop_nonce` retry (§8).
    #[cfg(feature = "dpop")]
    pub(super) retry: Option<Box<HttpRequest>>,
    /// The MCP server answered with a `DPoP` challenge (§7.1).
    #[cfg(feature = "dpop")]
    pub(super) resource_challenged: bool,
    /// `use_dpop_nonce` refusals of the MCP server since it last accepted a request.
    #[cfg(feature = "dpop")]
    pub(super) resource_nonce_refusals: u32,
    /// The host's private key in its own encoding, persisted in the entry (core/src/flow/entry.rs).
    #[cfg(feature = "dpop")]
    pub(super) key_material: Option<crate::secret::DpopPrivateKey>,
    /// The host signs proofs asynchronously with a key of this algorithm (host.rs).
    #[cfg(feature = "dpop")]
    pub(super) host_alg: Option<std::borrow::Cow<'static, str>>,
    /// That key's public half, once the host made or loaded it.
    #[cfg(feature = "dpop")]
    pub(super) host_key: Option<Box<dpop::DpopKey>>,
    /// The token request waiting for the host's signature of its proof.
    #[cfg(feature = "dpop")]
    pub(super) held: Option<Box<host::Held>>,
    /// The id of the next proof the host is asked to sign.
    #[cfg(feature = "dpop")]
    pub(super) next_proof: u64,
}

impl DpopState {
    /// Drops a token request waiting for its proof (the flow's `cancel`).
    pub(super) fn cancel(&mut self) {
        #[cfg(feature = "dpop")]
        {
            self.held = None;
        }
    }
}

/// Who signs the proof of the next token request.
#[cfg(feature = "dpop")]
enum Prover {
    /// The host's synchronous signer, now.
    Signer(Arc<dyn DpopSigner + Send + Sync>),
    /// The host, asynchronously: the request waits for the signature (host.rs).
    Host,
}

impl std::fmt::Debug for DpopState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopState").field("proof_sent", &self.proof_sent).finish_non_exhaustive()
    }
}

impl AuthFlow {
    /// Sets the host's DPoP key (RFC 9449). Without one, [`DpopMode::Auto`] uses Bearer tokens.
    #[cfg(feature = "dpop")]
    pub fn set_dpop_signer(&mut self, signer: Arc<dyn DpopSigner + Send + Sync>) {
        self.dpop.signer = Some(signer);
    }

    /// Notes a `DPoP` challenge in the MCP server's 401 (RFC 9449 §7.1): the resource wants
    /// DPoP-bound tokens.
    #[cfg(feature = "dpop")]
    pub(super) fn note_dpop_challenge(&mut self, www_authenticate: Option<&str>) {
        let challenges = www_authenticate
            .and_then(|h| crate::www_authenticate::parse(h).ok())
            .unwrap_or_default();
        if challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case(dpop::TOKEN_TYPE)) {
            self.dpop.resource_challenged = true;
        }
    }

    /// Sets the host's DPoP private key in the host's encoding: [`AuthFlow::entry`] persists it
    /// with the tokens bound to it, [`AuthFlow::load_entry`] restores it.
    #[cfg(feature = "dpop")]
    pub fn set_dpop_key_material(&mut self, key: Option<crate::secret::DpopPrivateKey>) {
        self.dpop.key_material = key;
    }

    /// The host's DPoP private key as stored (loaded from an entry or set by the host).
    #[cfg(feature = "dpop")]
    pub fn dpop_key_material(&self) -> Option<&crate::secret::DpopPrivateKey> {
        self.dpop.key_material.as_ref()
    }

    /// Whether the next token request carries a proof (module docs), and who signs it.
    #[cfg(feature = "dpop")]
    fn token_request_prover(&self) -> Result<Option<Prover>, Error> {
        let bound = self.tokens.as_ref().is_some_and(|(_, t)| t.is_dpop_bound());
        let server = self.discovery.as_ref().map(|d| &d.server);
        let advertised = server.and_then(|s| s.dpop_signing_alg_values_supported.as_deref());
        let wanted = match self.config.dpop {
            DpopMode::Never => false,
            DpopMode::Always => true,
            DpopMode::Auto => {
                let required = self.discovery.as_ref().and_then(|d| d.resource_metadata.as_ref());
                let required = required.is_some_and(|m| m.dpop_bound_access_tokens_required);
                advertised.is_some() && (required || self.dpop.resource_challenged)
            }
        };
        if !wanted && !bound {
            return Ok(None);
        }
        let (prover, alg) = match (&self.dpop.signer, &self.dpop.host_alg) {
            (Some(signer), _) => (Prover::Signer(signer.clone()), signer.key().alg.as_str()),
            (None, Some(alg)) => (Prover::Host, alg.as_ref()),
            (None, None) => {
                // Auto without a key: Bearer, and the resource says whether that suffices.
                if bound || self.config.dpop == DpopMode::Always {
                    return Err(DpopError::SignerMissing.into());
                }
                return Ok(None);
            }
        };
        // RFC 9449 §5.1: a proof the server can verify.
        dpop::choose_alg(advertised, &[alg])?;
        Ok(Some(prover))
    }

    /// Queues a token request: with a proof when one is due (kept for one nonce retry), held
    /// until the host signed it when the host signs asynchronously. Every token request the
    /// flow sends goes through here.
    #[cfg(feature = "dpop")]
    pub(super) fn send_token_request(
        &mut self,
        now: UnixTime,
        mut req: HttpRequest,
    ) -> Result<(), Error> {
        self.dpop.proof_sent = false;
        self.dpop.retry = None;
        self.dpop.held = None;
        match self.token_request_prover()? {
            None => {}
            Some(Prover::Host) => {
                self.hold(now, req, true);
                return Ok(());
            }
            Some(Prover::Signer(signer)) => {
                let nonce = self.dpop.nonces.nonce_for(&req.url);
                let proof = dpop::sign_proof(&*signer, "POST", &req.url, now, None, nonce)?;
                req.headers.push((dpop::DPOP_HEADER.to_owned(), proof));
                self.dpop.proof_sent = true;
                self.dpop.retry = Some(Box::new(req.clone()));
            }
        }
        self.requests.push_back(req);
        Ok(())
    }

    /// Reads a token response for DPoP: remembers its nonce, and when it is a `use_dpop_nonce`
    /// refusal (§8) of the first attempt queues the same request with a fresh proof carrying
    /// the nonce, returning its id. The refusal of a retry is processed as any error.
    #[cfg(feature = "dpop")]
    pub(super) fn token_nonce_retry(
        &mut self,
        now: UnixTime,
        response: &HttpResponse,
    ) -> Result<Option<RequestId>, Error> {
        let Some(mut req) = self.dpop.retry.take().map(|r| *r) else {
            return Ok(None);
        };
        self.dpop.nonces.remember(&req.url, response);
        if dpop::nonce_to_retry_with(response).is_none() {
            return Ok(None);
        }
        req.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(dpop::DPOP_HEADER));
        self.renew_client_assertion(now, &mut req)?;
        if let Some(signer) = self.dpop.signer.clone() {
            let nonce = self.dpop.nonces.nonce_for(&req.url);
            let proof = dpop::sign_proof(&*signer, "POST", &req.url, now, None, nonce)?;
            req.headers.push((dpop::DPOP_HEADER.to_owned(), proof));
            req.id = self.next_request_id();
            let id = req.id;
            self.requests.push_back(req);
            Ok(Some(id))
        } else if self.dpop.host_alg.is_some() {
            req.id = self.next_request_id();
            let id = req.id;
            // The retry's proof, signed by the host like the first; no further retry.
            self.hold(now, req, false);
            Ok(Some(id))
        } else {
            Ok(None)
        }
    }

    #[cfg(feature = "dpop")]
    /// A repeated token request carries a new client assertion: RFC 7523 §3 item 7 lets the
    /// server refuse a `jti` it has seen, so the first request's assertion would be refused as a
    /// replay (`invalid_client`).
    fn renew_client_assertion(&self, now: UnixTime, req: &mut HttpRequest) -> Result<(), Error> {
        const NAME: &str = "client_assertion=";
        let body = String::from_utf8_lossy(&req.body).into_owned();
        if !body.split('&').any(|pair| pair.starts_with(NAME)) {
            return Ok(());
        }
        let Some(assertion) = self.client_auth_parts(now)?.1 else {
            return Ok(());
        };
        let mut renewed = Vec::new();
        for pair in body.split('&') {
            if pair.starts_with(NAME) {
                let mut value = String::from(NAME);
                crate::encoding::form_encode_component(&assertion, &mut value);
                renewed.push(value);
            } else {
                renewed.push(pair.to_owned());
            }
        }
        req.body = renewed.join("&").into_bytes();
        Ok(())
    }

    /// The headers of a request to the MCP server at `url` with `method`: `Authorization` with
    /// the token held (`DPoP <token>` for a DPoP-bound token, never `Bearer` then; RFC 9449
    /// §7.1) and, for a DPoP-bound token, a fresh `DPoP` proof with `ath` and the resource
    /// server's latest nonce (§9). Empty when no fresh token is held. Call it for every request:
    /// each proof is good for one request.
    pub fn resource_request_headers(
        &self,
        now: UnixTime,
        method: &str,
        url: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let Some(authorization) = self.authorization_header(now, url)? else {
            return Ok(Vec::new());
        };
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut headers = vec![("Authorization".to_owned(), authorization)];
        #[cfg(feature = "dpop")]
        self.add_resource_proof(now, method, url, &mut headers)?;
        #[cfg(not(feature = "dpop"))]
        let _ = method;
        Ok(headers)
    }

    /// The proof of a resource request with a DPoP-bound token (`ath`, the server's nonce).
    #[cfg(feature = "dpop")]
    fn add_resource_proof(
        &self,
        now: UnixTime,
        method: &str,
        url: &str,
        headers: &mut Vec<(String, String)>,
    ) -> Result<(), Error> {
        let Some((_, tokens)) = self.tokens.as_ref().filter(|(_, t)| t.is_dpop_bound()) else {
            return Ok(());
        };
        let signer = self.dpop.signer.as_ref().ok_or(DpopError::SignerMissing)?;
        let token = tokens.access_token.secret();
        let nonce = self.dpop.nonces.nonce_for(url);
        let proof = dpop::sign_proof(&**signer, method, url, now, Some(token), nonce)?;
        headers.push((dpop::DPOP_HEADER.to_owned(), proof));
        Ok(())
    }

    /// Reads the DPoP parts of the MCP server's answer: its `DPoP-Nonce` (kept for the next
    /// proof) and a `DPoP` challenge (the resource wants DPoP-bound tokens). `Some(decision)`
    /// when the answer is a `use_dpop_nonce` refusal (§9) to retry with the new nonce; an error
    /// once the server keeps refusing fresh nonces.
    #[cfg(feature = "dpop")]
    pub(super) fn resource_dpop(
        &mut self,
        status: u16,
        www_authenticate: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<Option<()>, Error> {
        let url = self.token_resource().as_str().to_owned();
        let mut headers = Vec::new();
        if let Some(n) = nonce {
            headers.push((dpop::NONCE_HEADER.to_owned(), n.to_owned()));
        }
        if let Some(h) = www_authenticate {
            headers.push(("WWW-Authenticate".to_owned(), h.to_owned()));
        }
        let response = HttpResponse::new(status, headers, Vec::new());
        self.dpop.nonces.remember(&url, &response);
        if status != 401 && status != 403 {
            self.dpop.resource_nonce_refusals = 0;
            return Ok(None);
        }
        self.note_dpop_challenge(www_authenticate);
        if dpop::nonce_to_retry_with(&response).is_none() {
            return Ok(None);
        }
        self.dpop.resource_nonce_refusals += 1;
        if self.dpop.resource_nonce_refusals > MAX_RESOURCE_NONCE_RETRIES {
            self.dpop.resource_nonce_refusals = 0;
            let reason = "use_dpop_nonce: the server refused proofs with the nonce it sent \
                          (RFC 9449 §9)"
                .to_owned();
            return Err(self.report(FlowError::TokenRejectedByResource { reason }.into()));
        }
        Ok(Some(()))
    }
}

/// Without feature `dpop`: no proof is ever sent (module docs).
#[cfg(not(feature = "dpop"))]
impl AuthFlow {
    pub(super) fn note_dpop_challenge(&mut self, _www_authenticate: Option<&str>) {}

    pub(super) fn send_token_request(
        &mut self,
        _now: UnixTime,
        req: HttpRequest,
    ) -> Result<(), Error> {
        self.requests.push_back(req);
        Ok(())
    }

    pub(super) fn token_nonce_retry(
        &mut self,
        _now: UnixTime,
        _response: &HttpResponse,
    ) -> Result<Option<RequestId>, Error> {
        Ok(None)
    }

    pub(super) fn resource_dpop(
        &mut self,
        _status: u16,
        _www_authenticate: Option<&str>,
        _nonce: Option<&str>,
    ) -> Result<Option<()>, Error> {
        Ok(None)
    }
}

#[cfg(feature = "dpop")]
#[cfg(test)]
pub(crate) mod tests;
