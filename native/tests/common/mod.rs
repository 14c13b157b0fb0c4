//! Starts the real peer servers of `tests/peers` (an oidc-provider authorization server and an
//! MCP SDK server, both Node) on free loopback ports, and stops them when dropped.
#![allow(dead_code)]
// Test support: a peer that does not start is a test failure, stated with its cause.
#![allow(clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `tests/peers` directory.
pub fn peers_dir() -> PathBuf {
    // Included by native/ and by tests/attacks/ (`#[path]`): the first ancestor that has it.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|d| d.join("tests").join("peers"))
        .find(|p| p.join("package.json").is_file())
        .unwrap_or_else(|| manifest.join("..").join("tests").join("peers"))
}

/// One running peer process.
pub struct Peer {
    child: Child,
    /// The JSON line it printed when ready.
    pub info: serde_json::Value,
}

impl Peer {
    /// The process id (for benches that read its CPU time from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops a process the tests started: SIGTERM first, so that a launcher (`start.mjs`) can stop
/// its own children, then SIGKILL if it is still running after 5 s.
pub fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts one peer script (`as.mjs`, `mcp.mjs`, `idp.mjs`) with extra environment.
pub fn start(script: &str, env: &[(&str, String)]) -> Peer {
    let dir = peers_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "tests/peers/node_modules is missing: run `npm ci` in tests/peers (bash .ci/run does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(script).current_dir(&dir).stdout(Stdio::piped()).stderr(
        if std::env::var_os("PEER_STDERR").is_some() { Stdio::inherit() } else { Stdio::null() },
    );
    cmd.env("PORT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node must be installed to run the peers");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("peer stdout");
    let info: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("{script} did not print its JSON line ({e}): {line:?}"));
    Peer { child, info }
}

/// An authorization server and an MCP server using it (and optionally an identity provider).
pub struct Peers {
    /// Dropped first.
    pub mcp: Peer,
    /// The authorization server.
    pub auth: Peer,
    /// The enterprise identity provider (`idp.mjs`), for cross-app access.
    pub idp: Option<Peer>,
    /// Its issuer.
    pub issuer: String,
    /// The MCP endpoint.
    pub mcp_url: String,
}

impl Peers {
    /// Starts both with extra environment for the authorization server and the MCP server.
    pub fn start_with(as_env: &[(&str, String)], mcp_env: &[(&str, String)]) -> Peers {
        Self::start_all(None, as_env, mcp_env)
    }

    /// Starts the identity provider (with `idp_env`), then the authorization server trusting it
    /// (`PEER_IDP_ISSUER`), then the MCP server.
    pub fn start_with_idp(
        idp_env: &[(&str, String)],
        as_env: &[(&str, String)],
        mcp_env: &[(&str, String)],
    ) -> Peers {
        Self::start_all(Some(idp_env), as_env, mcp_env)
    }

    fn start_all(
        idp_env: Option<&[(&str, String)]>,
        as_env: &[(&str, String)],
        mcp_env: &[(&str, String)],
    ) -> Peers {
        let idp = idp_env.map(|env| start("idp.mjs", env));
        let mut as_env = as_env.to_vec();
        if let Some(idp) = &idp {
            as_env.push(("PEER_IDP_ISSUER", idp.info["issuer"].as_str().expect("idp").to_owned()));
        }
        let auth = start("as.mjs", &as_env);
        let issuer = auth.info["issuer"].as_str().expect("issuer").to_owned();
        let mut env = mcp_env.to_vec();
        env.push(("AS_ISSUER", issuer.clone()));
        let mcp = start("mcp.mjs", &env);
        let mcp_url = mcp.info["url"].as_str().expect("url").to_owned();
        Peers { mcp, auth, idp, issuer, mcp_url }
    }

    /// The identity provider's issuer.
    pub fn idp_issuer(&self) -> String {
        let idp = self.idp.as_ref().expect("started with an identity provider");
        idp.info["issuer"].as_str().expect("idp issuer").to_owned()
    }

    /// An ID token from the identity provider for `sub`, issued to the client `aud`.
    pub async fn id_token(&self, sub: &str, aud: &str) -> String {
        post_json(
            &format!("{}/__id_token", self.idp_issuer()),
            serde_json::json!({ "sub": sub, "aud": aud }),
        )
        .await["id_token"]
            .as_str()
            .expect("id_token")
            .to_owned()
    }

    /// Changes the identity provider's deliberate faults (`audience`, `expired`, `clientId`).
    pub async fn tamper_idp(&self, settings: serde_json::Value) {
        post_json(&format!("{}/__config", self.idp_issuer()), settings).await;
    }

    /// Both with defaults (auto-approve, 1 h tokens, rotation).
    pub fn start() -> Peers {
        Peers::start_with(&[], &[])
    }

    /// The authorization server's counters.
    pub async fn as_stats(&self) -> serde_json::Value {
        get_json(&format!("{}/__stats", self.issuer)).await
    }

    /// The MCP server's counters.
    pub async fn mcp_stats(&self) -> serde_json::Value {
        get_json(&self.mcp_url.replace("/mcp", "/__stats")).await
    }

    /// Zeroes the authorization server's counters.
    pub async fn reset_as_stats(&self) {
        mcp_oauth::http::install_crypto_provider();
        reqwest::Client::new()
            .post(format!("{}/__stats/reset", self.issuer))
            .send()
            .await
            .expect("reset stats");
    }

    /// RFC 7662 introspection with the MCP server's credentials: is the token active?
    pub async fn token_active(&self, token: &str) -> bool {
        let meta = get_json(&format!("{}/.well-known/openid-configuration", self.issuer)).await;
        let endpoint =
            meta["introspection_endpoint"].as_str().expect("introspection endpoint").to_owned();
        mcp_oauth::http::install_crypto_provider();
        let resp: serde_json::Value = reqwest::Client::new()
            .post(endpoint)
            .basic_auth("mcp-resource-server", Some("mcp-resource-server-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("introspection JSON");
        resp["active"].as_bool().expect("active member")
    }
}

/// GET a JSON document.
pub async fn get_json(url: &str) -> serde_json::Value {
    mcp_oauth::http::install_crypto_provider();
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} JSON: {e}"))
}

/// POST a JSON document, read the JSON answer.
pub async fn post_json(url: &str, body: serde_json::Value) -> serde_json::Value {
    mcp_oauth::http::install_crypto_provider();
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url} JSON: {e}"))
}

/// A number in a stats document (0 when absent).
pub fn count(stats: &serde_json::Value, path: &str) -> u64 {
    stats.pointer(path).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// A temporary directory only its owner can access, as a token store directory must be.
pub fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("tempdir")
}

/// The core's in-memory demo servers (`mcp_oauth::core::demo`) as the authorization requests'
/// transport, for tests of the client's own behaviour that need no real peer.
pub struct DemoTransport(pub std::sync::Arc<std::sync::Mutex<mcp_oauth::core::demo::DemoServer>>);

impl mcp_oauth::http::HttpTransport for DemoTransport {
    fn send<'a>(
        &'a self,
        req: &'a mcp_oauth::core::http::HttpRequest,
    ) -> mcp_oauth::http::TransportFuture<'a> {
        let answer = self.0.lock().unwrap_or_else(|p| p.into_inner()).respond(req);
        Box::pin(async move { Ok(answer) })
    }
}

/// The `redirect_uri` parameter of an authorization URL.
pub fn redirect_uri_of(authorization_url: &str) -> String {
    reqwest::Url::parse(authorization_url)
        .ok()
        .and_then(|u| {
            u.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| panic!("no redirect_uri in {authorization_url}"))
}

/// A browser opener that plays the user (`ClientOptions::browser_opener`): records the URL,
/// then, in a task of its own, follows the authorization server's redirects (servers that
/// approve without a user, as the peers do) and brings the callback to the loopback listener.
pub fn user_playing_opener(
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> mcp_oauth::BrowserOpener {
    std::sync::Arc::new(move |url: String| {
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(url.clone());
        Box::pin(async move {
            tokio::spawn(async move {
                let redirect_uri = redirect_uri_of(&url);
                let callback =
                    mcp_oauth::redirect::follow(&url, &redirect_uri, Duration::from_secs(30))
                        .await
                        .unwrap_or_else(|e| panic!("follow {url}: {e}"));
                reqwest::get(&callback).await.unwrap_or_else(|e| panic!("callback: {e}"));
            });
            Ok(())
        })
    })
}

/// A loopback HTTP server (a thread) answering `count` requests with `{}`; its URL.
pub fn answer_json(count: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/x", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

/// A GET of `url` as the authorization client sends one (request 1, server metadata).
pub fn metadata_get(url: &str) -> mcp_oauth::core::http::HttpRequest {
    use mcp_oauth::core::http::{HttpRequest, Method, Purpose, RequestId};
    HttpRequest {
        id: RequestId(1),
        purpose: Purpose::ServerMetadata,
        method: Method::Get,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}
