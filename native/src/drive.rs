//! The one drain loop of this host (the core's drain contract, core/src/machine.rs): it sends
//! what a [`Machine`] asks to send, signs what it asks to sign, and hands back its events. The
//! OAuth client ([`crate::OAuthClient`]) and the headless client ([`crate::HeadlessClient`])
//! both drive their flows with it and only act on the events.

use std::sync::Arc;

use mcp_oauth_core::dpop::DpopSigner;
use mcp_oauth_core::error::FlowError;
use mcp_oauth_core::headless::SigningRequest;
use mcp_oauth_core::http::Purpose;
use mcp_oauth_core::{FlowEvent, Machine};

use crate::cache::MetadataCache;
use crate::dpop::RingDpopSigner;
use crate::http::HttpClient;
use crate::Error;

/// The DPoP key of a flow that has none yet, made when a proof first needs it
/// ([`Machine::dpop_key_wanted`]): a session that never meets a DPoP server holds no key.
#[derive(Default)]
pub(crate) struct OnDemandKey {
    /// The key, once made.
    pub made: Option<Arc<RingDpopSigner>>,
}

impl OnDemandKey {
    /// Makes the key made here the flow's own: stored with the tokens, and signing every later
    /// proof synchronously.
    pub fn keep_in(self, flow: &mut mcp_oauth_core::AuthFlow) {
        if let Some(signer) = self.made {
            flow.set_dpop_key_material(Some(signer.material().clone()));
            flow.set_dpop_signer(signer);
        }
    }

    /// One step of the proof channel: makes the key when the machine waits for it, or signs
    /// the next proof. `None` when there is nothing to do.
    fn step<M: Machine>(&mut self, machine: &mut M) -> Option<Result<(), Error>> {
        if machine.dpop_key_wanted() {
            let signer = match RingDpopSigner::generate() {
                Ok(s) => Arc::new(s),
                Err(e) => return Some(Err(e)),
            };
            machine.provide_dpop_key(signer.key().clone());
            self.made = Some(signer);
            return Some(Ok(()));
        }
        let signer = self.made.as_ref()?;
        let proof = machine.poll_proof(&signer.jti_random())?;
        let answer = match signer.sign(proof.signing_input.as_bytes()) {
            Ok(signature) => machine.provide_proof_signature(proof.id, &signature),
            Err(e) => machine.handle_proof_signing_error(proof.id, &e),
        };
        Some(answer.map_err(Error::Protocol))
    }
}

/// What one drain produced.
pub(crate) struct Drained {
    /// The events, in order.
    pub events: Vec<FlowEvent>,
    /// The first failure (a refusal by the egress policy first: it explains the others).
    pub error: Option<Error>,
    /// Each refresh request sent (RFC 6749 §6): `Ok` when a 2xx answer was accepted, else the
    /// failure's code (for the logs, [`crate::log`]).
    pub refreshes: Vec<Result<(), &'static str>>,
}

/// Drains `machine` (requests, signatures and proofs until all are empty, then events). `sign`
/// makes the JWS of a [`SigningRequest`] (machines with a synchronous signer ask for none);
/// `key` makes and uses the DPoP key of a flow that has none yet (`None`: the flow has a
/// synchronous [`DpopSigner`] or uses no DPoP). Discovery requests go through `cache`'s
/// single flight ([`MetadataCache::fetch_once`]), and a discovery result goes into `cache` under
/// `server_url` as soon as the machine reports it (`FlowEvent::MetadataDiscovered`), before the
/// registration and authorization that follow, so that users arriving meanwhile take it.
pub(crate) async fn drain<M: Machine>(
    machine: &mut M,
    http: &HttpClient,
    (cache, server_url): (&MetadataCache, &str),
    sign: &(dyn Fn(&SigningRequest) -> Result<String, String> + Sync),
    mut key: Option<&mut OnDemandKey>,
    clock: &crate::Clock,
) -> Drained {
    let mut error: Option<Error> = None;
    let mut denied = None;
    let mut refreshes = Vec::new();
    let mut events = Vec::new();
    let mut take_events = |machine: &mut M| {
        while let Some(event) = machine.poll_event() {
            if let FlowEvent::MetadataDiscovered(d) = &event {
                cache.put(server_url, d.clone(), clock.now());
            }
            events.push(event);
        }
    };
    loop {
        let mut refresh_status = None;
        let result = if let Some(req) = machine.poll_request() {
            let sent = if req.purpose.is_discovery() {
                cache.fetch_once(&crate::cache::flight_key(&req), || http.send(&req)).await
            } else {
                http.send(&req).await
            };
            let refresh = req.purpose == Purpose::TokenRefresh;
            match sent {
                Ok(resp) => {
                    if refresh {
                        refresh_status = Some(resp.status);
                    }
                    machine.handle_response(clock.now(), req.id, resp)
                }
                Err(t) => {
                    if refresh {
                        refresh_status = Some(0);
                    }
                    denied = denied.or(t.egress);
                    machine.handle_transport_error(clock.now(), req.id, &t.message)
                }
            }
        } else if let Some(sig) = machine.poll_signature() {
            match sign(&sig) {
                Ok(jwt) => machine.provide_assertion(clock.now(), sig.id, &jwt),
                Err(e) => machine.handle_signing_error(sig.id, &e),
            }
        } else if let Some(step) = key.as_deref_mut().and_then(|k| k.step(machine)) {
            match step {
                Ok(()) => Ok(()),
                // No key could be made: the proof waiting for it is never signed.
                Err(e) => {
                    error.get_or_insert(e);
                    break;
                }
            }
        } else {
            break;
        };
        if let Some(status) = refresh_status {
            refreshes.push(match &result {
                Ok(()) if (200..300).contains(&status) => Ok(()),
                Ok(()) if status == 0 => Err("transport_failed"),
                Ok(()) => Err("token_rejected"),
                Err(e) => Err(e.code()),
            });
        }
        if let Err(e) = result {
            error.get_or_insert(match e {
                mcp_oauth_core::Error::Flow(FlowError::Transport { url, message, .. }) => {
                    Error::transport(url, message)
                }
                other => Error::Protocol(other),
            });
        }
        take_events(machine);
    }
    take_events(machine);
    Drained { events, error: denied.map(Error::Egress).or(error), refreshes }
}

/// For machines that ask for no signature.
pub(crate) fn no_signer(_: &SigningRequest) -> Result<String, String> {
    Err("this flow signs through its ClientAssertionSigner".to_owned())
}
