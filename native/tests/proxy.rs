//! `mcp-oauth proxy` against the peers: a real MCP client over stdio (this test, speaking
//! JSON-RPC lines to the child process), the streamable-HTTP MCP server and the OAuth
//! authorization server of tests/peers. The field reports of stdio bridges (issue 16)
//! reproduced: five instances started at once on a cold store, the instance that opened the
//! browser killed halfway through, and five instances refreshing expired tokens at once;
//! counted at the authorization server.
//!
//! The browser is scripted: `BROWSER` is a shell script that records each authorization URL
//! with the process id of the proxy that opened it (one line = one browser tab), and the test
//! completes each tab as a browser would (the authorization server's redirects, then the
//! callback request to the redirect URI, served by whichever instance listens).
#![cfg(unix)]
#![allow(clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{count, private_tempdir, Peers};
use serde_json::{json, Value};

/// One `mcp-oauth proxy` child process and its stdout, read line by line.
struct Proxy {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Messages received while waiting for something else.
    seen: Vec<Value>,
    /// Every line both ways, `->` host to proxy, `<-` proxy to host.
    transcript: Vec<String>,
    stderr: PathBuf,
}

impl Proxy {
    fn start(url: &str, store: &Path, work: &Path, name: &str, extra: &[&str]) -> Proxy {
        let stderr = work.join(format!("{name}.stderr"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
            .args(["proxy", "--url", url, "--store-dir"])
            .arg(store)
            .args(["--timeout", "60"])
            .args(extra)
            .env("BROWSER", format!("sh {}", work.join("browser.sh").display()))
            // For `--header 'X: ${PROXY_TEST_KEY}'`.
            .env("PROXY_TEST_KEY", "k-123")
            .env_remove("MCP_OAUTH_STORE_KEY")
            .env_remove("MCP_OAUTH_BROWSER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start mcp-oauth proxy");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Proxy { child, stdin, lines, seen: Vec::new(), transcript: Vec::new(), stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn send(&mut self, message: &Value) {
        let line = message.to_string();
        self.transcript.push(format!("-> {line}"));
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").and_then(|_| stdin.flush()).expect("write to the proxy");
    }

    /// The next message; every stdout line must be a JSON-RPC message.
    fn next(&mut self, deadline: Instant) -> Result<Value, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left).map_err(|e| format!("no message: {e}"))?;
        self.transcript.push(format!("<- {line}"));
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("stdout carried a line that is not JSON ({e}): {line}"))?;
        if v["jsonrpc"] != "2.0" {
            return Err(format!("stdout carried a message that is not JSON-RPC 2.0: {line}"));
        }
        Ok(v)
    }

    /// Sends a request and waits for its response, keeping what else arrives in `seen`
    /// (answering the server's `ping` requests as a host does).
    fn request(
        &mut self,
        id: u64,
        method: &str,
        params: Value,
        wait: Duration,
    ) -> Result<Value, String> {
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + wait;
        loop {
            let m = self.next(deadline).map_err(|e| format!("{method}: {e}"))?;
            if m.get("method").is_none() && m["id"] == json!(id) {
                return Ok(m);
            }
            if m["method"] == "ping" && m.get("id").is_some() {
                self.send(&json!({ "jsonrpc": "2.0", "id": m["id"], "result": {} }));
            }
            self.seen.push(m);
        }
    }

    /// initialize, then notifications/initialized.
    fn initialize(&mut self, wait: Duration) -> Result<Value, String> {
        self.initialize_as("2025-06-18", wait)
    }

    /// [`Proxy::initialize`] proposing `version`.
    fn initialize_as(&mut self, version: &str, wait: Duration) -> Result<Value, String> {
        let params = json!({
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "proxy-test-host", "version": "1.0.0" },
        });
        let answer = self.request(0, "initialize", params, wait)?;
        if answer.get("result").is_none() {
            return Err(format!("initialize failed: {answer}"));
        }
        self.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        Ok(answer)
    }

    /// tools/call of `whoami`: the subject the server saw.
    fn whoami(&mut self, id: u64, wait: Duration) -> Result<String, String> {
        let answer =
            self.request(id, "tools/call", json!({ "name": "whoami", "arguments": {} }), wait)?;
        answer
            .pointer("/result/content/0/text")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("whoami failed: {answer}"))
    }

    /// Closes stdin (the host is done) and waits for the process to end.
    fn close(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the proxy did not exit after stdin closed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        common::stop(&mut self.child);
    }
}

/// A scratch directory with the browser script, and the store directory.
struct Work {
    dir: tempfile::TempDir,
    store: tempfile::TempDir,
    redirect_uri: String,
}

impl Work {
    fn new() -> Work {
        let dir = private_tempdir();
        let tabs = dir.path().join("tabs");
        let script = format!("#!/bin/sh\necho \"$PPID $1\" >> '{}'\n", tabs.display());
        std::fs::write(dir.path().join("browser.sh"), script).expect("browser script");
        // A port for the redirect URI (the proxies bind it; only the flow's holder does).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        Work { dir, store: private_tempdir(), redirect_uri }
    }

    /// The tabs opened so far: (pid of the proxy that opened it, URL).
    fn tabs(&self) -> Vec<(u32, String)> {
        let text = std::fs::read_to_string(self.dir.path().join("tabs")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(pid, url)| (pid.parse().unwrap_or(0), url.to_owned()))
            .collect()
    }

    fn start(&self, url: &str, name: &str, extra: &[&str]) -> Proxy {
        let mut args = vec!["--redirect-uri", &self.redirect_uri];
        args.extend_from_slice(extra);
        Proxy::start(url, self.store.path(), self.dir.path(), name, &args)
    }
}

/// Completes a browser tab: the authorization server's redirects, then the callback request,
/// retried while nothing listens yet (an instance taking over the flow binds the port).
async fn complete_tab(url: &str, redirect_uri: &str) -> String {
    let callback = mcp_oauth::redirect::follow(url, redirect_uri, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("the authorization server's redirects: {e}"));
    mcp_oauth::http::install_crypto_provider();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.get(&callback).timeout(Duration::from_secs(30)).send().await {
            Ok(r) => return r.text().await.unwrap_or_default(),
            Err(e) if Instant::now() < deadline && e.is_connect() => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the callback request: {e}"),
        }
    }
}

/// Runs `f` on each proxy at once (threads), returning the proxies and their results.
async fn at_once<T: Send + 'static>(
    proxies: Vec<Proxy>,
    f: impl Fn(&mut Proxy) -> T + Send + Sync + Clone + 'static,
) -> Vec<(Proxy, T)> {
    let handles: Vec<_> = proxies
        .into_iter()
        .map(|mut p| {
            let f = f.clone();
            std::thread::spawn(move || {
                let r = f(&mut p);
                (p, r)
            })
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    })
    .await
    .expect("join")
}

fn token_grants(stats: &Value, grant: &str) -> u64 {
    count(stats, &format!("/token/{grant}"))
}

fn token_errors(stats: &Value) -> u64 {
    stats["token_errors"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// One row of the table in BENCHMARKS.md.
fn row(what: &str, tabs: usize, stats: &Value, working: usize, of: usize) -> String {
    format!(
        "| {what} | {tabs} | {} | {} | {} | {} | {} | {working} of {of} |",
        count(stats, "/authorization"),
        count(stats, "/register"),
        token_grants(stats, "authorization_code"),
        token_grants(stats, "refresh_token"),
        token_errors(stats),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_lists_calls_and_gets_progress_and_server_requests_through_the_proxy() {
    let peers = Peers::start_with(&[], &[("MCP_STATEFUL", "1".to_owned())]);
    let work = Work::new();
    let mut p =
        work.start(&peers.mcp_url, "one", &["--ignore-tool", "admin_*", "--browser", "follow"]);
    let wait = Duration::from_secs(60);

    let init = p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-oauth-test-peer", "{init}");

    let list = p.request(1, "tools/list", json!({}), wait).expect("tools/list");
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["add", "echo", "ping_client", "progress", "whoami"], "admin_op is hidden");

    let echo = p
        .request(
            2,
            "tools/call",
            json!({ "name": "echo", "arguments": { "text": "über 🦀" } }),
            wait,
        )
        .expect("echo");
    assert_eq!(echo["result"]["content"][0]["text"], "über 🦀", "{echo}");

    // Progress notifications travel on the call's response stream, before its answer.
    let params = json!({ "name": "progress", "arguments": { "steps": 3 }, "_meta": { "progressToken": "p-7" } });
    let done = p.request(3, "tools/call", params, wait).expect("progress");
    assert_eq!(done["result"]["content"][0]["text"], "done after 3 steps", "{done}");
    let progress: Vec<&Value> =
        p.seen.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 3, "{:?}", p.seen);
    assert!(progress.iter().all(|m| m["params"]["progressToken"] == "p-7"));
    assert_eq!(progress[2]["params"]["progress"], 3);

    // A server request in the middle of a call: the host answers it through the proxy.
    let pinged = p
        .request(4, "tools/call", json!({ "name": "ping_client", "arguments": {} }), wait)
        .expect("ping_client");
    assert_eq!(pinged["result"]["content"][0]["text"], "the client answered the ping", "{pinged}");
    assert!(p.seen.iter().any(|m| m["method"] == "ping"), "the server's ping reached the host");

    // A filtered tool is refused by the proxy, never reaching the server.
    let refused = p
        .request(5, "tools/call", json!({ "name": "admin_op", "arguments": {} }), wait)
        .expect("refusal");
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    // A server error passes through as the server worded it.
    let unknown =
        p.request(6, "tools/call", json!({ "name": "nope", "arguments": {} }), wait).expect("nope");
    assert!(unknown.get("error").is_some() || unknown["result"]["isError"] == true, "{unknown}");

    let mcp = peers.mcp_stats().await;
    assert_eq!(count(&mcp, "/tool_calls/admin_op"), 0);
    assert_eq!(count(&mcp, "/tool_calls/echo"), 1);
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/authorization"), 1, "{stats}");
    assert_eq!(count(&stats, "/register"), 1, "{stats}");

    let transcript = p.transcript.join("\n");
    let stderr = p.stderr();
    let status = p.close();
    assert!(status.success(), "exit {status:?}: {stderr}");
    println!("--- transcript (host <-> mcp-oauth proxy, stdio) ---\n{transcript}\n--- stderr ---\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_typescript_sdk_client_works_over_stdio_through_the_proxy() {
    // A host built the usual way: the SDK's Client and StdioClientTransport, running the proxy.
    let peers = Peers::start_with(&[], &[("MCP_STATEFUL", "1".to_owned())]);
    let work = Work::new();
    let bench = common::peers_dir().join("..").join("bench");
    assert!(
        bench.join("node_modules").is_dir(),
        "tests/bench/node_modules is missing: run `npm ci` in tests/bench (bash .ci/run does)"
    );
    let out = Command::new("node")
        .arg(bench.join("sdk-stdio-client.mjs"))
        .arg(env!("CARGO_BIN_EXE_mcp-oauth"))
        .arg(&peers.mcp_url)
        .args(["--browser", "follow", "--redirect-uri", &work.redirect_uri, "--store-dir"])
        .arg(work.store.path())
        .env_remove("MCP_OAUTH_STORE_KEY")
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(seen["server"], "mcp-oauth-test-peer", "{seen}");
    assert_eq!(
        seen["tools"],
        json!(["add", "admin_op", "echo", "ping_client", "progress", "whoami"])
    );
    assert_eq!(seen["echo"], "through the proxy");
    assert_eq!(seen["done"], "done after 2 steps");
    assert_eq!(seen["pinged"], "the client answered the ping");
    let transcript: Vec<&str> = seen["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Both progress notifications reached the SDK before the call's answer, in order. (The
    // SDK runs notification handlers in a later microtask but handles an answer at once, so a
    // notification read together with the answer can miss its callback: shared/protocol.js
    // `_onnotification`; the callback saw at least the first.)
    let at =
        |needle: &str| transcript.iter().position(|l| l.starts_with("<- ") && l.contains(needle));
    let (one, two) = (at(r#""progress":1,"#), at(r#""progress":2,"#));
    let answer = at("done after 2 steps");
    assert!(one.is_some() && one < two && two < answer, "{transcript:#?}");
    assert!(seen["progress"].as_array().is_some_and(|p| !p.is_empty()), "{seen}");
    assert_eq!(seen["progress"][0]["progress"], 1);
    println!(
        "--- MCP TypeScript SDK client <-> mcp-oauth proxy (stdio) ---\n{}",
        transcript.join("\n")
    );
    println!("--- stderr ---\n{stderr}");
    assert_eq!(count(&peers.as_stats().await, "/authorization"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_up_runs_through_the_shared_flow_with_the_challenged_scope() {
    let peers = Peers::start();
    let work = Work::new();
    let mut p = work.start(&peers.mcp_url, "step-up", &[]);
    let wait = Duration::from_secs(60);
    let tabs_file = work.dir.path().join("tabs");
    let redirect = work.redirect_uri.clone();
    // The user completes each tab, the first (login) and the second (the step-up).
    let browser = tokio::spawn(async move {
        let mut done = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut urls = Vec::new();
        while done < 2 && Instant::now() < deadline {
            let text = std::fs::read_to_string(&tabs_file).unwrap_or_default();
            let tabs: Vec<String> =
                text.lines().filter_map(|l| l.split_once(' ')).map(|(_, u)| u.to_owned()).collect();
            for tab in tabs.iter().skip(done) {
                complete_tab(tab, &redirect).await;
                urls.push(tab.clone());
                done += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        urls
    });
    p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    let admin = p
        .request(1, "tools/call", json!({ "name": "admin_op", "arguments": {} }), wait)
        .unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    assert_eq!(admin["result"]["content"][0]["text"], "admin operation done for alice", "{admin}");
    let urls = browser.await.expect("browser");
    assert_eq!(urls.len(), 2, "the login, then the step-up");
    // The second authorization asks for the scope of the server's insufficient_scope challenge.
    let scope = reqwest::Url::parse(&urls[1])
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "mcp:admin"), "{scope}");
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/register"), 1, "one registration for both: {stats}");
    assert_eq!(token_grants(&stats, "authorization_code"), 2, "{stats}");
    assert!(p.close().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_the_server_ended_is_replaced_without_the_host_noticing() {
    let peers = Peers::start_with(&[], &[("MCP_STATEFUL", "1".to_owned())]);
    let work = Work::new();
    let mut p = work.start(&peers.mcp_url, "session", &["--browser", "follow"]);
    let wait = Duration::from_secs(60);
    p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    let echo = |text: &str| json!({ "name": "echo", "arguments": { "text": text } });
    let first = p.request(1, "tools/call", echo("before"), wait).expect("echo");
    assert_eq!(first["result"]["content"][0]["text"], "before", "{first}");
    // The server restarts and forgets its sessions.
    let dropped =
        common::post_json(&peers.mcp_url.replace("/mcp", "/__sessions/drop"), json!({})).await;
    assert_eq!(dropped["dropped"], 1, "{dropped}");
    let after = p.request(2, "tools/call", echo("after"), wait).expect("echo");
    assert_eq!(after["result"]["content"][0]["text"], "after", "{after}: {}", p.stderr());
    assert!(p.seen.is_empty(), "the host saw nothing of the new session: {:?}", p.seen);
    let mcp = peers.mcp_stats().await;
    assert_eq!(count(&mcp, "/methods/initialize"), 2, "{mcp}");
    assert_eq!(count(&mcp, "/methods/notifications~1initialized"), 2, "{mcp}");
    assert_eq!(count(&mcp, "/tool_calls/echo"), 2, "{mcp}");
    assert!(p.stderr().contains("a new one started"));
    assert!(p.close().success());
}

/// Resumable streams (streamable HTTP, "Resumability and Redelivery"; SEP-1699, MCP 2025-11-25):
/// the server closes a call's response stream after one progress report and before its answer,
/// and closes the standing GET stream between two notifications. The proxy resumes both with
/// `Last-Event-ID`, so the host gets every message and the answer.
#[tokio::test(flavor = "multi_thread")]
async fn streams_the_server_closes_early_are_resumed_from_their_last_event_id() {
    let peers = Peers::start_with(
        &[],
        &[("MCP_STATEFUL", "1".to_owned()), ("MCP_RESUMABLE", "1".to_owned())],
    );
    let work = Work::new();
    let mut p = work.start(&peers.mcp_url, "resume", &["--browser", "follow"]);
    let wait = Duration::from_secs(60);
    // Priming events (an id before anything else) go to clients of 2025-11-25 or later.
    let init =
        p.initialize_as("2025-11-25", wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");

    let params = json!({ "name": "poll", "arguments": {}, "_meta": { "progressToken": "r-1" } });
    let done = p.request(1, "tools/call", params, wait).expect("poll");
    assert_eq!(
        done["result"]["content"][0]["text"],
        "answered after the stream was closed",
        "{done}\n{}",
        p.stderr()
    );
    let progress: Vec<&Value> = p
        .seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| &m["params"]["progress"])
        .collect();
    assert_eq!(progress, [&json!(1), &json!(2)], "both reports, in order: {:?}", p.seen);
    let mcp = peers.mcp_stats().await;
    let resumed = mcp["last_event_ids"].as_array().map_or(0, Vec::len);
    assert!(resumed >= 1, "the call's stream was resumed with Last-Event-ID: {mcp}");

    // The standing stream: once the proxy has opened it, the server sends a notification on it,
    // closes it, and sends another while it is closed.
    let opened_by = Instant::now() + Duration::from_secs(10);
    while count(&peers.mcp_stats().await, "/http/GET") == 0 {
        assert!(Instant::now() < opened_by, "the proxy opened no standing stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.seen.clear();
    let sent = p
        .request(2, "tools/call", json!({ "name": "notify_standing", "arguments": {} }), wait)
        .expect("notify_standing");
    assert!(sent.get("result").is_some(), "{sent}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let changed = |seen: &[Value]| {
        seen.iter().filter(|m| m["method"] == "notifications/tools/list_changed").count()
    };
    while changed(&p.seen) < 2 {
        match p.next(deadline) {
            Ok(m) => p.seen.push(m),
            Err(e) => panic!(
                "{e}: {} of 2 notifications reached the host: {:?}\n{}\nMCP server: {}",
                changed(&p.seen),
                p.seen,
                p.stderr(),
                peers.mcp_stats().await
            ),
        }
    }
    let mcp = peers.mcp_stats().await;
    let resumed_too = mcp["last_event_ids"].as_array().map_or(0, Vec::len);
    assert!(
        resumed_too > resumed,
        "the standing stream was reopened from its last event id: {mcp}"
    );
    assert!(p.close().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_sse_server_without_authorization_is_served_too() {
    let peer = common::start("mcp_sse.mjs", &[]);
    let sse_url = peer.info["url"].as_str().expect("url").to_owned();
    let work = Work::new();
    let mut p = work.start(&sse_url, "sse", &["--transport", "sse", "--ignore-tool", "add"]);
    let wait = Duration::from_secs(30);
    let init = p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-oauth-sse-peer", "{init}");
    let list = p.request(1, "tools/list", json!({}), wait).expect("tools/list");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["echo", "calls"], "{list}");
    let echo = p
        .request(2, "tools/call", json!({ "name": "echo", "arguments": { "text": "sse" } }), wait)
        .expect("echo");
    assert_eq!(echo["result"]["content"][0]["text"], "sse", "{echo}");
    // One stream, one session: the server counts this session's calls.
    let calls = p
        .request(3, "tools/call", json!({ "name": "calls", "arguments": {} }), wait)
        .expect("calls");
    assert_eq!(calls["result"]["content"][0]["text"], "2", "{calls}");
    assert!(p.close().success());
}

#[test]
fn an_sse_endpoint_on_another_origin_is_refused() {
    // A hostile server: its stream names an endpoint elsewhere, where the host's messages would
    // go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/sse", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut conn, &mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n\
                  event: endpoint\ndata: http://attacker.example/messages\n\n",
            );
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let work = Work::new();
    let p = work.start(&url, "hostile", &["--transport", "sse"]);
    let stderr_path = p.stderr.clone();
    let status = p.close();
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    assert_eq!(status.code(), Some(6), "a network error: {stderr}");
    assert!(stderr.contains("another origin (http://attacker.example/messages)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_headless_grant_and_extra_headers_through_the_proxy() {
    let client = json!([{
        "client_id": "svc-post", "client_secret": "post-secret",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
    }]);
    let peers = Peers::start_with(
        &[("PEER_CLIENTS", client.to_string())],
        &[("MCP_REQUIRED_HEADER", "X-Service-Key: k-123".to_owned())],
    );
    let work = Work::new();
    let args = [
        "--grant",
        "client-credentials",
        "--client-id",
        "svc-post",
        "--client-secret",
        "post-secret",
        "--header",
        "X-Service-Key: ${PROXY_TEST_KEY}",
    ];
    let mut p = work.start(&peers.mcp_url, "headless", &args);
    let wait = Duration::from_secs(30);
    p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    assert_eq!(p.whoami(1, wait).as_deref(), Ok("svc-post"), "{}", p.stderr());
    let (stats, mcp) = (peers.as_stats().await, peers.mcp_stats().await);
    assert_eq!(token_grants(&stats, "client_credentials"), 1, "{stats}");
    assert_eq!(count(&stats, "/authorization"), 0, "no browser: {stats}");
    assert_eq!(count(&mcp, "/missing_header"), 0, "{mcp}");
    assert!(p.close().success());

    // Without the variable the header names, the proxy refuses to start.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    let out = cmd
        .args(["proxy", "--url", &peers.mcp_url, "--header", "X-Service-Key: ${PROXY_TEST_UNSET}"])
        .env_remove("PROXY_TEST_UNSET")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROXY_TEST_UNSET is not set"));
    assert!(out.stdout.is_empty(), "nothing but MCP messages on stdout");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strict_2026_server_gets_the_protocol_version_on_every_request() {
    // MCP_STRICT_2026: every request without MCP-Protocol-Version, or an initialize whose header
    // differs from its params, is refused with HTTP 400.
    let peers = Peers::start_with(&[], &[("MCP_STRICT_2026", "1".to_owned())]);
    let work = Work::new();
    let mut p = work.start(&peers.mcp_url, "strict", &["--browser", "follow"]);
    let wait = Duration::from_secs(60);
    p.initialize(wait).unwrap_or_else(|e| panic!("{e}\n{}", p.stderr()));
    let list = p.request(1, "tools/list", json!({}), wait).expect("tools/list");
    assert!(list["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()), "{list}");
    let mcp = peers.mcp_stats().await;
    assert_eq!(count(&mcp, "/missing_protocol_version"), 0, "{mcp}");
    assert!(count(&mcp, "/methods/tools~1list") >= 1, "{mcp}");
    assert!(p.close().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn five_instances_at_once_share_one_authorization_then_one_refresh() {
    // Access tokens for 20 s: the client refreshes them halfway (core/src/flow/refresh.rs: the
    // 60 s margin, at most half the lifetime), after 10 s.
    let peers = Peers::start_with(&[("PEER_ACCESS_TTL", "20".to_owned())], &[]);
    let work = Work::new();
    let wait = Duration::from_secs(90);
    let proxies: Vec<Proxy> =
        (0..5).map(|i| work.start(&peers.mcp_url, &format!("p{i}"), &[])).collect();
    // The user completes whatever tab is shown, once.
    let (url, redirect) = (peers.mcp_url.clone(), work.redirect_uri.clone());
    let tabs_file = work.dir.path().join("tabs");
    let browser = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&tabs_file).unwrap_or_default();
            if let Some((_, tab)) = text.lines().next().and_then(|l| l.split_once(' ')) {
                return complete_tab(tab, &redirect).await;
            }
            assert!(Instant::now() < deadline, "no browser tab was opened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let _ = url;
    let results =
        at_once(proxies, move |p| p.initialize(wait).and_then(|_| p.whoami(1, wait))).await;
    let page = browser.await.expect("browser");
    assert!(page.to_lowercase().contains("authoriz"), "{page}");
    let mut proxies = Vec::new();
    for (p, r) in results {
        assert_eq!(r.as_deref(), Ok("alice"), "{}", p.stderr());
        proxies.push(p);
    }
    let cold = peers.as_stats().await;
    let tabs = work.tabs().len();
    let cold_row = row("5 instances at once, cold store", tabs, &cold, proxies.len(), 5);
    assert_eq!(tabs, 1, "one browser tab");
    assert_eq!(count(&cold, "/authorization"), 1, "{cold}");
    assert_eq!(count(&cold, "/register"), 1, "{cold}");
    assert_eq!(token_grants(&cold, "authorization_code"), 1, "{cold}");
    assert_eq!(token_errors(&cold), 0, "{cold}");

    // The storm: all five find the token due at the same moment.
    peers.reset_as_stats().await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let results = at_once(proxies, move |p| p.whoami(2, wait)).await;
    let working = results.iter().filter(|(_, r)| r.as_deref() == Ok("alice")).count();
    for (p, r) in &results {
        assert_eq!(r.as_deref(), Ok("alice"), "{}", p.stderr());
    }
    let storm = peers.as_stats().await;
    let storm_row =
        row("5 instances, refresh due, at once", work.tabs().len() - tabs, &storm, working, 5);
    println!("| phase | tabs | authorization requests | registrations | code grants | refresh grants | token errors | working |");
    println!("{cold_row}\n{storm_row}");
    assert_eq!(token_grants(&storm, "refresh_token"), 1, "one refresh for five: {storm}");
    assert_eq!(count(&storm, "/authorization"), 0, "{storm}");
    assert_eq!(token_errors(&storm), 0, "{storm}");
    for (p, _) in results {
        assert!(p.close().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instance_that_opened_the_browser_dies_and_another_finishes_the_flow() {
    let peers = Peers::start();
    let work = Work::new();
    let wait = Duration::from_secs(90);
    let proxies: Vec<Proxy> =
        (0..5).map(|i| work.start(&peers.mcp_url, &format!("k{i}"), &[])).collect();
    let pids: Vec<u32> = proxies.iter().map(Proxy::pid).collect();
    let redirect = work.redirect_uri.clone();
    let tabs_file = work.dir.path().join("tabs");
    // The user is in the browser when the host stops the instance that opened it; then the
    // user finishes.
    let browser = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (pid, tab) = loop {
            let text = std::fs::read_to_string(&tabs_file).unwrap_or_default();
            if let Some((pid, tab)) = text.lines().next().and_then(|l| l.split_once(' ')) {
                break (pid.parse::<u32>().expect("pid"), tab.to_owned());
            }
            assert!(Instant::now() < deadline, "no browser tab was opened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill {pid}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        (pid, complete_tab(&tab, &redirect).await)
    });
    let results =
        at_once(proxies, move |p| p.initialize(wait).and_then(|_| p.whoami(1, wait))).await;
    let (killed, page) = browser.await.expect("browser");
    assert!(pids.contains(&killed), "the tab was opened by one of the proxies");
    assert!(page.to_lowercase().contains("authoriz"), "{page}");
    let mut working = 0;
    for (p, r) in &results {
        if p.pid() == killed {
            assert!(r.is_err(), "the killed instance cannot answer");
            continue;
        }
        assert_eq!(r.as_deref(), Ok("alice"), "{}", p.stderr());
        working += 1;
    }
    let takeover = results.iter().any(|(p, _)| p.stderr().contains("continuing the authorization"));
    assert!(takeover, "an instance served the flow the killed one started");
    let stats = peers.as_stats().await;
    let tabs = work.tabs().len();
    println!("| phase | tabs | authorization requests | registrations | code grants | refresh grants | token errors | working |");
    println!("{}", row("opener killed halfway", tabs, &stats, working, 4));
    assert_eq!(working, 4);
    assert_eq!(tabs, 1, "no second tab");
    assert_eq!(count(&stats, "/authorization"), 1, "{stats}");
    assert_eq!(count(&stats, "/register"), 1, "{stats}");
    assert_eq!(token_grants(&stats, "authorization_code"), 1, "{stats}");
    assert_eq!(token_errors(&stats), 0, "{stats}");
}
