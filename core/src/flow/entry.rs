//! The persisted entry: what every host keeps for one (user, MCP server, issuer) between runs,
//! in one format (core/src/codec/entry.rs) whichever host wrote it, so that an entry written by
//! the native client is read by the npm package and the other way round.
//!
//! Hosts export with [`AuthFlow::entry`] (tokens, registration, discovery: kept between runs)
//! and [`AuthFlow::pending_entry`] (the authorization waiting for its callback, without tokens:
//! it may outlive them), and import with [`AuthFlow::load_entry`]. Targeted edits
//! ([`AuthFlow::set_tokens`], [`AuthFlow::resume_pending`]) replace the
//! snapshot-edit-restore round trip.

use super::{AuthFlow, Discovery, Phase};
use crate::authorize::PendingAuthorization;
use crate::error::{Error, FlowError};
use crate::registration::ClientRegistration;
use crate::token::TokenSet;

/// The version of the entry format this build writes; it reads this one and the older shapes
/// (core/src/codec/entry.rs migrates them on read).
pub const ENTRY_VERSION: u32 = 1;

/// Whose entry it is: hosts store entries under this key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryKey {
    /// The host's user the tokens belong to (`default` when a host has one user).
    pub user: String,
    /// The MCP server's canonical URL ([`crate::FlowConfig::server_url`]).
    pub resource: String,
    /// The authorization server's issuer.
    pub issuer: String,
}

/// What is kept under an [`EntryKey`]. Every member belongs to the key's issuer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PersistedEntry {
    /// Tokens issued by the issuer (absolute expiry inside).
    pub tokens: Option<TokenSet>,
    /// The client registration used with the issuer.
    pub registration: Option<ClientRegistration>,
    /// The discovery result that led to the issuer (public metadata; lets a later process
    /// refresh or revoke without discovering again).
    pub discovery: Option<Discovery>,
    /// The authorization waiting for its callback (holds the PKCE verifier and `state`).
    pub pending: Option<PendingAuthorization>,
    /// The scope of the last authorization request (for step-up unions).
    pub last_requested_scope: Option<String>,
    /// The host's DPoP key that the tokens are bound to (RFC 9449), when the host keeps it here
    /// (feature `dpop`).
    #[cfg(feature = "dpop")]
    pub dpop_key: Option<crate::secret::DpopPrivateKey>,
}

impl PersistedEntry {
    /// The DPoP key as the entry stores it.
    pub(crate) fn dpop_key(&self) -> Option<&str> {
        #[cfg(feature = "dpop")]
        return self.dpop_key.as_ref().map(crate::secret::DpopPrivateKey::secret);
        #[cfg(not(feature = "dpop"))]
        None
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self == &PersistedEntry::default()
    }

    /// Refuses members that belong to another issuer than `issuer`.
    pub(crate) fn check_issuer(&self, issuer: &str) -> Result<(), String> {
        let wrong = |what: &str, found: &str| {
            Err(format!("entry.{what}: issuer {found} is not the entry's issuer {issuer}"))
        };
        if let Some(r) = self.registration.as_ref().filter(|r| r.issuer != issuer) {
            return wrong("registration", &r.issuer);
        }
        if let Some(d) = self.discovery.as_ref().filter(|d| d.server.issuer.as_str() != issuer) {
            return wrong("discovery.server", d.server.issuer.as_str());
        }
        if let Some(p) = self.pending.as_ref().filter(|p| p.issuer != issuer) {
            return wrong("pending", &p.issuer);
        }
        Ok(())
    }
}

fn entry_error(message: String) -> Error {
    FlowError::Snapshot(message).into()
}

impl AuthFlow {
    /// The issuer whose entry holds the flow's state now: the tokens' issuer, else the
    /// discovered server's; `None` when there is nothing to keep yet.
    pub fn entry_issuer(&self) -> Option<&str> {
        self.tokens
            .as_ref()
            .map(|(issuer, _)| issuer.as_str())
            .or_else(|| self.discovery.as_ref().map(|d| d.server.issuer.as_str()))
    }

    /// What to keep between runs for `issuer`: its tokens, registration and discovery result.
    /// The pending authorization is left out (see [`AuthFlow::pending_entry`]).
    pub fn entry(&self, issuer: &str) -> PersistedEntry {
        PersistedEntry {
            tokens: self.tokens.as_ref().filter(|(i, _)| i == issuer).map(|(_, t)| t.clone()),
            registration: self.registrations.iter().find(|r| r.issuer == issuer).cloned(),
            discovery: self
                .discovery
                .as_deref()
                .filter(|d| d.server.issuer.as_str() == issuer)
                .cloned(),
            pending: None,
            last_requested_scope: self.last_requested_scope.clone(),
            #[cfg(feature = "dpop")]
            dpop_key: self.dpop.key_material.clone(),
        }
    }

    /// The authorization waiting for its callback, as an entry for its issuer: what another
    /// process (a page load, a server replica) needs to finish it. Tokens are left out: such a
    /// record may outlive them. `None` when no authorization is pending.
    pub fn pending_entry(&self) -> Option<(String, PersistedEntry)> {
        let pending = self.pending()?;
        let issuer = pending.issuer.clone();
        let entry =
            PersistedEntry { tokens: None, pending: Some(pending.clone()), ..self.entry(&issuer) };
        Some((issuer, entry))
    }

    /// The authorization waiting for its callback, if any.
    pub fn pending(&self) -> Option<&PendingAuthorization> {
        match &self.phase {
            Phase::AwaitingCallback { pending } => Some(pending),
            _ => None,
        }
    }

    /// Loads a stored entry into this flow: its registration is added, its tokens (if any)
    /// replace the held ones, its discovery result is used unless the flow holds one and the
    /// entry has no tokens, and its pending authorization (if any) makes the flow await the
    /// callback. Refuses an entry of another MCP server, members of another issuer than the
    /// key's, and a pending authorization for another redirect URI or while a flow is in
    /// progress. The user is the host's to check.
    pub fn load_entry(&mut self, key: &EntryKey, entry: PersistedEntry) -> Result<(), Error> {
        if key.resource != self.config.server_url.as_str() {
            return Err(entry_error(format!(
                "the entry belongs to {}, not to {}",
                key.resource,
                self.config.server_url.as_str()
            )));
        }
        entry.check_issuer(&key.issuer).map_err(entry_error)?;
        if let Some(p) = &entry.pending {
            if p.redirect_uri != self.config.redirect_uri {
                return Err(entry_error(format!(
                    "its pending authorization uses redirect URI {}, the configuration {}",
                    p.redirect_uri, self.config.redirect_uri
                )));
            }
            if !matches!(self.phase, Phase::Idle) {
                return Err(entry_error(
                    "its pending authorization cannot be loaded while a flow is in progress"
                        .to_owned(),
                ));
            }
        }
        let has_tokens = entry.tokens.is_some();
        if let Some(registration) = entry.registration {
            self.add_registration(registration);
        }
        if let Some(d) = entry.discovery {
            if has_tokens || self.discovery.is_none() {
                self.discovery = Some(d.into());
            }
        }
        if let Some(tokens) = entry.tokens {
            self.set_tokens(&key.issuer, tokens);
        }
        if entry.last_requested_scope.is_some() {
            self.last_requested_scope = entry.last_requested_scope;
        }
        #[cfg(feature = "dpop")]
        if entry.dpop_key.is_some() && (has_tokens || self.dpop.key_material.is_none()) {
            self.dpop.key_material = entry.dpop_key;
        }
        if let Some(pending) = entry.pending {
            self.phase = Phase::AwaitingCallback { pending: Box::new(pending) };
        }
        Ok(())
    }

    /// Replaces the held tokens with `tokens` of `issuer` (another process stored newer ones).
    /// What was learned about the old tokens (a refresh made because of a 401, a refresh
    /// back-off) is forgotten.
    pub fn set_tokens(&mut self, issuer: &str, tokens: TokenSet) {
        self.tokens = Some((issuer.to_owned(), tokens));
        self.tokens_from_401_refresh = false;
        self.refresh_not_before = None;
    }

    /// Makes the flow await the callback of `pending`, started here or in another process (a
    /// server replica kept it by `state`). Drops whatever was in progress. Refuses one for
    /// another redirect URI.
    pub fn resume_pending(&mut self, pending: PendingAuthorization) -> Result<(), Error> {
        if pending.redirect_uri != self.config.redirect_uri {
            return Err(entry_error(format!(
                "the pending authorization uses redirect URI {}, the configuration {}",
                pending.redirect_uri, self.config.redirect_uri
            )));
        }
        self.cancel();
        self.phase = Phase::AwaitingCallback { pending: Box::new(pending) };
        Ok(())
    }
}
