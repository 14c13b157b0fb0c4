//! A streamable-HTTP MCP session as plain requests: no running service, no background task, no
//! channel, no standing GET stream. Each MCP request is one POST through
//! [`AuthorizedHttpClient`] (the same authorization layer, so the core decides on every 401 and
//! 403 as before), answered by a JSON body or an SSE stream that this module reads until the
//! response with the request's id (MCP streamable HTTP, "Sending Messages to the Server").
//!
//! Why not rmcp's running service here: a service spawns a task and channels per session and,
//! once the server gives an `Mcp-Session-Id`, keeps a GET stream (one connection) open per
//! session. The multi-user server holds one session per active user; measured with
//! `native/benches/active_users.rs`, that was 93.9 KiB per active user (BENCHMARKS.md). A session
//! here is its negotiated state: the session id, the protocol version and a request counter.
//!
//! What the service did that is done here too: `initialize` then `notifications/initialized`
//! (MCP lifecycle), `MCP-Protocol-Version` on every request after it (streamable HTTP,
//! "Protocol Version Header"), the per-request `_meta` when a server answers with a version
//! without a handshake (2026-07-28), pagination of `tools/list`, one new `initialize` and one
//! retry when the server says the session expired (HTTP 404 on a request with a session id:
//! streamable HTTP, "Session Management"), a DELETE of the session at the end, and answers to
//! the server's requests on a response stream (`ping` gets its empty result; anything else
//! "method not found", as this client declares no capability), and resuming a response stream
//! that ends or breaks before the answer from its last event id ([`super::resume`]: servers of
//! MCP 2025-11-25 may close it early on purpose, SEP-1699). What is not done: the standing GET
//! stream for messages the server sends outside any request (nothing here would read them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, ClientResult, ErrorData, GetMeta, InitializeRequest,
    InitializeResult, InitializedNotification, JsonObject, ListToolsRequest, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerRequest, Tool,
};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

use super::resume::Resumption;
use super::streamable_http::{McpHttpError, PROTOCOL_VERSION_HEADER};
use super::{check_negotiated, client_info, AuthorizedHttpClient};
use crate::Error;

/// An SSE response as rmcp's HTTP layer hands it over.
type BoxedEvents =
    futures_core::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>;

/// At most this many pages of `tools/list` (a server whose cursors never end is an error, not a
/// hang).
pub const MAX_TOOL_PAGES: usize = 1000;

/// What `initialize` settled.
#[derive(Clone, Debug)]
struct Negotiated {
    session_id: Option<Arc<str>>,
    version: ProtocolVersion,
}

/// A streamable-HTTP MCP session (see the module docs).
pub struct HttpSession {
    client: AuthorizedHttpClient,
    url: Arc<str>,
    /// Headers on every request (a headless grant's extra headers).
    headers: HashMap<http::HeaderName, http::HeaderValue>,
    negotiated: Mutex<Negotiated>,
    next_id: AtomicI64,
}

impl std::fmt::Debug for HttpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSession").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The outcome of one POST: the server's result, or its JSON-RPC error.
type Answer = Result<serde_json::Value, ErrorData>;

impl HttpSession {
    /// Opens a session: `initialize`, the version check, `notifications/initialized`.
    pub async fn connect(
        client: AuthorizedHttpClient,
        url: &str,
        headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> Result<HttpSession, Error> {
        let session = HttpSession {
            client,
            url: url.into(),
            headers,
            negotiated: Mutex::new(Negotiated {
                session_id: None,
                version: super::PROPOSED_VERSION,
            }),
            next_id: AtomicI64::new(0),
        };
        session.initialize().await?;
        Ok(session)
    }

    /// The version the server answered `initialize` with.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.negotiated().version
    }

    fn negotiated(&self) -> Negotiated {
        self.negotiated.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn next_id(&self) -> RequestId {
        RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// `initialize` (again, after an expired session), then `notifications/initialized`.
    async fn initialize(&self) -> Result<(), Error> {
        let request = ClientRequest::InitializeRequest(InitializeRequest::new(client_info()));
        let fresh = Negotiated { session_id: None, version: super::PROPOSED_VERSION };
        let (answer, session_id) = self.post_request(request, &fresh).await?;
        let result: InitializeResult = serde_json::from_value(answer.map_err(mcp_error)?)
            .map_err(|e| invalid("initialize", e))?;
        let negotiated = Negotiated {
            session_id: session_id.map(Arc::from),
            version: result.protocol_version.clone(),
        };
        if let Err(e) = check_negotiated(&negotiated.version) {
            self.delete(&negotiated).await;
            return Err(e);
        }
        *self.negotiated.lock().unwrap_or_else(|e| e.into_inner()) = negotiated.clone();
        let initialized = ClientNotification::InitializedNotification(InitializedNotification {
            method: Default::default(),
            extensions: Default::default(),
        });
        let message = ClientJsonRpcMessage::notification(initialized);
        self.post(message, &negotiated).await.map(|_| ()).map_err(Error::from)
    }

    /// Every tool the server offers (all pages, at most [`MAX_TOOL_PAGES`]).
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        let mut tools = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor);
            let request = ClientRequest::ListToolsRequest(ListToolsRequest::with_param(params));
            let page: ListToolsResult = serde_json::from_value(self.request(request).await?)
                .map_err(|e| invalid("tools/list", e))?;
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
        Err(Error::mcp(format!(
            "the MCP server's `tools/list` went on for more than {MAX_TOOL_PAGES} pages"
        )))
    }

    /// Calls a tool.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, Error> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        serde_json::from_value(self.request(request).await?).map_err(|e| invalid("tools/call", e))
    }

    /// One request in the session; an expired session is initialized again and the request
    /// sent once more (the server refused it unprocessed).
    async fn request(&self, request: ClientRequest) -> Result<serde_json::Value, Error> {
        let negotiated = self.negotiated();
        let answer = match self.post_request(request.clone(), &negotiated).await {
            Err(Failed::Expired) if negotiated.session_id.is_some() => {
                self.initialize().await?;
                self.post_request(request, &self.negotiated()).await
            }
            other => other,
        };
        answer?.0.map_err(mcp_error)
    }

    /// POSTs `request` with a new id and reads its answer (and the session id the server gave).
    async fn post_request(
        &self,
        mut request: ClientRequest,
        negotiated: &Negotiated,
    ) -> Result<(Answer, Option<String>), Failed> {
        if !negotiated.version.has_initialize() {
            // 2026-07-28: the lifecycle travels in every request's `_meta`.
            let info = client_info();
            let meta = request.get_meta_mut();
            meta.set_protocol_version(negotiated.version.clone());
            meta.set_client_info(info.client_info);
            meta.set_client_capabilities(info.capabilities);
        }
        let id = self.next_id();
        let message = ClientJsonRpcMessage::request(request, id.clone());
        match self.post(message, negotiated).await? {
            StreamableHttpPostResponse::Json(message, session_id) => {
                match self.answer_of(message, &id, negotiated).await {
                    Some(answer) => Ok((answer, session_id)),
                    None => Err(Failed::Other(Error::mcp(
                        "the MCP server answered with a message that is not the response to the \
                         request"
                            .into(),
                    ))),
                }
            }
            StreamableHttpPostResponse::Sse(mut stream, session_id) => {
                let mut resume = Resumption::default();
                loop {
                    let event = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
                    let ended = match event {
                        Some(Ok(event)) => {
                            let retry = event.retry.map(std::time::Duration::from_millis);
                            resume.saw(event.id.as_deref(), retry);
                            let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                                continue;
                            };
                            resume.message();
                            let message: ServerJsonRpcMessage = serde_json::from_str(&data)
                                .map_err(|e| {
                                    Failed::Other(Error::mcp(format!(
                                        "the MCP server sent an event that is not a JSON-RPC \
                                         message: {e}"
                                    )))
                                })?;
                            if let Some(answer) = self.answer_of(message, &id, negotiated).await {
                                return Ok((answer, session_id));
                            }
                            continue;
                        }
                        Some(Err(e)) => format!(
                            "the MCP server's response stream broke: {}",
                            crate::error::error_chain(&e)
                        ),
                        None => "the MCP server ended the response stream without answering the \
                                 request"
                            .to_owned(),
                    };
                    stream = self.resume(&mut resume, negotiated, ended).await?;
                }
            }
            StreamableHttpPostResponse::Accepted => Err(Failed::Other(Error::mcp(
                "the MCP server accepted the request (202) without answering it".into(),
            ))),
            other => Err(Failed::Other(Error::mcp(format!(
                "the MCP server answered the request in a way this client does not read: \
                 {other:?}"
            )))),
        }
    }

    /// The answer to request `id` in `message`; `None` for anything else (a notification, or a
    /// request of the server, which is answered here).
    async fn answer_of(
        &self,
        message: ServerJsonRpcMessage,
        id: &RequestId,
        negotiated: &Negotiated,
    ) -> Option<Answer> {
        match message {
            ServerJsonRpcMessage::Response(r) if r.id == *id => {
                Some(Ok(serde_json::to_value(r.result).unwrap_or_default()))
            }
            ServerJsonRpcMessage::Error(e) if e.id.as_ref().is_none_or(|i| i == id) => {
                Some(Err(e.error))
            }
            ServerJsonRpcMessage::Request(r) => {
                let reply = match r.request {
                    ServerRequest::PingRequest(_) => {
                        ClientJsonRpcMessage::response(ClientResult::empty(()), r.id)
                    }
                    _ => ClientJsonRpcMessage::error(
                        ErrorData::new(
                            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                            "this client declares no capability for server requests",
                            None,
                        ),
                        Some(r.id),
                    ),
                };
                // Best effort: the request's own answer does not depend on it.
                let _ = self.post(reply, negotiated).await;
                None
            }
            _ => None,
        }
    }

    /// One POST with the session's headers.
    async fn post(
        &self,
        message: ClientJsonRpcMessage,
        negotiated: &Negotiated,
    ) -> Result<StreamableHttpPostResponse, Failed> {
        let mut headers = self.headers.clone();
        let initializing = matches!(
            &message,
            ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::InitializeRequest(_))
        );
        if !initializing {
            // `initialize` gets the proposed version from the authorization layer.
            if let Ok(v) = http::HeaderValue::from_str(negotiated.version.as_str()) {
                headers.insert(PROTOCOL_VERSION_HEADER, v);
            }
        }
        let result = self
            .client
            .post_message_with_response_limits(
                self.url.clone(),
                message,
                negotiated.session_id.clone(),
                None,
                headers,
                StreamableHttpResponseLimits::default(),
            )
            .await;
        match result {
            Ok(response) => Ok(response),
            Err(StreamableHttpError::SessionExpired) => Err(Failed::Expired),
            Err(e) => Err(Failed::Other(self.fail(e))),
        }
    }

    /// The response stream of a request ended (`ended` says how) before its answer: the rest of
    /// it, asked for with its last event id after the server's `retry` time; `ended` as the
    /// error when there is nothing to resume from or streams keep ending without a message.
    async fn resume(
        &self,
        resume: &mut Resumption,
        negotiated: &Negotiated,
        ended: String,
    ) -> Result<BoxedEvents, Failed> {
        let go_on = resume.stream_ended();
        let last = match resume.last_event_id() {
            Some(last) if go_on => last.to_owned(),
            _ => return Err(Failed::Other(Error::mcp(ended))),
        };
        tokio::time::sleep(resume.delay()).await;
        resume.stream_opened();
        self.client
            .get_stream(
                self.url.clone(),
                negotiated.session_id.clone(),
                Some(last.clone()),
                None,
                self.headers.clone(),
            )
            .await
            .map_err(|e| {
                let e = self.fail(e);
                Failed::Other(Error::mcp(format!(
                    "{ended}; resuming it after event `{last}` failed: {e}"
                )))
            })
    }

    /// The error of a failed POST: the authorization's (kept by the client), or the transport's.
    fn fail(&self, e: StreamableHttpError<McpHttpError>) -> Error {
        self.client.take_auth_error().unwrap_or_else(|| Error::mcp_from(e))
    }

    /// Ends the session at the server (DELETE with the session id, when there is one; a server
    /// may refuse with 405, which is fine). Best effort, within 5 s.
    pub async fn close(self) {
        let negotiated = self.negotiated();
        self.delete(&negotiated).await;
    }

    async fn delete(&self, negotiated: &Negotiated) {
        let Some(session_id) = negotiated.session_id.clone() else { return };
        let mut headers = self.headers.clone();
        if let Ok(v) = http::HeaderValue::from_str(negotiated.version.as_str()) {
            headers.insert(PROTOCOL_VERSION_HEADER, v);
        }
        let delete = self.client.delete_session(self.url.clone(), session_id, None, headers);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), delete).await;
        let _ = self.client.take_auth_error();
    }
}

/// Why a POST failed: the session expired (404; the request was not processed), or another
/// error.
enum Failed {
    Expired,
    Other(Error),
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Error {
        match f {
            Failed::Expired => Error::mcp(
                "the MCP server ended the session (404 to a request with its session id)".into(),
            ),
            Failed::Other(e) => e,
        }
    }
}

/// A JSON-RPC error of the server, worded as rmcp words it.
fn mcp_error(e: ErrorData) -> Error {
    Error::mcp_from(rmcp::ServiceError::McpError(e))
}

/// The error of a result that is not of its method's type.
fn invalid(method: &str, e: serde_json::Error) -> Error {
    Error::Mcp {
        message: format!("the MCP server's answer to `{method}` is not a valid result: {e}"),
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_reads_as_rmcp_words_it() {
        let e = mcp_error(ErrorData::new(rmcp::model::ErrorCode(-32602), "Unknown tool: x", None));
        assert_eq!(e.code(), "mcp_failed");
        assert!(e.to_string().contains("Unknown tool: x"), "{e}");
    }

    #[test]
    fn a_result_of_the_wrong_shape_names_the_method() {
        let e = serde_json::from_value::<CallToolResult>(serde_json::json!({"content": 7}))
            .map_err(|e| invalid("tools/call", e))
            .unwrap_err();
        assert!(e.to_string().contains("`tools/call` is not a valid result"), "{e}");
    }
}
