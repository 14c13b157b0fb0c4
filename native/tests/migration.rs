//! Authorization-server migration (MCP SEP-2352) against the real peers: the MCP server's
//! protected-resource metadata starts naming another authorization server (a second `as.mjs`),
//! and a transient metadata failure that must not be taken for a move.

mod common;

use std::sync::Arc;

use common::{count, get_json, post_json, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::{MemoryStore, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, OAuthClient};
use serde_json::{json, Value};

fn client(peers: &Peers, store: Arc<dyn TokenStore>) -> Arc<OAuthClient> {
    let mut o = ClientOptions::new(&peers.mcp_url, store).expect("options");
    o.browser = BrowserMode::Follow;
    o.user = "alice".to_owned();
    o.cache = Arc::new(MetadataCache::new());
    Arc::new(OAuthClient::new(o).expect("client"))
}

/// Calls `whoami` in a new session (authorizing as needed) and returns its text.
async fn whoami(peers: &Peers, c: &Arc<OAuthClient>) -> String {
    let session =
        McpSession::connect(&peers.mcp_url, Some(c.clone()), true).await.expect("connect");
    let r = session.call_tool("whoami", None).await.expect("whoami");
    session.close().await;
    serde_json::to_string(&r).unwrap_or_default()
}

async fn configure_mcp(peers: &Peers, settings: Value) -> Value {
    post_json(&peers.mcp_url.replace("/mcp", "/__config"), settings).await
}

async fn reset_mcp_stats(peers: &Peers) {
    let url = peers.mcp_url.replace("/mcp", "/__stats/reset");
    mcp_oauth::http::install_crypto_provider();
    let status = reqwest::Client::new().post(url).send().await.expect("reset").status();
    assert_eq!(status.as_u16(), 204);
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map_or_else(Vec::new, |a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_that_moves_to_another_authorization_server_is_followed_there() {
    let peers = Peers::start();
    let as2 = common::start("as.mjs", &[]);
    let as2_issuer = as2.info["issuer"].as_str().expect("issuer").to_owned();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&peers, store.clone());
    assert!(whoami(&peers, &c).await.contains("alice"));
    let as1_clients = strings(&peers.as_stats().await["registered_client_ids"]);
    assert_eq!(as1_clients.len(), 1, "one registration at AS1");
    peers.reset_as_stats().await;

    // The resource now trusts AS2 only: AS1's token is refused there.
    let config = configure_mcp(&peers, json!({ "authorization_server": as2_issuer })).await;
    assert_eq!(config["authorization_server"], json!(as2_issuer));
    assert!(whoami(&peers, &c).await.contains("alice"), "works after the move");

    let as2_stats = get_json(&format!("{as2_issuer}/__stats")).await;
    let as2_registered = strings(&as2_stats["registered_client_ids"]);
    assert_eq!(as2_registered.len(), 1, "registered at AS2: {as2_stats}");
    assert_eq!(count(&as2_stats, "/token/authorization_code"), 1, "{as2_stats}");
    let shown: Vec<&String> =
        as2_stats["client_ids"].as_object().expect("client_ids").keys().collect();
    assert!(!shown.is_empty(), "{as2_stats}");
    for id in shown {
        assert!(as2_registered.contains(id), "AS2 saw a client id it did not issue: {id}");
        assert!(!as1_clients.contains(id), "AS1's client id went to AS2: {id}");
    }
    // Nothing went to AS1 after the move: no refresh, no authorization, no registration.
    let as1_stats = peers.as_stats().await;
    assert_eq!(as1_stats["token"], json!({}), "{as1_stats}");
    assert_eq!(count(&as1_stats, "/authorization"), 0, "{as1_stats}");
    assert_eq!(count(&as1_stats, "/register"), 0, "{as1_stats}");

    // The store follows: AS2's entry holds the tokens; AS1's keeps its registration only.
    let keys = store.list("alice").await.expect("list");
    let mut with_tokens = Vec::new();
    for key in &keys {
        let entry = store.load(key).await.expect("load").expect("entry");
        if entry.tokens.is_some() {
            with_tokens.push(key.issuer.clone());
        }
    }
    assert_eq!(with_tokens, vec![as2_issuer], "{keys:?}");
    assert!(keys.iter().any(|k| k.issuer == peers.issuer), "AS1's registration kept: {keys:?}");
    drop(as2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_metadata_failure_is_not_taken_for_a_move() {
    let peers = Peers::start();
    let c = client(&peers, Arc::new(MemoryStore::new()));
    assert!(whoami(&peers, &c).await.contains("alice"));
    peers.reset_as_stats().await;
    reset_mcp_stats(&peers).await;
    // The token is refused once, and the metadata answers 503 (at every candidate URL, were
    // they all tried: the 2025-03-26 fallback would then take the MCP server for the issuer).
    configure_mcp(&peers, json!({ "prm_failures": 3, "reject_next": 1 })).await;
    assert!(whoami(&peers, &c).await.contains("alice"), "works with the known server");
    let mcp_stats = peers.mcp_stats().await;
    assert_eq!(count(&mcp_stats, "/prm"), 1, "one try, then the known server: {mcp_stats}");
    let as_stats = peers.as_stats().await;
    assert_eq!(count(&as_stats, "/token/refresh_token"), 1, "{as_stats}");
    assert_eq!(count(&as_stats, "/token/authorization_code"), 0, "{as_stats}");
    assert_eq!(count(&as_stats, "/register"), 0, "{as_stats}");
    assert_eq!(configure_mcp(&peers, json!({})).await["prm_failures"], json!(2));
}
