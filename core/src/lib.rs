//! # mcp-oauth-core
//!
//! The sans-IO protocol core of mcp-oauth: the client side of MCP authorization (specification
//! 2026-07-28) and the RFCs it builds on. No sockets, no clock, no randomness, no async, no
//! storage: time comes in as [`time::UnixTime`], random bytes as [`pkce::Entropy`], HTTP goes
//! out as [`http::HttpRequest`] values and comes back as [`http::HttpResponse`] values. The
//! browser package (`mcp-oauth-wasm`) and the native adapter (`mcp-oauth`) drive this same code.
//!
//! ## The flow
//! ```text
//!  MCP request ──401──▶ handle_unauthorized ──▶ www_authenticate (RFC 9110 §11.6.1, RFC 6750 §3)
//!      │                      │ refresh token held? ──▶ token::refresh_request (RFC 6749 §6)
//!      │                      ▼
//!      │        resource_metadata (RFC 9728): header URL, /.well-known/…/<path>, /.well-known/…
//!      │                      ▼            none found ─▶ legacy (2025-03-26: AS = origin)
//!      │        server_metadata (RFC 8414, OIDC Discovery): insert, OIDC insert, OIDC append
//!      │                      ▼
//!      │        registration: pre-registered > metadata document > RFC 7591 (201)
//!      │                      ▼
//!      │        authorize: PKCE S256 (RFC 7636), state, resource (RFC 8707), scope selection
//!      │                      ▼  events: AuthorizationPending (save!), OpenBrowser
//!      │        handle_callback: state, iss (RFC 9207), error ─▶ token::code_exchange_request
//!      │                      ▼  events: TokensUpdated, Authorized
//!      └──────── authorization_header ◀── poll_timeout/handle_timeout: proactive refresh
//!  MCP request ──403 insufficient_scope──▶ handle_forbidden ──▶ step-up (scope union, capped)
//!  every MCP answer ──▶ handle_resource_response ──▶ pass through │ retry │ error (flow/resource.rs)
//! ```
//! Each box is a module of request/process step functions; [`AuthFlow`] only sequences them.
//! Hosts that drive the protocol themselves call the step functions directly.
//!
//! Discovery is its own machine ([`discovery::DiscoveryMachine`]), driven by [`AuthFlow`] and by
//! [`headless::HeadlessFlow`]: headless grants (no user, no browser) sequenced by the core —
//! [`client_credentials`] (RFC 6749 §4.4) with a secret or `private_key_jwt` claims from
//! [`jwt_bearer`] (RFC 7523) that the host signs, and enterprise-managed authorization
//! (SEP-990): [`token_exchange`] (RFC 8693, ID token → ID-JAG at the identity provider), then
//! [`jwt_bearer::jwt_bearer_request`] (ID-JAG → access token).
//!
//! A 401 for tokens held reads the protected-resource metadata again, whatever the cache says
//! (authorization-server binding, MCP SEP-2352): a resource that now names another
//! authorization server drops the old tokens ([`FlowEvent::AuthorizationServerChanged`]) and is
//! authorized at the new one with an identity of its own there (registrations are per issuer;
//! configured credentials stay pinned to their issuer; a metadata-document client id is
//! portable). A transport error, a 5xx or a missing document keeps the known server
//! ([`discovery`]).
//!
//! DPoP (RFC 9449) is [`dpop`]: proof signing inputs (`htu`, `ath`, `nonce`), the JWK
//! thumbprint, `use_dpop_nonce` answers and a per-origin nonce cache; the host signs
//! ([`dpop::DpopSigner`]). With feature `dpop` [`AuthFlow`] uses them (core/src/flow/dpop.rs):
//! proofs on token requests when [`dpop::DpopMode`] says so, the `use_dpop_nonce` retry at the
//! token endpoint and the MCP server, `AuthFlow::resource_request_headers` for MCP requests;
//! [`headless::HeadlessFlow`] the same for the headless grants (core/src/headless/dpop.rs). A
//! host whose signatures are asynchronous (WebCrypto) gives only the public key: the flow holds
//! each token request until the host signed its proof ([`Machine::poll_proof`],
//! core/src/flow/dpop/host.rs).
//!
//! ## Drain contract
//! The same for every machine ([`Machine`]: [`AuthFlow`], [`headless::HeadlessFlow`]), so a
//! host has one drain loop. After every input to an [`AuthFlow`] (`handle_*`,
//! `begin_authorization`, `logout`):
//! 1. drain `poll_request()`, send each request **without following redirects**, and answer with
//!    `handle_response(now, id, response)` (or `handle_transport_error`), draining again;
//! 2. drain `poll_event()`;
//! 3. read `poll_timeout()` and call `handle_timeout(now)` once it has passed.
//!
//! Every `Err` returned by a `handle_*` call is also queued as [`FlowEvent::Failed`].
//!
//! ## Example
//! The whole cold flow against the in-memory servers of the `demo` feature:
//! ```
//! use mcp_oauth_core::demo::{DemoServer, MCP_URL};
//! use mcp_oauth_core::pkce::Entropy;
//! use mcp_oauth_core::registration::ClientConfig;
//! use mcp_oauth_core::time::UnixTime;
//! use mcp_oauth_core::{AuthFlow, FlowConfig, FlowEvent};
//!
//! let mut server = DemoServer::new();
//! let config = FlowConfig::new(
//!     MCP_URL,
//!     "http://localhost:8000/auth/redirect",
//!     ClientConfig::dynamic("my-agent"),
//! )?;
//! let mut flow = AuthFlow::new(config);
//! let now = UnixTime(1_800_000_000); // the host's clock
//! let entropy = Entropy { verifier: [7; 32], state: [9; 32] }; // the host's CSPRNG
//!
//! // The MCP server answered 401: start.
//! flow.handle_unauthorized(now, &server.unauthorized(), entropy)?;
//! let mut browser_url = None;
//! loop {
//!     while let Some(request) = flow.poll_request() {
//!         let response = server.respond(&request); // the host's HTTP client
//!         flow.handle_response(now, request.id, response)?;
//!     }
//!     while let Some(event) = flow.poll_event() {
//!         match event {
//!             FlowEvent::AuthorizationPending(_) => { /* persist flow.snapshot() */ }
//!             FlowEvent::OpenBrowser { url } => browser_url = Some(url),
//!             FlowEvent::TokensUpdated { .. } => { /* persist the tokens */ }
//!             _ => {}
//!         }
//!     }
//!     match browser_url.take() {
//!         // The user consents; the browser comes back to the redirect URI.
//!         Some(url) => flow.handle_callback(now, &server.approve(&url))?,
//!         None => break,
//!     }
//! }
//! let header = flow.authorization_header(now, MCP_URL)?.expect("a token");
//! assert!(server.accepts(&header));
//! assert_eq!(server.requests, 4); // resource metadata, server metadata, registration, token
//! # Ok::<(), mcp_oauth_core::Error>(())
//! ```
//!
//! ## Dependencies, and what was chosen instead
//! `sha2` (PKCE S256) and `thiserror` (error messages) only.
//! - No `serde`/`serde_json`: the protocol needs a small, strict JSON reader and writer
//!   (core/src/json.rs) and one persisted format (core/src/codec.rs); in the browser build serde cost about
//!   37 KB gzipped (105 KB → 68 KB when removed, measured with `scripts/size.sh`).
//! - No `url` crate: its IDNA tables cost about 70 KB gzipped in wasm; [`url`] is a strict
//!   parser for the http(s) URLs OAuth uses.
//! - No `base64`/`form_urlencoded`: a few lines each in core/src/encoding.rs.
//! - No `oauth2` (the design card's crate): it performs its own IO through pluggable HTTP
//!   clients and models a generic OAuth client, while this core needs sans-IO step functions,
//!   MCP's discovery order and per-server policy.
#![deny(missing_docs)]

pub mod authorize;
pub mod client_credentials;
pub(crate) mod codec;
#[cfg(feature = "demo")]
pub mod demo;
pub mod discovery;
pub mod dpop;
pub(crate) mod encoding;
pub mod error;
pub mod flow;
pub mod headless;
pub mod http;
pub(crate) mod json;
pub mod jwt_bearer;
pub mod machine;
pub mod pkce;
pub mod policy;
pub mod registration;
pub mod resource_metadata;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod server_metadata;
pub mod time;
pub mod token;
pub mod token_exchange;
pub mod url;
pub mod www_authenticate;

pub use error::Error;
pub use flow::{AuthFlow, Discovery, FlowConfig, FlowEvent, FlowSnapshot, FlowStatus};
pub use flow::{ResourceDecision, ResourceResponse};
pub use json::cache_max_age;
pub use machine::Machine;

/// Unstable internals for this workspace's adapters, fuzz targets, benches and tests: the
/// JSON reader and the base64 / form / percent encodings. Not part of the API: anything here
/// may change or go away in any release.
#[doc(hidden)]
pub mod __private {
    /// The encodings of core/src/encoding.rs.
    pub mod encoding {
        pub use crate::encoding::*;
    }
    /// The JSON reader of core/src/json.rs.
    pub mod json {
        pub use crate::json::*;
    }
}
