//! Every transport of the configuration file runs: `stdio` groups (a child process speaking MCP
//! on stdin/stdout, tests/peers/mcp_stdio.mjs) and `sse` groups (MCP 2024-11-05 HTTP+SSE,
//! tests/peers/mcp_sse.mjs), through `mcp-oauth tools list/call --config --group` and through
//! `mcp-oauth serve` for two users (a stdio process and an SSE session of their own each); the
//! child is gone after the CLI, the session or the server stops; a missing command, an early
//! exit and an `auth_provider` on these groups are clear errors.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_oauth::mcp::{McpSession, McpTarget, StdioCommand};
use mcp_oauth::server::messages::{Action, ChatReply, ChatRequest};
use mcp_oauth::server::{MultiUserServer, ServerConfig};
use mcp_oauth::store::MemoryStore;
use multi::*;
use serde_json::{json, Value};

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.args(args).env_remove("MCP_OAUTH_CONFIG").env_remove("MCP_OAUTH_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `node tests/peers/mcp_stdio.mjs` as a stdio group's `server`, with `env` (YAML flow map
/// entries) and the peers directory as `cwd` (the script is named relative to it).
fn stdio_server(env: &str) -> String {
    let dir = common::peers_dir();
    format!(
        "{{transport: stdio, command: node, args: [mcp_stdio.mjs], cwd: '{}', env: {{{env}}}}}",
        dir.display()
    )
}

fn write_config(dir: &Path, groups: &[(&str, String)]) -> PathBuf {
    let mut yaml = String::from("function_groups:\n");
    for (name, server) in groups {
        yaml.push_str(&format!(
            "  {name}:\n    _type: per_user_mcp_client\n    server: {server}\n"
        ));
    }
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn text(out: &Output) -> (Option<i32>, String, String) {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), s(&out.stdout), s(&out.stderr))
}

/// Whether process `pid` exists and is not a zombie (Linux `/proc`).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // `pid (comm) S …`: the state follows the last `)`.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        }
    }
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    !alive(pid)
}

fn read_pid(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the stdio server wrote no pid file {}: {e}", path.display()));
    text.trim().parse().unwrap()
}

#[test]
fn a_stdio_group_lists_and_calls_tools_and_its_process_is_gone_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let server = stdio_server(&format!(
        "GREETING: hello from the config, MCP_STDIO_PID_FILE: '{}'",
        pid_file.display()
    ));
    let config = write_config(dir.path(), &[("local", server)]);
    let config = config.to_str().unwrap();
    let base = ["--config", config, "--group", "local"];

    let out = cli(&[&["tools", "list"][..], &base].concat(), &[]);
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for tool in ["echo", "calls", "pid", "env"] {
        assert!(stdout.lines().any(|l| l.starts_with(tool)), "{tool} missing: {stdout}");
    }
    // The server's stderr reaches ours, marked with the command.
    assert!(stderr.contains("[node] stdio peer: ready"), "{stderr}");
    let pid = read_pid(&pid_file);
    assert!(!alive(pid), "the stdio server {pid} outlived the CLI");

    let call = |tool: &str, args: Value, env: &[(&str, &str)]| {
        let args = args.to_string();
        let out =
            cli(&[&["tools", "call", "--name", tool, "--args", &args][..], &base].concat(), env);
        let (code, stdout, stderr) = text(&out);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        stdout.trim().to_owned()
    };
    assert_eq!(call("echo", json!({"text": "over stdio"}), &[]), "over stdio");
    assert_eq!(call("env", json!({"name": "GREETING"}), &[]), "hello from the config");
    // Only PATH, HOME and a few more are inherited: a secret of this process stays here.
    let secret = [("MCP_OAUTH_STORE_KEY", "not-for-tool-servers")];
    assert_eq!(call("env", json!({"name": "MCP_OAUTH_STORE_KEY"}), &secret), "(unset)");
    assert_ne!(call("env", json!({"name": "PATH"}), &[]), "(unset)");
    let pid = read_pid(&pid_file);
    assert!(!alive(pid), "the stdio server {pid} outlived the CLI");
}

#[test]
fn a_stdio_server_that_ignores_the_end_of_its_input_is_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let server = stdio_server(&format!(
        "MCP_STDIO_LINGER: '1', MCP_STDIO_PID_FILE: '{}'",
        pid_file.display()
    ));
    let config = write_config(dir.path(), &[("local", server)]);
    let started = Instant::now();
    let out =
        cli(&["tools", "list", "--config", config.to_str().unwrap(), "--group", "local"], &[]);
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // It did not exit when its stdin closed: SIGTERM after the grace period stopped it.
    assert!(started.elapsed() >= mcp_oauth::mcp::stdio::STOP_GRACE, "{:?}", started.elapsed());
    let pid = read_pid(&pid_file);
    assert!(!alive(pid), "the lingering stdio server {pid} outlived the CLI");
}

#[test]
fn a_missing_command_and_an_early_exit_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = "{transport: stdio, command: mcp-oauth-no-such-server-program}".to_owned();
    let early = stdio_server("MCP_STDIO_EXIT_EARLY: '3'");
    let config = write_config(dir.path(), &[("missing", missing), ("early", early)]);
    let config = config.to_str().unwrap();

    let out = cli(&["tools", "list", "--config", config, "--group", "missing"], &[]);
    let (code, _, stderr) = text(&out);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(
        stderr.contains("MCP server command `mcp-oauth-no-such-server-program`: cannot start it: no such program"),
        "{stderr}"
    );

    let out = cli(&["tools", "list", "--config", config, "--group", "early"], &[]);
    let (code, _, stderr) = text(&out);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stderr.contains("MCP server command `node`: the server exited"), "{stderr}");
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    assert!(stderr.contains("exiting early, as MCP_STDIO_EXIT_EARLY asks"), "{stderr}");
}

#[test]
fn an_sse_group_lists_and_calls_tools() {
    let peer = common::start("mcp_sse.mjs", &[]);
    let sse_url = peer.info["url"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let config =
        write_config(dir.path(), &[("legacy", format!("{{transport: sse, url: '{sse_url}'}}"))]);
    let base = ["--config", config.to_str().unwrap(), "--group", "legacy"];
    let out = cli(&[&["tools", "list"][..], &base].concat(), &[]);
    let (code, stdout, stderr) = text(&out);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("echo")), "{stdout}");
    let out = cli(
        &[&["tools", "call", "--name", "echo", "--args", r#"{"text":"over sse"}"#][..], &base]
            .concat(),
        &[],
    );
    let (code, stdout, stderr) = text(&out);
    assert_eq!((code, stdout.trim()), (Some(0), "over sse"), "{stderr}");

    // Not an SSE endpoint: the stream is refused with a message that says what to check.
    let bad = sse_url.replace("/sse", "/stats");
    let config =
        write_config(dir.path(), &[("legacy", format!("{{transport: sse, url: '{bad}'}}"))]);
    let out =
        cli(&["tools", "list", "--config", config.to_str().unwrap(), "--group", "legacy"], &[]);
    let (code, _, stderr) = text(&out);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stderr.contains(&bad), "{stderr}");
}

#[test]
fn authorization_on_stdio_and_sse_groups_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "authentication:\n  a:\n    _type: mcp_oauth2\n    server_url: https://mcp.example.com/mcp\n";
    for (server, message) in [
        (
            "{transport: sse, url: 'https://legacy.example.com/sse', auth_provider: a}",
            "function_groups.g.server.auth_provider: SSE does not support authentication",
        ),
        (
            "{transport: stdio, command: node, auth_provider: a}",
            "function_groups.g.server.auth_provider: a stdio server runs locally and takes no network authorization",
        ),
        (
            "{transport: sse, url: 'https://legacy.example.com/sse', command: node}",
            "function_groups.g.server.command: only for `transport: stdio`",
        ),
        (
            "{transport: stdio, command: node, url: 'https://x.example.com/'}",
            "function_groups.g.server.url: a stdio server has a command, not a url",
        ),
    ] {
        let path = dir.path().join("c.yaml");
        let yaml = format!("function_groups:\n  g:\n    _type: mcp_client\n    server: {server}\n{auth}");
        std::fs::write(&path, &yaml).unwrap();
        let out = cli(&["tools", "list", "--config", path.to_str().unwrap(), "--group", "g"], &[]);
        let (code, _, stderr) = text(&out);
        assert_eq!(code, Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(message), "{yaml}: {stderr}");
        let parsed = mcp_oauth::config::Config::parse(&yaml).unwrap_err();
        assert!(parsed.problem.code().starts_with("config_"), "{parsed}");
    }
    // --auth on a stdio group: refused before anything starts.
    let config = write_config(dir.path(), &[("local", stdio_server(""))]);
    let out = cli(
        &["tools", "list", "--auth", "--config", config.to_str().unwrap(), "--group", "local"],
        &[],
    );
    let (code, _, stderr) = text(&out);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("a stdio MCP server runs locally"), "{stderr}");
}

/// A server whose SSE stream names an endpoint on another origin: refused before any message
/// is sent there (the stream's origin is where this client's messages may go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_endpoint_on_another_origin_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    mcp_oauth::http::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sse", listener.local_addr().unwrap());
    let fake = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let body = "event: endpoint\ndata: http://attacker.example/messages?sessionId=1\n\n";
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";
        socket.write_all(format!("{head}{body}").as_bytes()).await.unwrap();
        // Keep the stream open until the client gives up.
        let _ = socket.read(&mut request).await;
    });
    let http = mcp_oauth::mcp::mcp_http_client().unwrap();
    let e = McpSession::connect_target(&McpTarget::Sse { url: url.clone() }, None, false, http)
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("points to another origin (http://attacker.example/messages"),
        "{message}"
    );
    assert!(message.contains(&url), "{message}");
    fake.abort();
}

/// `config schema server` documents exactly the keys a `server` accepts.
#[test]
fn the_server_schema_lists_every_key_the_loader_accepts() {
    let yaml = "function_groups:\n  g:\n    _type: mcp_client\n    server: {transport: stdio, command: x, bogus: 1}\n";
    let e = mcp_oauth::config::Config::parse(yaml).unwrap_err();
    let mcp_oauth::config::ConfigProblem::UnknownKey { allowed } = &e.problem else {
        panic!("{e}")
    };
    let mut accepted: Vec<&str> = allowed.split(", ").collect();
    let mut documented: Vec<&str> =
        mcp_oauth::config::SERVER_OPTIONS.iter().map(|o| o.name).collect();
    accepted.sort_unstable();
    documented.sort_unstable();
    assert_eq!(accepted, documented);
    let out = cli(&["config", "schema", "server"], &[]);
    let (code, stdout, _) = text(&out);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("streamable-http | sse | stdio") && stdout.contains("cwd"), "{stdout}");
}

fn stdio_target(env: &[(&str, &str)]) -> McpTarget {
    McpTarget::Stdio(StdioCommand {
        command: "node".into(),
        args: vec![common::peers_dir().join("mcp_stdio.mjs").display().to_string()],
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        cwd: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stops_its_stdio_server_when_closed_or_dropped() {
    mcp_oauth::http::install_crypto_provider();
    let http = mcp_oauth::mcp::mcp_http_client().unwrap();
    let session =
        McpSession::connect_target(&stdio_target(&[]), None, false, http.clone()).await.unwrap();
    let pid = session.process_id().unwrap();
    assert!(alive(pid));
    session.close().await;
    assert!(!alive(pid), "close() returns once the process is gone");

    // Dropped without close(): stopped in the background.
    let session = McpSession::connect_target(&stdio_target(&[]), None, false, http).await.unwrap();
    let pid = session.process_id().unwrap();
    drop(session);
    assert!(gone_within(pid, Duration::from_secs(5)), "a dropped session's process {pid} lives on");
}

fn chat(server: &str, tool: &str) -> ChatRequest {
    ChatRequest {
        id: None,
        server: server.into(),
        action: Action::CallTool { tool: tool.into(), arguments: None },
    }
}

async fn call_text(server: &MultiUserServer, user: &str, group: &str, tool: &str) -> String {
    match server.run(user, &chat(group, tool), |_| panic!("no consent for {group}")).await {
        ChatReply::Result { result, .. } => {
            result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
        }
        other => panic!("{user} {group} {tool}: {other:?}"),
    }
}

/// The multi-user server as a library: each user gets their own stdio process and SSE
/// session; idle eviction, the session cap and shutdown stop the processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_user_server_gives_each_user_their_own_stdio_process_and_sse_session() {
    mcp_oauth::http::install_crypto_provider();
    let peer = common::start("mcp_sse.mjs", &[]);
    let store = Arc::new(MemoryStore::new());
    let mut config = ServerConfig::new(store.clone(), store).unwrap();
    config.servers_without_auth = vec![
        ("local".into(), stdio_target(&[])),
        ("legacy".into(), McpTarget::Sse { url: peer.info["url"].as_str().unwrap().into() }),
    ];
    config.max_sessions = 4;
    let server = MultiUserServer::new(config, identity()).unwrap();

    for group in ["local", "legacy"] {
        assert_eq!(call_text(&server, "alice", group, "calls").await, "1");
        assert_eq!(call_text(&server, "alice", group, "calls").await, "2");
        // Bob's calls reach a process (a session) of his own, which saw none of Alice's.
        assert_eq!(call_text(&server, "bob", group, "calls").await, "1");
        assert_eq!(call_text(&server, "alice", group, "calls").await, "3");
    }
    let alice = call_text(&server, "alice", "local", "pid").await.parse::<u32>().unwrap();
    let bob = call_text(&server, "bob", "local", "pid").await.parse::<u32>().unwrap();
    assert_ne!(alice, bob);
    assert!(alive(alice) && alive(bob));
    let listed = server
        .run(
            "bob",
            &ChatRequest { id: None, server: "local".into(), action: Action::ListTools },
            |_| panic!("no consent"),
        )
        .await;
    assert!(
        matches!(&listed, ChatReply::Result { result, .. } if result["tools"].as_array().is_some_and(|t| t.len() == 4)),
        "{listed:?}"
    );

    // Idle: evicted, and the process stops.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(server.manager().evict_idle(Duration::from_millis(1)) >= 4);
    for pid in [alice, bob] {
        assert!(
            gone_within(pid, Duration::from_secs(6)),
            "evicted session's process {pid} lives on"
        );
    }
    // Past the cap of 4 sessions the least recently used go, with their processes.
    let mut pids = Vec::new();
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        pids.push(call_text(&server, user, "local", "pid").await.parse::<u32>().unwrap());
    }
    assert!(gone_within(pids[0], Duration::from_secs(6)), "u1's process lives on past the cap");
    assert!(pids[1..].iter().all(|p| alive(*p)));
    // Shutdown stops them all and waits.
    server.manager().stop_servers_without_auth().await;
    assert!(pids.iter().all(|p| !alive(*p)), "processes left after shutdown");
}

/// `mcp-oauth serve --config` with a stdio group and an sse group answers two users' tool
/// calls, each in their own process/session, and leaves no process behind on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_two_users_on_stdio_and_sse_groups_and_stops_the_processes() {
    mcp_oauth::http::install_crypto_provider();
    let peer = common::start("mcp_sse.mjs", &[]);
    let dir = tempfile::tempdir().unwrap();
    let sse_url = peer.info["url"].as_str().unwrap();
    let config = write_config(
        dir.path(),
        &[("local", stdio_server("")), ("legacy", format!("{{transport: sse, url: '{sse_url}'}}"))],
    );
    let port = free_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args(["serve", "--config", config.to_str().unwrap(), "--port", &port])
        .args(["--jwt-hs256-secret", std::str::from_utf8(JWT_SECRET).unwrap()])
        .args(["--jwt-issuer", JWT_ISSUER, "--jwt-audience", JWT_AUDIENCE])
        .env("MCP_OAUTH_SESSION_SECRET", "a-transports-test-session-secret-of-32-bytes")
        .env_remove("MCP_OAUTH_STORE_KEY")
        .env_remove("MCP_OAUTH_REDIRECT_URI")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("serve printed no JSON line ({e}): {line:?}"));
    let base = info["url"].as_str().unwrap().trim_end_matches('/').to_owned();

    let call = |user: &'static str, group: &'static str, tool: &'static str| {
        let base = base.clone();
        async move {
            let auth = Auth::Bearer(jwt(user, 600, JWT_SECRET));
            let body = json!({ "server": group, "action": "call_tool", "tool": tool });
            let (status, reply) = post_chat(&base, &auth, &body).await;
            assert_eq!(status, 200, "{user} {group} {tool}: {reply}");
            tool_text(&reply)
        }
    };
    for group in ["local", "legacy"] {
        assert_eq!(call("Alice", group, "calls").await, "1");
        assert_eq!(call("Alice", group, "calls").await, "2");
        assert_eq!(call("Bob", group, "calls").await, "1");
    }
    let alice: u32 = call("Alice", "local", "pid").await.parse().unwrap();
    let bob: u32 = call("Bob", "local", "pid").await.parse().unwrap();
    assert_ne!(alice, bob);

    common::stop(&mut child);
    assert!(child.try_wait().unwrap().is_some());
    for pid in [alice, bob] {
        assert!(!alive(pid), "serve stopped but its stdio server {pid} lives on");
    }
}
