//! Single-flight cold metadata fetches (native/src/cache.rs): users starting at once against a
//! server whose metadata nobody has fetched yet make one request per metadata document, and a
//! failed fetch is shared by the callers of its flight only.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::store::MemoryStore;
use mcp_oauth::{ClientOptions, OAuthClient};

const USERS: usize = 50;

/// A fake MCP server and authorization server on one origin, counting requests by path.
/// Metadata answers come after `delay` (so that the users' requests overlap); with `fail_as`
/// every authorization-server metadata request gets a 500.
struct Fake {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start(delay: Duration, fail_as: bool) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (b, h) = (base.clone(), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (b, h) = (b.clone(), Arc::clone(&h));
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (b, h) = (b.clone(), Arc::clone(&h));
                        async move { Ok::<_, Infallible>(answer(&b, &h, req, delay, fail_as).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = http1::Builder::new().serve_connection(io, svc).await;
                });
            }
        });
        Fake { base, hits, task }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn metadata_hits(&self) -> usize {
        let hits = self.hits.lock().unwrap();
        hits.iter().filter(|(p, _)| p.starts_with("/.well-known/")).map(|(_, n)| n).sum()
    }

    fn client(&self) -> OAuthClient {
        let mut opts =
            ClientOptions::new(format!("{}/mcp", self.base), Arc::new(MemoryStore::new()))
                .expect("options");
        // A cache of this test's own: the process-wide one is shared with other tests.
        opts.cache = Arc::new(MetadataCache::new());
        opts.redirect_uri = "http://127.0.0.1:1/auth/redirect".into();
        OAuthClient::new(opts).expect("client")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    base: &str,
    hits: &Mutex<HashMap<String, usize>>,
    req: Request<Incoming>,
    delay: Duration,
    fail_as: bool,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let json = |status: u16, v: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())))
            .unwrap()
    };
    if path.starts_with("/.well-known/") {
        tokio::time::sleep(delay).await;
    }
    match path.as_str() {
        "/.well-known/oauth-protected-resource/mcp" => json(
            200,
            serde_json::json!({ "resource": format!("{base}/mcp"), "authorization_servers": [base] }),
        ),
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
            if fail_as =>
        {
            json(500, serde_json::json!({ "error": "server_error" }))
        }
        "/.well-known/oauth-authorization-server" => json(
            200,
            serde_json::json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "registration_endpoint": format!("{base}/register"),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }),
        ),
        "/register" => json(201, serde_json::json!({ "client_id": "c1", "redirect_uris": [] })),
        _ => json(404, serde_json::json!({ "error": "not_found" })),
    }
}

/// Starts an authorization for `USERS` users of `base` at once; the results in user order.
async fn start_all(base: &OAuthClient) -> Vec<Result<(), String>> {
    let clients: Vec<Arc<OAuthClient>> =
        (0..USERS).map(|i| Arc::new(base.for_user(format!("user{i}")))).collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(USERS));
    let mut tasks = Vec::new();
    for c in clients {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            c.start_authorization().await.map(|_| ()).map_err(|e| e.to_string())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_cold_users_fetch_each_metadata_document_once() {
    let fake = Fake::start(Duration::from_millis(300), false).await;
    let base = fake.client();
    let results = start_all(&base).await;
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "user{i}: {r:?}");
    }
    assert_eq!(fake.hits("/.well-known/oauth-protected-resource/mcp"), 1, "resource metadata");
    assert_eq!(fake.hits("/.well-known/oauth-authorization-server"), 1, "AS metadata");
    assert_eq!(fake.metadata_hits(), 2, "no other metadata request");
    // Each user registered (per-user registration): the flights did not merge other requests.
    assert_eq!(fake.hits("/register"), USERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_fetch_reaches_every_waiter_and_is_not_kept() {
    let fake = Fake::start(Duration::from_millis(300), true).await;
    let base = fake.client();
    let results = start_all(&base).await;
    for (i, r) in results.iter().enumerate() {
        let e = r.as_ref().expect_err(&format!("user{i} must fail"));
        assert!(e.contains("500"), "user{i}: {e}");
    }
    let first = fake.metadata_hits();
    assert_eq!(fake.hits("/.well-known/oauth-protected-resource/mcp"), 1, "resource metadata");
    assert_eq!(fake.hits("/.well-known/oauth-authorization-server"), 1, "AS metadata");
    // Every candidate URL was asked once, not once per user.
    assert!(first < USERS, "{first} metadata requests for {USERS} users");
    // The failure is not cached: a later user asks again.
    let later = base.for_user("later").start_authorization().await;
    assert!(later.is_err());
    assert_eq!(fake.hits("/.well-known/oauth-authorization-server"), 2, "fetched again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_first_caller_leaves_the_fetch_to_the_next() {
    let fake = Fake::start(Duration::from_millis(400), false).await;
    let cache = Arc::new(MetadataCache::new());
    let http = mcp_oauth::http::HttpClient::new().expect("http");
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", fake.base);
    let req = mcp_oauth::core::http::HttpRequest {
        id: mcp_oauth::core::http::RequestId(1),
        purpose: mcp_oauth::core::http::Purpose::ResourceMetadata,
        method: mcp_oauth::core::http::Method::Get,
        url: url.clone(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: Vec::new(),
    };
    let key = mcp_oauth::cache::flight_key(&req);
    // The first caller starts the fetch and is cancelled while it is in flight.
    let leader = {
        let (cache, http, req, key) = (Arc::clone(&cache), http.clone(), req.clone(), key.clone());
        tokio::spawn(async move { cache.fetch_once(&key, || http.send(&req)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let followers: Vec<_> = (0..10)
        .map(|_| {
            let (cache, http, req, key) =
                (Arc::clone(&cache), http.clone(), req.clone(), key.clone());
            tokio::spawn(async move { cache.fetch_once(&key, || http.send(&req)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    for f in followers {
        let resp = tokio::time::timeout(Duration::from_secs(5), f)
            .await
            .expect("a follower waited past the cancelled leader")
            .expect("task")
            .expect("response");
        assert_eq!(resp.status, 200);
    }
    // The leader's request reached the server, then one follower fetched for the others.
    assert_eq!(fake.hits("/.well-known/oauth-protected-resource/mcp"), 2);
    assert_eq!(cache.flights_in_progress(), 0);
}
