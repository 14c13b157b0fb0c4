//! The MCP server side of the proxy: streamable HTTP (MCP 2025-03-26 to 2026-07-28, "Streamable
//! HTTP"), one POST per message from the host, with the authorization of [`ProxyAuth`].

use std::sync::Mutex;

use bytes::Bytes;
use mcp_oauth_core::flow::resource::operation_key;
use mcp_oauth_core::ResourceDecision;

use super::auth::ProxyAuth;
use crate::client::ResourceAnswer;
use crate::Error;

/// At most this many sends of one message (the core ends every loop; this only bounds a bug).
const MAX_SENDS: usize = 8;

/// The MCP server and what the session with it settled.
pub(super) struct Upstream {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) auth: Option<ProxyAuth>,
    /// `--header` values, on every request.
    pub(super) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `Mcp-Session-Id` the server gave with its answer to `initialize`.
    pub(super) session_id: Mutex<Option<String>>,
    /// The negotiated protocol version (`MCP-Protocol-Version` on every later request).
    pub(super) version: Mutex<Option<String>>,
}

impl Upstream {
    pub(super) fn session_id(&self) -> Option<String> {
        self.session_id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set_session_id(&self, id: Option<String>) {
        *self.session_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    pub(super) fn set_version(&self, v: Option<String>) {
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }

    fn version(&self) -> Option<String> {
        self.version.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends `body` (a POST; `None`: GET of the standing stream, or DELETE of the session)
    /// with authorization: every refusal goes to the core's decision, and the request is sent
    /// again when it says so. `version` overrides the negotiated protocol version (the one an
    /// `initialize` proposes).
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        body: Option<Bytes>,
        version: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        self.send_with(method, body, version, None).await
    }

    /// A GET of an event stream: the standing one, or (`last_event_id`) the rest of a stream
    /// after that event (streamable HTTP, "Resumability and Redelivery").
    pub(super) async fn get_stream(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        self.send_with(reqwest::Method::GET, None, None, last_event_id).await
    }

    async fn send_with(
        &self,
        method: reqwest::Method,
        body: Option<Bytes>,
        version: Option<&str>,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        let operation = operation_key(method.as_str(), body.as_deref().unwrap_or_default());
        let mut token = match &self.auth {
            Some(auth) => auth.access_token().await?,
            None => None,
        };
        for _ in 0..MAX_SENDS {
            let mut req = self.http.request(method.clone(), &self.url);
            for (name, value) in &self.headers {
                req = req.header(name, value);
            }
            if method != reqwest::Method::DELETE {
                let accept = if body.is_some() {
                    "application/json, text/event-stream"
                } else {
                    "text/event-stream"
                };
                req = req.header(http::header::ACCEPT, accept);
            }
            if let Some(id) = self.session_id() {
                req = req.header("mcp-session-id", id);
            }
            if let Some(id) = last_event_id {
                req = req.header("last-event-id", id);
            }
            if let Some(v) = version.map(str::to_owned).or_else(|| self.version()) {
                req = req.header("mcp-protocol-version", v);
            }
            if let (Some(auth), Some(_)) = (&self.auth, &token) {
                for (name, value) in auth.request_headers(method.as_str(), &self.url).await? {
                    req = req.header(name, value);
                }
            }
            if let Some(body) = &body {
                req = req.header(http::header::CONTENT_TYPE, "application/json").body(body.clone());
            }
            let response =
                req.send().await.map_err(|e| Error::transport_from(self.url.clone(), e))?;
            let status = response.status().as_u16();
            let Some(auth) = &self.auth else { return Ok(response) };
            if status != 401 && status != 403 {
                return Ok(response);
            }
            let header = |name: &str| {
                response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
            };
            let www_authenticate = header("www-authenticate");
            let nonce = header(mcp_oauth_core::dpop::NONCE_HEADER);
            let answer = ResourceAnswer {
                status,
                www_authenticate: www_authenticate.as_deref(),
                dpop_nonce: nonce.as_deref(),
            };
            match auth.on_refusal(answer, token.as_ref(), &operation).await? {
                ResourceDecision::Retry => token = auth.access_token().await?,
                _ => return Ok(response),
            }
        }
        Err(Error::mcp(format!(
            "the MCP server refused the request {MAX_SENDS} times after new authorization"
        )))
    }
}
