//! What an [`super::OAuthClient`] reports: progress, status, logout, and the MCP server's
//! answer it is handed.

use mcp_oauth_core::time::UnixTime;

/// What the client is doing, for progress output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// An authorization started; discovery and registration run now.
    Authorizing,
    /// A client was registered dynamically.
    Registered {
        /// Its client id.
        client_id: String,
    },
    /// The browser was opened at this URL.
    BrowserOpened {
        /// The authorization URL.
        url: String,
    },
    /// The user must open this URL.
    VisitUrl {
        /// The authorization URL.
        url: String,
    },
    /// Waiting for the browser to come back to the redirect URI.
    Waiting {
        /// The redirect URI listened on.
        redirect_uri: String,
        /// The time limit.
        timeout_secs: u64,
    },
    /// Following the authorization server's redirects.
    Following,
    /// Authorized.
    Authorized,
    /// The server deviated from a specification in a way the client accepted (for a log).
    Notice {
        /// What happened.
        message: String,
    },
}

/// What the MCP server answered, for [`super::OAuthClient::handle_resource_answer`].
#[derive(Clone, Copy, Debug)]
pub struct ResourceAnswer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` value, if any.
    pub www_authenticate: Option<&'a str>,
    /// The `DPoP-Nonce` value, if any (RFC 9449 §9).
    pub dpop_nonce: Option<&'a str>,
}

/// What [`super::OAuthClient::status`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The MCP server (canonical).
    pub server: String,
    /// The user.
    pub user: String,
    /// The issuer of the tokens held.
    pub issuer: Option<String>,
    /// True when an access token is held and not expired.
    pub authorized: bool,
    /// When the access token expires.
    pub expires_at: Option<UnixTime>,
    /// Whether a refresh token is held.
    pub refreshable: bool,
    /// The granted scope.
    pub scope: Option<String>,
    /// While a browser login of this client waits for the user: the URL they were sent to.
    /// The other members then describe what was held when the login started.
    pub authorization_pending: Option<String>,
}

/// What [`super::OAuthClient::logout`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutReport {
    /// Tokens were held and are now deleted locally.
    pub had_tokens: bool,
    /// The server was asked to revoke them (it has a `revocation_endpoint`).
    pub revoked: bool,
    /// Why revocation failed, when it did (local state is deleted regardless).
    pub revocation_error: Option<String>,
    /// The server does not revoke a token it was sent (`unsupported_token_type`, RFC 7009
    /// §2.2.1; typically a JWT access token): not a failure, the token stays valid at the
    /// server until it expires.
    pub not_revocable: bool,
}
