//! [`MemoryStore`]: entries kept for the lifetime of the process.

use std::collections::HashMap;

use tokio::sync::RwLock;

use super::{StoreError, StoreFuture, StoreKey, StoredEntry, TokenStore};

/// A [`TokenStore`] in memory: nothing survives the process. For tests, one-shot tools and hosts
/// that persist tokens elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RwLock<HashMap<StoreKey, StoredEntry>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
        Box::pin(async move { Ok(self.entries.read().await.get(key).cloned()) })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.entries.write().await.insert(key.clone(), entry.clone());
            Ok::<(), StoreError>(())
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.entries.write().await.remove(key);
            Ok(())
        })
    }

    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
        Box::pin(async move {
            let mut keys: Vec<StoreKey> =
                self.entries.read().await.keys().filter(|k| k.user == user).cloned().collect();
            keys.sort();
            Ok(keys)
        })
    }
}
