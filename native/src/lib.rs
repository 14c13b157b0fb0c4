//! # mcp-oauth (native)
//!
//! The native adapter of mcp-oauth: it drives the sans-IO core ([`mcp_oauth_core`], re-exported
//! as [`core`]) with real IO — reqwest for HTTP (rustls with the ring provider in each client's
//! own TLS configuration, never installed as the process default, which stays the
//! application's; redirects never followed, timeouts, bodies capped at 1 MiB), the system clock,
//! and OS randomness — and adds
//! what a native host needs around it: token stores ([`store`]), the redirect handling of a
//! single user ([`redirect`]: loopback listener, browser opener, follow mode), a process-wide
//! metadata cache ([`cache`]), the per-user [`OAuthClient`] with single-flight refresh, the
//! headless [`HeadlessClient`] ([`headless`]: client credentials, cross-app access, service
//! accounts), `private_key_jwt` signing ([`signer`]), the DPoP key ([`dpop`], RFC 9449), the YAML configuration file ([`config`]),
//! the MCP transport ([`mcp`], feature `rmcp`), the `mcp-oauth` CLI (feature `cli`), and the
//! multi-user server mode ([`server`], feature `server`; shared Redis store with feature `redis`).
//!
//! It adds no protocol logic: every rule lives in the core. Design-card choices: `oauth2` is not
//! used (the core is the OAuth client); `getrandom` provides the entropy; `reqwest` the HTTP.
//! Client assertions are signed with `ring` (already linked for rustls) and PEM keys read with
//! `rustls-pki-types` (also already linked) rather than `jsonwebtoken`, whose current release
//! brings a second crypto stack (aws-lc-rs or the RustCrypto RSA/P-256 crates) for one signature
//! call. The configuration file is read with `serde_yaml_ng` (three small crates) and walked by
//! hand so that errors carry YAML paths.
#![deny(missing_docs)]

pub use mcp_oauth_core as core;

pub mod cache;
pub mod client;
pub mod config;
pub mod dpop;
mod drive;
pub mod egress;
pub mod error;
pub mod headless;
pub mod http;
pub mod log;
#[cfg(feature = "rmcp")]
pub mod mcp;
pub mod redirect;
#[cfg(feature = "server")]
pub mod server;
pub mod signer;
pub mod store;

pub use cache::MetadataCache;
pub use client::{BrowserMode, ClientOptions, LogoutReport, OAuthClient, Progress, Status};
pub use error::Error;
pub use headless::{AssertionSource, HeadlessClient, HeadlessGrant, HeadlessOptions};
pub use http::HttpClient;
pub use mcp_oauth_core::registration::ClientConfig;
/// The rmcp version this crate's MCP transport is built on (feature `rmcp`): use its types from
/// here rather than pinning a matching `rmcp` yourself.
#[cfg(feature = "rmcp")]
pub use rmcp;
pub use store::{FileStore, MemoryStore, StoreError, TokenStore};

/// The current time from the system clock, as the core wants it.
pub(crate) fn now() -> mcp_oauth_core::time::UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    mcp_oauth_core::time::UnixTime(secs)
}

/// 64 bytes from the operating system's CSPRNG, as PKCE verifier and `state` entropy.
pub(crate) fn entropy() -> Result<mcp_oauth_core::pkce::Entropy, Error> {
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).map_err(|e| Error::Entropy(e.to_string()))?;
    Ok(mcp_oauth_core::pkce::Entropy::from_bytes(&bytes))
}
