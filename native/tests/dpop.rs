//! DPoP (RFC 9449) end to end against the peers: the authorization server demands its nonce at
//! the token endpoint (PEER_DPOP_NONCE=1), the MCP server takes only DPoP-bound tokens with a
//! verified proof and demands its own nonce (MCP_DPOP_NONCE=1). The test prints the request
//! transcript the servers recorded (proof headers and claims as received).

mod common;

use std::sync::Arc;

use common::Peers;
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::core::dpop::DpopMode;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::{MemoryStore, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, OAuthClient};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn client(peers: &Peers, store: Arc<dyn TokenStore>, dpop: DpopMode) -> Arc<OAuthClient> {
    let mut o = ClientOptions::new(&peers.mcp_url, store).expect("options");
    o.browser = BrowserMode::Follow;
    o.cache = Arc::new(MetadataCache::new());
    o.dpop = dpop;
    Arc::new(OAuthClient::new(o).expect("client"))
}

fn dpop_peers() -> Peers {
    Peers::start_with(&[("PEER_DPOP_NONCE", "1".into())], &[("MCP_DPOP_NONCE", "1".into())])
}

fn b64url_sha256(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::new();
    for chunk in digest.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_with_nonces_at_the_token_endpoint_and_the_mcp_server() {
    let peers = dpop_peers();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&peers, store.clone(), DpopMode::Auto);
    let session =
        McpSession::connect(&peers.mcp_url, Some(c.clone()), true).await.expect("connect");
    let tools = session.list_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "whoami"));
    let who = session.call_tool("whoami", None).await.expect("whoami");
    assert!(format!("{who:?}").contains("alice"), "{who:?}");
    session.close().await;

    let as_stats = peers.as_stats().await;
    let mcp_stats = peers.mcp_stats().await;
    let token_requests = as_stats["dpop_token_requests"].as_array().cloned().unwrap_or_default();
    let mcp_requests = mcp_stats["dpop_requests"].as_array().cloned().unwrap_or_default();
    println!("--- token endpoint (authorization server) ---");
    for r in &token_requests {
        println!("{}", serde_json::to_string(r).unwrap());
    }
    println!("--- MCP server ---");
    for r in &mcp_requests {
        println!("{}", serde_json::to_string(r).unwrap());
    }

    // The token endpoint: the first proof has no nonce and is refused with use_dpop_nonce; the
    // retry carries the server's nonce and gets a DPoP token.
    assert!(token_requests.len() >= 2, "{token_requests:?}");
    let (first, retry) = (&token_requests[0], &token_requests[1]);
    assert_eq!(first["grant_type"], "authorization_code");
    assert_eq!(first["status"], 400);
    assert_eq!(first["error"], "use_dpop_nonce");
    assert!(first["claims"].get("nonce").is_none());
    assert_eq!(first["header"]["typ"], "dpop+jwt");
    assert_eq!(first["header"]["alg"], "ES256");
    assert_eq!(first["header"]["jwk"]["kty"], "EC");
    assert!(first["header"]["jwk"].get("d").is_none(), "public key only");
    assert_eq!(first["claims"]["htm"], "POST");
    assert!(first["claims"]["htu"].as_str().unwrap().ends_with("/token"));
    assert_eq!(retry["status"], 200);
    assert_eq!(retry["token_type"], "DPoP");
    assert!(retry["claims"]["nonce"].is_string());
    assert_ne!(first["claims"]["jti"], retry["claims"]["jti"]);

    // The MCP server: the first request with the token has no nonce and is refused; so is the
    // native transport's repetition that reads the nonce (rmcp keeps only WWW-Authenticate, see
    // native/src/mcp.rs `probe_nonce`); the retry with the nonce and `ath` is accepted; every
    // request after carries a fresh proof.
    let refused: Vec<&Value> =
        mcp_requests.iter().filter(|r| r["decision"] == "use_dpop_nonce").collect();
    let accepted: Vec<&Value> =
        mcp_requests.iter().filter(|r| r["decision"] == "accepted").collect();
    assert_eq!(refused.len(), 2, "{mcp_requests:?}");
    assert!(refused.iter().all(|r| r["claims"].get("nonce").is_none()));
    assert_eq!(mcp_requests[2]["decision"], "accepted", "the retry with the nonce");
    assert!(accepted.len() >= 3, "initialize, tools/list, tools/call: {mcp_requests:?}");
    for r in &mcp_requests {
        assert_eq!(r["authorization_scheme"], "DPoP", "never Bearer: {r}");
    }
    assert!(c.status().await.expect("status").authorized);
    let jtis: std::collections::BTreeSet<&str> =
        mcp_requests.iter().filter_map(|r| r["claims"]["jti"].as_str()).collect();
    assert_eq!(jtis.len(), mcp_requests.len(), "a fresh proof per request");
    for r in &accepted {
        assert!(r["claims"]["nonce"].is_string());
        assert_eq!(r["claims"]["ath"].as_str().map(str::len), Some(43));
    }
    // The same key signs at the authorization server and the MCP server.
    assert_eq!(accepted[0]["header"]["jwk"], retry["header"]["jwk"]);

    // ath is the hash of the token the store holds.
    let entries = store.list("default").await.expect("list");
    let entry = store.load(&entries[0]).await.expect("load").expect("an entry");
    let token = entry.tokens.expect("tokens");
    assert!(token.is_dpop_bound());
    assert_eq!(accepted[0]["claims"]["ath"], json!(b64url_sha256(token.access_token.secret())));
    assert!(entry.dpop_key.is_some(), "the key is kept with the tokens it is bound to");

    // A new process with the same store: the stored key and the DPoP token are used as they are.
    // The MCP server rotates its nonce, and the new process knows none: its first proof is
    // refused (and repeated to read the nonce), then retried with the new one.
    mcp_oauth::http::install_crypto_provider();
    reqwest::Client::new()
        .post(peers.mcp_url.replace("/mcp", "/__dpop/rotate"))
        .send()
        .await
        .expect("rotate the nonce");
    let again = client(&peers, store.clone(), DpopMode::Auto);
    let session = McpSession::connect(&peers.mcp_url, Some(again), false).await.expect("warm");
    session.list_tools().await.expect("tools/list");
    session.close().await;
    let mcp_after = peers.mcp_stats().await["dpop_requests"].as_array().cloned().unwrap();
    let late: Vec<&Value> = mcp_after[mcp_requests.len()..].iter().collect();
    println!("--- MCP server, after the nonce rotation (new process) ---");
    for r in &late {
        println!("{}", serde_json::to_string(r).unwrap());
    }
    let decisions: Vec<&str> = late.iter().map(|r| r["decision"].as_str().unwrap_or("")).collect();
    assert_eq!(&decisions[..3], ["use_dpop_nonce", "use_dpop_nonce", "accepted"], "{late:?}");
    assert!(decisions[3..].iter().all(|d| *d == "accepted"), "{late:?}");
    assert_ne!(late[0]["claims"]["nonce"], late[2]["claims"]["nonce"], "the new nonce");
    let as_after = peers.as_stats().await;
    assert_eq!(
        as_after["dpop_token_requests"].as_array().map(Vec::len),
        Some(token_requests.len()),
        "no token request: the stored key still fits the stored token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dpop_never_against_a_dpop_only_server_fails_with_the_servers_reason() {
    let peers = dpop_peers();
    let c = client(&peers, Arc::new(MemoryStore::new()), DpopMode::Never);
    let e = McpSession::connect(&peers.mcp_url, Some(c), true).await.expect_err("Bearer refused");
    let text = e.to_string();
    assert!(text.contains("refused"), "{text}");
    let mcp_stats = peers.mcp_stats().await;
    assert_eq!(mcp_stats["authorized"], 0);
}

fn cli(peers: &Peers, store: &str, dpop: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args(["tools", "list", "--auth", "--browser", "follow", "--store-dir", store])
        .args(["--dpop", dpop, "--url", &peers.mcp_url])
        .env_remove("MCP_OAUTH_STORE_KEY")
        .env_remove("BROWSER")
        .output()
        .expect("run mcp-oauth")
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_dpop_auto_against_a_dpop_server_and_never_refused() {
    let peers = dpop_peers();
    let dir = common::private_tempdir();
    let store = dir.path().to_str().expect("utf-8 path");
    let out = cli(&peers, store, "auto");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("whoami"));
    // Warm, in a new process: the key comes from the (encrypted) store with the token.
    let out = cli(&peers, store, "auto");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let token_requests = peers.as_stats().await["dpop_token_requests"].as_array().unwrap().len();
    assert_eq!(token_requests, 2, "the code exchange and its nonce retry, nothing after");
    for entry in std::fs::read_dir(dir.path()).expect("store dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains("dpop_key"), "sealed");
    }

    let other = common::private_tempdir();
    let out = cli(&peers, other.path().to_str().unwrap(), "never");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--dpop never: exit {:?}: {stderr}", out.status.code());
    assert!(stderr.contains("expected DPoP <token>"), "the server's reason: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_bound_token_is_refreshed_with_a_proof_of_the_stored_key() {
    let peers = Peers::start_with(
        &[("PEER_DPOP_NONCE", "1".into()), ("PEER_ACCESS_TTL", "2".into())],
        &[("MCP_DPOP_NONCE", "1".into())],
    );
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let first = client(&peers, store.clone(), DpopMode::Auto);
    let session = McpSession::connect(&peers.mcp_url, Some(first), true).await.expect("connect");
    session.close().await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // A new process: the key comes from the store; the refresh token is bound to it (§5).
    let second = client(&peers, store.clone(), DpopMode::Auto);
    let session = McpSession::connect(&peers.mcp_url, Some(second), false).await.expect("refresh");
    session.list_tools().await.expect("tools/list");
    session.close().await;
    let requests = peers.as_stats().await["dpop_token_requests"].as_array().cloned().unwrap();
    println!("--- token endpoint, with the refresh ---");
    for r in &requests {
        println!("{}", serde_json::to_string(r).unwrap());
    }
    let refreshes: Vec<&Value> =
        requests.iter().filter(|r| r["grant_type"] == "refresh_token").collect();
    let ok = refreshes.iter().find(|r| r["status"] == 200).expect("a refresh that worked");
    assert_eq!(ok["token_type"], "DPoP");
    assert_eq!(ok["header"]["jwk"], requests[0]["header"]["jwk"], "the same key");
    assert!(ok["claims"]["nonce"].is_string());
}
