//! Operations logs: the [`tracing`] events this crate emits, for hosts that install a subscriber
//! (`mcp-oauth serve` does, with `RUST_LOG` and `--log-format text|json`).
//!
//! Every event names the user and the MCP server (its configured name in the multi-user server,
//! else its URL as `resource`) and, where known, the authorization server's `issuer`. No event
//! carries a secret: no token, authorization code, PKCE verifier, client secret, store key, DPoP
//! key, cookie, consent-link id or `state` value. A consent is named by [`consent_ref`], a
//! one-way digest of its `state`, so that its start and its end can be matched.
//!
//! An `OAuthClient`'s operations (`authorize`, `start_authorization`, `complete_authorization`,
//! `logout`) each run in an info span `oauth` with fields `operation`, `user` and `resource`.
//!
//! | message | level | fields |
//! |---|---|---|
//! | `consent started` | info | user, server, issuer, consent, expires_in |
//! | `consent completed` | info | user, server, consent |
//! | `consent denied` | info | user, server, consent, code |
//! | `consent cancelled` | info | user, server, consent, code (`oauth_cancelled`) |
//! | `consent failed` | warn | user, server, consent, code |
//! | `consent timed out` | info | user, server, consent, timeout_secs |
//! | `callback refused` | info | reason |
//! | `client registered` | info | user, resource, issuer, client_id |
//! | `authorization started` | info | user, resource, issuer (the URL is not logged: it carries `state`) |
//! | `authorized` | info | user, resource, issuer |
//! | `tokens stored` | debug | user, resource, issuer |
//! | `tokens cleared` | info | user, resource, issuer |
//! | `authorization server changed` | warn | user, resource, from, to |
//! | `notice` | info | user, resource, message |
//! | `token not revocable` | info | user, resource, issuer |
//! | `token refreshed` | info | user, resource, issuer |
//! | `token refresh failed` | warn | user, resource, issuer, code |
//! | `store error` | warn | user, server (when known), operation, error |
//! | `mcp session opened` / `mcp session closed` | info | user, server |
//! | `request done` | debug | user, server |
//! | `request failed` | info (warn for `internal`/`store_unavailable`) | user, server, code |
//! | `listening`, `stopping`, `stopped` | info | (the server's addresses, storage) |

use sha2::{Digest, Sha256};

/// The target of every event of this crate (filter with `RUST_LOG=mcp_oauth=debug`).
pub const TARGET: &str = "mcp_oauth";

/// A short, one-way name for the consent with this `state`: the first 6 bytes of
/// SHA-256("mcp-oauth consent" ‖ 0 ‖ state), hex. The `state` has at least 256 bits of entropy
/// (core/src/authorize.rs), so the digest reveals nothing usable about it.
pub fn consent_ref(state: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"mcp-oauth consent\0");
    h.update(state.as_bytes());
    h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The outcome of each refresh request a drain sent (native/src/drive.rs): `Ok`, or the
/// failure's code.
pub(crate) fn refreshes(user: &str, resource: &str, issuer: &str, outcomes: &[Result<(), &str>]) {
    for outcome in outcomes {
        match outcome {
            Ok(()) => tracing::info!(target: TARGET, user, resource, issuer, "token refreshed"),
            Err(code) => {
                tracing::warn!(target: TARGET, user, resource, issuer, code, "token refresh failed")
            }
        }
    }
}

/// What a client's flow reported (`OAuthClient`, native/src/client.rs), as events of the table.
pub(crate) fn flow_event(
    user: &str,
    resource: &str,
    issuer: &str,
    event: &mcp_oauth_core::FlowEvent,
) {
    use mcp_oauth_core::FlowEvent as E;
    match event {
        E::ClientRegistered(reg) => {
            let client_id = reg.client_id.as_str();
            tracing::info!(target: TARGET, user, resource, issuer, client_id, "client registered")
        }
        E::OpenBrowser { .. } => {
            tracing::info!(target: TARGET, user, resource, issuer, "authorization started")
        }
        E::Authorized => tracing::info!(target: TARGET, user, resource, issuer, "authorized"),
        E::TokensUpdated { issuer, .. } => {
            tracing::debug!(target: TARGET, user, resource, issuer, "tokens stored")
        }
        E::TokensCleared => {
            tracing::info!(target: TARGET, user, resource, issuer, "tokens cleared")
        }
        E::AuthorizationServerChanged { from, to } => {
            tracing::warn!(target: TARGET, user, resource, from, to, "authorization server changed")
        }
        E::Notice { message } => tracing::info!(target: TARGET, user, resource, message, "notice"),
        E::TokenNotRevocable { .. } => {
            tracing::info!(target: TARGET, user, resource, issuer, "token not revocable")
        }
        _ => {}
    }
}

/// The multi-user server's events (native/src/server/), one function per event of the table.
#[cfg(feature = "server")]
pub(crate) mod server {
    use tracing::{debug, info, warn};

    use super::{consent_ref, TARGET};
    use crate::store::ConsentOutcome;

    pub(crate) fn consent_started(user: &str, server: &str, issuer: &str, state: &str, ttl: u64) {
        let consent = consent_ref(state);
        info!(target: TARGET, user, server, issuer, consent, expires_in = ttl, "consent started");
    }

    /// A callback finished the consent of `state` with `outcome`.
    pub(crate) fn consent_ended(user: &str, server: &str, state: &str, outcome: &ConsentOutcome) {
        let consent = consent_ref(state);
        match outcome {
            ConsentOutcome::Authorized => {
                info!(target: TARGET, user, server, consent, "consent completed")
            }
            ConsentOutcome::Failed { code, .. } if code == "access_denied" => {
                info!(target: TARGET, user, server, consent, code, "consent denied")
            }
            ConsentOutcome::Failed { code, .. } if code == "oauth_cancelled" => {
                info!(target: TARGET, user, server, consent, code, "consent cancelled")
            }
            ConsentOutcome::Failed { code, .. } => {
                warn!(target: TARGET, user, server, consent, code, "consent failed")
            }
        }
    }

    pub(crate) fn consent_timed_out(user: &str, server: &str, state: &str, timeout_secs: u64) {
        let consent = consent_ref(state);
        info!(target: TARGET, user, server, consent, timeout_secs, "consent timed out");
    }

    /// A callback or consent link that changed nothing (`reason`: its stable code).
    pub(crate) fn callback_refused(reason: &str) {
        info!(target: TARGET, reason, "callback refused");
    }

    pub(crate) fn store_error(
        user: &str,
        server: &str,
        operation: &str,
        error: &dyn std::fmt::Display,
    ) {
        let error = error.to_string();
        warn!(target: TARGET, user, server, operation, error, "store error");
    }

    /// A store error before the user is known (a callback's `state` lookup).
    pub(crate) fn store_error_unattributed(operation: &str, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        warn!(target: TARGET, operation, error, "store error");
    }

    /// A request ended with a result.
    pub(crate) fn request_done(user: &str, server: &str) {
        debug!(target: TARGET, user, server, "request done");
    }

    /// A request ended with the error reply `code`.
    pub(crate) fn request_failed(user: &str, server: &str, code: &str) {
        if code == "internal" || code == "store_unavailable" {
            warn!(target: TARGET, user, server, code, "request failed");
        } else {
            info!(target: TARGET, user, server, code, "request failed");
        }
    }

    pub(crate) fn mcp_session(user: &str, server: &str, opened: bool) {
        if opened {
            info!(target: TARGET, user, server, "mcp session opened");
        } else {
            info!(target: TARGET, user, server, "mcp session closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::consent_ref;

    #[test]
    fn a_consent_ref_is_short_stable_and_not_the_state() {
        let state = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let r = consent_ref(state);
        assert_eq!(r.len(), 12);
        assert_eq!(r, consent_ref(state));
        assert_ne!(r, consent_ref("another state"));
        assert!(!state.contains(&r) && !r.contains(&state[..6]));
    }
}
