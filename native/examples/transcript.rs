//! The native driver of the transcript tests (tests/transcripts): runs one scenario's steps
//! through the library as the `mcp-oauth` CLI uses it — [`OAuthClient`] in follow mode with the
//! rmcp session of [`McpSession`], or a [`HeadlessClient`] — against the scripted server, and
//! prints what each step gave: `ok`, or the error code the client surfaced.
//!
//! ```text
//! transcript '{"mcpUrl":"http://127.0.0.1:PORT/mcp","redirectUri":"http://127.0.0.1:8976/callback",
//!              "client":{"kind":"user"},"steps":["connect","call:whoami"]}'
//! → {"steps":[{"step":"connect","result":"ok"},{"step":"call:whoami","result":"ok"}]}
//! ```
//!
//! `client` is `{"kind":"user","clientId"?,"clientSecret"?,"scopes"?,"timeoutMs"?}` or `{"kind":"headless",
//! "grant":"client_credentials"|"cross_app"|"jwt_bearer","clientId","clientSecret"?,"authMethod"?,
//! "assertion"? (jwt_bearer: the platform's JWT),
//! "privateKeyFile"?,"signingAlg"?,"scopes"?,"idp"?:{"tokenEndpoint","clientId","clientSecret",
//! "idToken"}}` (a key file path is relative to the working directory, the repository root). Steps: `login` (authorize now / obtain a headless token),
//! `connect` (MCP initialize), `list`, `call:NAME`, `wait:MS`, `logout`. The first failing step
//! ends the run (the rest are reported `not_run`). Exit status 0 unless the input is unusable.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::cache::MetadataCache;
use mcp_oauth::core::registration::PreRegistered;
use mcp_oauth::core::secret::{ClientSecret, GrantAssertion, IdToken};
use mcp_oauth::core::token::TokenEndpointAuth;
use mcp_oauth::headless::{AssertionSource, ClientCredentials};
use mcp_oauth::mcp::{Authorizer, McpSession};
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::store::MemoryStore;
use mcp_oauth::{
    BrowserMode, ClientOptions, Error, HeadlessClient, HeadlessGrant, HeadlessOptions, OAuthClient,
};
use serde_json::{json, Value};

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| format!("`{key}` (a string) is missing"))
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A client secret with its configured method; without one, the core chooses from the server's
/// metadata, as the CLI does (native/src/bin/mcp-oauth/setup.rs).
fn credentials(v: &Value) -> Result<ClientCredentials, String> {
    let id = text(v, "clientId")?;
    if let Some(file) = opt_text(v, "privateKeyFile") {
        let name = opt_text(v, "signingAlg").unwrap_or_else(|| "ES256".into());
        let alg =
            SigningAlg::from_name(&name).ok_or_else(|| format!("unknown signingAlg `{name}`"))?;
        let signer = PrivateKeySigner::from_pem_file(std::path::Path::new(&file), alg)
            .map_err(|e| e.to_string())?;
        return Ok(ClientCredentials::private_key_jwt(id, Arc::new(signer)));
    }
    let method = match opt_text(v, "authMethod") {
        Some(name) => Some(
            TokenEndpointAuth::from_name(&name)
                .ok_or_else(|| format!("unknown authMethod `{name}`"))?,
        ),
        None => None,
    };
    Ok(match (opt_text(v, "clientSecret"), method) {
        (Some(secret), Some(m)) => ClientCredentials::secret(id, secret, m),
        (Some(secret), None) => ClientCredentials::client_secret(id, secret),
        (None, _) => ClientCredentials::public(id),
    })
}

enum Auth {
    User(Arc<OAuthClient>),
    Headless(Arc<HeadlessClient>),
}

impl Auth {
    fn authorizer(&self) -> Authorizer {
        match self {
            Auth::User(c) => Authorizer::User(Arc::clone(c)),
            Auth::Headless(h) => Authorizer::Headless(Arc::clone(h)),
        }
    }
}

fn client(spec: &Value) -> Result<Auth, String> {
    let url = text(spec, "mcpUrl")?;
    let c = spec.get("client").ok_or("`client` is missing")?;
    match text(c, "kind")? {
        "user" => {
            let mut o =
                ClientOptions::new(url, Arc::new(MemoryStore::new())).map_err(|e| e.to_string())?;
            o.redirect_uri = text(spec, "redirectUri")?.to_owned();
            o.browser = BrowserMode::Follow;
            let timeout_ms = c.get("timeoutMs").and_then(Value::as_u64).unwrap_or(20_000);
            o.timeout = Duration::from_millis(timeout_ms);
            o.cache = Arc::new(MetadataCache::new());
            o.scopes = opt_text(c, "scopes");
            // A pre-registered client: its auth method chosen from the server's metadata.
            if let Some(id) = opt_text(c, "clientId") {
                let secret = opt_text(c, "clientSecret").map(ClientSecret::new);
                o.client.pre_registered = Some(PreRegistered::new(id, secret));
            }
            Ok(Auth::User(Arc::new(OAuthClient::new(o).map_err(|e| e.to_string())?)))
        }
        "headless" => {
            let grant = match text(c, "grant")? {
                "client_credentials" => {
                    HeadlessGrant::ClientCredentials { client: credentials(c)? }
                }
                "cross_app" => {
                    let idp = c.get("idp").ok_or("`idp` is missing")?;
                    // The CLI's identity-provider client: its method is the core's choice.
                    let idp_client = match opt_text(idp, "clientSecret") {
                        Some(s) => ClientCredentials::client_secret(text(idp, "clientId")?, s),
                        None => ClientCredentials::public(text(idp, "clientId")?),
                    };
                    HeadlessGrant::CrossApp {
                        idp_token_endpoint: text(idp, "tokenEndpoint")?.to_owned(),
                        id_token: IdToken::new(text(idp, "idToken")?),
                        idp_client,
                        client: credentials(c)?,
                    }
                }
                "jwt_bearer" => HeadlessGrant::JwtBearer {
                    assertion: AssertionSource::Value(GrantAssertion::new(text(c, "assertion")?)),
                    client: credentials(c)?,
                },
                other => return Err(format!("unknown grant `{other}`")),
            };
            let mut o = HeadlessOptions::new(url, grant).map_err(|e| e.to_string())?;
            o.scopes = opt_text(c, "scopes");
            o.cache = Arc::new(MetadataCache::new());
            Ok(Auth::Headless(Arc::new(HeadlessClient::new(o).map_err(|e| e.to_string())?)))
        }
        other => Err(format!("unknown client kind `{other}`")),
    }
}

/// Runs one step; `Err` carries the error code.
async fn step(
    step: &str,
    url: &str,
    auth: &Auth,
    session: &mut Option<McpSession>,
) -> Result<(), String> {
    let code = |e: Error| e.code().to_owned();
    let no_session = || "no_session".to_owned();
    match step.split_once(':').unwrap_or((step, "")) {
        ("login", _) => match auth {
            Auth::User(c) => c.authorize().await.map_err(code),
            Auth::Headless(h) => h.access_token().await.map(|_| ()).map_err(code),
        },
        ("connect", _) => {
            let interactive = matches!(auth, Auth::User(_));
            let s = McpSession::connect_with(url, Some(auth.authorizer()), interactive)
                .await
                .map_err(code)?;
            *session = Some(s);
            Ok(())
        }
        ("list", _) => {
            session.as_ref().ok_or_else(no_session)?.list_tools().await.map(|_| ()).map_err(code)
        }
        ("call", name) => {
            let r = session
                .as_ref()
                .ok_or_else(no_session)?
                .call_tool(name, None)
                .await
                .map_err(code)?;
            match r.is_error {
                Some(true) => Err("tool_error".into()),
                _ => Ok(()),
            }
        }
        ("wait", ms) => {
            let ms: u64 = ms.parse().map_err(|_| format!("bad wait `{ms}`"))?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(())
        }
        ("logout", _) => match auth {
            Auth::User(c) => c.logout().await.map(|_| ()).map_err(code),
            Auth::Headless(_) => Err("unsupported".into()),
        },
        _ => Err(format!("unknown_step {step}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: transcript '<scenario driver JSON>'");
        return ExitCode::from(2);
    };
    let spec: Value = match serde_json::from_str(&arg) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("transcript: the argument is not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let (url, auth, steps) = match (|| {
        let url = text(&spec, "mcpUrl")?.to_owned();
        let auth = client(&spec)?;
        let steps: Vec<String> = spec
            .get("steps")
            .and_then(Value::as_array)
            .ok_or("`steps` (an array) is missing")?
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or("a step is not a string"))
            .collect::<Result<_, _>>()?;
        Ok::<_, String>((url, auth, steps))
    })() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("transcript: {e}");
            return ExitCode::from(2);
        }
    };
    let mut session = None;
    let mut out = Vec::new();
    let mut failed = false;
    for s in &steps {
        let result = if failed {
            "not_run".to_owned()
        } else {
            match step(s, &url, &auth, &mut session).await {
                Ok(()) => "ok".to_owned(),
                Err(code) => {
                    failed = true;
                    code
                }
            }
        };
        out.push(json!({ "step": s, "result": result }));
    }
    if let Some(s) = session {
        s.close().await;
    }
    println!("{}", json!({ "steps": out }));
    ExitCode::SUCCESS
}
