//! Test support for the multi-user server: a real `redis-server` on a free port, a server on a
//! free port, a stand-in browser that consents as a given user, WebSocket and HTTP clients.
#![allow(dead_code)]
#![allow(clippy::panic, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_oauth::server::{Identity, JwtConfig, JwtKey, MultiUserServer, ServerConfig};
use mcp_oauth::store::{PendingStore, TokenStore};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub const SESSION_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-session";
pub const JWT_SECRET: &[u8] = b"the-shared-hs256-secret-of-the-app-0123";
pub const JWT_ISSUER: &str = "https://app.example.test";
pub const JWT_AUDIENCE: &str = "mcp-chat";
pub const STORE_KEY: [u8; 32] = [7; 32];

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` on a loopback port, without persistence; stopped when dropped.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (bash .ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child: Some(child), port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn identity() -> Identity {
    let mut jwt = JwtConfig::new(JwtKey::Hs256(JWT_SECRET.to_vec()));
    jwt.issuer = Some(JWT_ISSUER.into());
    jwt.audience = Some(JWT_AUDIENCE.into());
    Identity::new(SESSION_SECRET, Duration::from_secs(3600), Some(jwt)).unwrap()
}

/// An HS256 JWT for `user` expiring `exp_in` seconds from now (negative: expired).
pub fn jwt(user: &str, exp_in: i64, secret: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let claims = json!({ "sub": user, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": now + exp_in, "iat": now });
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .unwrap()
}

/// A server listening on `listener`; aborted when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub server: MultiUserServer,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Running {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn session(&self, user: &str) -> String {
        self.server.identity().create_session(user).unwrap()
    }
}

pub fn config(
    mcp_url: &str,
    redirect_uri: &str,
    tokens: Arc<dyn TokenStore>,
    pending: Arc<dyn PendingStore>,
) -> ServerConfig {
    let mut c = ServerConfig::new(tokens, pending).unwrap().server("demo", mcp_url);
    c.redirect_uri = redirect_uri.to_owned();
    c.consent_timeout = Duration::from_secs(60);
    // The peers run on loopback, which the server's egress policy refuses by default.
    c.egress = mcp_oauth::egress::EgressPolicy::deny_internal()
        .allowing("127.0.0.0/8")
        .and_then(|p| p.allowing("::1"))
        .unwrap();
    c
}

pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> Running {
    let addr = listener.local_addr().unwrap();
    let server = MultiUserServer::new(config, identity()).unwrap();
    let app = server.router();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Running { addr, server, task }
}

pub async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The user's browser (a cookie jar, no session of the app): opens the consent link (the
/// server's `/auth/start/{id}`, which binds this browser to the authorization), goes through the
/// authorization server logging in as `user` (`login_hint`), and loads the redirect URI's page
/// with the cookies the link set. Returns the page's status and text (the link's own page when
/// it refuses).
pub async fn consent(url: &str, user: &str, redirect_uri: &str) -> (u16, String) {
    mcp_oauth::http::install_crypto_provider();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser.get(url).send().await.unwrap();
    if !resp.status().is_redirection() {
        return (resp.status().as_u16(), resp.text().await.unwrap());
    }
    let authorization_url = resp.headers()["location"].to_str().unwrap().to_owned();
    let url = format!("{authorization_url}&login_hint={user}");
    let callback = mcp_oauth::redirect::follow(&url, redirect_uri, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("follow for {user}: {e}"));
    let resp = browser.get(&callback).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// How a client identifies itself.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Cookie(String),
    QuerySession(String),
    Bearer(String),
}

fn http_request(b: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None | Auth::QuerySession(_) => b,
        Auth::Cookie(s) => b.header("cookie", format!("mcp_session={s}")),
        Auth::Bearer(t) => b.bearer_auth(t),
    }
}

/// POST /v1/chat; returns status and JSON.
pub async fn post_chat(base: &str, auth: &Auth, body: &Value) -> (u16, Value) {
    mcp_oauth::http::install_crypto_provider();
    post_chat_with(&reqwest::Client::new(), base, auth, body).await
}

/// [`post_chat`] over `client` (a load generator shares one: building a client per request
/// costs more than the request).
pub async fn post_chat_with(
    client: &reqwest::Client,
    base: &str,
    auth: &Auth,
    body: &Value,
) -> (u16, Value) {
    let resp =
        http_request(client.post(format!("{base}/v1/chat")), auth).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// GET /v1/chat/{id}?wait=.
pub async fn poll_chat(base: &str, auth: &Auth, id: &str, wait: u64) -> (u16, Value) {
    mcp_oauth::http::install_crypto_provider();
    poll_chat_with(&reqwest::Client::new(), base, auth, id, wait).await
}

/// [`poll_chat`] over `client`.
pub async fn poll_chat_with(
    client: &reqwest::Client,
    base: &str,
    auth: &Auth,
    id: &str,
    wait: u64,
) -> (u16, Value) {
    let resp = http_request(client.get(format!("{base}/v1/chat/{id}?wait={wait}")), auth)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Over HTTP: sends `body`; on `oauth_required` consents as `user` and long-polls for the end.
/// Returns the final reply and whether consent was asked.
pub async fn http_exchange(
    base: &str,
    auth: &Auth,
    user: &str,
    redirect_uri: &str,
    body: &Value,
) -> (Value, bool) {
    let (status, reply) = post_chat(base, auth, body).await;
    if reply["type"] != "oauth_required" {
        assert!(status == 200 || reply["type"] == "error", "{status} {reply}");
        return (reply, false);
    }
    assert_eq!(status, 202);
    let (page, text) = consent(reply["url"].as_str().unwrap(), user, redirect_uri).await;
    assert!(page == 200 || page == 400, "{page} {text}");
    let id = reply["request_id"].as_str().unwrap();
    loop {
        let (s, r) = poll_chat(base, auth, id, 20).await;
        if r["type"] != "pending" {
            assert!(s == 200 || r["type"] == "error", "{s} {r}");
            return (r, true);
        }
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket; `Err(status)` when the upgrade is refused.
pub async fn ws_connect(base: &str, auth: &Auth) -> Result<Ws, u16> {
    let mut url = format!("{}/ws", base.replace("http://", "ws://"));
    if let Auth::QuerySession(s) = auth {
        url = format!("{url}?session={s}");
    }
    let mut req = url.into_client_request().unwrap();
    match auth {
        Auth::Cookie(s) => {
            req.headers_mut().insert("cookie", format!("mcp_session={s}").parse().unwrap());
        }
        Auth::Bearer(t) => {
            req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        _ => {}
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("ws connect: {e}"),
    }
}

/// Over the WebSocket: sends `body`, consents as `user` on `oauth_required`, returns the final
/// reply and whether consent was asked.
pub async fn ws_exchange(
    ws: &mut Ws,
    user: &str,
    redirect_uri: &str,
    body: &Value,
) -> (Value, bool) {
    ws.send(Message::Text(body.to_string().into())).await.unwrap();
    let mut asked = false;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a reply in time");
        let text = match msg {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("websocket closed: {other:?}"),
        };
        let reply: Value = serde_json::from_str(&text).unwrap();
        if reply["type"] == "oauth_required" {
            asked = true;
            // The page says how the consent ended (400 when denied); the reply that follows too.
            let (page, text) = consent(reply["url"].as_str().unwrap(), user, redirect_uri).await;
            assert!(page == 200 || page == 400, "{page} {text}");
            continue;
        }
        return (reply, asked);
    }
}

/// The text of the first content item of a tool result.
pub fn tool_text(reply: &Value) -> String {
    assert_eq!(reply["type"], "result", "{reply}");
    reply["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

pub fn whoami() -> Value {
    json!({ "server": "demo", "action": "call_tool", "tool": "whoami" })
}
