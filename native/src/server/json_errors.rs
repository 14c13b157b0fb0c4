//! Every error response in the JSON error format ([`super::messages`]): the framework's own
//! answers — 404 for an unknown path, 405 for a method a path does not take, and the plain-text
//! rejections of its extractors (a body over the limit: 413, a WebSocket handshake without
//! `Upgrade`: 400, …) — become `{"type": "error", "code": …, "message": …}` with the same status
//! and headers. HTML pages (the callback and consent-link pages, for a person) stay as they are.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::messages::{ChatCode, ChatReply};

/// The largest framework error body carried over into the message.
const MAX_TEXT: usize = 4 * 1024;

/// The router's fallback: no route has this path.
pub(super) async fn not_found(uri: axum::http::Uri) -> Response {
    let r = ChatReply::error(None, ChatCode::NotFound, format!("no such path: {}", uri.path()));
    (StatusCode::NOT_FOUND, Json(r)).into_response()
}

/// The code of an error response with `status` that has none.
fn code_for(status: StatusCode) -> ChatCode {
    match status.as_u16() {
        401 => ChatCode::Unauthenticated,
        404 => ChatCode::NotFound,
        405 => ChatCode::MethodNotAllowed,
        413 => ChatCode::PayloadTooLarge,
        429 => ChatCode::TooManyRequests,
        400..=499 => ChatCode::BadRequest,
        _ => ChatCode::Internal,
    }
}

/// Rewrites an error response that is neither JSON nor an HTML page into the JSON format.
pub(super) async fn to_json(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = code_for(status);
    let message = match (text.is_empty(), code) {
        (false, _) => text,
        (true, ChatCode::MethodNotAllowed) => {
            let allowed = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok());
            format!("method not allowed here (allowed: {})", allowed.unwrap_or("none"))
        }
        (true, _) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::to_vec(&ChatReply::error(None, code, message)).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
