//! The example's page in a real browser: headless Chromium (driven over the DevTools protocol)
//! loads the page of the example server, logs in, sends `call whoami`; the page opens the
//! consent link (`/auth/start/{id}`, checked against the page's session cookie, which binds the
//! popup to the authorization) in a popup, the peer authorization server approves and sends the
//! popup to `/auth/redirect`, the popup closes itself, and the result arrives on the page's WebSocket,
//! shown as text. And a popup the user closes cancels the consent at once (`oauth_cancelled`).
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../../native/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        common::stop(&mut self.0);
    }
}

fn start(mut cmd: Command) -> (Proc, Value) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (Proc(child), info)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A minimal DevTools-protocol client: one command at a time, events skipped.
struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({ "id": self.next, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next()).await.unwrap();
            let Some(Ok(Message::Text(t))) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == self.next {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({ "expression": expr, "awaitPromise": true, "userGesture": true, "returnByValue": true }),
            )
            .await;
        r["result"]["value"].clone()
    }
}

/// The peers, the example server and Chromium, with the page loaded, logged in as Alice
/// (`peer_env`: the authorization server's settings); dropped in reverse order.
struct Browser {
    cdp: Cdp,
    session: String,
    page_url: String,
    _chromium: Proc,
    profile: PathBuf,
    _server: Proc,
    _peers: Proc,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn start(peer_env: &[(&str, &str)]) -> Browser {
        let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
        let mut node = Command::new("node");
        node.arg("start.mjs").current_dir(&peers_dir).env("PORT", "0").env("PEER_USER", "Alice");
        node.envs(peer_env.iter().copied());
        let (peers_proc, peers) = start(node);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
        server
            .args(["--mcp", &format!("demo={}", peers["mcp_url"].as_str().unwrap())])
            .args(["--redirect-uri", &format!("http://127.0.0.1:{port}/auth/redirect")])
            .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
            .args(["--egress-allow", "127.0.0.0/8"]);
        let (server_proc, info) = start(server);
        let page_url = format!("{}/", info["url"].as_str().unwrap());

        let profile = tempfile_dir();
        let mut chromium = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium must be installed (bash .ci/run installs it)");
        let stderr = chromium.stderr.take().unwrap();
        let ws_url = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.split_once("DevTools listening on ").map(|(_, u)| u.trim().to_owned()))
            .expect("chromium printed its DevTools URL");
        let chromium = Proc(chromium);
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
        let mut cdp = Cdp { ws, next: 0 };
        let target = cdp.call(None, "Target.createTarget", json!({ "url": page_url })).await;
        let attached = cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        let mut b = Browser {
            cdp,
            session,
            page_url,
            _chromium: chromium,
            profile,
            _server: server_proc,
            _peers: peers_proc,
        };
        // Loaded; log in (the page opens its WebSocket).
        b.until("document.readyState === 'complete' && !!document.getElementById('login')").await;
        b.eval("document.getElementById('login').click(); true").await;
        b.until("!document.getElementById('send').disabled").await;
        b
    }

    async fn eval(&mut self, expr: &str) -> Value {
        let session = self.session.clone();
        self.cdp.eval(&session, expr).await
    }

    /// Waits (up to 20 s) until `expr` is true.
    async fn until(&mut self, expr: &str) {
        for _ in 0..200 {
            if self.eval(expr).await == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not true after 20 s: {expr}");
    }

    async fn log(&mut self) -> String {
        self.eval("document.getElementById('log').textContent")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The pages open besides ours (and Chromium's first blank tab): the popups.
    async fn popups(&mut self) -> Vec<Value> {
        let targets = self.cdp.call(None, "Target.getTargets", json!({})).await;
        targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                t["type"] == "page"
                    && t["url"] != "about:blank"
                    && t["url"] != self.page_url.as_str()
            })
            .cloned()
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_runs_the_popup_flow_in_chromium() {
    let mut b = Browser::start(&[]).await;
    b.eval("document.getElementById('input').value = 'call whoami'; document.getElementById('send').click(); true")
        .await;
    b.until("/#1: (Alice|error)/.test(document.getElementById('log').textContent)").await;
    let log = b.log().await;
    assert!(log.contains("demo needs your consent as Alice; opening the popup"), "{log}");
    assert!(log.contains("\n#1: Alice\n"), "the result, as text, arrived after the popup: {log}");
    let consents = b.eval("document.getElementById('consents').textContent").await;
    assert!(consents.as_str().unwrap().contains("Consent for demo as Alice"), "{consents}");
    // The popup closed itself: no page but ours (and Chromium's first blank tab) is left.
    let others = b.popups().await;
    assert!(others.is_empty(), "{others:?}");
}

/// The user closes the popup without deciding (the authorization server waits on its consent
/// page): the page tells the server, and the request ends as `oauth_cancelled` at once, not
/// after the consent timeout (5 minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_popup_cancels_the_consent_at_once() {
    let mut b = Browser::start(&[("PEER_CONSENT", "hold")]).await;
    b.eval("document.getElementById('input').value = 'call whoami'; document.getElementById('send').click(); true")
        .await;
    let mut popup = None;
    for _ in 0..200 {
        popup = b
            .popups()
            .await
            .into_iter()
            .find(|t| t["url"].as_str().is_some_and(|u| u.contains("/interaction/")));
        if popup.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let popup = popup.expect("the popup reached the authorization server's consent page");
    let closed = std::time::Instant::now();
    b.cdp.call(None, "Target.closeTarget", json!({ "targetId": popup["targetId"] })).await;
    b.until("/#1: error/.test(document.getElementById('log').textContent)").await;
    let log = b.log().await;
    assert!(log.contains("#1: error oauth_cancelled"), "{log}");
    assert!(closed.elapsed() < Duration::from_secs(5), "{:?}", closed.elapsed());
    assert_eq!(log.matches("oauth_cancelled").count(), 1, "reported once: {log}");
    let status = b.eval("document.querySelector('.consent .status').textContent").await;
    assert_eq!(status, "cancelled");
}

fn tempfile_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mcp-oauth-chromium-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
