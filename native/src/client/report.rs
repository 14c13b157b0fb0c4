//! What an [`super::OAuthClient`] reports: progress, status (and `status()` itself, with what
//! it answers while a browser login waits), logout, and the MCP server's answer it is handed.

use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::AuthFlow;

use super::OAuthClient;
use crate::Error;

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

impl OAuthClient {
    /// What is held for this user and server.
    /// While a browser login of this client waits for the user, it answers at once with
    /// [`Status::authorization_pending`] set.
    pub async fn status(&self) -> Result<Status, Error> {
        let mut inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(_) => match self.awaiting_status() {
                Some(status) => return Ok(status),
                None => self.inner.lock().await,
            },
        };
        let flow = self.flow(&mut inner).await?;
        Ok(self.status_of(flow))
    }

    pub(super) fn status_of(&self, flow: &AuthFlow) -> Status {
        let tokens = flow.tokens();
        Status {
            server: self.config.server_url.as_str().to_owned(),
            user: self.user.clone(),
            issuer: tokens.map(|(i, _)| i.to_owned()),
            authorized: flow.access_token(self.now()).is_some(),
            expires_at: tokens.and_then(|(_, t)| t.expires_at),
            refreshable: tokens.is_some_and(|(_, t)| t.refresh_token.is_some()),
            scope: tokens.and_then(|(_, t)| t.scope.clone()),
            authorization_pending: None,
        }
    }

    /// What status() answers while a browser login waits, if one does.
    pub(super) fn awaiting_status(&self) -> Option<Status> {
        self.awaiting.lock().unwrap_or_else(|p| p.into_inner()).as_deref().cloned()
    }
}

/// Publishes what `status()` answers while a browser login waits, and withdraws it when the
/// wait ends (by any path: done, failed, timed out, cancelled).
pub(super) struct Awaiting<'a>(&'a std::sync::Mutex<Option<Box<Status>>>);

impl<'a> Awaiting<'a> {
    pub(super) fn set(
        slot: &'a std::sync::Mutex<Option<Box<Status>>>,
        status: Status,
    ) -> Awaiting<'a> {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(status));
        Awaiting(slot)
    }
}

impl Drop for Awaiting<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
