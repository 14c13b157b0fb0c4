//! A hostile MCP server against stream resumption (streamable HTTP, "Resumability and
//! Redelivery"; SEP-1699): the client resumes a response stream from its last event id, so a
//! server that gives an id and closes every stream at once, with `retry: 0`, could keep it
//! reconnecting forever and the call would never end.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_oauth::mcp::{mcp_http_client, McpSession};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw: the request line and `Last-Event-ID` of each request.
type Seen = Arc<Mutex<Vec<String>>>;

/// Reads one HTTP request (head and `Content-Length` body); `None` when the peer closed first.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let len = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0usize);
        if buf.len() >= end + 4 + len {
            return Some((text[..end].to_owned(), text[end + 4..].to_owned()));
        }
    }
}

/// The hostile server: answers `initialize`, accepts notifications, and answers every
/// `tools/call` and every GET with an event stream that carries an id and `retry: 0` and then
/// closes, without a message.
async fn hostile_server() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", listener.local_addr().unwrap().port());
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        // Bounded, so that a client that never stops cannot keep this test alive either.
        for n in 0..200u32 {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let Some((head, body)) = read_request(&mut sock).await else { continue };
            let line = head.lines().next().unwrap_or_default().to_owned();
            let last = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("last-event-id").then(|| v.trim().to_owned())
            });
            s.lock().unwrap().push(format!("{line} last-event-id={last:?}"));
            let message: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let primed = format!("id: e{n}\nretry: 0\ndata: \n\n");
            let (status, kind, body) = match message["method"].as_str() {
                Some("initialize") => {
                    let answer = serde_json::json!({
                        "jsonrpc": "2.0", "id": message["id"],
                        "result": {
                            "protocolVersion": "2025-11-25",
                            "capabilities": { "tools": {} },
                            "serverInfo": { "name": "hostile", "version": "1" },
                        },
                    });
                    (200, "application/json", answer.to_string())
                }
                Some(m) if m.starts_with("notifications/") => {
                    (202, "application/json", String::new())
                }
                Some(_) => (200, "text/event-stream", primed),
                None if line.starts_with("GET") => (200, "text/event-stream", primed),
                None => (404, "application/json", "{}".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\nconnection: close\r\n\r\n{body}"
            );
            let _ = sock.write_all(response.as_bytes()).await;
            // The stream ends here: the connection closes.
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_server_that_closes_every_stream_at_once_cannot_keep_the_client_reconnecting() {
    let (url, seen) = hostile_server().await;
    let session = McpSession::connect_over(&url, None, false, mcp_http_client().unwrap())
        .await
        .expect("initialize");
    let started = Instant::now();
    // The exploit: a tool call whose stream the server closes after an id, and every resumption
    // likewise, with `retry: 0`.
    let call = tokio::time::timeout(Duration::from_secs(30), session.call_tool("anything", None))
        .await
        .expect("the call ended (a client without a bound reconnects until the timeout)");
    let e = call.expect_err("the server never answered");
    assert!(
        e.to_string().contains("ended the response stream without answering"),
        "the error says what the server did: {e}"
    );
    let gets: Vec<String> =
        seen.lock().unwrap().iter().filter(|r| r.starts_with("GET")).cloned().collect();
    // Three streams in a row that brought nothing, then the client gives up
    // (native/src/mcp/resume.rs, MAX_IDLE_STREAMS).
    assert_eq!(gets.len(), 3, "bounded resumptions, the first: {:?}", &gets[..gets.len().min(4)]);
    assert!(gets.iter().all(|g| g.contains("Some(\"e")), "each from the last event id: {gets:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
