//! Pending authorizations of a multi-user server, kept by `state` until their callback arrives,
//! and the outcome of each callback (so that the replica waiting for it learns how it ended).
//!
//! The record holds the PKCE verifier: stores keep it like tokens (encrypted in Redis). Keys are
//! the SHA-256 of `state`, never `state` itself.
//!
//! A [`ConsentLink`] is the one-time link (`/auth/start/{id}`) a user gets to start a consent:
//! kept by the SHA-256 of its id, taken once (RFC 6749 §10.12: the callback must be tied to the
//! user agent that started the authorization, so the browser starts on the server's own origin).

use std::time::Duration;

use mcp_oauth_core::authorize::PendingAuthorization;
use sha2::{Digest, Sha256};

#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
use super::StoreError;
use super::{RequestRecord, StoreFuture};

/// An authorization waiting for its callback: whose it is and what finishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRecord {
    /// The user who must consent.
    pub user: String,
    /// The MCP server's name in the server configuration.
    pub server: String,
    /// The core's pending authorization (state, PKCE verifier, issuer, redirect URI ...).
    pub pending: PendingAuthorization,
}

impl PendingRecord {
    /// The JSON text of the record.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "user": self.user,
            "server": self.server,
            "pending": self.pending.to_json().to_text(),
        })
        .to_string()
    }

    /// Reads [`PendingRecord::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<PendingRecord, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("pending record: {e}"))?;
        let s = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("pending record.{name}: missing"))
        };
        let pending = PendingAuthorization::from_json(&s("pending")?).map_err(|e| e.to_string())?;
        Ok(PendingRecord { user: s("user")?, server: s("server")?, pending })
    }

    /// The store key of a `state` value.
    pub fn state_key(state: &str) -> String {
        let digest = Sha256::digest(state.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The one-time link that starts a consent: whose it is and where it leads.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentLink {
    /// The pending authorization's `state` (a secret: never logged).
    pub state: String,
    /// The user who asked for the consent; only they may open the link.
    pub user: String,
    /// The authorization server URL the link redirects to.
    pub authorization_url: String,
}

impl std::fmt::Debug for ConsentLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentLink").field("user", &self.user).finish_non_exhaustive()
    }
}

impl ConsentLink {
    /// The JSON text of the link.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "state": self.state,
            "user": self.user,
            "authorization_url": self.authorization_url,
        })
        .to_string()
    }

    /// Reads [`ConsentLink::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<ConsentLink, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("consent link: {e}"))?;
        let s = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("consent link.{name}: missing"))
        };
        Ok(ConsentLink {
            state: s("state")?,
            user: s("user")?,
            authorization_url: s("authorization_url")?,
        })
    }
}

/// How a consent ended, as the callback's replica records it for the waiting one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentOutcome {
    /// Tokens were obtained and stored.
    Authorized,
    /// The user denied, or the callback or code exchange failed.
    Failed {
        /// The stable error code (`access_denied`, `state_mismatch` ...).
        code: String,
        /// What happened, for the user.
        message: String,
    },
}

impl ConsentOutcome {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        match self {
            ConsentOutcome::Authorized => serde_json::json!({ "outcome": "authorized" }),
            ConsentOutcome::Failed { code, message } => {
                serde_json::json!({ "outcome": "failed", "code": code, "message": message })
            }
        }
        .to_string()
    }

    /// Reads [`ConsentOutcome::to_json`]'s text.
    pub fn from_json(text: &str) -> Result<ConsentOutcome, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("consent outcome: {e}"))?;
        let field = |n: &str| v.get(n).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
        match v.get("outcome").and_then(|x| x.as_str()) {
            Some("authorized") => Ok(ConsentOutcome::Authorized),
            Some("failed") => {
                Ok(ConsentOutcome::Failed { code: field("code"), message: field("message") })
            }
            other => Err(format!("consent outcome: unknown outcome {other:?}")),
        }
    }
}

/// Where a server keeps [`PendingRecord`]s by `state`, and consent outcomes.
pub trait PendingStore: Send + Sync {
    /// Keeps `record` under its `state` for `ttl`.
    fn put_pending<'a>(&'a self, record: &'a PendingRecord, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Removes and returns the record of `state` (atomically: one callback wins); `None` when
    /// unknown or expired.
    fn take_pending<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<PendingRecord>>;
    /// Records how the consent of `state` ended, for `ttl`.
    fn put_outcome<'a>(
        &'a self,
        state: &'a str,
        outcome: &'a ConsentOutcome,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;
    /// The recorded outcome of `state`, if any yet.
    fn outcome<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<ConsentOutcome>>;
    /// Keeps the consent link `id` for `ttl` (under the SHA-256 of `id`).
    fn put_link<'a>(
        &'a self,
        id: &'a str,
        link: &'a ConsentLink,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;
    /// Removes and returns link `id` (atomically: a link opens once); `None` when unknown,
    /// used or expired.
    fn take_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ConsentLink>>;
    /// Keeps `record` (request `request_id` of `record.user`) for `ttl`, replacing what was
    /// there, under [`RequestRecord::key`].
    fn put_result<'a>(
        &'a self,
        request_id: &'a str,
        record: &'a RequestRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;
    /// The record of request `request_id` of `user`, if any (unknown and expired alike).
    fn result<'a>(
        &'a self,
        user: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Option<RequestRecord>>;
}

#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
pub(crate) fn corrupt(what: &str, reason: String) -> StoreError {
    StoreError::Corrupt { path: what.to_owned(), reason }
}
