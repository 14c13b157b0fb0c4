//! The streamable-HTTP layer under rmcp: [`AuthorizedHttpClient`] (see the module docs of
//! [`crate::mcp`]). Moved here from native/src/mcp.rs unchanged.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use mcp_oauth_core::flow::resource::operation_key;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::ResourceDecision;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

use crate::{Error, HeadlessClient, OAuthClient};

/// What authorizes MCP requests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Authorizer {
    /// A user's authorization (code flow, refresh, step-up).
    User(Arc<OAuthClient>),
    /// A headless grant (client credentials, cross-app access, service account).
    Headless(Arc<HeadlessClient>),
}

impl From<Arc<OAuthClient>> for Authorizer {
    fn from(c: Arc<OAuthClient>) -> Self {
        Authorizer::User(c)
    }
}

impl From<Arc<HeadlessClient>> for Authorizer {
    fn from(c: Arc<HeadlessClient>) -> Self {
        Authorizer::Headless(c)
    }
}

impl Authorizer {
    async fn access_token(&self) -> Result<AccessToken, Error> {
        match self {
            // A login another request started is waited for, not reported as pending.
            Authorizer::User(c) => c.access_token_after_login().await,
            Authorizer::Headless(c) => c.access_token().await,
        }
    }

    async fn handle_resource_response(
        &self,
        answer: crate::client::ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
        interactive: bool,
    ) -> Result<ResourceDecision, Error> {
        match self {
            Authorizer::User(c) => {
                c.handle_resource_answer(answer, used, operation, interactive).await
            }
            Authorizer::Headless(c) => c.handle_resource_answer(answer, used).await,
        }
    }

    /// How a request with `token` is authorized: rmcp's Bearer header, or, for a DPoP-bound
    /// token, `Authorization: DPoP` and a fresh proof (RFC 9449 §7.1) from the core.
    async fn request_auth(
        &self,
        method: &str,
        url: &str,
        token: Option<&AccessToken>,
    ) -> Result<RequestAuth, Error> {
        let bearer = RequestAuth { bearer: token.map(|t| t.secret().to_owned()), headers: vec![] };
        if token.is_none() {
            return Ok(bearer);
        }
        let headers = match self {
            Authorizer::User(c) => c.resource_request_headers(method, url).await?,
            Authorizer::Headless(c) => c.resource_request_headers(method, url).await?,
        };
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(DPOP_HEADER)) {
            return Ok(bearer);
        }
        let headers = headers
            .into_iter()
            .map(|(n, v)| {
                let name = http::HeaderName::from_bytes(n.as_bytes())
                    .map_err(|e| Error::Usage(format!("header `{n}`: {e}")))?;
                let value = http::HeaderValue::from_str(&v)
                    .map_err(|e| Error::Usage(format!("header `{n}`: {e}")))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(RequestAuth { bearer: None, headers })
    }
}

const DPOP_HEADER: &str = mcp_oauth_core::dpop::DPOP_HEADER;

/// How one MCP request is authorized: rmcp's bearer token, or headers of our own (DPoP).
#[derive(Clone, Debug, Default)]
pub struct RequestAuth {
    bearer: Option<String>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl RequestAuth {
    /// rmcp's `auth_header` (a Bearer token) and the custom headers with ours added.
    fn split(
        &self,
        custom: &HashMap<http::HeaderName, http::HeaderValue>,
    ) -> (Option<String>, HashMap<http::HeaderName, http::HeaderValue>) {
        let mut headers = custom.clone();
        headers.extend(self.headers.iter().cloned());
        (self.bearer.clone(), headers)
    }

    fn is_dpop(&self) -> bool {
        self.headers.iter().any(|(n, _)| n.as_str().eq_ignore_ascii_case(DPOP_HEADER))
    }
}

/// What a nonce probe repeats of the refused request.
struct Probe<'a> {
    method: reqwest::Method,
    body: Option<Vec<u8>>,
    custom: &'a HashMap<http::HeaderName, http::HeaderValue>,
    session_id: Option<&'a str>,
}

impl<'a> Probe<'a> {
    /// The probe of a POST of `message`.
    fn post(
        message: &ClientJsonRpcMessage,
        custom: &'a HashMap<http::HeaderName, http::HeaderValue>,
        session_id: Option<&'a str>,
    ) -> Probe<'a> {
        Probe {
            method: reqwest::Method::POST,
            body: serde_json::to_vec(message).ok(),
            custom,
            session_id,
        }
    }
}

/// rmcp's HTTP errors with ours.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpHttpError {
    /// reqwest failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// Authorization failed (the typed error is also kept by the client; see
    /// [`AuthorizedHttpClient::take_auth_error`]).
    #[error("{0}")]
    Auth(String),
}

/// An HTTP client for MCP requests: follows no redirects (a bearer token never travels to where
/// a redirect points), 10 s to connect. Cheap to clone: clones share one connection pool.
///
/// Idle connections are reused for at most [`MCP_POOL_IDLE`]: a server may close a persistent
/// connection whenever it is idle (RFC 9112 §9.5), and a request sent as it does fails after it
/// left ("connection closed before message completed", "connection reset"), which is not safe
/// to repeat for a tool call.
pub fn mcp_http_client() -> Result<reqwest::Client, Error> {
    crate::http::client_builder()
        .map_err(|message| Error::transport(String::new(), message))?
        .connect_timeout(std::time::Duration::from_secs(10))
        .pool_idle_timeout(MCP_POOL_IDLE)
        .build()
        .map_err(|e| Error::transport_from(String::new(), e))
}

/// How long an idle connection to an MCP server is kept for reuse ([`mcp_http_client`]): well
/// below the 5 s after which Node's HTTP server, which many MCP servers run on, closes idle
/// connections, with room for a loaded client that reads a response late (the server's idle
/// time starts when it has written the response).
pub const MCP_POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// rmcp's streamable-HTTP client with authorization.
#[derive(Clone)]
pub struct AuthorizedHttpClient {
    http: reqwest::Client,
    auth: Option<Authorizer>,
    interactive: bool,
    last_auth_error: Arc<Mutex<Option<Error>>>,
}

impl AuthorizedHttpClient {
    /// `auth: None` sends requests without a token. `interactive` allows a browser
    /// authorization when no refresh helps.
    pub fn new(auth: Option<Arc<OAuthClient>>, interactive: bool) -> Result<Self, Error> {
        Self::with_authorizer(auth.map(Authorizer::User), interactive)
    }

    /// Like [`AuthorizedHttpClient::new`] with any [`Authorizer`].
    pub fn with_authorizer(auth: Option<Authorizer>, interactive: bool) -> Result<Self, Error> {
        Ok(Self::with_http(auth, interactive, mcp_http_client()?))
    }

    /// Like [`AuthorizedHttpClient::with_authorizer`] over `http`, which many sessions may share
    /// (one connection pool per process: the multi-user server). `http` must follow no
    /// redirects: a token must not travel to where a redirect points ([`mcp_http_client`]).
    pub fn with_http(auth: Option<Authorizer>, interactive: bool, http: reqwest::Client) -> Self {
        AuthorizedHttpClient { http, auth, interactive, last_auth_error: Arc::default() }
    }

    /// The typed error of the last failed authorization, if any.
    pub fn take_auth_error(&self) -> Option<Error> {
        self.last_auth_error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Maps rmcp's error; a request that could not reach the server (connection refused, DNS,
    /// TLS, timeout) is also kept as [`Error::Transport`], so that the session's error names the
    /// URL and the cause, not the transport's internal types.
    fn transport_failed(
        &self,
        server: &str,
        e: StreamableHttpError<reqwest::Error>,
    ) -> StreamableHttpError<McpHttpError> {
        match e {
            // The reqwest error goes with ours as its source; rmcp passes on its text.
            StreamableHttpError::Client(r) => {
                let message = crate::error::error_chain(&r);
                let error = Error::Transport {
                    url: server.to_owned(),
                    message: message.clone(),
                    source: Some(Box::new(r)),
                };
                *self.last_auth_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                StreamableHttpError::Client(McpHttpError::Auth(message))
            }
            other => map_err(other),
        }
    }

    fn auth_failed(&self, e: Error) -> StreamableHttpError<McpHttpError> {
        let msg = e.to_string();
        *self.last_auth_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        StreamableHttpError::Client(McpHttpError::Auth(msg))
    }

    /// Runs `send` with the current token and hands every answer to the core's decision:
    /// pass it through, or send again after what the core ran. The core ends every loop.
    async fn with_auth<T, F, Fut>(
        &self,
        server: &str,
        operation: String,
        probe: Probe<'_>,
        send: F,
    ) -> Result<T, StreamableHttpError<McpHttpError>>
    where
        F: Fn(RequestAuth) -> Fut,
        Fut: Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        let Some(auth) = &self.auth else {
            // Without an authorizer a 401 means: this server needs authorization (exit 4 in
            // the CLI, with the hint to pass --auth), not an MCP failure.
            return match send(RequestAuth::default()).await {
                Err(StreamableHttpError::AuthRequired(_)) => {
                    Err(self
                        .auth_failed(Error::AuthorizationRequired { server: server.to_owned() }))
                }
                other => other.map_err(|e| self.transport_failed(server, e)),
            };
        };
        let mut token: Option<AccessToken> = match auth.access_token().await {
            Ok(t) => Some(t),
            Err(Error::AuthorizationRequired { .. }) => None,
            Err(e) => return Err(self.auth_failed(e)),
        };
        loop {
            let request_auth =
                match auth.request_auth(probe.method.as_str(), server, token.as_ref()).await {
                    Ok(a) => a,
                    Err(e) => return Err(self.auth_failed(e)),
                };
            let result = send(request_auth.clone()).await;
            // rmcp reports a 401 or 403 with a challenge as these errors, and got past
            // authorization when it returns a value.
            let (status, header) = match &result {
                Ok(_) => (200, None),
                Err(StreamableHttpError::AuthRequired(e)) => {
                    (401, Some(&e.www_authenticate_header))
                }
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    (403, Some(&e.www_authenticate_header))
                }
                Err(_) => return result.map_err(|e| self.transport_failed(server, e)),
            };
            let header = header.map(String::as_str);
            // RFC 9449 §9: the nonce is in `DPoP-Nonce`, which rmcp does not pass on.
            let nonce = match header {
                Some(h) if status == 401 && request_auth.is_dpop() && asks_for_nonce(h) => {
                    self.probe_nonce(server, &probe, auth, token.as_ref()).await
                }
                _ => None,
            };
            let answer = crate::client::ResourceAnswer {
                status,
                www_authenticate: header,
                dpop_nonce: nonce.as_deref(),
            };
            let decision = auth
                .handle_resource_response(answer, token.as_ref(), &operation, self.interactive)
                .await;
            match decision {
                Ok(ResourceDecision::Retry) => {}
                Ok(_) => return result.map_err(map_err),
                Err(e) => return Err(self.auth_failed(e)),
            }
            token = match auth.access_token().await {
                Ok(t) => Some(t),
                Err(e) => return Err(self.auth_failed(e)),
            };
        }
    }
}

pub(crate) const PROTOCOL_VERSION_HEADER: http::HeaderName =
    http::HeaderName::from_static("mcp-protocol-version");

/// The headers of a POST with `MCP-Protocol-Version` on `initialize` (streamable HTTP, protocol
/// version header: every request, 2026-07-28 servers refuse the first one without it): the
/// version the request proposes, so header and body agree. rmcp sends `initialize` with no
/// version header and adds the negotiated one to every later request itself.
pub fn with_protocol_version(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<http::HeaderName, http::HeaderValue>,
) -> HashMap<http::HeaderName, http::HeaderValue> {
    if let ClientJsonRpcMessage::Request(request) = message {
        if let ClientRequest::InitializeRequest(init) = &request.request {
            if let Ok(value) = http::HeaderValue::from_str(init.params.protocol_version.as_str()) {
                headers.insert(PROTOCOL_VERSION_HEADER, value);
            }
        }
    }
    headers
}

/// Whether a `WWW-Authenticate` value has a `DPoP` challenge with `error="use_dpop_nonce"`.
fn asks_for_nonce(header: &str) -> bool {
    mcp_oauth_core::www_authenticate::parse(header).is_ok_and(|challenges| {
        challenges.iter().any(|c| {
            c.scheme.eq_ignore_ascii_case("DPoP") && c.param("error") == Some("use_dpop_nonce")
        })
    })
}

impl AuthorizedHttpClient {
    /// The `DPoP-Nonce` of a `use_dpop_nonce` refusal (RFC 9449 §9), which rmcp 3.11 does not
    /// pass on (its errors keep only `WWW-Authenticate`): the refused request is sent again as
    /// it was (a fresh proof with the same nonce, or none), which the server refuses the same
    /// way, and the nonce is read from that answer. Only for this refusal: the server said it
    /// takes no proof without its new nonce, so the repetition is not executed.
    async fn probe_nonce(
        &self,
        server: &str,
        probe: &Probe<'_>,
        auth: &Authorizer,
        token: Option<&AccessToken>,
    ) -> Option<String> {
        let request_auth = auth.request_auth(probe.method.as_str(), server, token).await.ok()?;
        let (_, headers) = request_auth.split(probe.custom);
        let mut req = self
            .http
            .request(probe.method.clone(), server)
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if let Some(id) = probe.session_id {
            req = req.header("Mcp-Session-Id", id);
        }
        if let Some(body) = &probe.body {
            req = req.header(http::header::CONTENT_TYPE, "application/json").body(body.clone());
        }
        let resp = req.send().await.ok()?;
        let nonce = resp.headers().get(mcp_oauth_core::dpop::NONCE_HEADER)?;
        nonce.to_str().ok().map(str::to_owned)
    }
}

/// The operation a message performs, for the step-up count ([`operation_key`]).
fn operation_of(message: &ClientJsonRpcMessage) -> String {
    operation_key("POST", &serde_json::to_vec(message).unwrap_or_default())
}

fn map_err(e: StreamableHttpError<reqwest::Error>) -> StreamableHttpError<McpHttpError> {
    use StreamableHttpError as E;
    match e {
        E::Sse(x) => E::Sse(x),
        E::Io(x) => E::Io(x),
        E::Client(x) => E::Client(McpHttpError::Http(x)),
        E::HttpStatus(x) => E::HttpStatus(x),
        E::UnexpectedEndOfStream => E::UnexpectedEndOfStream,
        E::UnexpectedServerResponse(x) => E::UnexpectedServerResponse(x),
        E::ResponseBodyTooLarge { max_size } => E::ResponseBodyTooLarge { max_size },
        E::UnexpectedContentType(x) => E::UnexpectedContentType(x),
        E::ServerDoesNotSupportSse => E::ServerDoesNotSupportSse,
        E::ServerDoesNotSupportDeleteSession => E::ServerDoesNotSupportDeleteSession,
        E::TokioJoinError(x) => E::TokioJoinError(x),
        E::Deserialize(x) => E::Deserialize(x),
        E::TransportChannelClosed => E::TransportChannelClosed,
        E::MissingSessionIdInResponse => E::MissingSessionIdInResponse,
        E::AuthRequired(x) => E::AuthRequired(x),
        E::InsufficientScope(x) => E::InsufficientScope(x),
        E::ReservedHeaderConflict(x) => E::ReservedHeaderConflict(x),
        E::SessionExpired => E::SessionExpired,
        E::SessionRecoveryTimeout => E::SessionRecoveryTimeout,
        E::ReinitializationFailed(x) => E::ReinitializationFailed(x),
        E::ControlRequestTimeout => E::ControlRequestTimeout,
        other => E::UnexpectedServerResponse(other.to_string().into()),
    }
}

impl StreamableHttpClient for AuthorizedHttpClient {
    type Error = McpHttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let op = operation_of(&message);
        let custom_headers = with_protocol_version(&message, custom_headers);
        let probe = Probe::post(&message, &custom_headers, session_id.as_deref());
        self.with_auth(&uri, op, probe, |auth| {
            let (token, headers) = auth.split(&custom_headers);
            self.http.post_message(uri.clone(), message.clone(), session_id.clone(), token, headers)
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<http::HeaderName, http::HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let op = operation_of(&message);
        let custom_headers = with_protocol_version(&message, custom_headers);
        let probe = Probe::post(&message, &custom_headers, session_id.as_deref());
        self.with_auth(&uri, op, probe, |auth| {
            let (token, headers) = auth.split(&custom_headers);
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                headers,
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let probe = Probe {
            method: reqwest::Method::DELETE,
            body: None,
            custom: &custom_headers,
            session_id: Some(&session_id),
        };
        self.with_auth(&uri, operation_key("DELETE", b""), probe, |auth| {
            let (token, headers) = auth.split(&custom_headers);
            self.http.delete_session(uri.clone(), session_id.clone(), token, headers)
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> Result<
        futures_core::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<Self::Error>,
    > {
        let probe = Probe {
            method: reqwest::Method::GET,
            body: None,
            custom: &custom_headers,
            session_id: session_id.as_deref(),
        };
        self.with_auth(&uri, operation_key("GET", b""), probe, |auth| {
            let (token, headers) = auth.split(&custom_headers);
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers,
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<http::HeaderName, http::HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<
        futures_core::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        StreamableHttpError<Self::Error>,
    > {
        let probe = Probe {
            method: reqwest::Method::GET,
            body: None,
            custom: &custom_headers,
            session_id: session_id.as_deref(),
        };
        self.with_auth(&uri, operation_key("GET", b""), probe, |auth| {
            let (token, headers) = auth.split(&custom_headers);
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                headers,
                max_sse_event_size,
            )
        })
        .await
    }
}
