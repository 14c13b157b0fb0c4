//! The JSON messages of the WebSocket (`/ws`) and HTTP (`/v1/chat`) interfaces.
//!
//! Requests (client → server), the same on both:
//! ```json
//! {"id": "1", "server": "demo", "action": "list_tools"}
//! {"id": "2", "server": "demo", "action": "call_tool", "tool": "echo", "arguments": {"text": "hi"}}
//! ```
//! Replies (server → client), `type` first:
//! ```json
//! {"type": "result", "id": "1", "result": {"tools": [...]}}
//! {"type": "oauth_required", "id": "2", "server": "demo", "user": "Alice",
//!  "url": "https://…/auth/start/…", "request_id": "…", "expires_in": 300}
//! {"type": "pending", "id": "2", "request_id": "…"}                       (HTTP polling only)
//! {"type": "error", "id": "2", "code": "oauth_denied", "message": "…"}
//! ```
//! A request that waited for consent is answered by any replica, for a while after it finished
//! (native/src/server/results.rs): `GET /v1/chat/{request_id}?wait=<s>` over HTTP, and over the
//! WebSocket (also after a reconnect, to any replica):
//! ```json
//! {"type": "resume", "id": "7", "request_id": "…"}   → the request's reply when it is ready
//! {"type": "cancel", "id": "8", "request_id": "…"}   → the consent ends as `oauth_cancelled`
//! ```
//! (`POST /v1/chat/{request_id}/cancel` over HTTP). Both answer with the request's final reply.
//! Error codes: `unauthenticated` (401), `bad_request`, `unknown_server`, `unknown_request`,
//! `oauth_denied` (the user refused), `oauth_failed` (the callback or code exchange failed),
//! `oauth_timeout` (no consent in time), `oauth_cancelled` (409: the user closed the consent
//! window, or the client cancelled), `store_unavailable` (Redis down: retry later),
//! `mcp_failed`, `forbidden_origin` (403: a WebSocket from another origin),
//! `too_many_requests` (429: too many requests of this user running or waiting for consent),
//! `payload_too_large` (413: a body or WebSocket message over the limit), `not_found` (404: no
//! such path), `method_not_allowed` (405), `internal`.
//!
//! `url` of `oauth_required` is the server's own one-time consent link (`/auth/start/{id}`):
//! hand it to the requesting user only.

use serde::{Deserialize, Serialize};

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct ChatRequest {
    /// Echoed in every reply (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The MCP server's configured name.
    pub server: String,
    /// The operation.
    #[serde(flatten)]
    pub action: Action,
}

/// An MCP operation.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// `tools/list` (all pages).
    ListTools,
    /// `tools/call`.
    CallTool {
        /// The tool's name.
        tool: String,
        /// Its arguments (a JSON object).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

/// A WebSocket message about an earlier request (module docs).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Control {
    /// Sends the reply of request `request_id` when it is ready.
    Resume {
        /// Echoed in the answer (absent: the answer carries the request's own `id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The request, from its `oauth_required`.
        request_id: String,
    },
    /// Ends the consent request `request_id` waits for as `oauth_cancelled`.
    Cancel {
        /// Echoed in the answer (absent: the answer carries the request's own `id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The request, from its `oauth_required`.
        request_id: String,
    },
}

/// A WebSocket message: a request, or (with a `type`) a [`Control`] message.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Incoming {
    /// A new request.
    Request(ChatRequest),
    /// About an earlier request.
    Control(Control),
}

impl Incoming {
    /// Reads a WebSocket text message; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Incoming, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the request JSON is invalid: {e}"))?;
        if value.get("type").is_some() {
            serde_json::from_value(value)
                .map(Incoming::Control)
                .map_err(|e| format!("the message is invalid: {e} (types: resume, cancel)"))
        } else {
            serde_json::from_value(value)
                .map(Incoming::Request)
                .map_err(|e| format!("the request JSON is invalid: {e}"))
        }
    }
}

/// What the server answers.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChatReply {
    /// The operation's result (`{"tools": [...]}` or the MCP `CallToolResult`).
    Result {
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The result.
        result: serde_json::Value,
    },
    /// The user must consent at `url`; the request completes after the callback.
    OauthRequired {
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The MCP server's name.
        server: String,
        /// The user the consent is for (the requesting user).
        #[serde(default)]
        user: String,
        /// The one-time consent link to open (in a popup); it leads to the authorization server.
        url: String,
        /// Poll `GET /v1/chat/{request_id}` for the outcome, on any replica (over the
        /// WebSocket the outcome arrives on the socket; `resume` asks for it again).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// Seconds the consent may take.
        expires_in: u64,
    },
    /// Still waiting for consent (HTTP polling).
    Pending {
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The pending request.
        request_id: String,
    },
    /// The operation failed.
    Error {
        /// The request's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The stable code (see the module docs).
        code: String,
        /// What went wrong.
        message: String,
    },
}

impl ChatReply {
    /// An error reply.
    pub fn error(id: Option<String>, code: ChatCode, message: impl Into<String>) -> ChatReply {
        ChatReply::Error { id, code: code.code().to_owned(), message: message.into() }
    }

    /// The same reply with `id` set (error replies made before the request was read).
    pub fn with_id(mut self, new_id: Option<String>) -> ChatReply {
        match &mut self {
            ChatReply::Result { id, .. }
            | ChatReply::OauthRequired { id, .. }
            | ChatReply::Pending { id, .. }
            | ChatReply::Error { id, .. } => *id = new_id,
        }
        self
    }

    /// The HTTP status of this reply.
    pub fn status(&self) -> u16 {
        match self {
            ChatReply::Result { .. } => 200,
            ChatReply::OauthRequired { .. } | ChatReply::Pending { .. } => 202,
            ChatReply::Error { code, .. } => ChatCode::parse(code).map_or(500, ChatCode::status),
        }
    }
}

/// The `code` of an error reply (module docs), with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChatCode {
    /// 401: no identity, or one that does not verify.
    Unauthenticated,
    /// 400: the request is not valid JSON or misses a field.
    BadRequest,
    /// 404: no MCP server of that name is configured.
    UnknownServer,
    /// 404: no request with that id.
    UnknownRequest,
    /// 403: the user refused consent.
    OauthDenied,
    /// 502: the callback or the code exchange failed.
    OauthFailed,
    /// 408: no consent in time.
    OauthTimeout,
    /// 409: the consent was cancelled (its window closed, or the client cancelled).
    OauthCancelled,
    /// 503: the shared store is unreachable; retry later.
    StoreUnavailable,
    /// 502: the MCP server failed or refused.
    McpFailed,
    /// 403: a WebSocket from another origin.
    ForbiddenOrigin,
    /// 429: too many requests of this user (or in all) running or waiting for consent.
    TooManyRequests,
    /// 413: a body or WebSocket message over the limit.
    PayloadTooLarge,
    /// 404: no such path.
    NotFound,
    /// 405: the path does not take this method.
    MethodNotAllowed,
    /// 500: a bug or a dropped task.
    Internal,
}

impl ChatCode {
    const ALL: [ChatCode; 16] = [
        ChatCode::Unauthenticated,
        ChatCode::BadRequest,
        ChatCode::UnknownServer,
        ChatCode::UnknownRequest,
        ChatCode::OauthDenied,
        ChatCode::OauthFailed,
        ChatCode::OauthTimeout,
        ChatCode::OauthCancelled,
        ChatCode::StoreUnavailable,
        ChatCode::McpFailed,
        ChatCode::ForbiddenOrigin,
        ChatCode::TooManyRequests,
        ChatCode::PayloadTooLarge,
        ChatCode::NotFound,
        ChatCode::MethodNotAllowed,
        ChatCode::Internal,
    ];

    /// The code as sent (listed in `mcp_oauth_core::error::HOST_CODES`).
    pub fn code(&self) -> &'static str {
        match self {
            ChatCode::Unauthenticated => "unauthenticated",
            ChatCode::BadRequest => "bad_request",
            ChatCode::UnknownServer => "unknown_server",
            ChatCode::UnknownRequest => "unknown_request",
            ChatCode::OauthDenied => "oauth_denied",
            ChatCode::OauthFailed => "oauth_failed",
            ChatCode::OauthTimeout => "oauth_timeout",
            ChatCode::OauthCancelled => "oauth_cancelled",
            ChatCode::StoreUnavailable => "store_unavailable",
            ChatCode::McpFailed => "mcp_failed",
            ChatCode::ForbiddenOrigin => "forbidden_origin",
            ChatCode::TooManyRequests => "too_many_requests",
            ChatCode::PayloadTooLarge => "payload_too_large",
            ChatCode::NotFound => "not_found",
            ChatCode::MethodNotAllowed => "method_not_allowed",
            ChatCode::Internal => "internal",
        }
    }

    /// The HTTP status of a reply with this code.
    pub fn status(self) -> u16 {
        match self {
            ChatCode::Unauthenticated => 401,
            ChatCode::BadRequest => 400,
            ChatCode::UnknownServer | ChatCode::UnknownRequest | ChatCode::NotFound => 404,
            ChatCode::MethodNotAllowed => 405,
            ChatCode::OauthDenied | ChatCode::ForbiddenOrigin => 403,
            ChatCode::OauthTimeout => 408,
            ChatCode::OauthCancelled => 409,
            ChatCode::PayloadTooLarge => 413,
            ChatCode::TooManyRequests => 429,
            ChatCode::StoreUnavailable => 503,
            ChatCode::McpFailed | ChatCode::OauthFailed => 502,
            ChatCode::Internal => 500,
        }
    }

    /// The code named `code`, if it is one.
    pub fn parse(code: &str) -> Option<ChatCode> {
        ChatCode::ALL.into_iter().find(|c| c.code() == code)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Action, ChatCode, ChatReply, Control, Incoming};

    #[test]
    fn websocket_messages_are_requests_or_controls() {
        let r = Incoming::parse(r#"{"id":"1","server":"demo","action":"list_tools"}"#).unwrap();
        assert!(matches!(r, Incoming::Request(req) if req.action == Action::ListTools));
        let c = Incoming::parse(r#"{"type":"resume","request_id":"ab"}"#).unwrap();
        assert_eq!(c, Incoming::Control(Control::Resume { id: None, request_id: "ab".into() }));
        let c = Incoming::parse(r#"{"type":"cancel","id":"9","request_id":"ab"}"#).unwrap();
        let want = Control::Cancel { id: Some("9".into()), request_id: "ab".into() };
        assert_eq!(c, Incoming::Control(want));
        let e = Incoming::parse(r#"{"type":"explode","request_id":"ab"}"#).unwrap_err();
        assert!(e.contains("explode") && e.contains("resume, cancel"), "{e}");
        let e = Incoming::parse(r#"{"type":"cancel"}"#).unwrap_err();
        assert!(e.contains("request_id"), "{e}");
        let e = Incoming::parse("{").unwrap_err();
        assert!(e.contains("JSON is invalid"), "{e}");
    }

    #[test]
    fn every_code_round_trips_with_its_status() {
        for code in ChatCode::ALL {
            assert_eq!(ChatCode::parse(code.code()), Some(code));
            let reply = ChatReply::error(None, code, "m");
            assert_eq!(reply.status(), code.status());
        }
        assert_eq!(ChatCode::parse("nope"), None);
        let unknown = ChatReply::Error { id: None, code: "nope".into(), message: "m".into() };
        assert_eq!(unknown.status(), 500);
    }
}
