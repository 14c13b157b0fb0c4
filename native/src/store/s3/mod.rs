//! [`S3Store`]: tokens, registrations and pending authorizations in an S3 bucket (AWS, or any
//! S3-compatible server), shared by server replicas, with the [`super::RedisStore`]'s contract.
//! Every object is sealed like a [`super::FileStore`] entry (AES-256-GCM, the object's name as
//! additional authenticated data), so the bucket never holds a token, `state` or PKCE verifier
//! in clear, and a value copied onto another name does not open.
//!
//! Objects (under a prefix, `mcp-oauth/` by default):
//! - `tok/<hex(sha256(user))>/<hex(sha256(user \n resource \n issuer))>`: a sealed
//!   [`StoredEntry`]; [`TokenStore::list`] lists the user's folder;
//! - `pending/<hex(sha256(state))>`, `outcome/…`, `link/<hex(sha256(id))>`: a sealed
//!   [`PendingRecord`](super::PendingRecord), [`ConsentOutcome`](super::ConsentOutcome) or
//!   [`ConsentLink`](super::ConsentLink) with its expiry time inside the sealed value (S3 has no
//!   per-object TTL): an expired object reads as absent and is deleted when seen (a bucket
//!   lifecycle rule on `pending/`, `outcome/`, `link/`, `result/` can sweep the rest);
//!   `result/<hex(sha256(user \n request id))>`: a [`RequestRecord`](super::RequestRecord)
//!   likewise;
//! - `lock/<hex(sha256(user \n resource \n issuer))>`: the refresh lock of an entry: the holder's
//!   random token and expiry, sealed.
//!
//! Compare-and-set uses S3 conditional writes (PutObject with `If-None-Match: *` or
//! `If-Match: <ETag>`, answered 412 when the condition fails; RFC 9110 §13.1.1–§13.1.2). Every
//! write is sealed with a fresh random nonce, so two writes never share an ETag even where the
//! ETag is the MD5 of the content (no ABA):
//! - lock: create the lock object with `If-None-Match: *`, or take over an expired or released
//!   one with `If-Match` on the ETag it was read with; while held, a task renews the expiry
//!   every third of its lifetime (`If-Match` again, after checking the token);
//! - save under a lock: read the entry's ETag, renew the lock (proving that it still holds
//!   this holder's token and pushing its expiry a full lifetime ahead), then write the entry
//!   with `If-Match` on that ETag (`If-None-Match: *` when absent). A holder whose lock expired
//!   and was taken fails the renewal; an entry written by anyone since the read fails the
//!   write: both are [`StoreError::LockLost`], so a rotated refresh token is never overwritten;
//! - unlock: overwrite the lock with a released value (`If-Match`, after checking the token);
//!   the object stays and the next lock takes it over, so release never depends on
//!   conditional DELETE;
//! - take a pending record or link (single use across replicas): read it, overwrite it with a
//!   sealed tombstone under `If-Match` (exactly one replica's write succeeds), then delete it.
//!
//! Replicas compare lock expiry times with their own clocks: keep them in sync (NTP).
//!
//! ## Why a SigV4 client of its own, not `object_store`
//! Measured on this crate (`cargo tree -e normal -p mcp-oauth`, unique packages): 161 without
//! S3; `object_store` 0.12.5 or 0.13.2 with feature `aws` adds 21 (182), among them a second
//! reqwest (0.12.28 next to the crate's 0.13, with its own rustls feature set and native
//! roots), `h2`, `quick-xml`, `rand` 0.10 and a second `getrandom`; it also has no conditional
//! DELETE. The five requests this store makes, signed with AWS Signature Version 4 on the
//! crate's reqwest, `ring` (HMAC-SHA256) and `sha2`, add no package at all ([`client`]).
//!
//! A store server that cannot be reached or refuses a request surfaces as
//! [`StoreError::Unavailable`] naming `s3://bucket/prefix (endpoint)`, never a credential;
//! each request opens or reuses a pooled connection, so service resumes when S3 is back.

mod client;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use client::S3Credentials;
use client::{Client, Condition, Outcome};

use super::expiring::ExpiringRecords;
use super::file::sha256_hex;
use super::pending::corrupt;
use super::reseal::{reseal_if_same, stale_text, ResealStore, Resealed};
use super::seal::{OpenedWith, Sealer, SealingKeys};
use super::{StoreError, StoreFuture, StoreKey, StoreLock, StoredEntry, TokenStore};

/// A lock is renewed at most this many times (a holder stuck for longer loses it).
const MAX_RENEWALS: u32 = 60;
/// How often a waiting `lock` looks again.
const LOCK_POLL: Duration = Duration::from_millis(50);
/// Attempts at a conditional write that loses only to this holder's own renewal task.
const CAS_ATTEMPTS: u32 = 5;

/// Where the bucket is: `token_storage: {type: s3, bucket, prefix, region, endpoint}`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to every object name (`mcp-oauth/` by default; `A-Z a-z 0-9 - _ . /` only; a
    /// final `/` is added when missing).
    pub prefix: String,
    /// The region that signs requests; `us-east-1` when unset.
    pub region: Option<String>,
    /// An S3-compatible endpoint (path-style requests); AWS when unset.
    pub endpoint: Option<String>,
}

impl S3Config {
    /// `bucket` on AWS, prefix `mcp-oauth/`, region and endpoint unset.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: "mcp-oauth/".into(),
            region: None,
            endpoint: None,
        }
    }

    /// Fills what is unset from the usual AWS environment: the region from `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, the endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.
    pub fn with_env(mut self) -> S3Config {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        self.region =
            self.region.or_else(|| var("AWS_REGION")).or_else(|| var("AWS_DEFAULT_REGION"));
        self.endpoint = self
            .endpoint
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"));
        self
    }

    /// What is wrong with the settings, if anything (names the setting).
    pub fn check(&self) -> Result<(), String> {
        match crate::config::s3::problem(
            &self.bucket,
            &self.prefix,
            self.region.as_deref(),
            self.endpoint.as_deref(),
        ) {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }
}

/// A [`TokenStore`] and [`super::PendingStore`] in an S3 bucket. Cloning is cheap (one connection
/// pool).
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    sealer: Arc<Sealer>,
    prefix: String,
    /// `s3://bucket/prefix (endpoint)`, for error messages.
    backend: String,
    /// The renewal tasks of the locks this process holds, by lock token.
    renewals: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>,
    >,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn entry_label(key: &StoreKey) -> String {
    format!("({}, {}, {})", key.user, key.resource, key.issuer)
}

/// A sealed lock's content: `expires_ms \n ttl_ms \n token` (`0 \n 0 \n` when released).
struct LockValue {
    expires_ms: u64,
    ttl_ms: u64,
    token: String,
}

impl S3Store {
    /// Opens the store, sealing objects with the 32-byte key (see
    /// [`super::KeySource::parse_key_text`]), or with [`SealingKeys`] (a current key and
    /// previous ones, which only open); asks for the bucket once (HeadBucket), so that a wrong
    /// bucket, endpoint or credentials fail now.
    pub async fn connect(
        config: &S3Config,
        credentials: S3Credentials,
        keys: impl Into<SealingKeys>,
    ) -> Result<S3Store, StoreError> {
        let sealer = Arc::new(Sealer::new(&keys.into()));
        let region = config.region.clone().unwrap_or_else(|| "us-east-1".into());
        let backend =
            |endpoint: &str| format!("s3://{}/{} ({endpoint})", config.bucket, config.prefix);
        // Without user info: the endpoint is quoted in errors before it is checked.
        let shown = match config.endpoint.as_deref().map(url::Url::parse) {
            None => "AWS".to_owned(),
            Some(Ok(mut u)) => {
                let _ = (u.set_username(""), u.set_password(None));
                u.to_string()
            }
            Some(Err(_)) => "an invalid endpoint".to_owned(),
        };
        let invalid =
            |message: String| StoreError::Unavailable { backend: backend(&shown), message };
        config.check().map_err(invalid)?;
        let client = Client::new(&config.bucket, &region, config.endpoint.as_deref(), credentials)
            .map_err(invalid)?;
        let mut prefix = config.prefix.clone();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let store = S3Store {
            backend: format!("s3://{}/{prefix} ({})", config.bucket, client.origin()),
            client,
            sealer,
            prefix,
            renewals: Default::default(),
        };
        store.client.head_bucket().await.map_err(|e| store.unavailable(e))?;
        Ok(store)
    }

    /// `s3://bucket/prefix (endpoint)`.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    fn unavailable(&self, message: String) -> StoreError {
        StoreError::Unavailable { backend: self.backend.clone(), message }
    }

    fn entry_id(key: &StoreKey) -> String {
        sha256_hex(format!("{}\n{}\n{}", key.user, key.resource, key.issuer).as_bytes())
    }

    fn user_folder(&self, user: &str) -> String {
        format!("{}tok/{}/", self.prefix, sha256_hex(user.as_bytes()))
    }

    fn entry_name(&self, key: &StoreKey) -> String {
        format!("{}{}", self.user_folder(&key.user), Self::entry_id(key))
    }

    fn lock_name(&self, key: &StoreKey) -> String {
        format!("{}lock/{}", self.prefix, Self::entry_id(key))
    }

    fn sealed(&self, name: &str, plaintext: &str) -> Result<Vec<u8>, StoreError> {
        self.sealer
            .seal(name.as_bytes(), plaintext.as_bytes())
            .map_err(|reason| corrupt(name, reason))
    }

    fn opened(&self, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        Ok(self.opened_with(name, bytes)?.0)
    }

    fn opened_with(&self, name: &str, bytes: &[u8]) -> Result<(String, OpenedWith), StoreError> {
        let (plain, with) = self.sealer.open(name.as_bytes(), bytes).ok_or_else(|| {
            StoreError::Undecryptable { path: format!("{} object {name}", self.backend) }
        })?;
        Ok((String::from_utf8(plain).map_err(|e| corrupt(name, e.to_string()))?, with))
    }

    async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        match self.client.get(name).await.map_err(|e| self.unavailable(e))? {
            Outcome::Done(found) => Ok(Some(found)),
            Outcome::NotFound => Ok(None),
            Outcome::PreconditionFailed => Err(self.unavailable(format!("GET {name}: 412"))),
        }
    }

    /// Writes `bytes` under `name` if `condition` holds: `Some(new ETag)`, or `None` when it
    /// did not.
    async fn put(
        &self,
        name: &str,
        bytes: Vec<u8>,
        condition: Condition<'_>,
    ) -> Result<Option<String>, StoreError> {
        match self.client.put(name, bytes, condition).await.map_err(|e| self.unavailable(e))? {
            Outcome::Done(tag) => Ok(Some(tag)),
            Outcome::NotFound | Outcome::PreconditionFailed => Ok(None),
        }
    }

    /// Opens an expiring value: its text, or `None` when expired.
    fn open_expiring(&self, name: &str, bytes: &[u8]) -> Result<Option<String>, StoreError> {
        let text = self.opened(name, bytes)?;
        let (expires, rest) = text
            .split_once('\n')
            .and_then(|(e, r)| Some((e.parse::<u64>().ok()?, r)))
            .ok_or_else(|| corrupt(name, "no expiry time".into()))?;
        Ok((expires > now_ms()).then(|| rest.to_owned()))
    }

    /// The unexpired value of `name`; an expired one is deleted (that version only).
    async fn read_expiring(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        let Some((bytes, tag)) = self.get(name).await? else { return Ok(None) };
        match self.open_expiring(name, &bytes)? {
            Some(text) => Ok(Some((text, tag))),
            None => {
                // Best effort: an undeleted expired object still reads as absent.
                let _ = self.client.delete(name, Some(&tag)).await;
                Ok(None)
            }
        }
    }

    async fn read_entry(&self, name: &str) -> Result<Option<(StoreKey, StoredEntry)>, StoreError> {
        let Some((bytes, _)) = self.get(name).await? else { return Ok(None) };
        let text = self.opened(name, &bytes)?;
        StoredEntry::decode(&text, None).map(Some).map_err(|e| corrupt(name, e.to_string()))
    }

    fn lock_value(&self, name: &str, bytes: &[u8]) -> Result<LockValue, StoreError> {
        let text = self.opened(name, bytes)?;
        let mut parts = text.splitn(3, '\n');
        let mut number = || parts.next().and_then(|p| p.parse::<u64>().ok());
        let (Some(expires_ms), Some(ttl_ms)) = (number(), number()) else {
            return Err(corrupt(name, "not a lock".into()));
        };
        let token = parts.next().unwrap_or_default().to_owned();
        Ok(LockValue { expires_ms, ttl_ms, token })
    }

    fn sealed_lock(&self, name: &str, ttl_ms: u64, token: &str) -> Result<Vec<u8>, StoreError> {
        self.sealed(name, &format!("{}\n{ttl_ms}\n{token}", now_ms().saturating_add(ttl_ms)))
    }

    /// Pushes the expiry of lock `name` a lifetime ahead if it is still `token`'s and
    /// unexpired: `Ok(false)` when it is not.
    async fn renew(&self, name: &str, token: &str) -> Result<bool, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some((bytes, tag)) = self.get(name).await? else { return Ok(false) };
            let held = self.lock_value(name, &bytes)?;
            if held.token != token || held.expires_ms <= now_ms() {
                return Ok(false);
            }
            let value = self.sealed_lock(name, held.ttl_ms, token)?;
            if self.put(name, value, Condition::Matches(&tag)).await?.is_some() {
                return Ok(true);
            }
            // Lost to a concurrent renewal of the same holder, or taken: look again.
        }
        Ok(false)
    }

    /// Renews lock `name` every third of its lifetime while it still holds `token`, until
    /// [`TokenStore::unlock`] stops it or [`MAX_RENEWALS`] is reached.
    fn renew_while_held(&self, name: String, token: String, ttl_ms: u64) {
        let store = self.clone();
        let renewals = std::sync::Arc::clone(&self.renewals);
        let period = Duration::from_millis((ttl_ms / 3).max(1));
        let key = token.clone();
        let task = tokio::spawn(async move {
            for _ in 0..MAX_RENEWALS {
                tokio::time::sleep(period).await;
                // Lost (expired and taken) or S3 unreachable: the save will tell.
                if !matches!(store.renew(&name, &token).await, Ok(true)) {
                    break;
                }
            }
            renewals.lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
        });
        self.renewals.lock().unwrap_or_else(|p| p.into_inner()).insert(key, task.abort_handle());
    }
}

impl TokenStore for S3Store {
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
        Box::pin(async move {
            let name = self.entry_name(key);
            match self.read_entry(&name).await? {
                // The sealed entry names its key: a value moved onto another key is refused.
                Some((stored, _)) if &stored != key => Err(corrupt(
                    &name,
                    format!("it belongs to user {:?}, not {:?}", stored.user, key.user),
                )),
                Some((_, entry)) => Ok(Some(entry)),
                None => Ok(None),
            }
        })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.entry_name(key);
            let value = self.sealed(&name, &entry.encode(key))?;
            self.put(&name, value, Condition::None).await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.entry_name(key);
            self.client.delete(&name, None).await.map_err(|e| self.unavailable(e))?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
        Box::pin(async move {
            let names =
                self.client.list(&self.user_folder(user)).await.map_err(|e| self.unavailable(e))?;
            let mut keys = Vec::new();
            for name in names {
                if let Some((key, _)) = self.read_entry(&name).await? {
                    if key.user == user {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn lock<'a>(&'a self, key: &'a StoreKey, ttl: Duration) -> StoreFuture<'a, Option<StoreLock>> {
        Box::pin(async move {
            let mut token = [0u8; 16];
            getrandom::fill(&mut token)
                .map_err(|e| StoreError::InvalidKey(format!("no entropy for a lock token: {e}")))?;
            let token = sha256_hex(&token);
            let name = self.lock_name(key);
            let ttl_ms = ms(ttl);
            // Wait at most one lock lifetime plus a little: by then a crashed holder's lock
            // has expired.
            let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(2);
            loop {
                let condition_tag = match self.get(&name).await? {
                    None => Some(None),
                    Some((bytes, tag)) => {
                        let held = self.lock_value(&name, &bytes)?;
                        // Expired or released: take it over, if no one else does first.
                        (held.expires_ms <= now_ms()).then_some(Some(tag))
                    }
                };
                if let Some(tag) = condition_tag {
                    let condition = match &tag {
                        None => Condition::Absent,
                        Some(t) => Condition::Matches(t),
                    };
                    let value = self.sealed_lock(&name, ttl_ms, &token)?;
                    if self.put(&name, value, condition).await?.is_some() {
                        self.renew_while_held(name, token.clone(), ttl_ms);
                        return Ok(Some(StoreLock { key: key.clone(), token }));
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(StoreError::LockTimeout {
                        key: entry_label(key),
                        secs: ttl.as_secs() + 2,
                    });
                }
                tokio::time::sleep(LOCK_POLL).await;
            }
        })
    }

    fn save_locked<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: &'a StoredEntry,
        lock: &'a StoreLock,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.entry_name(key);
            let lost = || StoreError::LockLost { key: entry_label(key) };
            let current = match self.client.head(&name).await.map_err(|e| self.unavailable(e))? {
                Outcome::Done(tag) => Some(tag),
                Outcome::NotFound => None,
                Outcome::PreconditionFailed => {
                    return Err(self.unavailable(format!("HEAD {name}: 412")))
                }
            };
            if !self.renew(&self.lock_name(&lock.key), &lock.token).await? {
                return Err(lost());
            }
            let condition = match &current {
                Some(tag) => Condition::Matches(tag),
                None => Condition::Absent,
            };
            let value = self.sealed(&name, &entry.encode(key))?;
            match self.put(&name, value, condition).await? {
                Some(_) => Ok(()),
                None => Err(lost()),
            }
        })
    }

    fn unlock<'a>(&'a self, lock: &'a StoreLock) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let renewal =
                self.renewals.lock().unwrap_or_else(|p| p.into_inner()).remove(&lock.token);
            if let Some(task) = renewal {
                task.abort();
            }
            let name = self.lock_name(&lock.key);
            for _ in 0..CAS_ATTEMPTS {
                let Some((bytes, tag)) = self.get(&name).await? else { return Ok(()) };
                if self.lock_value(&name, &bytes)?.token != lock.token {
                    return Ok(());
                }
                let released = self.sealed(&name, "0\n0\n")?;
                if self.put(&name, released, Condition::Matches(&tag)).await?.is_some() {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}

/// How long [`ResealStore::reseal_entry`] holds an entry's refresh lock at most.
const RESEAL_LOCK_TTL: Duration = Duration::from_secs(30);

impl ResealStore for S3Store {
    /// ListObjectsV2 under `<prefix>tok/`.
    fn entry_names(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let folder = format!("{}tok/", self.prefix);
            let mut names = self.client.list(&folder).await.map_err(|e| self.unavailable(e))?;
            names.sort();
            Ok(names)
        })
    }

    /// Under the entry's refresh lock (a locked save checks the entry's ETag, so a re-seal
    /// between its read and its write would make it fail), then `If-Match` on the ETag read.
    /// Reads do not re-seal on S3 for the same reason: a read may run inside a locked refresh.
    fn reseal_entry<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Resealed> {
        Box::pin(async move {
            let Some((bytes, _)) = self.get(name).await? else { return Ok(Resealed::Gone) };
            let text = match stale_text(self.opened_with(name, &bytes))? {
                Ok(text) => text,
                Err(done) => return Ok(done),
            };
            let (key, _) =
                StoredEntry::decode(&text, None).map_err(|e| corrupt(name, e.to_string()))?;
            if self.entry_name(&key) != name {
                return Err(corrupt(name, "the entry names a key of another object".into()));
            }
            let Some(lock) = self.lock(&key, RESEAL_LOCK_TTL).await? else {
                return Err(corrupt(name, "no refresh lock".into()));
            };
            // Written meanwhile (a save without the lock): looked at again.
            let result = reseal_if_same(
                name.to_owned(),
                || self.get(name),
                |bytes| self.opened_with(name, bytes),
                |_, tag, text| async move {
                    let value = self.sealed(name, &text)?;
                    Ok(self.put(name, value, Condition::Matches(&tag)).await?.is_some())
                },
            )
            .await;
            let unlocked = self.unlock(&lock).await;
            let resealed = result?;
            unlocked?;
            Ok(resealed)
        })
    }
}

impl ExpiringRecords for S3Store {
    /// `<prefix><kind>/<hash>`.
    fn record_name(&self, kind: &str, hashed: &str) -> String {
        format!("{}{kind}/{hashed}", self.prefix)
    }

    /// The expiry time goes inside the sealed value: `<expires ms>\n<text>`.
    fn put_sealed<'a>(
        &'a self,
        name: &'a str,
        text: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let expires = now_ms().saturating_add(ms(ttl));
            let value = self.sealed(name, &format!("{expires}\n{text}"))?;
            self.put(name, value, Condition::None).await?;
            Ok(())
        })
    }

    /// The replica whose tombstone write (`If-Match` on the ETag it read) succeeds has it; then
    /// the object is deleted.
    fn take_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let Some((text, tag)) = self.read_expiring(name).await? else { return Ok(None) };
            let tombstone = self.sealed(name, "0\n")?;
            let Some(dead) = self.put(name, tombstone, Condition::Matches(&tag)).await? else {
                return Ok(None);
            };
            // Best effort: a tombstone left behind reads as expired.
            let _ = self.client.delete(name, Some(&dead)).await;
            Ok(Some(text))
        })
    }

    fn get_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(self.read_expiring(name).await?.map(|(text, _)| text)) })
    }
}
