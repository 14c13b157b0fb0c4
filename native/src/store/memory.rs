//! [`MemoryStore`]: entries kept for the lifetime of the process.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use super::{
    ConsentLink, ConsentOutcome, PendingRecord, PendingStore, RequestRecord, StoreError,
    StoreFuture, StoreKey, StoredEntry, TokenStore,
};

/// A [`TokenStore`] in memory: nothing survives the process. For tests, one-shot tools and hosts
/// that persist tokens elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Ordered by user first (the key's derived order), so that a user's keys are one range.
    entries: RwLock<BTreeMap<StoreKey, StoredEntry>>,
    pending: std::sync::Mutex<Expiring<PendingRecord>>,
    outcomes: std::sync::Mutex<Expiring<ConsentOutcome>>,
    links: std::sync::Mutex<Expiring<ConsentLink>>,
    results: std::sync::Mutex<Expiring<RequestRecord>>,
}

/// Values with a deadline, by state key; expired ones are dropped on each write.
#[derive(Debug)]
struct Expiring<T>(HashMap<String, (Instant, T)>);

impl<T> Default for Expiring<T> {
    fn default() -> Self {
        Expiring(HashMap::new())
    }
}

impl<T: Clone> Expiring<T> {
    fn put(&mut self, key: String, value: T, ttl: Duration) {
        let now = Instant::now();
        self.0.retain(|_, (deadline, _)| *deadline > now);
        self.0.insert(key, (now + ttl, value));
    }

    fn get(&self, key: &str) -> Option<T> {
        self.0.get(key).filter(|(d, _)| *d > Instant::now()).map(|(_, v)| v.clone())
    }

    fn take(&mut self, key: &str) -> Option<T> {
        self.0.remove(key).filter(|(d, _)| *d > Instant::now()).map(|(_, v)| v)
    }
}

fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PendingStore for MemoryStore {
    fn put_pending<'a>(&'a self, record: &'a PendingRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        let key = PendingRecord::state_key(record.pending.state.secret());
        locked(&self.pending).put(key, record.clone(), ttl);
        Box::pin(async { Ok(()) })
    }

    fn take_pending<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<PendingRecord>> {
        let record = locked(&self.pending).take(&PendingRecord::state_key(state));
        Box::pin(async move { Ok(record) })
    }

    fn put_outcome<'a>(
        &'a self,
        state: &'a str,
        outcome: &'a ConsentOutcome,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        locked(&self.outcomes).put(PendingRecord::state_key(state), outcome.clone(), ttl);
        Box::pin(async { Ok(()) })
    }

    fn outcome<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<ConsentOutcome>> {
        let outcome = locked(&self.outcomes).get(&PendingRecord::state_key(state));
        Box::pin(async move { Ok(outcome) })
    }

    fn put_link<'a>(
        &'a self,
        id: &'a str,
        link: &'a ConsentLink,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        locked(&self.links).put(PendingRecord::state_key(id), link.clone(), ttl);
        Box::pin(async { Ok(()) })
    }

    fn take_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ConsentLink>> {
        let link = locked(&self.links).take(&PendingRecord::state_key(id));
        Box::pin(async move { Ok(link) })
    }

    fn put_result<'a>(
        &'a self,
        request_id: &'a str,
        record: &'a RequestRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let key = RequestRecord::key(&record.user, request_id);
        locked(&self.results).put(key, record.clone(), ttl);
        Box::pin(async { Ok(()) })
    }

    fn result<'a>(
        &'a self,
        user: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Option<RequestRecord>> {
        let record = locked(&self.results).get(&RequestRecord::key(user, request_id));
        Box::pin(async move { Ok(record) })
    }
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
            // The smallest key of `user`: its resource and issuer empty.
            let first =
                StoreKey { user: user.to_owned(), resource: String::new(), issuer: String::new() };
            let entries = self.entries.read().await;
            let of_user = entries.range(first..).map(|(k, _)| k).take_while(|k| k.user == user);
            Ok(of_user.cloned().collect())
        })
    }
}
