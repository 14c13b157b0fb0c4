//! DPoP (RFC 9449) for the headless grants end to end against the peers: the authorization
//! server demands its nonce at the token endpoint (PEER_DPOP_NONCE=1), the MCP server takes only
//! DPoP-bound tokens with a verified proof and demands its own nonce (MCP_DPOP_NONCE=1). The test
//! prints the request transcript the servers recorded (proof headers and claims as received).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use common::Peers;
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::core::dpop::DpopMode;
use mcp_oauth::headless::ClientCredentials;
use mcp_oauth::mcp::{Authorizer, McpSession};
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::{HeadlessClient, HeadlessGrant, HeadlessOptions};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
}

/// The authorization server's client-credentials clients.
fn clients() -> String {
    let jwk: Value =
        serde_json::from_slice(&std::fs::read(key("es256.pub.jwk.json")).expect("jwk"))
            .expect("json");
    let base =
        json!({"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []});
    let mut basic = base.clone();
    basic["client_id"] = json!("svc-basic");
    basic["client_secret"] = json!("basic-secret");
    basic["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mut es256 = base;
    es256["client_id"] = json!("svc-es256");
    es256["token_endpoint_auth_method"] = json!("private_key_jwt");
    es256["token_endpoint_auth_signing_alg"] = json!("ES256");
    es256["jwks"] = json!({"keys": [jwk]});
    json!([basic, es256]).to_string()
}

fn peers(mcp_env: &[(&str, String)]) -> Peers {
    Peers::start_with(&[("PEER_DPOP_NONCE", "1".into()), ("PEER_CLIENTS", clients())], mcp_env)
}

fn headless(peers: &Peers, client: ClientCredentials, dpop: DpopMode) -> Arc<HeadlessClient> {
    let grant = HeadlessGrant::ClientCredentials { client };
    let mut o = HeadlessOptions::new(&peers.mcp_url, grant).expect("options");
    o.cache = Arc::new(MetadataCache::new());
    o.dpop = dpop;
    Arc::new(HeadlessClient::new(o).expect("client"))
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// RFC 7638 §3.2 for an EC key, computed here independently of the code under test.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().expect("crv"),
        jwk["x"].as_str().expect("x"),
        jwk["y"].as_str().expect("y")
    );
    b64url(&Sha256::digest(canonical.as_bytes()))
}

/// RFC 7662 introspection with the MCP server's credentials (its `cnf.jkt`, RFC 9449 §6.2).
async fn introspect(peers: &Peers, token: &str) -> Value {
    let meta =
        common::get_json(&format!("{}/.well-known/openid-configuration", peers.issuer)).await;
    let endpoint = meta["introspection_endpoint"].as_str().expect("introspection endpoint");
    mcp_oauth::http::install_crypto_provider();
    reqwest::Client::new()
        .post(endpoint)
        .basic_auth("mcp-resource-server", Some("mcp-resource-server-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("introspection JSON")
}

fn print_transcript(title: &str, records: &[Value]) {
    println!("--- {title} ---");
    for r in records {
        println!("{r}");
    }
}

fn records(stats: &Value, name: &str) -> Vec<Value> {
    stats[name].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_with_dpop_and_nonces_at_both_servers() {
    let peers = peers(&[("MCP_DPOP_NONCE", "1".into())]);
    let h = headless(
        &peers,
        ClientCredentials::client_secret("svc-basic", "basic-secret"),
        DpopMode::Auto,
    );
    let auth = Authorizer::Headless(h.clone());
    let session =
        McpSession::connect_with(&peers.mcp_url, Some(auth), false).await.expect("connect");
    let who = session.call_tool("whoami", None).await.expect("whoami");
    assert!(format!("{who:?}").contains("svc-basic"), "{who:?}");
    session.list_tools().await.expect("tools/list");
    session.close().await;

    let token_requests = records(&peers.as_stats().await, "dpop_token_requests");
    let mcp_requests = records(&peers.mcp_stats().await, "dpop_requests");
    print_transcript("token endpoint (authorization server)", &token_requests);
    print_transcript("MCP server", &mcp_requests);

    // The token endpoint: one refusal for want of the nonce, one retry with it.
    assert_eq!(token_requests.len(), 2, "{token_requests:?}");
    let (first, retry) = (&token_requests[0], &token_requests[1]);
    for r in [first, retry] {
        assert_eq!(r["grant_type"], "client_credentials");
        assert_eq!(r["header"]["typ"], "dpop+jwt");
        assert_eq!(r["header"]["alg"], "ES256");
        assert!(r["header"]["jwk"].get("d").is_none(), "public key only");
        assert_eq!(r["claims"]["htm"], "POST");
        assert!(r["claims"]["htu"].as_str().unwrap().ends_with("/token"));
        assert!(r["claims"].get("ath").is_none());
    }
    assert_eq!(
        (first["status"].as_u64(), first["error"].as_str()),
        (Some(400), Some("use_dpop_nonce"))
    );
    assert!(first["claims"].get("nonce").is_none());
    assert_eq!(retry["status"], 200);
    assert_eq!(retry["token_type"], "DPoP");
    assert_eq!(retry["claims"]["nonce"], first["dpop_nonce"], "the nonce the server sent");
    assert_ne!(first["claims"]["jti"], retry["claims"]["jti"]);

    // The token is bound to the client's key: cnf.jkt is its thumbprint (§6.1).
    let tokens = h.tokens().await.expect("a token");
    assert!(tokens.is_dpop_bound());
    let jkt = h.dpop_thumbprint().expect("a key").to_owned();
    assert_eq!(jkt, thumbprint(&retry["header"]["jwk"]));
    let claims = introspect(&peers, tokens.access_token.secret()).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["cnf"]["jkt"], json!(jkt), "{claims}");

    // The MCP server: the first request with the token has no nonce and is refused, as is the
    // transport's repetition that reads the nonce (rmcp keeps only WWW-Authenticate:
    // native/src/mcp.rs `probe_nonce`); the one retry with the nonce is accepted, and so is
    // every request after it, each with a fresh proof, `ath` and the nonce.
    let decisions: Vec<&str> =
        mcp_requests.iter().map(|r| r["decision"].as_str().unwrap_or("")).collect();
    assert_eq!(&decisions[..3], ["use_dpop_nonce", "use_dpop_nonce", "accepted"], "{decisions:?}");
    assert!(decisions[3..].iter().all(|d| *d == "accepted"), "{decisions:?}");
    assert!(decisions.len() >= 4, "initialize, initialized, tools/call, tools/list");
    let ath = b64url(&Sha256::digest(tokens.access_token.secret().as_bytes()));
    for r in &mcp_requests {
        assert_eq!(r["authorization_scheme"], "DPoP", "never Bearer: {r}");
        assert_eq!(r["claims"]["ath"], json!(ath), "{r}");
        assert_eq!(thumbprint(&r["header"]["jwk"]), jkt, "the same key");
    }
    for r in mcp_requests.iter().filter(|r| r["decision"] == "accepted") {
        assert!(r["claims"]["nonce"].is_string(), "{r}");
    }
    let jtis: std::collections::BTreeSet<&str> =
        mcp_requests.iter().filter_map(|r| r["claims"]["jti"].as_str()).collect();
    assert_eq!(jtis.len(), mcp_requests.len(), "a fresh proof per request");

    // private_key_jwt, `always`: the client assertion and the proof on one request; another
    // client, another key.
    let signer = PrivateKeySigner::from_pem_file(&key("es256.pem"), SigningAlg::Es256).unwrap();
    let pkjwt = headless(
        &peers,
        ClientCredentials::private_key_jwt("svc-es256", Arc::new(signer)),
        DpopMode::Always,
    );
    let auth = Authorizer::Headless(pkjwt.clone());
    let session = McpSession::connect_with(&peers.mcp_url, Some(auth), false).await.expect("pkjwt");
    let who = session.call_tool("whoami", None).await.expect("whoami");
    assert!(format!("{who:?}").contains("svc-es256"), "{who:?}");
    session.close().await;
    let later = records(&peers.as_stats().await, "dpop_token_requests");
    let last = later.last().expect("a token request");
    assert_eq!((last["status"].as_u64(), last["token_type"].as_str()), (Some(200), Some("DPoP")));
    assert_ne!(pkjwt.dpop_thumbprint(), Some(jkt.as_str()));
    assert_eq!(thumbprint(&last["header"]["jwk"]), pkjwt.dpop_thumbprint().unwrap());
}

fn cli(peers: &Peers, dpop: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_OAUTH_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["tools", "call", "--name", "whoami", "--grant", "client-credentials"])
        .args(["--client-id", "svc-basic", "--client-secret", "basic-secret"])
        .args(["--dpop", dpop, "--url", &peers.mcp_url])
        .env_remove("BROWSER")
        .output()
        .expect("run mcp-oauth")
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_headless_dpop_auto_works_and_never_is_refused_clearly() {
    let peers = peers(&[("MCP_DPOP", "1".into())]);
    let out = cli(&peers, "auto");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "svc-basic");
    let accepted = records(&peers.mcp_stats().await, "dpop_requests");
    assert!(accepted.iter().all(|r| r["decision"] == "accepted"), "no nonce here: {accepted:?}");

    peers.reset_as_stats().await;
    let out = cli(&peers, "never");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("--dpop never: exit {:?}: {stderr}", out.status.code());
    assert_eq!(out.status.code(), Some(5), "the MCP server refused the token: {stderr}");
    assert!(stderr.contains("accepts only DPoP-bound tokens"), "{stderr}");
    assert!(stderr.contains("dpop: never"), "{stderr}");
    assert!(stderr.contains("expected DPoP <token>"), "the server's words: {stderr}");
    assert!(stderr.contains("hint: the MCP server needs DPoP-bound tokens: pass --dpop auto"));
    assert!(!stderr.contains("::"), "no library type names: {stderr}");
    // One Bearer token, not a loop of them.
    let stats = peers.as_stats().await;
    assert_eq!(common::count(&stats, "/token/client_credentials"), 1, "{stats}");
    assert!(records(&stats, "dpop_token_requests").is_empty(), "no proof with never");
}

/// A service account (a fixed token URL: no metadata says DPoP) with `auto`: its first token is
/// a Bearer token, which the DPoP-only MCP server refuses with a `DPoP` challenge; the next
/// token request carries a proof, and the bound token is accepted.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_account_with_auto_follows_the_mcp_servers_dpop_challenge() {
    let peers = peers(&[("MCP_DPOP", "1".into())]);
    let meta =
        common::get_json(&format!("{}/.well-known/openid-configuration", peers.issuer)).await;
    let token_url = meta["token_endpoint"].as_str().expect("token endpoint").to_owned();
    let client = ClientCredentials::secret(
        "svc-basic",
        "basic-secret",
        mcp_oauth::core::token::TokenEndpointAuth::ClientSecretBasic,
    );
    let mut o = HeadlessOptions::new(&peers.mcp_url, HeadlessGrant::ClientCredentials { client })
        .expect("options");
    o.cache = Arc::new(MetadataCache::new());
    o.token_url = Some(token_url);
    o.issuer = Some(peers.issuer.clone());
    o.scopes = Some("mcp:tools".into()); // no metadata to take them from
    let h = Arc::new(HeadlessClient::new(o).expect("client"));
    let auth = Authorizer::Headless(h.clone());
    let session =
        McpSession::connect_with(&peers.mcp_url, Some(auth), false).await.expect("connect");
    let who = session.call_tool("whoami", None).await.expect("whoami");
    assert!(format!("{who:?}").contains("svc-basic"), "{who:?}");
    session.close().await;
    let stats = peers.as_stats().await;
    assert_eq!(
        common::count(&stats, "/token/client_credentials"),
        3,
        "Bearer, then with a proof after its nonce refusal: {stats}"
    );
    let proofs = records(&stats, "dpop_token_requests");
    let outcome: Vec<(u64, &str)> = proofs
        .iter()
        .map(|r| (r["status"].as_u64().unwrap_or(0), r["token_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(outcome, [(400, ""), (200, "DPoP")], "{proofs:?}");
    let mcp_stats = peers.mcp_stats().await;
    // The Bearer token was refused for its scheme (before any proof check), once.
    let bearer_refused = "malformed Authorization header, expected DPoP <token>";
    assert_eq!(mcp_stats["reject_reasons"][bearer_refused], 1, "{mcp_stats}");
    let mcp = records(&mcp_stats, "dpop_requests");
    assert!(!mcp.is_empty());
    assert!(mcp.iter().all(|r| r["decision"] == "accepted" && r["authorization_scheme"] == "DPoP"));
    assert!(h.tokens().await.expect("a token").is_dpop_bound());
}
