//! Any replica answers (native/src/server/results.rs): two replicas share one store (the memory
//! store shared in-process, and a real `redis-server`); a request taken on A is answered on B
//! over HTTP and over a WebSocket after a reconnect; cancel ends the consent at once as
//! `oauth_cancelled`, on whichever replica; users never see each other's requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mcp_oauth::store::{MemoryStore, PendingStore, RedisStore, TokenStore};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::Peers;
use crate::multi::*;

/// Two replicas on `a` and `b`; the redirect URI leads to B.
async fn replicas(
    peers: &Peers,
    a: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
    b: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
) -> (Running, Running, String) {
    let (la, lb) = (listener().await, listener().await);
    let redirect = format!("http://{}/auth/redirect", lb.local_addr().unwrap());
    let mut ca = config(&peers.mcp_url, &redirect, a.0, a.1);
    let mut cb = config(&peers.mcp_url, &redirect, b.0, b.1);
    ca.result_ttl = Duration::from_secs(3);
    cb.result_ttl = Duration::from_secs(3);
    (serve(la, ca).await, serve(lb, cb).await, redirect)
}

/// The next text message, as JSON.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message in time");
        match msg {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("websocket closed: {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// Alice over HTTP on A, polled on B; Rabbit over a WebSocket on A, resumed on B after a
/// reconnect; Hatter sees neither; the reply expires after `result_ttl`.
async fn any_replica_answers(
    a: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
    b: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
) {
    let peers = Peers::start();
    let (ra, rb, redirect) = replicas(&peers, a, b).await;
    let alice = Auth::Bearer(jwt("Alice", 600, JWT_SECRET));
    let hatter = Auth::Bearer(jwt("Hatter", 600, JWT_SECRET));

    let (status, reply) = post_chat(&ra.base(), &alice, &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!((&reply["server"], &reply["user"]), (&json!("demo"), &json!("Alice")), "{reply}");
    let id = reply["request_id"].as_str().unwrap().to_owned();
    // Still waiting for consent: B answers `pending`, after waiting.
    let started = Instant::now();
    let (status, pending) = poll_chat(&rb.base(), &alice, &id, 1).await;
    assert_eq!((status, &pending["type"]), (202, &json!("pending")), "{pending}");
    assert!(started.elapsed() >= Duration::from_millis(900), "B waited before answering");
    // Hatter cannot see Alice's request, on either replica.
    for base in [ra.base(), rb.base()] {
        let (status, r) = poll_chat(&base, &hatter, &id, 0).await;
        assert_eq!((status, &r["code"]), (404, &json!("unknown_request")), "{r}");
    }
    let (page, text) = consent(reply["url"].as_str().unwrap(), "Alice", &redirect).await;
    assert_eq!(page, 200, "{text}");
    let (status, done) = poll_chat(&rb.base(), &alice, &id, 20).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(tool_text(&done), "Alice");
    // A answers too (once from memory, then from the store), and B again.
    for base in [ra.base(), ra.base(), rb.base()] {
        let (status, again) = poll_chat(&base, &alice, &id, 0).await;
        assert_eq!((status, tool_text(&again)), (200, "Alice".to_owned()), "{again}");
    }
    let (status, r) = poll_chat(&rb.base(), &hatter, &id, 0).await;
    assert_eq!(status, 404, "Hatter cannot read Alice's result: {r}");

    // Rabbit: a WebSocket on A, closed after `oauth_required`; consent; a new WebSocket on B
    // asks for the request by id.
    let rabbit = Auth::Cookie(ra.session("Rabbit"));
    let mut ws = ws_connect(&ra.base(), &rabbit).await.unwrap();
    send(&mut ws, json!({ "id": "w1", "server": "demo", "action": "call_tool", "tool": "whoami" }))
        .await;
    let required = next(&mut ws).await;
    assert_eq!(required["type"], "oauth_required", "{required}");
    assert_eq!(required["user"], "Rabbit", "{required}");
    let rid = required["request_id"].as_str().expect("a request id on the WebSocket").to_owned();
    drop(ws);
    let mut ws = ws_connect(&rb.base(), &Auth::Cookie(rb.session("Rabbit"))).await.unwrap();
    send(&mut ws, json!({ "type": "resume", "id": "r1", "request_id": rid })).await;
    let (page, text) = consent(required["url"].as_str().unwrap(), "Rabbit", &redirect).await;
    assert_eq!(page, 200, "{text}");
    let done = next(&mut ws).await;
    assert_eq!(tool_text(&done), "Rabbit");
    assert_eq!(done["id"], "r1", "the resume's id: {done}");
    // Hatter's WebSocket cannot resume Rabbit's request.
    let mut hws = ws_connect(&rb.base(), &hatter).await.unwrap();
    send(&mut hws, json!({ "type": "resume", "id": "h1", "request_id": rid })).await;
    let refused = next(&mut hws).await;
    assert_eq!((&refused["code"], &refused["id"]), (&json!("unknown_request"), &json!("h1")));

    // After `result_ttl` (3 s) the reply is gone.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, r) = poll_chat(&rb.base(), &alice, &id, 0).await;
    assert_eq!((status, &r["code"]), (404, &json!("unknown_request")), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_replica_answers_with_a_shared_memory_store() {
    let store = Arc::new(MemoryStore::new());
    any_replica_answers((store.clone(), store.clone()), (store.clone(), store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_replica_answers_with_redis() {
    let redis = Redis::start();
    let a = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let b = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    any_replica_answers((a.clone(), a), (b.clone(), b)).await;
}

/// Cancel: refused for another user; for the owner it ends the waiting request on the other
/// replica as `oauth_cancelled` at once (the consent timeout is 60 s), and the consent link no
/// longer completes; over the WebSocket likewise.
async fn cancel_ends_the_consent(
    a: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
    b: (Arc<dyn TokenStore>, Arc<dyn PendingStore>),
) {
    let peers = Peers::start();
    let (ra, rb, redirect) = replicas(&peers, a, b).await;
    let alice = Auth::Bearer(jwt("Alice", 600, JWT_SECRET));
    let hatter = Auth::Bearer(jwt("Hatter", 600, JWT_SECRET));
    let (status, reply) = post_chat(&ra.base(), &alice, &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    let id = reply["request_id"].as_str().unwrap().to_owned();

    let cancel = |base: String, auth: Auth, id: String| async move {
        mcp_oauth::http::install_crypto_provider();
        let resp = reqwest::Client::new()
            .post(format!("{base}/v1/chat/{id}/cancel"))
            .bearer_auth(match &auth {
                Auth::Bearer(t) => t.clone(),
                _ => unreachable!(),
            })
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let (status, r) = cancel(rb.base(), hatter.clone(), id.clone()).await;
    assert_eq!((status, &r["code"]), (404, &json!("unknown_request")), "{r}");
    let (status, r) = poll_chat(&ra.base(), &alice, &id, 0).await;
    assert_eq!(status, 202, "Hatter's cancel left Alice's request waiting: {r}");

    let started = Instant::now();
    let (status, r) = cancel(rb.base(), alice.clone(), id.clone()).await;
    assert_eq!((status, &r["code"]), (409, &json!("oauth_cancelled")), "{r}");
    let (status, r) = poll_chat(&ra.base(), &alice, &id, 5).await;
    assert_eq!((status, &r["code"]), (409, &json!("oauth_cancelled")), "{r}");
    assert!(started.elapsed() < Duration::from_secs(5), "ended at once: {:?}", started.elapsed());
    // The link of the cancelled consent leads nowhere.
    let (page, text) = consent(reply["url"].as_str().unwrap(), "Alice", &redirect).await;
    assert_eq!(page, 400, "{text}");
    assert!(text.contains("Authorization not found"), "{text}");

    // Over the WebSocket, on the replica that waits: both the request and the cancel end so.
    let mut ws = ws_connect(&ra.base(), &Auth::Cookie(ra.session("Rabbit"))).await.unwrap();
    send(&mut ws, json!({ "id": "w1", "server": "demo", "action": "call_tool", "tool": "whoami" }))
        .await;
    let required = next(&mut ws).await;
    assert_eq!(required["type"], "oauth_required", "{required}");
    let started = Instant::now();
    send(&mut ws, json!({ "type": "cancel", "id": "c1", "request_id": required["request_id"] }))
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = next(&mut ws).await;
        assert_eq!(r["code"], "oauth_cancelled", "{r}");
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["c1", "w1"]);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // After the cancel, a new request asks for a new consent.
    let (status, again) = post_chat(&rb.base(), &alice, &whoami()).await;
    assert_eq!((status, &again["type"]), (202, &json!("oauth_required")), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_ends_the_consent_with_a_shared_memory_store() {
    let store = Arc::new(MemoryStore::new());
    cancel_ends_the_consent((store.clone(), store.clone()), (store.clone(), store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_ends_the_consent_across_redis_replicas() {
    let redis = Redis::start();
    let a = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let b = Arc::new(RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    cancel_ends_the_consent((a.clone(), a), (b.clone(), b)).await;
}
