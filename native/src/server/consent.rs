//! Consent bound to the user who asked for it (RFC 6749 §10.12, RFC 9700 §4.7.1).
//!
//! The `oauth_required` message's `url` is the server's own `/auth/start/{id}`: `id` is random,
//! single-use and expires with the consent, and the link is kept in the [`PendingStore`] so any
//! replica serves it. Opening it:
//! 1. takes the link (once); a caller identified as another user (session cookie, bearer) is
//!    refused with a 403 page; a caller with no identity is let through on the link alone (it
//!    went only to the requesting user, over their authenticated channel), unless
//!    `ServerConfig::require_identified_consent` is set;
//! 2. sets a cookie bound to the `state` (HMAC-SHA256 of the state under a key derived from the
//!    session secret, `HttpOnly; SameSite=Lax`, `Secure` and `__Host-` except on http loopback);
//! 3. redirects to the authorization server.
//!
//! The callback completes only in the browser that holds that cookie: any other browser (the
//! victim's for a forwarded link, the attacker's for a leaked `state`) gets a 403 page and the
//! pending authorization stays intact for its user; a stranger knowing a `state` cannot end it
//! as denied.
//!
//! [`PendingStore`]: crate::store::PendingStore

use std::time::Duration;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::identity::{constant_time_eq, cookie, Identity};
use super::MultiUserServer;
use crate::store::{ConsentLink, StoreError};

/// The path under which consent links are served.
pub const START_PATH: &str = "/auth/start";

/// The consent cookie's name prefix (`__Host-` added except on http loopback).
pub const CONSENT_COOKIE: &str = "mcp-oauth-consent";

/// Why `/auth/start/{id}` refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No such link: never issued, already opened, or expired.
    #[error("this consent link is unknown, already used or expired; send the request again from the application to get a new one")]
    UnknownLink,
    /// The caller is identified as another user than the one who asked for the consent.
    #[error("this consent link belongs to another user; it was not started (open only links the application gave you)")]
    OtherUser,
    /// The caller is not identified, and the server requires it
    /// ([`ServerConfig::require_identified_consent`](super::ServerConfig)).
    #[error("sign in to the application in this browser first, then open the consent link from the application again")]
    Unidentified,
    /// The store failed.
    #[error("the authorization store is unavailable: {0}")]
    Store(StoreError),
}

impl StartError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StartError::UnknownLink => "consent_link_unknown",
            StartError::OtherUser => "consent_link_other_user",
            StartError::Unidentified => "consent_link_unidentified",
            StartError::Store(_) => "store_unavailable",
        }
    }
}

/// The consent cookie of `state`: its name (one per state, so consents for two MCP servers do
/// not overwrite each other) for a loopback or a secure deployment.
pub(crate) fn cookie_name(state: &str, loopback: bool) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if loopback {
        format!("{CONSENT_COOKIE}-{tag}")
    } else {
        format!("__Host-{CONSENT_COOKIE}-{tag}")
    }
}

/// The `Set-Cookie` value binding this browser to `state` for `ttl`.
pub(crate) fn set_cookie(identity: &Identity, state: &str, ttl: Duration) -> String {
    let secure = if identity.loopback { "" } else { "; Secure" };
    format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(state, identity.loopback),
        identity.consent_binding(state),
        ttl.as_secs().max(1)
    )
}

/// True when the request carries the consent cookie of `state` (compared in constant time).
pub(crate) fn bound(identity: &Identity, headers: &HeaderMap, state: &str) -> bool {
    let Some(value) = cookie(headers, &cookie_name(state, identity.loopback)) else {
        return false;
    };
    constant_time_eq(value.as_bytes(), identity.consent_binding(state).as_bytes())
}

impl MultiUserServer {
    /// A new consent link for `state` of `user` leading to `authorization_url`, valid `ttl`:
    /// the URL to hand to that user.
    pub(crate) async fn consent_link(
        &self,
        state: &str,
        user: &str,
        authorization_url: &str,
        ttl: Duration,
    ) -> Result<String, crate::Error> {
        let id = super::random_id()?;
        let link = ConsentLink {
            state: state.to_owned(),
            user: user.to_owned(),
            authorization_url: authorization_url.to_owned(),
        };
        self.config().pending.put_link(&id, &link, ttl).await?;
        Ok(format!("{}{START_PATH}/{id}", self.inner.origin))
    }

    /// Opens consent link `id` for the caller of `headers`: `Ok((authorization URL,
    /// Set-Cookie))` when the caller may start it.
    pub async fn open_consent_link(
        &self,
        id: &str,
        headers: &HeaderMap,
    ) -> Result<(String, String), StartError> {
        let link = self
            .config()
            .pending
            .take_link(id)
            .await
            .map_err(StartError::Store)?
            .ok_or(StartError::UnknownLink)?;
        // RFC 9700 §4.7.1: only the user who asked may start this authorization.
        match self.identity().identify(headers, None).await {
            Ok(user) if user != link.user => return Err(StartError::OtherUser),
            Ok(_) => {}
            Err(_) if self.config().require_identified_consent => {
                return Err(StartError::Unidentified)
            }
            // A session or token that does not verify names nobody: the link alone decides.
            Err(_) => {}
        }
        let ttl = self.config().consent_timeout;
        Ok((link.authorization_url, set_cookie(self.identity(), &link.state, ttl)))
    }
}
