//! Protected-resource metadata (RFC 9728), as the MCP 2026-07-28 "Authorization Server
//! Discovery" section uses it.
//!
//! Candidate URLs, in order (MCP 2026-07-28, Authorization Server Discovery):
//! 1. the `resource_metadata` URL of the 401's `WWW-Authenticate` header (RFC 9728 §5.1);
//! 2. `/.well-known/oauth-protected-resource` inserted before the MCP URL's path (RFC 9728 §3.1);
//! 3. `/.well-known/oauth-protected-resource` at the origin.
//!
//! Candidates 2 and 3 are tried after a header URL too: Notion's header points at a URL that
//! answers 404 while the root one works. A 4xx, a non-JSON 200 or a transport failure moves to
//! the next candidate; a 5xx stops discovery (the server exists but is failing).
//!
//! Deviation: RFC 9728 §3.3 wants `resource` to equal the URL the client used.
//! Real servers publish their origin for a `/mcp` endpoint, so a `resource` with the same origin
//! whose path is a prefix of the MCP URL's path on a segment boundary is accepted. Any other
//! origin is an error, never a fallback.

use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json::{self, BodyProblem, FieldProblem};
use crate::url::{EndpointUrl, IssuerUrl, ResourceUrl, UrlError};

/// The well-known suffix (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What went wrong with protected-resource metadata.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceMetadataError {
    /// The header's `resource_metadata` is not an acceptable URL.
    #[error("the resource_metadata URL in WWW-Authenticate is unusable: {0}")]
    InvalidMetadataUrl(UrlError),
    /// Not 200.
    #[error("protected-resource metadata at {url}: expected status 200, got {actual}")]
    UnexpectedStatus {
        /// The URL fetched.
        url: String,
        /// The status received.
        actual: u16,
    },
    /// Not JSON.
    #[error("protected-resource metadata at {url} is not JSON (content type `{content_type}`)")]
    NotJson {
        /// The URL fetched.
        url: String,
        /// The content type received.
        content_type: String,
    },
    /// JSON but not a readable object.
    #[error("protected-resource metadata at {url} is malformed: {reason}")]
    Malformed {
        /// The URL fetched.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// A required member is missing.
    #[error("protected-resource metadata lacks `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong type.
    #[error("protected-resource metadata member `{field}` must be {expected}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A URL member is not acceptable.
    #[error("protected-resource metadata has an unusable URL: {0}")]
    InvalidUrl(UrlError),
    /// `resource` does not identify this MCP server.
    #[error("protected-resource metadata is for `{actual}`, not for this MCP server `{expected}`")]
    ResourceMismatch {
        /// The MCP server's canonical URL.
        expected: String,
        /// The metadata's `resource`.
        actual: String,
    },
    /// `authorization_servers` is missing or empty (MCP requires at least one).
    #[error("protected-resource metadata lists no authorization_servers")]
    NoAuthorizationServers,
    /// Every candidate URL failed with a 4xx or transport error.
    #[error("no protected-resource metadata found (tried: {tried})")]
    NotFound {
        /// The URLs tried, comma-separated.
        tried: String,
    },
}

impl ResourceMetadataError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidMetadataUrl(_) => "resource_metadata_url_invalid",
            Self::UnexpectedStatus { .. } => "resource_metadata_status",
            Self::NotJson { .. } => "resource_metadata_not_json",
            Self::Malformed { .. } => "resource_metadata_malformed",
            Self::MissingField(_) => "resource_metadata_missing_field",
            Self::InvalidField { .. } => "resource_metadata_invalid_field",
            Self::InvalidUrl(_) => "resource_metadata_invalid_url",
            Self::ResourceMismatch { .. } => "resource_mismatch",
            Self::NoAuthorizationServers => "no_authorization_servers",
            Self::NotFound { .. } => "resource_metadata_not_found",
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

impl From<FieldProblem> for ResourceMetadataError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(f) => Self::MissingField(f),
            FieldProblem::WrongType { field, expected } => Self::InvalidField { field, expected },
        }
    }
}

/// Protected-resource metadata, validated (RFC 9728 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The URL it was fetched from.
    pub url: String,
    /// `resource`, canonical.
    pub resource: ResourceUrl,
    /// `authorization_servers`, in the server's order.
    pub authorization_servers: Vec<IssuerUrl>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_name`.
    pub resource_name: Option<String>,
    /// RFC 9728 §2 `dpop_bound_access_tokens_required` (absent: false): the resource accepts
    /// only DPoP-bound access tokens (RFC 9449). Feature `dpop`, as the next one.
    #[cfg(feature = "dpop")]
    pub dpop_bound_access_tokens_required: bool,
    /// RFC 9728 §2 `dpop_signing_alg_values_supported`.
    #[cfg(feature = "dpop")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// The candidate URLs for an MCP server, in order (module docs).
pub fn candidate_urls(
    mcp_url: &ResourceUrl,
    header_url: Option<&str>,
) -> Result<Vec<EndpointUrl>, ResourceMetadataError> {
    let mut out: Vec<EndpointUrl> = Vec::new();
    if let Some(h) = header_url {
        out.push(EndpointUrl::parse(h).map_err(ResourceMetadataError::InvalidMetadataUrl)?);
    }
    let u = mcp_url.url();
    let path = u.path().trim_end_matches('/');
    let mut suffixed = format!("{}{}{}", u.origin(), WELL_KNOWN, path);
    if let Some(q) = u.query() {
        // RFC 9728 §3.1: the query component follows the path.
        suffixed.push('?');
        suffixed.push_str(q);
    }
    let root = format!("{}{}", u.origin(), WELL_KNOWN);
    for s in [suffixed, root] {
        let e = EndpointUrl::parse(&s).map_err(ResourceMetadataError::InvalidUrl)?;
        if !out.iter().any(|o| o.url() == e.url()) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The GET request for one candidate.
pub fn metadata_request(id: RequestId, url: &EndpointUrl) -> HttpRequest {
    HttpRequest::get(id, Purpose::ResourceMetadata, url.as_str())
}

/// Checks a response and reads the metadata, requiring that it describes `mcp_url`.
pub fn process_metadata_response(
    url: &EndpointUrl,
    mcp_url: &ResourceUrl,
    resp: &HttpResponse,
) -> Result<ResourceMetadata, ResourceMetadataError> {
    let at = || url.as_str().to_owned();
    // RFC 9728 §3.2: a successful response uses status 200.
    if resp.status != 200 {
        return Err(ResourceMetadataError::UnexpectedStatus { url: at(), actual: resp.status });
    }
    // RFC 9728 §3.2: "application/json"; a 200 HTML page is a well-known URL that does not exist.
    let obj = json::object(resp).map_err(|p| match p {
        BodyProblem::NotJson(ct) => ResourceMetadataError::NotJson { url: at(), content_type: ct },
        BodyProblem::Malformed(reason) => ResourceMetadataError::Malformed { url: at(), reason },
    })?;
    // RFC 9728 §2: `resource` is REQUIRED.
    let resource_str = json::req_str(&obj, "resource")?;
    // Kept as published: it is the resource's identifier at its authorization server.
    let resource =
        ResourceUrl::parse_published(resource_str).map_err(ResourceMetadataError::InvalidUrl)?;
    // RFC 9728 §3.3 (relaxed to a path prefix, see module docs): the metadata must be this server's.
    if !resource.covers(mcp_url) {
        return Err(ResourceMetadataError::ResourceMismatch {
            expected: mcp_url.as_str().to_owned(),
            actual: resource_str.to_owned(),
        });
    }
    // MCP 2026-07-28: the metadata MUST include at least one authorization server.
    let servers = json::opt_str_array(&obj, "authorization_servers")?.unwrap_or_default();
    if servers.is_empty() {
        return Err(ResourceMetadataError::NoAuthorizationServers);
    }
    let authorization_servers = servers
        .iter()
        .map(|s| IssuerUrl::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ResourceMetadataError::InvalidUrl)?;
    Ok(ResourceMetadata {
        url: at(),
        resource,
        authorization_servers,
        scopes_supported: json::opt_str_array(&obj, "scopes_supported")?,
        resource_name: json::opt_str(&obj, "resource_name")?.map(str::to_owned),
        #[cfg(feature = "dpop")]
        dpop_bound_access_tokens_required: json::opt_bool(
            &obj,
            "dpop_bound_access_tokens_required",
        )?
        .unwrap_or(false),
        #[cfg(feature = "dpop")]
        dpop_signing_alg_values_supported: json::opt_str_array(
            &obj,
            "dpop_signing_alg_values_supported",
        )?,
    })
}

#[cfg(test)]
mod tests;
