//! The one drain loop of this host (the core's drain contract, core/src/machine.rs): it sends
//! what a [`Machine`] asks to send, signs what it asks to sign, and hands back its events. The
//! OAuth client ([`crate::OAuthClient`]) and the headless client ([`crate::HeadlessClient`])
//! both drive their flows with it and only act on the events.

use mcp_oauth_core::error::FlowError;
use mcp_oauth_core::headless::SigningRequest;
use mcp_oauth_core::http::Purpose;
use mcp_oauth_core::{FlowEvent, Machine};

use crate::cache::MetadataCache;
use crate::http::HttpClient;
use crate::{now, Error};

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

/// Drains `machine` (requests and signatures until both are empty, then events). `sign` makes
/// the JWS of a [`SigningRequest`] (machines with a synchronous signer ask for none).
/// Discovery requests go through `cache`'s single flight ([`MetadataCache::fetch_once`]).
pub(crate) async fn drain<M: Machine>(
    machine: &mut M,
    http: &HttpClient,
    cache: &MetadataCache,
    sign: &(dyn Fn(&SigningRequest) -> Result<String, String> + Sync),
) -> Drained {
    let mut error: Option<Error> = None;
    let mut denied = None;
    let mut refreshes = Vec::new();
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
                    machine.handle_response(now(), req.id, resp)
                }
                Err(t) => {
                    if refresh {
                        refresh_status = Some(0);
                    }
                    denied = denied.or(t.egress);
                    machine.handle_transport_error(now(), req.id, &t.message)
                }
            }
        } else if let Some(sig) = machine.poll_signature() {
            match sign(&sig) {
                Ok(jwt) => machine.provide_assertion(now(), sig.id, &jwt),
                Err(e) => machine.handle_signing_error(sig.id, &e),
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
                    Error::Transport { url, message }
                }
                other => Error::Protocol(other),
            });
        }
    }
    let mut events = Vec::new();
    while let Some(event) = machine.poll_event() {
        events.push(event);
    }
    Drained { events, error: denied.map(Error::Egress).or(error), refreshes }
}

/// For machines that ask for no signature.
pub(crate) fn no_signer(_: &SigningRequest) -> Result<String, String> {
    Err("this flow signs through its ClientAssertionSigner".to_owned())
}
