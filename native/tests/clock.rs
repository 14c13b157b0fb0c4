//! An injectable clock (issue 17 item 4): a test moves past the access token's lifetime (the
//! demo servers issue one hour) without waiting, and the client refreshes on its own clock; the
//! headless client's expiry follows its clock likewise. Against the core's in-memory demo
//! servers.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mcp_oauth::core::demo::{DemoServer, MCP_URL};
use mcp_oauth::core::time::UnixTime;
use mcp_oauth::{ClientOptions, Clock, HttpClient, MemoryStore, OAuthClient};

#[tokio::test(flavor = "current_thread")]
async fn the_client_refreshes_when_its_clock_says_the_token_expired() {
    let t = Arc::new(AtomicU64::new(1_800_000_000));
    let seen = Arc::clone(&t);
    let demo = Arc::new(Mutex::new(DemoServer::new()));
    let mut o = ClientOptions::new(MCP_URL, Arc::new(MemoryStore::new())).unwrap();
    o.http =
        HttpClient::from_transport(Arc::new(common::DemoTransport(Arc::clone(&demo)))).unwrap();
    o.clock = Clock::from_fn(move || UnixTime(seen.load(Ordering::Relaxed)));
    let client = OAuthClient::new(o).unwrap();
    let pending = client.start_authorization().await.unwrap();
    let callback = demo.lock().unwrap().approve(&pending.authorization_url);
    client.complete_authorization(pending, &callback).await.unwrap();

    let first = client.access_token().await.unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(status.expires_at, Some(UnixTime(1_800_000_000 + 3_600)), "{status:?}");
    let before = demo.lock().unwrap().requests;
    // Ten minutes on: still the same token, no request.
    t.fetch_add(600, Ordering::Relaxed);
    assert_eq!(client.access_token().await.unwrap().secret(), first.secret());
    assert_eq!(demo.lock().unwrap().requests, before);
    // Past the hour: a refresh, on the client's clock alone.
    t.fetch_add(3_100, Ordering::Relaxed);
    let second = client.access_token().await.unwrap();
    assert_ne!(second.secret(), first.secret());
    // The metadata cache's 300 s lifetime ran out on this clock too: resource and server
    // metadata again, then the one refresh.
    assert_eq!(demo.lock().unwrap().requests, before + 3, "discovery (2) and one refresh");
    assert!(demo.lock().unwrap().accepts(&format!("Bearer {}", second.secret())));
    assert_eq!(client.status().await.unwrap().expires_at, Some(UnixTime(1_800_003_700 + 3_600)));
}
