//! MCP protocol versions against the real peers (tests/peers/mcp.mjs): `MCP-Protocol-Version` on
//! every HTTP request, the first one included (streamable HTTP, protocol version header), version
//! negotiation (MCP lifecycle) with servers from 2025-03-26 to a 2026-07-28-style server that has
//! no sessions and no GET stream (`MCP_STRICT_2026=1`).

mod common;

use std::process::{Command, Output};
use std::sync::Arc;

use common::{count, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::MemoryStore;
use mcp_oauth::{BrowserMode, ClientOptions, OAuthClient};
use serde_json::Value;

fn cli_tools_list(peers: &Peers) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args([
            "tools",
            "list",
            "--auth",
            "--browser",
            "follow",
            "--token-store",
            "memory",
            "--url",
            &peers.mcp_url,
        ])
        .env_remove("MCP_OAUTH_STORE_KEY")
        .env_remove("BROWSER")
        .output()
        .expect("run mcp-oauth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The negotiated version, through the library (same transport as the CLI).
async fn negotiated(peers: &Peers) -> String {
    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).expect("options");
    o.browser = BrowserMode::Follow;
    o.cache = Arc::new(MetadataCache::new());
    let c = Arc::new(OAuthClient::new(o).expect("client"));
    let session = McpSession::connect(&peers.mcp_url, Some(c), true).await.expect("connect");
    let tools = session.list_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let version = session.protocol_version().expect("a negotiated version");
    session.close().await;
    version.as_str().to_owned()
}

/// Every request to /mcp carried the header: no "(none)", and the per-version counts add up to
/// the request count.
fn assert_header_on_every_request(stats: &Value) {
    let versions = stats["protocol_version_header"].as_object().expect("protocol_version_header");
    assert!(!versions.contains_key("(none)"), "a request without MCP-Protocol-Version: {stats}");
    let sum: u64 = versions.values().filter_map(Value::as_u64).sum();
    assert_eq!(sum, count(stats, "/requests"), "{stats}");
    assert_eq!(count(stats, "/missing_protocol_version"), 0, "{stats}");
    // The first request (initialize, before the authorization) proposes 2025-11-25.
    assert_eq!(stats["first_protocol_version"], "2025-11-25", "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_2026_server_after_authorization() {
    let peers = Peers::start_with(&[], &[("MCP_STRICT_2026", "1".into())]);
    let out = cli_tools_list(&peers);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("echo"), "{}", text(&out.stdout));
    let stats = peers.mcp_stats().await;
    assert_header_on_every_request(&stats);
    // 401 on the first initialize, then initialize, initialized, tools/list with the token.
    assert!(count(&stats, "/rejected") >= 1, "{stats}");
    assert!(count(&stats, "/authorized") >= 3, "{stats}");
    assert_eq!(count(&stats, "/protocol_version_header/2025-11-25"), count(&stats, "/requests"));
    // No sessions (none given, none sent) and no GET stream relied upon.
    assert_eq!(count(&stats, "/session_ids"), 0, "{stats}");
    assert_eq!(count(&stats, "/http/DELETE"), 0, "{stats}");
    assert_eq!(
        count(&stats, "/http/POST"),
        count(&stats, "/requests") - count(&stats, "/http/GET")
    );
    assert_eq!(negotiated(&peers).await, "2025-11-25");
    eprintln!("strict 2026 peer stats: {stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_server_answering_an_older_version_is_accepted() {
    let peers = Peers::start_with(
        &[],
        &[("MCP_STRICT_2026", "1".into()), ("MCP_MAX_VERSION", "2025-03-26".into())],
    );
    let out = cli_tools_list(&peers);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("echo"), "{}", text(&out.stdout));
    let stats = peers.mcp_stats().await;
    assert_header_on_every_request(&stats);
    // initialize proposes 2025-11-25; everything after it names the server's 2025-03-26.
    let initialize = count(&stats, "/methods/initialize");
    assert!(initialize >= 1, "{stats}");
    assert_eq!(
        count(&stats, "/protocol_version_header/2025-11-25"),
        initialize + count(&stats, "/rejected"),
        "{stats}"
    );
    assert!(count(&stats, "/protocol_version_header/2025-03-26") >= 2, "{stats}");
    assert_eq!(negotiated(&peers).await, "2025-03-26");
    eprintln!("strict 2026 peer answering 2025-03-26, stats: {stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_this_client_does_not_support_is_refused() {
    let peers = Peers::start_with(&[], &[("MCP_MAX_VERSION", "2024-11-05".into())]);
    let out = cli_tools_list(&peers);
    assert!(!out.status.success(), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("protocol version 2024-11-05"), "{err}");
    assert!(err.contains("2025-03-26, 2025-06-18, 2025-11-25, 2026-07-28"), "{err}");
    assert!(!err.contains("::"), "{err}");
    assert!(!text(&out.stdout).contains("echo"), "no tools listed");
}

#[tokio::test(flavor = "multi_thread")]
async fn default_peer_stateless_and_stateful() {
    // The default peer: stateless, SDK 1.x, does not insist on the header.
    let peers = Peers::start();
    let out = cli_tools_list(&peers);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stats = peers.mcp_stats().await;
    assert_header_on_every_request(&stats);
    assert_eq!(negotiated(&peers).await, "2025-11-25");
    eprintln!("default peer stats: {stats}");
    drop(peers);

    // With sessions: the session id and the header on every later request, the DELETE included.
    let peers = Peers::start_with(&[], &[("MCP_STATEFUL", "1".into())]);
    let out = cli_tools_list(&peers);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stats = peers.mcp_stats().await;
    assert_header_on_every_request(&stats);
    assert!(count(&stats, "/session_ids") >= 2, "{stats}");
    eprintln!("stateful peer stats: {stats}");
}
