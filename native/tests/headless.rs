//! Headless grants end to end against the real peers (tests/peers): client credentials with a
//! secret and with private_key_jwt (ES256, RS256) at oidc-provider, cross-app access through the
//! test identity provider (RFC 8693 → ID-JAG → RFC 7523 jwt-bearer), and the service-account
//! mode, through the library and the `mcp-oauth` CLI. Every MUST has a refused case.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use common::{count, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::core::http::{HttpRequest, RequestId};
use mcp_oauth::core::token::{
    AssertionClaims, ClientAssertionSigner, ClientAuth, TokenEndpointAuth,
};
use mcp_oauth::core::url::{EndpointUrl, ResourceUrl};
use mcp_oauth::core::{client_credentials, secret::IdToken};
use mcp_oauth::headless::ClientCredentials;
use mcp_oauth::http::HttpClient;
use mcp_oauth::mcp::{Authorizer, McpSession};
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::{Error, HeadlessClient, HeadlessGrant, HeadlessOptions};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
}

fn jwk(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(key(name)).expect("jwk")).expect("jwk json")
}

/// The static clients of the authorization server.
fn clients() -> String {
    let cc = |id: &str, extra: serde_json::Value| {
        let mut c = serde_json::json!({
            "client_id": id, "grant_types": ["client_credentials"], "response_types": [],
            "redirect_uris": [],
        });
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    serde_json::json!([
        cc("svc-basic", serde_json::json!({"client_secret": "basic-secret", "token_endpoint_auth_method": "client_secret_basic"})),
        cc("svc-post", serde_json::json!({"client_secret": "post-secret", "token_endpoint_auth_method": "client_secret_post"})),
        cc("svc-es256", serde_json::json!({"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256", "jwks": {"keys": [jwk("es256.pub.jwk.json")]}})),
        cc("svc-rs256", serde_json::json!({"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "RS256", "jwks": {"keys": [jwk("rs256.pub.jwk.json")]}})),
        {
            "client_id": "code-es256", "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [jwk("es256.pub.jwk.json")]}
        },
        {
            "client_id": "mcp-client", "client_secret": "mcp-client-as-secret",
            "grant_types": [JWT_BEARER], "response_types": [], "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_post"
        },
    ])
    .to_string()
}

fn peers() -> Peers {
    Peers::start_with_idp(&[], &[("PEER_CLIENTS", clients())], &[])
}

fn options(peers: &Peers, grant: HeadlessGrant) -> HeadlessOptions {
    let mut o = HeadlessOptions::new(&peers.mcp_url, grant).expect("options");
    o.cache = Arc::new(MetadataCache::new());
    o
}

fn cc(client: ClientCredentials) -> HeadlessGrant {
    HeadlessGrant::ClientCredentials { client }
}

async fn whoami(url: &str, auth: Authorizer) -> Result<String, Error> {
    let session = McpSession::connect_with(url, Some(auth), false).await?;
    let result = session.call_tool("whoami", None).await;
    session.close().await;
    let result = result?;
    Ok(result.content[0].as_text().expect("text").text.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_with_secret_basic_and_post() {
    let peers = peers();
    for (id, secret, method) in [
        ("svc-basic", "basic-secret", TokenEndpointAuth::ClientSecretBasic),
        ("svc-post", "post-secret", TokenEndpointAuth::ClientSecretPost),
    ] {
        let client = Arc::new(
            HeadlessClient::new(options(&peers, cc(ClientCredentials::secret(id, secret, method))))
                .expect("client"),
        );
        assert_eq!(
            whoami(&peers.mcp_url, Authorizer::Headless(client.clone())).await.expect("whoami"),
            id
        );
        // Scopes default to the protected-resource metadata's scopes_supported.
        let tokens = client.tokens().await.expect("tokens");
        assert_eq!(tokens.scope.as_deref(), Some("mcp:tools"));
    }
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/token/client_credentials"), 2);
    assert_eq!(count(&stats, "/register"), 0, "no registration");
    assert_eq!(count(&stats, "/authorization"), 0, "no browser");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_secret_is_refused_with_invalid_client() {
    let peers = peers();
    let client = HeadlessClient::new(options(
        &peers,
        cc(ClientCredentials::secret("svc-basic", "wrong", TokenEndpointAuth::ClientSecretBasic)),
    ))
    .expect("client");
    let e = client.access_token().await.unwrap_err();
    assert_eq!(e.code(), "token_rejected", "{e}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_es256_and_rs256() {
    let peers = peers();
    for (id, file, alg) in [
        ("svc-es256", "es256.pem", SigningAlg::Es256),
        ("svc-rs256", "rs256.pem", SigningAlg::Rs256),
        ("svc-rs256", "rs256-pkcs1.pem", SigningAlg::Rs256),
    ] {
        let signer = PrivateKeySigner::from_pem_file(&key(file), alg).expect("key");
        let grant = cc(ClientCredentials::private_key_jwt(id, Arc::new(signer)));
        let client = Arc::new(HeadlessClient::new(options(&peers, grant)).expect("client"));
        assert_eq!(
            whoami(&peers.mcp_url, Authorizer::Headless(client)).await.expect(file),
            id,
            "{file}"
        );
    }
    // A key of the wrong type for the algorithm is refused before any request.
    let e = PrivateKeySigner::from_pem_file(&key("rs256.pem"), SigningAlg::Es256).unwrap_err();
    assert!(e.reason.contains("ES256"), "{e}");
    // A key the server does not know for the client: invalid_client.
    let signer =
        PrivateKeySigner::from_pem_file(&key("es256.pem"), SigningAlg::Es256).expect("key");
    let grant = cc(ClientCredentials::private_key_jwt("svc-rs256", Arc::new(signer)));
    let e =
        HeadlessClient::new(options(&peers, grant)).expect("c").access_token().await.unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");
}

/// Sends a client_credentials request with a hand-made assertion (claims chosen by the test).
async fn with_assertion(peers: &Peers, claims: AssertionClaims) -> serde_json::Value {
    let signer =
        PrivateKeySigner::from_pem_file(&key("es256.pem"), SigningAlg::Es256).expect("key");
    let jwt = signer.sign(&claims).expect("sign");
    let meta =
        common::get_json(&format!("{}/.well-known/oauth-authorization-server", peers.issuer)).await;
    let endpoint =
        EndpointUrl::parse(meta["token_endpoint"].as_str().expect("endpoint")).expect("url");
    let resource = ResourceUrl::parse(&peers.mcp_url).expect("resource");
    let auth = ClientAuth {
        client_id: "svc-es256",
        client_secret: None,
        method: TokenEndpointAuth::PrivateKeyJwt,
        assertion: Some(&jwt),
    };
    let req: HttpRequest = client_credentials::client_credentials_request(
        RequestId(1),
        &client_credentials::ClientCredentialsParams {
            token_endpoint: &endpoint,
            client: &auth,
            scope: Some("mcp:tools"),
            resource: Some(&resource),
        },
    )
    .expect("request");
    let resp = HttpClient::new().expect("http").send(&req).await.expect("send");
    let mut body: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    body["status"] = resp.status.into();
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_refuses_assertions_with_wrong_audience_or_expired() {
    let peers = peers();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let good = AssertionClaims {
        iss: "svc-es256".into(),
        sub: "svc-es256".into(),
        aud: peers.issuer.clone(),
        iat: now,
        exp: now + 120,
        jti: None,
    };
    assert_eq!(with_assertion(&peers, good.clone()).await["status"], 200);
    // RFC 7523 §3 item 3: aud must identify this authorization server.
    let wrong_aud = AssertionClaims { aud: "https://other-as.example".into(), ..good.clone() };
    let r = with_assertion(&peers, wrong_aud).await;
    assert_eq!(
        (r["status"].as_u64(), r["error"].as_str()),
        (Some(401), Some("invalid_client")),
        "{r}"
    );
    // RFC 7523 §3 item 4: an expired assertion is refused.
    let expired = AssertionClaims { iat: now - 600, exp: now - 300, ..good.clone() };
    let r = with_assertion(&peers, expired).await;
    assert_eq!(
        (r["status"].as_u64(), r["error"].as_str()),
        (Some(401), Some("invalid_client")),
        "{r}"
    );
    // RFC 7523 §3 items 1–2: iss/sub must be the client.
    let other_sub =
        AssertionClaims { iss: "svc-basic".into(), sub: "svc-basic".into(), ..good.clone() };
    let r = with_assertion(&peers, other_sub).await;
    assert_ne!(r["status"].as_u64(), Some(200), "{r}");
    assert!(r["error"].is_string(), "{r}");
    // RFC 7523 §3 item 7: the same jti twice is a replay.
    let fixed = AssertionClaims { jti: Some("replayed-jti".into()), ..good };
    assert_eq!(with_assertion(&peers, fixed.clone()).await["status"], 200);
    let r = with_assertion(&peers, fixed).await;
    assert_eq!(r["status"].as_u64(), Some(401), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_cached_single_flight_and_renewed_within_the_buffer() {
    let peers = peers();
    let grant = cc(ClientCredentials::secret(
        "svc-basic",
        "basic-secret",
        TokenEndpointAuth::ClientSecretBasic,
    ));
    let client = Arc::new(HeadlessClient::new(options(&peers, grant.clone())).expect("client"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.access_token().await.expect("token") })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("join"));
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one token for all");
    assert_eq!(count(&peers.as_stats().await, "/token/client_credentials"), 1, "single flight");
    // Cached: no new request.
    client.access_token().await.expect("cached");
    assert_eq!(count(&peers.as_stats().await, "/token/client_credentials"), 1);
    // A token inside the refresh buffer is replaced: 1 h tokens, a buffer of 2 h.
    let mut o = options(&peers, grant);
    o.refresh_buffer = std::time::Duration::from_secs(7200);
    let eager = HeadlessClient::new(o).expect("client");
    let a = eager.access_token().await.expect("a");
    let b = eager.access_token().await.expect("b");
    assert_ne!(a, b, "renewed because it expires within the buffer");
    assert_eq!(count(&peers.as_stats().await, "/token/client_credentials"), 3);
    // A 401 for the current token drops it; a stale 401 does not.
    let before = client.access_token().await.expect("t");
    client.handle_unauthorized(Some(&a)).await;
    assert_eq!(client.access_token().await.expect("t"), before, "stale 401 ignored");
    client.handle_unauthorized(Some(&before)).await;
    assert_ne!(client.access_token().await.expect("t"), before, "refused token replaced");
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_app_access_through_the_identity_provider() {
    let peers = peers();
    let id_token = peers.id_token("carol", "mcp-client").await;
    let grant = HeadlessGrant::CrossApp {
        idp_token_endpoint: format!("{}/token", peers.idp_issuer()),
        id_token: IdToken::new(id_token.clone()),
        idp_client: ClientCredentials::secret(
            "mcp-client",
            "mcp-client-idp-secret",
            TokenEndpointAuth::ClientSecretBasic,
        ),
        client: ClientCredentials::secret(
            "mcp-client",
            "mcp-client-as-secret",
            TokenEndpointAuth::ClientSecretPost,
        ),
    };
    let client = Arc::new(HeadlessClient::new(options(&peers, grant.clone())).expect("client"));
    // The token is the user's, not the client's.
    assert_eq!(
        whoami(&peers.mcp_url, Authorizer::Headless(client)).await.expect("whoami"),
        "carol"
    );
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, &format!("/token/{JWT_BEARER}")), 1);
    let idp = common::get_json(&format!("{}/__stats", peers.idp_issuer())).await;
    assert_eq!(idp["exchanges"], 1);

    // The AS refuses an ID-JAG whose audience is another server (SEP-990 §4: audience = issuer).
    peers.tamper_idp(serde_json::json!({"audience": "https://other-as.example"})).await;
    let e = HeadlessClient::new(options(&peers, grant.clone()))
        .expect("c")
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant", "{e}");
    assert!(e.to_string().contains("aud"), "{e}");
    // … an expired one …
    peers.tamper_idp(serde_json::json!({"audience": null, "expired": true})).await;
    let e = HeadlessClient::new(options(&peers, grant.clone()))
        .expect("c")
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant", "{e}");
    // … and one issued for another client.
    peers.tamper_idp(serde_json::json!({"expired": false, "clientId": "svc-basic"})).await;
    let e = HeadlessClient::new(options(&peers, grant.clone()))
        .expect("c")
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant", "{e}");
    peers.tamper_idp(serde_json::json!({"clientId": null})).await;

    // The IdP refuses an ID token issued to another client (draft §4.3.3).
    let HeadlessGrant::CrossApp { idp_token_endpoint, idp_client, client, .. } = grant else {
        unreachable!()
    };
    let foreign = HeadlessGrant::CrossApp {
        idp_token_endpoint,
        id_token: IdToken::new(peers.id_token("carol", "another-app").await),
        idp_client,
        client,
    };
    let e =
        HeadlessClient::new(options(&peers, foreign)).expect("c").access_token().await.unwrap_err();
    assert_eq!(e.code(), "token_exchange_rejected", "{e}");
    assert!(e.to_string().contains("invalid_grant"), "{e}");
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
async fn cli_client_credentials_and_cross_app() {
    let peers = peers();
    let es256 = key("es256.pem");
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--grant",
            "client-credentials",
            "--client-id",
            "svc-es256",
            "--private-key",
            es256.to_str().expect("path"),
            "--signing-alg",
            "ES256",
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "svc-es256");
    // The same through MCP_OAUTH_* environment variables, with a secret.
    let out = cli(
        &["tools", "call", "--name", "whoami"],
        &[
            ("MCP_OAUTH_GRANT", "client-credentials"),
            ("MCP_OAUTH_CLIENT_ID", "svc-post"),
            ("MCP_OAUTH_CLIENT_SECRET", "post-secret"),
            ("MCP_OAUTH_TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_post"),
            ("MCP_OAUTH_URL", &peers.mcp_url),
        ],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "svc-post");
    // Missing credentials: a usage error naming what is needed.
    let out =
        cli(&["tools", "list", "--grant", "client-credentials", "--url", &peers.mcp_url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--client-id"), "{}", text(&out.stderr));
    // A wrong secret: authorization failed (exit 3).
    let out = cli(
        &[
            "tools",
            "list",
            "--grant",
            "client-credentials",
            "--client-id",
            "svc-basic",
            "--client-secret",
            "nope",
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("invalid_client"), "{}", text(&out.stderr));

    // The authorization-code flow with a pre-registered private_key_jwt client.
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--auth",
            "--browser",
            "follow",
            "--token-store",
            "memory",
            "--client-id",
            "code-es256",
            "--private-key",
            es256.to_str().expect("path"),
            "--redirect-uri",
            "http://127.0.0.1:0/cb",
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "alice");
    assert_eq!(count(&peers.as_stats().await, "/token/authorization_code"), 1);
    // The same client from a configuration file (mcp_oauth2 with private_key_file).
    let dir = common::private_tempdir();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        format!(
            "function_groups:\n  g:\n    _type: per_user_mcp_client\n    server:\n      url: ${{MCP}}\n      auth_provider: p\n\
             authentication:\n  p:\n    _type: mcp_oauth2\n    server_url: ${{MCP}}\n    redirect_uri: http://127.0.0.1:0/cb\n\
             \x20   client_id: code-es256\n    private_key_file: {}\n    signing_alg: ES256\n    token_storage: memory\n",
            es256.display()
        ),
    )
    .expect("write");
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--browser",
            "follow",
            "--config",
            file.to_str().expect("path"),
            "--group",
            "g",
        ],
        &[("MCP", &peers.mcp_url)],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(count(&peers.as_stats().await, "/token/authorization_code"), 2);

    // Cross-app access.
    let id_token = peers.id_token("dave", "mcp-client").await;
    let idp_token = format!("{}/token", peers.idp_issuer());
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--grant",
            "cross-app",
            "--idp-token-endpoint",
            &idp_token,
            "--idp-client-id",
            "mcp-client",
            "--idp-client-secret",
            "mcp-client-idp-secret",
            "--client-id",
            "mcp-client",
            "--client-secret",
            "mcp-client-as-secret",
            "--token-endpoint-auth-method",
            "client_secret_post",
            "--url",
            &peers.mcp_url,
        ],
        &[("MCP_OAUTH_ID_TOKEN", &id_token)],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "dave");
    let out = cli(&["tools", "list", "--grant", "cross-app", "--url", &peers.mcp_url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--idp-client-id"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_from_the_config_file_sends_the_second_token() {
    let peers = Peers::start_with(
        &[("PEER_CLIENTS", clients())],
        &[("MCP_REQUIRED_HEADER", "X-Backend-Token: second-secret".to_owned())],
    );
    let meta =
        common::get_json(&format!("{}/.well-known/oauth-authorization-server", peers.issuer)).await;
    let dir = common::private_tempdir();
    let file = dir.path().join("mcp.yaml");
    std::fs::write(
        &file,
        r#"
function_groups:
  backend:
    _type: mcp_client
    server:
      transport: streamable-http
      url: ${BACKEND_MCP_URL}
      auth_provider: backend_sa
authentication:
  backend_sa:
    _type: mcp_service_account
    token_url: ${BACKEND_TOKEN_URL}
    client_id: svc-basic
    client_secret: ${BACKEND_SECRET}
    issuer: ${BACKEND_ISSUER}
    scopes: [mcp:tools]
    service_token: ${BACKEND_SECOND_TOKEN:-second-secret}
    service_token_header: X-Backend-Token
"#,
    )
    .expect("write");
    let token_url = meta["token_endpoint"].as_str().expect("token endpoint");
    let env = [
        ("BACKEND_MCP_URL", peers.mcp_url.as_str()),
        ("BACKEND_TOKEN_URL", token_url),
        ("BACKEND_SECRET", "basic-secret"),
        ("BACKEND_ISSUER", peers.issuer.as_str()),
    ];
    let cfg = file.to_str().expect("path");
    let out =
        cli(&["tools", "call", "--name", "whoami", "--config", cfg, "--group", "backend"], &env);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "svc-basic");
    // Service-account mode skips discovery: no protected-resource metadata was fetched.
    assert_eq!(count(&peers.mcp_stats().await, "/prm"), 0);
    assert_eq!(count(&peers.as_stats().await, "/token/client_credentials"), 1);
    assert_eq!(count(&peers.mcp_stats().await, "/missing_header"), 0);
    // Without the second token the MCP server refuses.
    let out = cli(
        &["tools", "list", "--config", cfg, "--group", "backend"],
        &[env[0], env[1], env[2], env[3], ("BACKEND_SECOND_TOKEN", "wrong")],
    );
    assert!(!out.status.success());
    assert_eq!(count(&peers.mcp_stats().await, "/missing_header"), 1);
    // A missing variable without default names the path.
    let out =
        cli(&["tools", "list", "--config", cfg, "--group", "backend"], &[env[0], env[1], env[3]]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("authentication.backend_sa.client_secret")
            && stderr.contains("BACKEND_SECRET"),
        "{stderr}"
    );
    // `login` with a headless grant fetches a token and says so.
    let out = cli(&["--json", "login", "--config", cfg, "--group", "backend"], &env);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["authorized"], true);
    assert_eq!(v["scope"], "mcp:tools");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_group_with_mcp_oauth2_runs_the_code_flow() {
    let peers = Peers::start();
    let dir = common::private_tempdir();
    let file = dir.path().join("mcp.yaml");
    std::fs::write(
        &file,
        r#"
function_groups:
  mcp_jira:
    _type: per_user_mcp_client
    server:
      transport: streamable-http
      url: ${CORPORATE_MCP_JIRA_URL}
      auth_provider: mcp_oauth2_jira
authentication:
  mcp_oauth2_jira:
    _type: mcp_oauth2
    server_url: ${CORPORATE_MCP_JIRA_URL}
    redirect_uri: ${MCP_OAUTH_REDIRECT_URI:-http://127.0.0.1:0/auth/redirect}
    client_name: jira agent
    default_user_id: erin
    token_storage: memory
"#,
    )
    .expect("write");
    let cfg = file.to_str().expect("path");
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--browser",
            "follow",
            "--config",
            cfg,
            "--group",
            "mcp_jira",
        ],
        &[("CORPORATE_MCP_JIRA_URL", &peers.mcp_url)],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "alice", "the peer's default user consents");
    assert_eq!(count(&peers.as_stats().await, "/register"), 1);
    // Unknown group.
    let out = cli(
        &["tools", "list", "--config", cfg, "--group", "nope"],
        &[("CORPORATE_MCP_JIRA_URL", &peers.mcp_url)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no function group `nope` (defined: mcp_jira)"),
        "{}",
        text(&out.stderr)
    );
}

/// A pre-registered `private_key_jwt` client (authorization code) at an authorization server
/// that demands a DPoP nonce (RFC 9449 §8): the retry with the nonce carries a new client
/// assertion, since the first one's `jti` would be refused as a replay (RFC 7523 §3).
#[tokio::test(flavor = "multi_thread")]
async fn private_key_jwt_with_a_dpop_nonce_retry_signs_a_new_assertion() {
    let peers = Peers::start_with_idp(
        &[],
        &[("PEER_CLIENTS", clients()), ("PEER_DPOP_NONCE", "1".into())],
        &[("MCP_DPOP", "1".into())],
    );
    let es256 = key("es256.pem");
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--auth",
            "--browser",
            "follow",
            "--token-store",
            "memory",
            "--client-id",
            "code-es256",
            "--private-key",
            es256.to_str().expect("path"),
            "--redirect-uri",
            "http://127.0.0.1:0/cb",
            "--dpop",
            "auto",
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "alice");
    let stats = peers.as_stats().await;
    let requests = stats["dpop_token_requests"].as_array().expect("recorded").clone();
    assert_eq!(requests.len(), 2, "the code exchange and its nonce retry: {requests:?}");
    assert_eq!(requests[0]["error"], "use_dpop_nonce", "{requests:?}");
    assert_eq!(requests[1]["status"], 200, "{requests:?}");
    assert_eq!(stats["token_errors"].get("invalid_client"), None, "{stats}");
}
