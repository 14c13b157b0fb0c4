//! The MCP transport: rmcp (the official Rust MCP SDK) over streamable HTTP, with this crate's
//! authorization plugged into rmcp's HTTP layer. [`AuthorizedHttpClient`] implements rmcp's
//! `StreamableHttpClient` by delegating to rmcp's reqwest client and adding the bearer token.
//! Every answer goes to the core's decision (core/src/flow/resource.rs, through
//! [`OAuthClient::handle_resource_response`]): pass it through, or retry after what the core
//! ran (a refresh, an authorization, a step-up), or fail with the core's error.
//!
//! Protocol versions (MCP lifecycle: version negotiation; streamable HTTP: protocol version
//! header). The client starts with `initialize`, proposing [`PROPOSED_VERSION`], and sends
//! `MCP-Protocol-Version` on every HTTP request: on `initialize` the proposed version (added here,
//! [`with_protocol_version`]: rmcp adds none on its first request), afterwards the version the
//! server answered (rmcp adds it to every later request, the `initialized` notification, the GET
//! stream and the DELETE included). An answer outside [`SUPPORTED_VERSIONS`] ends the connection
//! ([`check_negotiated`]). Sessions and the GET stream are optional: rmcp opens the GET stream and
//! sends DELETE only when the server gave an `Mcp-Session-Id`, and accepts a server that gives
//! none (stateless), as 2026-07-28 servers are.
//!
//! Why this stays in our HTTP layer under rmcp rather than in our own streamable-HTTP client: the
//! only thing rmcp 3.11 got wrong for these servers is the missing header on the first request,
//! which is one header on one message; everything else (SSE responses, JSON-RPC correlation,
//! pagination, cancellation, the negotiated header on later requests) rmcp does and tests.
//!
//! Why `initialize` and not 2026-07-28's `server/discover` (rmcp's `ClientLifecycleMode::Auto`):
//! 2026-07-28 replaced the handshake with `server/discover` and per-request `_meta`, and rmcp
//! falls back to `initialize` only on a correlated JSON-RPC error. Servers before 2026 answer the
//! probe with HTTP 400 and an uncorrelated error instead: the MCP TypeScript SDK 1.x refuses
//! `MCP-Protocol-Version: 2026-07-28` as unsupported, and a stateful server refuses a request
//! without a session. A 2026-07-28 server that serves older clients too answers `initialize` once
//! it carries the header (tests/peers/mcp.mjs with `MCP_STRICT_2026=1` imitates one). So `initialize` proposes the newest version that has
//! the handshake (2025-11-25) and reaches servers from 2025-03-26 to 2026-07-28; should a server
//! answer `initialize` with 2026-07-28 itself, rmcp continues with per-request `_meta`.
//!
//! DPoP (RFC 9449 §7): for a DPoP-bound token the request carries `Authorization: DPoP <token>`
//! and a fresh proof from the core ([`OAuthClient::resource_request_headers`]) as our own headers,
//! and rmcp's Bearer header is left out. A `use_dpop_nonce` refusal (§9) needs the answer's
//! `DPoP-Nonce`, which rmcp 3.11's errors do not carry: the refused request is repeated as it
//! was (with a fresh proof and the same missing or stale nonce, so the server refuses it again)
//! to read the nonce, and the core then decides on the retry with it. A transport that hands us
//! the response headers would save that request.

mod streamable_http;

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};

pub use streamable_http::{
    mcp_http_client, with_protocol_version, AuthorizedHttpClient, Authorizer, McpHttpError,
    RequestAuth, MCP_POOL_IDLE,
};

use crate::{Error, OAuthClient};

/// How an MCP server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Streamable HTTP (MCP 2025-03-26 and later): supports authorization.
    StreamableHttp,
    /// The deprecated HTTP+SSE transport: no authorization.
    Sse,
    /// A local process: needs no authorization.
    Stdio,
}

/// Refuses authorization on a transport that cannot carry it (MCP: SSE has no authorization;
/// stdio needs none).
pub fn check_transport(kind: TransportKind, wants_auth: bool) -> Result<(), Error> {
    match (kind, wants_auth) {
        (TransportKind::Sse, true) => Err(Error::SseNotSupported),
        _ => Ok(()),
    }
}

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
    Err(Error::Mcp(format!(
        "the MCP server speaks protocol version {version}, which this client does not support \
         (it supports {})",
        supported.join(", ")
    )))
}

/// An MCP session over streamable HTTP.
pub struct McpSession {
    service: RunningService<RoleClient, ClientConfig>,
    client: AuthorizedHttpClient,
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
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        if let Some(Authorizer::Headless(h)) = &auth {
            let mut headers = HashMap::new();
            for (name, value) in h.extra_headers() {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| Error::Usage(format!("header `{name}`: {e}")))?;
                let value = http::HeaderValue::from_str(value)
                    .map_err(|e| Error::Usage(format!("header `{name}`: {e}")))?;
                headers.insert(name, value);
            }
            config = config.custom_headers(headers);
        }
        let client = AuthorizedHttpClient::with_http(auth, interactive, http);
        let transport = StreamableHttpClientTransport::with_client(client.clone(), config);
        match client_info().serve(transport).await {
            Ok(service) => {
                let version = service.peer_info().map(|info| info.protocol_version.clone());
                let session = McpSession { service, client };
                match version {
                    Some(v) => match check_negotiated(&v) {
                        Ok(()) => Ok(session),
                        Err(e) => {
                            session.close().await;
                            Err(e)
                        }
                    },
                    None => Ok(session),
                }
            }
            Err(e) => Err(client
                .take_auth_error()
                .unwrap_or_else(|| Error::Mcp(crate::error::error_chain(&e)))),
        }
    }

    /// The protocol version the server answered `initialize` with.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.service.peer_info().map(|info| info.protocol_version.clone())
    }

    /// Every tool the server offers (all pages).
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        self.service.list_all_tools().await.map_err(|e| self.fail(&e))
    }

    /// Calls a tool.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, Error> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        self.service.call_tool(params).await.map_err(|e| self.fail(&e))
    }

    fn fail(&self, e: &dyn std::error::Error) -> Error {
        self.client.take_auth_error().unwrap_or_else(|| Error::Mcp(crate::error::error_chain(e)))
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
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
    fn sse_with_auth_is_refused() {
        let e = check_transport(TransportKind::Sse, true).unwrap_err();
        assert_eq!(e.code(), "sse_not_supported");
        assert!(e.to_string().contains("use streamable-http"));
        assert!(check_transport(TransportKind::Sse, false).is_ok());
        assert!(check_transport(TransportKind::Stdio, true).is_ok(), "stdio needs none");
        assert!(check_transport(TransportKind::StreamableHttp, true).is_ok());
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
