//! [`MysqlStore`]: tokens, registrations and pending authorizations in one MySQL / MariaDB
//! table, shared by server replicas, with the contract of [`super::RedisStore`]: every value is
//! sealed like a [`super::FileStore`] entry (AES-256-GCM, with `<table>/<row name>` as
//! additional authenticated data), and row names are hashes, so the database never sees a
//! user name, token, `state` or PKCE verifier in clear.
//!
//! The table (created if missing; `token_storage: {type: mysql, url, table}`):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS <table> (
//!   name VARBINARY(255) NOT NULL PRIMARY KEY, -- kind:hash, below
//!   value LONGBLOB NOT NULL,                  -- sealed; a lock's random token
//!   version BIGINT UNSIGNED NOT NULL,         -- 1, then + 1 on every write
//!   expires_at BIGINT NULL,                   -- ms since the epoch (the server's clock)
//!   KEY (expires_at))
//! ```
//!
//! Rows:
//! - `tok:<hex(sha256(user))>:<hex(sha256(user \n resource \n issuer))>`: a sealed
//!   [`StoredEntry`], no expiry; [`TokenStore::list`] reads the rows under `tok:<user hash>:`
//!   (the primary key's prefix is the user index);
//! - `pending:`, `outcome:`, `link:` + `hex(sha256(state or id))`, `result:` +
//!   `hex(sha256(user \n request id))`: sealed records with an expiry;
//! - `lock:<the tok row's hashes>`: the refresh lock, a random token with an expiry.
//!
//! Expiry is a column compared with the server's clock (`UNIX_TIMESTAMP(NOW(3))`, so replicas'
//! clocks do not matter): an expired row reads as absent, is overwritten by the next write, and
//! expired rows are deleted now and then (every 64th write with an expiry, at most 100 rows).
//!
//! Refresh across replicas: the lock is taken by one statement (insert, or take over the row
//! when its expiry has passed) and read back; while held, a task renews its expiry every third
//! of its lifetime (only while the row still holds this holder's token). [`TokenStore::save_locked`]
//! runs in a transaction that first reads the lock row `FOR UPDATE` and writes the entry only
//! while the row still holds this holder's token and has not expired, so a holder whose lock
//! expired cannot overwrite a newer, rotated refresh token, and no one takes the lock between
//! the check and the write. Release is compare-and-delete on the token. Taking a pending record
//! or a consent link is `SELECT … FOR UPDATE` + `DELETE` in one transaction (one callback wins).
//!
//! Connection loss surfaces as [`StoreError::Unavailable`] naming `mysql://host:port/db` (never
//! the user or password); the pool opens new connections when the server is back (an operation
//! that fails on a pooled connection broken by a restart is retried once on a new one).
//!
//! Driver: `mysql_async` (features `minimal-rust`: no TLS, pure-Rust deflate) rather than `sqlx`
//! (`mysql` + `runtime-tokio`, no TLS), measured on this crate (`cargo tree -e normal -p
//! mcp-oauth --features mysql | wc -l`: 396 lines without a driver; `mysql_async` 470 (+74
//! lines, 40 crates new to the build, all Rust); `sqlx` 533 (+137 lines, 68 new crates, among
//! them `rsa`, `num-bigint-dig`, `futures-intrusive`, `dotenvy`, `whoami`). Both speak to
//! MariaDB 10.11 (Debian 12's); the lighter one was taken. Without TLS, use it on a private
//! network or through a local TLS tunnel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{IsolationLevel, Opts, OptsBuilder, Pool, PoolConstraints, TxOpts};

use super::expiring::ExpiringRecords;
use super::file::sha256_hex;
use super::pending::corrupt;
use super::reseal::{reseal_if_same, ResealStore, Resealed};
use super::seal::{OpenedWith, Sealer, SealingKeys};
use super::{StoreError, StoreFuture, StoreKey, StoreLock, StoredEntry, TokenStore};

/// A lock is renewed at most this many times (a holder stuck for longer loses it).
const MAX_RENEWALS: u32 = 60;
/// One operation (with its one retry) takes at most this long, then reports `Unavailable`.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// The pool's size when the URL does not set `pool_min` / `pool_max`.
const POOL_MAX: usize = 32;
/// The server's clock in milliseconds since the epoch.
const NOW_MS: &str = "(UNIX_TIMESTAMP(NOW(3)) * 1000)";

/// The statements, with the table name in place.
struct Sql {
    get: String,
    put: String,
    put_ttl: String,
    delete: String,
    list: String,
    lock: String,
    lock_check: String,
    renew: String,
    unlock: String,
    held_for_update: String,
    take: String,
    cleanup: String,
    entry_names: String,
    replace_if_same: String,
}

impl Sql {
    fn new(t: &str) -> Sql {
        let live = format!("(expires_at IS NULL OR expires_at > {NOW_MS})");
        let expired = format!("expires_at <= {NOW_MS}");
        Sql {
            get: format!("SELECT value FROM `{t}` WHERE name = ? AND {live}"),
            put: format!(
                "INSERT INTO `{t}` (name, value, version, expires_at) VALUES (?, ?, 1, NULL) \
                 ON DUPLICATE KEY UPDATE value = VALUES(value), version = version + 1, \
                 expires_at = NULL"
            ),
            put_ttl: format!(
                "INSERT INTO `{t}` (name, value, version, expires_at) \
                 VALUES (?, ?, 1, {NOW_MS} + ?) \
                 ON DUPLICATE KEY UPDATE value = VALUES(value), version = version + 1, \
                 expires_at = VALUES(expires_at)"
            ),
            delete: format!("DELETE FROM `{t}` WHERE name = ?"),
            list: format!("SELECT name, value FROM `{t}` WHERE name LIKE ? AND {live}"),
            // Assignments run left to right and see the columns already assigned: expires_at
            // is assigned last, so each condition sees the old expiry.
            lock: format!(
                "INSERT INTO `{t}` (name, value, version, expires_at) \
                 VALUES (?, ?, 1, {NOW_MS} + ?) \
                 ON DUPLICATE KEY UPDATE \
                 value = IF({expired}, VALUES(value), value), \
                 version = IF({expired}, version + 1, version), \
                 expires_at = IF({expired}, VALUES(expires_at), expires_at)"
            ),
            lock_check: format!(
                "SELECT COUNT(*) FROM `{t}` WHERE name = ? AND value = ? AND expires_at > {NOW_MS}"
            ),
            renew: format!(
                "UPDATE `{t}` SET expires_at = {NOW_MS} + ?, version = version + 1 \
                 WHERE name = ? AND value = ? AND expires_at > {NOW_MS}"
            ),
            unlock: format!("DELETE FROM `{t}` WHERE name = ? AND value = ?"),
            held_for_update: format!(
                "SELECT COUNT(*) FROM `{t}` WHERE name = ? AND value = ? AND expires_at > {NOW_MS} \
                 FOR UPDATE"
            ),
            take: format!("SELECT value FROM `{t}` WHERE name = ? AND {live} FOR UPDATE"),
            cleanup: format!("DELETE FROM `{t}` WHERE {expired} LIMIT 100"),
            entry_names: format!("SELECT name FROM `{t}` WHERE name LIKE 'tok:%' ORDER BY name"),
            replace_if_same: format!(
                "UPDATE `{t}` SET value = ?, version = version + 1 WHERE name = ? AND value = ?"
            ),
        }
    }
}

/// A [`TokenStore`] and [`super::PendingStore`] in a MySQL / MariaDB table. Cloning is cheap (one
/// connection pool, reconnecting by itself).
#[derive(Clone)]
pub struct MysqlStore {
    pool: Pool,
    sql: Arc<Sql>,
    table: String,
    sealer: Arc<Sealer>,
    /// The renewal tasks of the locks this process holds, by lock token.
    renewals: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
    /// Writes with an expiry so far (every 64th cleans up expired rows).
    expiring_writes: Arc<AtomicU64>,
    /// `mysql://host:port/db`, for error messages.
    backend: String,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlStore")
            .field("backend", &self.backend)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// `mysql://user:password@host:port/db?…` → `mysql://host:port/db` (no credentials, no
/// parameters); `mysql://(invalid URL)` when it does not parse.
fn backend_name(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "mysql://{}:{}{}",
            u.host_str().unwrap_or_default(),
            u.port().unwrap_or(3306),
            u.path()
        ),
        Err(_) => "mysql://(invalid URL)".to_owned(),
    }
}

/// Whether `table` is a plain MySQL identifier (letters, digits, `_`, `$`; 1 to 64), so that
/// it can be written into the statements.
pub fn valid_table_name(table: &str) -> bool {
    (1..=64).contains(&table.len())
        && table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && !table.bytes().all(|b| b.is_ascii_digit())
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX / 2).clamp(1, u64::MAX / 2)
}

fn key_text(key: &StoreKey) -> String {
    format!("({}, {}, {})", key.user, key.resource, key.issuer)
}

/// Runs `$body` (an expression using the pooled connection `$c`) with [`OP_TIMEOUT`], once
/// more on a new connection when a pooled one turns out broken (the server restarted).
macro_rules! with_conn {
    ($self:ident, |$c:ident| $body:expr) => {{
        let attempt = async {
            let mut tries = 0;
            loop {
                let result: Result<_, mysql_async::Error> = async {
                    #[allow(unused_mut)]
                    let mut $c = $self.pool.get_conn().await?;
                    $body
                }
                .await;
                match result {
                    Err(mysql_async::Error::Io(_)) if tries == 0 => tries += 1,
                    other => break other.map_err(|e| $self.unavailable(e.to_string())),
                }
            }
        };
        match tokio::time::timeout(OP_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => Err($self.unavailable(format!("no answer within {OP_TIMEOUT:?}"))),
        }
    }};
}

impl MysqlStore {
    /// Connects to `url` (`mysql://user:password@host:3306/database`), creates `table` if it
    /// is missing, and seals values with the 32-byte key (see
    /// [`super::KeySource::parse_key_text`]), or with [`SealingKeys`] (a current key and
    /// previous ones, which only open). Fails when the server cannot be reached now, the URL
    /// names no database, or `table` is not a plain identifier.
    pub async fn connect(
        url: &str,
        table: &str,
        keys: impl Into<SealingKeys>,
    ) -> Result<MysqlStore, StoreError> {
        let sealer = Arc::new(Sealer::new(&keys.into()));
        let backend = backend_name(url);
        let fail = |message: String| StoreError::Unavailable { backend: backend.clone(), message };
        if !valid_table_name(table) {
            return Err(fail(format!(
                "table name {table:?} is not a plain identifier (letters, digits, _ and $; at \
                 most 64)"
            )));
        }
        // The URL parser's errors quote a parameter, never the userinfo.
        let opts = Opts::from_url(url).map_err(|e| fail(format!("invalid URL: {e}")))?;
        if opts.db_name().is_none_or(str::is_empty) {
            return Err(fail("the URL names no database (mysql://HOST:3306/DATABASE)".into()));
        }
        // The pool keeps up to POOL_MAX idle connections for a minute (the driver's default
        // closes every returned connection above `pool_min` at once: a new connection per
        // operation). A URL's own pool parameters win.
        let given = |param: &str| url.contains(&format!("{param}="));
        let mut pool = opts.pool_opts().clone();
        if !given("pool_min") && !given("pool_max") {
            pool = pool.with_constraints(PoolConstraints::new(1, POOL_MAX).unwrap_or_default());
        }
        if !given("inactive_connection_ttl") {
            pool = pool.with_inactive_connection_ttl(Duration::from_secs(60));
        }
        if !given("reset_connection") {
            // No session state is used (no variables, temporary tables or locks outlive an
            // operation; an unfinished transaction is rolled back on return): one round trip
            // less per operation.
            pool = pool.with_reset_connection(false);
        }
        let builder = OptsBuilder::from_opts(opts).pool_opts(pool);
        let store = MysqlStore {
            pool: Pool::new(builder),
            sql: Arc::new(Sql::new(table)),
            table: table.to_owned(),
            sealer,
            renewals: Default::default(),
            expiring_writes: Default::default(),
            backend,
        };
        let create = format!(
            "CREATE TABLE IF NOT EXISTS `{table}` (\
             name VARBINARY(255) NOT NULL, \
             value LONGBLOB NOT NULL, \
             version BIGINT UNSIGNED NOT NULL DEFAULT 1, \
             expires_at BIGINT NULL, \
             PRIMARY KEY (name), \
             KEY expires_at (expires_at)\
             ) ENGINE=InnoDB"
        );
        with_conn!(store, |c| c.query_drop(&create).await)?;
        Ok(store)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn unavailable(&self, message: String) -> StoreError {
        StoreError::Unavailable { backend: self.backend.clone(), message }
    }

    fn entry_name(key: &StoreKey) -> String {
        let id = format!("{}\n{}\n{}", key.user, key.resource, key.issuer);
        format!("tok:{}:{}", sha256_hex(key.user.as_bytes()), sha256_hex(id.as_bytes()))
    }

    fn lock_name(key: &StoreKey) -> String {
        format!("lock:{}", &Self::entry_name(key)["tok:".len()..])
    }

    fn aad(&self, name: &str) -> Vec<u8> {
        format!("{}/{name}", self.table).into_bytes()
    }

    fn sealed(&self, name: &str, plaintext: &str) -> Result<Vec<u8>, StoreError> {
        self.sealer
            .seal(&self.aad(name), plaintext.as_bytes())
            .map_err(|reason| corrupt(name, reason))
    }

    fn opened(&self, name: &str, bytes: &[u8]) -> Result<String, StoreError> {
        Ok(self.opened_with(name, bytes)?.0)
    }

    fn opened_with(&self, name: &str, bytes: &[u8]) -> Result<(String, OpenedWith), StoreError> {
        let (plain, with) = self.sealer.open(&self.aad(name), bytes).ok_or_else(|| {
            StoreError::Undecryptable { path: format!("mysql row {name} of {}", self.table) }
        })?;
        Ok((String::from_utf8(plain).map_err(|e| corrupt(name, e.to_string()))?, with))
    }

    /// The entry in row `name` (value `bytes`); one opened with a previous key is re-sealed
    /// with the current key at once (best effort: the entry read fine).
    async fn decode(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(StoreKey, StoredEntry), StoreError> {
        let (text, with) = self.opened_with(name, bytes)?;
        let found = StoredEntry::decode(&text, None).map_err(|e| corrupt(name, e.to_string()))?;
        if with == OpenedWith::Previous {
            let _ = self.replace_if_same(name, bytes, &text).await;
        }
        Ok(found)
    }

    /// Writes `plain` sealed with the current key in row `name` if its value is still `old`:
    /// whether it was written.
    async fn replace_if_same(
        &self,
        name: &str,
        old: &[u8],
        plain: &str,
    ) -> Result<bool, StoreError> {
        let value = self.sealed(name, plain)?;
        let sql = &self.sql;
        with_conn!(self, |c| {
            c.exec_drop(&sql.replace_if_same, (&value, name, old)).await?;
            Ok(c.affected_rows() == 1)
        })
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = &self.sql;
        with_conn!(self, |c| c.exec_first(&sql.get, (name,)).await)
    }

    /// Renews lock `name` every third of its lifetime while it still holds `token`, until
    /// [`TokenStore::unlock`] stops it or [`MAX_RENEWALS`] is reached.
    fn renew_while_held(&self, name: String, token: String, ttl_ms: u64) {
        let store = self.clone();
        let period = Duration::from_millis((ttl_ms / 3).max(1));
        let key = token.clone();
        let task = tokio::spawn(async move {
            let sql = Arc::clone(&store.sql);
            for _ in 0..MAX_RENEWALS {
                tokio::time::sleep(period).await;
                let renewed: Result<u64, StoreError> = with_conn!(store, |c| {
                    c.exec_drop(&sql.renew, (ttl_ms, &name, &token)).await?;
                    Ok(c.affected_rows())
                });
                // Lost (expired and taken) or the server unreachable: the save will tell.
                if !matches!(renewed, Ok(1)) {
                    break;
                }
            }
            store.renewals.lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
        });
        self.renewals.lock().unwrap_or_else(|p| p.into_inner()).insert(key, task.abort_handle());
    }
}

impl TokenStore for MysqlStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
        Box::pin(async move {
            let name = Self::entry_name(key);
            let Some(bytes) = self.get(&name).await? else { return Ok(None) };
            let (stored, entry) = self.decode(&name, &bytes).await?;
            // The sealed entry names its key: a value moved onto another key is refused.
            if &stored != key {
                return Err(corrupt(
                    &name,
                    format!("it belongs to user {:?}, not {:?}", stored.user, key.user),
                ));
            }
            Ok(Some(entry))
        })
    }

    fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = Self::entry_name(key);
            let value = self.sealed(&name, &entry.encode(key))?;
            let sql = &self.sql;
            with_conn!(self, |c| c.exec_drop(&sql.put, (&name, &value)).await)
        })
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let name = Self::entry_name(key);
            let sql = &self.sql;
            with_conn!(self, |c| c.exec_drop(&sql.delete, (&name,)).await)
        })
    }

    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
        Box::pin(async move {
            // Hex digits and `:` only: nothing LIKE would read as a wildcard.
            let pattern = format!("tok:{}:%", sha256_hex(user.as_bytes()));
            let sql = &self.sql;
            let rows: Vec<(Vec<u8>, Vec<u8>)> =
                with_conn!(self, |c| c.exec(&sql.list, (&pattern,)).await)?;
            let mut keys = Vec::new();
            for (name, value) in rows {
                let name = String::from_utf8_lossy(&name).into_owned();
                let (key, _) = self.decode(&name, &value).await?;
                if key.user == user {
                    keys.push(key);
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
            let name = Self::lock_name(key);
            let ms = ttl_ms(ttl);
            // Wait at most one lock lifetime plus a little: by then a crashed holder's lock
            // has expired.
            let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(2);
            let sql = &self.sql;
            loop {
                let held: u64 = with_conn!(self, |c| {
                    c.exec_drop(&sql.lock, (&name, token.as_bytes(), ms)).await?;
                    let n: Option<u64> =
                        c.exec_first(&sql.lock_check, (&name, token.as_bytes())).await?;
                    Ok(n.unwrap_or(0))
                })?;
                if held == 1 {
                    self.renew_while_held(name, token.clone(), ms);
                    return Ok(Some(StoreLock { key: key.clone(), token }));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(StoreError::LockTimeout {
                        key: key_text(key),
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
            let name = Self::entry_name(key);
            let value = self.sealed(&name, &entry.encode(key))?;
            let lock_name = Self::lock_name(&lock.key);
            let sql = &self.sql;
            let written = with_conn!(self, |c| {
                let mut opts = TxOpts::new();
                opts.with_isolation_level(IsolationLevel::ReadCommitted);
                let mut tx = c.start_transaction(opts).await?;
                let held: Option<u64> = tx
                    .exec_first(&sql.held_for_update, (&lock_name, lock.token.as_bytes()))
                    .await?;
                if held != Some(1) {
                    tx.rollback().await?;
                    return Ok(false);
                }
                tx.exec_drop(&sql.put, (&name, &value)).await?;
                tx.commit().await?;
                Ok(true)
            })?;
            if written {
                Ok(())
            } else {
                Err(StoreError::LockLost { key: key_text(key) })
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
            let name = Self::lock_name(&lock.key);
            let sql = &self.sql;
            with_conn!(self, |c| c.exec_drop(&sql.unlock, (&name, lock.token.as_bytes())).await)
        })
    }
}

impl ResealStore for MysqlStore {
    fn entry_names(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let sql = &self.sql;
            let names: Vec<Vec<u8>> = with_conn!(self, |c| c.query(&sql.entry_names).await)?;
            Ok(names.into_iter().map(|n| String::from_utf8_lossy(&n).into_owned()).collect())
        })
    }

    fn reseal_entry<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Resealed> {
        Box::pin(reseal_if_same(
            format!("mysql row {name}"),
            move || async move { Ok(self.get(name).await?.map(|bytes| (bytes, ()))) },
            |bytes| self.opened_with(name, bytes),
            move |old, (), text| async move { self.replace_if_same(name, &old, &text).await },
        ))
    }
}

impl ExpiringRecords for MysqlStore {
    /// `<kind>:<hash>` (the table is the deployment's own).
    fn record_name(&self, kind: &str, hashed: &str) -> String {
        format!("{kind}:{hashed}")
    }

    /// Now and then also deletes expired rows.
    fn put_sealed<'a>(
        &'a self,
        name: &'a str,
        text: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let value = self.sealed(name, text)?;
            let sql = &self.sql;
            let cleanup = self.expiring_writes.fetch_add(1, Ordering::Relaxed) % 64 == 63;
            with_conn!(self, |c| {
                c.exec_drop(&sql.put_ttl, (name, &value, ttl_ms(ttl))).await?;
                if cleanup {
                    c.query_drop(&sql.cleanup).await?;
                }
                Ok(())
            })
        })
    }

    /// Read and deleted in one transaction (`SELECT … FOR UPDATE`), so single use across
    /// replicas.
    fn take_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let sql = &self.sql;
            let bytes: Option<Vec<u8>> = with_conn!(self, |c| {
                let mut opts = TxOpts::new();
                opts.with_isolation_level(IsolationLevel::ReadCommitted);
                let mut tx = c.start_transaction(opts).await?;
                let bytes: Option<Vec<u8>> = tx.exec_first(&sql.take, (name,)).await?;
                if bytes.is_some() {
                    tx.exec_drop(&sql.delete, (name,)).await?;
                }
                tx.commit().await?;
                Ok(bytes)
            })?;
            bytes.map(|b| self.opened(name, &b)).transpose()
        })
    }

    fn get_sealed<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { self.get(name).await?.map(|b| self.opened(name, &b)).transpose() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_carry_no_credentials() {
        assert_eq!(
            backend_name("mysql://app:s3cret@db.example:3307/tokens?pool_max=5"),
            "mysql://db.example:3307/tokens"
        );
        assert_eq!(backend_name("mysql://db.example/tokens"), "mysql://db.example:3306/tokens");
        assert_eq!(backend_name("not a url s3cret"), "mysql://(invalid URL)");
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        for ok in ["mcp_oauth_tokens", "t", "T$1", &"a".repeat(64)] {
            assert!(valid_table_name(ok), "{ok}");
        }
        for bad in ["", "a`b", "a b", "a;drop", "123", "naïve", &"a".repeat(65), "db.t"] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_connecting() {
        let key = [7u8; 32];
        let err =
            MysqlStore::connect("mysql://u:pw@127.0.0.1:9/db", "a`b", &key).await.unwrap_err();
        assert!(err.to_string().contains("table name"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
        let err = MysqlStore::connect("mysql://u:pw@127.0.0.1:9", "t", &key).await.unwrap_err();
        assert!(err.to_string().contains("names no database"), "{err}");
        // Nothing listens on port 9: unavailable, named without the password.
        let err = MysqlStore::connect("mysql://u:pw@127.0.0.1:9/db", "t", &key).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{text}");
        assert!(text.contains("mysql://127.0.0.1:9/db") && !text.contains("pw"), "{text}");
    }
}
