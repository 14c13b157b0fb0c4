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
//! {"type": "oauth_required", "id": "2", "server": "demo", "url": "https://as/authorize?...",
//!  "request_id": "…", "expires_in": 300}
//! {"type": "pending", "id": "2", "request_id": "…"}                       (HTTP polling only)
//! {"type": "error", "id": "2", "code": "oauth_denied", "message": "…"}
//! ```
//! Error codes: `unauthenticated` (401), `bad_request`, `unknown_server`, `unknown_request`,
//! `oauth_denied` (the user refused), `oauth_failed` (the callback or code exchange failed),
//! `oauth_timeout` (no consent in time), `store_unavailable` (Redis down: retry later),
//! `mcp_failed`, `forbidden_origin` (403: a WebSocket from another origin),
//! `too_many_requests` (429: too many requests of this user running or waiting for consent),
//! `payload_too_large` (413: a body or WebSocket message over the limit), `internal`.
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

/// What the server answers.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
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
        /// The one-time consent link to open (in a popup); it leads to the authorization server.
        url: String,
        /// Poll `GET /v1/chat/{request_id}` for the outcome (HTTP only; over the WebSocket the
        /// outcome arrives on the socket).
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
    pub fn error(id: Option<String>, code: &str, message: impl Into<String>) -> ChatReply {
        ChatReply::Error { id, code: code.to_owned(), message: message.into() }
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
            ChatReply::Error { code, .. } => match code.as_str() {
                "unauthenticated" => 401,
                "bad_request" => 400,
                "unknown_server" | "unknown_request" => 404,
                "oauth_denied" => 403,
                "oauth_timeout" => 408,
                "payload_too_large" => 413,
                "too_many_requests" => 429,
                "store_unavailable" => 503,
                "mcp_failed" | "oauth_failed" => 502,
                _ => 500,
            },
        }
    }
}
