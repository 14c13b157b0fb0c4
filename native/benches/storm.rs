//! Against the real peers (tests/peers, started here): the shared metadata cache (a second
//! user's cold flow in the same process makes zero discovery requests) and a refresh storm
//! (N concurrent requests with an expired token: exactly one refresh; the time to serve all).
//! Prints numbers for BENCHMARKS.md; asserts request counts, never timings.
//!
//!   cargo bench -p mcp-oauth --bench storm            (N = 1000; MCP_OAUTH_STORM=N to change)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{count, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::client::{BrowserMode, ClientOptions, OAuthClient};
use mcp_oauth::store::MemoryStore;

fn client(peers: &Peers, cache: &Arc<MetadataCache>, user: &str) -> Arc<OAuthClient> {
    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).expect("options");
    o.browser = BrowserMode::Follow;
    o.user = user.to_owned();
    o.cache = cache.clone();
    Arc::new(OAuthClient::new(o).expect("client"))
}

async fn discovery_requests(peers: &Peers) -> (u64, u64) {
    (count(&peers.mcp_stats().await, "/prm"), count(&peers.as_stats().await, "/metadata"))
}

async fn http_post_json(url: &str, body: &'static str) {
    mcp_oauth::http::install_crypto_provider();
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    assert!(r.status().is_success(), "{url}: {}", r.status());
}

async fn reset(peers: &Peers) {
    peers.reset_as_stats().await;
    let base = peers.mcp_url.trim_end_matches("/mcp").to_owned();
    mcp_oauth::http::install_crypto_provider();
    reqwest::Client::new().post(format!("{base}/__stats/reset")).send().await.expect("reset");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // reqwest without a default TLS provider (as in the crate): install ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize =
        std::env::var("MCP_OAUTH_STORM").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let ttl = 2;
    let peers = Peers::start_with(
        &[("PEER_ACCESS_TTL", ttl.to_string()), ("PEER_TOKEN_FORMAT", "jwt".into())],
        &[],
    );

    // 1. The shared metadata cache: two users, one process.
    let cache = Arc::new(MetadataCache::new());
    reset(&peers).await;
    let alice = client(&peers, &cache, "alice");
    alice.authorize().await.expect("alice");
    let (prm_a, md_a) = discovery_requests(&peers).await;
    reset(&peers).await;
    let hatter = client(&peers, &cache, "hatter");
    hatter.authorize().await.expect("hatter");
    let (prm_h, md_h) = discovery_requests(&peers).await;
    let reg_h = count(&peers.as_stats().await, "/register");
    println!("shared metadata cache: first user's cold flow: {prm_a} resource-metadata + {md_a} server-metadata requests; second user's: {prm_h} + {md_h} (registration: {reg_h})");
    assert_eq!((prm_h, md_h), (0, 0), "the second user re-discovered");

    // 2. Refresh storm: every caller finds the access token expired.
    tokio::time::sleep(Duration::from_millis(ttl * 1000 + 200)).await;
    reset(&peers).await;
    // The refreshed token outlives the storm (the AS applies the TTL to tokens issued later).
    http_post_json(&format!("{}/__config", peers.issuer), r#"{"accessTtl":3600}"#).await;
    mcp_oauth::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = peers.mcp_url.clone();
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (c, http, url) = (alice.clone(), http.clone(), url.clone());
            tokio::spawn(async move {
                let token = c.access_token().await.expect("token");
                let got_token = start.elapsed();
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"storm","version":"0"}}}}}}"#
                );
                let r = http
                    .post(&url)
                    .bearer_auth(token.secret())
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body)
                    .send()
                    .await
                    .expect("send");
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                (status, got_token)
            })
        })
        .collect();
    let mut ok = 0;
    let mut other = std::collections::BTreeMap::new();
    let mut all_tokens = Duration::ZERO;
    for t in tasks {
        let (status, got_token) = t.await.expect("join");
        all_tokens = all_tokens.max(got_token);
        match status {
            200 => ok += 1,
            s => *other.entry(s).or_insert(0) += 1,
        }
    }
    if !other.is_empty() {
        println!("refresh storm: statuses other than 200: {other:?}");
    }
    let elapsed = start.elapsed();
    let refreshes = count(&peers.as_stats().await, "/token/refresh_token");
    println!(
        "refresh storm: {n} concurrent requests with an expired token: {refreshes} refresh request(s); every caller held the new token after {:.1} ms; {ok} answered 200 by the MCP server, all served in {:.1} ms",
        all_tokens.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0
    );
    assert_eq!(refreshes, 1, "one refresh for the whole storm");
    assert_eq!(ok, n, "every request succeeded");
}
