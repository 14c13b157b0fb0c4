//! `mcp-oauth serve` as an operator runs it: the CLI binary on a free loopback port, health and
//! readiness, a graceful stop on SIGTERM with a consent pending in Redis that the restarted
//! server completes, the listen-address warning, and usage errors. Real peers, real
//! `redis-server`.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "support/multi.rs"]
mod multi;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Peers;
use multi::*;
use serde_json::{json, Value};

const SECRET: &str = "a-serve-test-session-secret-of-32-bytes-or-more";
const JWT: &str = "the-shared-hs256-secret-of-the-app-0123";

/// A running `mcp-oauth serve`; SIGTERM when dropped.
struct Serve {
    child: Option<Child>,
    url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut cmd = serve_cmd(args, env);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let info: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("serve printed no JSON line ({e}): {line:?}")
        });
        Serve {
            child: Some(child),
            url: info["url"].as_str().unwrap().to_owned(),
            stderr: Some(stderr),
        }
    }

    /// SIGTERM; the exit status and everything written to stderr.
    fn terminate(mut self) -> (Option<i32>, Duration, String) {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = started.elapsed();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status.code(), took, stderr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            common::stop(child);
        }
    }
}

fn serve_cmd(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.arg("serve").args(args);
    // Nothing from the developer's environment.
    for var in [
        "MCP_OAUTH_STORE_KEY",
        "MCP_OAUTH_CONFIG",
        "MCP_OAUTH_REDIRECT_URI",
        "MCP_OAUTH_PORT",
        "MCP_OAUTH_PUBLIC_URL",
        "MCP_OAUTH_LOG_FORMAT",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn get(url: &str) -> (u16, Value) {
    mcp_oauth::http::install_crypto_provider();
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_healthy_and_ready_and_stops_on_sigterm() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
    // The port comes from the redirect URI; the session secret from the environment.
    let serve = Serve::start(
        &["--mcp", "demo=http://127.0.0.1:9/mcp", "--redirect-uri", &redirect],
        &[("MCP_OAUTH_SESSION_SECRET", SECRET)],
    );
    assert_eq!(serve.url, format!("http://127.0.0.1:{port}"));
    assert_eq!(get(&format!("{}/healthz", serve.url)).await, (200, json!({"status": "ok"})));
    assert_eq!(get(&format!("{}/readyz", serve.url)).await, (200, json!({"status": "ready"})));
    // No demo page unless asked for.
    assert_eq!(get(&format!("{}/", serve.url)).await.0, 404);
    let (code, took, stderr) = serve.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    assert!(stderr.contains(&format!("listening on http://127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping") && stderr.contains("stopped"), "{stderr}");
    assert!(stderr.contains("pending consents end with this process (memory store)"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_store_and_recovers_without_restart() {
    let mut redis = Redis::start();
    let redis_port = redis.port;
    let key = "cd".repeat(32);
    let serve = Serve::start(
        &[
            "--mcp",
            "demo=http://127.0.0.1:9/mcp",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--redis",
            &redis.url(),
        ],
        &[("MCP_OAUTH_SESSION_SECRET", SECRET), ("MCP_OAUTH_STORE_KEY", &key)],
    );
    let ready = format!("{}/readyz", serve.url);
    assert_eq!(get(&ready).await.0, 200);
    redis.stop();
    let (status, body) = get(&ready).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["code"], "store_unavailable");
    assert!(body["message"].as_str().unwrap().contains("redis://127.0.0.1"), "{body}");
    // Still alive while the store is down.
    assert_eq!(get(&format!("{}/healthz", serve.url)).await.0, 200);
    let _redis = Redis::start_on(redis_port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get(&ready).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again after Redis returned: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Hatter asks for `whoami` over HTTP: the consent link is issued, then the server gets SIGTERM
/// before Hatter opens it. The pending authorization is in Redis: a new `serve` on the same
/// address takes the link and the callback, and then answers Hatter without a new consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_pending_at_sigterm_is_completed_by_the_restarted_server() {
    let peers = Peers::start();
    let redis = Redis::start();
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
    let key = "ef".repeat(32);
    let demo = format!("demo={}", peers.mcp_url);
    let redis_url = redis.url();
    let args = [&jwt_server(&demo, &redirect)[..], &["--redis", &redis_url]].concat();
    let env = [("MCP_OAUTH_SESSION_SECRET", SECRET), ("MCP_OAUTH_STORE_KEY", key.as_str())];
    let first = Serve::start(&args, &env);
    mcp_oauth::http::install_crypto_provider();
    let hatter = Auth::Bearer(jwt("Hatter", 600, JWT.as_bytes()));
    let (status, reply) = post_chat(&first.url, &hatter, &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["type"], "oauth_required", "{reply}");
    let link = reply["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("http://127.0.0.1:{port}/auth/start/")), "{link}");

    let (code, _, stderr) = first.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("pending consents stay in the store for any replica"), "{stderr}");

    let second = Serve::start(&args, &env);
    let (status, page) = consent(&link, "Hatter", &redirect).await;
    assert_eq!(status, 200, "{page}");
    let (status, reply) = post_chat(&second.url, &hatter, &whoami()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(tool_text(&reply), "Hatter");
}

#[test]
fn a_public_redirect_uri_on_loopback_is_a_startup_warning_unless_behind_a_proxy() {
    let redirect = "https://mcp.example.com/auth/redirect";
    let base = ["--mcp", "demo=https://mcp.example.com/mcp", "--redirect-uri", redirect];
    let env = [("MCP_OAUTH_SESSION_SECRET", SECRET), ("MCP_OAUTH_PORT", "0")];
    let serve = Serve::start(&base, &env);
    assert!(serve.url.starts_with("http://127.0.0.1:"), "{}", serve.url);
    let (code, _, stderr) = serve.terminate();
    assert_eq!(code, Some(0));
    assert!(
        stderr
            .contains("warning: the redirect URI https://mcp.example.com/auth/redirect is not on")
            && stderr.contains("--behind-proxy")
            && stderr.contains("--host"),
        "{stderr}"
    );
    let serve = Serve::start(&[&base[..], &["--behind-proxy"]].concat(), &env);
    let (code, _, stderr) = serve.terminate();
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn usage_errors_name_what_is_wrong_and_exit_2() {
    let run = |args: &[&str]| {
        let out = serve_cmd(args, &[("MCP_OAUTH_SESSION_SECRET", SECRET)]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("pass --mcp NAME=URL"), "{stderr}");
    let (code, stderr) = run(&["--mcp", "demo=http://127.0.0.1:9/mcp", "--client-id", "x"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("serve does not use --client-id"), "{stderr}");
    let (code, stderr) =
        run(&["--mcp", "demo=http://127.0.0.1:9/mcp", "--redis", "redis://127.0.0.1:9/"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("needs --store-key"), "{stderr}");
    let (code, stderr) = run(&["--mcp", "demo"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("expected NAME=URL"), "{stderr}");
}

/// Users of one application share one dynamic registration per authorization server: eight
/// users consenting at once on a cold store register once, and their tokens stay apart; with
/// `--registration-per-user`, each registers their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_share_one_registration_unless_configured_per_user() {
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    // The MCP peer fetches the AS metadata once, on its first token check (tests/peers/mcp.mjs):
    // a bogus token makes it do that now, so that the counts below are this server's alone.
    let warm = reqwest::Client::new().post(&peers.mcp_url).bearer_auth("warm-up").send().await;
    assert_eq!(warm.unwrap().status(), 401);
    for (per_user, users, expected) in [(false, 8, 1), (true, 3, 3)] {
        peers.reset_as_stats().await;
        let port = free_port();
        let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
        let demo = format!("demo={}", peers.mcp_url);
        let mut args = jwt_server(&demo, &redirect);
        if per_user {
            args.push("--registration-per-user");
        }
        let serve = Serve::start(&args, &[("MCP_OAUTH_SESSION_SECRET", SECRET)]);
        mcp_oauth::http::install_crypto_provider();
        let mut tasks = Vec::new();
        for i in 0..users {
            let (base, redirect) = (serve.url.clone(), redirect.clone());
            tasks.push(tokio::spawn(async move {
                let name = format!("user{i}");
                let auth = Auth::Bearer(jwt(&name, 600, JWT.as_bytes()));
                let (status, reply) = post_chat(&base, &auth, &whoami()).await;
                assert_eq!(status, 202, "{reply}");
                let (status, page) =
                    consent(reply["url"].as_str().unwrap(), &name, &redirect).await;
                assert_eq!(status, 200, "per_user={per_user}: {page}");
                let id = reply["request_id"].as_str().unwrap();
                let (status, reply) = poll_chat(&base, &auth, id, 30).await;
                assert_eq!((status, tool_text(&reply)), (200, name), "{reply}");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = peers.as_stats().await;
        assert_eq!(common::count(&stats, "/register"), expected, "per_user={per_user}: {stats}");
        // Users arriving together on a cold cache: with the shared registration, which lets
        // them through one at a time, one metadata fetch (flows loaded before the first
        // discovery take its result, put in the cache before the registration); each on their
        // own, the requests that overlap make one fetch (native/src/cache.rs single flight).
        let as_metadata = "/metadata_by_path/~1.well-known~1oauth-authorization-server";
        let fetches = common::count(&stats, as_metadata);
        let most = if per_user { users } else { 1 };
        assert!((1..=most).contains(&fetches), "per_user={per_user}: {fetches}: {stats}");
        let ids = stats["client_ids"].as_object().unwrap();
        assert_eq!(ids.len() as u64, expected, "client ids shown to the AS: {stats}");
    }
}

/// A verified identity whose user id has a control character (the server's reserved store
/// users have one) or is too long is refused before anything is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_with_control_characters_are_refused() {
    let serve = Serve::start(&unreachable_jwt_server(), &[("MCP_OAUTH_SESSION_SECRET", SECRET)]);
    mcp_oauth::http::install_crypto_provider();
    for user in ["\u{0}registrations", "line\nbreak", &"x".repeat(257)] {
        let auth = Auth::Bearer(jwt(user, 600, JWT.as_bytes()));
        let (status, reply) = post_chat(&serve.url, &auth, &whoami()).await;
        assert_eq!(status, 401, "{reply}");
        assert_eq!(reply["reason"], "user_invalid", "{reply}");
    }
    // A plain name passes identification (and then fails at the unreachable MCP server).
    let auth = Auth::Bearer(jwt("Alice", 600, JWT.as_bytes()));
    let (status, reply) = post_chat(&serve.url, &auth, &whoami()).await;
    assert_ne!(status, 401, "{reply}");
}

/// The query parameter `name` of `url`.
/// Users identified by HS256 bearer JWTs.
const JWT_ARGS: [&str; 6] =
    ["--jwt-hs256-secret", JWT, "--jwt-issuer", JWT_ISSUER, "--jwt-audience", JWT_AUDIENCE];

/// The options of a server in front of the peers (`demo` = `demo=<MCP URL>`) that identifies
/// users by bearer JWTs and may fetch from loopback addresses.
fn jwt_server<'a>(demo: &'a str, redirect: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--mcp", demo, "--redirect-uri", redirect, "--egress-allow", "127.0.0.0/8"];
    args.extend(JWT_ARGS);
    args
}

/// The options of a server on a free port whose MCP server is unreachable, identifying users
/// by bearer JWTs.
fn unreachable_jwt_server() -> Vec<&'static str> {
    let mut args =
        vec!["--mcp", "demo=http://127.0.0.1:9/mcp", "--host", "127.0.0.1", "--port", "0"];
    args.extend(JWT_ARGS);
    args
}

fn query_param(url: &str, name: &str) -> String {
    let parsed = reqwest::Url::parse(url).unwrap();
    let found = parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    found.unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// With `--log-format json`, stderr is JSON lines only: the consent's start and end and the
/// service's own lines, each naming user and server, and no secret of the run anywhere — the
/// tokens (read back from the store), the authorization code, `state`, the consent link's id,
/// the store key and the session and JWT secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_the_user_and_server_and_no_secret() {
    let peers = Peers::start();
    let redis = Redis::start();
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
    let key = "9a".repeat(32);
    let demo = format!("demo={}", peers.mcp_url);
    let redis_url = redis.url();
    let with = ["--redis", redis_url.as_str(), "--log-format", "json"];
    let args = [&jwt_server(&demo, &redirect)[..], &with].concat();
    let env = [
        ("MCP_OAUTH_SESSION_SECRET", SECRET),
        ("MCP_OAUTH_STORE_KEY", key.as_str()),
        ("RUST_LOG", "info"),
    ];
    let serve = Serve::start(&args, &env);
    mcp_oauth::http::install_crypto_provider();
    let hatter = Auth::Bearer(jwt("Hatter", 600, JWT.as_bytes()));
    let (status, reply) = post_chat(&serve.url, &hatter, &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    let link = reply["url"].as_str().unwrap().to_owned();
    let link_id = link.rsplit('/').next().unwrap().to_owned();

    // The browser, step by step, to see the state and the code.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser.get(&link).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let authorization_url = resp.headers()["location"].to_str().unwrap().to_owned();
    let state = query_param(&authorization_url, "state");
    let url = format!("{authorization_url}&login_hint=Hatter");
    let callback =
        mcp_oauth::redirect::follow(&url, &redirect, Duration::from_secs(30)).await.unwrap();
    let code = query_param(&callback, "code");
    assert_eq!(browser.get(&callback).send().await.unwrap().status().as_u16(), 200);
    let id = reply["request_id"].as_str().unwrap();
    let (status, reply) = poll_chat(&serve.url, &hatter, id, 30).await;
    assert_eq!((status, tool_text(&reply)), (200, "Hatter".to_owned()), "{reply}");
    // A second call, with the stored token.
    let (status, reply) = post_chat(&serve.url, &hatter, &whoami()).await;
    assert_eq!(status, 200, "{reply}");

    // The tokens and registrations, read back from the store with the key.
    let mut key_bytes = [0u8; 32];
    for (i, b) in key_bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap();
    }
    let store = mcp_oauth::store::RedisStore::connect(&redis.url(), &key_bytes).await.unwrap();
    let mut secrets = vec![
        ("code", code),
        ("state", state),
        ("consent link id", link_id),
        ("store key", key.clone()),
        ("session secret", SECRET.to_owned()),
        ("JWT secret", JWT.to_owned()),
    ];
    use mcp_oauth::store::TokenStore;
    for user in ["Hatter", mcp_oauth::server::SHARED_REGISTRATIONS_USER] {
        for k in store.list(user).await.unwrap() {
            let Some(entry) = store.load(&k).await.unwrap() else { continue };
            if let Some(t) = &entry.tokens {
                secrets.push(("access token", t.access_token.secret().to_owned()));
                if let Some(r) = &t.refresh_token {
                    secrets.push(("refresh token", r.secret().to_owned()));
                }
            }
            if let Some(s) = entry.registration.as_ref().and_then(|r| r.client_secret.as_ref()) {
                secrets.push(("client secret", s.secret().to_owned()));
            }
        }
    }
    let names: Vec<&str> = secrets.iter().map(|(n, _)| *n).collect();
    assert!(names.contains(&"access token") && names.contains(&"refresh token"), "{names:?}");

    let (code, _, stderr) = serve.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let mut events = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
        events.push(v);
    }
    let find = |message: &str| {
        events.iter().find(|e| e["fields"]["message"] == message).cloned().unwrap_or_else(|| {
            panic!("no {message:?} event in:\n{stderr}");
        })
    };
    let started = find("consent started");
    assert_eq!(started["fields"]["user"], "Hatter", "{started}");
    assert_eq!(started["fields"]["server"], "demo", "{started}");
    assert_eq!(started["fields"]["issuer"], peers.issuer.as_str(), "{started}");
    let completed = find("consent completed");
    assert_eq!(completed["level"], "INFO", "{completed}");
    assert_eq!(completed["fields"]["user"], "Hatter", "{completed}");
    assert_eq!(completed["fields"]["server"], "demo", "{completed}");
    // The start and the end name the same consent.
    assert_eq!(started["fields"]["consent"], completed["fields"]["consent"]);
    let opened = find("mcp session opened");
    assert_eq!(opened["fields"]["user"], "Hatter", "{opened}");
    assert!(find("listening")["fields"]["url"].is_string());
    find("stopped");
    for (name, secret) in &secrets {
        assert!(secret.len() >= 8, "{name} too short to search for");
        assert!(!stderr.contains(secret.as_str()), "the {name} is in the log:\n{stderr}");
    }
}

/// Sends a WebSocket handshake to `base` with `origin` and `host` as given; the status.
async fn ws_handshake(base: &str, origin: &str, host: &str, bearer: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nAuthorization: Bearer {bearer}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"))
}

/// Behind a proxy that rewrites `Host`, `--public-url` makes the browser's real origin
/// acceptable for the WebSocket (a foreign one stays refused) and starts consent links;
/// without it, today's rule holds. A public URL that is not one is a clear usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_for_the_websocket_origin_and_the_consent_links() {
    let peers = Peers::start();
    let demo = format!("demo={}", peers.mcp_url);
    let public = "https://chat.example.test";
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
    let mut args = jwt_server(&demo, &redirect);
    let plain = Serve::start(&args, &[("MCP_OAUTH_SESSION_SECRET", SECRET)]);
    let token = jwt("Alice", 600, JWT.as_bytes());
    let rewritten = "10.0.0.7:8080";
    assert_eq!(ws_handshake(&plain.url, public, rewritten, &token).await, 403);
    drop(plain);

    args.extend(["--public-url", "https://chat.example.test/"]);
    let serve = Serve::start(&args, &[("MCP_OAUTH_SESSION_SECRET", SECRET)]);
    assert_eq!(ws_handshake(&serve.url, public, rewritten, &token).await, 101);
    assert_eq!(ws_handshake(&serve.url, "https://evil.example", rewritten, &token).await, 403);
    assert_eq!(ws_handshake(&serve.url, "http://chat.example.test", rewritten, &token).await, 403);
    // An Origin that is not ASCII is no origin of this server, even with a matching Host.
    let host = serve.url.trim_start_matches("http://").to_owned();
    assert_eq!(ws_handshake(&serve.url, "http://\u{e9}x", &host, &token).await, 403);
    mcp_oauth::http::install_crypto_provider();
    let (status, reply) = post_chat(&serve.url, &Auth::Bearer(token), &whoami()).await;
    assert_eq!(status, 202, "{reply}");
    let link = reply["url"].as_str().unwrap();
    assert!(link.starts_with("https://chat.example.test/auth/start/"), "{link}");
    drop(serve);

    for (bad, why) in [
        ("chat.example.test", "not an absolute URL"),
        ("https://chat.example.test/?x=1", "a query is not allowed"),
        ("https://chat.example.test/#x", "a fragment is not allowed"),
        ("ftp://chat.example.test", "http or https"),
    ] {
        let out = serve_cmd(&["--mcp", "demo=http://127.0.0.1:9/mcp", "--public-url", bad], &[])
            .env("MCP_OAUTH_SESSION_SECRET", SECRET)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--public-url") && stderr.contains(why), "{bad}: {stderr}");
    }
}

/// Every error answer is in the JSON error format with a code: an unknown path (404), a method
/// a path does not take (405), a body over the limit (413), a body that is not JSON (400), a
/// WebSocket request without the upgrade (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_response_is_json_with_a_code() {
    let serve = Serve::start(&unreachable_jwt_server(), &[("MCP_OAUTH_SESSION_SECRET", SECRET)]);
    mcp_oauth::http::install_crypto_provider();
    let client = reqwest::Client::new();
    let token = jwt("Alice", 600, JWT.as_bytes());
    let base = serve.url.clone();
    let big = format!("{{\"server\": \"demo\", \"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let cases = [
        (client.get(format!("{base}/no/such/path")), 404, "not_found"),
        (client.get(format!("{base}/v1/chat")), 405, "method_not_allowed"),
        (client.delete(format!("{base}/healthz")), 405, "method_not_allowed"),
        (
            client.post(format!("{base}/v1/chat")).bearer_auth(&token).json(&()).body(big),
            413,
            "payload_too_large",
        ),
        (
            client
                .post(format!("{base}/v1/chat"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{\"server\": "),
            400,
            "bad_request",
        ),
        (client.get(format!("{base}/ws")).bearer_auth(&token), 400, "bad_request"),
    ];
    for (request, status, code) in cases {
        let resp = request.send().await.unwrap();
        let what = format!("{} {}", resp.status(), resp.url());
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
        if status == 405 {
            assert!(resp.headers().contains_key("allow"), "{what}");
        }
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error", "{what}: {body}");
        assert_eq!(body["code"], code, "{what}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        assert!(mcp_oauth::core::error::is_known_code(code));
    }
}
