//! Workload identity (MCP extension SEP-1933) end to end against the peers: the jwt-bearer grant
//! (RFC 7523 §2.1) with a JWT from the workload's "platform" (signed here with the key whose JWK
//! Set the test authorization server trusts, `PEER_WORKLOAD_ISSUER` / `PEER_WORKLOAD_JWKS`),
//! through the library and the `mcp-oauth` CLI: the assertion is read again for every token
//! request, and a refused one stops with the server's error after one request.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::{count, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::headless::{AssertionSource, ClientCredentials};
use mcp_oauth::mcp::{Authorizer, McpSession};
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::{HeadlessClient, HeadlessGrant, HeadlessOptions};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const PLATFORM: &str = "https://kubernetes.default.svc.cluster.local";
const STAT: &str = "/token/urn:ietf:params:oauth:grant-type:jwt-bearer";
const STAT_ERRORS: &str = "/token_errors/urn:ietf:params:oauth:grant-type:jwt-bearer";

fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
}

fn peers() -> Peers {
    let jwk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(key("es256.pub.jwk.json")).expect("jwk"))
            .expect("jwk json");
    let clients = serde_json::json!([{
        "client_id": "workload", "grant_types": [JWT_BEARER], "response_types": [],
        "redirect_uris": [], "token_endpoint_auth_method": "none"
    }]);
    Peers::start_with(
        &[
            ("PEER_CLIENTS", clients.to_string()),
            ("PEER_WORKLOAD_ISSUER", PLATFORM.to_owned()),
            ("PEER_WORKLOAD_JWKS", serde_json::json!({ "keys": [jwk] }).to_string()),
        ],
        &[],
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A platform token for the workload `sub`, for the authorization server `aud`, expiring `ttl`
/// seconds from now (negative: expired).
fn platform_jwt(sub: &str, aud: &str, ttl: i64) -> String {
    let signer =
        PrivateKeySigner::from_pem_file(&key("es256.pem"), SigningAlg::Es256).expect("key");
    let now = unix_now() as i64;
    let payload = serde_json::json!({
        "iss": PLATFORM, "sub": sub, "aud": aud, "iat": now - 60, "exp": now + ttl,
    });
    signer.sign_payload(&payload.to_string()).expect("sign")
}

async fn whoami(url: &str, auth: Authorizer) -> String {
    let session = McpSession::connect_with(url, Some(auth), false).await.expect("connect");
    let result = session.call_tool("whoami", None).await;
    session.close().await;
    result.expect("whoami").content[0].as_text().expect("text").text.clone()
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, format!("{contents}\n")).expect("write the assertion file");
}

#[tokio::test(flavor = "multi_thread")]
async fn library_reads_the_rotated_file_for_every_token_request() {
    let peers = peers();
    let dir = common::private_tempdir();
    let file = dir.path().join("token");
    write(&file, &platform_jwt("system:serviceaccount:ci:builder", &peers.issuer, 300));
    let grant = HeadlessGrant::JwtBearer {
        assertion: AssertionSource::File(file.clone()),
        client: ClientCredentials::public("workload"),
    };
    let mut o = HeadlessOptions::new(&peers.mcp_url, grant).expect("options");
    o.cache = Arc::new(MetadataCache::new());
    // Longer than the token lives: every access_token call is a token request.
    o.refresh_buffer = Duration::from_secs(7200);
    let client = Arc::new(HeadlessClient::new(o).expect("client"));
    let auth = Authorizer::Headless(client.clone());
    assert_eq!(whoami(&peers.mcp_url, auth.clone()).await, "system:serviceaccount:ci:builder");
    let before = count(&peers.as_stats().await, STAT);
    assert!(before >= 1);

    // The platform rotates the token: the next token request carries the new one.
    write(&file, &platform_jwt("system:serviceaccount:ci:deployer", &peers.issuer, 300));
    client.access_token().await.expect("a token from the rotated assertion");
    assert_eq!(count(&peers.as_stats().await, STAT), before + 1);
    assert_eq!(whoami(&peers.mcp_url, auth).await, "system:serviceaccount:ci:deployer");

    // The file is gone: a clear error, no request.
    std::fs::remove_file(&file).expect("rm");
    let sent = count(&peers.as_stats().await, STAT);
    let e = client.access_token().await.unwrap_err();
    assert_eq!(e.code(), "workload_assertion_unavailable", "{e}");
    assert!(e.to_string().contains("cannot read the assertion file"), "{e}");
    assert_eq!(count(&peers.as_stats().await, STAT), sent);
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.args(args).env_remove("MCP_OAUTH_STORE_KEY").env_remove("BROWSER");
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_OAUTH_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mcp-oauth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_jwt_bearer_with_an_assertion_file_or_the_environment() {
    // Installs the TLS crypto provider the stats helpers' reqwest client needs.
    mcp_oauth::http::HttpClient::new().expect("http");
    let peers = peers();
    let dir = common::private_tempdir();
    let file = dir.path().join("token");
    let path = file.to_str().expect("path");
    let whoami_args = |extra: &[&'static str]| {
        let mut a = vec!["tools", "call", "--name", "whoami", "--grant", "jwt-bearer"];
        a.extend_from_slice(&["--client-id", "workload"]);
        a.extend_from_slice(extra);
        a
    };
    write(&file, &platform_jwt("workload-a", &peers.issuer, 300));
    let mut args = whoami_args(&[]);
    args.extend(["--assertion-file", path, "--url", &peers.mcp_url]);
    let out = cli(&args, &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "workload-a");

    // Rotated: the next token request uses the new assertion.
    write(&file, &platform_jwt("workload-b", &peers.issuer, 300));
    let out = cli(&args, &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "workload-b");

    // tools list, the assertion in MCP_OAUTH_ASSERTION.
    let jwt = platform_jwt("workload-env", &peers.issuer, 300);
    let out = cli(
        &["tools", "list", "--grant", "jwt-bearer", "--client-id", "workload"],
        &[("MCP_OAUTH_ASSERTION", &jwt), ("MCP_OAUTH_URL", &peers.mcp_url)],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("whoami"), "{}", text(&out.stdout));

    // An expired assertion: the server's invalid_grant, after exactly one token request.
    peers.reset_as_stats().await;
    write(&file, &platform_jwt("workload-a", &peers.issuer, -300));
    let out = cli(&args, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(stderr.contains("workload assertion rejected"), "the server's words: {stderr}");
    assert!(!stderr.contains("::"), "{stderr}");
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, STAT), 1, "one token request, no retry: {stats}");
    assert_eq!(count(&stats, STAT_ERRORS), 1, "{stats}");
    assert_eq!(count(&stats, "/token/client_credentials"), 0, "no other grant: {stats}");

    // For another authorization server: refused the same way.
    write(&file, &platform_jwt("workload-a", "https://other-as.example", 300));
    let out = cli(&args, &[]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("invalid_grant"), "{}", text(&out.stderr));

    // Neither a file nor the variable: a usage error naming both.
    let out = cli(
        &["tools", "list", "--grant", "jwt-bearer", "--client-id", "w", "--url", &peers.mcp_url],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--assertion-file") && stderr.contains("MCP_OAUTH_ASSERTION"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_provider_mcp_workload_identity() {
    let peers = peers();
    let dir = common::private_tempdir();
    let token = dir.path().join("token");
    write(&token, &platform_jwt("system:serviceaccount:prod:agent", &peers.issuer, 300));
    let file = dir.path().join("mcp.yaml");
    std::fs::write(
        &file,
        r#"
function_groups:
  tools:
    _type: mcp_client
    server:
      transport: streamable-http
      url: ${MCP_URL}
      auth_provider: k8s
authentication:
  k8s:
    _type: mcp_workload_identity
    assertion_file: ${TOKEN_FILE}
    client_id: workload
    scopes: [mcp:tools]
"#,
    )
    .expect("write");
    let cfg = file.to_str().expect("path");
    let env = [("MCP_URL", peers.mcp_url.as_str()), ("TOKEN_FILE", token.to_str().expect("p"))];
    let out =
        cli(&["tools", "call", "--name", "whoami", "--config", cfg, "--group", "tools"], &env);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "system:serviceaccount:prod:agent");
    // The file is missing: the error names it.
    let env = [("MCP_URL", peers.mcp_url.as_str()), ("TOKEN_FILE", "/nonexistent/token")];
    let out = cli(&["tools", "list", "--config", cfg, "--group", "tools"], &env);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/nonexistent/token"), "{stderr}");
    assert!(stderr.contains("workload identity assertion is unavailable"), "{stderr}");
}
