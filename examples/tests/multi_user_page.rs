//! The example's page in a real browser: headless Chromium (driven over the DevTools protocol)
//! loads the page of the example server, logs in, sends `call whoami`; the page opens the
//! consent link (`/auth/start/{id}`, checked against the page's session cookie, which binds the
//! popup to the authorization) in a popup, the peer authorization server approves and sends the
//! popup to `/auth/redirect`, the popup closes itself, and the result arrives on the page's WebSocket.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_runs_the_popup_flow_in_chromium() {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    let mut node = Command::new("node");
    node.arg("start.mjs").current_dir(&peers_dir).env("PORT", "0").env("PEER_USER", "Alice");
    let (_peers, peers) = start(node);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
    server
        .args(["--mcp", &format!("demo={}", peers["mcp_url"].as_str().unwrap())])
        .args(["--redirect-uri", &format!("http://127.0.0.1:{port}/auth/redirect")])
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"]);
    let (_server, info) = start(server);
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

    // Loaded; log in (the page opens its WebSocket); send `call whoami`.
    for _ in 0..100 {
        if cdp
            .eval(
                &session,
                "document.readyState === 'complete' && !!document.getElementById('login')",
            )
            .await
            == true
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cdp.eval(&session, "document.getElementById('login').click(); true").await;
    for _ in 0..100 {
        if cdp.eval(&session, "!document.getElementById('send').disabled").await == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cdp.eval(&session, "document.getElementById('input').value = 'call whoami'; document.getElementById('send').click(); true")
        .await;
    let mut log = String::new();
    for _ in 0..200 {
        log = cdp
            .eval(&session, "document.getElementById('log').textContent")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if log.contains("\"text\": \"Alice\"") || log.contains("error") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(log.contains("needs your consent; opening the popup"), "{log}");
    assert!(log.contains("\"text\": \"Alice\""), "the result arrived after the popup: {log}");
    // The popup closed itself: no page but ours (and Chromium's first blank tab) is left.
    let targets = cdp.call(None, "Target.getTargets", json!({})).await;
    let others: Vec<&Value> = targets["targetInfos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["type"] == "page" && t["url"] != "about:blank" && t["url"] != page_url.as_str()
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
    drop(chromium);
    let _ = std::fs::remove_dir_all(&profile);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
