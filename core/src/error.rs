//! Each module has its own `#[non_exhaustive]` error enum whose variants name the rule that
//! broke and carry the values. [`Error`] gathers them for the flow. Every error has a stable
//! string [`Error::code`] shared by Rust and JavaScript.

use crate::authorize::{AuthorizeError, CallbackError};
use crate::registration::RegistrationError;
use crate::resource_metadata::ResourceMetadataError;
use crate::server_metadata::ServerMetadataError;
use crate::token::TokenError;
use crate::token_exchange::TokenExchangeError;
use crate::url::UrlError;
use crate::www_authenticate::ChallengeError;

/// Every code the core's errors report ([`Error::code`], [`crate::url::UrlProblem::code`] and the
/// form decoder's): with [`HOST_CODES`], the one list of error codes shared by Rust and
/// JavaScript. core/tests/error_codes.rs checks that every code the hosts use is listed.
pub const CORE_CODES: &[&str] = &[
    // authorization request and callback (RFC 6749 §4.1, RFC 9207)
    "protected_parameter",
    "callback_url_invalid",
    "redirect_uri_mismatch",
    "callback_malformed_query",
    "callback_duplicate_parameter",
    "state_missing",
    "state_mismatch",
    "callback_issuer_missing",
    "callback_issuer_mismatch",
    "access_denied",
    "authorization_error",
    "code_missing",
    // form bodies (application/x-www-form-urlencoded)
    "form_malformed",
    "form_too_long",
    "form_too_many_pairs",
    // the flow
    "unknown_request",
    "no_pending_authorization",
    "forbidden",
    "step_up_limit_reached",
    "scope_invalid",
    "token_rejected_by_resource",
    "authorization_timed_out",
    "transport_failed",
    "token_for_other_resource",
    "snapshot_invalid",
    "reauthorization_required",
    "not_discovered",
    "conflicting_grants",
    "no_registration",
    "empty_client_name",
    "pending_server_mismatch",
    "pending_client_changed",
    // client registration (RFC 7591) and client identity
    "no_client_identity",
    "no_supported_auth_method",
    "registration_rejected",
    "registration_status",
    "registration_not_json",
    "registration_malformed",
    "registration_missing_field",
    "registration_invalid_field",
    "registration_unsupported_auth_method",
    "registration_secret_expired",
    "registration_missing_secret",
    "credential_issuer_mismatch",
    // protected-resource metadata (RFC 9728)
    "resource_metadata_url_invalid",
    "resource_metadata_status",
    "resource_metadata_not_json",
    "resource_metadata_malformed",
    "resource_metadata_missing_field",
    "resource_metadata_invalid_field",
    "resource_metadata_invalid_url",
    "resource_mismatch",
    "no_authorization_servers",
    "resource_metadata_not_found",
    // authorization-server metadata (RFC 8414)
    "server_metadata_status",
    "server_metadata_not_json",
    "server_metadata_malformed",
    "issuer_mismatch",
    "server_metadata_missing_field",
    "server_metadata_invalid_field",
    "server_metadata_invalid_endpoint",
    "code_response_type_not_supported",
    "pkce_support_not_advertised",
    "pkce_s256_not_supported",
    "server_metadata_not_found",
    "legacy_issuer_origin_mismatch",
    // the token endpoint (RFC 6749 §5)
    "invalid_grant",
    "token_rejected",
    "token_status",
    "token_not_json",
    "token_malformed",
    "token_missing_field",
    "token_invalid_field",
    "unsupported_token_type",
    "missing_client_secret",
    "missing_client_assertion",
    "assertion_signing_failed",
    "workload_assertion_unavailable",
    "client_authentication_required",
    // token exchange (RFC 8693)
    "token_exchange_rejected",
    "token_exchange_status",
    "token_exchange_not_json",
    "token_exchange_malformed",
    "token_exchange_missing_field",
    "token_exchange_invalid_field",
    "issued_token_type_mismatch",
    // DPoP proofs (RFC 9449; core/src/dpop.rs)
    "dpop_url_invalid",
    "dpop_method_invalid",
    "dpop_algorithm_invalid",
    "dpop_no_common_algorithm",
    "dpop_signer_missing",
    "dpop_signing_failed",
    // token revocation (RFC 7009)
    "revocation_rejected",
    "revocation_status",
    // URLs (RFC 3986)
    "url_empty",
    "url_not_absolute",
    "url_unsupported_scheme",
    "url_userinfo",
    "url_empty_host",
    "url_non_ascii_host",
    "url_invalid_host",
    "url_invalid_port",
    "url_invalid_character",
    "url_invalid_percent_escape",
    "url_insecure_scheme",
    "url_fragment",
    "url_query",
    "url_missing_path",
    "url_too_long",
    // WWW-Authenticate (RFC 6750 §3)
    "challenge_malformed",
    "challenge_duplicate_parameter",
    "challenge_too_long",
    "challenge_too_many_parameters",
];

/// The codes the hosts add for what happens outside the core (IO, storage, the browser, the
/// CLI, the multi-user server). A host that reports something the core also names (a
/// transport failure, a timed-out authorization, a missing state) uses the core's code.
pub const HOST_CODES: &[&str] = &[
    // native: the adapter's `Error` (native/src/error.rs), the egress policy (egress.rs)
    "storage_failed",
    "redirect_failed",
    "authorization_required",
    "authorization_pending",
    "cancelled",
    "entropy_unavailable",
    "mcp_failed",
    "sse_not_supported",
    "mcp_command_failed",
    "private_key_invalid",
    "config_invalid",
    "usage",
    "egress_denied",
    "egress_allow_invalid",
    // native: configuration problems (native/src/config.rs)
    "config_yaml",
    "config_io",
    "config_unknown_key",
    "config_wrong_type",
    "config_missing",
    "config_missing_variable",
    "config_bad_interpolation",
    "config_invalid_value",
    "config_pkce_required",
    "config_sse_with_auth",
    "config_stdio_with_auth",
    "config_unknown_auth_provider",
    "config_unknown_group",
    // native server: identity, consent links and the callback page (native/src/server/)
    "session_secret_too_short",
    "hs256_secret_too_short",
    "jwks_issuer_required",
    "jwks_audience_required",
    "http_client",
    "identity_missing",
    "session_invalid",
    "token_invalid",
    "bearer_not_accepted",
    "user_invalid",
    "consent_link_unknown",
    "consent_link_other_user",
    "consent_link_unidentified",
    "store_unavailable",
    "state_unknown",
    "consent_other_browser",
    // native server: the chat API's error replies (native/src/server/messages.rs `ChatCode`)
    "unauthenticated",
    "bad_request",
    "unknown_server",
    "oauth_denied",
    "oauth_failed",
    "oauth_timeout",
    "oauth_cancelled",
    "forbidden_origin",
    "too_many_requests",
    "payload_too_large",
    "not_found",
    "method_not_allowed",
    "internal",
    // JavaScript: the wasm binding (wasm/src/error.rs) and the npm package (pkg/src/*.js)
    "invalid_option",
    "invalid_argument",
    "storage_unavailable",
    "stored_state_invalid",
    "popup_unavailable",
    "popup_blocked",
    "popup_closed",
    "follow_failed",
    "unknown_state",
    "wasm_load_failed",
];

/// Whether `code` is in [`CORE_CODES`] or [`HOST_CODES`].
pub fn is_known_code(code: &str) -> bool {
    CORE_CODES.contains(&code) || HOST_CODES.contains(&code)
}

/// An OAuth error response body (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6749 §4.1.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthErrorBody {
    /// The error code (`invalid_grant`, `access_denied`, ...).
    pub error: String,
    /// Human-readable text from the server.
    pub error_description: Option<String>,
    /// A page about the error.
    pub error_uri: Option<String>,
}

impl OAuthErrorBody {
    /// Reads an error body from a JSON object, when it has a string `error` member.
    pub(crate) fn from_json(obj: &[(String, crate::json::Json)]) -> Option<Self> {
        let get = |k: &str| obj.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.as_str());
        let error = get("error")?.to_owned();
        let text = |k: &str| get(k).map(str::to_owned);
        Some(OAuthErrorBody {
            error,
            error_description: text("error_description"),
            error_uri: text("error_uri"),
        })
    }
}

impl std::fmt::Display for OAuthErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// Misuse of the flow's API, or a state the flow cannot act in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// A response or transport error for a request the flow is not waiting for.
    #[error("no request with id {0} is in flight")]
    UnknownRequest(u64),
    /// A callback arrived but no authorization is pending.
    #[error("no authorization is pending; start one before handling a callback")]
    NoPendingAuthorization,
    /// `handle_forbidden` without `insufficient_scope`.
    #[error("the server refused the request (403) without asking for more scope: {0}")]
    Forbidden(String),
    /// Step-up was asked for too often for one operation.
    #[error(
        "step-up authorization for `{operation}` was already tried {attempts} times; the server \
         still asks for scope \"{scope}\""
    )]
    StepUpLimitReached {
        /// The operation that kept asking for scope.
        operation: String,
        /// Attempts made.
        attempts: u32,
        /// The scope the server's last `insufficient_scope` challenge asked for (may be empty).
        scope: String,
    },
    /// The MCP server refused a token obtained in answer to its previous refusal (or, for a
    /// headless grant, asked for scope it cannot get): the authorization server issues tokens
    /// this resource does not accept (audience, scope, issuer).
    #[error("the MCP server refused the access token ({reason})")]
    TokenRejectedByResource {
        /// The server's `error` and `error_description`, else its `WWW-Authenticate` value.
        reason: String,
    },
    /// The pending authorization was not completed in time.
    #[error("the authorization was not completed within {ttl_secs} seconds")]
    AuthorizationTimedOut {
        /// The configured limit.
        ttl_secs: u64,
    },
    /// A request failed in transport (network, CORS, timeout) where no fallback exists.
    #[error("{purpose} request to {url} failed: {message}")]
    Transport {
        /// What the request was for.
        purpose: String,
        /// Its URL.
        url: String,
        /// What the adapter reported.
        message: String,
    },
    /// A token would have been sent to a URL outside the resource it was issued for.
    #[error("refusing to send a token issued for {resource} to {url}")]
    TokenForOtherResource {
        /// The token's resource.
        resource: String,
        /// The URL it would have gone to.
        url: String,
    },
    /// A snapshot from another version or for another configuration.
    #[error("cannot restore the snapshot: {0}")]
    Snapshot(String),
    /// A refresh token was rejected (`invalid_grant`); a new authorization is needed.
    #[error("the refresh token was rejected; the user must authorize again")]
    ReauthorizationRequired,
    /// A step that needs discovered metadata ran before discovery (restored state without it).
    #[error("the authorization server's metadata is not known yet; discovery must run first")]
    NotDiscovered,
    /// A headless flow configured for cross-app access and workload identity at once.
    #[error("cross-app access and workload identity are two grants; configure one")]
    ConflictingGrants,
    /// Tokens must be refreshed or exchanged, but no client identity is stored for the issuer.
    #[error("no client registration is stored for the authorization server {issuer}")]
    NoRegistration {
        /// The issuer.
        issuer: String,
    },
    /// RFC 9700 §4.4: the callback's code would go to another authorization server than the one
    /// the authorization was started with (discovery changed in between); it was not sent.
    #[error(
        "the authorization was started at {pending_issuer} (token endpoint \
         {pending_token_endpoint}), but discovery now names {current_issuer} (token endpoint \
         {current_token_endpoint}); the code was not sent (possible mix-up attack)"
    )]
    PendingServerMismatch {
        /// The issuer recorded with the pending authorization.
        pending_issuer: String,
        /// The token endpoint recorded with it.
        pending_token_endpoint: String,
        /// The issuer of the current discovery.
        current_issuer: String,
        /// The token endpoint of the current discovery.
        current_token_endpoint: String,
    },
    /// The pending authorization was started as another client than the one now held for its
    /// issuer (the registration changed meanwhile): the code was issued to that client
    /// (RFC 6749 §4.1.3) and is not sent with another one's credentials.
    #[error(
        "the authorization was started as client {pending_client_id}, but the client now held \
         for its authorization server is {current_client_id}; the code was not sent (start the \
         authorization again)"
    )]
    PendingClientChanged {
        /// The client the authorization request named.
        pending_client_id: String,
        /// The client now registered for the issuer.
        current_client_id: String,
    },
    /// `client_name` is empty and no pre-registered client is configured.
    #[error("the client name must not be empty (it is sent at dynamic client registration)")]
    EmptyClientName,
    /// A configured scope is not an RFC 6749 §3.3 scope-token.
    #[error(
        "the configured scope `{token}` is not a scope token (RFC 6749 §3.3: one or more \
         printable ASCII characters other than space, `\"` and `\\`)"
    )]
    InvalidScope {
        /// The offending token, as configured.
        token: String,
    },
}

impl FlowError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::UnknownRequest(_) => "unknown_request",
            FlowError::NoPendingAuthorization => "no_pending_authorization",
            FlowError::Forbidden(_) => "forbidden",
            FlowError::StepUpLimitReached { .. } => "step_up_limit_reached",
            FlowError::InvalidScope { .. } => "scope_invalid",
            FlowError::TokenRejectedByResource { .. } => "token_rejected_by_resource",
            FlowError::AuthorizationTimedOut { .. } => "authorization_timed_out",
            FlowError::Transport { .. } => "transport_failed",
            FlowError::TokenForOtherResource { .. } => "token_for_other_resource",
            FlowError::Snapshot(_) => "snapshot_invalid",
            FlowError::ReauthorizationRequired => "reauthorization_required",
            FlowError::NotDiscovered => "not_discovered",
            FlowError::ConflictingGrants => "conflicting_grants",
            FlowError::NoRegistration { .. } => "no_registration",
            FlowError::EmptyClientName => "empty_client_name",
            FlowError::PendingServerMismatch { .. } => "pending_server_mismatch",
            FlowError::PendingClientChanged { .. } => "pending_client_changed",
        }
    }
}

/// Every error the core can report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL failed validation.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The `WWW-Authenticate` header could not be read.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// Protected-resource metadata (RFC 9728).
    #[error(transparent)]
    ResourceMetadata(#[from] ResourceMetadataError),
    /// Authorization-server metadata (RFC 8414 / OIDC Discovery).
    #[error(transparent)]
    ServerMetadata(#[from] ServerMetadataError),
    /// Client identity and registration (RFC 7591, CIMD).
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Building the authorization request.
    #[error(transparent)]
    Authorize(#[from] AuthorizeError),
    /// The authorization response at the redirect URI.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The token endpoint.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// An RFC 8693 token exchange.
    #[error(transparent)]
    TokenExchange(#[from] TokenExchangeError),
    /// Token revocation (RFC 7009).
    #[error(transparent)]
    Revocation(#[from] crate::revocation::RevocationError),
    /// A DPoP proof (RFC 9449; feature `dpop`).
    #[cfg(feature = "dpop")]
    #[error(transparent)]
    Dpop(#[from] crate::dpop::DpopError),
    /// The flow itself.
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl Error {
    /// The stable code of the underlying error, shared by Rust and JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Url(e) => e.code(),
            Error::Challenge(e) => e.code(),
            Error::ResourceMetadata(e) => e.code(),
            Error::ServerMetadata(e) => e.code(),
            Error::Registration(e) => e.code(),
            Error::Authorize(e) => e.code(),
            Error::Callback(e) => e.code(),
            Error::Token(e) => e.code(),
            Error::TokenExchange(e) => e.code(),
            Error::Revocation(e) => e.code(),
            #[cfg(feature = "dpop")]
            Error::Dpop(e) => e.code(),
            Error::Flow(e) => e.code(),
        }
    }

    /// The OAuth error body the server sent (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 7591 §3.2.2,
    /// RFC 6749 §4.1.2.1), when this error carries one: its `error` is the OAuth error code
    /// (`invalid_client`, `invalid_grant`, …) that hosts may want to show or branch on.
    pub fn oauth_error(&self) -> Option<&OAuthErrorBody> {
        match self {
            Error::Token(TokenError::InvalidGrant(b) | TokenError::Rejected { error: b, .. })
            | Error::TokenExchange(TokenExchangeError::Rejected { error: b, .. })
            | Error::Registration(RegistrationError::Rejected { error: b, .. })
            | Error::Revocation(crate::revocation::RevocationError::Rejected {
                error: b, ..
            })
            | Error::Callback(CallbackError::ServerError(b)) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::{AuthorizeError, CallbackError};
    use crate::registration::RegistrationError;
    use crate::resource_metadata::ResourceMetadataError as R;
    use crate::server_metadata::ServerMetadataError as S;
    use crate::token::TokenError as T;
    use crate::url::{UrlError, UrlProblem};
    use crate::www_authenticate::ChallengeError;

    fn body() -> OAuthErrorBody {
        OAuthErrorBody { error: "e".into(), error_description: None, error_uri: None }
    }

    fn url_error() -> UrlError {
        crate::url::Url::parse("").unwrap_err()
    }

    /// One value of every variant: the codes are the contract with JavaScript, so they must be
    /// unique, snake_case, and stable (this list changes only on purpose).
    fn every_error() -> Vec<Error> {
        let s = String::new;
        let mut v: Vec<Error> = vec![
            ChallengeError::Malformed { header: s(), position: 0, reason: "" }.into(),
            ChallengeError::DuplicateParameter(s()).into(),
            ChallengeError::TooLong { length: 0, max: 0 }.into(),
            ChallengeError::TooManyParameters { max: 0 }.into(),
        ];
        v.extend(
            [
                R::InvalidMetadataUrl(url_error()),
                R::UnexpectedStatus { url: s(), actual: 0 },
                R::NotJson { url: s(), content_type: s() },
                R::Malformed { url: s(), reason: s() },
                R::MissingField(""),
                R::InvalidField { field: "", expected: "" },
                R::InvalidUrl(url_error()),
                R::ResourceMismatch { expected: s(), actual: s() },
                R::NoAuthorizationServers,
                R::NotFound { tried: s() },
            ]
            .map(Error::from),
        );
        v.extend(
            [
                S::UnexpectedStatus { url: s(), actual: 0 },
                S::NotJson { url: s(), content_type: s() },
                S::Malformed { url: s(), reason: s() },
                S::IssuerMismatch { expected: s(), actual: s() },
                S::MissingField(""),
                S::InvalidField { field: "", expected: "" },
                S::InvalidEndpoint { field: "", error: url_error() },
                S::CodeResponseTypeNotSupported,
                S::PkceSupportNotAdvertised { issuer: s() },
                S::PkceS256NotSupported { methods: s() },
                S::NotFound { issuer: s(), tried: s() },
                S::LegacyIssuerOriginMismatch { origin: s(), issuer: s() },
            ]
            .map(Error::from),
        );
        v.extend(
            [
                RegistrationError::NoClientIdentity { issuer: s() },
                RegistrationError::NoSupportedAuthMethod { supported: s() },
                RegistrationError::Rejected { status: 400, error: body() },
                RegistrationError::UnexpectedStatus { actual: 0 },
                RegistrationError::NotJson { content_type: s() },
                RegistrationError::Malformed(s()),
                RegistrationError::MissingField(""),
                RegistrationError::InvalidField { field: "", expected: "" },
                RegistrationError::UnsupportedAuthMethod(s()),
                RegistrationError::SecretAlreadyExpired,
                RegistrationError::MissingSecret(""),
                RegistrationError::CredentialIssuerMismatch {
                    client_id: s(),
                    allowed: Vec::new(),
                    pinned: false,
                    actual: s(),
                },
            ]
            .map(Error::from),
        );
        v.push(AuthorizeError::ProtectedParameter(s()).into());
        v.extend(
            [
                CallbackError::InvalidUrl(url_error()),
                CallbackError::RedirectUriMismatch { expected: s(), actual: s() },
                CallbackError::MalformedQuery,
                CallbackError::DuplicateParameter(s()),
                CallbackError::MissingState,
                CallbackError::StateMismatch,
                CallbackError::IssuerMissing { expected: s() },
                CallbackError::IssuerMismatch { expected: s(), actual: s() },
                CallbackError::AccessDenied { description: None },
                CallbackError::ServerError(body()),
                CallbackError::MissingCode,
            ]
            .map(Error::from),
        );
        v.extend(
            [
                T::InvalidGrant(body()),
                T::Rejected { status: 400, error: body() },
                T::UnexpectedStatus { actual: 0 },
                T::NotJson { content_type: s() },
                T::Malformed(s()),
                T::MissingField(""),
                T::InvalidField { field: "", expected: "" },
                T::UnsupportedTokenType(s()),
                T::MissingClientSecret { method: "" },
                T::MissingClientAssertion,
                T::AssertionSigningFailed(s()),
                T::WorkloadAssertionUnavailable(s()),
                T::ClientAuthenticationRequired { grant: "" },
            ]
            .map(Error::from),
        );
        {
            use crate::token_exchange::TokenExchangeError as X;
            v.extend(
                [
                    X::Rejected { status: 400, error: body() },
                    X::UnexpectedStatus { actual: 0 },
                    X::NotJson { content_type: s() },
                    X::Malformed(s()),
                    X::MissingField(""),
                    X::InvalidField { field: "", expected: "" },
                    X::IssuedTokenTypeMismatch { expected: s(), actual: s() },
                ]
                .map(Error::from),
            );
            use crate::revocation::RevocationError as V;
            v.extend(
                [
                    V::Rejected { endpoint: s(), status: 400, error: body() },
                    V::UnexpectedStatus { endpoint: s(), actual: 0 },
                ]
                .map(Error::from),
            );
        }
        v.extend(
            [
                FlowError::UnknownRequest(0),
                FlowError::NoPendingAuthorization,
                FlowError::Forbidden(s()),
                FlowError::StepUpLimitReached { operation: s(), attempts: 0, scope: s() },
                FlowError::TokenRejectedByResource { reason: s() },
                FlowError::AuthorizationTimedOut { ttl_secs: 0 },
                FlowError::Transport { purpose: s(), url: s(), message: s() },
                FlowError::TokenForOtherResource { resource: s(), url: s() },
                FlowError::Snapshot(s()),
                FlowError::ReauthorizationRequired,
                FlowError::NotDiscovered,
                FlowError::ConflictingGrants,
                FlowError::NoRegistration { issuer: s() },
                FlowError::EmptyClientName,
                FlowError::InvalidScope { token: s() },
                FlowError::PendingServerMismatch {
                    pending_issuer: s(),
                    pending_token_endpoint: s(),
                    current_issuer: s(),
                    current_token_endpoint: s(),
                },
                FlowError::PendingClientChanged { pending_client_id: s(), current_client_id: s() },
            ]
            .map(Error::from),
        );
        v
    }

    #[test]
    fn codes_are_unique_and_snake_case() {
        let errors = every_error();
        let mut codes: Vec<&str> = errors.iter().map(Error::code).collect();
        assert!(codes.iter().all(|c| !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate error codes");
        // Every error has a message.
        assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }

    /// `CORE_CODES` is exactly what the core's errors report: nothing missing, nothing stale.
    #[test]
    fn core_codes_list_every_core_error() {
        let mut reported: Vec<&str> = every_error().iter().map(Error::code).collect();
        reported.extend(url_problems().iter().map(UrlProblem::code));
        reported.extend(
            [
                crate::encoding::FormError::Malformed,
                crate::encoding::FormError::TooLong { length: 0, max: 0 },
                crate::encoding::FormError::TooManyPairs { max: 0 },
            ]
            .iter()
            .map(crate::encoding::FormError::code),
        );
        {
            use crate::dpop::DpopError as D;
            let s = String::new;
            reported.extend(
                [
                    D::Url(url_error()),
                    D::Method(s()),
                    D::Algorithm(s()),
                    D::NoCommonAlgorithm { supported: s(), offered: s() },
                    D::SignerMissing,
                    D::SigningFailed(s()),
                ]
                .iter()
                .map(D::code),
            );
        }
        reported.sort_unstable();
        reported.dedup();
        let mut listed = CORE_CODES.to_vec();
        listed.sort_unstable();
        let n = listed.len();
        listed.dedup();
        assert_eq!(listed.len(), n, "CORE_CODES lists a code twice");
        assert_eq!(listed, reported);
        // A host code never shadows a core code: one name, one meaning.
        let shared: Vec<&&str> = HOST_CODES.iter().filter(|c| CORE_CODES.contains(c)).collect();
        assert!(shared.is_empty(), "host codes that are core codes: {shared:?}");
        let mut hosts = HOST_CODES.to_vec();
        hosts.sort_unstable();
        hosts.dedup();
        assert_eq!(hosts.len(), HOST_CODES.len(), "HOST_CODES lists a code twice");
    }

    fn url_problems() -> Vec<UrlProblem> {
        vec![
            UrlProblem::Empty,
            UrlProblem::NotAbsolute,
            UrlProblem::UnsupportedScheme(String::new()),
            UrlProblem::Userinfo,
            UrlProblem::EmptyHost,
            UrlProblem::NonAsciiHost(String::new()),
            UrlProblem::InvalidHost(String::new()),
            UrlProblem::InvalidPort(String::new()),
            UrlProblem::InvalidCharacter('x'),
            UrlProblem::InvalidPercentEscape,
            UrlProblem::InsecureScheme,
            UrlProblem::Fragment,
            UrlProblem::Query,
            UrlProblem::MissingPath,
            UrlProblem::TooLong { length: 0, max: 0 },
        ]
    }

    #[test]
    fn url_problem_codes_are_unique() {
        let problems = url_problems();
        let mut codes: Vec<&str> = problems.iter().map(UrlProblem::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), problems.len());
    }

    #[test]
    fn oauth_error_bodies_are_reachable() {
        let rejected: Error = T::Rejected { status: 401, error: body() }.into();
        assert_eq!(rejected.oauth_error().map(|b| b.error.as_str()), Some("e"));
        let exchange: Error = TokenExchangeError::Rejected { status: 400, error: body() }.into();
        assert_eq!(exchange.oauth_error(), Some(&body()));
        assert_eq!(Error::from(T::InvalidGrant(body())).oauth_error(), Some(&body()));
        assert_eq!(Error::from(T::UnexpectedStatus { actual: 500 }).oauth_error(), None);
    }
}
