//! The multi-user example end to end: the real peers (`tests/peers/start.mjs`), the example
//! server binary on a free port, and the checker binary over WebSocket (session cookie) and HTTP
//! (bearer JWT), playing the users' browsers with `--follow`.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../../native/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        common::stop(&mut self.0);
    }
}

fn start(mut cmd: Command) -> (Proc, serde_json::Value) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (Proc(child), info)
}

fn check(url: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_multi-user-check"))
        .args(["--url", url, "--follow"])
        .args(args)
        .env_remove("MCP_OAUTH_JWT_SECRET")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let reply =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} / {stderr}"));
    (out.status.code().unwrap_or(-1), reply, stderr)
}

#[test]
fn checker_talks_to_the_example_server_over_ws_and_http() {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    assert!(peers_dir.join("node_modules").is_dir(), "run `npm ci` in tests/peers");
    let mut node = Command::new("node");
    node.arg("start.mjs").current_dir(&peers_dir).env("PORT", "0");
    let (_peers, peers) = start(node);
    let mcp_url = peers["mcp_url"].as_str().unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
    server
        .args(["--mcp", &format!("demo={mcp_url}")])
        .args(["--redirect-uri", &format!("http://127.0.0.1:{port}/auth/redirect")])
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"])
        .args(["--jwt-hs256-secret", "an-example-jwt-secret-of-32-bytes-or-more"])
        .env_remove("MCP_OAUTH_STORE_KEY");
    let (_server, info) = start(server);
    let url = info["url"].as_str().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));

    // Alice over WebSocket with a session cookie: consent, then the tool list.
    let (code, reply, stderr) =
        check(url, &["--protocol", "ws", "--user-id", "Alice", "--input", "tools"]);
    assert_eq!(code, 0, "{reply} {stderr}");
    assert!(stderr.contains("consent needed: open http://127.0.0.1:"), "{stderr}");
    let tools: Vec<&str> = reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"whoami") && tools.contains(&"echo"), "{tools:?}");
    // Again: no consent; whoami is Alice.
    let (code, reply, stderr) =
        check(url, &["--protocol", "ws", "--user-id", "Alice", "--input", "call whoami"]);
    assert_eq!(code, 0, "{reply}");
    assert!(!stderr.contains("consent needed"), "{stderr}");
    assert_eq!(reply["result"]["content"][0]["text"], "Alice");
    // Hatter over HTTP with a bearer JWT: own consent, own subject, echo with arguments.
    let jwt = ["--jwt-hs256-secret", "an-example-jwt-secret-of-32-bytes-or-more"];
    let (code, reply, stderr) = check(
        url,
        &[&["--protocol", "http", "--user-id", "Hatter", "--input", "call whoami"][..], &jwt]
            .concat(),
    );
    assert_eq!(code, 0, "{reply}");
    assert!(stderr.contains("consent needed"), "{stderr}");
    assert_eq!(reply["result"]["content"][0]["text"], "Hatter");
    let (code, reply, _) = check(
        url,
        &[
            &["--protocol", "http", "--user-id", "Hatter", "--input", r#"call echo {"text":"hi"}"#]
                [..],
            &jwt,
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{reply}");
    assert!(reply["result"]["content"][0]["text"].as_str().unwrap().contains("hi"), "{reply}");
    // A JWT with the wrong secret: 401, exit status 1.
    let (code, reply, _) = check(
        url,
        &[
            "--protocol",
            "http",
            "--user-id",
            "Rabbit",
            "--jwt-hs256-secret",
            "wrong",
            "--input",
            "tools",
        ],
    );
    assert_eq!(code, 1, "{reply}");
    assert_eq!(reply["code"], "unauthenticated");
}

/// Two server processes share a redis-server; the redirect URI leads to the second. The checker
/// starts the consent on the first over HTTP; the browser's callback lands on the second; the
/// first answers the poll with the result. Then the second serves the user without consent.
#[test]
fn two_server_processes_share_redis() {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    let mut node = Command::new("node");
    node.arg("start.mjs").current_dir(&peers_dir).env("PORT", "0");
    let (_peers, peers) = start(node);
    let mcp_url = peers["mcp_url"].as_str().unwrap();

    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis_port = free();
    let redis = Command::new("redis-server")
        .args([
            "--port",
            &redis_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (bash .ci/run installs it)");
    let _redis = Proc(redis);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let (port_a, port_b) = (free(), free());
    let redirect = format!("http://127.0.0.1:{port_b}/auth/redirect");
    let replica = |port: u16| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
        cmd.args(["--mcp", &format!("demo={mcp_url}")])
            .args(["--redirect-uri", &redirect])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
            .args(["--egress-allow", "127.0.0.0/8"])
            .args(["--jwt-hs256-secret", "an-example-jwt-secret-of-32-bytes-or-more"])
            .args(["--redis", &format!("redis://127.0.0.1:{redis_port}/")])
            .args(["--store-key", &"ab".repeat(32)]);
        start(cmd)
    };
    let (_a, a) = replica(port_a);
    let (_b, b) = replica(port_b);
    let (url_a, url_b) = (a["url"].as_str().unwrap(), b["url"].as_str().unwrap());

    let jwt = ["--jwt-hs256-secret", "an-example-jwt-secret-of-32-bytes-or-more"];
    let args = [&["--protocol", "http", "--user-id", "Alice", "--input", "call whoami"][..], &jwt]
        .concat();
    let (code, reply, stderr) = check(url_a, &args);
    assert_eq!(code, 0, "{reply} {stderr}");
    assert!(
        stderr.contains(&format!("open http://127.0.0.1:{port_b}/auth/start/")),
        "the consent link is on replica B (the redirect URI's origin): {stderr}"
    );
    assert_eq!(reply["result"]["content"][0]["text"], "Alice");
    // Replica B (WebSocket, session cookie from B's demo login) serves Alice from Redis.
    let (code, reply, stderr) =
        check(url_b, &["--protocol", "ws", "--user-id", "Alice", "--input", "call whoami"]);
    assert_eq!(code, 0, "{reply}");
    assert!(!stderr.contains("consent needed"), "B uses the tokens A's consent stored: {stderr}");
    assert_eq!(reply["result"]["content"][0]["text"], "Alice");
}

#[test]
fn the_server_loads_the_yaml_configuration_file() {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    let mut node = Command::new("node");
    node.arg("start.mjs").current_dir(&peers_dir).env("PORT", "0");
    let (_peers, peers) = start(node);
    let mcp_url = peers["mcp_url"].as_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mcp.yaml");
    // The issue's shape, with ${VAR} and ${VAR:-default} interpolation.
    std::fs::write(
        &file,
        r#"
function_groups:
  mcp_demo:
    _type: per_user_mcp_client
    server:
      transport: streamable-http
      url: ${DEMO_MCP_URL}
      auth_provider: mcp_oauth2_demo
authentication:
  mcp_oauth2_demo:
    _type: mcp_oauth2
    server_url: ${DEMO_MCP_URL}
    redirect_uri: ${DEMO_REDIRECT_URI:-http://localhost:8000/auth/redirect}
    client_name: multi-user example from YAML
    token_storage: memory
"#,
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
    server
        .arg("--config")
        .arg(&file)
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"])
        .env("DEMO_MCP_URL", mcp_url)
        .env("DEMO_REDIRECT_URI", format!("http://127.0.0.1:{port}/auth/redirect"))
        .env_remove("MCP_OAUTH_STORE_KEY");
    let (_server, info) = start(server);
    let url = info["url"].as_str().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));
    let (code, reply, stderr) = check(
        url,
        &[
            "--protocol",
            "ws",
            "--user-id",
            "Alice",
            "--mcp-server",
            "mcp_demo",
            "--input",
            "call whoami",
        ],
    );
    assert_eq!(code, 0, "{reply} {stderr}");
    assert_eq!(reply["result"]["content"][0]["text"], "Alice");

    // A configuration error names the YAML path and stops the server.
    std::fs::write(
        &file,
        "function_groups:\n  g:\n    _type: per_user_mcp_client\n    server:\n      transport: sse\n      url: http://127.0.0.1:1/sse\n      auth_provider: a\nauthentication:\n  a:\n    _type: mcp_oauth2\n    server_url: http://127.0.0.1:1/sse\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_multi-user-server"))
        .arg("--config")
        .arg(&file)
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("function_groups.g.server") && stderr.contains("streamable-http"),
        "{stderr}"
    );
}

/// A configuration with `server_policies` and a `private_key_file` (a pre-registered
/// `private_key_jwt` client that has no secret): the server loads it through the library's
/// mapping, and a user's authorization succeeds only because the token request is signed.
#[test]
fn the_server_takes_server_policies_and_a_private_key_file_from_the_yaml() {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    let keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../native/tests/fixtures/keys");
    let jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("es256.pub.jwk.json")).unwrap())
            .unwrap();
    let clients = serde_json::json!([{
        "client_id": "server-es256", "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/auth/redirect"], "response_types": ["code"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {"keys": [jwk]}
    }]);
    let mut node = Command::new("node");
    node.arg("start.mjs")
        .current_dir(&peers_dir)
        .env("PORT", "0")
        .env("PEER_CLIENTS", clients.to_string());
    let (_peers, peers) = start(node);
    let mcp_url = peers["mcp_url"].as_str().unwrap();
    let issuer = peers["issuer"].as_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mcp.yaml");
    let yaml = |key_file: &str| {
        format!(
            "function_groups:\n  mcp_demo:\n    _type: per_user_mcp_client\n    server:\n      transport: streamable-http\n      url: {mcp_url}\n      auth_provider: p\n\
             authentication:\n  p:\n    _type: mcp_oauth2\n    server_url: {mcp_url}\n    redirect_uri: http://127.0.0.1:{port}/auth/redirect\n\
             \x20   client_id: server-es256\n    client_issuer: {issuer}\n    enable_dynamic_registration: false\n\
             \x20   private_key_file: {key_file}\n    signing_alg: ES256\n    token_storage: memory\n\
             \x20   server_policies:\n      {issuer}:\n        danger_assume_pkce_s256: true\n        authorization_params: {{ui_locales: de}}\n"
        )
    };
    std::fs::write(&file, yaml(keys.join("es256.pem").to_str().unwrap())).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_multi-user-server"));
    server
        .arg("--config")
        .arg(&file)
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"])
        .env_remove("MCP_OAUTH_STORE_KEY");
    let (_server, info) = start(server);
    let url = info["url"].as_str().unwrap();
    let (code, reply, stderr) = check(
        url,
        &[
            "--protocol",
            "ws",
            "--user-id",
            "Alice",
            "--mcp-server",
            "mcp_demo",
            "--input",
            "call whoami",
        ],
    );
    assert_eq!(code, 0, "{reply} {stderr}");
    assert_eq!(reply["result"]["content"][0]["text"], "Alice");

    // A key file that cannot be read stops the server with the YAML path.
    std::fs::write(&file, yaml(dir.path().join("absent.pem").to_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_multi-user-server"))
        .arg("--config")
        .arg(&file)
        .args(["--session-secret", "an-example-session-secret-of-32-bytes-or-more"])
        .args(["--egress-allow", "127.0.0.0/8"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authentication.p.private_key_file"), "{stderr}");
}
