//! [`RedisStore`]: tokens, registrations and pending authorizations in Redis, shared by server
//! replicas. Every value that holds a secret is sealed like a [`super::FileStore`] entry
//! (AES-256-GCM, the Redis key name as additional authenticated data), so Redis never sees a
//! token or PKCE verifier in clear.
//!
//! Keys (under a prefix, `mcp-oauth:` by default):
//! - `tok:<hex(sha256(user \n resource \n issuer))>`: a sealed [`StoredEntry`];
//! - `user:<hex(sha256(user))>`: the set of a user's `tok:` keys ([`TokenStore::list`]);
//! - `pending:<hex(sha256(state))>`: a sealed [`PendingRecord`](super::PendingRecord), with a
//!   TTL;
//! - `outcome:<hex(sha256(state))>`: a sealed [`ConsentOutcome`](super::ConsentOutcome), with a
//!   TTL;
//! - `link:<hex(sha256(id))>`: a sealed [`ConsentLink`](super::ConsentLink) (it holds the
//!   `state`), with a TTL;
//! - `result:<hex(sha256(user \n request id))>`: a sealed
//!   [`RequestRecord`](super::RequestRecord), with a TTL;
//! - `lock:<hex(...)>`: the refresh lock of a `tok:` key: `SET NX PX` with a random token.
//!
//! Refresh across replicas: the client takes the lock, re-reads the entry (another replica may
//! have refreshed already: then it uses those tokens), refreshes, and saves with a script that
//! writes only while the lock still holds its token (compare-and-set). A holder whose lock
//! expired therefore cannot overwrite a newer, rotated refresh token; release is
//! compare-and-delete. While the lock is held, a task renews its expiry every third of its
//! lifetime (compare-and-expire on the token), so a refresh slower than the lifetime (the HTTP
//! timeout is longer) keeps the lock and its rotated refresh token is saved, not refused; a
//! crashed holder stops renewing and its lock expires. Connection loss surfaces as [`StoreError::Unavailable`]; the connection
//! manager reconnects by itself when Redis is back.

use std::time::Duration;

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use super::expiring::ExpiringRecords;
use super::file::sha256_hex;
use super::pending::corrupt;
use super::reseal::{reseal_if_same, ResealStore, Resealed};
use super::seal::{OpenedWith, Sealer, SealingKeys};
use super::{StoreError, StoreFuture, StoreKey, StoreLock, StoredEntry, TokenStore};

const SAVE_LOCKED: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], KEYS[2])
return 1
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// A lock is renewed at most this many times (a holder stuck for longer loses it).
const MAX_RENEWALS: u32 = 60;

/// Replaces a value only while it is still the one read (a re-seal never overwrites a newer
/// write).
const REPLACE_IF_SAME: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A [`TokenStore`] and [`super::PendingStore`] in Redis. Cloning is cheap (one multiplexed
/// connection, reconnecting by itself).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// The renewal tasks of the locks this process holds, by lock token.
    renewals: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>,
    >,
    sealer: Arc<Sealer>,
    prefix: String,
    /// The URL without credentials, for error messages.
    backend: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`), sealing values with the 32-byte key (see
    /// [`super::KeySource::parse_key_text`]), or with [`SealingKeys`] (a current key and
    /// previous ones, which only open). Fails when Redis cannot be reached now.
    pub async fn connect(
        url: &str,
        keys: impl Into<SealingKeys>,
    ) -> Result<RedisStore, StoreError> {
        let sealer = Arc::new(Sealer::new(&keys.into()));
        let backend = redacted(url);
        let unavailable = |e: redis::RedisError| StoreError::Unavailable {
            backend: backend.clone(),
            message: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        Ok(RedisStore {
            conn,
            renewals: Default::default(),
            sealer,
            prefix: "mcp-oauth:".to_owned(),
            backend,
        })
    }

    /// Uses `prefix` before every key (several deployments in one Redis database).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    fn unavailable(&self, e: redis::RedisError) -> StoreError {
        StoreError::Unavailable { backend: self.backend.clone(), message: e.to_string() }
    }

    fn entry_key(&self, key: &StoreKey) -> String {
        let id = format!("{}\n{}\n{}", key.user, key.resource, key.issuer);
        format!("{}tok:{}", self.prefix, sha256_hex(id.as_bytes()))
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}user:{}", self.prefix, sha256_hex(user.as_bytes()))
    }

    fn lock_key(&self, key: &StoreKey) -> String {
        let entry = self.entry_key(key);
        format!("{}lock:{}", self.prefix, &entry[self.prefix.len() + 4..])
    }

    /// Renews lock `name` every third of its lifetime while it still holds `token`, until
    /// [`TokenStore::unlock`] stops it or [`MAX_RENEWALS`] is reached.
    fn renew_while_held(&self, name: String, token: String, ttl_ms: u64) {
        let mut conn = self.conn.clone();
        let (key, renewals) = (token.clone(), std::sync::Arc::clone(&self.renewals));
        let period = Duration::from_millis((ttl_ms / 3).max(1));
        let task = tokio::spawn(async move {
            for _ in 0..MAX_RENEWALS {
                tokio::time::sleep(period).await;
                let renewed: Result<i64, _> = redis::Script::new(RENEW)
                    .key(&name)
                    .arg(&token)
                    .arg(ttl_ms)
                    .invoke_async(&mut conn)
                    .await;
                // Lost (expired and taken) or Redis unreachable: the save will tell.
                if !matches!(renewed, Ok(1)) {
                    break;
                }
            }
            renewals.lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
        });
        self.renewals.lock().unwrap_or_else(|p| p.into_inner()).insert(key, task.abort_handle());
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
        let (plain, with) = self
            .sealer
            .open(name.as_bytes(), bytes)
            .ok_or_else(|| StoreError::Undecryptable { path: format!("redis key {name}") })?;
        Ok((String::from_utf8(plain).map_err(|e| corrupt(name, e.to_string()))?, with))
    }

    /// Writes `plain` sealed with the current key under `name` if its value is still `old`:
    /// whether it was written.
    async fn replace_if_same(
        &self,
        name: &str,
        old: &[u8],
        plain: &str,
    ) -> Result<bool, StoreError> {
        let value = self.sealed(name, plain)?;
        let mut conn = self.conn.clone();
        let written: i64 = redis::Script::new(REPLACE_IF_SAME)
            .key(name)
            .arg(old)
            .arg(value)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(written == 1)
    }

    /// The value of `name`, as stored.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        conn.get(name).await.map_err(|e| self.unavailable(e))
    }

    async fn read_entry(&self, name: &str) -> Result<Option<(StoreKey, StoredEntry)>, StoreError> {
        let Some(bytes) = self.get(name).await? else { return Ok(None) };
        let (text, with) = self.opened_with(name, &bytes)?;
        let found = StoredEntry::decode(&text, None).map_err(|e| corrupt(name, e.to_string()))?;
        if with == OpenedWith::Previous {
            // Re-sealed with the current key at once (best effort: the entry read fine).
            let _ = self.replace_if_same(name, &bytes, &text).await;
        }
        Ok(Some(found))
    }
}

impl TokenStore for RedisStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
        Box::pin(async move {
            let name = self.entry_key(key);
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
            let name = self.entry_key(key);
            let value = self.sealed(&name, &entry.encode(key))?;
            let mut conn = self.conn.clone();
            redis::pipe()
                .atomic()
                .set(&name, value)
                .sadd(self.user_key(&key.user), &name)
                .exec_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(e))
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = self.entry_key(key);
            let mut conn = self.conn.clone();
            redis::pipe()
                .atomic()
                .del(&name)
                .srem(self.user_key(&key.user), &name)
                .exec_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(e))
        })
    }

    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let names: Vec<String> =
                conn.smembers(self.user_key(user)).await.map_err(|e| self.unavailable(e))?;
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
            let name = self.lock_key(key);
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            // Wait at most one lock lifetime plus a little: by then a crashed holder's lock
            // has expired.
            let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(2);
            let mut conn = self.conn.clone();
            loop {
                let got: Option<String> = redis::cmd("SET")
                    .arg(&name)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.unavailable(e))?;
                if got.is_some() {
                    self.renew_while_held(name, token.clone(), ttl_ms);
                    return Ok(Some(StoreLock { key: key.clone(), token }));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(StoreError::LockTimeout {
                        key: format!("({}, {}, {})", key.user, key.resource, key.issuer),
                        secs: ttl.as_secs() + 2,
                    });
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
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
            let name = self.entry_key(key);
            let value = self.sealed(&name, &entry.encode(key))?;
            let mut conn = self.conn.clone();
            let written: i64 = redis::Script::new(SAVE_LOCKED)
                .key(self.lock_key(&lock.key))
                .key(&name)
                .key(self.user_key(&key.user))
                .arg(&lock.token)
                .arg(value)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(e))?;
            if written == 1 {
                Ok(())
            } else {
                Err(StoreError::LockLost {
                    key: format!("({}, {}, {})", key.user, key.resource, key.issuer),
                })
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
            let mut conn = self.conn.clone();
            let _: i64 = redis::Script::new(UNLOCK)
                .key(self.lock_key(&lock.key))
                .arg(&lock.token)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(e))?;
            Ok(())
        })
    }
}

impl ResealStore for RedisStore {
    /// `SCAN` over `<prefix>tok:*`.
    fn entry_names(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut pattern = String::new();
            for c in self.prefix.chars() {
                if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push_str("tok:*");
            let mut conn = self.conn.clone();
            let mut names = Vec::new();
            let mut cursor = 0u64;
            loop {
                let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.unavailable(e))?;
                names.extend(page);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            // SCAN may return a key more than once.
            names.sort();
            names.dedup();
            Ok(names)
        })
    }

    fn reseal_entry<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Resealed> {
        Box::pin(reseal_if_same(
            format!("redis key {name}"),
            move || async move { Ok(self.get(name).await?.map(|bytes| (bytes, ()))) },
            |bytes| self.opened_with(name, bytes),
            move |old, (), text| async move { self.replace_if_same(name, &old, &text).await },
        ))
    }
}

impl ExpiringRecords for RedisStore {
    /// `<prefix><kind>:<hash>`.
    fn record_name(&self, kind: &str, hashed: &str) -> String {
        format!("{}{kind}:{hashed}", self.prefix)
    }

    fn put_sealed<'a>(
        &'a self,
        name: &'a str,
        text: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let value = self.sealed(name, text)?;
            let mut conn = self.conn.clone();
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            conn.pset_ex::<_, _, ()>(name, value, ttl_ms).await.map_err(|e| self.unavailable(e))
        })
    }

    /// `GETDEL`: read and deleted in one step, so single use across replicas.
    fn take_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let bytes: Option<Vec<u8>> = redis::cmd("GETDEL")
                .arg(name)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.unavailable(e))?;
            bytes.map(|b| self.opened(name, &b)).transpose()
        })
    }

    fn get_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { self.get(name).await?.map(|b| self.opened(name, &b)).transpose() })
    }
}
