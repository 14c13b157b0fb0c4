//! The HTTP+SSE transport of MCP 2024-11-05 (MCP 2024-11-05, Transports: "HTTP with SSE"),
//! deprecated by streamable HTTP and still run by older servers. Without authorization: the
//! MCP authorization specification applies to streamable HTTP only, and a group with an
//! `auth_provider` is refused by the configuration loader.
//!
//! - The client opens an SSE stream with GET; the server's first event is `endpoint`, whose
//!   data is the URI (usually relative, with a session id) the client POSTs its messages to.
//! - Every JSON-RPC message from the server arrives as a `message` event on that stream; a
//!   POST is answered with 2xx (the TypeScript SDK answers 202) and no JSON-RPC content.
//!
//! The endpoint must have the stream's origin (RFC 6454 §4: scheme, host, port), as the MCP
//! TypeScript SDK's SSE client also demands: a server cannot send this client's messages
//! elsewhere. The stream is read through rmcp's reqwest SSE reader, which caps each event's
//! size; the client follows no redirects ([`super::mcp_http_client`]).

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_core::stream::BoxStream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use rmcp::transport::Transport;
use rmcp::RoleClient;

use crate::Error;

/// How long the server has to send the `endpoint` event after the stream opened.
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

type Events = BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>;

/// rmcp's [`Transport`] over the HTTP+SSE transport.
pub struct SseTransport {
    http: reqwest::Client,
    endpoint: Arc<str>,
    incoming: tokio::sync::mpsc::Receiver<ServerJsonRpcMessage>,
    reader: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseTransport").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// A POST of a message failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SseSendError(String);

fn failed(url: &str, message: impl Into<String>) -> Error {
    Error::transport(url, message)
}

/// Opens the stream at `url` and waits for the `endpoint` event.
pub async fn connect(url: &str, http: reqwest::Client) -> Result<SseTransport, Error> {
    let base = url::Url::parse(url).map_err(|e| failed(url, format!("not a URL: {e}")))?;
    let mut events: Events = http
        .get_stream(url.into(), None, None, None, Default::default())
        .await
        .map_err(|e| failed(url, crate::error::error_chain(&e)))?;
    let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, next_endpoint(&mut events, url))
        .await
        .map_err(|_| {
        failed(
            url,
            format!(
                "no `endpoint` event within {} s: is this an MCP HTTP+SSE endpoint (MCP \
                     2024-11-05)? Streamable-HTTP servers need `transport: streamable-http`",
                ENDPOINT_TIMEOUT.as_secs()
            ),
        )
    })??;
    let endpoint = base
        .join(&endpoint)
        .map_err(|e| failed(url, format!("the `endpoint` event `{endpoint}` is no URI: {e}")))?;
    if endpoint.origin() != base.origin() {
        return Err(failed(
            url,
            format!("the `endpoint` event points to another origin ({endpoint}); refused"),
        ));
    }
    let (tx, incoming) = tokio::sync::mpsc::channel(64);
    let reader = tokio::spawn(read_messages(events, tx));
    Ok(SseTransport { http, endpoint: endpoint.as_str().into(), incoming, reader })
}

/// The data of the first `endpoint` event.
async fn next_endpoint(events: &mut Events, url: &str) -> Result<String, Error> {
    loop {
        match next(events).await {
            None => return Err(failed(url, "the stream ended before the `endpoint` event")),
            Some(Err(e)) => return Err(failed(url, format!("the event stream failed: {e}"))),
            Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                return Ok(event.data.unwrap_or_default().trim().to_owned())
            }
            Some(Ok(_)) => {}
        }
    }
}

async fn next(events: &mut Events) -> Option<Result<sse_stream::Sse, sse_stream::Error>> {
    std::future::poll_fn(|cx| events.as_mut().poll_next(cx)).await
}

/// Hands every `message` event to the session. A message that is not JSON-RPC is skipped, as
/// the MCP SDKs do (they report it and read on); the stream ending ends the session.
async fn read_messages(mut events: Events, tx: tokio::sync::mpsc::Sender<ServerJsonRpcMessage>) {
    while let Some(Ok(event)) = next(&mut events).await {
        if !matches!(event.event.as_deref(), None | Some("message")) {
            continue;
        }
        let Some(data) = event.data else { continue };
        let Ok(message) = serde_json::from_str::<ServerJsonRpcMessage>(&data) else { continue };
        if tx.send(message).await.is_err() {
            return;
        }
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseSendError;

    fn name() -> Cow<'static, str> {
        "sse".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let http = self.http.clone();
        let endpoint = Arc::clone(&self.endpoint);
        async move {
            let body = serde_json::to_vec(&item).map_err(|e| SseSendError(e.to_string()))?;
            let response = http
                .post(&*endpoint)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| SseSendError(format!("POST {endpoint}: {e}")))?;
            if !response.status().is_success() {
                return Err(SseSendError(format!(
                    "POST {endpoint}: HTTP {} (the server refused the message)",
                    response.status()
                )));
            }
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reader.abort();
        self.incoming.close();
        std::future::ready(Ok(()))
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
