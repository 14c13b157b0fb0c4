//! The multi-user server (features `server`, `redis`) end to end: real peers (oidc-provider,
//! MCP SDK), real `redis-server`, real HTTP and WebSocket clients, servers on free loopback
//! ports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;

use std::sync::Arc;
use std::time::Duration;

use common::{count, Peers};
use mcp_oauth::store::{MemoryStore, RedisStore};
use multi::*;
use serde_json::json;

/// Alice (WebSocket, session cookie), Hatter (HTTP, bearer JWT) and Rabbit (WebSocket,
/// `?session=`) at once: each is asked for consent once, each gets tokens of their own, and
/// every MCP call carries the caller's token only (the MCP peer's `whoami` reports the token's
/// subject, which the authorization server set from the user's login).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_users_consent_separately_and_never_share_tokens() {
    let peers = Peers::start();
    let store = Arc::new(MemoryStore::new());
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
        let keys = mcp_oauth::store::TokenStore::list(store.as_ref(), user).await.unwrap();
        assert_eq!(keys.len(), 1, "{user}: {keys:?}");
        let entry =
            mcp_oauth::store::TokenStore::load(store.as_ref(), &keys[0]).await.unwrap().unwrap();
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
async fn introspected_subject(peers: &Peers, token: &str) -> String {
    let meta =
        common::get_json(&format!("{}/.well-known/openid-configuration", peers.issuer)).await;
    let resp: serde_json::Value = reqwest::Client::new()
        .post(meta["introspection_endpoint"].as_str().unwrap())
        .basic_auth("mcp-resource-server", Some("mcp-resource-server-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", urlencode(token)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["active"], true, "{resp}");
    resp["sub"].as_str().unwrap_or_default().to_owned()
}

/// No identity, a bad signature, an expired JWT, a wrong audience, a forged session: 401 with
/// the reason, on HTTP and on the WebSocket upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unidentified_callers_get_401() {
    let store = Arc::new(MemoryStore::new());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv = serve(l, config("http://127.0.0.1:9/mcp", &redirect, store.clone(), store)).await;
    let base = srv.base();
    let body = whoami();
    let cases = [
        (Auth::None, "identity_missing"),
        (Auth::Bearer(jwt("Alice", 600, b"not-the-secret-not-the-secret-000000")), "token_invalid"),
        (Auth::Bearer(jwt("Alice", -120, JWT_SECRET)), "token_invalid"),
        (Auth::Bearer("not.a.jwt".into()), "token_invalid"),
        (Auth::Cookie(format!("{}x", srv.session("Alice"))), "session_invalid"),
    ];
    for (auth, reason) in cases {
        let (status, reply) = post_chat(&base, &auth, &body).await;
        assert_eq!(status, 401, "{auth:?}: {reply}");
        assert_eq!(reply["code"], "unauthenticated");
        assert_eq!(reply["reason"], reason, "{auth:?}: {reply}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
        assert_eq!(ws_connect(&base, &auth).await.err(), Some(401), "{auth:?}");
    }
    // The expired one says so.
    let (_, reply) = post_chat(&base, &Auth::Bearer(jwt("Alice", -120, JWT_SECRET)), &body).await;
    assert!(reply["message"].as_str().unwrap().contains("Expired"), "{reply}");
    // A wrong audience.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims =
        json!({"sub": "Alice", "iss": JWT_ISSUER, "aud": "someone-else", "exp": now + 600});
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let (status, reply) = post_chat(&base, &Auth::Bearer(t), &body).await;
    assert_eq!(status, 401, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("Audience"), "{reply}");
    // Not valid yet (nbf in the future).
    let claims = json!({"sub": "Alice", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": now + 900, "nbf": now + 600});
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let (status, reply) = post_chat(&base, &Auth::Bearer(t), &body).await;
    assert_eq!(status, 401, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("ImmatureSignature"), "{reply}");
    // A wrong issuer.
    let claims = json!({"sub": "Alice", "iss": "https://evil.example", "aud": JWT_AUDIENCE, "exp": now + 600});
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET),
    )
    .unwrap();
    let (status, reply) = post_chat(&base, &Auth::Bearer(t), &body).await;
    assert_eq!(status, 401, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("Issuer"), "{reply}");
    // A cookie-authenticated WebSocket from another origin is refused (403); JSON only on POST.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{}/ws", base.replace("http://", "ws://")),
    )
    .unwrap();
    req.headers_mut()
        .insert("cookie", format!("mcp_session={}", srv.session("Alice")).parse().unwrap());
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403)
        }
        other => panic!("cross-origin WebSocket accepted: {:?}", other.map(|_| ())),
    }
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat"))
        .header("cookie", format!("mcp_session={}", srv.session("Alice")))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    // ?session= is for the WebSocket only.
    let (status, _) = post_chat(&base, &Auth::QuerySession(srv.session("Alice")), &body).await;
    assert_eq!(status, 401);
    // A callback from a browser that opened no consent link for this state (here: one never
    // issued): refused before the store is read, nothing changed; absent state: 400.
    let resp =
        reqwest::get(format!("{base}/auth/redirect?code=x&state=never-issued")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().await.unwrap().contains("nothing was changed"));
    let resp = reqwest::get(format!("{base}/auth/redirect?code=x")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

/// ES256 bearer tokens verified with a key from a JWKS URL (served by the test); a token signed
/// by another key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_jwt_verified_with_jwks_es256() {
    use mcp_oauth::core::__private::encoding::base64url_nopad;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let make = || {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        (pkcs8.as_ref().to_vec(), public)
    };
    let (good_key, good_pub) = make();
    let (evil_key, _) = make();
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": base64url_nopad(&good_pub[1..33]), "y": base64url_nopad(&good_pub[33..65]),
    }]});
    let jl = listener().await;
    let jwks_url = format!("http://{}/jwks", jl.local_addr().unwrap());
    let jwks_task = tokio::spawn(async move {
        let app = axum::Router::new()
            .route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
        axum::serve(jl, app).await.unwrap();
    });
    let mut cfg =
        mcp_oauth::server::JwtConfig::new(mcp_oauth::server::JwtKey::Jwks { url: jwks_url });
    cfg.audience = Some(JWT_AUDIENCE.into());
    cfg.issuer = Some(JWT_ISSUER.into());
    let identity =
        mcp_oauth::server::Identity::new(SESSION_SECRET, Duration::from_secs(60), Some(cfg))
            .unwrap();
    let sign = |key: &[u8], exp_in: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("k1".into());
        let claims =
            json!({"sub": "Alice", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": now + exp_in});
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_ec_der(key)).unwrap()
    };
    assert_eq!(identity.bearer_user(&sign(&good_key, 600)).await.unwrap(), "Alice");
    let forged = identity.bearer_user(&sign(&evil_key, 600)).await.unwrap_err();
    assert_eq!(forged.code(), "token_invalid", "{forged}");
    assert!(forged.to_string().contains("InvalidSignature"), "{forged}");
    let expired = identity.bearer_user(&sign(&good_key, -600)).await.unwrap_err();
    assert!(expired.to_string().contains("Expired"), "{expired}");
    // HS256 is not accepted where keys come from a JWKS (algorithm confusion).
    let hs = identity.bearer_user(&jwt("Alice", 600, JWT_SECRET)).await.unwrap_err();
    assert!(hs.to_string().contains("not accepted"), "{hs}");
    jwks_task.abort();
}

/// Two servers (separate managers and caches) share Redis; the redirect URI leads to the second
/// one (a load balancer would do the same). Consent is started on the first, the callback is
/// served by the second, and the first's request completes. Then the second serves the user
/// from the shared tokens without asking again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_redis_consent_started_on_one_completed_on_the_other() {
    let peers = Peers::start();
    let redis = Redis::start();
    let (la, lb) = (listener().await, listener().await);
    let redirect = format!("http://{}/auth/redirect", lb.local_addr().unwrap());
    let store_a = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let store_b = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let a = serve(la, config(&peers.mcp_url, &redirect, store_a.clone(), store_a)).await;
    let b = serve(lb, config(&peers.mcp_url, &redirect, store_b.clone(), store_b)).await;
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
    // Replica B serves Alice from Redis without consent.
    let (reply, asked) = http_exchange(&b.base(), &auth, "Alice", &redirect, &whoami()).await;
    assert!(!asked);
    assert_eq!(tool_text(&reply), "Alice");
    assert_eq!(count(&peers.as_stats().await, "/token/authorization_code"), 1);
    // Nothing in Redis holds a token in clear.
    let mut conn =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(keys.iter().any(|k| k.starts_with("mcp-oauth:tok:")), "{keys:?}");
    for k in keys.iter().filter(|k| k.starts_with("mcp-oauth:tok:")) {
        let v: Vec<u8> = redis::cmd("GET").arg(k).query_async(&mut conn).await.unwrap();
        assert!(v.starts_with(b"MCPOAUTH1"));
        assert!(!String::from_utf8_lossy(&v).contains("access_token"));
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    mcp_oauth::core::__private::encoding::form_encode_component(s, &mut out);
    out
}

/// Denied consent and a consent that never comes: typed errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_and_timed_out_consent_are_typed_errors() {
    let peers = Peers::start_with(&[("PEER_CONSENT", "deny".to_owned())], &[]);
    let store = Arc::new(MemoryStore::new());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let mut cfg = config(&peers.mcp_url, &redirect, store.clone(), store.clone());
    cfg.consent_timeout = Duration::from_secs(3);
    let srv = serve(l, cfg).await;
    let auth = Auth::Cookie(srv.session("Alice"));
    let mut ws = ws_connect(&srv.base(), &auth).await.unwrap();
    let (reply, asked) = ws_exchange(&mut ws, "Alice", &redirect, &whoami()).await;
    assert!(asked);
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "oauth_denied", "{reply}");
    // Asking again starts a new consent (the denied one is over).
    let (reply, asked) = ws_exchange(&mut ws, "Alice", &redirect, &whoami()).await;
    assert!(asked, "a new consent was asked");
    assert_eq!(reply["code"], "oauth_denied", "{reply}");
    // No consent at all: oauth_timeout after the consent timeout.
    let (status, reply) =
        post_chat(&srv.base(), &Auth::Cookie(srv.session("Hatter")), &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    let (status, done) = poll_chat(
        &srv.base(),
        &Auth::Cookie(srv.session("Hatter")),
        reply["request_id"].as_str().unwrap(),
        10,
    )
    .await;
    assert_eq!(status, 408, "{done}");
    assert_eq!(done["code"], "oauth_timeout");
    // Another user cannot poll Hatter's request.
    let (status, _) = poll_chat(
        &srv.base(),
        &Auth::Cookie(srv.session("Alice")),
        reply["request_id"].as_str().unwrap(),
        0,
    )
    .await;
    assert_eq!(status, 404);
}

/// Redis stops: requests that need the store fail with `store_unavailable` (503) and a message
/// naming Redis; when Redis is back, the same server works again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_gives_clear_errors_and_recovers() {
    let peers = Peers::start();
    let mut redis = Redis::start();
    let port = redis.port;
    let store = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv = serve(l, config(&peers.mcp_url, &redirect, store.clone(), store)).await;
    let alice = Auth::Cookie(srv.session("Alice"));
    let (reply, asked) = http_exchange(&srv.base(), &alice, "Alice", &redirect, &whoami()).await;
    assert!(asked);
    assert_eq!(tool_text(&reply), "Alice");

    redis.stop();
    let (status, reply) =
        post_chat(&srv.base(), &Auth::Cookie(srv.session("Hatter")), &whoami()).await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["code"], "store_unavailable");
    assert!(reply["message"].as_str().unwrap().contains("redis://127.0.0.1"), "{reply}");

    let _redis = Redis::start_on(port);
    let mut last = serde_json::Value::Null;
    for _ in 0..50 {
        let (status, reply) =
            post_chat(&srv.base(), &Auth::Cookie(srv.session("Hatter")), &whoami()).await;
        if status == 202 {
            last = reply;
            break;
        }
        last = reply;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last["type"], "oauth_required", "recovered: {last}");
    let (page, text) = consent(last["url"].as_str().unwrap(), "Hatter", &redirect).await;
    assert_eq!(page, 200, "{text}");
}

/// 200 users with short-lived tokens call tools at once through two replicas sharing Redis:
/// every call succeeds with the caller's own subject, no one is asked to consent again, and each
/// user's token is refreshed exactly once per expiry (counted at the authorization server), so
/// rotated refresh tokens are never lost. The peer's tokens live 20 s and the client refreshes
/// half a lifetime early: a token is due 10 s after it is issued. (`PEER_STORE=map`: the peer's
/// default store would evict live grants past ~1000 entries.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_users_refresh_once_per_expiry_across_replicas() {
    const USERS: usize = 200;
    let peers = Peers::start_with(
        &[("PEER_ACCESS_TTL", "20".to_owned()), ("PEER_STORE", "map".to_owned())],
        &[],
    );
    let redis = Redis::start();
    let (la, lb) = (listener().await, listener().await);
    let redirect = format!("http://{}/auth/redirect", la.local_addr().unwrap());
    let store_a = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let store_b = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let a = serve(la, config(&peers.mcp_url, &redirect, store_a.clone(), store_a)).await;
    let b = serve(lb, config(&peers.mcp_url, &redirect, store_b.clone(), store_b.clone())).await;
    let users: Vec<String> = (0..USERS).map(|i| format!("user{i:03}")).collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));

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
    // Every user still holds a refresh token in Redis.
    for user in &users {
        let keys = mcp_oauth::store::TokenStore::list(store_b.as_ref(), user).await.unwrap();
        assert_eq!(keys.len(), 1, "{user}");
        let entry =
            mcp_oauth::store::TokenStore::load(store_b.as_ref(), &keys[0]).await.unwrap().unwrap();
        assert!(entry.tokens.unwrap().refresh_token.is_some(), "{user}");
    }
}

/// The Redis store's guarantees, against a real redis-server: the refresh lock expires, a
/// holder whose lock expired cannot write (compare-and-set) nor release the new holder's lock
/// (compare-and-delete); a pending authorization is taken once and expires with its TTL; a
/// sealed value moved onto another key does not open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_lock_compare_and_set_and_pending_ttl() {
    use mcp_oauth::core::authorize::PendingAuthorization;
    use mcp_oauth::store::{
        PendingRecord, PendingStore, StoreError, StoreKey, StoredEntry, TokenStore,
    };
    let redis = Redis::start();
    let store = RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap();
    let key = |user: &str| StoreKey {
        user: user.into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        issuer: "http://127.0.0.1:8".into(),
    };
    let alice = key("Alice");
    let entry = StoredEntry::default();
    store.save(&alice, &entry).await.unwrap();

    // A holder that crashed (its runtime, and so its lock renewal, gone): the lock expires.
    let first = {
        let (url, alice) = (redis.url(), alice.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let crashed = RedisStore::connect(&url, &STORE_KEY).await.unwrap();
                crashed.lock(&alice, Duration::from_millis(500)).await.unwrap().unwrap()
            })
        })
        .join()
        .unwrap()
    };
    let started = std::time::Instant::now();
    let second = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "waited for the first lock to expire");
    let lost = store.save_locked(&alice, &entry, &first).await.unwrap_err();
    assert!(matches!(lost, StoreError::LockLost { .. }), "{lost}");
    store.unlock(&first).await.unwrap();
    store.save_locked(&alice, &entry, &second).await.unwrap();
    store.unlock(&second).await.unwrap();
    let third = store.lock(&alice, Duration::from_secs(5)).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "released at once");
    store.unlock(&third).await.unwrap();

    // A sealed entry copied onto another user's key does not open.
    let mut conn =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg("mcp-oauth:tok:*").query_async(&mut conn).await.unwrap();
    let value: Vec<u8> = redis::cmd("GET").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    store.save(&key("Hatter"), &entry).await.unwrap();
    let keys2: Vec<String> =
        redis::cmd("KEYS").arg("mcp-oauth:tok:*").query_async(&mut conn).await.unwrap();
    let hatter_key = keys2.iter().find(|k| **k != keys[0]).unwrap();
    let _: () = redis::cmd("SET").arg(hatter_key).arg(value).query_async(&mut conn).await.unwrap();
    let err = store.load(&key("Hatter")).await.unwrap_err();
    assert!(matches!(err, StoreError::Undecryptable { .. }), "{err}");

    // Pending authorizations: taken once; gone after their TTL.
    let pending = |state: &str| {
        let text = format!(
            r#"{{"state":"{state}","verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk","issuer":"http://127.0.0.1:8","iss_parameter_supported":true,"redirect_uri":"http://localhost:8000/auth/redirect","resource":"http://127.0.0.1:9/mcp","client_id":"c","authorization_url":"http://127.0.0.1:8/auth?x","created_at":1}}"#
        );
        PendingRecord {
            user: "Alice".into(),
            server: "demo".into(),
            pending: PendingAuthorization::from_json(&text).unwrap(),
        }
    };
    store.put_pending(&pending("state-one"), Duration::from_secs(30)).await.unwrap();
    let taken = store.take_pending("state-one").await.unwrap().unwrap();
    assert_eq!(taken, pending("state-one"));
    assert!(store.take_pending("state-one").await.unwrap().is_none(), "taken once");
    store.put_pending(&pending("state-two"), Duration::from_millis(200)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.take_pending("state-two").await.unwrap().is_none(), "expired");
    // Neither state nor verifier is stored in clear.
    store.put_pending(&pending("state-three"), Duration::from_secs(30)).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    for k in &keys {
        assert!(!k.contains("state-three"), "{k}");
        let t: String = redis::cmd("TYPE").arg(k).query_async(&mut conn).await.unwrap();
        if t == "string" {
            let v: Vec<u8> = redis::cmd("GET").arg(k).query_async(&mut conn).await.unwrap();
            assert!(!String::from_utf8_lossy(&v).contains("dBjftJeZ4CVP"), "{k}");
        }
    }
}

/// Idle sessions are evicted; past `max_sessions` the least recently used go first; eviction
/// keeps the tokens (they are in the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_evicted_and_memory_is_bounded() {
    let store = Arc::new(MemoryStore::new());
    let mut cfg = config(
        "http://127.0.0.1:9/mcp",
        "http://localhost:8000/auth/redirect",
        store.clone(),
        store,
    );
    cfg.max_sessions = 3;
    let manager = mcp_oauth::server::UserManager::new(Arc::new(cfg));
    for user in ["a", "b", "c"] {
        manager.get(user, "demo").unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(manager.len(), 3);
    manager.get("a", "demo").unwrap(); // a is now the most recent
    tokio::time::sleep(Duration::from_millis(5)).await;
    manager.get("d", "demo").unwrap(); // evicts b, the least recently used
    assert_eq!(manager.len(), 3);
    let held = manager.get("a", "demo").unwrap();
    assert!(Arc::ptr_eq(&held, &manager.get("a", "demo").unwrap()), "a was kept");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(manager.evict_idle(Duration::from_millis(10)), 2, "c and d idle; a in use");
    assert_eq!(manager.len(), 1);
    drop(held);
    assert_eq!(manager.evict_idle(Duration::ZERO), 1);
    assert!(manager.is_empty());
    let err = manager.get("a", "nope").unwrap_err();
    assert!(err.to_string().contains("unknown MCP server `nope`"), "{err}");
}

/// A loopback redirect URI without a port means port 8000, for registration and listening.
#[tokio::test]
async fn redirect_uri_without_port_means_8000() {
    let store = Arc::new(MemoryStore::new());
    let cfg =
        config("http://127.0.0.1:9/mcp", "http://localhost/auth/redirect", store.clone(), store);
    assert_eq!(cfg.redirect_listen_addr(), Some("127.0.0.1:8000".parse().unwrap()));
    let server = mcp_oauth::server::MultiUserServer::new(cfg, identity()).unwrap();
    assert_eq!(server.config().redirect_uri, "http://localhost:8000/auth/redirect");
    let store = Arc::new(MemoryStore::new());
    let cfg =
        config("http://127.0.0.1:9/mcp", "https://app.example/auth/redirect", store.clone(), store);
    assert_eq!(cfg.redirect_listen_addr(), None, "the host decides where a public URI listens");
}

/// The server's rewrite of a loopback redirect URI without a port keeps its path and query, and
/// an explicit `:80` stays port 80.
#[tokio::test]
async fn redirect_uri_rewrite_keeps_the_query_and_an_explicit_port() {
    let store = Arc::new(MemoryStore::new());
    let given = "http://localhost/auth/redirect?tenant=a&x=%2F";
    let cfg = config("http://127.0.0.1:9/mcp", given, store.clone(), store);
    let server = mcp_oauth::server::MultiUserServer::new(cfg, identity()).unwrap();
    assert_eq!(server.config().redirect_uri, "http://localhost:8000/auth/redirect?tenant=a&x=%2F");
    assert_eq!(
        server.config().redirect_listen_addrs(),
        ["127.0.0.1:8000".parse().unwrap(), "[::1]:8000".parse().unwrap()]
    );

    let store = Arc::new(MemoryStore::new());
    let cfg = config("http://127.0.0.1:9/mcp", "http://127.0.0.1:80/cb?q", store.clone(), store);
    assert_eq!(cfg.redirect_listen_addr(), Some("127.0.0.1:80".parse().unwrap()));
    let server = mcp_oauth::server::MultiUserServer::new(cfg, identity()).unwrap();
    assert_eq!(server.config().redirect_uri, "http://127.0.0.1:80/cb?q");

    let store = Arc::new(MemoryStore::new());
    let cfg = config("http://127.0.0.1:9/mcp", "http://[::1]/cb", store.clone(), store);
    assert_eq!(cfg.redirect_listen_addr(), Some("[::1]:8000".parse().unwrap()));
}

/// RFC 7638 §3.2 thumbprint of an EC JWK, computed here independently of the code under test.
fn ec_thumbprint(jwk: &serde_json::Value) -> String {
    use sha2::Digest;
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    let digest = sha2::Sha256::digest(canonical.as_bytes());
    mcp_oauth::core::__private::encoding::base64url_nopad(&digest)
}

/// The server's `dpop` option (RFC 9449): one user against a DPoP-only MCP server with nonces at
/// both servers; the default `never` is overridden for that server by `server_dpop`. The user's
/// tokens are DPoP-bound to a key kept in their (Redis) entry: a second replica started after
/// the first is gone serves the user from the store with the same key, no token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_tokens_are_dpop_bound_and_the_key_is_reloaded_from_the_store() {
    use mcp_oauth::core::dpop::{DpopMode, DpopSigner};
    let peers =
        Peers::start_with(&[("PEER_DPOP_NONCE", "1".into())], &[("MCP_DPOP_NONCE", "1".into())]);
    let redis = Redis::start();
    let auth = Auth::Bearer(jwt("Alice", 600, JWT_SECRET));
    let dpop_config = |redirect: &str, store: Arc<RedisStore>| {
        let mut c = config(&peers.mcp_url, redirect, store.clone(), store);
        c.dpop = DpopMode::Never;
        c.with_server_dpop("demo", DpopMode::Auto)
    };

    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let store = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let a = serve(l, dpop_config(&redirect, store.clone())).await;
    let (reply, asked) = http_exchange(&a.base(), &auth, "Alice", &redirect, &whoami()).await;
    assert!(asked);
    assert_eq!(tool_text(&reply), "Alice", "{reply}");
    drop(a);

    // The entry holds the DPoP-bound tokens and the key they are bound to.
    let keys = mcp_oauth::store::TokenStore::list(store.as_ref(), "Alice").await.unwrap();
    let entry =
        mcp_oauth::store::TokenStore::load(store.as_ref(), &keys[0]).await.unwrap().unwrap();
    let tokens = entry.tokens.clone().unwrap();
    assert!(tokens.is_dpop_bound());
    let key = mcp_oauth::dpop::RingDpopSigner::from_material(entry.dpop_key.as_ref().unwrap())
        .expect("the stored key");
    let jkt = key.key().jwk.thumbprint();
    let as_stats = peers.as_stats().await;
    let token_requests = as_stats["dpop_token_requests"].as_array().unwrap().clone();
    let grants: Vec<(&str, u64)> = token_requests
        .iter()
        .map(|r| (r["grant_type"].as_str().unwrap(), r["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        grants,
        [("authorization_code", 400), ("authorization_code", 200)],
        "one nonce retry"
    );
    assert_eq!(ec_thumbprint(&token_requests[1]["header"]["jwk"]), jkt);
    let before = peers.mcp_stats().await["dpop_requests"].as_array().unwrap().len();

    // Another replica, started after the first is gone: the user's entry from Redis.
    let l = listener().await;
    let redirect_b = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let store_b = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let b = serve(l, dpop_config(&redirect_b, store_b)).await;
    let (reply, asked) = http_exchange(&b.base(), &auth, "Alice", &redirect_b, &whoami()).await;
    assert!(!asked, "no consent: the stored tokens");
    assert_eq!(tool_text(&reply), "Alice", "{reply}");
    let mcp = peers.mcp_stats().await["dpop_requests"].as_array().unwrap().clone();
    assert!(mcp.len() > before);
    for r in &mcp {
        assert_eq!(r["authorization_scheme"], "DPoP", "never Bearer: {r}");
        assert_eq!(ec_thumbprint(&r["header"]["jwk"]), jkt, "one key, before and after: {r}");
    }
    assert!(mcp[before..].iter().any(|r| r["decision"] == "accepted"), "{mcp:?}");
    let after = peers.as_stats().await["dpop_token_requests"].as_array().unwrap().len();
    assert_eq!(after, token_requests.len(), "no token request after the reload");
}
