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

/// Reads the RFC 7009 §2.2 response.
pub fn process_revocation_response(resp: &HttpResponse) -> Result<(), TokenError> {
    if resp.status == 200 {
        return Ok(());
    }
    if let Ok(obj) = json::object_any_type(resp) {
        if let Some(error) = OAuthErrorBody::from_json(&obj) {
            return Err(TokenError::Rejected { status: resp.status, error });
        }
    }
    Err(TokenError::UnexpectedStatus { actual: resp.status })
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
        assert_eq!(process_revocation_response(&HttpResponse::json(200, "")), Ok(()));
        let e = process_revocation_response(&HttpResponse::json(
            400,
            r#"{"error":"unsupported_token_type"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code(), "token_rejected");
        assert_eq!(
            process_revocation_response(&HttpResponse::json(503, "")),
            Err(TokenError::UnexpectedStatus { actual: 503 })
        );
    }
}
