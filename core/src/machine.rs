//! The drain contract every sans-IO machine of the core shares ([`crate::AuthFlow`],
//! [`crate::headless::HeadlessFlow`]), as a trait: a host writes one drain loop over
//! [`Machine`] and drives every flow with it (native/src/drive.rs does).
//!
//! After every input to a machine:
//! 1. send each [`Machine::poll_request`] (never following redirects) and answer it with
//!    [`Machine::handle_response`] or [`Machine::handle_transport_error`]; sign each
//!    [`Machine::poll_signature`] and answer with [`Machine::provide_assertion`] or
//!    [`Machine::handle_signing_error`]; sign each DPoP proof of [`Machine::poll_proof`] and
//!    answer with [`Machine::provide_proof_signature`] or
//!    [`Machine::handle_proof_signing_error`], after making the key when
//!    [`Machine::dpop_key_wanted`] says a proof waits for it; until all are empty;
//! 2. drain [`Machine::poll_event`] (persist, open the browser, log);
//! 3. read the machine's `poll_timeout` and call its `handle_timeout` once it has passed.

use crate::dpop::{DpopKey, ProofRequest};
use crate::error::{Error, FlowError};
use crate::headless::SigningRequest;
use crate::http::{HttpRequest, HttpResponse, RequestId};
use crate::time::UnixTime;
use crate::FlowEvent;

/// A sans-IO flow as its host loop sees it.
pub trait Machine {
    /// The next request to send.
    fn poll_request(&mut self) -> Option<HttpRequest>;
    /// Answers request `id`.
    fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: HttpResponse,
    ) -> Result<(), Error>;
    /// Request `id` could not be sent or answered.
    fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error>;
    /// The next JWT the host must sign (asynchronous signers: WebCrypto). Machines that sign
    /// through a synchronous [`crate::token::ClientAssertionSigner`] ask for none.
    fn poll_signature(&mut self) -> Option<SigningRequest> {
        None
    }
    /// The signed JWT for signature `id`.
    fn provide_assertion(&mut self, _now: UnixTime, id: u64, _jwt: &str) -> Result<(), Error> {
        Err(FlowError::UnknownRequest(id).into())
    }
    /// Signature `id` could not be made.
    fn handle_signing_error(&mut self, id: u64, _message: &str) -> Result<(), Error> {
        Err(FlowError::UnknownRequest(id).into())
    }
    /// The next DPoP proof the host must sign (asynchronous signers: WebCrypto), its `jti` made
    /// from the host's 16 random bytes. Machines that sign through a synchronous
    /// [`crate::dpop::DpopSigner`] ask for none.
    fn poll_proof(&mut self, _jti_random: &[u8; 16]) -> Option<ProofRequest> {
        None
    }
    /// The signature of proof `id`'s signing input.
    fn provide_proof_signature(&mut self, id: u64, _signature: &[u8]) -> Result<(), Error> {
        Err(FlowError::UnknownRequest(id).into())
    }
    /// Proof `id` could not be signed.
    fn handle_proof_signing_error(&mut self, id: u64, _message: &str) -> Result<(), Error> {
        Err(FlowError::UnknownRequest(id).into())
    }
    /// True when a DPoP proof waits for a key the host makes when first needed (RFC 9449 §4:
    /// one key per client instance, here per user and server); give its public half to
    /// [`Machine::provide_dpop_key`].
    fn dpop_key_wanted(&self) -> bool {
        false
    }
    /// The public half of the key the host made on demand (after [`Machine::dpop_key_wanted`]).
    fn provide_dpop_key(&mut self, _key: DpopKey) {}
    /// The next event.
    fn poll_event(&mut self) -> Option<FlowEvent>;
}

impl Machine for crate::AuthFlow {
    fn poll_request(&mut self) -> Option<HttpRequest> {
        crate::AuthFlow::poll_request(self)
    }
    fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: HttpResponse,
    ) -> Result<(), Error> {
        crate::AuthFlow::handle_response(self, now, id, response)
    }
    fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error> {
        crate::AuthFlow::handle_transport_error(self, now, id, message)
    }
    #[cfg(feature = "dpop")]
    fn poll_proof(&mut self, jti_random: &[u8; 16]) -> Option<ProofRequest> {
        crate::AuthFlow::poll_proof(self, jti_random)
    }
    #[cfg(feature = "dpop")]
    fn provide_proof_signature(&mut self, id: u64, signature: &[u8]) -> Result<(), Error> {
        crate::AuthFlow::provide_proof_signature(self, id, signature)
    }
    #[cfg(feature = "dpop")]
    fn handle_proof_signing_error(&mut self, id: u64, message: &str) -> Result<(), Error> {
        crate::AuthFlow::handle_proof_signing_error(self, id, message)
    }
    #[cfg(feature = "dpop")]
    fn dpop_key_wanted(&self) -> bool {
        crate::AuthFlow::dpop_key_wanted(self)
    }
    #[cfg(feature = "dpop")]
    fn provide_dpop_key(&mut self, key: DpopKey) {
        crate::AuthFlow::set_dpop_key(self, key);
    }
    fn poll_event(&mut self) -> Option<FlowEvent> {
        crate::AuthFlow::poll_event(self)
    }
}

impl Machine for crate::headless::HeadlessFlow {
    fn poll_request(&mut self) -> Option<HttpRequest> {
        crate::headless::HeadlessFlow::poll_request(self)
    }
    fn handle_response(
        &mut self,
        now: UnixTime,
        id: RequestId,
        response: HttpResponse,
    ) -> Result<(), Error> {
        crate::headless::HeadlessFlow::handle_response(self, now, id, response)
    }
    fn handle_transport_error(
        &mut self,
        now: UnixTime,
        id: RequestId,
        message: &str,
    ) -> Result<(), Error> {
        crate::headless::HeadlessFlow::handle_transport_error(self, now, id, message)
    }
    fn poll_signature(&mut self) -> Option<SigningRequest> {
        crate::headless::HeadlessFlow::poll_signature(self)
    }
    fn provide_assertion(&mut self, now: UnixTime, id: u64, jwt: &str) -> Result<(), Error> {
        crate::headless::HeadlessFlow::provide_assertion(self, now, id, jwt)
    }
    fn handle_signing_error(&mut self, id: u64, message: &str) -> Result<(), Error> {
        crate::headless::HeadlessFlow::handle_signing_error(self, id, message)
    }
    fn poll_event(&mut self) -> Option<FlowEvent> {
        crate::headless::HeadlessFlow::poll_event(self)
    }
}
