//! Token stores: where a user's tokens and client registration for one MCP server live between
//! runs. Keys are (user, resource, issuer); values are the core's persisted JSON forms
//! (core/src/codec.rs) with absolute expiry times.
//!
//! Implementations: [`MemoryStore`] (process lifetime), [`FileStore`] (one encrypted file per
//! key) and, with feature `redis`, [`RedisStore`] (shared by server replicas; encrypted values).
//!
//! Servers also keep pending authorizations here, keyed by their `state` ([`PendingStore`]), so
//! that any replica can complete a callback; and a store shared between processes offers a
//! refresh lock ([`TokenStore::lock`]) so that a rotated refresh token is used once. A store never "repairs" what it cannot read: a tampered or undecryptable entry is an
//! error that names the file, so tokens are never silently lost or replaced.

mod file;
mod memory;
mod pending;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mcp_oauth_core::__private::json::Json;
use mcp_oauth_core::registration::ClientRegistration;
use mcp_oauth_core::token::TokenSet;
use mcp_oauth_core::Discovery;

pub use file::{FileStore, KeySource};
pub use memory::MemoryStore;
pub use pending::{ConsentLink, ConsentOutcome, PendingRecord, PendingStore};
#[cfg(feature = "redis")]
pub use redis::RedisStore;

/// A boxed future, so that stores can be used as `dyn TokenStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Identifies one stored entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey {
    /// The user the tokens belong to.
    pub user: String,
    /// The MCP server's canonical resource URL.
    pub resource: String,
    /// The authorization server's issuer.
    pub issuer: String,
}

/// What is stored under a key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StoredEntry {
    /// Tokens (absolute expiry inside).
    pub tokens: Option<TokenSet>,
    /// The client registration used with this issuer.
    pub registration: Option<ClientRegistration>,
    /// The discovery result (public metadata; lets a later process revoke at logout without
    /// discovering again).
    pub discovery: Option<Discovery>,
}

impl StoredEntry {
    /// The JSON text of the entry, with its key (so a file proves which key it belongs to).
    pub fn to_json(&self, key: &StoreKey) -> String {
        let mut members = vec![
            ("user".to_owned(), Json::str(key.user.as_str())),
            ("resource".to_owned(), Json::str(key.resource.as_str())),
            ("issuer".to_owned(), Json::str(key.issuer.as_str())),
        ];
        if let Some(t) = &self.tokens {
            members.push(("tokens".to_owned(), t.to_json()));
        }
        if let Some(r) = &self.registration {
            members.push(("registration".to_owned(), r.to_json()));
        }
        if let Some(d) = &self.discovery {
            members.push(("discovery".to_owned(), d.to_json()));
        }
        Json::Object(members).to_text()
    }

    /// Reads the JSON text written by [`StoredEntry::to_json`], returning the key it names.
    pub fn from_json(text: &str) -> Result<(StoreKey, StoredEntry), String> {
        let root =
            mcp_oauth_core::__private::json::parse(text.as_bytes()).map_err(|e| e.to_string())?;
        let s = |name: &str| {
            root.get(name)
                .and_then(Json::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("entry.{name}: missing"))
        };
        let key = StoreKey { user: s("user")?, resource: s("resource")?, issuer: s("issuer")? };
        let tokens = match root.get("tokens") {
            Some(t) => Some(TokenSet::from_json(&t.to_text()).map_err(|e| e.to_string())?),
            None => None,
        };
        let registration = match root.get("registration") {
            Some(r) => {
                Some(ClientRegistration::from_json(&r.to_text()).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let discovery = match root.get("discovery") {
            Some(d) => Some(Discovery::from_json(&d.to_text()).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok((key, StoredEntry { tokens, registration, discovery }))
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("token store I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The entry does not decrypt or authenticate: wrong key, or tampered with.
    #[error(
        "token store entry {path} cannot be decrypted (wrong key or tampered with); it was left \
         untouched — restore the right key (MCP_OAUTH_STORE_KEY or the key file) or delete the \
         file to log in again"
    )]
    Undecryptable {
        /// The file.
        path: String,
    },
    /// The entry decrypts but is not a valid entry.
    #[error("token store entry {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An existing store directory is accessible to its group or others.
    #[error(
        "token store directory {path} has mode {mode:03o}, so others than its owner may list or \
         change its entries; run `chmod 700 {path}`"
    )]
    InsecurePermissions {
        /// The directory.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The encryption key is unusable.
    #[error("token store key is invalid: {0}")]
    InvalidKey(String),
    /// A store server (Redis) cannot be reached or refused the command.
    #[error("token store {backend} is unavailable: {message}")]
    Unavailable {
        /// Which store (`redis://127.0.0.1:6379/` without credentials).
        backend: String,
        /// What failed.
        message: String,
    },
    /// Another process held the refresh lock for too long.
    #[error("the refresh lock for {key} stayed taken for {secs} s (another replica refreshing)")]
    LockTimeout {
        /// The entry (user, resource, issuer).
        key: String,
        /// How long this process waited.
        secs: u64,
    },
    /// The refresh lock expired before the write: another process may have refreshed since, so
    /// this write was refused rather than overwrite newer tokens.
    #[error(
        "the refresh lock for {key} expired before the tokens were saved; the write was refused"
    )]
    LockLost {
        /// The entry (user, resource, issuer).
        key: String,
    },
}

/// A refresh lock held on one entry ([`TokenStore::lock`]).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreLock {
    /// The entry it protects.
    pub key: StoreKey,
    /// This holder's random token (compare-and-delete on release, compare-and-set on save).
    pub token: String,
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLock").field("key", &self.key).finish_non_exhaustive()
    }
}

/// Where tokens and registrations are kept. Implementations must be safe to share between tasks.
pub trait TokenStore: Send + Sync {
    /// The entry under `key`, if any.
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>>;
    /// Stores `entry` under `key`, replacing what was there (atomically for files).
    fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()>;
    /// Removes the entry under `key` (no error when absent).
    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()>;
    /// Every key of `user` (any resource, any issuer).
    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>>;

    /// Takes the refresh lock of `key`, waiting while another process holds it; the lock
    /// expires by itself after `ttl`. `None`: this store is not shared between processes, and
    /// the client's in-process single flight is enough (the default).
    fn lock<'a>(&'a self, key: &'a StoreKey, ttl: Duration) -> StoreFuture<'a, Option<StoreLock>> {
        let _ = (key, ttl);
        Box::pin(async { Ok(None) })
    }

    /// [`TokenStore::save`] under a lock: refused with [`StoreError::LockLost`] when the lock
    /// is no longer this holder's (it expired and someone else may have written since).
    fn save_locked<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: &'a StoredEntry,
        lock: &'a StoreLock,
    ) -> StoreFuture<'a, ()> {
        let _ = lock;
        self.save(key, entry)
    }

    /// Releases a lock, if it is still this holder's.
    fn unlock<'a>(&'a self, lock: &'a StoreLock) -> StoreFuture<'a, ()> {
        let _ = lock;
        Box::pin(async { Ok(()) })
    }
}
