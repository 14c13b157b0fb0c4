//! The axum handlers of [`MultiUserServer::router`].

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::consent::{StartError, START_PATH};
use super::messages::{ChatCode, ChatReply, ChatRequest, Incoming};
use super::{CallbackPageError, MultiUserServer};
use crate::store::ConsentOutcome;

pub(super) fn router(server: MultiUserServer) -> Router {
    let callback_path = mcp_oauth_core::url::Url::parse(&server.config().redirect_uri)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/auth/redirect".to_owned());
    let limit = server.config().max_message_bytes;
    Router::new()
        .route(&callback_path, get(callback))
        .route(&format!("{START_PATH}/{{id}}"), get(start))
        .route("/ws", get(websocket))
        .route("/v1/chat", post(chat).layer(DefaultBodyLimit::max(limit)))
        .route("/v1/chat/{request_id}", get(poll))
        .route("/v1/chat/{request_id}/cancel", post(cancel))
        .fallback(super::json_errors::not_found)
        .layer(axum::middleware::map_response(super::json_errors::to_json))
        .with_state(server)
}

fn reply(r: ChatReply) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(r)).into_response()
}

fn unauthenticated(e: &super::IdentityError) -> Response {
    let body = serde_json::json!({
        "type": "error",
        "code": ChatCode::Unauthenticated.code(),
        "reason": e.code(),
        "message": e.to_string(),
    });
    (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer")], Json(body)).into_response()
}

async fn chat(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let user = match server.identity().identify(&headers, None).await {
        Ok(u) => u,
        Err(e) => return unauthenticated(&e),
    };
    let body = match body {
        Ok(b) => b,
        // The JSON error format, not the framework's plain-text 413.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reply(ChatReply::error(
                None,
                ChatCode::PayloadTooLarge,
                format!("the body is larger than {} bytes", server.config().max_message_bytes),
            ))
        }
        Err(e) => {
            return reply(ChatReply::error(None, ChatCode::BadRequest, format!("the body: {e}")));
        }
    };
    // JSON only: a cross-site form cannot send it without a CORS preflight.
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !json {
        let r = ChatReply::error(
            None,
            ChatCode::BadRequest,
            "send the request as Content-Type: application/json",
        );
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(r)).into_response();
    }
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reply(ChatReply::error(
                None,
                ChatCode::BadRequest,
                format!("the request JSON is invalid: {e}"),
            ))
        }
    };
    reply(server.chat(&user, request).await)
}

async fn poll(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let user = match server.identity().identify(&headers, None).await {
        Ok(u) => u,
        Err(e) => return unauthenticated(&e),
    };
    let wait = q.get("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(0).min(60);
    reply(server.poll(&user, &request_id, Duration::from_secs(wait)).await)
}

/// `POST /v1/chat/{request_id}/cancel`: the consent ends as `oauth_cancelled`
/// ([`MultiUserServer::cancel`]).
async fn cancel(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
) -> Response {
    let user = match server.identity().identify(&headers, None).await {
        Ok(u) => u,
        Err(e) => return unauthenticated(&e),
    };
    reply(server.cancel(&user, &request_id).await)
}

async fn websocket(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = cross_origin(&headers, server.public_origin()) {
        return refused;
    }
    let user =
        match server.identity().identify(&headers, q.get("session").map(String::as_str)).await {
            Ok(u) => u,
            Err(e) => return unauthenticated(&e),
        };
    // A message over the limit closes the socket (1009) before it is read whole.
    let limit = server.config().max_message_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve_socket(server, user, socket))
}

/// Browsers send `Origin` on WebSocket handshakes and the cookie along with it: a page of another
/// origin must not act as the user (cross-site WebSocket hijacking). Clients that are not
/// browsers send no `Origin`. Behind a proxy that rewrites `Host`, the public URL's origin
/// (`public`) is this server's.
fn cross_origin(headers: &HeaderMap, public: Option<&str>) -> Option<Response> {
    // An `Origin` that is not text (RFC 6454 §7.1: ASCII) matches no origin of this server.
    let origin = headers.get(axum::http::header::ORIGIN)?.to_str().unwrap_or("(not ASCII)");
    if public.is_some_and(|p| p.eq_ignore_ascii_case(origin.trim_end_matches('/'))) {
        return None;
    }
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest.trim_end_matches('/'));
    if origin_host.eq_ignore_ascii_case(host) {
        return None;
    }
    let body = ChatReply::error(
        None,
        ChatCode::ForbiddenOrigin,
        format!("WebSocket from origin {origin} refused: only pages of this server may connect"),
    );
    Some((StatusCode::FORBIDDEN, Json(body)).into_response())
}

/// Each message runs as its own task, within the user's cap of running requests; replies go back
/// through one writer, over a bounded channel.
async fn serve_socket(server: MultiUserServer, user: String, mut socket: WebSocket) {
    // Each running request sends at most two messages (oauth_required, the reply).
    let depth = server.config().max_requests_per_user.saturating_mul(2).max(4);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ChatReply>(depth);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        let _ = tx.try_send(ChatReply::error(None, ChatCode::BadRequest, "send JSON text messages"));
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return,
                };
                let request = match Incoming::parse(&text) {
                    Ok(Incoming::Request(r)) => r,
                    Ok(Incoming::Control(control)) => {
                        // Counted like a request: a resume may wait as long as the consent.
                        let slot = match server.slot(&user) {
                            Ok(slot) => slot,
                            Err(refused) => {
                                let _ = tx.try_send(*refused);
                                continue;
                            }
                        };
                        let (server, user, tx) = (server.clone(), user.clone(), tx.clone());
                        tokio::spawn(async move {
                            let _slot = slot;
                            let _ = tx.send(server.control(&user, control).await).await;
                        });
                        continue;
                    }
                    Err(e) => {
                        let _ = tx.try_send(ChatReply::error(None, ChatCode::BadRequest, e));
                        continue;
                    }
                };
                let slot = match server.slot(&user) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        let _ = tx.try_send((*refused).with_id(request.id));
                        continue;
                    }
                };
                let request_id = match super::random_id() {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = tx.try_send(ChatReply::error(request.id, ChatCode::Internal, e.to_string()));
                        continue;
                    }
                };
                let (server, user, tx) = (server.clone(), user.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let consent_tx = tx.clone();
                    let id = request.id.clone();
                    let tracked = request_id.clone();
                    let reply = server.run_tracked(&user, &request, &tracked, move |c| {
                        let _ = consent_tx.try_send(ChatReply::OauthRequired {
                            id,
                            server: c.server,
                            user: c.user,
                            url: c.url,
                            request_id: Some(request_id),
                            expires_in: c.expires_in,
                        });
                    }).await;
                    let _ = tx.send(reply).await;
                });
            }
            Some(out) = rx.recv() => {
                let text = serde_json::to_string(&out).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `GET /auth/start/{id}`: the consent link. Binds this browser to the authorization and sends
/// it to the authorization server, or says why not.
async fn start(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match server.open_consent_link(&id, &headers).await {
        Ok((authorization_url, cookie)) => (
            StatusCode::SEE_OTHER,
            [
                (axum::http::header::LOCATION, authorization_url),
                (axum::http::header::SET_COOKIE, cookie),
                (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
                (axum::http::header::REFERRER_POLICY, "no-referrer".to_owned()),
            ],
        )
            .into_response(),
        Err(e @ StartError::Store(_)) => {
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again later", &e.to_string(), false)
        }
        Err(e @ StartError::OtherUser) => {
            page(StatusCode::FORBIDDEN, "Not your authorization", &e.to_string(), false)
        }
        Err(e @ StartError::Unidentified) => {
            page(StatusCode::FORBIDDEN, "Sign in first", &e.to_string(), false)
        }
        Err(e) => page(StatusCode::NOT_FOUND, "Link not valid", &e.to_string(), false),
    }
}

async fn callback(
    State(server): State<MultiUserServer>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    match server.complete_callback(q.get("state").map(String::as_str), &raw, &headers).await {
        Ok(ConsentOutcome::Authorized) => page(
            StatusCode::OK,
            "Authorized",
            "You can close this window and return to the application.",
            true,
        ),
        Ok(ConsentOutcome::Failed { code, message }) => page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            &format!("{message} ({code})"),
            true,
        ),
        Err(e @ CallbackPageError::Store(_)) => {
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again later", &e.to_string(), false)
        }
        Err(e @ CallbackPageError::OtherBrowser) => {
            page(StatusCode::FORBIDDEN, "Not your authorization", &e.to_string(), false)
        }
        Err(e) => page(StatusCode::BAD_REQUEST, "Authorization not found", &e.to_string(), false),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page the popup lands on: closes itself when opened by the app (telling the opener),
/// otherwise offers the way back.
fn page(status: StatusCode, title: &str, message: &str, close: bool) -> Response {
    let script = if close {
        "<script>if (window.opener) { try { window.opener.postMessage({type: 'mcp-oauth-done'}, '*'); } catch (e) {} window.close(); }</script>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p><p><a href=\"/\">Return to the application</a></p>{script}</body></html>",
        t = escape(title),
        m = escape(message),
    );
    (status, Html(html)).into_response()
}
