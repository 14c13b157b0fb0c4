//! The MCP server's answers as the proxy reads them: a JSON body, or an SSE stream of messages
//! (streamable HTTP, "Sending Messages to the Server", "Listening for Messages from the
//! Server"), and where a stream stopped, so that it can be resumed.
//!
//! Resuming a stream that ended or broke follows [`crate::mcp::resume`].

use super::sse;
use crate::mcp::resume::Resumption;
use crate::Error;

/// True when `response` is an SSE stream.
pub(super) fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Hands each message of a successful answer to `f`: the JSON body, or the data of each event
/// of an SSE stream (until the server ends it or it breaks); nothing for 202. `resume` learns
/// where an SSE stream stopped and counts the messages.
pub(super) async fn for_each_message(
    mut response: reqwest::Response,
    resume: &mut Resumption,
    mut f: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    if response.status().as_u16() == 202 {
        return Ok(());
    }
    if !is_event_stream(&response) {
        let body = read_capped(response, super::MAX_MESSAGE_BYTES).await?;
        if super::trim(&body).is_empty() {
            return Ok(());
        }
        resume.message();
        return f(&body);
    }
    let mut parser = sse::Parser::default();
    let result = async {
        loop {
            let chunk = response.chunk().await.map_err(|e| {
                Error::mcp(format!(
                    "the MCP server's event stream broke: {}",
                    crate::error::error_chain(&e)
                ))
            })?;
            let Some(chunk) = chunk else { return Ok(()) };
            let events = parser.feed(&chunk).map_err(|e| Error::mcp(e.to_string()));
            // Where the stream got to, also when this chunk broke a limit.
            resume.saw(parser.last_event_id(), parser.retry());
            for event in events? {
                let message = matches!(event.event.as_deref(), None | Some("message"));
                if message && !event.data.trim().is_empty() {
                    resume.message();
                    f(event.data.as_bytes())?;
                }
            }
        }
    }
    .await;
    resume.saw(parser.last_event_id(), parser.retry());
    result
}

/// An SSE response read event by event.
pub(super) struct SseReader {
    pub(super) response: reqwest::Response,
    pub(super) parser: sse::Parser,
    /// Events parsed and not yet taken (newest last).
    pub(super) ready: Vec<sse::Event>,
}

impl SseReader {
    pub(super) async fn next(&mut self) -> Result<Option<sse::Event>, Error> {
        while self.ready.is_empty() {
            let chunk = self.response.chunk().await.map_err(|e| {
                Error::mcp(format!(
                    "the MCP server's event stream broke: {}",
                    crate::error::error_chain(&e)
                ))
            })?;
            let Some(chunk) = chunk else { return Ok(None) };
            let mut events = self.parser.feed(&chunk).map_err(|e| Error::mcp(e.to_string()))?;
            events.reverse();
            self.ready = events;
        }
        Ok(self.ready.pop())
    }
}

/// The body of `response`, refused past `limit` bytes.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        Error::mcp(format!("reading the MCP server's answer: {}", crate::error::error_chain(&e)))
    })? {
        if body.len() + chunk.len() > limit {
            return Err(Error::mcp(format!(
                "the MCP server's answer is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
