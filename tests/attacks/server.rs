//! Attack tests: the multi-user server (native/src/server): the callback bound to the user who
//! started the authorization, identity configuration, resource caps.
//!
//! Peers are the real ones (`tests/peers`: oidc-provider AS, MCP SDK server); a "browser" is a
//! reqwest client with its own cookie jar that goes through the authorization server's login as
//! the user it names (`login_hint`, as native/tests/support/multi.rs does).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

#[path = "../../native/tests/common/mod.rs"]
mod common;
#[path = "../../native/tests/support/multi.rs"]
mod multi;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Peers;
use futures_util::{SinkExt, StreamExt};
use mcp_oauth::server::{Identity, JwtConfig, JwtKey, ServerConfig};
use mcp_oauth::store::MemoryStore;
use multi::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A user's browser: a cookie jar (holding the user's session cookie when `session` is given)
/// that does not follow redirects by itself.
struct Browser {
    client: reqwest::Client,
}

impl Browser {
    fn new(base: &str, session: Option<&str>) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        if let Some(s) = session {
            jar.add_cookie_str(&format!("mcp_session={s}; Path=/"), &base.parse().unwrap());
        }
        mcp_oauth::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { client }
    }

    /// Opens the link of an `oauth_required` message: `Ok(authorization server URL)`, or the
    /// refusal page's status and text. (A link that is already the authorization URL is
    /// returned as is: that is what the server sent before the link flow.)
    async fn open(&self, link: &str) -> Result<String, (u16, String)> {
        if !link.contains("/auth/start/") {
            return Ok(link.to_owned());
        }
        let resp = self.client.get(link).send().await.unwrap();
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Ok(resp.headers()["location"].to_str().unwrap().to_owned());
        }
        Err((status, resp.text().await.unwrap()))
    }

    /// At the authorization server: logs in as `login`, consents, and loads the callback page
    /// the authorization server sends the browser to.
    async fn consent(&self, as_url: &str, login: &str, redirect_uri: &str) -> (u16, String) {
        let callback = mcp_oauth::redirect::follow(
            &format!("{as_url}&login_hint={login}"),
            redirect_uri,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        self.get(&callback).await
    }

    async fn get(&self, url: &str) -> (u16, String) {
        let resp = self.client.get(url).send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

/// The real peers and a multi-user server in front of them (one memory store for tokens and
/// pending authorizations); `adjust` edits the configuration first. Returns the redirect URI too.
async fn peers_and_server(adjust: impl FnOnce(&mut ServerConfig)) -> (Peers, Running, String) {
    let peers = Peers::start();
    let store = Arc::new(MemoryStore::new());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let mut cfg = config(&peers.mcp_url, &redirect, store.clone(), store.clone());
    adjust(&mut cfg);
    let srv = serve(l, cfg).await;
    (peers, srv, redirect)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    mcp_oauth::core::__private::encoding::form_encode_component(s, &mut out);
    out
}

fn state_of(as_url: &str) -> String {
    let query = as_url.split_once('?').unwrap().1;
    let state = query.split('&').find_map(|p| p.strip_prefix("state=")).unwrap();
    state.to_owned()
}

/// Mallory starts a tool call, gets the `oauth_required` link and sends it to Alice; Alice,
/// logged in to the app in her browser, opens it and consents at the authorization server.
/// Before: Alice's tokens were stored under Mallory, whose `whoami` answered "Alice".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_link_opened_by_alice_does_not_store_her_tokens_under_mallory() {
    let (_peers, srv, redirect) = peers_and_server(|_| {}).await;
    let mallory = Auth::Bearer(jwt("Mallory", 600, JWT_SECRET));

    // The exploit, twice: the link itself forwarded, and the authorization server URL Mallory
    // got by opening the link in his own browser, forwarded.
    let (_, reply) = post_chat(&srv.base(), &mallory, &whoami()).await;
    assert_eq!(reply["type"], "oauth_required", "{reply}");
    let alice = Browser::new(&srv.base(), Some(&srv.session("Alice")));
    match alice.open(reply["url"].as_str().unwrap()).await {
        Ok(as_url) => {
            let (page, text) = alice.consent(&as_url, "Alice", &redirect).await;
            assert_ne!(page, 200, "Alice's consent completed Mallory's authorization: {text}");
        }
        Err((status, text)) => {
            assert_eq!(status, 403, "{text}");
            assert!(text.contains("another user"), "{text}");
        }
    }
    let (_, second) = post_chat(&srv.base(), &mallory, &whoami()).await;
    let mallory_browser = Browser::new(&srv.base(), None);
    let as_url = mallory_browser.open(second["url"].as_str().unwrap()).await.unwrap();
    let (page, text) = alice.consent(&as_url, "Alice", &redirect).await;
    assert_eq!(page, 403, "a callback without the browser binding is refused: {text}");

    // Mallory's request is still waiting: nothing was stored under him.
    let (_, done) =
        poll_chat(&srv.base(), &mallory, second["request_id"].as_str().unwrap(), 1).await;
    assert_eq!(done["type"], "pending", "Mallory's request ended: {done}");
    let (_, again) = post_chat(&srv.base(), &mallory, &whoami()).await;
    assert_eq!(again["type"], "oauth_required", "Mallory holds tokens now: {again}");
}

/// Mallory forwards his link to Alice, whose browser carries no session of this server (she
/// uses the app only through an HTTP client). With `require_identified_consent`, the link does
/// not start the authorization in an unidentified browser. (Without it, the one-time link alone
/// decides: the README's Security section names this as the remaining risk of that default.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_link_in_an_unidentified_browser_is_refused_when_identity_is_required() {
    let (_peers, srv, _) = peers_and_server(|c| c.require_identified_consent = true).await;
    let mallory = Auth::Bearer(jwt("Mallory", 600, JWT_SECRET));

    // The exploit: Alice opens Mallory's link in a browser without a session here.
    let (_, reply) = post_chat(&srv.base(), &mallory, &whoami()).await;
    assert_eq!(reply["type"], "oauth_required", "{reply}");
    let alice = Browser::new(&srv.base(), None);
    let refused = alice.open(reply["url"].as_str().unwrap()).await;
    let (status, text) = refused.expect_err("an unidentified browser started the authorization");
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("sign in"), "{text}");

    // Mallory himself, identified by his session, still gets through (a fresh link).
    let (_, second) = post_chat(&srv.base(), &mallory, &whoami()).await;
    let own = Browser::new(&srv.base(), Some(&srv.session("Mallory")));
    let as_url = own.open(second["url"].as_str().unwrap()).await;
    assert!(as_url.is_ok(), "the requesting user was refused: {as_url:?}");
}

/// The reverse: the attacker learns the authorization URL (and so the `state`) of Alice's
/// pending authorization and completes it in his own browser, logged in as Mallory at the
/// authorization server. Before: Alice's later calls ran with Mallory's tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacker_completing_victims_pending_authorization_is_refused() {
    let (_peers, srv, redirect) = peers_and_server(|_| {}).await;
    let alice = Auth::Cookie(srv.session("Alice"));
    let (_, reply) = post_chat(&srv.base(), &alice, &whoami()).await;
    assert_eq!(reply["type"], "oauth_required", "{reply}");
    let link = reply["url"].as_str().unwrap();

    // The exploit: Mallory, logged in to the app as himself, opens Alice's link...
    let mallory = Browser::new(&srv.base(), Some(&srv.session("Mallory")));
    let refused_link = mallory.open(link).await;
    // ... and, with the authorization URL from Alice's browser (a leaked `state`), consents as
    // Mallory in his own browser.
    let alice_browser = Browser::new(&srv.base(), Some(&srv.session("Alice")));
    let as_url = match &refused_link {
        Ok(as_url) => as_url.clone(),
        // The refused link is spent: Alice's next request joins the same authorization with a
        // link of its own.
        Err(_) => {
            let (_, joined) = post_chat(&srv.base(), &alice, &whoami()).await;
            alice_browser.open(joined["url"].as_str().unwrap()).await.unwrap()
        }
    };
    let (page, text) = mallory.consent(&as_url, "Mallory", &redirect).await;

    let request_id = reply["request_id"].as_str().unwrap();
    let (_, done) = poll_chat(&srv.base(), &alice, request_id, 1).await;
    if done["type"] == "result" {
        panic!("Alice's request ran as {:?} (callback page {page})", tool_text(&done));
    }
    assert_eq!(page, 403, "{text}");
    assert!(matches!(refused_link, Err((403, _))), "{refused_link:?}");
    // Alice's pending authorization is intact: she completes it herself.
    let (page, text) = alice_browser.consent(&as_url, "Alice", &redirect).await;
    assert_eq!(page, 200, "{text}");
    let (_, done) = poll_chat(&srv.base(), &alice, request_id, 20).await;
    assert_eq!(tool_text(&done), "Alice");
}

/// A stranger who knows a `state` sends the callback with `error=access_denied`.
/// Before: Alice's request ended as `oauth_denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stranger_knowing_state_cannot_end_it_as_denied() {
    let (peers, srv, redirect) = peers_and_server(|_| {}).await;
    let alice = Auth::Cookie(srv.session("Alice"));
    let (_, reply) = post_chat(&srv.base(), &alice, &whoami()).await;
    let alice_browser = Browser::new(&srv.base(), Some(&srv.session("Alice")));
    let as_url = alice_browser.open(reply["url"].as_str().unwrap()).await.unwrap();

    // The exploit.
    let stranger = Browser::new(&srv.base(), None);
    let (page, text) = stranger
        .get(&format!(
            "{redirect}?error=access_denied&state={}&iss={}",
            state_of(&as_url),
            encode(&peers.issuer)
        ))
        .await;

    let request_id = reply["request_id"].as_str().unwrap();
    let (_, done) = poll_chat(&srv.base(), &alice, request_id, 1).await;
    assert_eq!(done["type"], "pending", "the stranger ended Alice's consent: {done}");
    assert_eq!(page, 403, "{text}");
    let (page, text) = alice_browser.consent(&as_url, "Alice", &redirect).await;
    assert_eq!(page, 200, "{text}");
    let (_, done) = poll_chat(&srv.base(), &alice, request_id, 20).await;
    assert_eq!(tool_text(&done), "Alice");
}

/// A JWKS without a required `iss` and `aud`: any token the key set's owner signed for another
/// application would identify a user here.
#[test]
fn jwks_without_issuer_and_audience_is_refused() {
    let jwt = JwtConfig::new(JwtKey::Jwks { url: "https://idp.example/jwks".into() });
    let made = Identity::new(SESSION_SECRET, Duration::from_secs(60), Some(jwt));
    let err = made.err().map(|e| e.to_string()).expect("accepted a JWKS without iss/aud");
    assert!(err.contains("iss"), "{err}");
}

/// The README's example secret `S`: a one-byte HS256 key is found by brute force at once.
#[test]
fn short_hs256_secret_is_refused() {
    let mut jwt = JwtConfig::new(JwtKey::Hs256(b"S".to_vec()));
    jwt.issuer = Some(JWT_ISSUER.into());
    jwt.audience = Some(JWT_AUDIENCE.into());
    let made = Identity::new(SESSION_SECRET, Duration::from_secs(60), Some(jwt));
    let err = made.err().map(|e| e.to_string()).expect("accepted a 1-byte HS256 secret");
    assert!(err.contains("32"), "{err}");
}

/// A JWKS that fails: every request with a bearer token fetched it again (the app's identity
/// provider hammered by each request). Counted at the JWKS endpoint.
#[tokio::test]
async fn failing_jwks_is_not_fetched_for_every_request() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }
        }),
    );
    let l = listener().await;
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let mut jwt = JwtConfig::new(JwtKey::Jwks { url });
    jwt.issuer = Some(JWT_ISSUER.into());
    jwt.audience = Some(JWT_AUDIENCE.into());
    let identity = Identity::new(SESSION_SECRET, Duration::from_secs(60), Some(jwt)).unwrap();
    // {"alg":"RS256","kid":"k1"} . {"sub":"x"} . signature
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln";

    // The exploit: 20 requests while the JWKS is down.
    for _ in 0..20 {
        assert!(identity.bearer_user(token).await.is_err());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the JWKS was fetched for each request");
}

/// A JWKS endpoint that answers with megabytes: the body was read whole into memory.
#[tokio::test]
async fn oversized_jwks_is_refused_unread() {
    let pad = "x".repeat(4 << 20);
    let body = format!("{{\"keys\":[],\"pad\":\"{pad}\"}}");
    let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { body }));
    let l = listener().await;
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let mut jwt = JwtConfig::new(JwtKey::Jwks { url });
    jwt.issuer = Some(JWT_ISSUER.into());
    jwt.audience = Some(JWT_AUDIENCE.into());
    let identity = Identity::new(SESSION_SECRET, Duration::from_secs(60), Some(jwt)).unwrap();
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0.c2ln";

    let err = identity.bearer_user(token).await.unwrap_err().to_string();
    assert!(err.contains("larger than"), "the 4 MiB JWKS was read: {err}");
}

/// A 5 MB WebSocket message: before, it was parsed and run (forwarded to the MCP server when
/// the server name is known). Now the socket refuses it before it is read whole.
#[tokio::test]
async fn five_megabyte_websocket_message_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv =
        serve(l, config("http://127.0.0.1:9/mcp", &redirect, store.clone(), store.clone())).await;
    let mut ws = ws_connect(&srv.base(), &Auth::Cookie(srv.session("Mallory"))).await.unwrap();
    let big = "x".repeat(5 << 20);
    let msg = json!({"server": "nope", "action": "call_tool", "tool": "echo", "arguments": {"text": big}});

    // The exploit.
    let sent = ws.send(Message::Text(msg.to_string().into())).await;

    let next = tokio::time::timeout(Duration::from_secs(20), ws.next()).await.unwrap();
    match next {
        Some(Ok(Message::Text(t))) => {
            let reply: Value = serde_json::from_str(&t).unwrap();
            panic!("the 5 MB message was run: {}", reply["code"]);
        }
        Some(Ok(Message::Close(frame))) => {
            assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009), "message too big");
        }
        other => assert!(sent.is_err() || !matches!(other, Some(Ok(_))), "{other:?}"),
    }
}

/// One user sends many `POST /v1/chat` that need consent: each one was kept (a task and a
/// record) without limit. Now past the per-user cap the server answers `too_many_requests`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_pending_requests_from_one_user_are_capped() {
    let (_peers, srv, _) = peers_and_server(|_| {}).await;
    let mallory = Auth::Cookie(srv.session("Mallory"));

    // The exploit: 100 requests, none ever consented.
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..100 {
        let (status, reply) = post_chat(&srv.base(), &mallory, &whoami()).await;
        match reply["type"].as_str() {
            Some("oauth_required") => accepted += 1,
            _ if status == 429 && reply["code"] == "too_many_requests" => refused += 1,
            _ => panic!("{status} {reply}"),
        }
    }
    assert!(accepted <= 16, "{accepted} requests of one user are waiting for consent");
    assert_eq!(accepted + refused, 100);
    // Another user is not affected.
    let (_, other) = post_chat(&srv.base(), &Auth::Cookie(srv.session("Alice")), &whoami()).await;
    assert_eq!(other["type"], "oauth_required", "{other}");
}

/// A body over the limit: before, a plain-text 413 that JSON clients could not read.
#[tokio::test]
async fn oversized_body_gets_the_json_error_format() {
    let store = Arc::new(MemoryStore::new());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv =
        serve(l, config("http://127.0.0.1:9/mcp", &redirect, store.clone(), store.clone())).await;
    let body = format!(
        "{{\"server\":\"demo\",\"action\":\"list_tools\",\"pad\":\"{}\"}}",
        "x".repeat(3 << 20)
    );

    // The exploit.
    mcp_oauth::http::install_crypto_provider();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat", srv.base()))
        .header("cookie", format!("mcp_session={}", srv.session("Mallory")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status().as_u16(), 413);
    let text = resp.text().await.unwrap();
    let reply: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "payload_too_large");
}

/// The authorization server (or anyone steering Alice's browser) sends her back with a callback
/// URL that does not parse. Before: the error page and the consent outcome (unsealed in Redis)
/// quoted the whole URL, `code` included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unparsable_callback_is_not_echoed_to_the_page_or_the_store() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let peers = Peers::start();
    let redis = Redis::start();
    let store =
        Arc::new(mcp_oauth::store::RedisStore::connect(&redis.url(), &STORE_KEY).await.unwrap());
    let l = listener().await;
    let redirect = format!("http://{}/auth/redirect", l.local_addr().unwrap());
    let srv = serve(l, config(&peers.mcp_url, &redirect, store.clone(), store.clone())).await;
    let alice = Auth::Cookie(srv.session("Alice"));
    let (_, reply) = post_chat(&srv.base(), &alice, &whoami()).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    mcp_oauth::http::install_crypto_provider();
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link = reply["url"].as_str().unwrap();
    let as_url = if link.contains("/auth/start/") {
        let resp = browser.get(link).send().await.unwrap();
        resp.headers()["location"].to_str().unwrap().to_owned()
    } else {
        link.to_owned()
    };
    let cookies = reqwest::cookie::CookieStore::cookies(&*jar, &srv.base().parse().unwrap())
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();

    // The exploit: a `|` (must be percent-encoded) makes the callback URL fail to parse.
    let secret = "SECRETCODE0123456789";
    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let request = format!(
        "GET /auth/redirect?code={secret}&state={}&iss={}&x=| HTTP/1.1\r\nHost: {}\r\nCookie: {cookies}\r\nConnection: close\r\n\r\n",
        state_of(&as_url),
        encode(&peers.issuer),
        srv.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).await.unwrap();

    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(!page.contains(secret), "the page quotes the code: {page}");
    let (_, done) = poll_chat(&srv.base(), &alice, reply["request_id"].as_str().unwrap(), 5).await;
    assert_eq!(done["code"], "oauth_failed", "{done}");
    assert!(!done.to_string().contains(secret), "the reply quotes the code: {done}");
    let mut conn =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    for k in keys {
        let v: Vec<u8> = redis::cmd("GET").arg(&k).query_async(&mut conn).await.unwrap_or_default();
        assert!(!String::from_utf8_lossy(&v).contains(secret), "{k} holds the code in clear");
    }
}

/// Where the host of a [`mcp_oauth::server::MultiUserServer`] listens for the redirect URI when
/// no `--listen` is given (examples/multi-user-server binds each of these).
fn server_listen_addrs(cfg: &mcp_oauth::server::ServerConfig) -> Vec<std::net::SocketAddr> {
    cfg.redirect_listen_addrs()
}

/// A local program holds `[::1]:port` of the redirect URI, then the server starts: the server
/// must not run beside it, since the browser (sent to the redirect URI) would bring the
/// authorization code to the squatter.
fn squatted_redirect_uri_stops_the_server(redirect_uri: impl Fn(u16) -> String) {
    // Some sandboxes have no IPv6 loopback; there is nothing to squat then.
    let Ok(squatter) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let port = squatter.local_addr().unwrap().port();
    let store = Arc::new(MemoryStore::new());
    let cfg = config("http://127.0.0.1:9/mcp", &redirect_uri(port), store.clone(), store);
    let addrs = server_listen_addrs(&cfg);
    let binds: Vec<_> = addrs.iter().map(std::net::TcpListener::bind).collect();
    // The browser resolves the redirect host to [::1] and reaches the squatter.
    let _browser = std::net::TcpStream::connect(("::1", port)).unwrap();
    squatter.set_nonblocking(true).unwrap();
    assert!(squatter.accept().is_ok(), "the squatter holds the browser's address");

    assert!(
        addrs.iter().any(|a| a.is_ipv6() && a.port() == port),
        "the server listens on {addrs:?}, not on [::1]:{port} where the browser goes"
    );
    assert!(
        binds.iter().any(|b| b.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)),
        "the server started beside the squatter on {addrs:?}"
    );
}

#[test]
fn squatter_on_ipv6_literal_redirect_address_stops_the_server() {
    squatted_redirect_uri_stops_the_server(|port| format!("http://[::1]:{port}/auth/redirect"));
}

#[test]
fn squatter_on_ipv6_localhost_redirect_address_stops_the_server() {
    squatted_redirect_uri_stops_the_server(|port| format!("http://localhost:{port}/auth/redirect"));
}
