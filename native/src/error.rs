//! The native adapter's error: the core's protocol errors, wrapped with what IO adds.

use crate::redirect::RedirectError;
use crate::store::StoreError;

/// Everything that can go wrong in the native adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol rule broke (discovery, registration, callback, tokens...).
    #[error(transparent)]
    Protocol(#[from] mcp_oauth_core::Error),
    /// An HTTP request could not be made or answered.
    #[error("request to {url} failed: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong (with its causes).
        message: String,
        /// The HTTP client's error, where this crate had it (an MCP request's reqwest error);
        /// an authorization request's failure reaches the core as text and has none.
        #[source]
        source: Option<BoxError>,
    },
    /// The egress policy refused a request (nothing was sent).
    #[error(transparent)]
    Egress(#[from] crate::egress::EgressError),
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The redirect could not be received (listener, browser, follow mode).
    #[error(transparent)]
    Redirect(#[from] RedirectError),
    /// No usable token and the user has not authorized yet.
    #[error(
        "not authorized for {server}: no usable tokens are stored, and this request may not start \
         an authorization (it is not interactive)"
    )]
    AuthorizationRequired {
        /// The MCP server URL.
        server: String,
    },
    /// A browser login of this client is waiting for the user; it answers when they are done
    /// (or it times out).
    #[error("an authorization for {server} is waiting for the user in the browser: {url}")]
    AuthorizationPending {
        /// The MCP server URL.
        server: String,
        /// Where the user was sent.
        url: String,
    },
    /// The user did not finish the authorization in time.
    #[error("timed out after {secs} s waiting for the authorization to complete in the browser")]
    Timeout {
        /// The limit.
        secs: u64,
    },
    /// Ctrl-C.
    #[error("cancelled")]
    Cancelled,
    /// The OS random generator failed.
    #[error("the operating system's random generator failed: {0}")]
    Entropy(String),
    /// The MCP session failed.
    #[error("MCP error: {message}")]
    Mcp {
        /// What went wrong (with its causes).
        message: String,
        /// rmcp's (or the transport's, or the JSON decoder's) error, when there was one.
        #[source]
        source: Option<BoxError>,
    },
    /// A transport kind that cannot carry authorization.
    #[error(
        "the sse transport does not support authentication; use streamable-http for servers \
         that need authorization"
    )]
    SseNotSupported,
    /// A stdio MCP server's command could not start, or ended (MCP transports: stdio).
    #[error("MCP server command `{command}`: {message}")]
    McpCommand {
        /// The command as configured.
        command: String,
        /// What happened (with the last lines the server wrote to stderr, when any).
        message: String,
    },
    /// A `private_key_jwt` key could not be read.
    #[error(transparent)]
    PrivateKey(#[from] crate::signer::KeyError),
    /// The configuration file is invalid (the message names the YAML path).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Bad options.
    #[error("{0}")]
    Usage(String),
}

/// The error a [`Error::Transport`] or [`Error::Mcp`] keeps as its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Error {
    /// A transport failure described by `message`, without a source.
    pub fn transport(url: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Transport { url: url.into(), message: message.into(), source: None }
    }

    /// A transport failure caused by `source` (its chain becomes the message).
    pub fn transport_from(
        url: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Transport {
            url: url.into(),
            message: error_chain(&source),
            source: Some(Box::new(source)),
        }
    }

    /// An MCP failure described by `message`, without a source.
    pub fn mcp(message: String) -> Error {
        Error::Mcp { message, source: None }
    }

    /// An MCP failure caused by `source` (its chain becomes the message).
    pub fn mcp_from(source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Mcp { message: error_chain(&source), source: Some(Box::new(source)) }
    }
}

impl From<mcp_oauth_core::url::UrlError> for Error {
    fn from(e: mcp_oauth_core::url::UrlError) -> Self {
        Error::Protocol(e.into())
    }
}

impl Error {
    /// The stable code: the core's code for protocol errors, a native one otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Protocol(e) => e.code(),
            Error::Transport { .. } => "transport_failed",
            Error::Egress(e) => e.code(),
            Error::Store(_) => "storage_failed",
            Error::Redirect(e) => e.code(),
            Error::AuthorizationRequired { .. } => "authorization_required",
            Error::AuthorizationPending { .. } => "authorization_pending",
            Error::Timeout { .. } => "authorization_timed_out",
            Error::Cancelled => "cancelled",
            Error::Entropy(_) => "entropy_unavailable",
            Error::Mcp { .. } => "mcp_failed",
            Error::SseNotSupported => "sse_not_supported",
            Error::McpCommand { .. } => "mcp_command_failed",
            Error::PrivateKey(_) => "private_key_invalid",
            Error::Config(_) => "config_invalid",
            Error::Usage(_) => "usage",
        }
    }
}

/// The error and its sources, `: `-joined, each source's text once (reqwest's and rmcp's own
/// messages hide the cause behind "error sending request"). The one chain formatter of the crate.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("inner: refused")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn mcp_errors_keep_their_source() {
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = super::Error::mcp_from(json);
        assert_eq!(e.code(), "mcp_failed");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
        assert!(std::error::Error::source(&super::Error::mcp("plain".into())).is_none());
    }

    #[test]
    fn error_chain_joins_sources_once() {
        let e = Outer(Inner(std::io::Error::other("refused")));
        assert_eq!(super::error_chain(&e), "outer: inner: refused");
    }
}
