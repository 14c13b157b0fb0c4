//! Attack tests: the egress policy of the multi-user server.
//!
//! An evil MCP server (a tiny HTTP server on 127.0.0.1 started by the test, allow-listed by its
//! origin the way an operator allows an on-premise server) answers 401 and serves metadata whose
//! URLs point at an internal target: another port on loopback (a counting listener), a name that
//! resolves to loopback, an IPv4-mapped loopback address, private and link-local addresses. The
//! server's client must refuse each with `egress_denied` before sending anything: the target
//! counts no connection.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_oauth::core::http::HttpResponse;
use mcp_oauth::egress::EgressPolicy;
use mcp_oauth::server::ServerConfig;
use mcp_oauth::store::MemoryStore;
use mcp_oauth::{ClientOptions, Error, OAuthClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener that counts the connections it accepts (and answers 404).
struct Target {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn target() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
            });
        }
    });
    Target { port, hits }
}

/// The evil MCP server: its resource metadata names itself as the authorization server, whose
/// metadata's registration endpoint is `registration_endpoint`.
async fn evil(registration_endpoint: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let origin = base.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (origin, reg) = (origin.clone(), registration_endpoint.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = if path.starts_with("/.well-known/oauth-protected-resource") {
                    serde_json::json!({
                        "resource": format!("{origin}/mcp"),
                        "authorization_servers": [origin],
                    })
                } else if path.starts_with("/.well-known/oauth-authorization-server")
                    || path.starts_with("/.well-known/openid-configuration")
                {
                    serde_json::json!({
                        "issuer": origin,
                        "authorization_endpoint": format!("{origin}/authorize"),
                        "token_endpoint": format!("{origin}/token"),
                        "registration_endpoint": reg,
                        "response_types_supported": ["code"],
                        "code_challenge_methods_supported": ["S256"],
                    })
                } else {
                    let resp = format!(
                        "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer \
                         resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\"\r\n\
                         content-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    return;
                };
                let body = body.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    base
}

/// A client with the multi-user server's HTTP client (its default egress policy), the evil
/// server's origin allow-listed as an operator would allow an on-premise server.
fn server_client(evil_base: &str) -> OAuthClient {
    let store = Arc::new(MemoryStore::new());
    let mut config = ServerConfig::new(store.clone(), store.clone()).unwrap();
    config.egress = config.egress.clone().allowing(evil_base).unwrap();
    let http = config.http.with_egress(config.egress.clone()).unwrap();
    let mut opts = ClientOptions::new(format!("{evil_base}/mcp"), store).unwrap();
    opts.http = http;
    opts.cache = Arc::new(mcp_oauth::cache::MetadataCache::new());
    OAuthClient::new(opts).unwrap()
}

fn challenge(resource_metadata: &str) -> HttpResponse {
    HttpResponse {
        status: 401,
        headers: vec![(
            "www-authenticate".into(),
            format!("Bearer resource_metadata=\"{resource_metadata}\""),
        )],
        body: Vec::new(),
    }
}

fn assert_denied(result: Result<impl std::fmt::Debug, Error>, host: &str) -> String {
    let err = result.expect_err("the request must be refused");
    assert_eq!(err.code(), "egress_denied", "{err}");
    let msg = err.to_string();
    assert!(msg.contains(host), "{msg}");
    msg
}

#[tokio::test]
async fn a_401_pointing_resource_metadata_at_an_internal_port_is_refused_unsent() {
    let t = target().await;
    let base = evil("https://as.invalid/register".into()).await;
    let client = server_client(&base);
    // Exploit: the MCP server's 401 names an internal service as its resource metadata.
    let evil_401 = challenge(&format!("http://127.0.0.1:{}/internal-admin", t.port));
    let result = client.handle_unauthorized(&evil_401, None, false).await;
    assert_denied(result, "127.0.0.1");
    assert_eq!(t.hits.load(Ordering::SeqCst), 0, "a request reached the internal target");
}

#[tokio::test]
async fn metadata_endpoints_pointing_at_loopback_are_refused_unsent() {
    let t = target().await;
    for (endpoint, host) in [
        // A literal loopback address on another port than the allowed origin.
        (format!("http://127.0.0.1:{}/register", t.port), "127.0.0.1"),
        // A name that resolves to loopback: only the resolver can tell.
        (format!("http://localhost:{}/register", t.port), "localhost"),
        // The IPv4-mapped IPv6 spelling of loopback.
        (format!("https://[::ffff:127.0.0.1]:{}/register", t.port), "[::ffff:7f00:1]"),
    ] {
        let base = evil(endpoint.clone()).await;
        // Exploit: the authorization server metadata sends the registration POST inside.
        let result = server_client(&base).start_authorization().await;
        assert_denied(result, host);
        assert_eq!(t.hits.load(Ordering::SeqCst), 0, "{endpoint} reached the target");
    }
}

#[tokio::test]
async fn metadata_endpoints_pointing_at_private_and_link_local_addresses_are_refused() {
    // Nothing may be sent to these from this machine, so this runs only where the policy
    // refuses before connecting (see the README table: no "before" run).
    for (endpoint, host) in [
        ("https://10.0.0.1/register", "10.0.0.1"),
        ("https://192.168.1.1/register", "192.168.1.1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[fd00::1]/register", "[fd00::1]"),
        ("https://[fe80::1]/register", "[fe80::1]"),
        ("https://[::ffff:169.254.169.254]/register", "[::ffff:a9fe:a9fe]"),
        ("https://[64:ff9b::a00:1]/register", "[64:ff9b::a00:1]"),
    ] {
        let base = evil(endpoint.to_owned()).await;
        let result = server_client(&base).start_authorization().await;
        assert_denied(result, host);
    }
}

#[tokio::test]
async fn refusals_are_no_port_scan_oracle() {
    let open = target().await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    // Exploit: probe an open and a closed internal port through the registration endpoint and
    // compare the errors.
    let mut errors = Vec::new();
    for port in [open.port, closed] {
        let base = evil(format!("http://127.0.0.1:{port}/register")).await;
        errors.push(assert_denied(server_client(&base).start_authorization().await, "127.0.0.1"));
    }
    assert_eq!(errors[0], errors[1], "the errors tell an open port from a closed one");
    assert_eq!(open.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_cli_default_still_reaches_loopback() {
    // Not an attack: local development on loopback keeps working without the server's policy.
    let t = target().await;
    let base = evil(format!("http://127.0.0.1:{}/register", t.port)).await;
    let mut opts = ClientOptions::new(format!("{base}/mcp"), Arc::new(MemoryStore::new())).unwrap();
    opts.cache = Arc::new(mcp_oauth::cache::MetadataCache::new());
    assert_eq!(opts.http.egress(), &EgressPolicy::allow_all());
    let result = OAuthClient::new(opts).unwrap().start_authorization().await;
    assert!(result.is_err(), "the target answers 404 to the registration");
    assert_eq!(t.hits.load(Ordering::SeqCst), 1);
}

// The loopback redirect listener (RFC 8252 §7.3): another local program must not be able to
// take the redirect URI's port and receive the authorization code.

#[tokio::test]
async fn a_local_program_cannot_take_the_ipv6_side_of_localhost() {
    let mut listener =
        mcp_oauth::redirect::LoopbackListener::bind("http://localhost:0/cb").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Exploit: bind [::1] on the same port; browsers that resolve `localhost` to ::1 would
    // deliver the callback there.
    let squatter = std::net::TcpListener::bind(("::1", port));
    assert!(squatter.is_err(), "[::1]:{port} was free for another program to take");
    // And a browser going to [::1] reaches the listener. (A plain socket: a reqwest client
    // built before any rustls provider is installed would panic inside the task.)
    let request = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(("::1", port)).await?;
        s.write_all(
            b"GET /cb?code=c&state=s HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
        )
        .await?;
        let mut response = Vec::new();
        s.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    });
    // Bounded: a callback that never arrives fails the test instead of hanging the run.
    let callback =
        tokio::time::timeout(std::time::Duration::from_secs(30), listener.next_callback())
            .await
            .expect("no callback reached the listener over [::1] within 30 s")
            .unwrap();
    assert!(callback.url.contains("code=c"), "{}", callback.url);
    callback.responder.finish(Ok(()));
    let response = request.await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn a_port_zero_redirect_uri_keeps_its_port_until_the_browser_returns() {
    let mut opts =
        ClientOptions::new("https://mcp.example/mcp", Arc::new(MemoryStore::new())).unwrap();
    opts.redirect_uri = "http://127.0.0.1:0/cb".into();
    let client = OAuthClient::new(opts).unwrap();
    let uri = client.redirect_uri().to_owned();
    let port: u16 =
        uri.trim_start_matches("http://127.0.0.1:").trim_end_matches("/cb").parse().unwrap();
    // Exploit: the port was chosen and released; another program binds it before the listener.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port));
    assert!(squatter.is_err(), "port {port} of {uri} was free for another program to take");
}
