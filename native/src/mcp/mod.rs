//! The MCP transport. Streamable HTTP goes through [`AuthorizedHttpClient`], which implements
//! rmcp's `StreamableHttpClient` by delegating to rmcp's reqwest client and adding the bearer
//! token; a session over it is a [`HttpSession`]: one POST per MCP request, no running service
//! (module `requests` says why: memory per open session in the multi-user server). stdio and the old SSE transport run rmcp's service. Every HTTP answer goes to the
//! core's decision (core/src/flow/resource.rs, through [`OAuthClient::handle_resource_response`]):
//! pass it through, or retry after what the core ran (a refresh, an authorization, a step-up), or
//! fail with the core's error.
//!
//! Protocol versions (MCP lifecycle: version negotiation; streamable HTTP: protocol version
//! header). The client starts with `initialize`, proposing [`PROPOSED_VERSION`], and sends
//! `MCP-Protocol-Version` on every HTTP request: on `initialize` the proposed version (added here,
//! [`with_protocol_version`]), afterwards the version the server answered (the `initialized`
//! notification and the DELETE included). An answer outside [`SUPPORTED_VERSIONS`] ends the
//! connection ([`check_negotiated`]). Sessions are optional: the session id goes on every request
//! when the server gave one, and a server that gives none (stateless, as 2026-07-28 servers are)
//! is accepted.
//!
//! What rmcp still does for streamable HTTP: the HTTP requests themselves, SSE response bodies,
//! size limits and the JSON-RPC types; the session's sequence (handshake, correlation, pagination,
//! an expired session) is in `requests`, about 300 lines.
//!
//! Why `initialize` and not 2026-07-28's `server/discover` (rmcp's `ClientLifecycleMode::Auto`):
//! 2026-07-28 replaced the handshake with `server/discover` and per-request `_meta`, and rmcp
//! falls back to `initialize` only on a correlated JSON-RPC error. Servers before 2026 answer the
//! probe with HTTP 400 and an uncorrelated error instead: the MCP TypeScript SDK 1.x refuses
//! `MCP-Protocol-Version: 2026-07-28` as unsupported, and a stateful server refuses a request
//! without a session. A 2026-07-28 server that serves older clients too answers `initialize` once
//! it carries the header (tests/peers/mcp.mjs with `MCP_STRICT_2026=1` imitates one). So `initialize` proposes the newest version that has
//! the handshake (2025-11-25) and reaches servers from 2025-03-26 to 2026-07-28; should a server
//! answer `initialize` with 2026-07-28 itself, every later request carries the lifecycle in its
//! `_meta`.
//!
//! DPoP (RFC 9449 §7): for a DPoP-bound token the request carries `Authorization: DPoP <token>`
//! and a fresh proof from the core ([`OAuthClient::resource_request_headers`]) as our own headers,
//! and rmcp's Bearer header is left out. A `use_dpop_nonce` refusal (§9) needs the answer's
//! `DPoP-Nonce`, which rmcp 3.11's errors do not carry: the refused request is repeated as it
//! was (with a fresh proof and the same missing or stale nonce, so the server refuses it again)
//! to read the nonce, and the core then decides on the retry with it. A transport that hands us
//! the response headers would save that request.

mod requests;
pub(crate) mod resume;
pub mod sse;
pub mod stdio;
mod streamable_http;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::IntoTransport;
use rmcp::{RoleClient, ServiceExt};

pub use requests::{HttpSession, MAX_TOOL_PAGES};
pub use stdio::StdioCommand;
pub use streamable_http::{
    mcp_http_client, with_protocol_version, AuthorizedHttpClient, Authorizer, McpHttpError,
    RequestAuth, MCP_POOL_IDLE,
};

use crate::{Error, OAuthClient};

/// How an MCP server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Streamable HTTP (MCP 2025-03-26 and later): supports authorization.
    StreamableHttp,
    /// The deprecated HTTP+SSE transport: no authorization.
    Sse,
    /// A local process: takes no network authorization.
    Stdio,
}

/// Refuses authorization on a transport that cannot carry it (MCP authorization: it applies to
/// HTTP-based transports; the 2024-11-05 SSE transport has none, and a stdio server takes its
/// credentials from its environment).
pub fn check_transport(kind: TransportKind, wants_auth: bool) -> Result<(), Error> {
    match (kind, wants_auth) {
        (TransportKind::Sse, true) => Err(Error::SseNotSupported),
        (TransportKind::Stdio, true) => Err(Error::Usage(
            "a stdio MCP server runs locally and takes no network authorization (give it \
             credentials through its `env`); leave out --auth and the auth_provider"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Where an MCP server is and how it is reached (`server` of a configuration file's group).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum McpTarget {
    /// Streamable HTTP at this URL.
    StreamableHttp {
        /// The MCP endpoint.
        url: String,
    },
    /// The HTTP+SSE transport of MCP 2024-11-05 at this URL (the SSE stream), without
    /// authorization ([`sse`]).
    Sse {
        /// The SSE endpoint.
        url: String,
    },
    /// A local process speaking MCP on stdin/stdout ([`stdio`]).
    Stdio(StdioCommand),
}

impl McpTarget {
    /// The target of a configuration file's `server`.
    pub fn of(server: &crate::config::ServerConfig) -> Result<McpTarget, Error> {
        use crate::config::Transport;
        let url =
            || server.url.clone().ok_or_else(|| Error::Usage("the server has no `url`".into()));
        Ok(match server.transport {
            Transport::StreamableHttp => McpTarget::StreamableHttp { url: url()? },
            Transport::Sse => McpTarget::Sse { url: url()? },
            Transport::Stdio => McpTarget::Stdio(StdioCommand {
                command: server
                    .command
                    .clone()
                    .ok_or_else(|| Error::Usage("the server has no `command`".into()))?,
                args: server.args.clone(),
                env: server.env.clone(),
                cwd: server.cwd.clone(),
            }),
        })
    }

    /// Its transport.
    pub fn kind(&self) -> TransportKind {
        match self {
            McpTarget::StreamableHttp { .. } => TransportKind::StreamableHttp,
            McpTarget::Sse { .. } => TransportKind::Sse,
            McpTarget::Stdio(_) => TransportKind::Stdio,
        }
    }
}

/// How long a stdio or SSE server has to answer `initialize`.
pub const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// The protocol version this client proposes in `initialize`: the newest that has the
/// `initialize` handshake (2026-07-28 has none; see the module docs).
pub const PROPOSED_VERSION: ProtocolVersion = ProtocolVersion::LATEST_WITH_INITIALIZE;

/// The protocol versions this client accepts from a server, oldest first: every version with
/// streamable HTTP (MCP 2025-03-26 and later) that rmcp knows.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// Accepts the version a server answered `initialize` with when this client supports it (MCP
/// lifecycle: otherwise the client should disconnect).
pub fn check_negotiated(version: &ProtocolVersion) -> Result<(), Error> {
    if SUPPORTED_VERSIONS.contains(version) {
        return Ok(());
    }
    let supported: Vec<&str> = SUPPORTED_VERSIONS.iter().map(ProtocolVersion::as_str).collect();
    Err(Error::mcp(format!(
        "the MCP server speaks protocol version {version}, which this client does not support \
         (it supports {})",
        supported.join(", ")
    )))
}

/// Accepts the version a stdio or SSE server answered `initialize` with: those of
/// [`check_negotiated`] and 2024-11-05, whose transports these are (MCP 2024-11-05, Transports).
fn check_negotiated_local(version: &ProtocolVersion) -> Result<(), Error> {
    if *version == ProtocolVersion::V_2024_11_05 {
        return Ok(());
    }
    check_negotiated(version)
}

/// An MCP session over streamable HTTP, SSE or stdio.
pub struct McpSession {
    inner: Inner,
    /// stdio: the server's process (after `inner`: dropped once the transport is).
    child: Option<stdio::Child>,
}

/// How a session's messages travel.
enum Inner {
    /// Streamable HTTP: one POST per request ([`requests`]).
    Http(HttpSession),
    /// stdio and SSE: rmcp's running service over the stream.
    Service(RunningService<RoleClient, ClientConfig>),
}

impl std::fmt::Debug for McpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSession").finish_non_exhaustive()
    }
}

impl McpSession {
    /// Connects (MCP `initialize`) to `url`, authorizing through `auth` when the server asks.
    pub async fn connect(
        url: &str,
        auth: Option<Arc<OAuthClient>>,
        interactive: bool,
    ) -> Result<McpSession, Error> {
        Self::connect_with(url, auth.map(Authorizer::User), interactive).await
    }

    /// Like [`McpSession::connect`] with any [`Authorizer`]; a headless one's extra headers
    /// (service-account mode) go on every request.
    pub async fn connect_with(
        url: &str,
        auth: Option<Authorizer>,
        interactive: bool,
    ) -> Result<McpSession, Error> {
        Self::connect_over(url, auth, interactive, mcp_http_client()?).await
    }

    /// Like [`McpSession::connect_with`] over `http`, shared with other sessions (see
    /// [`AuthorizedHttpClient::with_http`]).
    pub async fn connect_over(
        url: &str,
        auth: Option<Authorizer>,
        interactive: bool,
        http: reqwest::Client,
    ) -> Result<McpSession, Error> {
        let mut headers = HashMap::new();
        if let Some(Authorizer::Headless(h)) = &auth {
            for (name, value) in h.extra_headers() {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| Error::Usage(format!("header `{name}`: {e}")))?;
                let value = http::HeaderValue::from_str(value)
                    .map_err(|e| Error::Usage(format!("header `{name}`: {e}")))?;
                headers.insert(name, value);
            }
        }
        let client = AuthorizedHttpClient::with_http(auth, interactive, http);
        let session = HttpSession::connect(client, url, headers).await?;
        Ok(McpSession { inner: Inner::Http(session), child: None })
    }

    /// Connects (MCP `initialize`) to `target`: [`McpSession::connect_over`] for streamable
    /// HTTP; an SSE or stdio server takes no `auth` (refused with [`check_transport`]). A stdio
    /// server is started here and stopped by [`McpSession::close`] (or when the session is
    /// dropped).
    pub async fn connect_target(
        target: &McpTarget,
        auth: Option<Authorizer>,
        interactive: bool,
        http: reqwest::Client,
    ) -> Result<McpSession, Error> {
        check_transport(target.kind(), auth.is_some())?;
        match target {
            McpTarget::StreamableHttp { url } => {
                Self::connect_over(url, auth, interactive, http).await
            }
            McpTarget::Sse { url } => {
                let transport = sse::connect(url, http).await?;
                let fail = |m: String| Error::transport(url.clone(), m);
                Self::start(transport, None, fail).await
            }
            McpTarget::Stdio(cmd) => {
                let (child, stdout, stdin) = cmd.spawn()?;
                let transport = AsyncRwTransport::new_client(stdout, stdin);
                let fail =
                    |m: String| Error::McpCommand { command: cmd.command.clone(), message: m };
                Self::start(transport, Some(child), fail).await
            }
        }
    }

    /// `initialize` over a stdio or SSE transport, within [`INITIALIZE_TIMEOUT`].
    async fn start<T, E, A>(
        transport: T,
        child: Option<stdio::Child>,
        fail: impl Fn(String) -> Error,
    ) -> Result<McpSession, Error>
    where
        T: IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let started =
            tokio::time::timeout(INITIALIZE_TIMEOUT, client_info().serve(transport)).await;
        let service = match started {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => {
                let error = match &child {
                    Some(c) => c.exit_error(Duration::from_secs(1)).await,
                    None => None,
                };
                let error = error.unwrap_or_else(|| {
                    fail(format!("`initialize` failed: {}", crate::error::error_chain(&e)))
                });
                if let Some(c) = child {
                    c.stop().await;
                }
                return Err(error);
            }
            Err(_) => {
                if let Some(c) = child {
                    c.stop().await;
                }
                return Err(fail(format!(
                    "no answer to `initialize` within {} s",
                    INITIALIZE_TIMEOUT.as_secs()
                )));
            }
        };
        let version = service.peer_info().map(|info| info.protocol_version.clone());
        let session = McpSession { inner: Inner::Service(service), child };
        if let Some(Err(e)) = version.as_ref().map(check_negotiated_local) {
            session.close().await;
            return Err(e);
        }
        Ok(session)
    }

    /// The process id of a stdio server, while it runs.
    pub fn process_id(&self) -> Option<u32> {
        self.child.as_ref().and_then(stdio::Child::id)
    }

    /// The protocol version the server answered `initialize` with.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        match &self.inner {
            Inner::Http(http) => Some(http.protocol_version()),
            Inner::Service(service) => {
                service.peer_info().map(|info| info.protocol_version.clone())
            }
        }
    }

    /// Every tool the server offers (all pages).
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        match &self.inner {
            Inner::Http(http) => http.list_tools().await,
            Inner::Service(service) => match service.list_all_tools().await {
                Ok(tools) => Ok(tools),
                Err(e) => Err(self.fail(e).await),
            },
        }
    }

    /// Calls a tool.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, Error> {
        let service = match &self.inner {
            Inner::Http(http) => return http.call_tool(name, arguments).await,
            Inner::Service(service) => service,
        };
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        match service.call_tool(params).await {
            Ok(result) => Ok(result),
            Err(e) => Err(self.fail(e).await),
        }
    }

    /// The error of a failed request over rmcp's service: a stdio server's exit, or rmcp's.
    async fn fail(&self, e: rmcp::ServiceError) -> Error {
        if let Some(child) = &self.child {
            if let Some(exit) = child.exit_error(Duration::from_millis(500)).await {
                return exit;
            }
        }
        Error::mcp_from(e)
    }

    /// Ends the session; a stdio server is stopped and waited for ([`stdio::Child::stop`]).
    pub async fn close(self) {
        let McpSession { inner, child } = self;
        match inner {
            Inner::Http(http) => http.close().await,
            Inner::Service(service) => {
                let _ = service.cancel().await;
            }
        }
        if let Some(child) = child {
            child.stop().await;
        }
    }
}

/// How this client introduces itself in `initialize` (MCP lifecycle: `clientInfo`): as
/// mcp-oauth and its version, not as the MCP library underneath.
pub(crate) fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-oauth", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(PROPOSED_VERSION)
}

#[cfg(test)]
mod tests {
    use super::streamable_http::PROTOCOL_VERSION_HEADER;
    use super::*;
    use rmcp::model::{ClientJsonRpcMessage, ClientRequest};

    #[test]
    fn sse_and_stdio_with_auth_are_refused() {
        let e = check_transport(TransportKind::Sse, true).unwrap_err();
        assert_eq!(e.code(), "sse_not_supported");
        assert!(e.to_string().contains("use streamable-http"));
        assert!(check_transport(TransportKind::Sse, false).is_ok());
        let e = check_transport(TransportKind::Stdio, true).unwrap_err();
        assert!(e.to_string().contains("takes no network authorization"), "{e}");
        assert!(check_transport(TransportKind::Stdio, false).is_ok());
        assert!(check_transport(TransportKind::StreamableHttp, true).is_ok());
    }

    #[test]
    fn stdio_and_sse_servers_may_answer_2024_11_05() {
        assert!(check_negotiated_local(&ProtocolVersion::V_2024_11_05).is_ok());
        assert!(check_negotiated_local(&ProtocolVersion::V_2025_11_25).is_ok());
        assert!(check_negotiated(&ProtocolVersion::V_2024_11_05).is_err(), "not over HTTP");
        let future: ProtocolVersion =
            serde_json::from_value(serde_json::json!("2099-01-01")).unwrap();
        assert!(check_negotiated_local(&future).is_err());
    }

    fn initialize() -> ClientJsonRpcMessage {
        let init = rmcp::model::InitializeRequest::new(client_info());
        ClientJsonRpcMessage::request(
            ClientRequest::InitializeRequest(init),
            rmcp::model::RequestId::Number(1),
        )
    }

    #[test]
    fn initialize_carries_the_version_it_proposes() {
        let headers = with_protocol_version(&initialize(), HashMap::new());
        let value = headers.get(&PROTOCOL_VERSION_HEADER).and_then(|v| v.to_str().ok());
        assert_eq!(value, Some("2025-11-25"));
        // A stale value from elsewhere is replaced: header and body must agree.
        let mut stale = HashMap::new();
        stale.insert(PROTOCOL_VERSION_HEADER, http::HeaderValue::from_static("2024-11-05"));
        let headers = with_protocol_version(&initialize(), stale);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[&PROTOCOL_VERSION_HEADER], "2025-11-25");
    }

    #[test]
    fn later_messages_keep_the_negotiated_header_rmcp_sets() {
        let list = ClientJsonRpcMessage::request(
            ClientRequest::ListToolsRequest(rmcp::model::ListToolsRequest::default()),
            rmcp::model::RequestId::Number(2),
        );
        let mut negotiated = HashMap::new();
        negotiated.insert(PROTOCOL_VERSION_HEADER, http::HeaderValue::from_static("2025-03-26"));
        let headers = with_protocol_version(&list, negotiated.clone());
        assert_eq!(headers, negotiated);
        assert!(with_protocol_version(&list, HashMap::new()).is_empty());
    }

    #[test]
    fn client_proposes_the_newest_version_with_initialize() {
        assert_eq!(client_info().protocol_version, ProtocolVersion::V_2025_11_25);
        assert!(client_info().protocol_version.has_initialize());
        assert!(SUPPORTED_VERSIONS.contains(&PROPOSED_VERSION));
    }

    #[test]
    fn negotiated_versions_from_2025_03_26_to_2026_07_28_are_accepted() {
        for v in ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"] {
            let version: ProtocolVersion = serde_json::from_value(serde_json::json!(v)).unwrap();
            assert!(check_negotiated(&version).is_ok(), "{v}");
        }
        for v in ["2024-11-05", "2099-01-01", ""] {
            let version: ProtocolVersion = serde_json::from_value(serde_json::json!(v)).unwrap();
            let e = check_negotiated(&version).unwrap_err();
            assert_eq!(e.code(), "mcp_failed");
            let msg = e.to_string();
            assert!(msg.contains(&format!("protocol version {v}")), "{msg}");
            assert!(msg.contains("2025-03-26, 2025-06-18, 2025-11-25, 2026-07-28"), "{msg}");
        }
    }
}
