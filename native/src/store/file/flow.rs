//! One authorization at a time per (user, MCP server) across the processes sharing a
//! [`FileStore`] directory (the `proxy` command: hosts start several instances per server).
//!
//! - `<hex(sha256(user))[..16]>-<hex(sha256(resource))[..32]>.flow.lock`, mode 0600, empty: the
//!   flow lock, an advisory lock (`flock`) held by the process that runs the authorization
//!   (registration, browser, code exchange). The OS releases it when that process exits or is
//!   killed, so a crashed holder never blocks the others. Never removed (see the entry locks).
//! - `<same>.flow`, mode 0600: the authorization waiting for the browser (the core's
//!   [`PendingAuthorization`]: `state`, PKCE verifier, redirect URI ...), sealed like an entry
//!   with the file name as additional data. Written before the browser opens and removed once
//!   the callback was handled, so that when the process that opened the browser dies, the next
//!   holder of the flow lock serves the same callback instead of opening another tab.

use std::fs::File;
use std::io;
use std::time::Duration;

use mcp_oauth_core::authorize::PendingAuthorization;
use sha2::{Digest, Sha256};

use super::{hex, io_error, user_prefix, FileStore};
use crate::store::file_io::{sync_dir, take_flock, write_atomic};
use crate::store::StoreError;

/// The flow lock of one (user, MCP server), held until dropped ([`FileStore::lock_flow`]).
#[derive(Debug)]
pub struct FlowLock {
    _file: File,
}

fn flow_name(user: &str, resource: &str) -> String {
    let rest = hex(&Sha256::digest(resource.as_bytes()));
    format!("{}{}.flow", user_prefix(user), &rest[..32])
}

impl FileStore {
    /// Takes the flow lock of (`user`, `resource`), waiting at most `wait` while another
    /// process holds it: `None` when it stays taken.
    pub async fn lock_flow(
        &self,
        user: &str,
        resource: &str,
        wait: Duration,
    ) -> Result<Option<FlowLock>, StoreError> {
        let name = format!("{}.lock", flow_name(user, resource));
        let file = self.blocking(move |inner| take_flock(&inner.dir.join(name), wait)).await?;
        Ok(file.map(|file| FlowLock { _file: file }))
    }

    /// Keeps the authorization of (`user`, `resource`) that waits for the browser, replacing
    /// any other. Call it holding the flow lock.
    pub async fn save_flow_pending(
        &self,
        user: &str,
        resource: &str,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let name = flow_name(user, resource);
        let text = pending.to_json().to_text();
        self.blocking(move |inner| {
            let sealed = inner.encrypt(&name, text.as_bytes())?;
            write_atomic(&inner.dir, &name, &sealed)
        })
        .await
    }

    /// The authorization of (`user`, `resource`) that waits for the browser, if any (expired
    /// or not: the caller compares its `created_at`).
    pub async fn load_flow_pending(
        &self,
        user: &str,
        resource: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let name = flow_name(user, resource);
        self.blocking(move |inner| {
            let path = inner.dir.join(&name);
            let Some(bytes) = inner.read_raw(&name)? else { return Ok(None) };
            let (plain, _) = inner
                .sealer
                .open(name.as_bytes(), &bytes)
                .ok_or_else(|| StoreError::Undecryptable { path: path.display().to_string() })?;
            let corrupt =
                |reason: String| StoreError::Corrupt { path: path.display().to_string(), reason };
            let text = String::from_utf8(plain).map_err(|_| corrupt("not UTF-8 text".into()))?;
            PendingAuthorization::from_json(&text).map(Some).map_err(|e| corrupt(e.to_string()))
        })
        .await
    }

    /// Removes the waiting authorization of (`user`, `resource`) (no error when absent).
    pub async fn delete_flow_pending(&self, user: &str, resource: &str) -> Result<(), StoreError> {
        let name = flow_name(user, resource);
        self.blocking(move |inner| {
            let path = inner.dir.join(&name);
            match std::fs::remove_file(&path) {
                Ok(()) => sync_dir(&inner.dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(&path, e)),
            }
        })
        .await
    }
}
