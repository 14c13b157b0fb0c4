//! The token endpoint: authorization-code exchange (RFC 6749 §4.1.3), refresh (RFC 6749 §6),
//! client authentication (RFC 6749 §2.3.1, RFC 7523 §2.2 hook), response processing
//! (RFC 6749 §5.1 / §5.2), with `resource` (RFC 8707 §2.2) on every request.
//!
//! Response rules, in order: a JSON body with an `error` member is an OAuth error **whatever the
//! status** (GitHub answers errors with 200); otherwise status 200; JSON content type; object;
//! `access_token`; `token_type` `Bearer` compared case-insensitively (RFC 6749 §5.1 says the
//! value is case-insensitive; Cloudflare and GitHub send `bearer`); `expires_in` as a number or
//! a numeric string (Entra v1); the old refresh token is kept when the server does not rotate
//! (RFC 6749 §6); an omitted `scope` means the requested scope was granted (RFC 6749 §5.1).

use crate::encoding;
use crate::error::OAuthErrorBody;
use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json::{self, BodyProblem, FieldProblem};
use crate::secret::{
    AccessToken, AuthorizationCode, ClientSecret, IdToken, PkceVerifier, RefreshToken,
};
use crate::time::UnixTime;
use crate::url::{EndpointUrl, RedirectUri, ResourceUrl};

/// How the client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuth {
    /// A public client: `client_id` in the body, no secret.
    None,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A signed JWT assertion (RFC 7523 §2.2); the signature comes from a
    /// [`ClientAssertionSigner`].
    PrivateKeyJwt,
}

impl TokenEndpointAuth {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Reads an RFC 7591 name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "client_secret_basic" => Self::ClientSecretBasic,
            "client_secret_post" => Self::ClientSecretPost,
            "private_key_jwt" => Self::PrivateKeyJwt,
            _ => return None,
        })
    }
}

/// The claims of a `private_key_jwt` client assertion (RFC 7523 §3), computed by the core.
/// [`crate::jwt_bearer::client_assertion_claims`] fills `jti` from random bytes the host passes
/// in; when `jti` is `None` (the authorization-code flow, which has no entropy at hand) the signer
/// adds one from its own randomness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionClaims {
    /// `iss`: the client id.
    pub iss: String,
    /// `sub`: the client id.
    pub sub: String,
    /// `aud`: the authorization server's issuer (RFC 7523 §3).
    pub aud: String,
    /// `iat`.
    pub iat: u64,
    /// `exp`: a few minutes after `iat`.
    pub exp: u64,
    /// `jti`: a unique identifier (RFC 7523 §3 item 7), or `None` for the signer to add.
    pub jti: Option<String>,
}

impl AssertionClaims {
    /// The JWT claims set as compact JSON (RFC 7519 §4.1 names), with `jti` as given here or
    /// `fallback_jti` when `None`: what a signer puts in the JWS payload.
    pub fn to_json(&self, fallback_jti: &str) -> String {
        use crate::json::Json;
        let jti = self.jti.as_deref().unwrap_or(fallback_jti);
        Json::Object(vec![
            ("iss".to_owned(), Json::str(self.iss.as_str())),
            ("sub".to_owned(), Json::str(self.sub.as_str())),
            ("aud".to_owned(), Json::str(self.aud.as_str())),
            ("iat".to_owned(), Json::uint(self.iat)),
            ("exp".to_owned(), Json::uint(self.exp)),
            ("jti".to_owned(), Json::str(jti)),
        ])
        .to_text()
    }
}

/// Lifetime of a client assertion (RFC 7523 §3: "a limited time").
pub const ASSERTION_LIFETIME_SECS: u64 = 120;

/// Signs client assertions for `private_key_jwt`: the hook an adapter implements with a
/// maintained JOSE crate (the core has no keys and no randomness).
pub trait ClientAssertionSigner {
    /// Adds `jti` to the claims, signs them, and returns the compact JWS.
    fn sign(&self, claims: &AssertionClaims) -> Result<String, String>;
}

/// The client as the token endpoint sees it.
#[derive(Clone, Copy)]
pub struct ClientAuth<'a> {
    /// `client_id`.
    pub client_id: &'a str,
    /// The secret, for the `client_secret_*` methods.
    pub client_secret: Option<&'a ClientSecret>,
    /// The method.
    pub method: TokenEndpointAuth,
    /// A signed assertion, for `private_key_jwt`.
    pub assertion: Option<&'a str>,
}

impl ClientAuth<'_> {
    /// Adds the authentication to a form body and headers (RFC 6749 §2.3.1, RFC 7523 §2.2).
    fn apply_to(
        &self,
        form: &mut Vec<(&'static str, String)>,
        headers: &mut Vec<(String, String)>,
    ) -> Result<(), TokenError> {
        let secret = || {
            self.client_secret
                .ok_or(TokenError::MissingClientSecret { method: self.method.as_str() })
        };
        match self.method {
            TokenEndpointAuth::None => form.push(("client_id", self.client_id.to_owned())),
            TokenEndpointAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: id and secret are form-urlencoded (Appendix B), then joined by
                // ":" and base64-encoded.
                let mut creds = String::new();
                encoding::form_encode_component(self.client_id, &mut creds);
                creds.push(':');
                encoding::form_encode_component(secret()?.secret(), &mut creds);
                headers.push((
                    "Authorization".into(),
                    format!("Basic {}", encoding::base64_std(creds.as_bytes())),
                ));
            }
            TokenEndpointAuth::ClientSecretPost => {
                form.push(("client_id", self.client_id.to_owned()));
                form.push(("client_secret", secret()?.secret().to_owned()));
            }
            TokenEndpointAuth::PrivateKeyJwt => {
                let assertion = self.assertion.ok_or(TokenError::MissingClientAssertion)?;
                form.push(("client_id", self.client_id.to_owned()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion.to_owned()));
            }
        }
        Ok(())
    }
}

/// What went wrong at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// RFC 6749 §5.2 `invalid_grant`: the code or refresh token is invalid, expired or revoked.
    /// Terminal for that grant: authorize again.
    #[error("the authorization server rejected the grant (invalid_grant){}", describe(.0))]
    InvalidGrant(OAuthErrorBody),
    /// Another OAuth error from the token endpoint.
    #[error("the token endpoint answered {status} with error {error}")]
    Rejected {
        /// HTTP status (GitHub uses 200).
        status: u16,
        /// The error body.
        error: OAuthErrorBody,
    },
    /// Not 200 and no OAuth error body.
    #[error("the token endpoint answered status {actual}, expected 200")]
    UnexpectedStatus {
        /// The status.
        actual: u16,
    },
    /// A 200 that is not JSON.
    #[error(
        "the token response is not JSON (content type `{content_type}`); the server must \
         answer application/json"
    )]
    NotJson {
        /// The content type.
        content_type: String,
    },
    /// Unreadable JSON.
    #[error("the token response is malformed: {0}")]
    Malformed(String),
    /// A required member is missing.
    #[error("the token response lacks `{0}`")]
    MissingField(&'static str),
    /// A member has the wrong type.
    #[error("the token response member `{field}` must be {expected}")]
    InvalidField {
        /// The member.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `token_type` is not Bearer (nor DPoP after a request with a proof).
    #[error("the token type `{0}` is not supported (only Bearer)")]
    UnsupportedTokenType(String),
    /// A `client_secret_*` method without a secret.
    #[error("token endpoint auth method {method} needs a client secret, and none is configured")]
    MissingClientSecret {
        /// The method.
        method: &'static str,
    },
    /// `private_key_jwt` without an assertion.
    #[error("token endpoint auth method private_key_jwt needs a client assertion signer")]
    MissingClientAssertion,
    /// The signer failed.
    #[error("signing the client assertion failed: {0}")]
    AssertionSigningFailed(String),
    /// The host could not supply the workload's platform assertion (RFC 7523 §2.1 grant of
    /// [`crate::headless::HeadlessConfig::workload_identity`]): no file, an empty one, not a JWT.
    #[error("the workload identity assertion is unavailable: {0}")]
    WorkloadAssertionUnavailable(String),
    /// A grant that requires client authentication was asked for by a public client.
    #[error(
        "the {grant} grant needs client authentication (client_secret_basic, client_secret_post \
         or private_key_jwt); this client has none"
    )]
    ClientAuthenticationRequired {
        /// The grant type.
        grant: &'static str,
    },
}

fn describe(e: &OAuthErrorBody) -> String {
    e.error_description.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
}

impl TokenError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidGrant(_) => "invalid_grant",
            Self::Rejected { .. } => "token_rejected",
            Self::UnexpectedStatus { .. } => "token_status",
            Self::NotJson { .. } => "token_not_json",
            Self::Malformed(_) => "token_malformed",
            Self::MissingField(_) => "token_missing_field",
            Self::InvalidField { .. } => "token_invalid_field",
            Self::UnsupportedTokenType(_) => "unsupported_token_type",
            Self::MissingClientSecret { .. } => "missing_client_secret",
            Self::MissingClientAssertion => "missing_client_assertion",
            Self::AssertionSigningFailed(_) => "assertion_signing_failed",
            Self::WorkloadAssertionUnavailable(_) => "workload_assertion_unavailable",
            Self::ClientAuthenticationRequired { .. } => "client_authentication_required",
        }
    }

    /// True for failures worth retrying later with the same grant (5xx, `temporarily_unavailable`,
    /// `server_error`, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::UnexpectedStatus { actual } => *actual >= 500 || *actual == 429,
            Self::Rejected { status, error } => {
                *status >= 500
                    || *status == 429
                    || error.error == "temporarily_unavailable"
                    || error.error == "server_error"
            }
            _ => false,
        }
    }
}

impl From<FieldProblem> for TokenError {
    fn from(p: FieldProblem) -> Self {
        match p {
            FieldProblem::Missing(f) => Self::MissingField(f),
            FieldProblem::WrongType { field, expected } => Self::InvalidField { field, expected },
        }
    }
}

/// Tokens as stored: absolute expiry, the scope actually granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type as the server spelled it: Bearer, or DPoP (RFC 9449 §5), any case.
    pub token_type: String,
    /// The refresh token, new or kept from before.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (`None`: the server did not say).
    pub expires_at: Option<UnixTime>,
    /// The granted scope (space-delimited).
    pub scope: Option<String>,
    /// An OpenID Connect ID token, when the server returned one.
    pub id_token: Option<IdToken>,
    /// When the tokens were received.
    pub received_at: UnixTime,
}

impl TokenSet {
    /// True when the access token is still usable at `now` with `skew_secs` to spare.
    pub fn is_fresh(&self, now: UnixTime, skew_secs: u64) -> bool {
        self.expires_at.is_none_or(|exp| now.plus(skew_secs) < exp)
    }

    /// True for a DPoP-bound access token (`token_type` DPoP, RFC 9449 §5): it is sent as
    /// `Authorization: DPoP` with a proof (§7.1), never as Bearer, and refreshed with a proof of
    /// the same key.
    pub fn is_dpop_bound(&self) -> bool {
        self.token_type.eq_ignore_ascii_case(crate::dpop::TOKEN_TYPE)
    }
}

pub(crate) fn token_request(
    id: RequestId,
    purpose: Purpose,
    endpoint: &EndpointUrl,
    client: &ClientAuth<'_>,
    mut form: Vec<(&'static str, String)>,
    resource: Option<&ResourceUrl>,
) -> Result<HttpRequest, TokenError> {
    if let Some(r) = resource {
        // RFC 8707 §2.2 / MCP: `resource` on every token request.
        form.push(("resource", r.as_str().to_owned()));
    }
    authenticated_form_request(id, purpose, endpoint, client, form)
}

/// A form POST to an authorization-server endpoint with the client's authentication added
/// (token and revocation endpoints).
pub(crate) fn authenticated_form_request(
    id: RequestId,
    purpose: Purpose,
    endpoint: &EndpointUrl,
    client: &ClientAuth<'_>,
    mut form: Vec<(&'static str, String)>,
) -> Result<HttpRequest, TokenError> {
    let mut headers = Vec::new();
    client.apply_to(&mut form, &mut headers)?;
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut req = HttpRequest::post_form(id, purpose, endpoint.as_str(), &pairs);
    req.headers.extend(headers);
    Ok(req)
}

/// What an authorization-code exchange sends (RFC 6749 §4.1.3, RFC 7636 §4.5, RFC 8707 §2.2).
#[derive(Clone, Copy)]
pub struct CodeExchangeParams<'a> {
    /// The authorization server's token endpoint.
    pub token_endpoint: &'a EndpointUrl,
    /// How the client authenticates there.
    pub client: &'a ClientAuth<'a>,
    /// The code from the callback.
    pub code: &'a AuthorizationCode,
    /// The PKCE verifier of the authorization request.
    pub verifier: &'a PkceVerifier,
    /// The redirect URI the authorization request named.
    pub redirect_uri: &'a RedirectUri,
    /// The MCP server the token is for.
    pub resource: Option<&'a ResourceUrl>,
}

/// RFC 6749 §4.1.3 access token request, with the PKCE verifier (RFC 7636 §4.5).
pub fn code_exchange_request(
    id: RequestId,
    p: &CodeExchangeParams<'_>,
) -> Result<HttpRequest, TokenError> {
    let CodeExchangeParams { token_endpoint, client, code, verifier, redirect_uri, resource } = *p;
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.secret().to_owned()),
        ("redirect_uri", redirect_uri.as_str().to_owned()),
        ("code_verifier", verifier.secret().to_owned()),
    ];
    token_request(id, Purpose::CodeExchange, token_endpoint, client, form, resource)
}

/// The inputs of [`refresh_request`].
#[derive(Clone, Copy)]
pub struct RefreshParams<'a> {
    /// The authorization server's token endpoint.
    pub token_endpoint: &'a EndpointUrl,
    /// How the client authenticates there.
    pub client: &'a ClientAuth<'a>,
    /// The refresh token to redeem.
    pub refresh_token: &'a RefreshToken,
    /// A narrower scope; `None` keeps the grant's scope.
    pub scope: Option<&'a str>,
    /// The MCP server the token is for (RFC 8707).
    pub resource: Option<&'a ResourceUrl>,
}

/// RFC 6749 §6 refresh request.
pub fn refresh_request(id: RequestId, p: &RefreshParams<'_>) -> Result<HttpRequest, TokenError> {
    let RefreshParams { token_endpoint, client, refresh_token, scope, resource } = *p;
    let mut form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.secret().to_owned()),
    ];
    if let Some(s) = scope {
        form.push(("scope", s.to_owned()));
    }
    token_request(id, Purpose::TokenRefresh, token_endpoint, client, form, resource)
}

/// Reads a token response (module docs for the rules).
///
/// `previous_refresh` is kept when the response has no new refresh token; `requested_scope` is
/// the granted scope when the response omits `scope`.
pub fn process_token_response(
    resp: &HttpResponse,
    now: UnixTime,
    previous_refresh: Option<&RefreshToken>,
    requested_scope: Option<&str>,
) -> Result<TokenSet, TokenError> {
    process_token_response_dpop(resp, now, previous_refresh, requested_scope, false)
}

/// [`process_token_response`] for a request that carried a DPoP proof when `proof_sent`: then
/// `token_type` may also be `DPoP` (RFC 9449 §5); without a proof a DPoP token is refused.
pub fn process_token_response_dpop(
    resp: &HttpResponse,
    now: UnixTime,
    previous_refresh: Option<&RefreshToken>,
    requested_scope: Option<&str>,
    proof_sent: bool,
) -> Result<TokenSet, TokenError> {
    // RFC 6749 §5.2: an error body is an error whatever the status (GitHub sends 200).
    if let Ok(obj) = json::object_any_type(resp) {
        if let Some(err) = OAuthErrorBody::from_json(&obj) {
            return Err(if err.error == "invalid_grant" {
                TokenError::InvalidGrant(err)
            } else {
                TokenError::Rejected { status: resp.status, error: err }
            });
        }
    }
    // RFC 6749 §5.1: success is 200.
    if resp.status != 200 {
        return Err(TokenError::UnexpectedStatus { actual: resp.status });
    }
    // RFC 6749 §5.1: "application/json".
    let obj = json::object(resp).map_err(|p| match p {
        BodyProblem::NotJson(content_type) => TokenError::NotJson { content_type },
        BodyProblem::Malformed(m) => TokenError::Malformed(m),
    })?;
    let access_token = json::req_str(&obj, "access_token")?;
    let token_type = json::req_str(&obj, "token_type")?;
    // RFC 6749 §5.1 / RFC 6750: Bearer, case-insensitive; RFC 9449 §5: DPoP when a proof
    // was sent (a server may still issue a Bearer token then).
    let dpop = proof_sent && token_type.eq_ignore_ascii_case(crate::dpop::TOKEN_TYPE);
    if !token_type.eq_ignore_ascii_case("bearer") && !dpop {
        return Err(TokenError::UnsupportedTokenType(token_type.to_owned()));
    }
    let expires_at = json::opt_u64_lenient(&obj, "expires_in")?.map(|s| now.plus(s));
    // RFC 6749 §6: a server that does not rotate omits refresh_token; keep the old one.
    let refresh_token = match json::opt_str(&obj, "refresh_token")? {
        Some(r) if !r.is_empty() => Some(RefreshToken::new(r)),
        _ => previous_refresh.cloned(),
    };
    // RFC 6749 §5.1: scope omitted = the requested scope was granted.
    let scope =
        json::opt_str(&obj, "scope")?.map(str::to_owned).or(requested_scope.map(str::to_owned));
    Ok(TokenSet {
        access_token: AccessToken::new(access_token),
        token_type: token_type.to_owned(),
        refresh_token,
        expires_at,
        scope,
        id_token: json::opt_str(&obj, "id_token")?.map(IdToken::new),
        received_at: now,
    })
}

#[cfg(test)]
mod tests;
