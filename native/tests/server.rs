//! The multi-user server (features `server`, `redis`) end to end: real peers (oidc-provider,
//! MCP SDK), real `redis-server`, real HTTP and WebSocket clients, servers on free loopback
//! ports. The Redis store runs the shared store battery (tests/support/battery.rs) as
//! `redis_store::*`.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;
#[macro_use]
#[path = "support/battery.rs"]
mod battery;
#[path = "server/replicas.rs"]
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use common::Peers;
use mcp_oauth::store::{MemoryStore, RedisStore};
use multi::*;
use serde_json::json;

/// The Redis store's backend for the battery: a `redis-server` of its own per test (it starts
/// in milliseconds), no persistence (a restart empties it).
struct RedisBackend(Redis);

impl battery::Backend for RedisBackend {
    type Store = RedisStore;

    async fn start(_stoppable: bool) -> Self {
        RedisBackend(Redis::start())
    }

    async fn connect(&self) -> RedisStore {
        RedisStore::connect(&self.0.url(), &STORE_KEY).await.unwrap()
    }

    async fn connect_with(&self, keys: mcp_oauth::store::SealingKeys) -> RedisStore {
        RedisStore::connect(&self.0.url(), keys).await.unwrap()
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    fn restart(&mut self) {
        self.0 = Redis::start_on(self.0.port);
    }

    fn backend_name(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    async fn raw(&self) -> Vec<(String, Vec<u8>)> {
        let mut conn = self.conn().await;
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
        let mut out = Vec::new();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query_async(&mut conn).await.unwrap();
            let value: Vec<u8> = match t.as_str() {
                "string" => redis::cmd("GET").arg(&k).query_async(&mut conn).await.unwrap(),
                "set" => {
                    let m: Vec<String> =
                        redis::cmd("SMEMBERS").arg(&k).query_async(&mut conn).await.unwrap();
                    m.join("\n").into_bytes()
                }
                other => panic!("unexpected Redis type {other} of {k}"),
            };
            out.push((k, value));
        }
        out
    }

    async fn put_raw(&self, name: &str, value: &[u8]) {
        let mut conn = self.conn().await;
        let _: () = redis::cmd("SET").arg(name).arg(value).query_async(&mut conn).await.unwrap();
    }

    /// `<prefix><kind>:<hash>`, the default prefix `mcp-oauth:` (native/src/store/redis.rs).
    fn record_name(kind: &str, hash: &str) -> String {
        format!("mcp-oauth:{kind}:{hash}")
    }
}

impl RedisBackend {
    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.0.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

mod redis_store {
    store_battery!(super::RedisBackend);
}

/// Alice, Hatter and Rabbit on one server with the memory store (`battery::three_users`; the
/// shared stores run it too, in their batteries).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_users_consent_separately_and_never_share_tokens() {
    battery::three_users(Arc::new(MemoryStore::new())).await;
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
    mcp_oauth::http::install_crypto_provider();
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
    mcp_oauth::http::install_crypto_provider();
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
