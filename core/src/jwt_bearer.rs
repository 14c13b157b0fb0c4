//! RFC 7523: JSON Web Tokens for OAuth 2 client authentication (§2.2, claims in §3) and as
//! authorization grants (§2.1).
//!
//! - [`client_assertion_claims`] computes the `private_key_jwt` claims: `iss` = `sub` = the
//!   client id (§3 items 1–2), `aud` = the authorization server's issuer (§3 item 3), `exp` a
//!   few minutes ahead (§3 item 4), `iat`, and a `jti` made from random bytes
//!   the host passes in (§3 item 7; the core has no randomness). Signing is the host's job
//!   ([`crate::token::ClientAssertionSigner`]): the core has no keys and no crypto besides SHA-256.
//! - [`jwt_bearer_request`] / [`process_jwt_bearer_response`] are the grant of §2.1, used by
//!   enterprise-managed authorization (MCP extension SEP-990) to redeem an ID-JAG obtained by
//!   [`crate::token_exchange`] for an access token at the MCP server's authorization server.

use crate::encoding;
use crate::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use crate::secret::GrantAssertion;
use crate::time::UnixTime;
use crate::token::{self, AssertionClaims, ClientAuth, TokenError, TokenSet};
use crate::url::{EndpointUrl, ResourceUrl};

/// The grant type of RFC 7523 §2.1.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The client assertion type of RFC 7523 §2.2.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A `jti` from 16 random bytes (128 bits; RFC 7523 §3 item 7 wants it unique per assertion).
pub fn jti_from_entropy(random: &[u8; 16]) -> String {
    encoding::base64url_nopad(random)
}

/// The claims of a `private_key_jwt` client assertion for `client_id` at the authorization
/// server `issuer`, valid for [`token::ASSERTION_LIFETIME_SECS`] from `now`.
pub fn client_assertion_claims(
    client_id: &str,
    issuer: &str,
    now: UnixTime,
    jti_random: &[u8; 16],
) -> AssertionClaims {
    AssertionClaims {
        // RFC 7523 §3 items 1 and 2: for client authentication iss and sub are the client id.
        iss: client_id.to_owned(),
        sub: client_id.to_owned(),
        // RFC 7523 §3 item 3: the audience identifies the authorization server (its issuer).
        aud: issuer.to_owned(),
        iat: now.secs(),
        // RFC 7523 §3 item 4: an expiry, kept short.
        exp: now.plus(token::ASSERTION_LIFETIME_SECS).secs(),
        jti: Some(jti_from_entropy(jti_random)),
    }
}

/// What a jwt-bearer grant request sends (RFC 7523 §2.1, RFC 8707 §2.2).
#[derive(Clone, Copy)]
pub struct JwtBearerParams<'a> {
    /// The authorization server's token endpoint.
    pub token_endpoint: &'a EndpointUrl,
    /// How the client authenticates there (a public client sends its `client_id`).
    pub client: &'a ClientAuth<'a>,
    /// The grant: a JWT (an ID-JAG, say).
    pub assertion: &'a GrantAssertion,
    /// Scopes to ask for.
    pub scope: Option<&'a str>,
    /// The MCP server the token is for.
    pub resource: Option<&'a ResourceUrl>,
}

/// RFC 7523 §2.1 access token request with `assertion` as the grant.
pub fn jwt_bearer_request(
    id: RequestId,
    p: &JwtBearerParams<'_>,
) -> Result<HttpRequest, TokenError> {
    let JwtBearerParams { token_endpoint, client, assertion, scope, resource } = *p;
    // RFC 7523 §2.1: grant_type and a single JWT in `assertion`; `scope` optional.
    let mut form =
        vec![("grant_type", GRANT_TYPE.to_owned()), ("assertion", assertion.secret().to_owned())];
    if let Some(s) = scope.filter(|s| !s.trim().is_empty()) {
        form.push(("scope", s.to_owned()));
    }
    token::token_request(id, Purpose::JwtBearerGrant, token_endpoint, client, form, resource)
}

/// Reads the token response of the §2.1 grant (the rules of [`crate::token`]).
pub fn process_jwt_bearer_response(
    resp: &HttpResponse,
    now: UnixTime,
    requested_scope: Option<&str>,
) -> Result<TokenSet, TokenError> {
    token::process_token_response(resp, now, None, requested_scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenEndpointAuth;

    #[test]
    fn client_assertion_claims_follow_rfc7523_section3() {
        let c = client_assertion_claims("svc", "https://as.example.com", UnixTime(1000), &[0; 16]);
        assert_eq!((c.iss.as_str(), c.sub.as_str()), ("svc", "svc"));
        assert_eq!(c.aud, "https://as.example.com");
        assert_eq!((c.iat, c.exp), (1000, 1000 + token::ASSERTION_LIFETIME_SECS));
        const { assert!(token::ASSERTION_LIFETIME_SECS <= 300, "exp within minutes") };
        assert_eq!(c.jti.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA"));
        let other =
            client_assertion_claims("svc", "https://as.example.com", UnixTime(1000), &[1; 16]);
        assert_ne!(c.jti, other.jti, "jti comes from the entropy");
        assert_eq!(
            c.to_json("unused"),
            r#"{"iss":"svc","sub":"svc","aud":"https://as.example.com","iat":1000,"exp":1120,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}"#
        );
        let without = AssertionClaims { jti: None, ..c };
        assert!(without.to_json("fallback").ends_with(r#""jti":"fallback"}"#));
    }

    #[test]
    fn grant_request_carries_the_assertion() {
        let endpoint = EndpointUrl::parse("https://as.example.com/token").unwrap();
        let client = ClientAuth {
            client_id: "mcp-client",
            client_secret: None,
            method: TokenEndpointAuth::None,
            assertion: None,
        };
        let resource = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
        let req = jwt_bearer_request(
            RequestId(9),
            &JwtBearerParams {
                token_endpoint: &endpoint,
                client: &client,
                assertion: &GrantAssertion::new("a.b.c"),
                scope: Some("mcp:tools"),
                resource: Some(&resource),
            },
        )
        .unwrap();
        assert_eq!(req.purpose, Purpose::JwtBearerGrant);
        let f = encoding::form_decode(&req.body_text()).unwrap();
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("grant_type", GRANT_TYPE),
                ("assertion", "a.b.c"),
                ("scope", "mcp:tools"),
                ("resource", "https://mcp.example.com/mcp"),
                ("client_id", "mcp-client"),
            ]
        );
        assert!(!format!("{req:?}").contains("a.b.c"), "Debug never prints the body");
    }

    #[test]
    fn refused_assertion_is_invalid_grant() {
        let resp = HttpResponse::new(
            400,
            vec![("Content-Type".into(), "application/json".into())],
            r#"{"error":"invalid_grant","error_description":"assertion audience mismatch"}"#,
        );
        let e = process_jwt_bearer_response(&resp, UnixTime(0), None).unwrap_err();
        assert_eq!(e.code(), "invalid_grant");
        assert!(e.to_string().contains("audience mismatch"));
    }
}
