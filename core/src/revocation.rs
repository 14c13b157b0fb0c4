//! Token revocation (RFC 7009), used by logout when the server has a `revocation_endpoint`.
//!
//! RFC 7009 §2.2: the server answers 200 whether or not the token was valid; an invalid token
//! is not an error. §2.2.1: errors use the RFC 6749 §5.2 body; `unsupported_token_type` means
//! the server cannot revoke that kind of token.

use crate::error::OAuthErrorBody;
use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::json;
use crate::token::{authenticated_form_request, ClientAuth, TokenError};
use crate::url::EndpointUrl;

/// Which token is revoked (RFC 7009 §2.1 `token_type_hint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    AccessToken,
    /// A refresh token (revoking it usually revokes its access tokens too).
    RefreshToken,
}

/// The inputs of [`revocation_request`].
#[derive(Clone, Copy)]
pub struct RevocationParams<'a> {
    /// The authorization server's revocation endpoint.
    pub endpoint: &'a EndpointUrl,
    /// How the client authenticates there.
    pub client: &'a ClientAuth<'a>,
    /// The token to revoke.
    pub token: &'a str,
    /// Which kind it is (sent as `token_type_hint`).
    pub kind: TokenKind,
}

/// The RFC 7009 §2.1 request.
pub fn revocation_request(
    id: RequestId,
    p: &RevocationParams<'_>,
) -> Result<HttpRequest, TokenError> {
    let RevocationParams { endpoint, client, token, kind } = *p;
    let hint = match kind {
        TokenKind::AccessToken => "access_token",
        TokenKind::RefreshToken => "refresh_token",
    };
    let form: Vec<(&'static str, String)> =
        vec![("token", token.to_owned()), ("token_type_hint", hint.to_owned())];
    authenticated_form_request(id, Purpose::Revocation, endpoint, client, form)
}

/// What the server did with a revocation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// 200: revoked (or the token was invalid already, which RFC 7009 §2.2 also answers 200).
    Revoked,
    /// RFC 7009 §2.2.1 `unsupported_token_type`: the server does not revoke this kind of token
    /// (a JWT access token, typically). Not a failure: it stays valid until it expires.
    NotRevocable,
}

/// A revocation the server refused or answered unexpectedly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// RFC 7009 §2.2.1: an RFC 6749 §5.2 error body.
    #[error("the revocation endpoint {endpoint} answered {status} with error {error}")]
    Rejected {
        /// The revocation endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The error body.
        error: OAuthErrorBody,
    },
    /// Neither 200 nor an error body.
    #[error(
        "the revocation endpoint {endpoint} answered status {actual}, expected 200 (RFC 7009 §2.2)"
    )]
    UnexpectedStatus {
        /// The revocation endpoint.
        endpoint: String,
        /// The status.
        actual: u16,
    },
}

impl RevocationError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RevocationError::Rejected { .. } => "revocation_rejected",
            RevocationError::UnexpectedStatus { .. } => "revocation_status",
        }
    }
}

/// Reads the RFC 7009 §2.2 response of the request sent to `endpoint`.
pub fn process_revocation_response(
    resp: &HttpResponse,
    endpoint: &str,
) -> Result<Revoked, RevocationError> {
    if resp.status == 200 {
        return Ok(Revoked::Revoked);
    }
    if let Ok(obj) = json::object_any_type(resp) {
        if let Some(error) = OAuthErrorBody::from_json(&obj) {
            if error.error == "unsupported_token_type" {
                return Ok(Revoked::NotRevocable);
            }
            let endpoint = endpoint.to_owned();
            return Err(RevocationError::Rejected { endpoint, status: resp.status, error });
        }
    }
    Err(RevocationError::UnexpectedStatus { endpoint: endpoint.to_owned(), actual: resp.status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ClientSecret;
    use crate::token::TokenEndpointAuth;

    #[test]
    fn rfc7009_section2_1_request() {
        let secret = ClientSecret::new("7Fjfp0ZBr1KtDRbnfVdmIw");
        let client = ClientAuth {
            client_id: "s6BhdRkqt3",
            client_secret: Some(&secret),
            method: TokenEndpointAuth::ClientSecretBasic,
            assertion: None,
        };
        let ep = EndpointUrl::parse("https://server.example.com/revoke").unwrap();
        let req = revocation_request(
            RequestId(1),
            &RevocationParams {
                endpoint: &ep,
                client: &client,
                token: "45ghiukldjahdnhzdauz",
                kind: TokenKind::RefreshToken,
            },
        )
        .unwrap();
        assert_eq!(req.body_text(), "token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token");
        assert_eq!(
            req.header("authorization"),
            Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3")
        );
        assert_eq!(req.purpose, Purpose::Revocation);
    }

    #[test]
    fn responses() {
        const EP: &str = "https://as.example/revoke";
        let answer = |status: u16, body: &str| {
            process_revocation_response(&HttpResponse::json(status, body), EP)
        };
        assert_eq!(answer(200, ""), Ok(Revoked::Revoked));
        // RFC 7009 §2.2.1: the server does not revoke this kind of token. Not a failure.
        assert_eq!(answer(400, r#"{"error":"unsupported_token_type"}"#), Ok(Revoked::NotRevocable));
        let e = answer(401, r#"{"error":"invalid_client"}"#).unwrap_err();
        assert_eq!(e.code(), "revocation_rejected");
        assert!(
            e.to_string().starts_with("the revocation endpoint https://as.example/revoke"),
            "{e}"
        );
        let e = answer(503, "").unwrap_err();
        assert_eq!(e, RevocationError::UnexpectedStatus { endpoint: EP.into(), actual: 503 });
        assert!(e.to_string().contains("revocation endpoint"), "{e}");
        assert!(!e.to_string().contains("token endpoint"), "{e}");
    }
}
