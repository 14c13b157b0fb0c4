//! End to end against the real peers (tests/peers): the `mcp-oauth` CLI and the library, with an
//! oidc-provider authorization server and an MCP SDK server started on free loopback ports.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::{count, Peers};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::{FileStore, KeySource, MemoryStore, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, Error, OAuthClient};

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.args(args).env_remove("MCP_OAUTH_STORE_KEY").env_remove("BROWSER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mcp-oauth")
}

/// `mcp-oauth <command…> --auth --browser follow --token-store memory --url <url>`.
fn cli_in_memory(command: &[&str], url: &str) -> Output {
    let mut args = command.to_vec();
    args.extend(["--auth", "--browser", "follow", "--token-store", "memory", "--url", url]);
    cli(&args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn client(peers: &Peers, store: Arc<dyn TokenStore>, user: &str) -> Arc<OAuthClient> {
    let mut o = ClientOptions::new(&peers.mcp_url, store).expect("options");
    o.browser = BrowserMode::Follow;
    o.user = user.to_owned();
    o.cache = Arc::new(MetadataCache::new());
    Arc::new(OAuthClient::new(o).expect("client"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_lists_tools_cold_then_warm_without_authorizing_again() {
    let peers = Peers::start();
    let dir = common::private_tempdir();
    let store = dir.path().to_str().expect("utf-8 path");
    let args = [
        "tools",
        "list",
        "--auth",
        "--browser",
        "follow",
        "--store-dir",
        store,
        "--url",
        &peers.mcp_url,
    ];
    let out = cli(&args, &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for tool in ["echo", "add", "whoami", "admin_op"] {
        assert!(stdout.contains(tool), "{stdout}");
    }
    let progress = text(&out.stderr);
    assert!(progress.contains("authorized"), "progress on stderr: {progress}");
    // The same progress lines as `login` (issue 13: this one was missing here).
    assert!(progress.contains("discovering the authorization server"), "{progress}");
    // The CLI introduces itself as mcp-oauth, not as the MCP library underneath.
    let info = peers.mcp_stats().await["client_info"].clone();
    let me = format!("mcp-oauth {}", env!("CARGO_PKG_VERSION"));
    assert!(info.get(&me).and_then(|v| v.as_u64()).is_some_and(|n| n >= 1), "{info}");
    assert_eq!(info.as_object().map(|o| o.len()), Some(1), "{info}");
    let first = peers.as_stats().await;
    assert_eq!(count(&first, "/register"), 1);
    assert_eq!(count(&first, "/token/authorization_code"), 1);
    // Warm: the stored token is used; no authorization, registration or token request.
    let out = cli(&args, &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let second = peers.as_stats().await;
    assert_eq!(count(&second, "/authorization"), count(&first, "/authorization"));
    assert_eq!(count(&second, "/register"), 1);
    assert_eq!(count(&second, "/token/authorization_code"), 1);
    assert_eq!(count(&second, "/token/refresh_token"), 0);
    // The store holds encrypted files only: no token in clear.
    for entry in std::fs::read_dir(dir.path()).expect("store dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(!text(&bytes).contains("access_token"));
    }
    // JSON output and tool calls.
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "whoami",
            "--auth",
            "--browser",
            "follow",
            "--store-dir",
            store,
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("alice"), "{}", text(&out.stdout));
    let out = cli(
        &[
            "--json",
            "tools",
            "call",
            "--args",
            r#"{"a":2,"b":3}"#,
            "--name",
            "add",
            "--auth",
            "--store-dir",
            store,
            "--browser",
            "follow",
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert!(v["content"][0]["text"].as_str().unwrap_or("").contains('5'), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tool_lists_the_available_ones() {
    let peers = Peers::start();
    let dir = common::private_tempdir();
    let store = dir.path().to_str().expect("utf-8 path");
    let out = cli(
        &[
            "tools",
            "call",
            "--name",
            "nope",
            "--auth",
            "--browser",
            "follow",
            "--store-dir",
            store,
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("no tool `nope`") && err.contains("whoami"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_is_refreshed_and_the_rotated_refresh_token_persisted() {
    // Tokens live 3 s: every later run finds the access token expired.
    let peers = Peers::start_with(&[("PEER_ACCESS_TTL", "3".into())], &[]);
    let dir = common::private_tempdir();
    let store = dir.path().to_str().expect("utf-8 path");
    let args = [
        "tools",
        "call",
        "--name",
        "whoami",
        "--auth",
        "--browser",
        "follow",
        "--store-dir",
        store,
        "--url",
        &peers.mcp_url,
    ];
    let out = cli(&args, &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    for round in 1..=2u64 {
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let out = cli(&args, &[]);
        assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        let stats = peers.as_stats().await;
        // Round 2 works only if round 1 stored the rotated refresh token.
        assert_eq!(count(&stats, "/token/refresh_token"), round, "{stats}");
        assert_eq!(count(&stats, "/token/authorization_code"), 1, "no new authorization");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_at_the_server() {
    let peers = Peers::start();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&peers, store.clone(), "alice");
    c.authorize().await.expect("authorize");
    let token = c.access_token().await.expect("token");
    assert!(peers.token_active(token.secret()).await);
    let report = c.logout().await.expect("logout");
    assert!(report.had_tokens && report.revoked, "{report:?}");
    assert!(!peers.token_active(token.secret()).await, "introspection shows the token inactive");
    assert!(store.list("alice").await.expect("list").is_empty(), "local state deleted");
    assert!(count(&peers.as_stats().await, "/revocation") >= 1);
    assert!(matches!(c.access_token().await, Err(Error::AuthorizationRequired { .. })));
}

/// RFC 7009 §2.2.1 against the real peer: oidc-provider does not revoke JWT access tokens and
/// answers `unsupported_token_type`. That is no failure: the refresh token is revoked, everything
/// is deleted locally, and the report (and the CLI) says the access token is not revocable there.
#[tokio::test(flavor = "multi_thread")]
async fn logout_with_jwt_access_tokens_says_they_are_not_revocable() {
    let peers = Peers::start_with(&[("PEER_TOKEN_FORMAT", "jwt".into())], &[]);
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let c = client(&peers, store.clone(), "alice");
    c.authorize().await.expect("authorize");
    let report = c.logout().await.expect("logout");
    assert!(report.had_tokens && report.revoked, "{report:?}");
    assert!(report.not_revocable, "{report:?}");
    assert_eq!(report.revocation_error, None, "not a failure: {report:?}");
    assert!(store.list("alice").await.expect("list").is_empty(), "local state deleted");
    // The CLI says so in words.
    let dir = common::private_tempdir();
    let s = dir.path().to_str().expect("utf-8 path");
    let login = ["login", "--browser", "follow", "--store-dir", s, "--url", &peers.mcp_url];
    assert!(cli(&login, &[]).status.success());
    let out = cli(&["logout", "--store-dir", s, "--url", &peers.mcp_url], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("not revocable by this server") && !said.contains("failed"), "{said}");
}

/// Registration interop (issue 13) against the real peer: an authorization server that answers
/// registration with 200 OK (RFC 7591 §3.2.1 says 201) and registers no public clients (its
/// `token_endpoint_auth_methods_supported` lists only secret methods). The client asks for
/// `client_secret_basic`, accepts the complete 200 answer with a note, and authorizes.
#[tokio::test(flavor = "multi_thread")]
async fn registration_answered_200_by_a_server_without_public_clients() {
    let peers = Peers::start_with(
        &[
            ("PEER_REGISTRATION_STATUS", "200".into()),
            ("PEER_AUTH_METHODS", "client_secret_basic,client_secret_post".into()),
        ],
        &[],
    );
    let args = [
        "tools",
        "list",
        "--auth",
        "--browser",
        "follow",
        "--token-store",
        "memory",
        "--url",
        &peers.mcp_url,
    ];
    let out = cli(&args, &[]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(text(&out.stdout).contains("whoami"), "tools listed");
    assert!(err.contains("note:") && err.contains("answered 200 OK"), "{err}");
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/register"), 1, "{stats}");
    assert_eq!(count(&stats, "/token/authorization_code"), 1, "{stats}");
    assert_eq!(count(&stats, "/token_errors/authorization_code"), 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_consent_is_a_clear_authorization_failure() {
    let peers = Peers::start_with(&[("PEER_CONSENT", "deny".into())], &[]);
    let out = cli_in_memory(&["tools", "list"], &peers.mcp_url);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("denied"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_for_the_wrong_audience_is_a_clear_error() {
    // Without `resource`, the authorization server issues a token for its default resource,
    // another audience, which the MCP server refuses.
    let peers =
        Peers::start_with(&[("PEER_DEFAULT_RESOURCE", "http://127.0.0.1:9/other-mcp".into())], &[]);
    let out = cli(
        &[
            "tools",
            "list",
            "--auth",
            "--browser",
            "follow",
            "--token-store",
            "memory",
            "--danger-omit-resource",
            &peers.issuer,
            "--url",
            &peers.mcp_url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(5), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("refused the access token") && err.contains("audience"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_server_down_is_a_clear_error_and_keeps_the_store() {
    // Short-lived tokens, yet long enough for the first use on a loaded machine.
    let peers = Peers::start_with(&[("PEER_ACCESS_TTL", "3".into())], &[]);
    let dir = common::private_tempdir();
    let store = dir.path().to_str().expect("utf-8 path");
    let args = [
        "tools",
        "list",
        "--auth",
        "--browser",
        "follow",
        "--store-dir",
        store,
        "--url",
        &peers.mcp_url,
    ];
    assert!(cli(&args, &[]).status.success());
    let files_before: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("e").path()).collect();
    let bytes_before: Vec<Vec<u8>> =
        files_before.iter().map(|p| std::fs::read(p).expect("read")).collect();
    let peers_mcp_url = peers.mcp_url.clone();
    let Peers { mcp, auth, .. } = peers;
    drop(auth);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let out = cli(&args, &[]);
    assert_eq!(out.status.code(), Some(6), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("127.0.0.1") && err.contains("check that the server is running"), "{err}");
    let bytes_after: Vec<Vec<u8>> =
        files_before.iter().map(|p| std::fs::read(p).expect("read")).collect();
    assert_eq!(bytes_before, bytes_after, "the store is untouched");
    // `status` reads the store: the expired token is said to be so, not "expires in -N s".
    let out = cli(&["status", "--store-dir", store, "--url", &peers_mcp_url], &[]);
    let status = text(&out.stdout);
    assert!(
        status.contains("access token expired ") && status.contains(" s ago (refreshable)"),
        "{status}"
    );
    assert!(!status.contains("expires in -"), "{status}");
    let fs =
        FileStore::open(dir.path(), KeySource::Default(dir.path().to_path_buf())).expect("open");
    let keys = fs.list("default").await.expect("list");
    let entry = fs.load(&keys[0]).await.expect("load").expect("entry");
    assert!(entry.tokens.and_then(|t| t.refresh_token).is_some(), "refresh token kept");
    drop(mcp);
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_concurrent_callers_with_an_expired_token_cause_one_refresh() {
    let peers = Peers::start_with(&[("PEER_ACCESS_TTL", "1".into())], &[]);
    let c = client(&peers, Arc::new(MemoryStore::new()), "alice");
    c.authorize().await.expect("authorize");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    peers.reset_as_stats().await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("join").expect("token").secret().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everyone got the same new token");
    assert_eq!(count(&peers.as_stats().await, "/token/refresh_token"), 1);
    // And the MCP server accepts it.
    let session =
        McpSession::connect(&peers.mcp_url, Some(c.clone()), false).await.expect("connect");
    let r = session.call_tool("whoami", None).await.expect("whoami");
    session.close().await;
    assert!(serde_json::to_string(&r).unwrap_or_default().contains("alice"));
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_listener_with_a_stand_in_browser() {
    let peers = Peers::start();
    let dir = common::private_tempdir();
    // The "browser": fetches the URL following redirects with a cookie jar, like a user who
    // approves, and ends at the loopback listener.
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncurl -s -L -c \"$0.jar\" -b \"$0.jar\" \"$1\" > \"$0.out\"\n",
    )
    .expect("script");
    std::process::Command::new("chmod").arg("+x").arg(&script).status().expect("chmod");
    let browser = script.to_str().expect("utf-8");
    let out = cli(
        &[
            "login",
            "--browser",
            "open",
            "--redirect-uri",
            "http://127.0.0.1:0/callback",
            "--token-store",
            "memory",
            "--url",
            &peers.mcp_url,
        ],
        &[("BROWSER", browser)],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let page =
        std::fs::read_to_string(dir.path().join("browser.sh.out")).expect("page the browser saw");
    assert!(page.contains("Authorized"), "{page}");
    assert!(text(&out.stderr).contains("waiting for the authorization"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("authorized"), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_against_an_unprotected_server_just_works() {
    let peers = Peers::start_with(&[], &[("MCP_NO_AUTH", "1".into())]);
    let out = cli_in_memory(&["tools", "list"], &peers.mcp_url);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("echo"));
    assert_eq!(count(&peers.as_stats().await, "/register"), 0, "no authorization needed");
}

#[tokio::test(flavor = "multi_thread")]
async fn step_up_for_a_tool_that_needs_more_scope() {
    let peers = Peers::start();
    let c = client(&peers, Arc::new(MemoryStore::new()), "alice");
    let session =
        McpSession::connect(&peers.mcp_url, Some(c.clone()), true).await.expect("connect");
    let r = session.call_tool("admin_op", None).await.expect("admin_op after step-up");
    session.close().await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let scope = c.status().await.expect("status").scope.unwrap_or_default();
    assert!(scope.contains("mcp:admin") && scope.contains("mcp:tools"), "{scope}");
    assert!(count(&peers.as_stats().await, "/token/authorization_code") >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn step_up_on_the_retry_that_follows_the_login() {
    // The metadata offers only mcp:admin and the 401 names no scope: the login's token lacks
    // mcp:tools, so the retry of `initialize` after the login gets 403 insufficient_scope.
    let peers = Peers::start_with(
        &[],
        &[("MCP_CHALLENGE_SCOPE", "0".into()), ("MCP_SCOPES_SUPPORTED", "mcp:admin".into())],
    );
    let c = client(&peers, Arc::new(MemoryStore::new()), "alice");
    let session =
        McpSession::connect(&peers.mcp_url, Some(c.clone()), true).await.expect("connect");
    let tools = session.list_tools().await.expect("tools after login and step-up");
    session.close().await;
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let scope = c.status().await.expect("status").scope.unwrap_or_default();
    assert!(scope.contains("mcp:tools") && scope.contains("mcp:admin"), "{scope}");
    assert_eq!(count(&peers.as_stats().await, "/token/authorization_code"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_auth_a_protected_server_says_to_pass_auth() {
    let peers = Peers::start();
    let out = cli(&["tools", "list", "--token-store", "memory", "--url", &peers.mcp_url], &[]);
    // The documented exit code for "not authorized yet", and a message without library type
    // names (issue 13: it was exit 5 with rmcp's internal error types).
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("--auth") && err.contains(&peers.mcp_url), "{err}");
    assert!(!err.contains("::") && !err.contains("AuthRequired"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_waiting_for_the_browser_cancels_cleanly() {
    use std::io::{BufRead, BufReader};
    let peers = Peers::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let redirect = format!("http://127.0.0.1:{port}/cb");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args([
            "login",
            "--browser",
            "print",
            "--token-store",
            "memory",
            "--redirect-uri",
            &redirect,
            "--url",
            &peers.mcp_url,
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    // Wait until it listens and waits for the browser.
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("waiting for the authorization") {
            break;
        }
    }
    assert!(seen.contains("open this URL to authorize"), "{seen}");
    let status =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let code = child.wait().expect("wait").code();
    assert_eq!(code, Some(130), "{seen}");
    // The listener's port is free again.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

/// Issue 13: no error path shows library type names (`::`, rmcp's variant names) to the user.
/// Each failure below ends with one `mcp-oauth: error:` line (plus, at most, a hint line).
#[tokio::test(flavor = "multi_thread")]
async fn error_messages_name_no_library_types() {
    let peers = Peers::start_with(&[("PEER_CONSENT", "deny".into())], &[]);
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let nowhere = format!("http://127.0.0.1:{free_port}/mcp");
    let mem = ["--token-store", "memory"];
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["tools", "list", "--url", &peers.mcp_url], 4),
        (vec!["tools", "list", "--auth", "--browser", "follow", "--url", &peers.mcp_url], 3),
        (vec!["tools", "list", "--url", &nowhere], 6),
        (vec!["login", "--scope", "a\"b", "--url", &peers.mcp_url], 2),
        (vec!["tools", "call", "--name", "nope", "--url", &peers.mcp_url], 4),
    ];
    for (args, code) in cases {
        let mut all = args.clone();
        all.extend(mem);
        let out = cli(&all, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        let errors: Vec<&str> =
            err.lines().filter(|l| l.starts_with("mcp-oauth: error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        for bad in ["::", "AuthRequired", "StreamableHttpError", "Transport(", "Client("] {
            assert!(!err.contains(bad), "{args:?} shows `{bad}`: {err}");
        }
    }
}

/// A server of MCP 2025-11-25 closes a call's response stream after one progress report and
/// before its answer (SEP-1699; the peer's `poll` tool with `MCP_RESUMABLE=1`): the library's
/// session resumes the stream with `Last-Event-ID` and the CLI prints the answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_stream_the_server_closes_early_is_resumed() {
    let peers =
        Peers::start_with(&[], &[("MCP_STATEFUL", "1".into()), ("MCP_RESUMABLE", "1".into())]);
    let out = cli_in_memory(&["tools", "call", "--name", "poll"], &peers.mcp_url);
    let mcp = peers.mcp_stats().await;
    assert!(out.status.success(), "stderr: {}\nMCP server: {mcp}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("answered after the stream was closed"),
        "{}",
        text(&out.stdout)
    );
    let resumed = mcp["last_event_ids"].as_array().map_or(0, Vec::len);
    assert_eq!(resumed, 1, "one GET with Last-Event-ID: {mcp}");
    assert_eq!(count(&mcp, "/tool_calls/poll"), 1, "the call was not sent again: {mcp}");
}
