//! `mcp-oauth proxy`: an MCP server over stdio for hosts that speak only stdio, forwarding to a
//! remote MCP server over streamable HTTP with OAuth authorization.
//!
//! Requests are sent side by side as they arrive (a long tool call holds up nothing);
//! notifications and responses are sent before any later message (`notifications/initialized`
//! reaches the server before the first request).
//!
//! Every message passes through unchanged in both directions (requests, notifications,
//! responses, the server's requests, progress and cancellation): each line the host writes is
//! POSTed as it is; each message of the answer (a JSON body, or the events of an SSE response
//! stream) is written to the host as one line, as it came when it was one line. After the
//! host's `notifications/initialized`, the standing GET stream is opened when the server offers
//! one (messages the server sends outside any request). What the proxy adds: authorization
//! ([`auth`]: one authorization shared by every instance of one user and server), the
//! `Mcp-Session-Id` and `MCP-Protocol-Version` headers (streamable HTTP, "Session Management",
//! "Protocol Version Header"), `--header` values, and the tool filter (`--ignore-tool`:
//! `tools/list` results lose the tools it names, calls to them are refused here).
//!
//! Only MCP messages go to stdout (MCP stdio transport: "The server MUST NOT write anything to
//! its stdout that is not a valid MCP message"); progress and errors go to stderr. A request
//! the proxy cannot deliver is answered with a JSON-RPC error naming why (`-32603`, with the
//! error's stable code in `data.code`), so the host never waits for an answer that cannot come.
//!
//! When the server ends the session (HTTP 404 to a request with its session id), the proxy
//! starts a new one with the host's `initialize` and sends the refused message again (the
//! host keeps its session; what it set up in the old one, such as subscriptions, is gone with
//! the server's state).
//!
//! The deprecated HTTP+SSE transport (MCP 2024-11-05) is served too, without authorization (it
//! carries none): [`ProxyTransport::Sse`].
//!
//! An answer's event stream that ends or breaks before every request it carries is answered is
//! resumed when the server gave event ids (a GET with `Last-Event-ID`, after the server's
//! `retry` time, within bounds: see `mcp/resume.rs`); so is the standing GET stream, which is
//! also reopened when it ends.

pub mod auth;
mod filter;
pub mod sse;
mod stream;
mod upstream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::mcp::resume::Resumption;
pub use auth::{ProxyAuth, UserAuth};
pub use filter::ToolFilter;
use stream::{for_each_message, is_event_stream, read_capped, SseReader};
use upstream::Upstream;

use crate::Error;

/// The longest line accepted from the host, and the largest JSON body from the server.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How long the HTTP+SSE server has to send its `endpoint` event.
pub const SSE_ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long answers on their way may take once the host closed stdin.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where a 2026-07-28 request carries its protocol version (SEP-2575).
const META_PROTOCOL_VERSION: &str = "/params/_meta/io.modelcontextprotocol~1protocolVersion";

/// JSON-RPC "Internal error": what the proxy answers for a request it could not deliver.
const INTERNAL_ERROR: i64 = -32603;
/// JSON-RPC "Invalid params": a call to a tool `--ignore-tool` filters.
const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC "Parse error".
const PARSE_ERROR: i64 = -32700;

/// What the proxy needs.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// The MCP server's URL (streamable HTTP).
    pub url: String,
    /// Headers on every request to the server (`--header`).
    pub headers: Vec<(String, String)>,
    /// Tools hidden from the host.
    pub filter: ToolFilter,
    /// How requests are authorized; `None`: without authorization.
    pub auth: Option<ProxyAuth>,
    /// How the server is reached.
    pub transport: ProxyTransport,
}

/// How the proxy reaches the MCP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxyTransport {
    /// Streamable HTTP (MCP 2025-03-26 and later), with authorization.
    #[default]
    StreamableHttp,
    /// The HTTP+SSE transport of MCP 2024-11-05 (deprecated), which carries no authorization:
    /// the stream at the URL, messages POSTed to the endpoint its `endpoint` event names.
    Sse,
}

impl ProxyOptions {
    /// Options for `url`, no headers, no filter, no authorization.
    pub fn new(url: impl Into<String>) -> ProxyOptions {
        ProxyOptions {
            url: url.into(),
            headers: Vec::new(),
            filter: ToolFilter::default(),
            auth: None,
            transport: ProxyTransport::StreamableHttp,
        }
    }
}

struct Ctx {
    upstream: Upstream,
    filter: ToolFilter,
    out: mpsc::UnboundedSender<String>,
    /// Requests of the host waiting for their answer: JSON id text → method.
    inflight: Mutex<HashMap<String, String>>,
    get_stream: AtomicBool,
    /// The standing GET stream's task, stopped at the end.
    get_task: Mutex<Option<tokio::task::AbortHandle>>,
    /// The host's `initialize`, as sent: repeated when the server ends the session.
    initialize: Mutex<Option<Bytes>>,
    /// One new session at a time.
    reinitializing: tokio::sync::Mutex<()>,
    /// HTTP+SSE transport: where messages are POSTed (the `endpoint` event's URI).
    sse_endpoint: Mutex<Option<String>>,
    /// HTTP+SSE transport: the stream ended, so no answer can come any more.
    sse_closed: AtomicBool,
}

/// Runs the proxy until the host closes `input`: reads MCP messages (one per line) from
/// `input`, writes the server's to `output`.
pub async fn run<R, W>(opts: ProxyOptions, input: R, output: W) -> Result<(), Error>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let headers = opts
        .headers
        .iter()
        .map(|(n, v)| {
            let name = http::HeaderName::from_bytes(n.as_bytes())
                .map_err(|e| Error::Usage(format!("--header `{n}`: {e}")))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| Error::Usage(format!("--header `{n}`: the value: {e}")))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let upstream = Upstream {
        http: crate::mcp::mcp_http_client()?,
        url: opts.url.clone(),
        auth: opts.auth,
        headers,
        session_id: Mutex::new(None),
        version: Mutex::new(None),
    };
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = lines.recv().await {
            let written = async {
                output.write_all(line.as_bytes()).await?;
                output.write_all(b"\n").await?;
                output.flush().await
            };
            if let Err(e) = written.await {
                eprintln!("mcp-oauth: proxy: cannot write to the host: {e}");
                return;
            }
        }
    });
    let ctx = Arc::new(Ctx {
        upstream,
        filter: opts.filter,
        out,
        inflight: Mutex::default(),
        get_stream: AtomicBool::new(false),
        get_task: Mutex::default(),
        initialize: Mutex::default(),
        reinitializing: tokio::sync::Mutex::new(()),
        sse_endpoint: Mutex::default(),
        sse_closed: AtomicBool::new(false),
    });
    if opts.transport == ProxyTransport::Sse {
        ctx.open_sse().await?;
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| Error::mcp(format!("reading the host's messages (stdin): {e}")))?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_MESSAGE_BYTES {
            ctx.reply_error(&Value::Null, PARSE_ERROR, "the message is larger than 16 MiB", None);
            if !buf.ends_with(b"\n") {
                skip_line(&mut reader).await;
            }
            continue;
        }
        let line = trim(&buf);
        if line.is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("mcp-oauth: proxy: the host sent a line that is not JSON: {e}");
                ctx.reply_error(&Value::Null, PARSE_ERROR, &format!("Parse error: {e}"), None);
                continue;
            }
        };
        let Some((message, body)) = ctx.admit(message, line) else { continue };
        while tasks.try_join_next().is_some() {}
        let ctx = Arc::clone(&ctx);
        if messages(&message).iter().any(|m| request_id(m).is_some()) {
            // Requests run side by side: a long tool call does not hold up the others.
            tasks.spawn(async move { ctx.forward(message, body).await });
        } else {
            // Notifications and responses (answered 202 at once) are sent before anything
            // that follows them: `notifications/initialized` before the first request.
            ctx.forward(message, body).await;
        }
    }
    // The host closed stdin: it is done with this server (MCP stdio: shutdown). Answers
    // already on their way get a moment to arrive.
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    while !tasks.is_empty() {
        tokio::select! {
            _ = &mut grace => break,
            _ = tasks.join_next() => {}
        }
    }
    tasks.abort_all();
    if let Some(get) = ctx.get_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
        get.abort();
    }
    if ctx.upstream.session_id().is_some() {
        let delete = ctx.upstream.send(reqwest::Method::DELETE, None, None);
        let _ = tokio::time::timeout(Duration::from_secs(5), delete).await;
    }
    drop(ctx);
    let _ = writer.await;
    Ok(())
}

/// Discards input up to the next newline without keeping it.
async fn skip_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) {
    loop {
        let Ok(available) = reader.fill_buf().await else { return };
        if available.is_empty() {
            return;
        }
        match available.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return;
            }
            None => {
                let n = available.len();
                reader.consume(n);
            }
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(end);
    &line[start..end]
}

/// The messages of a JSON-RPC payload (one, or a batch).
fn messages(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    }
}

fn method(m: &Value) -> Option<&str> {
    m.get("method").and_then(Value::as_str)
}

/// A request (method and id) of the host: its id.
fn request_id(m: &Value) -> Option<&Value> {
    method(m)?;
    m.get("id").filter(|id| !id.is_null())
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

impl Ctx {
    fn send(&self, message: &Value) {
        let _ = self.out.send(message.to_string());
    }

    fn reply_error(&self, id: &Value, code: i64, message: &str, data: Option<Value>) {
        let mut error = json!({ "code": code, "message": message });
        if let Some(d) = data {
            error["data"] = d;
        }
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "error": error }));
    }

    /// Refuses calls to filtered tools and records the host's requests; returns what is left
    /// to send (`line` when nothing was removed).
    fn admit(&self, message: Value, line: &[u8]) -> Option<(Value, Bytes)> {
        let refused: Vec<Value> = messages(&message)
            .into_iter()
            .filter(|m| self.filter.refuses_call(m))
            .cloned()
            .collect();
        for m in &refused {
            let name = m.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
            let id = m.get("id").cloned().unwrap_or(Value::Null);
            self.reply_error(
                &id,
                INVALID_PARAMS,
                &format!("Tool {name} is not available through this proxy (--ignore-tool)"),
                None,
            );
        }
        let (message, body) = if refused.is_empty() {
            (message, Bytes::copy_from_slice(line))
        } else {
            let Value::Array(items) = message else { return None };
            let rest: Vec<Value> =
                items.into_iter().filter(|m| !self.filter.refuses_call(m)).collect();
            if rest.is_empty() {
                return None;
            }
            let rest = Value::Array(rest);
            let body = Bytes::from(rest.to_string());
            (rest, body)
        };
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for m in messages(&message) {
            if let (Some(id), Some(method)) = (request_id(m), method(m)) {
                inflight.insert(id_key(id), method.to_owned());
            }
        }
        drop(inflight);
        Some((message, body))
    }

    /// Sends one payload of the host to the server and the answer's messages back.
    async fn forward(self: Arc<Self>, message: Value, body: Bytes) {
        let all = messages(&message);
        let ids: Vec<Value> = all.iter().filter_map(|m| request_id(m)).cloned().collect();
        let sse_endpoint = self.sse_endpoint.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(endpoint) = sse_endpoint {
            return self.forward_sse(&endpoint, &ids, body).await;
        }
        let initialize = all.iter().find(|m| method(m) == Some("initialize"));
        // The version this message proposes: `initialize`'s, or (2026-07-28, no handshake) the
        // one in a request's `_meta` (SEP-2575); else the negotiated one.
        let proposed = initialize
            .and_then(|m| m.pointer("/params/protocolVersion"))
            .or_else(|| all.iter().find_map(|m| m.pointer(META_PROTOCOL_VERSION)))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let initialized = all.iter().any(|m| method(m) == Some("notifications/initialized"));
        if initialize.is_some() {
            *self.initialize.lock().unwrap_or_else(|p| p.into_inner()) = Some(body.clone());
        }
        let sent_session = self.upstream.session_id();
        let post =
            || self.upstream.send(reqwest::Method::POST, Some(body.clone()), proposed.as_deref());
        let mut response = match post().await {
            Ok(r) => r,
            Err(e) => return self.fail(&ids, &e),
        };
        // Streamable HTTP, "Session Management": a 404 to a request with a session id means the
        // session ended; the client starts a new one with a new `initialize`. The message was
        // not processed, so it is sent once more in the new session.
        if let (404, Some(expired), None) = (response.status().as_u16(), &sent_session, initialize)
        {
            match self.new_session(expired).await {
                Ok(()) => match post().await {
                    Ok(r) => response = r,
                    Err(e) => return self.fail(&ids, &e),
                },
                Err(e) => eprintln!("mcp-oauth: proxy: a new session failed: {e}"),
            }
        }

        if initialize.is_some() {
            let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok());
            self.upstream.set_session_id(session.map(str::to_owned));
        }
        let status = response.status();
        if status.is_success() {
            if let Err(e) = self.relay(response, &ids).await {
                self.fail(&ids, &e);
            }
            self.unanswered(&ids);
            if initialized {
                self.open_get_stream();
            }
            return;
        }
        let session_ended = status.as_u16() == 404 && self.upstream.session_id().is_some();
        let text = read_capped(response, 64 * 1024).await.unwrap_or_default();
        // A JSON-RPC error body: the server's own words, for the request it refused.
        if let Ok(v) = serde_json::from_slice::<Value>(&text) {
            if let Some(error) = v.get("error").filter(|_| ids.len() == 1) {
                let reply = json!({ "jsonrpc": "2.0", "id": ids[0], "error": error });
                self.forget(&ids[0]);
                self.send(&reply);
                return;
            }
        }
        let why = if session_ended {
            format!(
                "the MCP server ended the session (HTTP {status}); reconnect to start a new one"
            )
        } else {
            let text = String::from_utf8_lossy(&text);
            let snippet: String = text.chars().take(200).collect();
            format!("the MCP server answered HTTP {status}: {snippet}")
        };
        eprintln!("mcp-oauth: proxy: {why}");
        for id in &ids {
            self.forget(id);
            self.reply_error(id, INTERNAL_ERROR, &why, None);
        }
    }

    fn forget(&self, id: &Value) -> Option<String> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&id_key(id))
    }

    /// Answers the requests among `ids` that no message answered.
    fn unanswered(&self, ids: &[Value]) {
        for id in ids {
            if self.forget(id).is_some() {
                self.reply_error(
                    id,
                    INTERNAL_ERROR,
                    "the MCP server ended its answer without a response to this request",
                    None,
                );
            }
        }
    }

    /// Answers the requests among `ids` with `e`.
    fn fail(&self, ids: &[Value], e: &Error) {
        eprintln!("mcp-oauth: proxy: error: {e}");
        for id in ids {
            if self.forget(id).is_some() {
                let data = json!({ "code": e.code() });
                self.reply_error(id, INTERNAL_ERROR, &format!("mcp-oauth proxy: {e}"), Some(data));
            }
        }
    }

    fn in_flight(&self, id: &Value) -> bool {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&id_key(id))
    }

    /// The messages of a successful answer (JSON, or an SSE stream), to the host. A stream that
    /// ends or breaks while a request among `ids` is unanswered is resumed from its last event
    /// id ([`crate::mcp::resume`]), until every one is answered, the server refuses the
    /// resumption, or streams in a row bring nothing.
    async fn relay(&self, response: reqwest::Response, ids: &[Value]) -> Result<(), Error> {
        let mut resume = Resumption::default();
        let mut result = for_each_message(response, &mut resume, |raw| self.deliver(raw)).await;
        while ids.iter().any(|id| self.in_flight(id)) && resume.stream_ended() {
            let Some(last) = resume.last_event_id().map(str::to_owned) else { break };
            tokio::time::sleep(resume.delay()).await;
            resume.stream_opened();
            let response = match self.upstream.get_stream(Some(&last)).await {
                Ok(r) => r,
                Err(e) => {
                    // The network, not the server's word: again, as far as the bound goes.
                    result = Err(e);
                    continue;
                }
            };
            if !response.status().is_success() || !is_event_stream(&response) {
                return Err(Error::mcp(format!(
                    "the MCP server refused to resume its event stream after event `{last}`: \
                     HTTP {}",
                    response.status()
                )));
            }
            result = for_each_message(response, &mut resume, |raw| self.deliver(raw)).await;
        }
        result
    }

    /// One payload of the server to the host: as it came, unless it answers `tools/list`
    /// (filtered) or spans several lines.
    fn deliver(&self, raw: &[u8]) -> Result<(), Error> {
        let mut value: Value = serde_json::from_slice(raw).map_err(|e| {
            Error::mcp(format!("the MCP server sent a message that is not JSON: {e}"))
        })?;
        let mut changed = false;
        let items: Vec<&mut Value> = match &mut value {
            Value::Array(items) => items.iter_mut().collect(),
            one => vec![one],
        };
        for m in items {
            if m.get("method").is_some() {
                continue;
            }
            let Some(id) = m.get("id").filter(|id| !id.is_null()) else { continue };
            let Some(method) = self.forget(&id.clone()) else { continue };
            match method.as_str() {
                "initialize" => {
                    let v = m.pointer("/result/protocolVersion").and_then(Value::as_str);
                    self.upstream.set_version(v.map(str::to_owned));
                }
                "tools/list" => {
                    if let Some(tools) = m.pointer_mut("/result/tools") {
                        changed |= self.filter.filter_list(tools);
                    }
                }
                _ => {}
            }
        }
        let one_line = !raw.contains(&b'\n') && !raw.contains(&b'\r');
        match (changed, one_line, std::str::from_utf8(trim(raw))) {
            (false, true, Ok(text)) => {
                let _ = self.out.send(text.to_owned());
            }
            _ => self.send(&value),
        }
        Ok(())
    }

    /// HTTP+SSE transport: opens the stream, waits for its `endpoint` event (at most
    /// [`SSE_ENDPOINT_TIMEOUT`]), and hands every later `message` event to the host.
    async fn open_sse(self: &Arc<Self>) -> Result<(), Error> {
        let url = self.upstream.url.clone();
        let failed = |message: String| Error::transport(url.clone(), message);
        let response = self.upstream.get_stream(None).await?;
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(failed(format!(
                "HTTP {status}: the server asks for authorization, which the HTTP+SSE transport                  cannot carry; use its streamable-HTTP endpoint"
            )));
        }
        if !status.is_success() {
            return Err(failed(format!("HTTP {status} to the GET of the event stream")));
        }
        let mut reader = SseReader { response, parser: sse::Parser::default(), ready: Vec::new() };
        let endpoint = tokio::time::timeout(SSE_ENDPOINT_TIMEOUT, async {
            loop {
                match reader.next().await? {
                    None => break Err(failed("the stream ended before its `endpoint` event".into())),
                    Some(e) if e.event.as_deref() == Some("endpoint") => break Ok(e.data),
                    Some(_) => {}
                }
            }
        })
        .await
        .map_err(|_| {
            failed(format!(
                "no `endpoint` event within {} s: is this an MCP HTTP+SSE endpoint (MCP                  2024-11-05)? A streamable-HTTP server needs no --transport",
                SSE_ENDPOINT_TIMEOUT.as_secs()
            ))
        })??;
        let base = url::Url::parse(&url).map_err(|e| failed(format!("not a URL: {e}")))?;
        let endpoint = base
            .join(endpoint.trim())
            .map_err(|e| failed(format!("the `endpoint` event `{endpoint}` is no URI: {e}")))?;
        // RFC 6454 §4: the server must not send this client's messages to another origin.
        if endpoint.origin() != base.origin() {
            return Err(failed(format!(
                "the `endpoint` event points to another origin ({endpoint}); refused"
            )));
        }
        *self.sse_endpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(endpoint.into());
        let ctx = Arc::clone(self);
        let task = tokio::spawn(async move {
            loop {
                match reader.next().await {
                    Ok(Some(e)) if matches!(e.event.as_deref(), None | Some("message")) => {
                        if let Err(err) = ctx.deliver(e.data.as_bytes()) {
                            eprintln!("mcp-oauth: proxy: skipped a message of the server: {err}");
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break eprintln!("mcp-oauth: proxy: the server closed its stream"),
                    Err(e) => break eprintln!("mcp-oauth: proxy: the server's stream: {e}"),
                }
            }
            // No answer can come any more.
            ctx.sse_closed.store(true, Ordering::SeqCst);
            let waiting: Vec<String> =
                ctx.inflight.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
            for id in waiting {
                let id: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
                ctx.forget(&id);
                ctx.reply_error(
                    &id,
                    INTERNAL_ERROR,
                    "the MCP server closed its event stream",
                    None,
                );
            }
        });
        *self.get_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        Ok(())
    }

    /// HTTP+SSE transport: POSTs a payload of the host; the answers come on the stream.
    async fn forward_sse(&self, endpoint: &str, ids: &[Value], body: Bytes) {
        if self.sse_closed.load(Ordering::SeqCst) {
            let e = Error::mcp("the MCP server closed its event stream".into());
            return self.fail(ids, &e);
        }
        let mut req = self.upstream.http.post(endpoint);
        for (name, value) in &self.upstream.headers {
            req = req.header(name, value);
        }
        let req = req.header(http::header::CONTENT_TYPE, "application/json").body(body);
        match req.send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                let e =
                    Error::mcp(format!("the MCP server refused the message: HTTP {}", r.status()));
                self.fail(ids, &e);
            }
            Err(e) => {
                let message = crate::error::error_chain(&e);
                self.fail(ids, &Error::transport(endpoint, message));
            }
        }
    }

    /// Replaces the session the server ended (`expired`) with a new one: the host's
    /// `initialize` again (its answer stays here: the host has one), then
    /// `notifications/initialized`. Nothing when another task already did.
    async fn new_session(self: &Arc<Self>, expired: &str) -> Result<(), Error> {
        let _one = self.reinitializing.lock().await;
        if self.upstream.session_id().as_deref() != Some(expired) {
            return Ok(());
        }
        let init = self.initialize.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let init = init.ok_or_else(|| Error::mcp("no initialize to repeat".into()))?;
        let proposed = serde_json::from_slice::<Value>(&init)
            .ok()
            .and_then(|v| v.pointer("/params/protocolVersion")?.as_str().map(str::to_owned));
        self.upstream.set_session_id(None);
        let response =
            self.upstream.send(reqwest::Method::POST, Some(init), proposed.as_deref()).await?;
        if !response.status().is_success() {
            return Err(Error::mcp(format!(
                "the MCP server answered the new initialize with HTTP {}",
                response.status()
            )));
        }
        let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok());
        self.upstream.set_session_id(session.map(str::to_owned));
        let mut version = None;
        for_each_message(response, &mut Resumption::default(), |raw| {
            let v: Value = serde_json::from_slice(raw).unwrap_or_default();
            if let Some(p) = v.pointer("/result/protocolVersion").and_then(Value::as_str) {
                version = Some(p.to_owned());
            }
            Ok(())
        })
        .await?;
        let version = version
            .ok_or_else(|| Error::mcp("the MCP server did not answer the new initialize".into()))?;
        self.upstream.set_version(Some(version));
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        self.upstream.send(reqwest::Method::POST, Some(initialized), None).await?;
        eprintln!("mcp-oauth: proxy: the MCP server ended the session; a new one started");
        // The standing stream belonged to the old session.
        if let Some(get) = self.get_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            get.abort();
        }
        self.get_stream.store(false, Ordering::SeqCst);
        self.open_get_stream();
        Ok(())
    }

    /// Opens the standing GET stream once, when the server offers one (a 405 says it does not).
    fn open_get_stream(self: &Arc<Self>) {
        if self.get_stream.swap(true, Ordering::SeqCst) {
            return;
        }
        let ctx = Arc::clone(self);
        let task = tokio::spawn(async move {
            // Reopened when it ends (from its last event id when the server gave one), until
            // the server refuses it or it keeps ending without a message
            // ([`crate::mcp::resume`]).
            let mut resume = Resumption::default();
            loop {
                let response = match ctx.upstream.get_stream(resume.last_event_id()).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("mcp-oauth: proxy: the server's event stream: {e}");
                        return;
                    }
                };
                if !response.status().is_success() || !is_event_stream(&response) {
                    // 405: the server sends nothing outside requests (streamable HTTP allows
                    // that); 404: the session is gone (a new one opens its own stream).
                    return;
                }
                resume.stream_opened();
                let read = for_each_message(response, &mut resume, |raw| ctx.deliver(raw)).await;
                if let Err(e) = read {
                    eprintln!("mcp-oauth: proxy: the server's event stream: {e}");
                }
                if !resume.stream_ended() {
                    eprintln!(
                        "mcp-oauth: proxy: the server's event stream kept ending without a \
                         message; not reopened"
                    );
                    return;
                }
                tokio::time::sleep(resume.delay()).await;
            }
        });
        *self.get_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the proxy over `input` against a server that refuses connections; the lines it
    /// wrote.
    async fn run_over(input: Vec<u8>) -> Vec<Value> {
        crate::http::install_crypto_provider();
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        let opts = ProxyOptions::new("http://127.0.0.1:9/mcp");
        let (writer, mut reader) = tokio::io::duplex(1 << 20);
        run(opts, std::io::Cursor::new(input), writer).await.expect("run");
        let mut out = String::new();
        reader.read_to_string(&mut out).await.expect("read");
        out.lines().map(|l| serde_json::from_str(l).expect("only JSON lines")).collect()
    }

    #[tokio::test]
    async fn bad_lines_are_answered_with_parse_errors_and_skipped() {
        let mut input = b"not json\n\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_MESSAGE_BYTES + 10));
        input.extend(b"\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
        let out = run_over(input).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|m| m["error"]["code"] == PARSE_ERROR && m["id"].is_null()));
        assert!(out[1]["error"]["message"].as_str().unwrap().contains("larger than 16 MiB"));
    }

    #[tokio::test]
    async fn a_request_that_cannot_reach_the_server_is_answered_with_why() {
        let input = b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/list\"}\n".to_vec();
        let out = run_over(input).await;
        assert_eq!(out.len(), 1, "{out:?}");
        let m = &out[0];
        assert_eq!(m["id"], "a");
        assert_eq!(m["error"]["code"], INTERNAL_ERROR);
        assert_eq!(m["error"]["data"]["code"], "transport_failed", "{m}");
    }
}
