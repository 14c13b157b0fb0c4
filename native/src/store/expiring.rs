//! The [`PendingStore`] of the shared stores (Redis, MySQL, S3), written once. Every record is
//! the sealed JSON text of a [`PendingRecord`], [`ConsentOutcome`], [`ConsentLink`] or
//! [`RequestRecord`], named by its kind and hashed key, written with an expiry, and either taken
//! once (pending records and links: one callback wins, a link opens once) or read (outcomes,
//! results). A store supplies how it names a record and three primitives ([`ExpiringRecords`]);
//! [`super::MemoryStore`] keeps typed values, unsealed, and has its own.

use std::time::Duration;

use super::pending::corrupt;
use super::{
    ConsentLink, ConsentOutcome, PendingRecord, PendingStore, RequestRecord, StoreError,
    StoreFuture,
};

/// Sealed records with an expiry, by name: what a shared store supplies to be a
/// [`PendingStore`].
pub trait ExpiringRecords: Send + Sync {
    /// The name of the record of `kind` (`pending`, `outcome`, `link` or `result`) whose key is
    /// `hashed` (hex SHA-256, [`PendingRecord::state_key`] or [`RequestRecord::key`]).
    fn record_name(&self, kind: &str, hashed: &str) -> String;

    /// Writes `text` sealed under `name`, replacing what was there, expiring after `ttl`.
    fn put_sealed<'a>(&'a self, name: &'a str, text: &'a str, ttl: Duration)
        -> StoreFuture<'a, ()>;

    /// Removes and returns the unexpired text of `name`, opened; once across replicas.
    fn take_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>>;

    /// The unexpired text of `name`, opened.
    fn get_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>>;
}

/// Reads `text` of record `name` with `parse`: a record that does not parse is corrupt.
fn parsed<T>(
    name: &str,
    text: Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, StoreError> {
    text.map(|text| parse(&text).map_err(|reason| corrupt(name, reason))).transpose()
}

impl<S: ExpiringRecords> PendingStore for S {
    fn put_pending<'a>(&'a self, record: &'a PendingRecord, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let hashed = PendingRecord::state_key(record.pending.state.secret());
            let name = self.record_name("pending", &hashed);
            self.put_sealed(&name, &record.to_json(), ttl).await
        })
    }

    fn take_pending<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<PendingRecord>> {
        Box::pin(async move {
            let name = self.record_name("pending", &PendingRecord::state_key(state));
            parsed(&name, self.take_sealed(&name).await?, PendingRecord::from_json)
        })
    }

    fn put_outcome<'a>(
        &'a self,
        state: &'a str,
        outcome: &'a ConsentOutcome,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.record_name("outcome", &PendingRecord::state_key(state));
            // Sealed: a failure's message may quote what the callback carried.
            self.put_sealed(&name, &outcome.to_json(), ttl).await
        })
    }

    fn outcome<'a>(&'a self, state: &'a str) -> StoreFuture<'a, Option<ConsentOutcome>> {
        Box::pin(async move {
            let name = self.record_name("outcome", &PendingRecord::state_key(state));
            parsed(&name, self.get_sealed(&name).await?, ConsentOutcome::from_json)
        })
    }

    fn put_link<'a>(
        &'a self,
        id: &'a str,
        link: &'a ConsentLink,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.record_name("link", &PendingRecord::state_key(id));
            self.put_sealed(&name, &link.to_json(), ttl).await
        })
    }

    fn take_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ConsentLink>> {
        Box::pin(async move {
            let name = self.record_name("link", &PendingRecord::state_key(id));
            parsed(&name, self.take_sealed(&name).await?, ConsentLink::from_json)
        })
    }

    fn put_result<'a>(
        &'a self,
        request_id: &'a str,
        record: &'a RequestRecord,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.record_name("result", &RequestRecord::key(&record.user, request_id));
            self.put_sealed(&name, &record.to_json(), ttl).await
        })
    }

    fn result<'a>(
        &'a self,
        user: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Option<RequestRecord>> {
        Box::pin(async move {
            let name = self.record_name("result", &RequestRecord::key(user, request_id));
            parsed(&name, self.get_sealed(&name).await?, RequestRecord::from_json)
        })
    }
}
