//! Resuming an MCP server's event stream (streamable HTTP, "Resumability and Redelivery"): a
//! server that gives its events ids can be asked for the rest of a stream that ended or broke,
//! with a GET carrying `Last-Event-ID`, after the reconnection time its `retry` field set. Since
//! MCP 2025-11-25 (SEP-1699) a server may close a request's stream before it answers once it
//! has sent an event id, so a client that does not resume loses the answer.
//!
//! One policy for the library's MCP session ([`super::HttpSession`]) and the stdio proxy: when
//! to go on, from which event, after how long.

use std::time::{Duration, Instant};

/// Reconnection time when the server set none (HTML, "Server-sent events": user-agent-defined,
/// "probably in the region of a few seconds").
pub(crate) const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// The longest wait before a reconnection, whatever the server's `retry` asks.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(30);

/// Streams in a row that end soon after opening without a message before the client gives up
/// (a server that closes every stream at once is not asked forever).
pub(crate) const MAX_IDLE_STREAMS: u32 = 3;

/// A stream open at least this long counts as progress even without a message.
pub(crate) const QUICK_END: Duration = Duration::from_secs(10);

/// Where the event streams of one answer (or of the standing stream) stopped.
#[derive(Debug)]
pub(crate) struct Resumption {
    last_event_id: Option<String>,
    retry: Option<Duration>,
    /// Messages since the current stream opened.
    messages: usize,
    opened: Instant,
    /// Streams in a row that brought nothing.
    idle: u32,
}

impl Default for Resumption {
    fn default() -> Resumption {
        Resumption {
            last_event_id: None,
            retry: None,
            messages: 0,
            opened: Instant::now(),
            idle: 0,
        }
    }
}

impl Resumption {
    /// An event's `id` field (`None`: it had none; empty: the last event ID buffer is reset, so
    /// there is nothing to resume from) and `retry` field.
    pub(crate) fn saw(&mut self, id: Option<&str>, retry: Option<Duration>) {
        match id {
            Some("") => self.last_event_id = None,
            Some(id) => self.last_event_id = Some(id.to_owned()),
            None => {}
        }
        if retry.is_some() {
            self.retry = retry;
        }
    }

    /// A message of the stream was handed on.
    pub(crate) fn message(&mut self) {
        self.messages += 1;
    }

    /// The id to send as `Last-Event-ID`.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// How long to wait before reconnecting.
    pub(crate) fn delay(&self) -> Duration {
        self.retry.unwrap_or(DEFAULT_RETRY).min(MAX_RETRY)
    }

    /// A new stream opened (the server answered the reconnection).
    pub(crate) fn stream_opened(&mut self) {
        self.messages = 0;
        self.opened = Instant::now();
    }

    /// The current stream ended: whether to reconnect (false after [`MAX_IDLE_STREAMS`] streams
    /// in a row that ended within [`QUICK_END`] of opening without a message).
    pub(crate) fn stream_ended(&mut self) -> bool {
        let quick = self.opened.elapsed() < QUICK_END;
        self.idle = if self.messages == 0 && quick { self.idle + 1 } else { 0 };
        self.idle <= MAX_IDLE_STREAMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_id_caps_the_retry_and_gives_up_on_idle_streams() {
        let mut r = Resumption::default();
        assert_eq!(r.delay(), DEFAULT_RETRY, "no retry field: the default");
        r.saw(Some("7"), Some(Duration::from_secs(86_400)));
        assert_eq!(r.last_event_id(), Some("7"));
        assert_eq!(r.delay(), MAX_RETRY, "a day's retry is capped");
        r.saw(None, None);
        assert_eq!(r.last_event_id(), Some("7"), "an event without id keeps the last one");
        assert_eq!(r.delay(), MAX_RETRY, "and the retry");
        r.saw(Some(""), Some(Duration::ZERO));
        assert_eq!(r.last_event_id(), None, "an empty id: nothing to resume from");
        assert_eq!(r.delay(), Duration::ZERO);

        // A stream that brought a message is progress; idle ones are counted.
        r.message();
        assert!(r.stream_ended());
        for _ in 0..MAX_IDLE_STREAMS {
            r.stream_opened();
            assert!(r.stream_ended());
        }
        r.stream_opened();
        assert!(!r.stream_ended(), "{} idle streams in a row: give up", MAX_IDLE_STREAMS + 1);
        r.stream_opened();
        r.message();
        assert!(r.stream_ended(), "a message starts the count again");
    }
}
