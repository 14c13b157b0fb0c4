//! The client credentials grant (RFC 6749 §4.4): a confidential client obtains an access token
//! for itself, with no user and no browser (CI pipelines, backend services).
//!
//! Request (RFC 6749 §4.4.2): `grant_type=client_credentials`, optional `scope`, `resource`
//! (RFC 8707 §2.2, as on every token request of this crate), and client authentication, which
//! this grant **requires**: `client_secret_basic`, `client_secret_post` or `private_key_jwt`
//! (RFC 7523 §2.2, claims from [`crate::jwt_bearer::client_assertion_claims`]).
//! Response (RFC 6749 §4.4.3): a token response read by [`crate::token::process_token_response`];
//! a refresh token "SHOULD NOT be included" and is kept if a server sends one anyway.

use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::time::UnixTime;
use crate::token::{self, ClientAuth, TokenEndpointAuth, TokenError, TokenSet};
use crate::url::{EndpointUrl, ResourceUrl};

/// What a client credentials request sends (RFC 6749 §4.4.2, RFC 8707 §2.2).
#[derive(Clone, Copy)]
pub struct ClientCredentialsParams<'a> {
    /// The authorization server's token endpoint.
    pub token_endpoint: &'a EndpointUrl,
    /// How the client authenticates there (required by this grant).
    pub client: &'a ClientAuth<'a>,
    /// Scopes to ask for.
    pub scope: Option<&'a str>,
    /// The MCP server the token is for.
    pub resource: Option<&'a ResourceUrl>,
}

/// RFC 6749 §4.4.2 access token request.
pub fn client_credentials_request(
    id: RequestId,
    p: &ClientCredentialsParams<'_>,
) -> Result<HttpRequest, TokenError> {
    let ClientCredentialsParams { token_endpoint, client, scope, resource } = *p;
    // RFC 6749 §4.4.2: "The client MUST authenticate with the authorization server".
    if client.method == TokenEndpointAuth::None {
        return Err(TokenError::ClientAuthenticationRequired { grant: "client_credentials" });
    }
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(s) = scope.filter(|s| !s.trim().is_empty()) {
        form.push(("scope", s.to_owned()));
    }
    token::token_request(id, Purpose::ClientCredentials, token_endpoint, client, form, resource)
}

/// Reads the RFC 6749 §4.4.3 response (the rules of [`crate::token`]); an omitted `scope` means
/// `requested_scope` was granted (RFC 6749 §5.1).
pub fn process_client_credentials_response(
    resp: &HttpResponse,
    now: UnixTime,
    requested_scope: Option<&str>,
) -> Result<TokenSet, TokenError> {
    token::process_token_response(resp, now, None, requested_scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding;
    use crate::secret::ClientSecret;

    fn endpoint() -> EndpointUrl {
        EndpointUrl::parse("https://as.example.com/token").unwrap()
    }

    fn bare<'a>(
        token_endpoint: &'a EndpointUrl,
        client: &'a ClientAuth<'a>,
    ) -> ClientCredentialsParams<'a> {
        ClientCredentialsParams { token_endpoint, client, scope: None, resource: None }
    }

    fn form(req: &HttpRequest) -> Vec<(String, String)> {
        encoding::form_decode(&req.body_text()).unwrap()
    }

    #[test]
    fn request_with_basic_auth_scope_and_resource() {
        let secret = ClientSecret::new("s3cret");
        let client = ClientAuth {
            client_id: "svc",
            client_secret: Some(&secret),
            method: TokenEndpointAuth::ClientSecretBasic,
            assertion: None,
        };
        let resource = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
        let req = client_credentials_request(
            RequestId(3),
            &ClientCredentialsParams {
                token_endpoint: &endpoint(),
                client: &client,
                scope: Some("mcp:tools"),
                resource: Some(&resource),
            },
        )
        .unwrap();
        assert_eq!(req.purpose, Purpose::ClientCredentials);
        assert_eq!(req.url, "https://as.example.com/token");
        assert_eq!(
            form(&req),
            [
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("scope".to_owned(), "mcp:tools".to_owned()),
                ("resource".to_owned(), "https://mcp.example.com/mcp".to_owned()),
            ]
        );
        let basic = format!("Basic {}", encoding::base64_std(b"svc:s3cret"));
        assert_eq!(req.header("authorization"), Some(basic.as_str()));
    }

    #[test]
    fn private_key_jwt_puts_the_assertion_in_the_body() {
        let client = ClientAuth {
            client_id: "svc",
            client_secret: None,
            method: TokenEndpointAuth::PrivateKeyJwt,
            assertion: Some("h.p.s"),
        };
        let req = client_credentials_request(RequestId(1), &bare(&endpoint(), &client)).unwrap();
        let f = form(&req);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_assertion"), Some("h.p.s"));
        assert_eq!(
            get("client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        assert_eq!(get("scope"), None);
        assert_eq!(req.header("authorization"), None);
    }

    #[test]
    fn a_public_client_is_refused() {
        let client = ClientAuth {
            client_id: "public",
            client_secret: None,
            method: TokenEndpointAuth::None,
            assertion: None,
        };
        let e = client_credentials_request(RequestId(1), &bare(&endpoint(), &client)).unwrap_err();
        assert_eq!(e, TokenError::ClientAuthenticationRequired { grant: "client_credentials" });
        assert_eq!(e.code(), "client_authentication_required");
    }

    #[test]
    fn secret_methods_without_a_secret_are_refused() {
        let client = ClientAuth {
            client_id: "svc",
            client_secret: None,
            method: TokenEndpointAuth::ClientSecretPost,
            assertion: None,
        };
        let e = client_credentials_request(RequestId(1), &bare(&endpoint(), &client)).unwrap_err();
        assert_eq!(e.code(), "missing_client_secret");
    }

    #[test]
    fn response_without_scope_grants_the_requested_one() {
        let resp = HttpResponse::new(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#,
        );
        let t =
            process_client_credentials_response(&resp, UnixTime(100), Some("mcp:tools")).unwrap();
        assert_eq!(t.access_token.secret(), "at");
        assert_eq!(t.expires_at, Some(UnixTime(160)));
        assert_eq!(t.scope.as_deref(), Some("mcp:tools"));
        let denied = HttpResponse::new(
            401,
            vec![("Content-Type".into(), "application/json".into())],
            r#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
        );
        let e = process_client_credentials_response(&denied, UnixTime(100), None).unwrap_err();
        assert_eq!(e.code(), "token_rejected");
    }
}
