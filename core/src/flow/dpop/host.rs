//! DPoP proofs signed asynchronously by the host (RFC 9449 with a WebCrypto key, whose `sign`
//! returns a promise): the host gives the flow the algorithm it signs with
//! ([`AuthFlow::use_host_dpop_signing`]) and, once it made or loaded the key, the public key
//! ([`AuthFlow::set_dpop_key`]). A token request that needs a proof is then held: the flow asks
//! for the key when it has none ([`AuthFlow::dpop_key_wanted`]), for the signature of the proof's
//! signing input ([`AuthFlow::poll_proof`]), and queues the request once the signature arrived
//! ([`AuthFlow::provide_proof_signature`]); the `use_dpop_nonce` retry (§8) goes the same way.
//!
//! Requests to the MCP server are the host's to send: [`AuthFlow::resource_proof_signing_input`]
//! builds the proof's signing input with `ath` and the resource server's latest nonce (§7.1,
//! §9), the host signs it and [`dpop::assemble`] makes the proof.

use super::AuthFlow;
use crate::dpop::{self, DpopError, DpopKey, ProofParams, ProofRequest};
use crate::error::{Error, FlowError};
use crate::http::HttpRequest;
use crate::time::UnixTime;

/// A token request waiting for the host's signature of its proof.
#[derive(Clone, Debug)]
pub(in crate::flow) struct Held {
    /// The proof's id in [`ProofRequest::id`].
    id: u64,
    req: HttpRequest,
    /// When the request was made (the proof's `iat`).
    now: UnixTime,
    /// The token endpoint's nonce when the request was made (§8).
    nonce: Option<String>,
    /// The signing input, once the host was asked to sign it.
    input: Option<String>,
    /// The first attempt: a `use_dpop_nonce` answer to it is retried once.
    first: bool,
}

impl AuthFlow {
    /// The host signs DPoP proofs asynchronously with a key of algorithm `alg` (`ES256` for a
    /// WebCrypto ECDSA P-256 key), made when the flow first needs it
    /// ([`AuthFlow::dpop_key_wanted`]). Without a synchronous signer
    /// ([`AuthFlow::set_dpop_signer`]) or this, [`crate::dpop::DpopMode::Auto`] uses Bearer
    /// tokens.
    pub fn use_host_dpop_signing(&mut self, alg: &str) {
        self.dpop.host_alg = Some(alg_name(alg));
    }

    /// The public half of the host's asynchronous key (also enables
    /// [`AuthFlow::use_host_dpop_signing`] with its algorithm). Returns its RFC 7638 thumbprint
    /// (`jkt`): the host stores the private key under it.
    pub fn set_dpop_key(&mut self, key: DpopKey) -> String {
        let thumbprint = key.jwk.thumbprint();
        self.dpop.host_alg = Some(alg_name(&key.alg));
        self.dpop.host_key = Some(Box::new(key));
        thumbprint
    }

    /// True when a proof waits for a key the host has not given yet: make or load it, then
    /// [`AuthFlow::set_dpop_key`].
    #[must_use]
    pub fn dpop_key_wanted(&self) -> bool {
        self.dpop.held.is_some() && self.dpop.host_key.is_none()
    }

    /// Holds the token request `req` until the host signed its proof.
    pub(super) fn hold(&mut self, now: UnixTime, req: HttpRequest, first: bool) {
        let nonce = self.dpop.nonces.nonce_for(&req.url).map(str::to_owned);
        self.dpop.next_proof += 1;
        let id = self.dpop.next_proof;
        self.dpop.held = Some(Box::new(Held { id, req, now, nonce, input: None, first }));
    }

    /// The next proof the host must sign, with 16 random bytes from the host for its `jti`
    /// (RFC 9449 §4.2); `None` when there is none, or when the key is still wanted. Sign
    /// `signing_input` and answer with [`AuthFlow::provide_proof_signature`] or
    /// [`AuthFlow::handle_proof_signing_error`].
    #[must_use]
    pub fn poll_proof(&mut self, jti_random: &[u8; 16]) -> Option<ProofRequest> {
        let key = self.dpop.host_key.as_ref()?;
        let held = self.dpop.held.as_ref().filter(|h| h.input.is_none())?;
        let params = ProofParams {
            method: "POST",
            url: &held.req.url,
            now: held.now,
            jti_random,
            access_token: None,
            nonce: held.nonce.as_deref(),
        };
        match dpop::proof_signing_input(key, &params) {
            Ok(input) => {
                let held = self.dpop.held.as_mut()?;
                held.input = Some(input.clone());
                Some(ProofRequest { id: held.id, signing_input: input })
            }
            Err(e) => {
                self.dpop.held = None;
                let _ = self.fail(e);
                None
            }
        }
    }

    /// The host's signature of proof `id` (for ES256 the 64-byte `R || S`, RFC 7518 §3.4, which
    /// WebCrypto's ECDSA `sign` returns): the token request goes out with it.
    pub fn provide_proof_signature(&mut self, id: u64, signature: &[u8]) -> Result<(), Error> {
        let Some(input) = self.held_input(id) else {
            return Err(self.report(FlowError::UnknownRequest(id).into()));
        };
        let Some(held) = self.dpop.held.take() else {
            return Err(self.report(FlowError::UnknownRequest(id).into()));
        };
        let mut req = held.req;
        req.headers.push((dpop::DPOP_HEADER.to_owned(), dpop::assemble(&input, signature)));
        self.dpop.proof_sent = true;
        self.dpop.retry = held.first.then(|| Box::new(req.clone()));
        self.requests.push_back(req);
        Ok(())
    }

    /// Proof `id` could not be signed: the token request it was for fails with the host's
    /// reason (the tokens held are kept).
    pub fn handle_proof_signing_error(&mut self, id: u64, message: &str) -> Result<(), Error> {
        if self.held_input(id).is_none() {
            return Err(self.report(FlowError::UnknownRequest(id).into()));
        }
        self.dpop.held = None;
        self.fail(DpopError::SigningFailed(message.to_owned()))
    }

    /// The signing input of held proof `id`, once the host was asked for it.
    fn held_input(&self, id: u64) -> Option<String> {
        self.dpop.held.as_ref().filter(|h| h.id == id).and_then(|h| h.input.clone())
    }

    /// For a request to the MCP server at `url` with `method` and the DPoP-bound token held:
    /// the signing input of its proof, with `ath` and the resource server's latest nonce
    /// (RFC 9449 §7.1, §9), and `jti` from the host's 16 random bytes. The host signs it, sends
    /// [`dpop::assemble`]'s proof in the `DPoP` header and [`AuthFlow::authorization_header`]
    /// (`DPoP <token>`). `None` when no fresh token is held or it is a Bearer token; refuses a URL
    /// outside the token's resource, and a bound token without the host's key.
    pub fn resource_proof_signing_input(
        &self,
        now: UnixTime,
        method: &str,
        url: &str,
        jti_random: &[u8; 16],
    ) -> Result<Option<String>, Error> {
        if self.authorization_header(now, url)?.is_none() {
            return Ok(None);
        }
        let Some((_, tokens)) = self.tokens.as_ref().filter(|(_, t)| t.is_dpop_bound()) else {
            return Ok(None);
        };
        let key = self.dpop.host_key.as_ref().ok_or(DpopError::SignerMissing)?;
        let params = ProofParams {
            method,
            url,
            now,
            jti_random,
            access_token: Some(tokens.access_token.secret()),
            nonce: self.dpop.nonces.nonce_for(url),
        };
        Ok(Some(dpop::proof_signing_input(key, &params)?))
    }
}

#[cfg(test)]
mod tests;

/// The name of a JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1), without an allocation for the
/// usual ones: every flow of a multi-user server holds it (memory per idle session).
fn alg_name(alg: &str) -> std::borrow::Cow<'static, str> {
    const NAMES: [&str; 10] =
        ["ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    match NAMES.iter().find(|n| **n == alg) {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => std::borrow::Cow::Owned(alg.to_owned()),
    }
}
