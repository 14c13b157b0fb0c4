//! Attack tests: token stores — refresh races across handles and replicas, key placement,
//! directory permissions.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::cache::MetadataCache;
use mcp_oauth::store::{FileStore, KeySource, RedisStore, StoreError, StoreKey, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, OAuthClient};

const KEY: [u8; 32] = [7; 32];

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a peer of tests/peers (`as.mjs`, `mcp.mjs`) and reads its JSON line.
fn peer(script: &str, env: &[(&str, String)]) -> (Proc, serde_json::Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("peers");
    let mut cmd = Command::new("node");
    cmd.arg(script).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::null());
    cmd.env("PORT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node runs the peers");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Proc(child), serde_json::from_str(line.trim()).expect("the peer's JSON line"))
}

fn client(mcp_url: &str, store: FileStore) -> OAuthClient {
    let mut o = ClientOptions::new(mcp_url, Arc::new(store)).unwrap();
    o.browser = BrowserMode::Follow;
    o.user = "alice".into();
    o.cache = Arc::new(MetadataCache::new());
    OAuthClient::new(o).unwrap()
}

async fn stats(issuer: &str) -> serde_json::Value {
    mcp_oauth::http::install_crypto_provider();
    reqwest::get(format!("{issuer}/__stats")).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_handles_refreshing_at_once_keep_the_rotated_refresh_token() {
    // Tokens live 1 s; the authorization server rotates refresh tokens and refuses a used one.
    let (_as, as_info) = peer("as.mjs", &[("PEER_ACCESS_TTL", "1".into())]);
    let issuer = as_info["issuer"].as_str().unwrap().to_owned();
    let (_mcp, mcp_info) = peer("mcp.mjs", &[("AS_ISSUER", issuer.clone())]);
    let mcp_url = mcp_info["url"].as_str().unwrap().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let open = || FileStore::open(&dir, KeySource::Bytes(KEY)).unwrap();
    client(&mcp_url, open()).authorize().await.expect("authorize");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Exploit (what two CLI runs do): two store handles load the same expired tokens and
    // refresh at once; the loser's refresh token was rotated away, so it gets invalid_grant.
    let (a, b) = (client(&mcp_url, open()), client(&mcp_url, open()));
    let (ra, rb) = tokio::join!(a.access_token(), b.access_token());
    let refreshes = stats(&issuer).await["token"]["refresh_token"].as_u64().unwrap_or(0);
    // Both got a token, one refresh was made, and the rotated refresh token is still stored.
    let (ta, tb) = (ra.expect("first handle"), rb.expect("second handle"));
    assert_eq!(ta.secret(), tb.secret(), "the second handle adopted the first one's tokens");
    assert_eq!(refreshes, 1, "one refresh for both handles");
    let stored = open().list("alice").await.unwrap();
    let entry = open().load(&stored[0]).await.unwrap().unwrap();
    let tokens = entry.tokens.expect("the entry still holds tokens");
    assert!(tokens.refresh_token.is_some(), "the rotated refresh token survived");
}

/// A `redis-server` on a free loopback port, without persistence.
fn redis() -> (Proc, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let proc = Proc(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (proc, format!("redis://127.0.0.1:{port}/"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not start");
}

fn key() -> StoreKey {
    StoreKey {
        user: "alice".into(),
        resource: "https://mcp.example/mcp".into(),
        issuer: "https://as.example".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_slower_than_the_lock_lifetime_keeps_its_lock_and_rotated_token() {
    let (_redis, url) = redis();
    let replica_a = RedisStore::connect(&url, &KEY).await.unwrap();
    let replica_b = RedisStore::connect(&url, &KEY).await.unwrap();
    let ttl = Duration::from_millis(600);
    let lock_a = replica_a.lock(&key(), ttl).await.unwrap().expect("redis locks");
    // Exploit: replica A's refresh outlasts the lock lifetime (a slow authorization server:
    // the HTTP timeout is twice the lifetime). Replica B waits for the lock meanwhile.
    let b_waits = tokio::spawn(async move {
        let lock = replica_b.lock(&key(), ttl).await;
        (replica_b, lock)
    });
    tokio::time::sleep(ttl * 3).await;
    // A got a rotated refresh token from the server (the old one is now dead) and saves it.
    let rotated = mcp_oauth::store::StoredEntry::default();
    let saved = replica_a.save_locked(&key(), &rotated, &lock_a).await;
    replica_a.unlock(&lock_a).await.unwrap();
    let (_replica_b, b_lock) = b_waits.await.unwrap();
    assert!(saved.is_ok(), "the rotated token was refused: {saved:?}");
    // B took the lock only after A released it, so it re-reads A's tokens.
    assert!(matches!(b_lock, Ok(Some(_))), "{b_lock:?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_store_directory_open_to_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Exploit: another local user lists the store, or (0777) replaces entries.
    let opened = FileStore::open(&dir, KeySource::Bytes(KEY));
    match opened {
        Err(StoreError::InsecurePermissions { path, mode }) => {
            assert_eq!((path.as_str(), mode), (dir.to_str().unwrap(), 0o755));
        }
        other => panic!("a 0755 store directory was used: {other:?}"),
    }
    assert_eq!(mode(&dir), 0o755, "left as it was");
}

#[test]
fn the_default_key_is_not_kept_among_the_entries() {
    if std::env::var_os(KeySource::ENV_VAR).is_some() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    FileStore::open(&dir, KeySource::Default(dir.clone())).unwrap();
    // Exploit: a copy of the store directory (a backup, a synced folder) carries its key.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".key")), "a key among the entries: {names:?}");
}
