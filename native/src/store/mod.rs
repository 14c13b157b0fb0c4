//! Token stores: where a user's tokens and client registration for one MCP server live between
//! runs. Keys are (user, resource, issuer); values are the core's persisted entry
//! (core/src/flow/entry.rs, encoded by core/src/codec/entry.rs) with absolute expiry times.
//!
//! Implementations: [`MemoryStore`] (process lifetime), `FileStore` (feature `file-store`, default; one encrypted file per
//! key) and, with feature `redis`, `RedisStore` (shared by server replicas; encrypted values);
//! with feature `mysql`, `MysqlStore` (a MySQL / MariaDB table, the same contract as Redis);
//! with feature `s3`, `S3Store` (an S3 bucket, the same contract as Redis).
//!
//! Servers also keep pending authorizations here, keyed by their `state` ([`PendingStore`]), so
//! that any replica can complete a callback; and a store shared between processes offers a
//! refresh lock ([`TokenStore::lock`]) so that a rotated refresh token is used once.
//!
//! Every store that seals (file, Redis, MySQL, S3; feature `file-store`, which each of them
//! implies) takes `SealingKeys`: a current key that seals and previous keys that only open (key
//! rotation); `ResealStore` and `reseal_all` rewrite a whole store with the current key.
//!
//! A store never "repairs" what it cannot read: a tampered or undecryptable entry is an error
//! that names the file, so tokens are never silently lost or replaced.

#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
mod expiring;
#[cfg(feature = "file-store")]
mod file;
#[cfg(feature = "file-store")]
mod file_io;
mod memory;
#[cfg(feature = "mysql")]
mod mysql;
mod pending;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "file-store")]
mod reseal;
mod results;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "file-store")]
mod seal;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use mcp_oauth_core::flow::{EntryKey, PersistedEntry};

#[cfg(feature = "file-store")]
pub use file::{FileStore, FlowLock, KeySource};
pub use memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use mysql::MysqlStore;
pub use pending::{ConsentLink, ConsentOutcome, PendingRecord, PendingStore};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "file-store")]
pub use reseal::{reseal_all, ResealReport, ResealStore, Resealed};
pub use results::{RequestRecord, RequestStatus};
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Credentials, S3Store};
#[cfg(feature = "file-store")]
pub use seal::{fingerprint, SealingKeys};

/// A boxed future, so that stores can be used as `dyn TokenStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Identifies one stored entry: (user, MCP server, issuer), the core's [`EntryKey`].
pub type StoreKey = EntryKey;

/// What is stored under a key: the core's [`PersistedEntry`], in its encoded form
/// ([`PersistedEntry::encode`]), the same in every host (the npm package reads it too).
pub type StoredEntry = PersistedEntry;

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
         untouched — restore the right key (MCP_OAUTH_STORE_KEY or the key file; a key being \
         rotated out goes in MCP_OAUTH_STORE_PREVIOUS_KEYS) or delete the entry to log in again"
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
    /// A re-seal (`reseal_all`) left entries that no key opens or that failed.
    #[error(
        "{count} token store entr{plural} not re-sealed (listed above) and left untouched: add \
         the key that opens them to the previous keys and run again, or delete them (their users \
         consent again)",
        plural = if *count == 1 { "y was" } else { "ies were" }
    )]
    NotResealed {
        /// How many.
        count: usize,
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
    /// A store of the application's own ([`TokenStore`] implemented outside this crate) failed;
    /// its error is kept as the source.
    #[error("token store failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
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

#[cfg(test)]
mod tests {
    use super::StoreError;

    /// A custom store's failure keeps its error as the source, through the crate's `Error` too.
    #[test]
    fn other_keeps_its_source() {
        let e = crate::Error::from(StoreError::Other(Box::new(std::io::Error::other("disk gone"))));
        assert_eq!(e.code(), "storage_failed");
        assert_eq!(e.to_string(), "token store failed: disk gone");
        // `Error::Store` is transparent: the custom store's own error is the first source.
        let source = std::error::Error::source(&e).expect("the custom store's own error");
        let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
        assert_eq!(io.to_string(), "disk gone");
    }
}
