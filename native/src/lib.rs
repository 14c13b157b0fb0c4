//! # mcp-oauth
//!
//! OAuth 2 authorization for MCP clients (the MCP authorization specification 2026-07-28):
//! discovery of the authorization server, client registration, PKCE, the browser step, tokens
//! stored per (user, server, issuer) and refreshed single-flight, step-up on 403, DPoP, and the
//! headless grants. The protocol rules live in the sans-IO core, re-exported as [`core`]; this
//! crate drives it with tokio, reqwest (rustls in each client's own TLS configuration: the
//! process-wide crypto provider stays the application's), the system clock and OS randomness.
//!
//! ## Quick start: log in with the browser, keep the tokens, call tools
//!
//! A loopback redirect URI with port 0 takes a free port for the browser's way back; the tokens
//! land in an encrypted `FileStore` (feature `file-store`, default) and the next run needs no browser.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcp_oauth::mcp::McpSession;
//! use mcp_oauth::store::KeySource;
//! use mcp_oauth::{ClientOptions, FileStore, OAuthClient};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "https://mcp.example.com/mcp";
//! let dir = std::path::PathBuf::from("/home/me/.local/share/my-agent");
//! // The key: MCP_OAUTH_STORE_KEY, else a key file made (mode 0600) beside the directory.
//! let store = Arc::new(FileStore::open(&dir, KeySource::Default(dir.clone()))?);
//! let mut options = ClientOptions::new(url, store)?;
//! options.redirect_uri = "http://127.0.0.1:0/callback".into();
//! let client = Arc::new(OAuthClient::new(options)?);
//! // `true`: a request that needs the user may open the browser and wait for the callback.
//! let session = McpSession::connect(url, Some(client), true).await?;
//! for tool in session.list_tools().await? {
//!     println!("{}", tool.name);
//! }
//! session.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## The same flow, step by step, against in-memory servers
//!
//! Everything below runs: the authorization requests go to the core's in-memory demo servers
//! through an [`http::HttpTransport`] of the application's own (a real application passes
//! nothing, or its own reqwest client with [`HttpClient::from_reqwest`]), and the user's
//! browser is played by the demo. [`OAuthClient::start_authorization`] gives the URL to send the
//! user to; [`OAuthClient::complete_authorization`] takes the URL the browser came back to.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use mcp_oauth::core::demo::{DemoServer, MCP_URL};
//! use mcp_oauth::core::http::{HttpRequest, HttpResponse};
//! use mcp_oauth::http::{HttpTransport, TransportFuture};
//! use mcp_oauth::{ClientOptions, HttpClient, MemoryStore, OAuthClient};
//!
//! struct Demo(Arc<Mutex<DemoServer>>);
//! impl HttpTransport for Demo {
//!     fn send<'a>(&'a self, req: &'a HttpRequest) -> TransportFuture<'a> {
//!         let answer: HttpResponse = self.0.lock().unwrap().respond(req);
//!         Box::pin(async move { Ok(answer) })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let demo = Arc::new(Mutex::new(DemoServer::new()));
//! let mut options = ClientOptions::new(MCP_URL, Arc::new(MemoryStore::new()))?;
//! options.http = HttpClient::from_transport(Arc::new(Demo(Arc::clone(&demo))))?;
//! let client = OAuthClient::new(options)?;
//!
//! let pending = client.start_authorization().await?; // discovery, registration, PKCE
//! let callback = demo.lock().unwrap().approve(&pending.authorization_url); // the user consents
//! client.complete_authorization(pending, &callback).await?; // code → tokens, stored
//!
//! let token = client.access_token().await?;
//! assert!(demo.lock().unwrap().accepts(&format!("Bearer {}", token.secret())));
//! # Ok(())
//! # }
//! ```
//!
//! ## Your own token store
//!
//! [`TokenStore`] has four required methods; the refresh lock across processes is optional.
//! Entries are the core's encoded [`store::StoredEntry`] under a (user, server, issuer) key.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use mcp_oauth::store::{StoreFuture, StoreKey, StoredEntry};
//! use mcp_oauth::{StoreError, TokenStore};
//!
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<StoreKey, StoredEntry>>);
//!
//! impl MapStore {
//!     fn map(&self) -> Result<std::sync::MutexGuard<'_, HashMap<StoreKey, StoredEntry>>, StoreError> {
//!         // A failure of your own backend keeps its error as the source.
//!         self.0.lock().map_err(|e| StoreError::Other(e.to_string().into()))
//!     }
//! }
//!
//! impl TokenStore for MapStore {
//!     fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
//!         Box::pin(async move { Ok(self.map()?.get(key).cloned()) })
//!     }
//!     fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()> {
//!         Box::pin(async move { self.map()?.insert(key.clone(), entry.clone()).map_or(Ok(()), |_| Ok(())) })
//!     }
//!     fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
//!         Box::pin(async move { self.map()?.remove(key).map_or(Ok(()), |_| Ok(())) })
//!     }
//!     fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
//!         Box::pin(async move { Ok(self.map()?.keys().filter(|k| k.user == user).cloned().collect()) })
//!     }
//! }
//!
//! let store: std::sync::Arc<dyn TokenStore> = std::sync::Arc::new(MapStore::default());
//! let options = mcp_oauth::ClientOptions::new("https://mcp.example.com/mcp", store)?;
//! # let _ = options;
//! # Ok::<(), mcp_oauth::Error>(())
//! ```
//!
//! ## Without a user: client credentials
//!
//! ```no_run
//! use mcp_oauth::headless::ClientCredentials;
//! use mcp_oauth::{HeadlessClient, HeadlessGrant, HeadlessOptions};
//!
//! # async fn run() -> Result<(), mcp_oauth::Error> {
//! let secret = std::env::var("MY_CLIENT_SECRET").unwrap_or_default();
//! let client = ClientCredentials::client_secret("my-agent", secret);
//! let grant = HeadlessGrant::ClientCredentials { client };
//! let client = HeadlessClient::new(HeadlessOptions::new("https://mcp.example.com/mcp", grant)?)?;
//! let token = client.access_token().await?; // fetched once, refreshed before it expires
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! ## The sans-IO core by hand
//!
//! Hosts with their own HTTP stack and event loop drive [`core::AuthFlow`] themselves: requests
//! out as values, responses in, time and entropy as arguments. The core's crate documentation
//! starts with a complete example against the same demo servers.
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `rmcp` | yes | the MCP transport (`mcp`) over rmcp, re-exported as `mcp_oauth::rmcp` |
//! | `file-store` | yes | the encrypted `FileStore` and the stores' encryption at rest (AES-GCM) |
//! | `rustls-ring` | yes | TLS of the crate's clients: rustls with ring, in each client's own configuration |
//! | `rustls-aws-lc` | no | the same with aws-lc-rs (without `rustls-ring`) |
//! | `native-tls` | no | the platform's TLS (OpenSSL on Linux; without the two above) |
//! | `config` | no | the YAML configuration loader (`config::Config::load`) |
//! | `cli` | no | the `mcp-oauth` command-line tool (`cargo install mcp-oauth --features cli`) |
//! | `server` | no | the multi-user server (`server`: axum, per-user clients, consent pages) |
//! | `redis`, `mysql`, `s3` | no | shared stores for several server replicas |
//! | `serve` | no | `cli` + `server` + the shared stores: `mcp-oauth serve` |
//! | `zeroize` | no | the core's secrets overwritten when dropped |
//!
//! ## What is inside
//!
//! Token stores ([`store`]), the redirect handling of a single user ([`redirect`]: loopback
//! listener, browser opener, follow mode), a process-wide metadata cache ([`cache`]), the
//! per-user [`OAuthClient`] with single-flight refresh, the headless [`HeadlessClient`]
//! ([`headless`]: client credentials, cross-app access, service accounts), `private_key_jwt`
//! signing ([`signer`]), the DPoP key ([`dpop`], RFC 9449), the configuration's types
//! ([`config`]) and the egress policy of a server that fetches URLs its users name ([`egress`]).
//!
//! Design choices: `oauth2` is not used (the core is the OAuth client); `getrandom` provides the
//! entropy; `reqwest` the HTTP. Client assertions are signed with `ring` (already linked for
//! rustls) and PEM keys read with `rustls-pki-types` (also already linked) rather than
//! `jsonwebtoken`, whose current release brings a second crypto stack (aws-lc-rs or the
//! RustCrypto RSA/P-256 crates) for one signature call. The configuration file is read with
//! `serde_yaml_ng` (three small crates) and walked by hand so that errors carry YAML paths.
#![cfg_attr(docsrs, feature(doc_cfg))]
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
#[cfg(all(feature = "rmcp", feature = "file-store"))]
pub mod proxy;
pub mod redirect;
#[cfg(feature = "server")]
pub mod server;
pub mod signer;
pub mod store;

pub use cache::MetadataCache;
pub use client::{
    BrowserMode, BrowserOpener, ClientOptions, LogoutReport, OAuthClient, Progress, Status,
};
pub use error::Error;
pub use headless::{AssertionSource, HeadlessClient, HeadlessGrant, HeadlessOptions};
pub use http::HttpClient;
pub use mcp_oauth_core::registration::ClientConfig;
/// The rmcp version this crate's MCP transport is built on (feature `rmcp`): use its types from
/// here rather than pinning a matching `rmcp` yourself.
#[cfg(feature = "rmcp")]
pub use rmcp;
#[cfg(feature = "file-store")]
pub use store::FileStore;
pub use store::{MemoryStore, StoreError, TokenStore};

/// Where a client's time comes from ([`ClientOptions::clock`], [`HeadlessOptions::clock`]): the
/// system clock by default, or a function of the application's (a test that moves past a
/// token's expiry without waiting for it). Timeouts that wait (the browser step, HTTP) keep
/// real time.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use mcp_oauth::core::time::UnixTime;
///
/// let t = Arc::new(AtomicU64::new(1_800_000_000));
/// let seen = Arc::clone(&t);
/// let clock = mcp_oauth::Clock::from_fn(move || UnixTime(seen.load(Ordering::Relaxed)));
/// t.fetch_add(3_600, Ordering::Relaxed); // an hour passes
/// assert_eq!(clock.now(), UnixTime(1_800_003_600));
/// ```
#[derive(Clone, Default)]
pub struct Clock(Option<std::sync::Arc<dyn Fn() -> mcp_oauth_core::time::UnixTime + Send + Sync>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// The application's clock.
    pub fn from_fn(
        f: impl Fn() -> mcp_oauth_core::time::UnixTime + Send + Sync + 'static,
    ) -> Clock {
        Clock(Some(std::sync::Arc::new(f)))
    }

    /// The time now, by this clock.
    pub fn now(&self) -> mcp_oauth_core::time::UnixTime {
        match &self.0 {
            Some(f) => f(),
            None => now(),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Clock(application)" } else { "Clock(system)" })
    }
}

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
