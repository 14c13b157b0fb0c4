//! Authorization-server metadata (RFC 8414; OpenID Connect Discovery 1.0), as the MCP
//! 2026-07-28 "Authorization Server Metadata Discovery" section orders it.
//!
//! Candidate URLs, for an issuer with a path (`https://as.example/tenant1`):
//! 1. `https://as.example/.well-known/oauth-authorization-server/tenant1` (RFC 8414 §3.1),
//! 2. `https://as.example/.well-known/openid-configuration/tenant1` (RFC 8414 §5 insert form),
//! 3. `https://as.example/tenant1/.well-known/openid-configuration` (OIDC Discovery §4 append);
//!
//! for an issuer without a path: `/.well-known/oauth-authorization-server`, then
//! `/.well-known/openid-configuration`. A 4xx (or a transport failure, or a 200 that is not
//! JSON) moves to the next candidate; a 5xx stops.
//!
//! Checks, in order: status 200, JSON object, `issuer` equal **as a string** to the issuer used
//! to build the URL (RFC 8414 §3.3, OIDC Discovery §4.3), required endpoints, endpoints over
//! https (loopback excepted), `response_types_supported` contains `code` when present, and
//! `code_challenge_methods_supported` contains `S256` — an absent field is refused (MCP MUST)
//! unless the server's [`ServerPolicy::danger_assume_pkce_s256`] says otherwise.
//!
//! The legacy path for servers of the 2025-03-26 revision lives in [`legacy_candidate_urls`] and
//! [`legacy_default_metadata`].

use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json::{self, BodyProblem, FieldProblem};
use crate::policy::ServerPolicy;
use crate::url::{EndpointUrl, IssuerUrl, ResourceUrl, UrlError};

/// Which well-known document a candidate URL is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataVariant {
    /// RFC 8414 `oauth-authorization-server`, suffix inserted before the path.
    OAuthInsert,
    /// `openid-configuration` inserted before the path (RFC 8414 §5).
    OidcInsert,
    /// `openid-configuration` appended to the issuer (OIDC Discovery §4).
    OidcAppend,
}

/// What went wrong with authorization-server metadata.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerMetadataError {
    /// Not 200.
    #[error("authorization-server metadata at {url}: expected status 200, got {actual}")]
    UnexpectedStatus {
        /// The URL fetched.
        url: String,
        /// The status received.
        actual: u16,
    },
    /// Not JSON.
    #[error("authorization-server metadata at {url} is not JSON (content type `{content_type}`)")]
    NotJson {
        /// The URL fetched.
        url: String,
        /// The content type received.
        content_type: String,
    },
    /// JSON but not a readable object.
    #[error("authorization-server metadata at {url} is malformed: {reason}")]
    Malformed {
        /// The URL fetched.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// RFC 8414 §3.3: the `issuer` member differs from the issuer the URL was built from.
    #[error(
        "authorization-server metadata names issuer `{actual}`, expected exactly `{expected}`"
    )]
    IssuerMismatch {
        /// The issuer the client asked about.
        expected: String,
        /// The issuer in the document.
        actual: String,
    },
    /// A required member is missing.
    #[error("authorization-server metadata lacks `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong type.
    #[error("authorization-server metadata member `{field}` must be {expected}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An endpoint URL is unusable (not https, malformed).
    #[error("authorization-server metadata member `{field}` is unusable: {error}")]
    InvalidEndpoint {
        /// The member.
        field: &'static str,
        /// Why.
        error: UrlError,
    },
    /// `response_types_supported` lacks `code`.
    #[error("the authorization server does not support the `code` response type")]
    CodeResponseTypeNotSupported,
    /// `code_challenge_methods_supported` is absent (MCP: refuse).
    #[error(
        "the authorization server does not advertise PKCE (no code_challenge_methods_supported); \
         if it is known to support S256, set danger_assume_pkce_s256 for issuer {issuer}"
    )]
    PkceSupportNotAdvertised {
        /// The issuer.
        issuer: String,
    },
    /// `code_challenge_methods_supported` lacks `S256`.
    #[error("the authorization server does not support PKCE S256 (it lists: {methods})")]
    PkceS256NotSupported {
        /// The listed methods.
        methods: String,
    },
    /// Legacy path (MCP 2025-03-26): the metadata at the MCP server's origin names an issuer at
    /// another origin, which would let any server claim another's issuer.
    #[error(
        "the metadata at the MCP server's origin {origin} names issuer `{issuer}` at another \
         origin; on the 2025-03-26 path the authorization server is the MCP server's origin"
    )]
    LegacyIssuerOriginMismatch {
        /// The MCP server's origin.
        origin: String,
        /// The issuer the document names.
        issuer: String,
    },
    /// Every candidate failed with a 4xx or transport error.
    #[error("no authorization-server metadata found for issuer {issuer} (tried: {tried})")]
    NotFound {
        /// The issuer.
        issuer: String,
        /// The URLs tried.
        tried: String,
    },
}

impl ServerMetadataError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnexpectedStatus { .. } => "server_metadata_status",
            Self::NotJson { .. } => "server_metadata_not_json",
            Self::Malformed { .. } => "server_metadata_malformed",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::MissingField(_) => "server_metadata_missing_field",
            Self::InvalidField { .. } => "server_metadata_invalid_field",
            Self::InvalidEndpoint { .. } => "server_metadata_invalid_endpoint",
            Self::CodeResponseTypeNotSupported => "code_response_type_not_supported",
            Self::PkceSupportNotAdvertised { .. } => "pkce_support_not_advertised",
            Self::PkceS256NotSupported { .. } => "pkce_s256_not_supported",
            Self::NotFound { .. } => "server_metadata_not_found",
            Self::LegacyIssuerOriginMismatch { .. } => "legacy_issuer_origin_mismatch",
        }
    }

    /// True when discovery should try the next candidate URL (4xx, a 200 that is not JSON).
    pub fn try_next_candidate(&self) -> bool {
        match self {
            Self::UnexpectedStatus { actual, .. } => (400..500).contains(actual),
            Self::NotJson { .. } => true,
            _ => false,
        }
    }
}

impl From<FieldProblem> for ServerMetadataError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(f) => Self::MissingField(f),
            FieldProblem::WrongType { field, expected } => Self::InvalidField { field, expected },
        }
    }
}

/// Authorization-server metadata, validated. Only the members the client uses are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMetadata {
    /// `issuer`, exactly as in the document.
    pub issuer: IssuerUrl,
    /// `authorization_endpoint`.
    pub authorization_endpoint: EndpointUrl,
    /// `token_endpoint`.
    pub token_endpoint: EndpointUrl,
    /// `registration_endpoint` (RFC 7591).
    pub registration_endpoint: Option<EndpointUrl>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: Option<EndpointUrl>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `grant_types_supported`.
    pub grant_types_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported` (`None` only under `danger_assume_pkce_s256`).
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3: `authorization_response_iss_parameter_supported`.
    pub authorization_response_iss_parameter_supported: bool,
    /// MCP / CIMD: `client_id_metadata_document_supported`.
    pub client_id_metadata_document_supported: bool,
    /// RFC 9449 §5.1: `dpop_signing_alg_values_supported`; present = the server supports DPoP
    /// (feature `dpop`).
    #[cfg(feature = "dpop")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// The candidate URLs for an issuer, in order (module docs).
pub fn candidate_urls(issuer: &IssuerUrl) -> Vec<(EndpointUrl, MetadataVariant)> {
    let u = issuer.url();
    let origin = u.origin();
    // RFC 8414 §3.1: a terminating "/" is removed before inserting the well-known segment.
    let path = u.path().trim_end_matches('/');
    let mut out = Vec::new();
    let mut push = |s: String, v| {
        if let Ok(e) = EndpointUrl::parse(&s) {
            out.push((e, v));
        }
    };
    push(
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        MetadataVariant::OAuthInsert,
    );
    push(format!("{origin}/.well-known/openid-configuration{path}"), MetadataVariant::OidcInsert);
    if !path.is_empty() {
        push(
            format!("{origin}{path}/.well-known/openid-configuration"),
            MetadataVariant::OidcAppend,
        );
    }
    out
}

/// The GET request for one candidate.
pub fn metadata_request(id: RequestId, url: &EndpointUrl) -> HttpRequest {
    HttpRequest::get(id, Purpose::ServerMetadata, url.as_str())
}

/// Checks a response and reads the metadata of `issuer` (module docs for the checks).
pub fn process_metadata_response(
    issuer: &IssuerUrl,
    url: &EndpointUrl,
    resp: &HttpResponse,
    policy: &ServerPolicy,
) -> Result<ServerMetadata, ServerMetadataError> {
    let obj = read_document(url, resp)?;
    // RFC 8414 §3.3 / OIDC Discovery §4.3: issuer must equal the issuer used to build the URL.
    let actual = json::req_str(&obj, "issuer")?;
    if actual != issuer.as_str() {
        return Err(ServerMetadataError::IssuerMismatch {
            expected: issuer.as_str().to_owned(),
            actual: actual.to_owned(),
        });
    }
    validate(issuer.clone(), &obj, policy)
}

fn read_document(
    url: &EndpointUrl,
    resp: &HttpResponse,
) -> Result<crate::json::Object, ServerMetadataError> {
    let at = || url.as_str().to_owned();
    // RFC 8414 §3.2: a successful response uses status 200.
    if resp.status != 200 {
        return Err(ServerMetadataError::UnexpectedStatus { url: at(), actual: resp.status });
    }
    // RFC 8414 §3.2: "application/json".
    json::object(resp).map_err(|p| match p {
        BodyProblem::NotJson(ct) => ServerMetadataError::NotJson { url: at(), content_type: ct },
        BodyProblem::Malformed(reason) => ServerMetadataError::Malformed { url: at(), reason },
    })
}

fn endpoint(
    obj: &crate::json::Object,
    field: &'static str,
) -> Result<Option<EndpointUrl>, ServerMetadataError> {
    match json::opt_str(obj, field)? {
        None => Ok(None),
        // Checklist item 22: every authorization-server endpoint over https, loopback excepted.
        Some(s) => EndpointUrl::parse(s)
            .map(Some)
            .map_err(|error| ServerMetadataError::InvalidEndpoint { field, error }),
    }
}

fn validate(
    issuer: IssuerUrl,
    obj: &crate::json::Object,
    policy: &ServerPolicy,
) -> Result<ServerMetadata, ServerMetadataError> {
    // RFC 8414 §2: authorization_endpoint is required for the code grant; token_endpoint too.
    let authorization_endpoint = endpoint(obj, "authorization_endpoint")?
        .ok_or(ServerMetadataError::MissingField("authorization_endpoint"))?;
    let token_endpoint = endpoint(obj, "token_endpoint")?
        .ok_or(ServerMetadataError::MissingField("token_endpoint"))?;
    // RFC 8414 §2: response_types_supported; the client needs `code`.
    if let Some(types) = json::opt_str_array(obj, "response_types_supported")? {
        if !types.iter().any(|t| t == "code") {
            return Err(ServerMetadataError::CodeResponseTypeNotSupported);
        }
    }
    // MCP 2026-07-28: PKCE S256 must be advertised; absent field = refuse (MUST).
    let methods = json::opt_str_array(obj, "code_challenge_methods_supported")?;
    match &methods {
        Some(m) if m.iter().any(|x| x == crate::pkce::METHOD_S256) => {}
        Some(m) => return Err(ServerMetadataError::PkceS256NotSupported { methods: m.join(", ") }),
        None if policy.danger_assume_pkce_s256 => {}
        None => {
            return Err(ServerMetadataError::PkceSupportNotAdvertised {
                issuer: issuer.as_str().to_owned(),
            })
        }
    }
    Ok(ServerMetadata {
        issuer,
        authorization_endpoint,
        token_endpoint,
        registration_endpoint: endpoint(obj, "registration_endpoint")?,
        revocation_endpoint: endpoint(obj, "revocation_endpoint")?,
        scopes_supported: json::opt_str_array(obj, "scopes_supported")?,
        token_endpoint_auth_methods_supported: json::opt_str_array(
            obj,
            "token_endpoint_auth_methods_supported",
        )?,
        grant_types_supported: json::opt_str_array(obj, "grant_types_supported")?,
        code_challenge_methods_supported: methods,
        authorization_response_iss_parameter_supported: json::opt_bool(
            obj,
            "authorization_response_iss_parameter_supported",
        )?
        .unwrap_or(false),
        client_id_metadata_document_supported: json::opt_bool(
            obj,
            "client_id_metadata_document_supported",
        )?
        .unwrap_or(false),
        #[cfg(feature = "dpop")]
        dpop_signing_alg_values_supported: json::opt_str_array(
            obj,
            "dpop_signing_alg_values_supported",
        )?,
    })
}

/// Legacy path (MCP 2025-03-26, servers with no protected-resource metadata): the authorization
/// server is the MCP server's origin, its metadata at the origin's well-known URLs.
pub fn legacy_candidate_urls(mcp_url: &ResourceUrl) -> Vec<(EndpointUrl, MetadataVariant)> {
    let origin = mcp_url.url().origin();
    let mut out = Vec::new();
    for (suffix, v) in [
        ("/.well-known/oauth-authorization-server", MetadataVariant::OAuthInsert),
        ("/.well-known/openid-configuration", MetadataVariant::OidcInsert),
    ] {
        if let Ok(e) = EndpointUrl::parse(&format!("{origin}{suffix}")) {
            out.push((e, v));
        }
    }
    out
}

/// Legacy path: reads metadata found at the MCP server's origin. Such servers may publish an
/// issuer other than the origin (MCP 2025-03-26 authorization, fallbacks), so the document's
/// own `issuer` is taken as
/// the issuer instead of being compared, but only when it lies at that same origin: the
/// 2025-03-26 revision makes the MCP server's origin the authorization server, and a document
/// there may not speak for another origin's issuer. Every other check applies.
pub fn process_legacy_metadata_response(
    url: &EndpointUrl,
    resp: &HttpResponse,
    policy: &ServerPolicy,
) -> Result<ServerMetadata, ServerMetadataError> {
    let obj = read_document(url, resp)?;
    let issuer = json::req_str(&obj, "issuer")?;
    let issuer = IssuerUrl::parse(issuer)
        .map_err(|error| ServerMetadataError::InvalidEndpoint { field: "issuer", error })?;
    // MCP 2025-03-26 "Authorization Base URL": the MCP server URL with its path discarded; the
    // document was fetched there, so its issuer must be at that origin.
    let origin = url.url().origin();
    if issuer.url().origin() != origin {
        return Err(ServerMetadataError::LegacyIssuerOriginMismatch {
            origin,
            issuer: issuer.as_str().to_owned(),
        });
    }
    validate(issuer, &obj, policy)
}

/// Legacy path without metadata (MCP 2025-03-26 "Fallbacks for Servers without Metadata
/// Discovery"): `/authorize`, `/token` and `/register` at the MCP server's origin. That
/// revision required PKCE of every server, so S256 is assumed.
pub fn legacy_default_metadata(
    mcp_url: &ResourceUrl,
) -> Result<ServerMetadata, ServerMetadataError> {
    let origin = mcp_url.url().origin();
    let ep = |field: &'static str, path: &str| {
        EndpointUrl::parse(&format!("{origin}{path}"))
            .map_err(|error| ServerMetadataError::InvalidEndpoint { field, error })
    };
    Ok(ServerMetadata {
        issuer: IssuerUrl::parse(&origin)
            .map_err(|error| ServerMetadataError::InvalidEndpoint { field: "issuer", error })?,
        authorization_endpoint: ep("authorization_endpoint", "/authorize")?,
        token_endpoint: ep("token_endpoint", "/token")?,
        registration_endpoint: Some(ep("registration_endpoint", "/register")?),
        revocation_endpoint: None,
        scopes_supported: None,
        token_endpoint_auth_methods_supported: None,
        grant_types_supported: None,
        code_challenge_methods_supported: Some(vec![crate::pkce::METHOD_S256.to_owned()]),
        authorization_response_iss_parameter_supported: false,
        client_id_metadata_document_supported: false,
        #[cfg(feature = "dpop")]
        dpop_signing_alg_values_supported: None,
    })
}

#[cfg(test)]
mod tests;
