//! Client identity (MCP 2026-07-28 "Client Registration"): pre-registered credentials, else a
//! Client ID Metadata Document URL when the server supports it, else Dynamic Client
//! Registration (RFC 7591), else a clear error asking for a client id.
//!
//! Registrations are keyed by the authorization server's issuer (SEP-2352): one made
//! with another issuer is never reused; a registration whose secret expired
//! (`client_secret_expires_at`, RFC 7591 §3.2.1) is replaced.
//!
//! RFC 7591 rules applied to the response: success is **201** (§3.2.1), `client_id` is
//! required, `client_secret: ""` means no secret (seen in real servers), `client_secret_expires_at`
//! 0 means never, and the server's `token_endpoint_auth_method` wins over the one asked for
//! (Vercel downgrades `client_secret_post` to `none`).

use crate::error::OAuthErrorBody;
use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json::{self, BodyProblem, FieldProblem, Json};
use crate::secret::ClientSecret;
use crate::server_metadata::ServerMetadata;
use crate::time::UnixTime;
use crate::token::TokenEndpointAuth;
use crate::url::{EndpointUrl, RedirectUri};

/// Credentials issued out of band.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreRegistered {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// The token-endpoint auth method. When `None`: `private_key_jwt` if the flow has an
    /// assertion signer ([`crate::AuthFlow::set_assertion_signer`], RFC 7523 §2.2), else
    /// chosen from the server's metadata for a secret, else `none`.
    pub auth_method: Option<TokenEndpointAuth>,
    /// The issuers these credentials belong to. Empty: they are pinned to the first issuer
    /// they are used with ([`check_credential_issuer`]).
    pub issuers: Vec<String>,
}

impl PreRegistered {
    /// Credentials with the auth method chosen from the server's metadata and no configured
    /// issuer (pinned on first use).
    pub fn new(client_id: impl Into<String>, client_secret: Option<ClientSecret>) -> PreRegistered {
        PreRegistered {
            client_id: client_id.into(),
            client_secret,
            auth_method: None,
            issuers: Vec::new(),
        }
    }
}

/// How the client gets an identity, in the priority order of MCP 2026-07-28 authorization
/// (client registration): pre-registered, Client ID Metadata Document, RFC 7591 registration.
///
/// Non-exhaustive: build it with [`ClientConfig::dynamic`] (or the other constructors) and set
/// the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `client_name` sent at registration.
    pub client_name: String,
    /// Credentials issued out of band: used first.
    pub pre_registered: Option<PreRegistered>,
    /// An https URL with a path that serves this client's metadata document; used when the
    /// server says `client_id_metadata_document_supported: true`.
    pub metadata_document_url: Option<EndpointUrl>,
    /// Register dynamically (RFC 7591) when the server has a `registration_endpoint`.
    pub dynamic_registration: bool,
    /// `application_type` override; derived from the redirect URI when `None`
    /// (loopback → `native`, otherwise `web`).
    pub application_type: Option<String>,
}

impl ClientConfig {
    /// A public client that registers dynamically under `client_name`.
    pub fn dynamic(client_name: impl Into<String>) -> ClientConfig {
        ClientConfig {
            client_name: client_name.into(),
            pre_registered: None,
            metadata_document_url: None,
            dynamic_registration: true,
            application_type: None,
        }
    }
}

/// Where a client identity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// Configured by the user.
    PreRegistered,
    /// A Client ID Metadata Document URL.
    MetadataDocument,
    /// RFC 7591 dynamic registration.
    Dynamic,
}

/// A client identity at one authorization server. Persist it keyed by `issuer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The issuer it is valid for.
    pub issuer: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, if any.
    pub client_secret: Option<ClientSecret>,
    /// When the secret expires (`None`: never).
    pub client_secret_expires_at: Option<UnixTime>,
    /// How to authenticate at the token endpoint.
    pub auth_method: TokenEndpointAuth,
    /// The redirect URI it was registered with.
    pub redirect_uri: String,
    /// Where it came from.
    pub source: IdentitySource,
}

impl ClientRegistration {
    /// How this client authenticates at the token and revocation endpoints (`assertion`: the
    /// signed JWT for `private_key_jwt`).
    pub fn client_auth<'a>(&'a self, assertion: Option<&'a str>) -> crate::token::ClientAuth<'a> {
        crate::token::ClientAuth {
            client_id: &self.client_id,
            client_secret: self.client_secret.as_ref(),
            method: self.auth_method,
            assertion,
        }
    }

    /// True when it can be used with `issuer` and `redirect_uri` at `now`.
    pub fn usable_for(&self, issuer: &str, redirect_uri: &str, now: UnixTime) -> bool {
        self.issuer == issuer
            && (self.source != IdentitySource::Dynamic || self.redirect_uri == redirect_uri)
            && self.client_secret_expires_at.is_none_or(|t| now < t)
    }
}

/// What went wrong getting a client identity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// No configured client id, no CIMD support, no registration endpoint.
    #[error(
        "no way to identify this client to {issuer}: it has no registration_endpoint and does \
         not support client ID metadata documents; configure a client id (and secret) issued \
         by that server"
    )]
    NoClientIdentity {
        /// The issuer.
        issuer: String,
    },
    /// A pre-registered confidential client, but the server lists no secret method we have.
    #[error("the authorization server supports none of the client's auth methods (it lists: {supported})")]
    NoSupportedAuthMethod {
        /// What the server lists.
        supported: String,
    },
    /// RFC 7591 §3.2.2 error response.
    #[error(
        "client registration was rejected ({status}): {error}; if this server does not register \
         clients dynamically, configure a client registered with it (client id, and secret or key)"
    )]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The error body.
        error: OAuthErrorBody,
    },
    /// Neither 201 nor 200.
    #[error(
        "client registration answered status {actual}, expected 201 Created (RFC 7591 §3.2.1)"
    )]
    UnexpectedStatus {
        /// The status.
        actual: u16,
    },
    /// Not JSON.
    #[error("the client registration response is not JSON (content type `{content_type}`)")]
    NotJson {
        /// The content type.
        content_type: String,
    },
    /// Unreadable JSON.
    #[error("the client registration response is malformed: {0}")]
    Malformed(String),
    /// A required member is missing.
    #[error("the client registration response lacks `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong type.
    #[error("the client registration response member `{field}` must be {expected}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An auth method this client cannot use.
    #[error("the server registered the client with token endpoint auth method `{0}`, which this client cannot use")]
    UnsupportedAuthMethod(String),
    /// The issued secret had already expired.
    #[error("the server issued a client secret that has already expired")]
    SecretAlreadyExpired,
    /// A `client_secret_*` method without a secret.
    #[error("the server registered a `{0}` client but issued no client secret")]
    MissingSecret(&'static str),
    /// Configured credentials would go to an issuer they do not belong to (MCP SEP-2352):
    /// nothing carrying the secret or an assertion was sent.
    #[error(
        "refusing to send the credentials of client `{client_id}` to the authorization server \
         `{actual}`: they belong to {} ({}); configure that issuer for them if it is theirs",
        .allowed.join(", "),
        if *.pinned { "pinned on first use" } else { "configured" }
    )]
    CredentialIssuerMismatch {
        /// The configured client id.
        client_id: String,
        /// The issuers they may be sent to.
        allowed: Vec<String>,
        /// True when `allowed` was pinned on first use rather than configured.
        pinned: bool,
        /// The issuer discovery led to.
        actual: String,
    },
}

impl RegistrationError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoClientIdentity { .. } => "no_client_identity",
            Self::NoSupportedAuthMethod { .. } => "no_supported_auth_method",
            Self::Rejected { .. } => "registration_rejected",
            Self::UnexpectedStatus { .. } => "registration_status",
            Self::NotJson { .. } => "registration_not_json",
            Self::Malformed(_) => "registration_malformed",
            Self::MissingField(_) => "registration_missing_field",
            Self::InvalidField { .. } => "registration_invalid_field",
            Self::UnsupportedAuthMethod(_) => "registration_unsupported_auth_method",
            Self::SecretAlreadyExpired => "registration_secret_expired",
            Self::MissingSecret(_) => "registration_missing_secret",
            Self::CredentialIssuerMismatch { .. } => "credential_issuer_mismatch",
        }
    }
}

impl From<FieldProblem> for RegistrationError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(f) => Self::MissingField(f),
            FieldProblem::WrongType { field, expected } => Self::InvalidField { field, expected },
        }
    }
}

/// The outcome of choosing an identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityChoice {
    /// Use this identity.
    Ready(ClientRegistration),
    /// Register at this endpoint first.
    Register(EndpointUrl),
}

/// The method for a client with a secret at this server: `client_secret_basic` when listed (or
/// when the list is omitted: RFC 8414 §2 makes it the default), else `client_secret_post`, else
/// [`RegistrationError::NoSupportedAuthMethod`].
#[inline]
pub fn secret_method(metadata: &ServerMetadata) -> Result<TokenEndpointAuth, RegistrationError> {
    secret_method_for(metadata.token_endpoint_auth_methods_supported.as_deref())
}

/// [`secret_method`] for a server's `token_endpoint_auth_methods_supported` (`None`: the server
/// did not say, or has no metadata): the one rule every flow of this crate uses for a client
/// secret whose method is not configured.
pub fn secret_method_for(
    supported: Option<&[String]>,
) -> Result<TokenEndpointAuth, RegistrationError> {
    match supported {
        None => Ok(TokenEndpointAuth::ClientSecretBasic),
        Some(list) if list.iter().any(|m| m == "client_secret_basic") => {
            Ok(TokenEndpointAuth::ClientSecretBasic)
        }
        Some(list) if list.iter().any(|m| m == "client_secret_post") => {
            Ok(TokenEndpointAuth::ClientSecretPost)
        }
        Some(list) => Err(RegistrationError::NoSupportedAuthMethod { supported: list.join(", ") }),
    }
}

/// Whether configured credentials (`client_id` with a secret or a signing key) may be sent to
/// `issuer`: it must be one of the `configured` issuers, or, when none is configured, one of the
/// issuers they were `pinned` to on first use (any issuer when they were never used). Checked
/// before any request carrying the secret or an assertion is built (MCP SEP-2352; RFC 9700
/// §4.4: credentials and codes belong to one authorization server).
pub fn check_credential_issuer(
    client_id: &str,
    configured: &[String],
    pinned: &[&str],
    issuer: &str,
) -> Result<(), RegistrationError> {
    let (allowed, is_pin): (Vec<String>, bool) = if configured.is_empty() {
        (pinned.iter().map(|s| (*s).to_owned()).collect(), true)
    } else {
        (configured.to_vec(), false)
    };
    // Issuer identity is string equality (RFC 8414 §3.3).
    if allowed.is_empty() || allowed.iter().any(|a| a == issuer) {
        return Ok(());
    }
    Err(RegistrationError::CredentialIssuerMismatch {
        client_id: client_id.to_owned(),
        allowed,
        pinned: is_pin,
        actual: issuer.to_owned(),
    })
}

/// Chooses the client identity for an authorization server (MCP 2026-07-28, client registration
/// priority).
pub fn choose_identity(
    config: &ClientConfig,
    metadata: &ServerMetadata,
    redirect_uri: &RedirectUri,
    stored: Option<&ClientRegistration>,
    now: UnixTime,
) -> Result<IdentityChoice, RegistrationError> {
    let issuer = metadata.issuer.as_str();
    if let Some(pre) = &config.pre_registered {
        let auth_method = match (pre.auth_method, &pre.client_secret) {
            (Some(m), _) => m,
            (None, Some(_)) => secret_method(metadata)?,
            (None, None) => TokenEndpointAuth::None,
        };
        return Ok(IdentityChoice::Ready(ClientRegistration {
            issuer: issuer.to_owned(),
            client_id: pre.client_id.clone(),
            client_secret: pre.client_secret.clone(),
            client_secret_expires_at: None,
            auth_method,
            redirect_uri: redirect_uri.as_str().to_owned(),
            source: IdentitySource::PreRegistered,
        }));
    }
    if let (Some(url), true) =
        (&config.metadata_document_url, metadata.client_id_metadata_document_supported)
    {
        return Ok(IdentityChoice::Ready(ClientRegistration {
            issuer: issuer.to_owned(),
            client_id: url.as_str().to_owned(),
            client_secret: None,
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::None,
            redirect_uri: redirect_uri.as_str().to_owned(),
            source: IdentitySource::MetadataDocument,
        }));
    }
    if let Some(reg) = stored.filter(|r| r.source == IdentitySource::Dynamic) {
        // Checklist item 11: reuse only with the same issuer (and an unexpired secret).
        if reg.usable_for(issuer, redirect_uri.as_str(), now) {
            return Ok(IdentityChoice::Ready(reg.clone()));
        }
    }
    match (&metadata.registration_endpoint, config.dynamic_registration) {
        (Some(ep), true) => Ok(IdentityChoice::Register(ep.clone())),
        _ => Err(RegistrationError::NoClientIdentity { issuer: issuer.to_owned() }),
    }
}

/// A loopback redirect URI configured with port 0 ("any free port", RFC 8252 §7.3: loopback
/// ports may vary per authorization) and a dynamic registration made for the same URI on a
/// concrete port: that registered URI, which the host may listen on again to reuse the
/// registration instead of registering a new client on every run. `None` when the
/// configuration names a port, the registration is not dynamic (pre-registered and metadata
/// document clients are not tied to a port this way), or the URIs differ in more than the port.
/// The host binds the port before using it; if it is taken, the configured port 0 stands and
/// the flow registers anew ([`ClientRegistration::usable_for`] compares the whole URI).
pub fn loopback_redirect_to_reuse(
    configured: &RedirectUri,
    registration: &ClientRegistration,
) -> Option<RedirectUri> {
    if registration.source != IdentitySource::Dynamic
        || !configured.is_loopback_http()
        || configured.explicit_port() != Some(0)
    {
        return None;
    }
    let registered = RedirectUri::parse(&registration.redirect_uri).ok()?;
    let port = registered.explicit_port().filter(|p| *p != 0)?;
    (configured.with_port(port).as_str() == registered.as_str()).then_some(registered)
}

/// `native` for loopback redirect URIs (CLI, desktop), `web` otherwise (MCP 2026-07-28 DCR).
pub fn application_type(redirect_uri: &RedirectUri) -> &'static str {
    if redirect_uri.is_loopback() {
        "native"
    } else {
        "web"
    }
}

/// The `token_endpoint_auth_method` to register with: `none` (a public client) when the server
/// lists it or lists nothing (RFC 8414 §2), else `client_secret_basic` or `client_secret_post`
/// when listed, asking for a confidential client the server can accept; else `none`, for the
/// server to answer (RFC 7591 §2: it may register another method, or refuse).
pub fn registration_auth_method(metadata: &ServerMetadata) -> TokenEndpointAuth {
    let Some(list) = &metadata.token_endpoint_auth_methods_supported else {
        return TokenEndpointAuth::None;
    };
    let listed = |m: &str| list.iter().any(|l| l == m);
    if listed("none") {
        TokenEndpointAuth::None
    } else if listed("client_secret_basic") {
        TokenEndpointAuth::ClientSecretBasic
    } else if listed("client_secret_post") {
        TokenEndpointAuth::ClientSecretPost
    } else {
        TokenEndpointAuth::None
    }
}

/// The inputs of [`registration_request`].
#[derive(Clone, Copy, Debug)]
pub struct RegistrationParams<'a> {
    /// The registration endpoint.
    pub endpoint: &'a EndpointUrl,
    /// The client's configuration (`client_name`, `application_type`).
    pub config: &'a ClientConfig,
    /// The redirect URI to register.
    pub redirect_uri: &'a RedirectUri,
    /// The method to ask for ([`registration_auth_method`]).
    pub auth_method: TokenEndpointAuth,
}

/// The RFC 7591 §3.1 registration request for a client using the code grant with refresh.
///
/// No `scope` member: it is optional (RFC 7591 §2), the scope is asked for in each authorization
/// request anyway, and servers reject registrations whose scope names a value they do not list
/// for clients (oidc-provider does so for resource-server scopes such as `mcp:tools`).
pub fn registration_request(id: RequestId, p: &RegistrationParams<'_>) -> HttpRequest {
    let RegistrationParams { endpoint, config, redirect_uri, auth_method } = *p;
    let app_type = config.application_type.as_deref().unwrap_or(application_type(redirect_uri));
    let members = vec![
        ("redirect_uris".to_owned(), Json::str_array(&[redirect_uri.as_str()])),
        ("client_name".to_owned(), Json::str(config.client_name.as_str())),
        ("grant_types".to_owned(), Json::str_array(&["authorization_code", "refresh_token"])),
        ("response_types".to_owned(), Json::str_array(&["code"])),
        ("token_endpoint_auth_method".to_owned(), Json::str(auth_method.as_str())),
        ("application_type".to_owned(), Json::str(app_type)),
    ];
    let body = Json::Object(members);
    HttpRequest::post_json(id, Purpose::ClientRegistration, endpoint.as_str(), &body)
}

/// Reads an RFC 7591 §3.2 response into a registration for `issuer`.
pub fn process_registration_response(
    resp: &HttpResponse,
    issuer: &str,
    redirect_uri: &RedirectUri,
    now: UnixTime,
) -> Result<ClientRegistration, RegistrationError> {
    // RFC 7591 §3.2.2: errors are 400 with a JSON error body.
    if resp.status != 201 && resp.status != 200 {
        if let Ok(obj) = json::object_any_type(resp) {
            if let Some(error) = OAuthErrorBody::from_json(&obj) {
                return Err(RegistrationError::Rejected { status: resp.status, error });
            }
        }
    }
    // RFC 7591 §3.2.1: "HTTP 201 Created"; servers that answer 200 with a complete client
    // information response are accepted (the flow reports it: FlowEvent::Notice).
    if resp.status != 201 && resp.status != 200 {
        return Err(RegistrationError::UnexpectedStatus { actual: resp.status });
    }
    let obj = json::object(resp).map_err(|p| match p {
        BodyProblem::NotJson(content_type) => RegistrationError::NotJson { content_type },
        BodyProblem::Malformed(m) => RegistrationError::Malformed(m),
    })?;
    // RFC 7591 §3.2.1: client_id is REQUIRED. Some servers send it as a number-like string.
    let client_id = json::req_str(&obj, "client_id")?.to_owned();
    // Some servers send `client_secret: ""` for public clients: that is no secret.
    let client_secret =
        json::opt_str(&obj, "client_secret")?.filter(|s| !s.is_empty()).map(ClientSecret::new);
    // RFC 7591 §3.2.1: client_secret_expires_at, 0 = does not expire.
    let client_secret_expires_at = match json::opt_u64_lenient(&obj, "client_secret_expires_at")? {
        None | Some(0) => None,
        Some(t) => Some(UnixTime(t)),
    };
    if client_secret.is_some() && client_secret_expires_at.is_some_and(|t| t <= now) {
        return Err(RegistrationError::SecretAlreadyExpired);
    }
    // RFC 7591 §2: the server may change the method; its default is client_secret_basic.
    let auth_method = match json::opt_str(&obj, "token_endpoint_auth_method")? {
        Some(name) => TokenEndpointAuth::from_name(name)
            .filter(|m| *m != TokenEndpointAuth::PrivateKeyJwt)
            .ok_or_else(|| RegistrationError::UnsupportedAuthMethod(name.to_owned()))?,
        None if client_secret.is_some() => TokenEndpointAuth::ClientSecretBasic,
        None => TokenEndpointAuth::None,
    };
    if matches!(
        auth_method,
        TokenEndpointAuth::ClientSecretBasic | TokenEndpointAuth::ClientSecretPost
    ) && client_secret.is_none()
    {
        return Err(RegistrationError::MissingSecret(auth_method.as_str()));
    }
    // A public client keeps no secret, so a secret expiry means nothing for it (and would make
    // the registration look expired and be redone on every authorization).
    let client_secret = if auth_method == TokenEndpointAuth::None { None } else { client_secret };
    let client_secret_expires_at = client_secret.as_ref().and(client_secret_expires_at);
    Ok(ClientRegistration {
        issuer: issuer.to_owned(),
        client_id,
        client_secret,
        client_secret_expires_at,
        auth_method,
        redirect_uri: redirect_uri.as_str().to_owned(),
        source: IdentitySource::Dynamic,
    })
}

#[cfg(test)]
mod tests;
