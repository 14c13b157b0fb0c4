//! The test battery every shared token store runs (Redis, MySQL/MariaDB, S3 ...): the
//! multi-user server end to end against the real peers with the store under test, and the
//! store's own guarantees (refresh lock, compare-and-set, pending TTLs, sealed values, hashed
//! names).
//!
//! To run it for a store, a test binary (with features `server` + the store's) includes
//!
//! ```ignore
//! mod common;
//! #[path = "support/multi.rs"]
//! mod multi;
//! #[macro_use]
//! #[path = "support/battery.rs"]
//! mod battery;
//! ```
//!
//! at its crate root, implements [`Backend`] for a type that starts the store's server, and
//! writes `mod mystore { store_battery!(super::MyBackend); }`: that defines one `#[tokio::test]`
//! per battery test, named `mystore::<test>`.
#![allow(dead_code)]
#![allow(clippy::panic, clippy::unwrap_used)]
// Test support, used from the test binaries only (no `Send` bounds needed on these futures).
#![allow(async_fn_in_trait)]

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::core::authorize::PendingAuthorization;
use mcp_oauth::store::{
    reseal_all, PendingRecord, PendingStore, ResealStore, SealingKeys, StoreError, StoreKey,
    StoredEntry, TokenStore,
};

use crate::common::{count, Peers};
use crate::multi::*;

/// A shared store's server, as the battery drives it.
pub trait Backend: Sized + Send + Sync + 'static {
    /// The store (one value = one replica's connection or pool).
    type Store: TokenStore + PendingStore + ResealStore + 'static;

    /// Whether reading an entry sealed with a previous key re-seals it at once.
    const RESEALS_ON_READ: bool = true;

    /// Starts a backend for one test, empty. `stoppable`: the test will [`Backend::stop`] and
    /// [`Backend::restart`] it, so it needs a server process of its own; otherwise the
    /// implementation may share one server between the tests of the binary (each test then
    /// gets its own namespace: database, table, prefix ...).
    async fn start(stoppable: bool) -> Self;

    /// A new store replica on this backend (its own connections), sealing with [`STORE_KEY`].
    async fn connect(&self) -> Self::Store;

    /// A new store replica on this backend sealing with `keys` (key rotation).
    async fn connect_with(&self, keys: SealingKeys) -> Self::Store;

    /// Stops the server (SIGTERM or SIGKILL): the store must answer `Unavailable` now.
    fn stop(&mut self);

    /// Starts the server again on the same address (stored data may or may not survive).
    fn restart(&mut self);

    /// The start of what [`StoreError::Unavailable`] names for this backend, for example
    /// `redis://127.0.0.1:PORT` or `mysql://127.0.0.1:PORT`: the address, no credentials.
    fn backend_name(&self) -> String;

    /// Every record the store holds now, as the server stores it: its name (key, row name,
    /// object key) and its raw value bytes (for an index such as a Redis set: its members,
    /// joined by newlines).
    async fn raw(&self) -> Vec<(String, Vec<u8>)>;

    /// Overwrites the raw value of record `name` (as [`Backend::raw`] names it) with `value`.
    async fn put_raw(&self, name: &str, value: &[u8]);

    /// The documented name (as [`Backend::raw`] names it) of the record of `kind` (`pending`,
    /// `outcome`, `link`, `result`) whose key hashes to `hash`.
    fn record_name(kind: &str, hash: &str) -> String;
}

/// Defines the battery's tests for one backend type, in the module where it is invoked.
#[macro_export]
macro_rules! store_battery {
    ($backend:ty) => {
        /// See `battery::three_users`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn three_users_consent_separately_and_never_share_tokens() {
            let backend = <$backend as $crate::battery::Backend>::start(false).await;
            let store = std::sync::Arc::new($crate::battery::Backend::connect(&backend).await);
            $crate::battery::three_users(store).await;
        }

        /// See `battery::replicas_share_the_store`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn replicas_share_the_store_consent_on_one_callback_on_the_other() {
            $crate::battery::replicas_share_the_store::<$backend>().await;
        }

        /// See `battery::two_hundred_users`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn two_hundred_users_refresh_once_per_expiry_across_replicas() {
            $crate::battery::two_hundred_users::<$backend>().await;
        }

        /// See `battery::outage`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn outage_gives_503_store_unavailable_and_recovers() {
            $crate::battery::outage::<$backend>().await;
        }

        /// See `battery::key_rotation`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn key_rotation_reads_old_entries_and_reseals_them() {
            $crate::battery::key_rotation::<$backend>().await;
        }

        /// See `battery::lock_compare_and_set_and_pending_ttl`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lock_compare_and_set_and_pending_ttl() {
            $crate::battery::lock_compare_and_set_and_pending_ttl::<$backend>().await;
        }

        /// See `battery::request_results`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn request_results_are_shared_per_user_sealed_and_expire() {
            $crate::battery::request_results::<$backend>().await;
        }

        /// See `battery::record_names`.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn records_are_named_by_kind_and_hashed_key() {
            $crate::battery::record_names::<$backend>().await;
        }
    };
}

/// Alice (WebSocket, session cookie), Hatter (HTTP, bearer JWT) and Rabbit (WebSocket,
/// `?session=`) at once on one server using `store`: each is asked for consent once, each gets
/// tokens of their own, and every MCP call carries the caller's token only (the MCP peer's
/// `whoami` reports the token's subject, which the authorization server set from the user's
/// login).
pub async fn three_users<S: TokenStore + PendingStore + 'static>(store: Arc<S>) {
    let peers = Peers::start();
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv = serve(l, config(&peers.mcp_url, &redirect, store.clone(), store.clone())).await;
    let base = srv.base();

    let alice = Auth::Cookie(srv.session("Alice"));
    let hatter = Auth::Bearer(jwt("Hatter", 600, JWT_SECRET));
    let rabbit = Auth::QuerySession(srv.session("Rabbit"));
    let who = whoami();
    let (r1, r2, r3) = tokio::join!(
        async {
            let mut ws = ws_connect(&base, &alice).await.unwrap();
            ws_exchange(&mut ws, "Alice", &redirect, &whoami()).await
        },
        http_exchange(&base, &hatter, "Hatter", &redirect, &who),
        async {
            let mut ws = ws_connect(&base, &rabbit).await.unwrap();
            ws_exchange(&mut ws, "Rabbit", &redirect, &whoami()).await
        },
    );
    for ((reply, asked), user) in [(r1, "Alice"), (r2, "Hatter"), (r3, "Rabbit")] {
        assert!(asked, "{user} was asked for consent");
        assert_eq!(tool_text(&reply), user, "{user}'s call carried {user}'s token");
    }
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/token/authorization_code"), 3, "{stats}");

    // Again, many calls interleaved: no consent, and still each user's own subject.
    let mut tasks = Vec::new();
    for round in 0..5 {
        for (user, auth) in
            [("Alice", alice.clone()), ("Hatter", hatter.clone()), ("Rabbit", rabbit.clone())]
        {
            let base = base.clone();
            let redirect = redirect.clone();
            tasks.push(tokio::spawn(async move {
                let (reply, asked) = if round % 2 == 0 {
                    let mut ws = ws_connect(&base, &auth).await.unwrap();
                    ws_exchange(&mut ws, user, &redirect, &whoami()).await
                } else {
                    let auth =
                        if let Auth::QuerySession(s) = auth { Auth::Cookie(s) } else { auth };
                    http_exchange(&base, &auth, user, &redirect, &whoami()).await
                };
                assert!(!asked, "{user} was not asked again");
                assert_eq!(tool_text(&reply), user);
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/token/authorization_code"), 3, "no new authorization");
    // Every authorized MCP request carried one of the three users' tokens.
    let mcp = peers.mcp_stats().await;
    let subjects = mcp["subjects"].as_object().unwrap();
    for user in ["Alice", "Hatter", "Rabbit"] {
        assert!(count(&mcp, &format!("/subjects/{user}")) > 0, "{mcp}");
    }
    for subject in subjects.keys() {
        assert!(["Alice", "Hatter", "Rabbit", "anonymous"].contains(&subject.as_str()), "{mcp}");
    }
    // Tokens are stored per user: three entries, three different access tokens.
    let mut tokens = Vec::new();
    for user in ["Alice", "Hatter", "Rabbit"] {
        let keys = TokenStore::list(store.as_ref(), user).await.unwrap();
        assert_eq!(keys.len(), 1, "{user}: {keys:?}");
        let entry = TokenStore::load(store.as_ref(), &keys[0]).await.unwrap().unwrap();
        tokens.push(entry.tokens.unwrap().access_token.secret().to_owned());
    }
    // The authorization server says whose each stored token is.
    for (token, user) in tokens.iter().zip(["Alice", "Hatter", "Rabbit"]) {
        assert_eq!(introspected_subject(&peers, token).await, user);
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 3);
}

/// RFC 7662 introspection at the authorization server (with the MCP server's credentials): the
/// token's `sub`.
pub async fn introspected_subject(peers: &Peers, token: &str) -> String {
    let meta =
        crate::common::get_json(&format!("{}/.well-known/openid-configuration", peers.issuer))
            .await;
    let mut form = String::from("token=");
    mcp_oauth::core::__private::encoding::form_encode_component(token, &mut form);
    mcp_oauth::http::install_crypto_provider();
    let resp: serde_json::Value = reqwest::Client::new()
        .post(meta["introspection_endpoint"].as_str().unwrap())
        .basic_auth("mcp-resource-server", Some("mcp-resource-server-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["active"], true, "{resp}");
    resp["sub"].as_str().unwrap_or_default().to_owned()
}

/// Two servers (separate managers and caches) share the store; the redirect URI leads to the
/// second one (a load balancer would do the same). Consent is started on the first, the
/// callback is served by the second, and the first's request completes. Then the second serves
/// the user from the shared tokens without asking again. Nothing the store holds names the user
/// or carries a token in clear.
pub async fn replicas_share_the_store<B: Backend>() {
    let peers = Peers::start();
    let backend = B::start(false).await;
    let (la, lb) = (listener().await, listener().await);
    let redirect = format!("http://{}/auth/redirect", lb.local_addr().unwrap());
    let store_a = Arc::new(backend.connect().await);
    let store_b = Arc::new(backend.connect().await);
    let a = serve(la, config(&peers.mcp_url, &redirect, store_a.clone(), store_a)).await;
    let b = serve(lb, config(&peers.mcp_url, &redirect, store_b.clone(), store_b.clone())).await;
    let auth = Auth::Bearer(jwt("Alice", 600, JWT_SECRET));

    let (status, reply) = post_chat(&a.base(), &auth, &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["type"], "oauth_required");
    let url = reply["url"].as_str().unwrap();
    assert!(url.starts_with(&b.base()), "the link sends the browser to replica B: {url}");
    let (page, text) = consent(url, "Alice", &redirect).await;
    assert_eq!(page, 200, "replica B completed the callback: {text}");
    assert!(text.contains("Authorized"));
    let (status, done) =
        poll_chat(&a.base(), &auth, reply["request_id"].as_str().unwrap(), 20).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(tool_text(&done), "Alice");
    // The same link again: it opens once.
    let (page, _) = consent(url, "Alice", &redirect).await;
    assert_eq!(page, 404);
    // Replica B serves Alice from the store without consent.
    let (reply, asked) = http_exchange(&b.base(), &auth, "Alice", &redirect, &whoami()).await;
    assert!(!asked);
    assert_eq!(tool_text(&reply), "Alice");
    assert_eq!(count(&peers.as_stats().await, "/token/authorization_code"), 1);

    // Nothing in the store holds a token in clear, nor names Alice.
    let keys = TokenStore::list(store_b.as_ref(), "Alice").await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let entry = TokenStore::load(store_b.as_ref(), &keys[0]).await.unwrap().unwrap();
    let tokens = entry.tokens.unwrap();
    let mut secrets = vec![tokens.access_token.secret().to_owned()];
    secrets.extend(tokens.refresh_token.map(|r| r.secret().to_owned()));
    assert_sealed_and_hashed(&backend.raw().await, &["Alice", &peers.mcp_url], &secrets);
}

/// Every raw record: its name contains none of `names`, its value none of `secrets` nor an
/// entry's field names; at least one value is a sealed entry (`MCPOAUTH1`).
pub fn assert_sealed_and_hashed(raw: &[(String, Vec<u8>)], names: &[&str], secrets: &[String]) {
    assert!(!raw.is_empty(), "the store holds records");
    assert!(raw.iter().any(|(_, v)| v.starts_with(b"MCPOAUTH1")), "a sealed value is stored");
    for (name, value) in raw {
        for n in names {
            assert!(!name.contains(n), "record name {name:?} contains {n:?}");
        }
        let text = String::from_utf8_lossy(value);
        for s in secrets {
            assert!(!s.is_empty() && !text.contains(s.as_str()), "record {name} holds a secret");
        }
        assert!(!text.contains("access_token"), "record {name} holds an entry in clear");
        for n in names {
            assert!(!text.contains(n), "record {name} holds {n:?} in clear");
        }
    }
}

/// The backend stops: requests that need the store fail with `store_unavailable` (503) and a
/// message naming the backend (without credentials); when it is back, the same server works
/// again without a restart.
pub async fn outage<B: Backend>() {
    let peers = Peers::start();
    let mut backend = B::start(true).await;
    let store = Arc::new(backend.connect().await);
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv = serve(l, config(&peers.mcp_url, &redirect, store.clone(), store)).await;
    let alice = Auth::Cookie(srv.session("Alice"));
    let (reply, asked) = http_exchange(&srv.base(), &alice, "Alice", &redirect, &whoami()).await;
    assert!(asked);
    assert_eq!(tool_text(&reply), "Alice");

    backend.stop();
    let started = std::time::Instant::now();
    let (status, reply) =
        post_chat(&srv.base(), &Auth::Cookie(srv.session("Hatter")), &whoami()).await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["code"], "store_unavailable");
    let message = reply["message"].as_str().unwrap();
    assert!(message.contains(&backend.backend_name()), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(30), "answered in {:?}", started.elapsed());

    backend.restart();
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, reply) =
            post_chat(&srv.base(), &Auth::Cookie(srv.session("Hatter")), &whoami()).await;
        last = reply;
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last["type"], "oauth_required", "recovered: {last}");
    let (page, text) = consent(last["url"].as_str().unwrap(), "Hatter", &redirect).await;
    assert_eq!(page, 200, "{text}");
}

/// 200 users with short-lived tokens call tools at once through two replicas sharing the store:
/// every call succeeds with the caller's own subject, no one is asked to consent again, and each
/// user's token is refreshed exactly once per expiry (counted at the authorization server), so
/// rotated refresh tokens are never lost. The peer's tokens live 20 s and the client refreshes
/// half a lifetime early: a token is due 10 s after it is issued. (`PEER_STORE=map`: the peer's
/// default store would evict live grants past ~1000 entries.)
pub async fn two_hundred_users<B: Backend>() {
    const USERS: usize = 200;
    // MCP_KEEP_ALIVE_MS: the MCP peer keeps idle connections for 2 minutes; with Node's 5 s a
    // call sent on a connection as Node closes it fails (`transport_failed`), a client-side
    // keep-alive race this test is not about (about 1 call in 1,000 on a loaded machine).
    let peers = Peers::start_with(
        &[("PEER_ACCESS_TTL", "20".to_owned()), ("PEER_STORE", "map".to_owned())],
        &[("MCP_KEEP_ALIVE_MS", "120000".to_owned())],
    );
    let backend = B::start(false).await;
    let (la, lb) = (listener().await, listener().await);
    let redirect = format!("http://{}/auth/redirect", la.local_addr().unwrap());
    let store_a = Arc::new(backend.connect().await);
    let store_b = Arc::new(backend.connect().await);
    let a = serve(la, config(&peers.mcp_url, &redirect, store_a.clone(), store_a)).await;
    let b = serve(lb, config(&peers.mcp_url, &redirect, store_b.clone(), store_b.clone())).await;
    let users: Vec<String> = (0..USERS).map(|i| format!("user{i:03}")).collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let consents_started = std::time::Instant::now();

    // Consent, one user at a time per permit.
    let mut tasks = Vec::new();
    for user in &users {
        let (user, base, redirect, limit) =
            (user.clone(), a.base(), redirect.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let auth = Auth::Bearer(jwt(&user, 600, JWT_SECRET));
            let (reply, asked) = http_exchange(&base, &auth, &user, &redirect, &whoami()).await;
            assert!(asked);
            assert_eq!(tool_text(&reply), user);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let consented = peers.as_stats().await;
    assert_eq!(count(&consented, "/token/authorization_code"), USERS as u64);
    // Shown with --nocapture: where the test's time goes.
    eprintln!("{USERS} consents in {:?}", consents_started.elapsed());

    for round in 1..=2u64 {
        // Every token is due now.
        tokio::time::sleep(Duration::from_secs(11)).await;
        peers.reset_as_stats().await;
        let started = std::time::Instant::now();
        let limit = Arc::new(tokio::sync::Semaphore::new(50));
        let mut tasks = Vec::new();
        for user in &users {
            let (user, limit) = (user.clone(), limit.clone());
            let bases = [a.base(), a.base(), b.base(), b.base()];
            let redirect = redirect.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                let auth = Auth::Bearer(jwt(&user, 600, JWT_SECRET));
                let calls = bases.iter().map(|base| {
                    let (auth, user, redirect) = (auth.clone(), user.clone(), redirect.clone());
                    async move { http_exchange(base, &auth, &user, &redirect, &whoami()).await }
                });
                let mut failures = Vec::new();
                for (reply, asked) in futures_util::future::join_all(calls).await {
                    if asked || reply["type"] != "result" || tool_text(&reply) != user {
                        failures.push(format!("{user} (round {round}): asked {asked}, {reply}"));
                    }
                }
                failures
            }));
        }
        let mut failures = Vec::new();
        for t in tasks {
            failures.extend(t.await.unwrap());
        }
        if !failures.is_empty() {
            let stats = peers.as_stats().await;
            panic!(
                "{} failed calls, e.g. {:?}; AS stats {stats}",
                failures.len(),
                &failures[..failures.len().min(3)]
            );
        }
        eprintln!("round {round}: {} calls in {:?}", USERS * 4, started.elapsed());
        let stats = peers.as_stats().await;
        // One refresh per user per expiry: a token is due 10 s after it is issued, so a round
        // that lasts longer than that (a loaded machine) legitimately refreshes some users again.
        let expiries = 1 + started.elapsed().as_secs() / 10;
        let refreshes = count(&stats, "/token/refresh_token");
        assert!(
            refreshes >= USERS as u64 && refreshes <= USERS as u64 * expiries,
            "one refresh per user per expiry in round {round} ({expiries} expiries in {:?}): \
             {refreshes} refreshes, {stats}",
            started.elapsed()
        );
        assert_eq!(count(&stats, "/token_errors/refresh_token"), 0, "{stats}");
        assert_eq!(count(&stats, "/token/authorization_code"), 0, "{stats}");
    }
    // Every user still holds a refresh token in the store.
    for user in &users {
        let keys = TokenStore::list(store_b.as_ref(), user).await.unwrap();
        assert_eq!(keys.len(), 1, "{user}");
        let entry = TokenStore::load(store_b.as_ref(), &keys[0]).await.unwrap().unwrap();
        assert!(entry.tokens.unwrap().refresh_token.is_some(), "{user}");
    }
}

fn test_key(user: &str) -> StoreKey {
    StoreKey {
        user: user.into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        issuer: "http://127.0.0.1:8".into(),
    }
}

fn test_pending(state: &str) -> PendingRecord {
    let text = format!(
        r#"{{"state":"{state}","verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","issuer":"http://127.0.0.1:8","iss_parameter_supported":true,"redirect_uri":"http://localhost:8000/auth/redirect","resource":"http://127.0.0.1:9/mcp","client_id":"c","authorization_url":"http://127.0.0.1:8/auth?x","created_at":1}}"#
    );
    PendingRecord {
        user: "Alice".into(),
        server: "demo".into(),
        pending: PendingAuthorization::from_json(&text).unwrap(),
    }
}

/// The store's guarantees against its real server: the refresh lock expires, a holder whose
/// lock expired cannot write (compare-and-set) nor release the new holder's lock
/// (compare-and-delete); a held lock is renewed past its lifetime; a pending authorization,
/// an outcome and a consent link are taken once / kept for their TTL; a sealed value moved
/// onto another key does not open; `list` finds a user's keys only; nothing stored names a
/// user or holds a state or verifier in clear.
pub async fn lock_compare_and_set_and_pending_ttl<B: Backend>() {
    use mcp_oauth::store::{ConsentLink, ConsentOutcome};
    let backend = B::start(false).await;
    let store = backend.connect().await;
    let alice = test_key("Alice");
    let entry = StoredEntry::default();
    store.save(&alice, &entry).await.unwrap();
    assert_eq!(store.load(&alice).await.unwrap(), Some(entry.clone()));

    // A holder that crashed (its runtime, and so its lock renewal, gone): the lock expires.
    let first = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let crashed = backend.connect().await;
                crashed.lock(&alice, Duration::from_millis(500)).await.unwrap().unwrap()
            })
        })
        .join()
        .unwrap()
    });
    let started = std::time::Instant::now();
    let second = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "waited for the first lock to expire");
    let lost = store.save_locked(&alice, &entry, &first).await.unwrap_err();
    assert!(matches!(lost, StoreError::LockLost { .. }), "{lost}");
    // The stale holder's release leaves the new holder's lock in place.
    store.unlock(&first).await.unwrap();
    let other = backend.connect().await;
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        other.lock(&alice, Duration::from_secs(5)),
    )
    .await;
    assert!(waited.is_err(), "the second holder's lock survived the first one's unlock");
    store.save_locked(&alice, &entry, &second).await.unwrap();
    store.unlock(&second).await.unwrap();
    let third = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "released at once");
    store.unlock(&third).await.unwrap();

    // A held lock is renewed while held: after three lifetimes it is still this holder's.
    let held = store.lock(&alice, Duration::from_millis(600)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1800)).await;
    store.save_locked(&alice, &entry, &held).await.unwrap();
    store.unlock(&held).await.unwrap();

    // A sealed entry copied onto another user's key does not open.
    let before = backend.raw().await;
    let (_, alice_value) = before
        .iter()
        .find(|(_, v)| v.starts_with(b"MCPOAUTH1"))
        .cloned()
        .expect("Alice's sealed entry");
    store.save(&test_key("Hatter"), &entry).await.unwrap();
    let after = backend.raw().await;
    let hatter_name = after
        .iter()
        .filter(|(n, v)| v.starts_with(b"MCPOAUTH1") && !before.iter().any(|(m, _)| m == n))
        .map(|(n, _)| n.clone())
        .next()
        .expect("Hatter's sealed entry");
    backend.put_raw(&hatter_name, &alice_value).await;
    let err = store.load(&test_key("Hatter")).await.unwrap_err();
    assert!(matches!(err, StoreError::Undecryptable { .. }), "{err}");
    // `list` finds each user's own keys; delete removes them.
    assert_eq!(store.list("Alice").await.unwrap(), vec![alice.clone()]);
    assert_eq!(store.list("Nobody").await.unwrap(), Vec::<StoreKey>::new());
    store.delete(&test_key("Hatter")).await.unwrap();
    assert_eq!(store.list("Hatter").await.unwrap(), Vec::<StoreKey>::new());
    assert_eq!(store.load(&test_key("Hatter")).await.unwrap(), None);
    store.delete(&test_key("Hatter")).await.unwrap();

    // Pending authorizations: taken once; gone after their TTL.
    store.put_pending(&test_pending("state-one"), Duration::from_secs(30)).await.unwrap();
    let taken = store.take_pending("state-one").await.unwrap().unwrap();
    assert_eq!(taken, test_pending("state-one"));
    assert!(store.take_pending("state-one").await.unwrap().is_none(), "taken once");
    store.put_pending(&test_pending("state-two"), Duration::from_millis(200)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(store.take_pending("state-two").await.unwrap().is_none(), "expired");
    // Outcomes are read (not taken) until they expire; links open once and expire.
    let failed = ConsentOutcome::Failed { code: "access_denied".into(), message: "no".into() };
    store.put_outcome("state-one", &failed, Duration::from_millis(200)).await.unwrap();
    assert_eq!(store.outcome("state-one").await.unwrap(), Some(failed.clone()));
    assert_eq!(store.outcome("state-one").await.unwrap(), Some(failed));
    let link = ConsentLink {
        state: "state-four".into(),
        user: "Alice".into(),
        authorization_url: "http://127.0.0.1:8/auth?x".into(),
    };
    store.put_link("link-one", &link, Duration::from_secs(30)).await.unwrap();
    store.put_link("link-two", &link, Duration::from_millis(200)).await.unwrap();
    assert_eq!(store.take_link("link-one").await.unwrap(), Some(link));
    assert_eq!(store.take_link("link-one").await.unwrap(), None, "opens once");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.outcome("state-one").await.unwrap(), None, "outcome expired");
    assert_eq!(store.take_link("link-two").await.unwrap(), None, "link expired");

    // Neither user, state nor verifier is stored in clear.
    store.put_pending(&test_pending("state-three"), Duration::from_secs(30)).await.unwrap();
    store
        .put_link(
            "link-three",
            &ConsentLink {
                state: "state-three".into(),
                user: "Alice".into(),
                authorization_url: "http://127.0.0.1:8/auth?x".into(),
            },
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_sealed_and_hashed(
        &backend.raw().await,
        &["Alice", "Hatter", "state-three", "link-three"],
        &["dBjftJeZ4CVP".to_owned()],
    );
}

/// A request's record (native/src/server/results.rs) written by one replica is read by another,
/// under its user only; replaced when the request finishes; sealed under a hashed name (no user,
/// request id, state or reply in clear); gone after its TTL.
pub async fn request_results<B: Backend>() {
    use mcp_oauth::store::{RequestRecord, RequestStatus};
    let backend = B::start(false).await;
    let (a, b) = (backend.connect().await, backend.connect().await);
    let request_id = "5f1d0c3a9be74e21a0c4d2e8f6b71234";
    let waiting = RequestRecord {
        user: "Alice".into(),
        status: RequestStatus::Waiting { state: "state-secret-4711".into() },
    };
    a.put_result(request_id, &waiting, Duration::from_secs(60)).await.unwrap();
    assert_eq!(b.result("Alice", request_id).await.unwrap(), Some(waiting));
    assert_eq!(b.result("Hatter", request_id).await.unwrap(), None, "another user's request");
    assert_eq!(b.result("Alice", "0000").await.unwrap(), None, "an unknown request");

    let reply = r#"{"type":"result","result":{"content":[{"type":"text","text":"reply-secret"}]}}"#;
    let finished = RequestRecord {
        user: "Alice".into(),
        status: RequestStatus::Finished { reply: reply.into() },
    };
    a.put_result(request_id, &finished, Duration::from_millis(1500)).await.unwrap();
    assert_eq!(b.result("Alice", request_id).await.unwrap(), Some(finished));
    let raw = backend.raw().await;
    assert_sealed_and_hashed(
        &raw,
        &["Alice", request_id],
        &["state-secret-4711".to_owned(), "reply-secret".to_owned()],
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(b.result("Alice", request_id).await.unwrap(), None, "expired after its TTL");
}

/// A pending record, an outcome, a consent link and a request record are stored under the
/// names the store documents ([`Backend::record_name`]: the kind and the SHA-256 of the key),
/// which other replicas, of this version or another, read; a taken record's name is gone.
pub async fn record_names<B: Backend>() {
    use mcp_oauth::store::{ConsentLink, ConsentOutcome, RequestRecord, RequestStatus};
    let backend = B::start(false).await;
    let store = backend.connect().await;
    let ttl = Duration::from_secs(60);
    let (state, link_id, request_id) = ("state-of-names", "link-of-names", "request-of-names");
    let pending = test_pending(state);
    store.put_pending(&pending, ttl).await.unwrap();
    store.put_outcome(state, &ConsentOutcome::Authorized, ttl).await.unwrap();
    let link = ConsentLink {
        state: state.into(),
        user: "Alice".into(),
        authorization_url: "http://127.0.0.1:8/auth?x".into(),
    };
    store.put_link(link_id, &link, ttl).await.unwrap();
    let result = RequestRecord {
        user: "Alice".into(),
        status: RequestStatus::Waiting { state: state.into() },
    };
    store.put_result(request_id, &result, ttl).await.unwrap();

    let names = |raw: Vec<(String, Vec<u8>)>| {
        let mut names: Vec<String> = raw.into_iter().map(|(name, _)| name).collect();
        names.sort();
        names
    };
    let (pending_name, link_name) = (
        B::record_name("pending", &PendingRecord::state_key(state)),
        B::record_name("link", &PendingRecord::state_key(link_id)),
    );
    let mut expected = vec![
        pending_name.clone(),
        B::record_name("outcome", &PendingRecord::state_key(state)),
        link_name.clone(),
        B::record_name("result", &RequestRecord::key("Alice", request_id)),
    ];
    expected.sort();
    assert_eq!(names(backend.raw().await), expected);

    let other = backend.connect().await;
    assert_eq!(other.take_pending(state).await.unwrap(), Some(pending));
    assert_eq!(other.take_link(link_id).await.unwrap(), Some(link));
    assert_eq!(other.outcome(state).await.unwrap(), Some(ConsentOutcome::Authorized));
    assert_eq!(other.result("Alice", request_id).await.unwrap(), Some(result));
    expected.retain(|name| *name != pending_name && *name != link_name);
    assert_eq!(names(backend.raw().await), expected, "taken records are gone");
}

fn rotation_entry(user: &str) -> StoredEntry {
    use mcp_oauth::core::secret::{AccessToken, RefreshToken};
    use mcp_oauth::core::time::UnixTime;
    use mcp_oauth::core::token::TokenSet;
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

async fn sorted_raw<B: Backend>(backend: &B) -> Vec<(String, Vec<u8>)> {
    let mut raw = backend.raw().await;
    raw.sort();
    raw
}

/// Key rotation against the real server: entries written with key A do not open with B alone
/// (an `Undecryptable` error naming the hashed entry, nothing changed or deleted); a replica with
/// B current and A previous reads them and the pending records; a save re-seals with B (and a
/// read too, where the store re-seals on read); `reseal_all` rewrites the rest so that B alone
/// reads everything, and a second run finds everything current; a key set that opens nothing
/// lists every entry by its hashed name and leaves the store as it was.
pub async fn key_rotation<B: Backend>() {
    let (a, b, c) = ([0xa1; 32], [0xb2; 32], [0xc3; 32]);
    let backend = B::start(false).await;
    let old = backend.connect_with(SealingKeys::new(a)).await;
    let users = ["Alice", "Hatter", "Rabbit"];
    for user in users {
        old.save(&test_key(user), &rotation_entry(user)).await.unwrap();
    }
    old.put_pending(&test_pending("state-rotation"), Duration::from_secs(60)).await.unwrap();
    let mut names = old.entry_names().await.unwrap();
    names.sort();
    assert_eq!(names.len(), 3, "one name per token entry, nothing else: {names:?}");
    for name in &names {
        assert!(!name.contains("Alice") && !name.contains("Hatter"), "{name}");
    }

    // The new key alone: a clear error naming the hashed entry; nothing changed or deleted.
    let before = sorted_raw(&backend).await;
    let only_b = backend.connect_with(SealingKeys::new(b)).await;
    let err = only_b.load(&test_key("Alice")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Undecryptable { .. }), "{text}");
    assert!(names.iter().any(|n| text.contains(n.as_str())), "names the entry: {text}");
    assert!(!text.contains("Alice") && text.contains("PREVIOUS_KEYS"), "{text}");
    assert_eq!(sorted_raw(&backend).await, before, "a failed read changes nothing");

    // B current, A previous: everything opens, pending records too.
    let rotated = backend.connect_with(SealingKeys::new(b).with_previous([a])).await;
    let taken = rotated.take_pending("state-rotation").await.unwrap();
    assert_eq!(taken, Some(test_pending("state-rotation")));
    assert_eq!(rotated.load(&test_key("Alice")).await.unwrap(), Some(rotation_entry("Alice")));
    // A save seals with B.
    rotated.save(&test_key("Hatter"), &rotation_entry("Hatter")).await.unwrap();
    assert_eq!(only_b.load(&test_key("Hatter")).await.unwrap(), Some(rotation_entry("Hatter")));
    // The read re-sealed Alice's entry where the store does that.
    let alice = only_b.load(&test_key("Alice")).await;
    assert_eq!(alice.is_ok(), B::RESEALS_ON_READ, "{alice:?}");

    // Re-seal everything: B alone reads every entry afterwards.
    let report = reseal_all(&rotated).await.unwrap();
    let expected = if B::RESEALS_ON_READ { 1 } else { 2 };
    assert_eq!((report.resealed, report.already_current), (expected, 3 - expected), "{report:?}");
    assert!(report.complete(), "{report:?}");
    for user in users {
        assert_eq!(only_b.load(&test_key(user)).await.unwrap(), Some(rotation_entry(user)));
    }
    let again = reseal_all(&only_b).await.unwrap();
    assert_eq!((again.resealed, again.already_current), (0, 3), "{again:?}");

    // A key set that opens nothing: every entry listed by name, the store left as it was.
    let before = sorted_raw(&backend).await;
    let wrong = backend.connect_with(SealingKeys::new(c).with_previous([a])).await;
    let report = reseal_all(&wrong).await.unwrap();
    let mut unreadable = report.unreadable.clone();
    unreadable.sort();
    assert_eq!(unreadable, names, "{report:?}");
    assert!(!report.complete());
    assert_eq!(sorted_raw(&backend).await, before, "nothing rewritten or deleted");
}
