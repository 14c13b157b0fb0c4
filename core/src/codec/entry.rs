//! The JSON form of a [`PersistedEntry`] with its [`EntryKey`]: the one format every host
//! stores (native file and Redis stores inside their encryption, the npm package in its
//! storage). Version 1:
//!
//! ```text
//! {"format":"mcp-oauth/entry","version":1,
//!  "user":"default","resource":"https://mcp.example.com/mcp","issuer":"https://auth.example.com",
//!  "tokens":{..},"registration":{..},"discovery":{..},"pending":{..},"last_requested_scope":".."}
//! ```
//!
//! Reading is strict: an unknown top-level member or a missing or mistyped one is an error
//! naming its path ([`crate::AuthFlow::load_entry`] also refuses members of another issuer). A newer version is refused with a message that
//! says so (the entry is left for the newer build). Older shapes are migrated on read:
//! - version 0, the native stores' entries before this format: `{"user","resource","issuer",
//!   "tokens"?,"registration"?,"discovery"?}` (no `format`, no `version`);
//! - a version-1 flow snapshot (core/src/codec.rs), as the npm package stored it under
//!   `entry/[user,resource,issuer]`: it names no user, so the caller says whose it is.

use super::{bad, parse_text, Fields, Obj, R};
use crate::authorize::PendingAuthorization;
use crate::error::FlowError;
use crate::flow::{EntryKey, FlowSnapshot, PersistedEntry, ENTRY_VERSION};
use crate::registration::ClientRegistration;
use crate::token::TokenSet;
use crate::Discovery;

/// The `format` member: what this JSON is.
const ENTRY_FORMAT: &str = "mcp-oauth/entry";

const MEMBERS: [&str; 10] = [
    "format",
    "version",
    "user",
    "resource",
    "issuer",
    "tokens",
    "registration",
    "discovery",
    "pending",
    "last_requested_scope",
];

fn invalid(message: String) -> crate::Error {
    FlowError::Snapshot(message).into()
}

impl PersistedEntry {
    /// The JSON text of the entry under `key` (holds secrets: encrypt at rest).
    pub fn encode(&self, key: &EntryKey) -> String {
        Obj::default()
            .s("format", ENTRY_FORMAT)
            .n("version", u64::from(ENTRY_VERSION))
            .s("user", &key.user)
            .s("resource", &key.resource)
            .s("issuer", &key.issuer)
            .opt_v("tokens", self.tokens.as_ref().map(TokenSet::to_json))
            .opt_v("registration", self.registration.as_ref().map(ClientRegistration::to_json))
            .opt_v("discovery", self.discovery.as_ref().map(Discovery::to_json))
            .opt_v("pending", self.pending.as_ref().map(PendingAuthorization::to_json))
            .opt_s("last_requested_scope", self.last_requested_scope.as_deref())
            .done()
            .to_text()
    }

    /// Reads an entry written by [`PersistedEntry::encode`] by any host, or an older shape
    /// (see the module docs). `snapshot_user`: whose a flow snapshot is (the user of the key it
    /// was stored under); `None` refuses snapshots.
    pub fn decode(text: &str, snapshot_user: Option<&str>) -> R<(EntryKey, PersistedEntry)> {
        let root = parse_text(text, "entry")?;
        let f = Fields::of(&root, "entry")?;
        if f.get("format").is_some() {
            return read_current(&f);
        }
        if f.get("server_url").is_some() {
            let user = snapshot_user.ok_or_else(|| {
                invalid("entry: a flow snapshot names no user, and none was given".to_owned())
            })?;
            return from_snapshot(FlowSnapshot::from_json(text)?, user);
        }
        if f.get("version").is_none() && f.get("user").is_some() {
            return read_v0(&f);
        }
        Err(invalid("entry.format: missing (not a persisted entry)".to_owned()))
    }
}

fn read_key(f: &Fields<'_>) -> R<EntryKey> {
    Ok(EntryKey { user: f.s("user")?, resource: f.s("resource")?, issuer: f.s("issuer")? })
}

fn read_members(f: &Fields<'_>) -> R<PersistedEntry> {
    Ok(PersistedEntry {
        tokens: f.child("tokens")?.map(|t| TokenSet::read(&t)).transpose()?,
        registration: f.child("registration")?.map(|r| ClientRegistration::read(&r)).transpose()?,
        discovery: f.child("discovery")?.map(|d| Discovery::read(&d)).transpose()?,
        pending: f.child("pending")?.map(|p| PendingAuthorization::read(&p)).transpose()?,
        last_requested_scope: f.opt_s("last_requested_scope")?,
    })
}

fn read_current(f: &Fields<'_>) -> R<(EntryKey, PersistedEntry)> {
    let format = f.s("format")?;
    if format != ENTRY_FORMAT {
        return Err(bad("entry", "format", &format!("`{format}` is not `{ENTRY_FORMAT}`")));
    }
    let version = f.n("version")?;
    if version > u64::from(ENTRY_VERSION) {
        return Err(invalid(format!(
            "entry.version: {version} was written by a newer mcp-oauth (this build reads \
             versions up to {ENTRY_VERSION}); the entry was left as is"
        )));
    }
    if version != u64::from(ENTRY_VERSION) {
        return Err(bad("entry", "version", &format!("{version} is not a version of this format")));
    }
    if let Some((name, _)) = f.obj.iter().find(|(n, _)| !MEMBERS.contains(&n.as_str())) {
        return Err(bad("entry", name, "unknown member"));
    }
    Ok((read_key(f)?, read_members(f)?))
}

/// Version 0: the native stores' entries before this format.
fn read_v0(f: &Fields<'_>) -> R<(EntryKey, PersistedEntry)> {
    if let Some((name, _)) = f.obj.iter().find(|(n, _)| {
        !["user", "resource", "issuer", "tokens", "registration", "discovery"].contains(&n.as_str())
    }) {
        return Err(bad("entry", name, "unknown member (in a version-0 entry)"));
    }
    Ok((read_key(f)?, read_members(f)?))
}

/// A version-1 flow snapshot, as the npm package stored it (its entries without, its pending
/// records with the pending authorization): its tokens' issuer (else the discovered one, else
/// the pending authorization's) is the entry's.
fn from_snapshot(s: FlowSnapshot, user: &str) -> R<(EntryKey, PersistedEntry)> {
    let issuer = s
        .tokens
        .as_ref()
        .map(|t| t.issuer.clone())
        .or_else(|| s.discovery.as_ref().map(|d| d.server.issuer.as_str().to_owned()))
        .or_else(|| s.pending.as_ref().map(|p| p.issuer.clone()))
        .ok_or_else(|| {
            invalid(
                "entry: the flow snapshot holds no tokens, discovery or pending authorization"
                    .into(),
            )
        })?;
    let key = EntryKey { user: user.to_owned(), resource: s.server_url, issuer };
    let entry = PersistedEntry {
        tokens: s.tokens.filter(|t| t.issuer == key.issuer).map(|t| t.tokens),
        registration: s.registrations.into_iter().find(|r| r.issuer == key.issuer),
        discovery: s.discovery.filter(|d| d.server.issuer.as_str() == key.issuer),
        pending: s.pending.filter(|p| p.issuer == key.issuer),
        last_requested_scope: s.last_requested_scope,
    };
    Ok((key, entry))
}

#[cfg(test)]
mod tests;
