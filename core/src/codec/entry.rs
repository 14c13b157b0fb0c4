//! The JSON form of a [`PersistedEntry`] with its [`EntryKey`]: the one format every host
//! stores (native file and Redis stores inside their encryption, the npm package in its
//! storage). Version 1:
//!
//! ```text
//! {"format":"mcp-oauth/entry","version":1,
//!  "user":"default","resource":"https://mcp.example.com/mcp","issuer":"https://auth.example.com",
//!  "tokens":{..},"registration":{..},"discovery":{..},"pending":{..},"last_requested_scope":"..",
//!  "dpop_key":".."}
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
use crate::flow::{EntryKey, PersistedEntry, ENTRY_VERSION};
use crate::registration::ClientRegistration;
use crate::token::TokenSet;
use crate::Discovery;

/// The `format` member: what this JSON is.
const ENTRY_FORMAT: &str = "mcp-oauth/entry";

/// The members of a version-1 flow snapshot (core/src/codec.rs).
const SNAPSHOT_MEMBERS: [&str; 7] = [
    "version",
    "server_url",
    "discovery",
    "registrations",
    "tokens",
    "pending",
    "last_requested_scope",
];

const MEMBERS: [&str; 11] = [
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
    "dpop_key",
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
            .opt_s("dpop_key", self.dpop_key())
            .done()
            .to_text()
    }

    /// Reads an entry written by [`PersistedEntry::encode`] by any host, or an older shape
    /// (see the module docs). `snapshot_user`: whose a flow snapshot is (the user of the key it
    /// was stored under); `None` refuses snapshots.
    pub fn decode(text: &str, snapshot_user: Option<&str>) -> R<(EntryKey, PersistedEntry)> {
        let root = parse_text(text, "entry")?;
        let f = Fields::of(&root, "entry")?;
        // A flow snapshot (core/src/codec.rs) is read here rather than through
        // `FlowSnapshot::from_json`, so that hosts that only read entries (the browser build)
        // carry one reader.
        let mut snapshot_of = None;
        let (members, unknown): (&[&str], &str) = if f.get("format").is_some() {
            check_version(&f)?;
            (&MEMBERS, "unknown member")
        } else if f.get("server_url").is_some() {
            snapshot_of = Some(snapshot_user.ok_or_else(|| {
                invalid("entry: a flow snapshot names no user, and none was given".to_owned())
            })?);
            let version = f.n("version")?;
            if version != u64::from(crate::flow::SNAPSHOT_VERSION) {
                return Err(invalid(format!(
                    "entry: a flow snapshot of version {version} is not supported (this build \
                     reads version {})",
                    crate::flow::SNAPSHOT_VERSION
                )));
            }
            (&SNAPSHOT_MEMBERS, "unknown member (in a flow snapshot)")
        } else if f.get("version").is_none() && f.get("user").is_some() {
            (&MEMBERS[2..8], "unknown member (in a version-0 entry)")
        } else {
            return Err(invalid("entry.format: missing (not a persisted entry)".to_owned()));
        };
        if let Some((name, _)) = f.obj.iter().find(|(n, _)| !members.contains(&n.as_str())) {
            return Err(bad("entry", name, unknown));
        }
        // Member by member into one value (one drop on an error, not one per member).
        let mut entry = PersistedEntry::default();
        let mut token_issuer = None;
        if let Some(mut t) = f.child("tokens")? {
            if snapshot_of.is_some() {
                // The snapshot's `tokens` is `{"issuer","tokens"}`.
                token_issuer = Some(t.s("issuer")?);
                t = t.child("tokens")?.ok_or_else(|| bad(&t.path, "tokens", "missing"))?;
            }
            entry.tokens = Some(TokenSet::read(&t)?);
        }
        if let Some(r) = f.child("registration")? {
            entry.registration = Some(ClientRegistration::read(&r)?);
        }
        if let Some(d) = f.child("discovery")? {
            entry.discovery = Some(Discovery::read(&d)?);
        }
        if let Some(p) = f.child("pending")? {
            entry.pending = Some(PendingAuthorization::read(&p)?);
        }
        entry.last_requested_scope = f.opt_s("last_requested_scope")?;
        // Without feature `dpop` (the browser build) the member is read and dropped.
        #[cfg(feature = "dpop")]
        {
            entry.dpop_key = f.opt_s("dpop_key")?.map(crate::secret::DpopPrivateKey::new);
        }
        let Some(user) = snapshot_of else {
            let key =
                EntryKey { user: f.s("user")?, resource: f.s("resource")?, issuer: f.s("issuer")? };
            return Ok((key, entry));
        };
        // A snapshot: its tokens' issuer (else the discovered one, else the pending
        // authorization's) is the entry's; members of other issuers are left out.
        let issuer = token_issuer
            .or_else(|| entry.discovery.as_ref().map(|d| d.server.issuer.as_str().to_owned()))
            .or_else(|| entry.pending.as_ref().map(|p| p.issuer.clone()))
            .ok_or_else(|| {
                invalid(
                    "entry: the flow snapshot holds no tokens, discovery or pending authorization"
                        .into(),
                )
            })?;
        for (i, r) in f.list("registrations")?.iter().enumerate() {
            let r =
                ClientRegistration::read(&Fields::of(r, &format!("entry.registrations[{i}]"))?)?;
            if r.issuer == issuer {
                entry.registration = Some(r);
            }
        }
        if entry.discovery.as_ref().is_some_and(|d| d.server.issuer.as_str() != issuer) {
            entry.discovery = None;
        }
        if entry.pending.as_ref().is_some_and(|p| p.issuer != issuer) {
            entry.pending = None;
        }
        let key = EntryKey { user: user.to_owned(), resource: f.s("server_url")?, issuer };
        Ok((key, entry))
    }
}

fn check_version(f: &Fields<'_>) -> R<()> {
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
    Ok(())
}

#[cfg(test)]
mod tests;
