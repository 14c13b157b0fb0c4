//! The redirect handling against real sockets on 127.0.0.1: the loopback listener, the browser
//! opener (with a `BROWSER`-style command, never the real environment) and follow mode against
//! tiny local servers.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_oauth::redirect::{follow, open_browser_with, LoopbackListener, RedirectError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs `url` like a browser would; answers (status, content type, body).
async fn browser_get(url: String) -> (u16, String, String) {
    let resp = http_client().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// Loopback listener
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn callback_on_port_zero_gets_success_page_after_finish() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/auth/redirect").await.unwrap();
    let uri = listener.redirect_uri();
    let port = listener.local_addr().unwrap().port();
    assert_ne!(port, 0);
    assert_eq!(uri, format!("http://127.0.0.1:{port}/auth/redirect"));

    let browser = tokio::spawn(browser_get(format!("{uri}?code=abc&state=xyz")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    assert_eq!(callback.url, format!("{uri}?code=abc&state=xyz"));
    // Debug must not show the code.
    assert!(!format!("{callback:?}").contains("abc"));

    // The browser waits for the host's verdict.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!browser.is_finished(), "the browser got an answer before finish()");

    callback.responder.finish(Ok(()));
    let (status, ct, body) = tokio::time::timeout(WAIT, browser).await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("Authorized — you can close this window."), "{body}");
}

#[tokio::test]
async fn localhost_binds_ipv4_and_callback_url_is_what_the_browser_requested() {
    let mut listener = LoopbackListener::bind("http://localhost:0/cb").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let uri = listener.redirect_uri();
    assert_eq!(uri, format!("http://localhost:{}/cb", addr.port()));

    let browser =
        tokio::spawn(browser_get(format!("{uri}?code=c%2F1&state=s&iss=https%3A%2F%2Fas.example")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    assert_eq!(callback.url, format!("{uri}?code=c%2F1&state=s&iss=https%3A%2F%2Fas.example"));
    callback.responder.finish(Ok(()));
    let (status, _, _) = tokio::time::timeout(WAIT, browser).await.unwrap().unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn error_page_escapes_the_message() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/cb").await.unwrap();
    let uri = listener.redirect_uri();
    let browser = tokio::spawn(browser_get(format!("{uri}?error=access_denied&state=s")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    callback.responder.finish(Err("denied: <script>alert('x')</script> & \"more\"".to_owned()));
    let (status, ct, body) = tokio::time::timeout(WAIT, browser).await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"));
    assert!(body.contains("Authorization failed"), "{body}");
    assert!(!body.contains("<script>"), "{body}");
    assert!(
        body.contains(
            "denied: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"
        ),
        "{body}"
    );
    assert!(!body.contains("Authorized —"), "{body}");
}

#[tokio::test]
async fn dropped_responder_gives_a_generic_error_page() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/cb").await.unwrap();
    let uri = listener.redirect_uri();
    let browser = tokio::spawn(browser_get(format!("{uri}?code=a&state=b")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    drop(callback);
    let (status, _, body) = tokio::time::timeout(WAIT, browser).await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("Authorization failed"), "{body}");
    assert!(body.contains("did not finish"), "{body}");
}

#[tokio::test]
async fn other_paths_get_404_and_do_not_complete_the_callback() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/auth/redirect").await.unwrap();
    let uri = listener.redirect_uri();
    let base = uri.trim_end_matches("/auth/redirect").to_owned();

    let strays = {
        let base = base.clone();
        let uri = uri.clone();
        async move {
            let favicon = browser_get(format!("{base}/favicon.ico")).await;
            let other = browser_get(format!("{base}/other?code=x&state=y")).await;
            let prefix = browser_get(format!("{base}/auth/redirect/x?code=x&state=y")).await;
            let no_query = browser_get(uri.clone()).await;
            let post = http_client()
                .post(format!("{uri}?code=x&state=y"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            (favicon, other, prefix, no_query, post)
        }
    };
    // The listener only accepts while `next_callback` runs; none of these may end it.
    let (strays, waited) = tokio::join!(
        strays,
        tokio::time::timeout(Duration::from_secs(2), listener.next_callback())
    );
    assert!(waited.is_err(), "a stray request was taken as the callback");
    let (favicon, other, prefix, no_query, post) = strays;
    assert_eq!((favicon.0, favicon.2.as_str()), (404, "not found\n"));
    assert_eq!((other.0, other.2.as_str()), (404, "not found\n"));
    assert_eq!(prefix.0, 404);
    assert_eq!(no_query.0, 400);
    assert_eq!(post, 405);

    // The real callback still comes through afterwards.
    let browser = tokio::spawn(browser_get(format!("{uri}?code=real&state=s")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    assert_eq!(callback.url, format!("{uri}?code=real&state=s"));
    callback.responder.finish(Ok(()));
    assert_eq!(browser.await.unwrap().0, 200);
}

#[tokio::test]
async fn port_in_use_gives_bind_error_with_advice() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = LoopbackListener::bind(&format!("http://127.0.0.1:{port}/auth/redirect"))
        .await
        .unwrap_err();
    match &err {
        RedirectError::Bind { addr, source, .. } => {
            assert_eq!(addr.port(), port);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected Bind, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("--redirect-uri http://localhost:<other-port>/auth/redirect"), "{msg}");
    assert!(msg.contains("port 0"), "{msg}");
}

#[tokio::test]
async fn non_loopback_and_invalid_redirect_uris_are_refused() {
    for uri in [
        "http://example.com:8000/cb",
        "http://192.168.1.10:8000/cb",
        "http://0.0.0.0:8000/cb",
        "http://localhost.example:8000/cb",
        "https://example.com/cb",
    ] {
        match LoopbackListener::bind(uri).await {
            Err(e @ RedirectError::NotLoopback { .. }) => {
                assert!(e.to_string().contains("only serves loopback"), "{e}")
            }
            other => panic!("{uri}: expected NotLoopback, got {other:?}"),
        }
    }
    for uri in [
        "not a url",
        "https://localhost:0/cb",
        "http://localhost:0/cb#frag",
        "http://user@localhost:0/cb",
    ] {
        match LoopbackListener::bind(uri).await {
            Err(RedirectError::InvalidRedirectUri { .. }) => {}
            other => panic!("{uri}: expected InvalidRedirectUri, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn ipv6_loopback_is_served() {
    // Some sandboxes have no IPv6; only check when [::1] can be bound at all.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return;
    }
    let mut listener = LoopbackListener::bind("http://[::1]:0/cb").await.unwrap();
    let uri = listener.redirect_uri();
    assert!(uri.starts_with("http://[::1]:"), "{uri}");
    let browser = tokio::spawn(browser_get(format!("{uri}?code=a&state=b")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();
    assert_eq!(callback.url, format!("{uri}?code=a&state=b"));
    callback.responder.finish(Ok(()));
    assert_eq!(browser.await.unwrap().0, 200);
}

#[tokio::test]
async fn explicit_port_is_kept_verbatim_and_missing_port_means_8000() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let given = format!("http://127.0.0.1:{port}/a/b?client=x");
    let listener = LoopbackListener::bind(&given).await.unwrap();
    assert_eq!(listener.redirect_uri(), given);
    assert_eq!(listener.local_addr().unwrap().port(), port);
    drop(listener);

    // Port 8000 may be taken on this machine; either way it is the port that was tried.
    match LoopbackListener::bind("http://localhost/cb").await {
        Ok(l) => {
            assert_eq!(l.local_addr().unwrap().port(), 8000);
            assert_eq!(l.redirect_uri(), "http://localhost:8000/cb");
        }
        Err(RedirectError::Bind { addr, .. }) => assert_eq!(addr.port(), 8000),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[tokio::test]
async fn dropping_the_listener_frees_the_port_and_finishes_open_requests() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/cb").await.unwrap();
    let uri = listener.redirect_uri();
    let addr = listener.local_addr().unwrap();

    // A timed-out wait (what the CLI does) drops the future; the listener still works.
    assert!(tokio::time::timeout(Duration::from_millis(100), listener.next_callback())
        .await
        .is_err());
    let browser = tokio::spawn(browser_get(format!("{uri}?code=a&state=b")));
    let callback = tokio::time::timeout(WAIT, listener.next_callback()).await.unwrap().unwrap();

    // Drop the listener while the browser still waits: the port is free at once ...
    drop(listener);
    let again =
        LoopbackListener::bind(&format!("http://127.0.0.1:{}/cb", addr.port())).await.unwrap();
    assert_eq!(again.local_addr().unwrap(), addr);
    drop(again);
    // Give the connection task time to see the shutdown before the host answers.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ... and the waiting browser still gets its page.
    callback.responder.finish(Ok(()));
    let (status, _, body) = tokio::time::timeout(WAIT, browser).await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("Authorized"), "{body}");

    // Once dropped, nothing listens there any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn callback_queued_but_never_taken_gets_an_error_page_when_the_listener_goes() {
    let mut listener = LoopbackListener::bind("http://127.0.0.1:0/cb").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A browser that connects first and sends its request later.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The listener accepts the connection while waiting; no request yet, so it times out.
    assert!(tokio::time::timeout(Duration::from_millis(200), listener.next_callback())
        .await
        .is_err());
    // Now the request arrives while nobody waits: the callback is queued.
    stream.write_all(b"GET /cb?code=a&state=b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(listener);
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response)).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Authorization failed"), "{response}");
}

// ---------------------------------------------------------------------------------------------
// Browser opener
// ---------------------------------------------------------------------------------------------

/// A `BROWSER` command that writes its arguments, one a line, into `out`.
fn recording_browser(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let script = dir.join("browser.sh");
    let out = dir.join("args.txt");
    // Run through `sh script` rather than exec'ing the script: no ETXTBSY races with other
    // tests forking while the file is being written.
    std::fs::write(
        &script,
        "out=\"$1\"; shift; printf '%s\\n' \"$@\" > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n",
    )
    .unwrap();
    (format!("sh {} {}", script.display(), out.display()), out)
}

async fn wait_for_file(path: &std::path::Path) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "the browser command never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn browser_command_gets_the_url_in_place_of_percent_s() {
    let dir = tempfile::tempdir().unwrap();
    let (command, out) = recording_browser(dir.path());
    let url = "https://as.example/authorize?client_id=c&state=s%20t&redirect_uri=x";
    open_browser_with(Some(&format!("{command} --new-window --url=%s")), url).unwrap();
    assert_eq!(wait_for_file(&out).await, format!("--new-window\n--url={url}\n"));
}

#[tokio::test]
async fn browser_command_without_percent_s_gets_the_url_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (command, out) = recording_browser(dir.path());
    let url = "http://127.0.0.1:9/authorize?a=1&b=2";
    open_browser_with(Some(&format!("  {command}   -x  ")), url).unwrap();
    assert_eq!(wait_for_file(&out).await, format!("-x\n{url}\n"));
}

#[tokio::test]
async fn browser_that_cannot_start_says_to_open_by_hand() {
    let err = open_browser_with(
        Some("/nonexistent/mcp-oauth-test-browser --flag"),
        "https://as.example/authorize",
    )
    .unwrap_err();
    match &err {
        RedirectError::Spawn { program, .. } => {
            assert_eq!(program, "/nonexistent/mcp-oauth-test-browser")
        }
        other => panic!("expected Spawn, got {other:?}"),
    }
    assert!(err.to_string().contains("open the URL by hand"), "{err}");
}

#[tokio::test]
async fn browser_is_not_started_for_non_http_urls() {
    let dir = tempfile::tempdir().unwrap();
    let (command, out) = recording_browser(dir.path());
    for url in ["file:///etc/passwd", "--help", "javascript:alert(1)", "https://as.example/a b"] {
        match open_browser_with(Some(&command), url) {
            Err(RedirectError::InvalidUrl { .. }) => {}
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!out.exists(), "the browser command ran for a refused URL");
}

// ---------------------------------------------------------------------------------------------
// Follow mode
// ---------------------------------------------------------------------------------------------

/// A request as the tiny server saw it.
#[derive(Clone, Debug)]
struct Seen {
    target: String,
    cookie: Option<String>,
}

type Handler = fn(&Seen, SocketAddr) -> Option<String>;

/// A tiny HTTP/1.1 server answering each request with `handler`'s fixed response (`None`:
/// never answer). Records every request.
async fn tiny_server(handler: Handler) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log2);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = head.split("\r\n");
                let target =
                    lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or_default().to_owned();
                let cookie = lines
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("cookie"))
                    .map(|(_, v)| v.trim().to_owned());
                let seen = Seen { target, cookie };
                log.lock().unwrap().push(seen.clone());
                match handler(&seen, addr) {
                    Some(resp) => {
                        let _ = stream.write_all(resp.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            });
        }
    });
    (addr, log)
}

fn respond(status: &str, headers: &[(&str, String)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s
}

fn redirect_to(location: String) -> String {
    respond("302 Found", &[("Location", location)], "")
}

fn cookie_flow(req: &Seen, addr: SocketAddr) -> Option<String> {
    let path = req.target.split('?').next().unwrap_or_default();
    Some(match path {
        "/authorize" => respond(
            "302 Found",
            &[
                ("Set-Cookie", "sid=abc123; Path=/; HttpOnly".to_owned()),
                // Relative, absolute path.
                ("Location", "/login/step2".to_owned()),
            ],
            "",
        ),
        "/login/step2" if req.cookie.as_deref() == Some("sid=abc123") => {
            // Relative path: resolves to /login/approve?x=1.
            redirect_to("approve?x=1".to_owned())
        }
        "/login/step2" => respond("403 Forbidden", &[], "no session"),
        "/login/approve" if req.cookie.as_deref() == Some("sid=abc123") => {
            redirect_to(format!("http://{addr}/cb?code=the-code&state=st&iss=http%3A%2F%2F{addr}"))
        }
        _ => respond("404 Not Found", &[], "nope"),
    })
}

#[tokio::test]
async fn follow_keeps_cookies_resolves_relative_locations_and_stops_at_the_redirect_uri() {
    let (addr, log) = tiny_server(cookie_flow).await;
    let redirect_uri = format!("http://{addr}/cb");
    let url = follow(&format!("http://{addr}/authorize?client_id=c&state=st"), &redirect_uri, WAIT)
        .await
        .unwrap();
    assert_eq!(url, format!("http://{addr}/cb?code=the-code&state=st&iss=http%3A%2F%2F{addr}"));
    let targets: Vec<String> = log.lock().unwrap().iter().map(|s| s.target.clone()).collect();
    // The redirect URI itself is never requested.
    assert_eq!(targets, ["/authorize?client_id=c&state=st", "/login/step2", "/login/approve?x=1"]);
}

#[tokio::test]
async fn follow_reports_a_login_page_as_interaction_required() {
    let (addr, _) = tiny_server(|req, _| {
        Some(if req.target.starts_with("/authorize") {
            redirect_to("/login".to_owned())
        } else {
            respond(
                "200 OK",
                &[("Content-Type", "text/html".to_owned())],
                "<form method=post><input name=user></form>",
            )
        })
    })
    .await;
    let err = follow(&format!("http://{addr}/authorize"), "http://127.0.0.1:1/cb", WAIT)
        .await
        .unwrap_err();
    match &err {
        RedirectError::InteractionRequired { url } => {
            assert_eq!(url, &format!("http://{addr}/login"))
        }
        other => panic!("expected InteractionRequired, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("--browser open") && msg.contains("--browser print"), "{msg}");
}

#[tokio::test]
async fn follow_gives_up_on_a_redirect_loop() {
    let (addr, log) = tiny_server(|_, _| Some(redirect_to("/loop".to_owned()))).await;
    let err =
        follow(&format!("http://{addr}/loop"), "http://127.0.0.1:1/cb", WAIT).await.unwrap_err();
    match err {
        RedirectError::TooManyRedirects { max, .. } => assert_eq!(max, 20),
        other => panic!("expected TooManyRedirects, got {other:?}"),
    }
    // The first request and 20 redirects.
    assert_eq!(log.lock().unwrap().len(), 21);
}

#[tokio::test]
async fn follow_reports_error_statuses_with_the_url() {
    let (addr, _) =
        tiny_server(|_, _| Some(respond("500 Internal Server Error", &[], "boom"))).await;
    let err = follow(&format!("http://{addr}/authorize"), "http://127.0.0.1:1/cb", WAIT)
        .await
        .unwrap_err();
    match err {
        RedirectError::HttpStatus { status, url } => {
            assert_eq!(status, 500);
            assert_eq!(url, format!("http://{addr}/authorize"));
        }
        other => panic!("expected HttpStatus, got {other:?}"),
    }
}

#[tokio::test]
async fn follow_refuses_plain_http_to_non_loopback_hosts() {
    // Before any request.
    match follow("http://as.example/authorize", "http://127.0.0.1:1/cb", WAIT).await {
        Err(RedirectError::InsecureUrl { url }) => assert_eq!(url, "http://as.example/authorize"),
        other => panic!("expected InsecureUrl, got {other:?}"),
    }
    // And when a redirect points there.
    let (addr, _) =
        tiny_server(|_, _| Some(redirect_to("http://as.example/next".to_owned()))).await;
    match follow(&format!("http://{addr}/authorize"), "http://127.0.0.1:1/cb", WAIT).await {
        Err(RedirectError::InsecureUrl { url }) => assert_eq!(url, "http://as.example/next"),
        other => panic!("expected InsecureUrl, got {other:?}"),
    }
}

#[tokio::test]
async fn follow_returns_error_callbacks_and_checks_the_port() {
    // A redirect to the redirect URI's host and path on another port is not the callback.
    let (addr, log) = tiny_server(|req, addr| {
        Some(if req.target.starts_with("/authorize") {
            redirect_to(format!("http://{addr}/cb?error=wrong-port"))
        } else {
            redirect_to("http://127.0.0.1:1/cb?error=access_denied&state=s".to_owned())
        })
    })
    .await;
    let url =
        follow(&format!("http://{addr}/authorize"), "http://127.0.0.1:1/cb", WAIT).await.unwrap();
    assert_eq!(url, "http://127.0.0.1:1/cb?error=access_denied&state=s");
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn follow_times_out() {
    let (addr, _) = tiny_server(|_, _| None).await;
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(
        WAIT,
        follow(
            &format!("http://{addr}/authorize"),
            "http://127.0.0.1:1/cb",
            Duration::from_millis(300),
        ),
    )
    .await
    .expect("follow ignored its timeout")
    .unwrap_err();
    assert!(matches!(err, RedirectError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The default port has one definition, in the core (`core/src/url/redirect.rs`): no host source
/// writes `8000` as a number or a URL port outside comments, help prose and test modules.
#[test]
fn the_default_port_is_defined_only_in_the_core() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut dirs: Vec<_> =
        ["native/src", "wasm/src", "pkg/src", "examples"].iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Tests may spell the port out; installed packages and build output are not ours.
                let skip = ["tests", "test", "node_modules", "target", "test-output", "dist"];
                if path.file_name().is_some_and(|n| !skip.iter().any(|s| n == *s)) {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "js") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 20, "scanned only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
                continue;
            }
            // A URL port anywhere, or the number outside string literals.
            let outside_strings: String = code.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            if code.contains(":8000") || outside_strings.contains("8000") {
                found.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "use mcp_oauth_core::url::DEFAULT_LOOPBACK_PORT / DEFAULT_REDIRECT_URI:\n{}",
        found.join("\n")
    );
}
