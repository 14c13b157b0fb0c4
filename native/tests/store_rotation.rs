//! Store key rotation (features `cli`, `server`, `redis`): a file store entry sealed before
//! rotation existed still opens; the file store with previous keys; `mcp-oauth store reseal` on
//! a file store and on the Redis store of a configuration file; `mcp-oauth serve
//! --store-previous-keys`. The shared stores' own rotation case is in the battery
//! (tests/support/battery.rs, `key_rotation`).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use mcp_oauth::core::secret::{AccessToken, RefreshToken};
use mcp_oauth::core::time::UnixTime;
use mcp_oauth::core::token::TokenSet;
use mcp_oauth::store::{
    fingerprint, FileStore, KeySource, RedisStore, SealingKeys, StoreError, StoreKey, StoredEntry,
    TokenStore,
};
use multi::Redis;

const FIXTURE_NAME: &str = "2bd806c97f0e00af-9a3070f0675f13d0ddaf5ccd5df171f5.entry";
const A: [u8; 32] = [0xa1; 32];
const B: [u8; 32] = [0xb2; 32];
const C: [u8; 32] = [0xc3; 32];

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(user: &str) -> StoreKey {
    StoreKey {
        user: user.into(),
        resource: "https://mcp.example.com/mcp".into(),
        issuer: "https://auth.example.com".into(),
    }
}

fn entry(user: &str) -> StoredEntry {
    StoredEntry {
        tokens: Some(TokenSet {
            access_token: AccessToken::new(format!("access-of-{user}")),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new(format!("refresh-of-{user}"))),
            expires_at: Some(UnixTime(2_000_000_000)),
            scope: None,
            id_token: None,
            received_at: UnixTime(1_700_000_000),
        }),
        ..Default::default()
    }
}

fn open(dir: &Path, current: [u8; 32], previous: &[[u8; 32]]) -> FileStore {
    FileStore::open_with_previous_keys(dir, KeySource::Bytes(current), previous).unwrap()
}

/// The entries' file names and bytes, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_str().unwrap().ends_with(".entry"))
        .map(|e| (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_OAUTH_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// tests/fixtures/store: written by the file store before key rotation existed, sealed with the
/// key 00 01 … 1f. With that key as a previous key it opens (format compatibility), and the read
/// re-seals it with the current key; without it, it is an error naming the file, and the file is
/// left as it was.
#[tokio::test]
async fn an_entry_sealed_before_rotation_opens_and_is_resealed_on_read() {
    let dir = common::private_tempdir();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store").join(FIXTURE_NAME);
    let bytes = fs::read(&fixture).unwrap();
    fs::write(dir.path().join(FIXTURE_NAME), &bytes).unwrap();
    let old: [u8; 32] = std::array::from_fn(|i| i as u8);
    let alice = key("alice");

    let err = open(dir.path(), B, &[]).load(&alice).await.unwrap_err();
    match &err {
        StoreError::Undecryptable { path } => assert!(path.ends_with(FIXTURE_NAME), "{path}"),
        other => panic!("expected Undecryptable, got {other:?}"),
    }
    assert_eq!(files(dir.path()), vec![(FIXTURE_NAME.to_owned(), bytes.clone())]);

    let rotated = open(dir.path(), B, &[C, old]);
    let found = rotated.load(&alice).await.unwrap().unwrap();
    let tokens = found.tokens.as_ref().unwrap();
    assert_eq!(tokens.access_token.secret(), "fixture-access");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().secret(), "fixture-refresh");
    // Re-sealed on read: B alone opens it now, the old key alone no longer does.
    assert_ne!(fs::read(dir.path().join(FIXTURE_NAME)).unwrap(), bytes);
    assert_eq!(open(dir.path(), B, &[]).load(&alice).await.unwrap(), Some(found));
    assert!(open(dir.path(), old, &[]).load(&alice).await.is_err());
}

/// Entries written with A; `store reseal` with B alone lists them (exit 7, files untouched);
/// with B and previous A it re-seals them all (exit 0, counts printed), after which B alone
/// reads everything and a second run finds everything current. A save through a store with
/// previous keys seals with the current key.
#[tokio::test]
async fn cli_reseal_of_a_file_store() {
    let dir = common::private_tempdir();
    let path = dir.path().to_str().unwrap();
    let old = open(dir.path(), A, &[]);
    for user in ["alice", "bob", "carol"] {
        old.save(&key(user), &entry(user)).await.unwrap();
    }
    // A save through B + previous A seals with B.
    open(dir.path(), B, &[A]).save(&key("carol"), &entry("carol")).await.unwrap();
    assert_eq!(open(dir.path(), B, &[]).load(&key("carol")).await.unwrap(), Some(entry("carol")));
    let before = files(dir.path());

    let (code, stdout, stderr) =
        text(&cli(&["store", "reseal", "--store-dir", path, "--store-key", &hex(&B)], &[]));
    assert_eq!(code, Some(7), "{stdout}{stderr}");
    assert!(stdout.contains("unreadable with every key (left untouched): 2"), "{stdout}");
    assert!(stdout.contains("already sealed with the current key: 1"), "{stdout}");
    let listed = before.iter().filter(|(n, _)| stdout.contains(&format!("  {n}"))).count();
    assert_eq!(listed, 2, "the two old entries are listed by name: {stdout}");
    assert!(!stdout.contains("alice") && !stdout.contains("bob"), "{stdout}");
    assert!(stderr.contains("2 token store entries were not re-sealed"), "{stderr}");
    assert_eq!(files(dir.path()), before, "nothing rewritten or deleted");

    let previous = format!("{},{}", hex(&C), hex(&A));
    let (code, stdout, stderr) = text(&cli(
        &["store", "reseal", "--store-dir", path, "--json"],
        &[("MCP_OAUTH_STORE_KEY", &hex(&B)), ("MCP_OAUTH_STORE_PREVIOUS_KEYS", &previous)],
    ));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["resealed"], 2, "{report}");
    assert_eq!(report["already_current"], 1, "{report}");
    assert_eq!(report["unreadable"], serde_json::json!([]), "{report}");
    let described = report["store"].as_str().unwrap();
    assert!(described.contains(&format!("current {}", fingerprint(&B))), "{described}");
    assert!(!described.contains(&hex(&B)[..16]), "no key in the output: {described}");
    let only_b = open(dir.path(), B, &[]);
    for user in ["alice", "bob", "carol"] {
        assert_eq!(only_b.load(&key(user)).await.unwrap(), Some(entry(user)));
    }
    let (code, stdout, _) =
        text(&cli(&["store", "reseal", "--store-dir", path, "--store-key", &hex(&B)], &[]));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("re-sealed with the current key: 0"), "{stdout}");
    assert!(stdout.contains("already sealed with the current key: 3"), "{stdout}");

    // A malformed previous key: named by position, never quoted.
    let (code, _, stderr) = text(&cli(
        &["store", "reseal", "--store-dir", path, "--store-key", &hex(&B)],
        &[("MCP_OAUTH_STORE_PREVIOUS_KEYS", "zz-not-a-key-topsecret")],
    ));
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("--store-previous-keys, key 1"), "{stderr}");
    assert!(!stderr.contains("topsecret"), "{stderr}");
}

/// The Redis store of a configuration file's mcp_oauth2 provider, re-sealed by the CLI: B alone
/// reads every entry afterwards; pending records are not walked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reseal_of_the_redis_store_of_a_config_file() {
    let redis = Redis::start();
    let dir = common::private_tempdir();
    let config = dir.path().join("config.yaml");
    fs::write(
        &config,
        format!(
            "function_groups:\n  demo:\n    _type: per_user_mcp_client\n    server:\n      transport: streamable-http\n      \
             url: http://127.0.0.1:9/mcp\n      auth_provider: p\nauthentication:\n  p:\n    \
             _type: mcp_oauth2\n    server_url: http://127.0.0.1:9/mcp\n    token_storage: \
             {{type: redis, url: \"{}\", key_prefix: \"rot:\"}}\n",
            redis.url()
        ),
    )
    .unwrap();
    let old = RedisStore::connect(&redis.url(), &A).await.unwrap().with_prefix("rot:");
    for user in ["alice", "bob"] {
        old.save(&key(user), &entry(user)).await.unwrap();
    }
    // Another deployment in the same database (another prefix) is not touched.
    let other = RedisStore::connect(&redis.url(), &C).await.unwrap().with_prefix("other:");
    other.save(&key("zed"), &entry("zed")).await.unwrap();
    let config = config.to_str().unwrap();

    let out = cli(
        &["store", "reseal", "--config", config, "--store-previous-keys", &hex(&A)],
        &[("MCP_OAUTH_STORE_KEY", &hex(&B))],
    );
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("re-sealed with the current key: 2"), "{stdout}");
    assert!(stdout.contains("unreadable with every key (left untouched): 0"), "{stdout}");
    assert!(stdout.contains("RedisStore") && !stdout.contains(&hex(&B)), "{stdout}");
    let only_b = RedisStore::connect(&redis.url(), &B).await.unwrap().with_prefix("rot:");
    for user in ["alice", "bob"] {
        assert_eq!(only_b.load(&key(user)).await.unwrap(), Some(entry(user)));
    }
    assert_eq!(other.load(&key("zed")).await.unwrap(), Some(entry("zed")));

    // Without --store-key: a usage error.
    let (code, _, stderr) = text(&cli(&["store", "reseal", "--config", config], &[]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("needs --store-key"), "{stderr}");
}

/// `serve --store-previous-keys`: needs --store-key; a malformed key is named by its position;
/// with a Redis store the startup line names the keys by fingerprint.
#[test]
fn serve_takes_previous_store_keys() {
    let redis = Redis::start();
    let secret = "a-rotation-test-session-secret-of-32-bytes";
    let base = ["serve", "--mcp", "demo=http://127.0.0.1:9/mcp", "--port", "0", "--redis"];
    let env = [("MCP_OAUTH_SESSION_SECRET", secret)];
    let (code, _, stderr) = text(&cli(
        &[&base[..], &[redis.url().as_str(), "--store-previous-keys", &hex(&A)]].concat(),
        &env,
    ));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--store-previous-keys") && stderr.contains("needs --store-key"));
    let previous = format!("{},bad-topsecret", hex(&A));
    let (code, _, stderr) = text(&cli(
        &[&base[..], &[redis.url().as_str(), "--store-key", &hex(&B)]].concat(),
        &[env[0], ("MCP_OAUTH_STORE_PREVIOUS_KEYS", &previous)],
    ));
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("--store-previous-keys, key 2") && !stderr.contains("topsecret"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args([&base[..], &[redis.url().as_str()]].concat())
        .env_remove("MCP_OAUTH_CONFIG")
        .env("MCP_OAUTH_SESSION_SECRET", secret)
        .env("MCP_OAUTH_STORE_KEY", hex(&B))
        .env("MCP_OAUTH_STORE_PREVIOUS_KEYS", hex(&A))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("\"url\""), "{line}");
    common::stop(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let keys = SealingKeys::new(B).with_previous([A]).describe();
    assert!(stderr.contains(&format!("sealing keys {keys}")), "{stderr}");
    assert!(!stderr.contains(&hex(&A)) && !stderr.contains(&hex(&B)), "{stderr}");
}
