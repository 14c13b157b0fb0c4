//! The `text/event-stream` bodies of an MCP server's answers, read incrementally (HTML Living
//! Standard, "Server-sent events", §9.2.6 "Interpreting an event stream"): `data` carries one
//! JSON-RPC message per event, `event` tells the HTTP+SSE transport's `endpoint` event from its
//! messages, `id` and `retry` are kept for resuming the stream (the last event ID buffer and the
//! reconnection time). Lines end with CRLF, LF or CR. An event larger than [`MAX_EVENT_BYTES`] is
//! an error, not an unbounded buffer.

use std::time::Duration;

/// The largest event accepted (the data of one JSON-RPC message).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event` field (`None`: the default type, `message`).
    pub event: Option<String>,
    /// The `data` lines joined with `\n`.
    pub data: String,
    /// The last `id` seen (for `Last-Event-ID`).
    pub id: Option<String>,
}

/// An incremental parser: feed bytes, take events.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry: Option<Duration>,
    /// The previous chunk ended with CR: an LF starting the next one belongs to it.
    after_cr: bool,
    pending: usize,
}

/// The stream broke a limit or was not text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event (or one line) is over [`MAX_EVENT_BYTES`].
    #[error("an event of the MCP server's stream is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// A line is not UTF-8 (§9.2.6: the stream is UTF-8).
    #[error("the MCP server's event stream is not UTF-8 text")]
    NotUtf8,
}

impl Parser {
    /// The last event ID buffer: `None` before any `id` field; `Some("")` after an empty one,
    /// which resets it (no `Last-Event-ID` is sent then).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The reconnection time the server set with a `retry` field, if it did.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Feeds `bytes`; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        out.push(event);
                    }
                }
                _ => {
                    self.line.push(b);
                    if self.line.len() + self.pending > MAX_EVENT_BYTES {
                        return Err(SseError::TooLarge);
                    }
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>, SseError> {
        if line.is_empty() {
            // Dispatch (§9.2.6: an event without data is not dispatched).
            self.pending = 0;
            let event = self.event.take();
            if !self.has_data {
                return Ok(None);
            }
            self.has_data = false;
            let data = std::mem::take(&mut self.data);
            return Ok(Some(Event { event, data, id: self.last_id.clone() }));
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                self.pending = self.data.len();
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            // §9.2.6: only ASCII digits set the reconnection time (milliseconds); else ignored.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks_and_line_endings() {
        let mut p = Parser::default();
        let mut events = p.feed(b"event: endpoint\r\nid: 7\r\ndata: {\"a\"").unwrap();
        assert!(events.is_empty());
        events.extend(p.feed(b":1}\r").unwrap());
        events.extend(p.feed(b"\n\r\n: comment\ndata:x\ndata: y\n\ndata\n\n").unwrap());
        assert_eq!(
            events,
            vec![
                Event {
                    event: Some("endpoint".into()),
                    data: "{\"a\":1}".into(),
                    id: Some("7".into())
                },
                Event { event: None, data: "x\ny".into(), id: Some("7".into()) },
                Event { event: None, data: String::new(), id: Some("7".into()) },
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut p = Parser::default();
        assert!(p.feed(b"id: 1\n\nretry: 5\n\n").unwrap().is_empty());
        // ... but its id and retry are kept, for resuming the stream.
        assert_eq!(p.last_event_id(), Some("1"));
        assert_eq!(p.retry(), Some(Duration::from_millis(5)));
    }

    #[test]
    fn retry_takes_digits_only_and_an_empty_id_resets() {
        let mut p = Parser::default();
        assert_eq!(p.retry(), None);
        p.feed(b"retry: 250\nretry: 1e3\nretry: -5\nretry:\nretry: 99999999999999999999999\n\n")
            .unwrap();
        assert_eq!(p.retry(), Some(Duration::from_millis(250)), "only `250` was digits in range");
        p.feed(b"id: abc\ndata: {}\n\n").unwrap();
        assert_eq!(p.last_event_id(), Some("abc"));
        p.feed(b"id: x\0y\n\n").unwrap();
        assert_eq!(p.last_event_id(), Some("abc"), "an id with NUL is ignored");
        p.feed(b"id\n\n").unwrap();
        assert_eq!(p.last_event_id(), Some(""), "an empty id resets the buffer");
    }

    #[test]
    fn an_endless_line_is_refused_not_buffered() {
        let mut p = Parser::default();
        let chunk = vec![b'a'; 1024 * 1024];
        let mut result = Ok(vec![]);
        for _ in 0..17 {
            result = p.feed(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::TooLarge));
        // Many data lines that add up likewise.
        let mut p = Parser::default();
        let line = [b"data: ".as_slice(), &vec![b'b'; 1024 * 1024], b"\n"].concat();
        let mut result = Ok(vec![]);
        for _ in 0..17 {
            result = p.feed(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::TooLarge));
    }
}
