//! OAuth 2.0 Token Exchange (RFC 8693), as the first step of enterprise-managed authorization
//! (MCP extension SEP-990, "Enterprise-Managed Authorization", §4): the client exchanges the
//! user's ID token at the enterprise identity provider for an Identity Assertion JWT
//! Authorization Grant (ID-JAG, draft-ietf-oauth-identity-assertion-authz-grant §4.3), which it
//! then redeems with the RFC 7523 grant of [`crate::jwt_bearer`].
//!
//! Request (RFC 8693 §2.1): `grant_type` token-exchange, `subject_token` + `subject_token_type`
//! (required), `requested_token_type`, `audience`, `resource`, `scope`; client authentication as
//! at any token endpoint (RFC 8693 §2.1 defers to RFC 6749 §2.3). SEP-990 §4: `audience` MUST be
//! the issuer identifier of the MCP server's authorization server, and `resource`, when set, MUST
//! be the MCP server's resource identifier (RFC 9728) — [`id_jag_request`] takes them typed.
//!
//! Response rules, in order: an OAuth error body is an error (RFC 8693 §2.2.2 → RFC 6749 §5.2);
//! status 200 (§2.2.1); JSON object; `access_token`, `issued_token_type` and `token_type`
//! present (§2.2.1, all REQUIRED); `issued_token_type` equals the type asked for (the ID-JAG
//! profile, draft §4.3.4, answers `urn:ietf:params:oauth:token-type:id-jag` with `token_type`
//! `N_A`, so `token_type` is not required to be Bearer here).

use crate::error::OAuthErrorBody;
use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json::{self, BodyProblem, FieldProblem};
use crate::secret::{GrantAssertion, IdToken};
use crate::time::UnixTime;
use crate::token::{self, ClientAuth, TokenError};
use crate::url::{EndpointUrl, IssuerUrl, ResourceUrl};

/// The grant type of RFC 8693 §2.1.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Token type identifiers (RFC 8693 §3; the ID-JAG draft §9 registers `id-jag`).
pub mod token_types {
    /// An OpenID Connect ID token (RFC 8693 §3).
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// An OAuth access token (RFC 8693 §3).
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OAuth refresh token (RFC 8693 §3).
    pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// An Identity Assertion JWT Authorization Grant.
    pub const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
}

/// The parameters of one exchange (RFC 8693 §2.1). `Debug` prints `subject_token` as
/// `<redacted>`: it is the user's ID token (or another credential).
#[derive(Clone, Copy)]
pub struct ExchangeParams<'a> {
    /// `subject_token` (REQUIRED).
    pub subject_token: &'a str,
    /// `subject_token_type` (REQUIRED).
    pub subject_token_type: &'a str,
    /// `requested_token_type`.
    pub requested_token_type: Option<&'a str>,
    /// `audience`.
    pub audience: Option<&'a str>,
    /// `resource`.
    pub resource: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
}

impl core::fmt::Debug for ExchangeParams<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExchangeParams")
            .field("subject_token", &"<redacted>")
            .field("subject_token_type", &self.subject_token_type)
            .field("requested_token_type", &self.requested_token_type)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What went wrong in a token exchange.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenExchangeError {
    /// An OAuth error from the identity provider (`invalid_grant` for an expired ID token,
    /// `invalid_target` when policy refuses the audience or resource, RFC 8693 §2.2.2).
    #[error("the token exchange was refused ({status}): {error}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The error body.
        error: OAuthErrorBody,
    },
    /// Not 200 and no OAuth error body.
    #[error("the token exchange answered status {actual}, expected 200")]
    UnexpectedStatus {
        /// The status.
        actual: u16,
    },
    /// A 200 that is not JSON.
    #[error("the token exchange response is not JSON (content type `{content_type}`)")]
    NotJson {
        /// The content type.
        content_type: String,
    },
    /// Unreadable JSON.
    #[error("the token exchange response is malformed: {0}")]
    Malformed(String),
    /// A required member is missing.
    #[error("the token exchange response lacks `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong type.
    #[error("the token exchange response member `{field}` must be {expected}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The identity provider issued another kind of token than the one asked for.
    #[error("the token exchange issued a token of type {actual}, but {expected} was requested")]
    IssuedTokenTypeMismatch {
        /// The requested type.
        expected: String,
        /// `issued_token_type`.
        actual: String,
    },
}

impl TokenExchangeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "token_exchange_rejected",
            Self::UnexpectedStatus { .. } => "token_exchange_status",
            Self::NotJson { .. } => "token_exchange_not_json",
            Self::Malformed(_) => "token_exchange_malformed",
            Self::MissingField(_) => "token_exchange_missing_field",
            Self::InvalidField { .. } => "token_exchange_invalid_field",
            Self::IssuedTokenTypeMismatch { .. } => "issued_token_type_mismatch",
        }
    }
}

impl From<FieldProblem> for TokenExchangeError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(f) => Self::MissingField(f),
            FieldProblem::WrongType { field, expected } => Self::InvalidField { field, expected },
        }
    }
}

/// The token an exchange issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangedToken {
    /// The issued token (`access_token` member, whatever its type, RFC 8693 §2.2.1).
    pub token: GrantAssertion,
    /// `issued_token_type`.
    pub issued_token_type: String,
    /// `token_type` (`N_A` for an ID-JAG).
    pub token_type: String,
    /// When it expires, if the server said.
    pub expires_at: Option<UnixTime>,
    /// The granted scope, if the server said.
    pub scope: Option<String>,
}

/// RFC 8693 §2.1 token exchange request.
pub fn token_exchange_request(
    id: RequestId,
    token_endpoint: &EndpointUrl,
    client: &ClientAuth<'_>,
    params: &ExchangeParams<'_>,
) -> Result<HttpRequest, TokenError> {
    let mut form = vec![("grant_type", GRANT_TYPE.to_owned())];
    let optional = [
        ("requested_token_type", params.requested_token_type),
        ("audience", params.audience),
        ("resource", params.resource),
        ("scope", params.scope.filter(|s| !s.trim().is_empty())),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            form.push((name, v.to_owned()));
        }
    }
    // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
    form.push(("subject_token", params.subject_token.to_owned()));
    form.push(("subject_token_type", params.subject_token_type.to_owned()));
    token::authenticated_form_request(
        id,
        Purpose::IdentityAssertionExchange,
        token_endpoint,
        client,
        form,
    )
}

/// What an ID-JAG request sends to the identity provider (SEP-990 §4, RFC 8693 §2.1).
#[derive(Clone, Copy)]
pub struct IdJagParams<'a> {
    /// The identity provider's token endpoint.
    pub idp_token_endpoint: &'a EndpointUrl,
    /// How the client authenticates there.
    pub client: &'a ClientAuth<'a>,
    /// The user's ID token (the subject token).
    pub id_token: &'a IdToken,
    /// The authorization server's issuer the ID-JAG is for.
    pub audience: &'a IssuerUrl,
    /// The MCP server.
    pub resource: Option<&'a ResourceUrl>,
    /// Scopes to ask for.
    pub scope: Option<&'a str>,
}

/// SEP-990 §4: the user's ID token for an ID-JAG for the authorization server `audience`
/// (its issuer) and the MCP server `resource`.
pub fn id_jag_request(id: RequestId, p: &IdJagParams<'_>) -> Result<HttpRequest, TokenError> {
    let IdJagParams { idp_token_endpoint, client, id_token, audience, resource, scope } = *p;
    token_exchange_request(
        id,
        idp_token_endpoint,
        client,
        &ExchangeParams {
            subject_token: id_token.secret(),
            subject_token_type: token_types::ID_TOKEN,
            requested_token_type: Some(token_types::ID_JAG),
            // SEP-990 §4: audience MUST be the issuer identifier of the authorization server.
            audience: Some(audience.as_str()),
            // SEP-990 §4: resource, if set, MUST be the MCP server's resource identifier.
            resource: resource.map(ResourceUrl::as_str),
            scope,
        },
    )
}

/// Reads a token exchange response (module docs for the rules). `requested_token_type` is the
/// type asked for; `None` accepts any.
pub fn process_token_exchange_response(
    resp: &HttpResponse,
    now: UnixTime,
    requested_token_type: Option<&str>,
) -> Result<ExchangedToken, TokenExchangeError> {
    // RFC 8693 §2.2.2: errors are RFC 6749 §5.2 error responses.
    if let Ok(obj) = json::object_any_type(resp) {
        if let Some(error) = OAuthErrorBody::from_json(&obj) {
            return Err(TokenExchangeError::Rejected { status: resp.status, error });
        }
    }
    // RFC 8693 §2.2.1: success is 200 with an application/json body.
    if resp.status != 200 {
        return Err(TokenExchangeError::UnexpectedStatus { actual: resp.status });
    }
    let obj = json::object(resp).map_err(|p| match p {
        BodyProblem::NotJson(content_type) => TokenExchangeError::NotJson { content_type },
        BodyProblem::Malformed(m) => TokenExchangeError::Malformed(m),
    })?;
    // RFC 8693 §2.2.1: access_token, issued_token_type and token_type are REQUIRED.
    let token = json::req_str(&obj, "access_token")?;
    let issued_token_type = json::req_str(&obj, "issued_token_type")?;
    let token_type = json::req_str(&obj, "token_type")?;
    // RFC 8693 §2.2.1 / ID-JAG draft §4.3.4: the issued type is the one requested.
    if let Some(expected) = requested_token_type {
        if issued_token_type != expected {
            return Err(TokenExchangeError::IssuedTokenTypeMismatch {
                expected: expected.to_owned(),
                actual: issued_token_type.to_owned(),
            });
        }
    }
    Ok(ExchangedToken {
        token: GrantAssertion::new(token),
        issued_token_type: issued_token_type.to_owned(),
        token_type: token_type.to_owned(),
        expires_at: json::opt_u64_lenient(&obj, "expires_in")?.map(|s| now.plus(s)),
        scope: json::opt_str(&obj, "scope")?.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests;
