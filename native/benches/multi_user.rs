//! The multi-user server at 100 000 idle sessions: memory per idle session (bytes allocated,
//! counted by a wrapping global allocator) and the time to find a user's session and token.
//!
//! Run: `cargo bench -p mcp-oauth --features server,redis --bench multi_user`
//! (the Redis lookup runs when `redis-server` is on PATH; it starts one on a free port); with
//! `--features server,redis,mysql` also the MySQL store, against a `mariadbd` it starts
//! (tests/support/mariadb.rs); the file store in a temporary directory; with feature `s3` the S3
//! store against moto's server (tests/support/s3.rs; `python3 -m moto.server` must work).
//! `MULTI_USER_STORES=file,s3` sets up only the stores named (memory always; also `redis`,
//! `mysql`); `MULTI_USER_S3_ENTRIES` is how many entries the S3 bucket gets (default 100 000);
//! `MULTI_USER_SESSIONS` how many users each store holds (default 100 000).
//!
//! Per store: `load` of a cold session's entry, and the store's part of one refresh (take the
//! refresh lock, re-read the entry, save it under the lock, release), without the HTTP call.
//!
//! A session here is what the server keeps per (user, MCP server) after the user was served and
//! went idle: the manager's entry, the `OAuthClient` with its flow loaded (tokens, registration)
//! and no open MCP connection (the example would keep one; its cost is the rmcp client's and is
//! not counted). The store's own entries are counted separately.

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_oauth::core::registration::{ClientRegistration, IdentitySource};
use mcp_oauth::core::secret::{AccessToken, RefreshToken};
use mcp_oauth::core::time::UnixTime;
use mcp_oauth::core::token::{TokenEndpointAuth, TokenSet};
use mcp_oauth::server::{ServerConfig, UserManager};
use mcp_oauth::store::{MemoryStore, RedisStore, StoreKey, StoredEntry, TokenStore};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Users (and idle sessions) per store: 100 000, or `MULTI_USER_SESSIONS` for a quick run.
fn sessions() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("MULTI_USER_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
    })
}
const MCP_URL: &str = "http://127.0.0.1:9/mcp";
const ISSUER: &str = "http://127.0.0.1:9";

fn user(i: usize) -> String {
    format!("user-{i:06}@example.test")
}

fn entry(i: usize) -> StoredEntry {
    let tokens = TokenSet {
        access_token: AccessToken::new(format!("at-{i:06}-{}", "x".repeat(40))),
        token_type: "Bearer".into(),
        refresh_token: Some(RefreshToken::new(format!("rt-{i:06}-{}", "y".repeat(40)))),
        expires_at: Some(UnixTime(4_000_000_000)),
        scope: Some("mcp:tools".into()),
        id_token: None,
        received_at: UnixTime(1_800_000_000),
    };
    let registration = ClientRegistration {
        issuer: ISSUER.into(),
        client_id: format!("client-{i:06}"),
        client_secret: None,
        client_secret_expires_at: None,
        auth_method: TokenEndpointAuth::None,
        redirect_uri: "http://localhost:8000/auth/redirect".into(),
        source: IdentitySource::Dynamic,
    };
    StoredEntry { tokens: Some(tokens), registration: Some(registration), ..Default::default() }
}

fn key(i: usize) -> StoreKey {
    StoreKey { user: user(i), resource: MCP_URL.into(), issuer: ISSUER.into() }
}

fn net_bytes(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = Arc::new(MemoryStore::new());

    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for i in 0..sessions() {
            store.save(&key(i), &entry(i)).await.expect("save");
        }
    });
    let store_bytes = net_bytes(&region);

    let mut config = ServerConfig::new(store.clone(), store.clone()).expect("config");
    config.servers.push(("demo".into(), MCP_URL.into()));
    config.max_sessions = sessions() * 2;
    let manager = UserManager::new(Arc::new(config));
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for i in 0..sessions() {
            let s = manager.get(&user(i), "demo").expect("session");
            // Loads the flow from the store: the session now holds the user's tokens.
            s.client.access_token().await.expect("token");
        }
    });
    let session_bytes = net_bytes(&region);
    eprintln!(
        "memory: {} idle sessions: {:.1} MiB, {} B per session; store entries: {} B per user",
        sessions(),
        session_bytes as f64 / 1048576.0,
        session_bytes / sessions() as i64,
        store_bytes / sessions() as i64,
    );

    let mut g = c.benchmark_group("multi_user_100k");
    let mut i = 0usize;
    g.bench_function("session lookup + access_token (warm, in memory)", |b| {
        b.to_async(&rt).iter(|| {
            i = (i * 7919 + 13) % sessions();
            let s = manager.get(&user(i), "demo").expect("session");
            async move { s.client.access_token().await.expect("token") }
        })
    });
    let mut j = 0usize;
    g.bench_function("MemoryStore::load (cold session)", |b| {
        b.to_async(&rt).iter(|| {
            j = (j * 7919 + 13) % sessions();
            let k = key(j);
            let store = store.clone();
            async move { store.load(&k).await.expect("load").expect("entry") }
        })
    });
    let mut m = 0usize;
    g.bench_function("MemoryStore refresh round (load, save)", |b| {
        b.to_async(&rt).iter(|| {
            m = (m * 7919 + 17) % sessions();
            let k = key(m);
            let store = store.clone();
            async move { refresh_round(store.as_ref(), &k).await }
        })
    });

    if !wanted("redis") {
        eprintln!("MULTI_USER_STORES leaves out redis");
    } else if let Some(redis) = rt.block_on(start_redis()) {
        let (child, store) = redis;
        rt.block_on(async {
            for i in 0..sessions() {
                store.save(&key(i), &entry(i)).await.expect("save");
            }
        });
        let mut k = 0usize;
        g.bench_function("RedisStore::load (cold session, decrypt)", |b| {
            b.to_async(&rt).iter(|| {
                k = (k * 7919 + 13) % sessions();
                let key = key(k);
                let store = store.clone();
                async move { store.load(&key).await.expect("load").expect("entry") }
            })
        });
        let mut r = 0usize;
        g.bench_function("RedisStore refresh round (lock, load, save_locked, unlock)", |b| {
            b.to_async(&rt).iter(|| {
                r = (r * 7919 + 17) % sessions();
                let key = key(r);
                let store = store.clone();
                async move { refresh_round(&store, &key).await }
            })
        });
        drop(child);
    } else {
        eprintln!("redis-server not found: RedisStore lookup skipped");
    }
    #[cfg(feature = "mysql")]
    if wanted("mysql") {
        bench_mysql(&rt, &mut g);
    }
    if wanted("file") {
        bench_file(&rt, &mut g);
    }
    #[cfg(feature = "s3")]
    if wanted("s3") {
        bench_s3(&rt, &mut g);
    }
    g.finish();
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_redis() -> Option<(Child, RedisStore)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let child = Child(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let store =
                RedisStore::connect(&format!("redis://127.0.0.1:{port}/"), &[9; 32]).await.ok()?;
            return Some((child, store));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The store's part of one refresh (src/client.rs: lock, re-read, save under the lock, unlock).
async fn refresh_round(store: &dyn TokenStore, k: &StoreKey) {
    let lock = store.lock(k, Duration::from_secs(30)).await.expect("lock");
    let entry = store.load(k).await.expect("load").expect("entry");
    match &lock {
        Some(lock) => store.save_locked(k, &entry, lock).await.expect("save"),
        None => store.save(k, &entry).await.expect("save"),
    }
    if let Some(lock) = lock {
        store.unlock(&lock).await.expect("unlock");
    }
}

#[cfg(feature = "mysql")]
#[path = "../tests/support/mariadb.rs"]
#[allow(missing_docs)]
mod mariadb;

/// Load and refresh against a `mariadbd` of its own, 100 000 entries in its table.
#[cfg(feature = "mysql")]
fn bench_mysql(
    rt: &tokio::runtime::Runtime,
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    use mcp_oauth::store::MysqlStore;
    if std::process::Command::new("mariadbd").arg("--version").output().is_err() {
        eprintln!("mariadbd not found: MysqlStore skipped");
        return;
    }
    let db = rt.block_on(mariadb::Mariadb::start());
    let store =
        rt.block_on(MysqlStore::connect(&db.url(), "bench_tokens", &[9; 32])).expect("connect");
    rt.block_on(fill(&store, sessions(), 16));
    let mut k = 0usize;
    g.bench_function("MysqlStore::load (cold session, decrypt)", |b| {
        b.to_async(rt).iter(|| {
            k = (k * 7919 + 13) % sessions();
            let key = key(k);
            let store = store.clone();
            async move { store.load(&key).await.expect("load").expect("entry") }
        })
    });
    let mut r = 0usize;
    g.bench_function("MysqlStore refresh round (lock, load, save_locked, unlock)", |b| {
        b.to_async(rt).iter(|| {
            r = (r * 7919 + 17) % sessions();
            let key = key(r);
            let store = store.clone();
            async move { refresh_round(&store, &key).await }
        })
    });
    drop(db);
}

/// Whether `MULTI_USER_STORES` (comma-separated; unset: all) names `store`.
fn wanted(store: &str) -> bool {
    match std::env::var("MULTI_USER_STORES") {
        Ok(list) => list.split(',').any(|s| s.trim() == store),
        Err(_) => true,
    }
}

/// Saves entries `0..n` into `store`, `writers` at a time (the fill is not what is measured).
async fn fill(store: &dyn TokenStore, n: usize, writers: usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let one = || async {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                break;
            }
            store.save(&key(i), &entry(i)).await.expect("save");
        }
    };
    futures_util::future::join_all((0..writers).map(|_| one())).await;
}

/// Load and refresh against the file store: 100 000 entry files in a temporary directory
/// (each write synced to disk; the refresh lock is `flock` on the entry's lock file).
fn bench_file(
    rt: &tokio::runtime::Runtime,
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    use mcp_oauth::store::{FileStore, KeySource};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("mcp-oauth-bench-file-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temporary directory");
    let store = FileStore::open(dir.path(), KeySource::Bytes([9; 32])).expect("file store");
    let started = std::time::Instant::now();
    rt.block_on(fill(&store, sessions(), 16));
    eprintln!("file store: {} entries written in {:?}", sessions(), started.elapsed());
    let mut k = 0usize;
    g.bench_function("FileStore::load (cold session, decrypt)", |b| {
        b.to_async(rt).iter(|| {
            k = (k * 7919 + 13) % sessions();
            let key = key(k);
            let store = store.clone();
            async move { store.load(&key).await.expect("load").expect("entry") }
        })
    });
    let mut r = 0usize;
    g.bench_function("FileStore refresh round (lock, load, save_locked, unlock)", |b| {
        b.to_async(rt).iter(|| {
            r = (r * 7919 + 17) % sessions();
            let key = key(r);
            let store = store.clone();
            async move { refresh_round(&store, &key).await }
        })
    });
    drop(dir);
}

#[cfg(feature = "s3")]
#[path = "../tests/support/s3.rs"]
#[allow(missing_docs)]
mod s3;

/// What tests/support/s3.rs needs of the test support.
#[cfg(feature = "s3")]
mod multi {
    pub fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("address").port()
    }
}

/// Load and refresh against the S3 store on moto's server (a Python process handling one
/// request at a time, tests/support/s3.rs), `MULTI_USER_S3_ENTRIES` entries in its bucket.
#[cfg(feature = "s3")]
fn bench_s3(
    rt: &tokio::runtime::Runtime,
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    use mcp_oauth::store::{S3Config, S3Credentials, S3Store};
    let moto_ok = std::process::Command::new("python3")
        .args(["-c", "import moto.server"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !moto_ok {
        eprintln!("moto not installed (pip install 'moto[server]'): S3Store skipped");
        return;
    }
    let entries: usize = std::env::var("MULTI_USER_S3_ENTRIES")
        .ok()
        .map(|v| v.parse().expect("MULTI_USER_S3_ENTRIES: a number"))
        .unwrap_or(sessions());
    let moto = s3::Moto::start();
    let mut config = S3Config::new(s3::BUCKET);
    config.endpoint = Some(moto.endpoint());
    config.region = Some("eu-west-1".into());
    let credentials = S3Credentials::new("AKIDTEST", "bench-secret", None);
    let store =
        rt.block_on(S3Store::connect(&config, credentials, &[9; 32])).expect("connect to moto");
    let started = std::time::Instant::now();
    rt.block_on(fill(&store, entries, 8));
    eprintln!("s3 store (moto): {entries} entries written in {:?}", started.elapsed());
    let mut k = 0usize;
    g.bench_function("S3Store::load (cold session, decrypt; moto)", |b| {
        b.to_async(rt).iter(|| {
            k = (k * 7919 + 13) % entries;
            let key = key(k);
            let store = store.clone();
            async move { store.load(&key).await.expect("load").expect("entry") }
        })
    });
    let mut r = 0usize;
    g.bench_function("S3Store refresh round (lock, load, save_locked, unlock; moto)", |b| {
        b.to_async(rt).iter(|| {
            r = (r * 7919 + 17) % entries;
            let key = key(r);
            let store = store.clone();
            async move { refresh_round(&store, &key).await }
        })
    });
    drop(moto);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(50);
    targets = bench
}
criterion_main!(benches);
