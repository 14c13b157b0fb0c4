//! Memory per *active* user of `mcp-oauth serve` (an open MCP session each), and what the
//! authorization server saw: N users (`ACTIVE_USERS`, default 500), `CONCURRENCY` (50) at a
//! time, each consents once (the peers approve; `login_hint` names the user) and makes
//! `CALLS` (10) tool calls over HTTP. The server is the CLI binary in its own process, with the
//! memory store; its RSS is read from /proc after one warm-up user and after all N.
//!
//! `cargo bench -p mcp-oauth --bench active_users` (needs the peers' `npm ci`); `SERVE_BIN`
//! measures another build of the binary. Prints numbers, failed calls included; asserts only
//! that no call answered with another user's name.
#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/multi.rs"]
mod multi;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use multi::*;

const SECRET: &str = "a-bench-session-secret-of-32-bytes-or-more!!";
const JWT: &str = "the-shared-hs256-secret-of-the-app-0123";

/// The server process, stopped (SIGTERM) also when the bench panics.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        common::stop(&mut self.0);
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat (`self` for this
/// one): fields 14 and 15, in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// CPU seconds of: serve, the authorization server, the MCP server, this bench (the users).
fn cpu_split(serve: u32, peers: &common::Peers) -> [f64; 4] {
    [
        cpu_secs(&serve.to_string()),
        cpu_secs(&peers.auth.pid().to_string()),
        cpu_secs(&peers.mcp.pid().to_string()),
        cpu_secs("self"),
    ]
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One user: a request that needs consent, the consent, then `calls` more calls. Returns the
/// calls that failed (with the first error); a result naming another user is a panic.
async fn user(
    client: reqwest::Client,
    base: Arc<String>,
    redirect: Arc<String>,
    name: String,
    calls: usize,
) -> (usize, Option<String>) {
    let auth = Auth::Bearer(jwt(&name, 3600, JWT.as_bytes()));
    let (status, reply) = post_chat_with(&client, &base, &auth, &whoami()).await;
    assert_eq!(status, 202, "{name}: {reply}");
    let link = reply["url"].as_str().unwrap().to_owned();
    let id = reply["request_id"].as_str().unwrap().to_owned();
    let (status, page) = consent(&link, &name, &redirect).await;
    assert_eq!(status, 200, "{name}: {page}");
    let mut failed = (0, None);
    let mut check = |status: u16, reply: serde_json::Value| {
        if status == 200 && reply["type"] == "result" {
            assert_eq!(tool_text(&reply), name, "{reply}");
        } else {
            failed.0 += 1;
            failed.1.get_or_insert_with(|| format!("{name}: HTTP {status} {reply}"));
        }
    };
    let (status, reply) = poll_chat_with(&client, &base, &auth, &id, 30).await;
    check(status, reply);
    for _ in 1..calls {
        let (status, reply) = post_chat_with(&client, &base, &auth, &whoami()).await;
        check(status, reply);
    }
    failed
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let users = env_usize("ACTIVE_USERS", 500);
    let concurrency = env_usize("CONCURRENCY", 50);
    let calls = env_usize("CALLS", 10);
    let peers = common::Peers::start();
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/auth/redirect");
    let bin = std::env::var("SERVE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-oauth").into());
    let mut child = Command::new(bin)
        .args(["serve", "--mcp", &format!("demo={}", peers.mcp_url), "--redirect-uri", &redirect])
        .args(["--egress-allow", "127.0.0.0/8", "--jwt-hs256-secret", JWT])
        .args(["--jwt-issuer", JWT_ISSUER, "--jwt-audience", JWT_AUDIENCE])
        .env("MCP_OAUTH_SESSION_SECRET", SECRET)
        .env_remove("MCP_OAUTH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let base = Arc::new(info["url"].as_str().unwrap().to_owned());
    let redirect = Arc::new(redirect);
    let pid = child.id();
    let mut server = Server(child);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    mcp_oauth::http::install_crypto_provider();
    let (before, after, took, registrations, failed, cpu) = rt.block_on(async {
        // The MCP peer fetches the AS metadata on its first token check: a bogus token makes it
        // do that now, so that the counts below are this server's alone.
        let warm = reqwest::Client::new().post(&peers.mcp_url).bearer_auth("warm-up").send();
        assert_eq!(warm.await.unwrap().status(), 401);
        peers.reset_as_stats().await;
        // One client for all users' chat requests (the users' consents each have their own
        // cookie jar): a client per request cost the bench more CPU than serve spent.
        let client = reqwest::Client::new();
        user(client.clone(), base.clone(), redirect.clone(), "warmup".into(), 2).await;
        let before = rss_kib(pid);
        let cpu_before = cpu_split(pid, &peers);
        let started = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let mut tasks = Vec::new();
        for i in 0..users {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let (base, redirect, client) = (base.clone(), redirect.clone(), client.clone());
            tasks.push(tokio::spawn(async move {
                let failed = user(client, base, redirect, format!("user{i}"), calls).await;
                drop(permit);
                failed
            }));
        }
        let mut failed = (0, None);
        for t in tasks {
            let (n, first) = t.await.unwrap();
            failed.0 += n;
            failed.1 = failed.1.or(first);
        }
        let took = started.elapsed();
        // The users' idle keep-alive connections to serve end with their client.
        drop(client);
        let cpu_after = cpu_split(pid, &peers);
        let cpu: Vec<f64> = cpu_after.iter().zip(cpu_before).map(|(a, b)| a - b).collect();
        // Let the allocator settle.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let stats = peers.as_stats().await;
        let counts = (common::count(&stats, "/register"), common::count(&stats, "/metadata"));
        (before, rss_kib(pid), took, counts, failed, cpu)
    });
    common::stop(&mut server.0);
    let per_user = (after.saturating_sub(before)) as f64 / users as f64;
    println!("active_users: {users} users, {calls} calls each, {concurrency} at a time");
    println!("  serve RSS after warm-up: {before} KiB; after: {after} KiB");
    println!("  RSS per active user: {per_user:.1} KiB");
    println!(
        "  at the authorization server from serve (warm-up included): {} registrations, {} \
         metadata fetches",
        registrations.0, registrations.1
    );
    println!("  failed calls: {} of {}", failed.0, users * calls);
    if let Some(first) = failed.1 {
        println!("  first failure: {first}");
    }
    println!(
        "  wall time: {:.2} s ({:.1} ms per user, peers included)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / users as f64
    );
    let calls_total = (users * calls) as f64;
    println!("  CPU seconds in that time (user + system; per tool call in ms):");
    for (name, secs) in
        ["serve", "authorization server (peer)", "MCP server (peer)", "bench (the users)"]
            .iter()
            .zip(&cpu)
    {
        println!("    {name}: {secs:.1} s ({:.2} ms)", secs * 1000.0 / calls_total);
    }
}
