//! The S3 store (features `server`, `s3`) against a real S3-compatible server (moto's server
//! mode, tests/support/s3.rs): the shared store battery (tests/support/battery.rs) as
//! `s3_battery::*`, and what is particular to S3: single use of pending records and links
//! across replicas by conditional writes, mutual exclusion of the refresh lock, expired
//! objects deleted when seen, object names, errors that name the bucket and never a secret.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;
#[macro_use]
#[path = "support/battery.rs"]
mod battery;
#[path = "support/s3.rs"]
mod s3;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::store::{
    ConsentLink, PendingStore, S3Config, S3Credentials, S3Store, StoreError, StoreKey, StoredEntry,
    TokenStore,
};
use multi::STORE_KEY;
use s3::{Moto, BUCKET};

const PREFIX: &str = "mcp-oauth/";
const SECRET: &str = "the-secret-access-key-0123456789";

fn credentials() -> S3Credentials {
    S3Credentials::new("AKIDTEST", SECRET, Some("the-session-token".into()))
}

fn s3_config(endpoint: &str) -> S3Config {
    let mut c = S3Config::new(BUCKET);
    c.endpoint = Some(endpoint.to_owned());
    c.region = Some("eu-west-1".into());
    c
}

async fn connect(moto: &Moto) -> S3Store {
    S3Store::connect(&s3_config(&moto.endpoint()), credentials(), &STORE_KEY).await.unwrap()
}

/// The S3 store's backend for the battery: a moto server of its own per test.
struct S3Backend(Moto);

impl battery::Backend for S3Backend {
    type Store = S3Store;
    const RESEALS_ON_READ: bool = false;

    async fn start(_stoppable: bool) -> Self {
        S3Backend(Moto::start())
    }

    async fn connect(&self) -> S3Store {
        connect(&self.0).await
    }

    async fn connect_with(&self, keys: mcp_oauth::store::SealingKeys) -> S3Store {
        S3Store::connect(&s3_config(&self.0.endpoint()), credentials(), keys).await.unwrap()
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    fn restart(&mut self) {
        self.0 = Moto::start_on(self.0.port);
    }

    fn backend_name(&self) -> String {
        format!("s3://{BUCKET}/{PREFIX} (http://127.0.0.1:{})", self.0.port)
    }

    async fn raw(&self) -> Vec<(String, Vec<u8>)> {
        self.0.objects("").await
    }

    async fn put_raw(&self, name: &str, value: &[u8]) {
        self.0.put(name, value).await;
    }

    /// `<prefix><kind>/<hash>` (native/src/store/s3/mod.rs).
    fn record_name(kind: &str, hash: &str) -> String {
        format!("{PREFIX}{kind}/{hash}")
    }
}

mod s3_battery {
    store_battery!(super::S3Backend);
}

fn key(user: &str) -> StoreKey {
    StoreKey {
        user: user.into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        issuer: "http://127.0.0.1:8".into(),
    }
}

/// The test server itself: of 16 concurrent creates (`If-None-Match: *`) of one object exactly
/// one succeeds, as on S3 (moto's threaded server let several through; moto_serial.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_server_conditional_writes_are_atomic() {
    let moto = Arc::new(Moto::start());
    for round in 0..5 {
        let name = format!("race/{round}");
        let puts = (0..16u8).map(|i| {
            let (moto, name) = (moto.clone(), name.clone());
            tokio::spawn(async move { moto.put_if_absent(&name, &[i]).await })
        });
        let mut statuses = Vec::new();
        for p in puts {
            statuses.push(p.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 412), "{statuses:?}");
    }
}

/// Eight replicas take the same consent link and the same pending record at once: exactly one
/// gets each (the conditional tombstone write), and the objects are gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn take_is_single_use_across_replicas() {
    let moto = Moto::start();
    let mut replicas = Vec::new();
    for _ in 0..8 {
        replicas.push(Arc::new(connect(&moto).await));
    }
    for round in 0..5 {
        let link = ConsentLink {
            state: format!("state-{round}"),
            user: "Alice".into(),
            authorization_url: "http://127.0.0.1:8/auth?x".into(),
        };
        let id = format!("link-{round}");
        replicas[0].put_link(&id, &link, Duration::from_secs(30)).await.unwrap();
        let takes = replicas.iter().map(|r| {
            let (r, id) = (r.clone(), id.clone());
            tokio::spawn(async move { r.take_link(&id).await.unwrap() })
        });
        let mut got = Vec::new();
        for t in takes {
            got.extend(t.await.unwrap());
        }
        assert_eq!(got, vec![link], "round {round}: exactly one replica took the link");
    }
    assert!(moto.objects(&format!("{PREFIX}link/")).await.is_empty(), "taken links deleted");
}

/// Replicas of two processes contend for one entry's refresh lock: never two holders at once,
/// and every contender gets it in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_lock_excludes_across_replicas() {
    let moto = Moto::start();
    let (a, b) = (Arc::new(connect(&moto).await), Arc::new(connect(&moto).await));
    let alice = key("Alice");
    a.save(&alice, &StoredEntry::default()).await.unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (inside, done, alice) = (inside.clone(), done.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let lock = store.lock(&alice, Duration::from_secs(10)).await.unwrap().unwrap();
            assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
            tokio::time::sleep(Duration::from_millis(30)).await;
            store.save_locked(&alice, &StoredEntry::default(), &lock).await.unwrap();
            inside.store(false, Ordering::SeqCst);
            store.unlock(&lock).await.unwrap();
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 12);
    // One lock object per entry, released (it opens, but holds no holder).
    let locks = moto.objects(&format!("{PREFIX}lock/")).await;
    assert_eq!(locks.len(), 1, "{:?}", locks.iter().map(|l| &l.0).collect::<Vec<_>>());
}

/// Object names: `tok/<sha256(user)>/<sha256(key)>`, `pending/<sha256(state)>` ... (64 hex
/// digits each); an expired pending record or outcome reads as absent and is deleted when
/// seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_hashes_and_expired_objects_are_deleted_when_seen() {
    use mcp_oauth::store::ConsentOutcome;
    let moto = Moto::start();
    let store = connect(&moto).await;
    store.save(&key("Alice"), &StoredEntry::default()).await.unwrap();
    store
        .put_outcome("state-x", &ConsentOutcome::Authorized, Duration::from_secs(3))
        .await
        .unwrap();
    let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit());
    for (name, value) in moto.objects("").await {
        let rest = name.strip_prefix(PREFIX).unwrap_or_else(|| panic!("{name}"));
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["tok", user, entry] => assert!(hex64(user) && hex64(entry), "{name}"),
            ["outcome", state] => assert!(hex64(state), "{name}"),
            _ => panic!("unexpected object {name}"),
        }
        assert!(value.starts_with(b"MCPOAUTH1"), "{name} is sealed");
    }
    assert_eq!(store.outcome("state-x").await.unwrap(), Some(ConsentOutcome::Authorized));
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(store.outcome("state-x").await.unwrap(), None, "expired");
    assert!(moto.objects(&format!("{PREFIX}outcome/")).await.is_empty(), "deleted when seen");
}

/// Unreachable endpoint, missing bucket, bad settings: `Unavailable` naming
/// `s3://bucket/prefix (endpoint)`, never the secret key or session token; a store whose
/// server went away answers `Unavailable` and works again when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_bucket_never_a_secret_and_service_resumes() {
    let port = multi::free_port();
    let closed = format!("http://127.0.0.1:{port}");
    let err = S3Store::connect(&s3_config(&closed), credentials(), &STORE_KEY).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{text}");
    assert!(text.contains(&format!("s3://{BUCKET}/{PREFIX} ({closed})")), "{text}");
    assert!(!text.contains(SECRET) && !text.contains("the-session-token"), "{text}");

    let mut moto = Moto::start_on(port);
    let mut other = s3_config(&moto.endpoint());
    other.bucket = "no-such-bucket".into();
    let err = S3Store::connect(&other, credentials(), &STORE_KEY).await.unwrap_err().to_string();
    assert!(err.contains("s3://no-such-bucket/") && err.contains("no such bucket"), "{err}");
    let mut bad = s3_config(&moto.endpoint());
    bad.bucket = "Bad_Bucket".into();
    let err = S3Store::connect(&bad, credentials(), &STORE_KEY).await.unwrap_err().to_string();
    assert!(err.contains("bucket \"Bad_Bucket\""), "{err}");
    let mut bad = s3_config("ftp://127.0.0.1:1");
    bad.prefix = "ok/".into();
    let err = S3Store::connect(&bad, credentials(), &STORE_KEY).await.unwrap_err().to_string();
    assert!(err.contains("http:// or https://"), "{err}");
    let bad = s3_config(&format!("http://AKID:topsecret@127.0.0.1:{port}"));
    let err = S3Store::connect(&bad, credentials(), &STORE_KEY).await.unwrap_err().to_string();
    assert!(err.contains("user info") && !err.contains("topsecret"), "{err}");

    let store = connect(&moto).await;
    store.save(&key("Alice"), &StoredEntry::default()).await.unwrap();
    moto.stop();
    let err = store.load(&key("Alice")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains(&format!("(http://127.0.0.1:{port})")), "{err}");
    // Back (empty: moto keeps objects in memory): the same store works again.
    let _moto = Moto::start_on(port);
    assert_eq!(store.load(&key("Alice")).await.unwrap(), None);
    store.save(&key("Alice"), &StoredEntry::default()).await.unwrap();
    assert_eq!(store.list("Alice").await.unwrap(), vec![key("Alice")]);
}

/// Against a server that checks signatures (moto with IAM enforcement): every kind of request
/// the store makes is accepted — GET, HEAD, PUT with `If-None-Match` / `If-Match`, DELETE with
/// `If-Match`, HeadBucket — and a wrong secret is refused with 403, reported as `Unavailable`
/// naming the bucket and the credential variables, never the secret. (Not `list`: moto 5.2's
/// signature check mis-encodes a `/` in a query value, which ListObjectsV2's prefix has;
/// botocore signs that request exactly as the store does, and moto refuses both.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pass_a_server_that_checks_signatures() {
    let (moto, id, secret) = Moto::start_checking_signatures().await;
    let config = s3_config(&moto.endpoint());
    let store = S3Store::connect(&config, S3Credentials::new(&id, &secret, None), &STORE_KEY)
        .await
        .unwrap();
    let alice = key("Alice");
    store.save(&alice, &StoredEntry::default()).await.unwrap();
    assert_eq!(store.load(&alice).await.unwrap(), Some(StoredEntry::default()));
    let lock = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    store.save_locked(&alice, &StoredEntry::default(), &lock).await.unwrap();
    store.unlock(&lock).await.unwrap();
    let again = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    store.unlock(&again).await.unwrap();
    let link = ConsentLink {
        state: "s".into(),
        user: "Alice".into(),
        authorization_url: "http://127.0.0.1:8/auth?x".into(),
    };
    store.put_link("id", &link, Duration::from_secs(30)).await.unwrap();
    assert_eq!(store.take_link("id").await.unwrap(), Some(link));
    store.delete(&alice).await.unwrap();
    assert_eq!(store.load(&alice).await.unwrap(), None);

    let wrong = S3Credentials::new(&id, "wrong-secret-0123456789", None);
    let err = S3Store::connect(&config, wrong, &STORE_KEY).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 403") && err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    assert!(err.contains(&format!("s3://{BUCKET}/{PREFIX}")), "{err}");
    assert!(!err.contains("wrong-secret") && !err.contains(&secret), "{err}");
}
