//! The MCP server's answers as the proxy reads them: a JSON body, or an SSE stream of messages
//! (streamable HTTP, "Sending Messages to the Server", "Listening for Messages from the
//! Server"), and where a stream stopped, so that it can be resumed.
//!
//! Resuming (streamable HTTP, "Resumability and Redelivery"): a server that gives its events
//! ids can be asked for the rest of a stream that ended or broke, with a GET carrying
//! `Last-Event-ID`, after the reconnection time its `retry` field set. Since MCP 2025-11-25
//! (SEP-1699) a server may close a request's stream before it answers once it has sent an event
//! id, so a client that does not resume loses the answer. [`Cursor`] keeps what that needs
//! across the streams of one answer.

use std::time::Duration;

use super::sse;
use crate::Error;

/// Reconnection time when the server set none (HTML, "Server-sent events": a user-agent-defined
/// value "probably in the region of a few seconds").
pub(super) const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// The longest wait before a reconnection, whatever the server's `retry` asks.
pub(super) const MAX_RETRY: Duration = Duration::from_secs(30);

/// Resumptions in a row that bring no message before the proxy gives up on a stream (a server
/// that closes every stream at once is not waited on forever).
pub(super) const MAX_IDLE_RESUMES: u32 = 3;

/// Where the event streams of one answer stopped.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    /// The last event id the server sent (`Last-Event-ID` of the next GET), if any.
    pub(super) last_event_id: Option<String>,
    /// The reconnection time the server set.
    pub(super) retry: Option<Duration>,
    /// Messages handed on from the stream read last.
    pub(super) messages: usize,
}

impl Cursor {
    /// How long to wait before resuming.
    pub(super) fn delay(&self) -> Duration {
        self.retry.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY)
    }

    /// Takes the stream's last event ID buffer and reconnection time (an empty id resets the
    /// buffer: nothing to resume from).
    fn update(&mut self, parser: &sse::Parser) {
        match parser.last_event_id() {
            Some("") => self.last_event_id = None,
            Some(id) => self.last_event_id = Some(id.to_owned()),
            None => {}
        }
        if let Some(retry) = parser.retry() {
            self.retry = Some(retry);
        }
    }
}

/// True when `response` is an SSE stream.
pub(super) fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Hands each message of a successful answer to `f`: the JSON body, or the data of each event
/// of an SSE stream (until the server ends it or it breaks); nothing for 202. `cursor` learns
/// where an SSE stream stopped and counts the messages.
pub(super) async fn for_each_message(
    mut response: reqwest::Response,
    cursor: &mut Cursor,
    mut f: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    cursor.messages = 0;
    if response.status().as_u16() == 202 {
        return Ok(());
    }
    if !is_event_stream(&response) {
        let body = read_capped(response, super::MAX_MESSAGE_BYTES).await?;
        if super::trim(&body).is_empty() {
            return Ok(());
        }
        cursor.messages = 1;
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
            cursor.update(&parser);
            for event in events? {
                let message = matches!(event.event.as_deref(), None | Some("message"));
                if message && !event.data.trim().is_empty() {
                    cursor.messages += 1;
                    f(event.data.as_bytes())?;
                }
            }
        }
    }
    .await;
    cursor.update(&parser);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_keeps_the_last_id_and_caps_the_servers_retry() {
        let mut cursor = Cursor::default();
        assert_eq!(cursor.delay(), DEFAULT_RETRY, "no retry field: the default");
        let mut parser = sse::Parser::default();
        parser.feed(b"id: 7\nretry: 86400000\ndata: \n\n").unwrap();
        cursor.update(&parser);
        assert_eq!(cursor.last_event_id.as_deref(), Some("7"));
        assert_eq!(cursor.delay(), MAX_RETRY, "a day's retry is capped");
        // A later stream without ids keeps the last one; an empty id resets it.
        cursor.update(&sse::Parser::default());
        assert_eq!(cursor.last_event_id.as_deref(), Some("7"));
        let mut parser = sse::Parser::default();
        parser.feed(b"id\nretry: 0\n\n").unwrap();
        cursor.update(&parser);
        assert_eq!(cursor.last_event_id, None, "nothing to resume from");
        assert_eq!(cursor.delay(), Duration::ZERO);
    }
}
