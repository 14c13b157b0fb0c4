//! An application's own HTTP client (issue 17 item 1): `HttpClient::from_reqwest` carries every
//! authorization request and `AuthorizedHttpClient::with_http` every MCP request, counted at the
//! real peers by the User-Agent the application set; and a client that follows redirects is
//! refused at the first one, naming where it went.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::Peers;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::{BrowserMode, ClientOptions, MemoryStore, MetadataCache, OAuthClient};
use serde_json::Value;

const APP_AGENT: &str = "my-agent/2.0 (own reqwest client)";

fn agents(stats: &Value, member: &str) -> serde_json::Map<String, Value> {
    stats[member].as_object().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_client_carries_every_authorization_and_mcp_request() {
    // The application's choice of crypto provider, and its own client built from the crate's
    // settings plus its own.
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    let mine = mcp_oauth::http::reqwest_builder().unwrap().user_agent(APP_AGENT).build().unwrap();

    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).unwrap();
    o.browser = BrowserMode::Follow;
    o.cache = Arc::new(MetadataCache::new());
    o.http = mcp_oauth::http::HttpClient::from_reqwest(mine.clone());
    let client = Arc::new(OAuthClient::new(o).unwrap());
    let session = McpSession::connect_over(
        &peers.mcp_url,
        Some(mcp_oauth::mcp::Authorizer::User(Arc::clone(&client))),
        true,
        mine,
    )
    .await
    .unwrap();
    let tools = session.list_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "whoami"), "{tools:?}");
    session.close().await;

    let as_stats = peers.as_stats().await;
    let at_as = agents(&as_stats, "client_user_agents");
    assert!(at_as.get(APP_AGENT).and_then(Value::as_u64).unwrap_or(0) >= 3, "{as_stats}");
    // Besides it, only the MCP peer (Node's fetch, "node") reads the AS metadata at start-up.
    let others: Vec<_> = at_as.keys().filter(|k| *k != APP_AGENT && *k != "node").collect();
    assert!(others.is_empty(), "only the application's client talked to the AS: {at_as:?}");
    let mcp_stats = peers.mcp_stats().await;
    let at_mcp = agents(&mcp_stats, "user_agents");
    assert!(at_mcp.get(APP_AGENT).and_then(Value::as_u64).unwrap_or(0) >= 2, "{mcp_stats}");
    assert_eq!(at_mcp.len(), 1, "only the application's client talked to MCP: {at_mcp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_follows_redirects_is_refused_at_the_first_one() {
    use std::io::{Read, Write};
    mcp_oauth::http::install_crypto_provider();
    // /start redirects to /elsewhere, which answers 200 with a JSON body.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_owned();
            let reply = if line.contains("/start") {
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}".to_owned()
            };
            seen.lock().unwrap().push(line);
            stream.write_all(reply.as_bytes()).unwrap();
        }
    });
    // The application forgot `redirect(Policy::none())`: reqwest's default follows.
    let follows = reqwest::Client::builder().build().unwrap();
    let http = mcp_oauth::http::HttpClient::from_reqwest(follows);
    let request = mcp_oauth_core::http::HttpRequest {
        id: mcp_oauth_core::http::RequestId(1),
        purpose: mcp_oauth_core::http::Purpose::ServerMetadata,
        method: mcp_oauth_core::http::Method::Get,
        url: format!("{origin}/start"),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let err = http.send(&request).await.unwrap_err();
    assert!(err.message.contains(&format!("followed a redirect to {origin}/elsewhere")), "{err:?}");
    assert_eq!(err.url, format!("{origin}/start"));
    assert_eq!(hits.lock().unwrap().len(), 2, "the redirect was followed by the client itself");

    // The crate's own settings refuse to follow: the core sees the 307 itself.
    let own = mcp_oauth::http::HttpClient::from_reqwest(
        mcp_oauth::http::reqwest_builder().unwrap().build().unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let reply = "HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        stream.write_all(reply.as_bytes()).unwrap();
    });
    let request = mcp_oauth_core::http::HttpRequest { url: format!("{origin}/start"), ..request };
    assert_eq!(own.send(&request).await.unwrap().status, 307);

    // An egress policy that denies internal addresses cannot be put on the application's client.
    let err = own.with_egress(mcp_oauth::egress::EgressPolicy::deny_internal()).unwrap_err();
    assert!(err.to_string().contains("HttpClient::from_reqwest"), "{err}");
}
