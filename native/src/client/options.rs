//! The options of an [`super::OAuthClient`]: how the browser step happens, and everything
//! [`ClientOptions::new`] defaults.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::ClientConfig;

use super::Progress;
use crate::cache::MetadataCache;
use crate::http::HttpClient;
use crate::store::TokenStore;
use crate::{Clock, Error};

use mcp_oauth_core::url::DEFAULT_REDIRECT_URI;

/// How the user's browser reaches the authorization server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrowserMode {
    /// Open the system browser (`$BROWSER`, else the OS opener); print the URL if that fails.
    Open,
    /// Print the URL for the user to open.
    Print,
    /// Fetch the URL like a browser and follow the authorization server's redirects to the
    /// redirect URI (servers that approve without a user: test servers, CI).
    Follow,
}

/// The application's own way to show the authorization URL ([`ClientOptions::browser_opener`]):
/// open it in an embedded view, send it to a chat, show a QR code... It gets the URL and answers
/// when it has been shown (`Err` with a reason when it could not be: the URL then goes to
/// [`ClientOptions::progress`] as [`Progress::VisitUrl`]). The login then waits for the browser
/// to come back to the redirect URI as usual.
pub type BrowserOpener = Arc<
    dyn Fn(
            String,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Options of an [`OAuthClient`](super::OAuthClient). [`ClientOptions::new`] gives the defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The MCP server URL.
    pub server_url: String,
    /// The redirect URI (`http://localhost:8000/auth/redirect` by default; a loopback URI
    /// without a port listens on 8000, port 0 picks a free port).
    pub redirect_uri: String,
    /// How the client identifies itself (pre-registered, metadata document, dynamic).
    pub client: ClientConfig,
    /// Scopes to request instead of the server's (space-delimited).
    pub scopes: Option<String>,
    /// Per-issuer quirk settings.
    pub policies: Vec<(String, ServerPolicy)>,
    /// The user the tokens belong to (store key).
    pub user: String,
    /// How the browser step happens.
    pub browser: BrowserMode,
    /// How long to wait for the user.
    pub timeout: Duration,
    /// Where tokens live.
    pub store: Arc<dyn TokenStore>,
    /// Shared discovery results.
    pub cache: Arc<MetadataCache>,
    /// The HTTP client for authorization requests.
    pub http: HttpClient,
    /// Progress reports (the CLI prints them on stderr).
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    /// With [`BrowserMode::Open`]: the application opens the authorization URL itself instead
    /// of the system browser ([`crate::redirect::open_browser`]).
    pub browser_opener: Option<BrowserOpener>,
    /// The time source (the system clock by default): token expiry, proactive refresh, the
    /// metadata cache's lifetimes.
    pub clock: Clock,
    /// Signs `private_key_jwt` client assertions (a pre-registered client with that method).
    pub assertion_signer:
        Option<Arc<dyn mcp_oauth_core::token::ClientAssertionSigner + Send + Sync>>,
    /// When tokens are DPoP-bound (RFC 9449; `--dpop`, `dpop:` in YAML). Unless `Never`, each
    /// (user, server) gets an ES256 key ([`crate::dpop`]) kept in its entry.
    pub dpop: mcp_oauth_core::dpop::DpopMode,
    /// Share dynamic client registrations among every user of these options: one registration
    /// per authorization server, kept in the store under this user name (keyed by issuer), as
    /// an application normally has one client per authorization server. `None` (the default):
    /// each user registers their own client.
    pub shared_registrations: Option<String>,
    /// The redirect URI as configured when it names port 0 (any free port), before
    /// [`OAuthClient::new`] makes it concrete: a later run reuses the port its registration used
    /// (RFC 8252 §7.3, [`mcp_oauth_core::registration::loopback_redirect_to_reuse`]).
    pub(crate) any_port_redirect: Option<mcp_oauth_core::url::RedirectUri>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("server_url", &self.server_url)
            .field("redirect_uri", &self.redirect_uri)
            .field("user", &self.user)
            .field("browser", &self.browser)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Defaults: dynamic registration as "mcp-oauth", user "default", browser open, 5 minutes.
    pub fn new(
        server_url: impl Into<String>,
        store: Arc<dyn TokenStore>,
    ) -> Result<ClientOptions, Error> {
        Ok(ClientOptions {
            server_url: server_url.into(),
            redirect_uri: DEFAULT_REDIRECT_URI.to_owned(),
            client: ClientConfig::dynamic("mcp-oauth"),
            scopes: None,
            policies: Vec::new(),
            user: "default".to_owned(),
            browser: BrowserMode::Open,
            timeout: Duration::from_secs(300),
            store,
            cache: MetadataCache::global(),
            http: HttpClient::new()?,
            progress: None,
            browser_opener: None,
            clock: Clock::system(),
            assertion_signer: None,
            dpop: mcp_oauth_core::dpop::DpopMode::Auto,
            shared_registrations: None,
            any_port_redirect: None,
        })
    }
}
