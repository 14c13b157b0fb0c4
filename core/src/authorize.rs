//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3; `resource`, RFC 8707
//! §2.1) and the authorization response at the redirect URI (RFC 6749 §4.1.2, RFC 9207).
//!
//! Before redirecting, the client records the expected issuer with the verifier and state in a
//! [`PendingAuthorization`] (MCP 2026-07-28 authorization; RFC 9207 §2.4). It is serialisable
//! so the
//! callback can be completed in another process.
//!
//! Callback checks, in order: the URL is the redirect URI; each parameter appears once
//! (RFC 6749 §3.1); `state` matches in constant time; RFC 9207 §2.4 `iss` — present: must equal
//! the recorded issuer exactly; absent while the server advertised
//! `authorization_response_iss_parameter_supported`: rejected. Only after both checks pass is an
//! `error` parameter acted on (on a mismatch its text is not even carried in the error), then
//! `code` is taken.

use crate::error::OAuthErrorBody;
use crate::pkce::{Entropy, METHOD_S256};
use crate::secret::{constant_time_eq, AuthorizationCode, PkceVerifier, State};
use crate::server_metadata::ServerMetadata;
use crate::time::UnixTime;
use crate::url::{EndpointUrl, RedirectUri, ResourceUrl, Url, UrlError};

/// Parameters the protocol sets, which extra parameters cannot replace.
const PROTECTED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
];

/// What went wrong building an authorization request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// An extra parameter tried to set one the protocol owns.
    #[error(
        "the extra authorization parameter `{0}` is set by the protocol and cannot be overridden"
    )]
    ProtectedParameter(String),
}

impl AuthorizeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ProtectedParameter(_) => "protected_parameter",
        }
    }
}

/// What went wrong at the redirect URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The callback URL does not parse.
    #[error("the callback URL is invalid: {0}")]
    InvalidUrl(UrlError),
    /// The callback came to another URL than the redirect URI.
    #[error("the callback URL `{actual}` is not the redirect URI `{expected}`")]
    RedirectUriMismatch {
        /// The redirect URI.
        expected: String,
        /// The callback's URL without query.
        actual: String,
    },
    /// The query has a malformed escape.
    #[error("the callback URL's query is malformed")]
    MalformedQuery,
    /// RFC 6749 §3.1: parameters must not appear twice.
    #[error("the callback parameter `{0}` appears more than once")]
    DuplicateParameter(String),
    /// No `state` in the callback.
    #[error("the callback has no `state` parameter")]
    MissingState,
    /// `state` differs: possibly a forged or stale callback (RFC 6749 §10.12).
    #[error("the callback's `state` does not match the pending authorization")]
    StateMismatch,
    /// RFC 9207 §2.4: `iss` missing although the server said it sends it.
    #[error("the callback has no `iss` parameter, but the authorization server {expected} advertises it (RFC 9207)")]
    IssuerMissing {
        /// The recorded issuer.
        expected: String,
    },
    /// RFC 9207 §2.4: `iss` differs (mix-up attack); the callback's error text is not used.
    #[error("the callback's `iss` is `{actual}`, expected `{expected}` (possible mix-up attack)")]
    IssuerMismatch {
        /// The recorded issuer.
        expected: String,
        /// The callback's `iss`.
        actual: String,
    },
    /// The user (or the server) denied access.
    #[error("authorization was denied (access_denied){}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    AccessDenied {
        /// `error_description`, as the server sent it.
        description: Option<String>,
    },
    /// Another RFC 6749 §4.1.2.1 error.
    #[error("the authorization server returned an error: {0}")]
    ServerError(OAuthErrorBody),
    /// Neither `code` nor `error`.
    #[error("the callback has no `code` parameter")]
    MissingCode,
}

impl CallbackError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "callback_url_invalid",
            Self::RedirectUriMismatch { .. } => "redirect_uri_mismatch",
            Self::MalformedQuery => "callback_malformed_query",
            Self::DuplicateParameter(_) => "callback_duplicate_parameter",
            Self::MissingState => "state_missing",
            Self::StateMismatch => "state_mismatch",
            Self::IssuerMissing { .. } => "callback_issuer_missing",
            Self::IssuerMismatch { .. } => "callback_issuer_mismatch",
            Self::AccessDenied { .. } => "access_denied",
            Self::ServerError(_) => "authorization_error",
            Self::MissingCode => "code_missing",
        }
    }
}

/// Everything needed to finish an authorization after the redirect, possibly in another
/// process. Holds secrets: store it like tokens. `Debug` leaves out the secrets and the URL
/// (which carries `state`).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// `state` sent.
    pub state: State,
    /// The PKCE verifier.
    pub verifier: PkceVerifier,
    /// The issuer the request went to (RFC 9207 comparison, exact string).
    pub issuer: String,
    /// The token endpoint of that issuer, where the code goes (RFC 9700 §4.4); `None` in
    /// records stored before it was kept.
    pub token_endpoint: Option<EndpointUrl>,
    /// Whether that server promised `iss` in responses.
    pub iss_parameter_supported: bool,
    /// The redirect URI sent.
    pub redirect_uri: RedirectUri,
    /// The `resource` sent (`None` under `danger_omit_resource`).
    pub resource: Option<ResourceUrl>,
    /// The `scope` sent.
    pub scope: Option<String>,
    /// The client id used.
    pub client_id: String,
    /// The full authorization URL, to show or open again.
    pub authorization_url: String,
    /// When it was created.
    pub created_at: UnixTime,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .field("redirect_uri", &self.redirect_uri)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Inputs of one authorization request.
#[derive(Clone, Copy, Debug)]
pub struct AuthorizationParams<'a> {
    /// The server's metadata.
    pub metadata: &'a ServerMetadata,
    /// The client id.
    pub client_id: &'a str,
    /// The redirect URI.
    pub redirect_uri: &'a RedirectUri,
    /// The resource (`None` to omit, per-server danger option).
    pub resource: Option<&'a ResourceUrl>,
    /// The scope to request.
    pub scope: Option<&'a str>,
    /// Per-server extra parameters.
    pub extra_params: &'a [(String, String)],
}

/// Builds the authorization URL and the record to keep until the callback.
pub fn authorization_request(
    params: AuthorizationParams<'_>,
    entropy: &Entropy,
    now: UnixTime,
) -> Result<PendingAuthorization, AuthorizeError> {
    for (name, _) in params.extra_params {
        if PROTECTED_PARAMS.contains(&name.as_str()) {
            return Err(AuthorizeError::ProtectedParameter(name.clone()));
        }
    }
    let verifier = PkceVerifier::from_entropy(&entropy.verifier);
    let state = State::from_entropy(&entropy.state);
    let challenge = verifier.challenge_s256();
    let mut q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", params.client_id),
        ("redirect_uri", params.redirect_uri.as_str()),
    ];
    if let Some(s) = params.scope {
        q.push(("scope", s));
    }
    q.push(("state", state.secret()));
    // RFC 7636 §4.3; MCP: S256 always.
    q.push(("code_challenge", &challenge));
    q.push(("code_challenge_method", METHOD_S256));
    if let Some(r) = params.resource {
        // RFC 8707 §2.1 / MCP: the canonical resource on the authorization request.
        q.push(("resource", r.as_str()));
    }
    for (k, v) in params.extra_params {
        q.push((k, v));
    }
    let url = params.metadata.authorization_endpoint.url().with_query_pairs(&q);
    Ok(PendingAuthorization {
        state,
        verifier,
        issuer: params.metadata.issuer.as_str().to_owned(),
        token_endpoint: Some(params.metadata.token_endpoint.clone()),
        iss_parameter_supported: params.metadata.authorization_response_iss_parameter_supported,
        redirect_uri: params.redirect_uri.clone(),
        resource: params.resource.cloned(),
        scope: params.scope.map(str::to_owned),
        client_id: params.client_id.to_owned(),
        authorization_url: url.to_string(),
        created_at: now,
    })
}

/// Checks the full redirect URL the browser arrived at and returns the code (module docs).
pub fn process_callback(
    pending: &PendingAuthorization,
    callback_url: &str,
) -> Result<AuthorizationCode, CallbackError> {
    let url = Url::parse(callback_url).map_err(CallbackError::InvalidUrl)?;
    let expected = pending.redirect_uri.url();
    if url.origin() != expected.origin() || url.path() != expected.path() {
        return Err(CallbackError::RedirectUriMismatch {
            expected: pending.redirect_uri.as_str().to_owned(),
            actual: url.with_path(url.path()).to_string(),
        });
    }
    let pairs = url.query_pairs().ok_or(CallbackError::MalformedQuery)?;
    // The redirect URI's own query parameters come back too; they are not the server's.
    let own = expected.query_pairs().unwrap_or_default();
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        if own.iter().any(|(ok, ov)| *ok == k && *ov == v) {
            continue;
        }
        params.push((k, v));
    }
    // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    if let Some(i) = crate::json::first_duplicate(params.len(), &|i| params[i].0.as_str()) {
        return Err(CallbackError::DuplicateParameter(params[i].0.clone()));
    }
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    // RFC 6749 §10.12: state binds the response to this user agent; constant-time comparison.
    let state = get("state").ok_or(CallbackError::MissingState)?;
    if !constant_time_eq(state.as_bytes(), pending.state.secret().as_bytes()) {
        return Err(CallbackError::StateMismatch);
    }
    // RFC 9207 §2.4: compare iss exactly; require it when the server advertised it.
    match get("iss") {
        Some(iss) if iss != pending.issuer => {
            return Err(CallbackError::IssuerMismatch {
                expected: pending.issuer.clone(),
                actual: iss.to_owned(),
            })
        }
        None if pending.iss_parameter_supported => {
            return Err(CallbackError::IssuerMissing { expected: pending.issuer.clone() })
        }
        _ => {}
    }
    // RFC 6749 §4.1.2.1: only now is an error response acted on.
    if let Some(error) = get("error") {
        let description = get("error_description").map(str::to_owned);
        if error == "access_denied" {
            return Err(CallbackError::AccessDenied { description });
        }
        return Err(CallbackError::ServerError(OAuthErrorBody {
            error: error.to_owned(),
            error_description: description,
            error_uri: get("error_uri").map(str::to_owned),
        }));
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(AuthorizationCode::new(code)),
        _ => Err(CallbackError::MissingCode),
    }
}

#[cfg(test)]
mod tests;
