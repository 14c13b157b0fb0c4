use super::*;

fn endpoint() -> EndpointUrl {
    EndpointUrl::parse("https://server.example.com/token").unwrap()
}

fn form(req: &HttpRequest) -> Vec<(String, String)> {
    encoding::form_decode(&req.body_text()).unwrap()
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn rfc6749_section2_3_1_basic_example() {
    // RFC 6749 §2.3.1: Authorization: Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3
    let secret = ClientSecret::new("7Fjfp0ZBr1KtDRbnfVdmIw");
    let client = ClientAuth {
        client_id: "s6BhdRkqt3",
        client_secret: Some(&secret),
        method: TokenEndpointAuth::ClientSecretBasic,
        assertion: None,
    };
    let req = refresh_request(
        RequestId(1),
        &RefreshParams {
            token_endpoint: &endpoint(),
            client: &client,
            refresh_token: &RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA"),
            scope: None,
            resource: None,
        },
    )
    .unwrap();
    assert_eq!(
        req.header("authorization"),
        Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3")
    );
    let f = form(&req);
    assert_eq!(get(&f, "grant_type"), Some("refresh_token"));
    assert_eq!(get(&f, "client_secret"), None, "the secret is only in the header");
    assert_eq!(get(&f, "client_id"), None);
}

#[test]
fn basic_credentials_are_form_encoded_first() {
    // RFC 6749 §2.3.1 + Appendix B: "id:1" with secret "a b+%" → "id%3A1:a+b%2B%25".
    let secret = ClientSecret::new("a b+%");
    let client = ClientAuth {
        client_id: "id:1",
        client_secret: Some(&secret),
        method: TokenEndpointAuth::ClientSecretBasic,
        assertion: None,
    };
    let req = refresh_request(
        RequestId(1),
        &RefreshParams {
            token_endpoint: &endpoint(),
            client: &client,
            refresh_token: &RefreshToken::new("r"),
            scope: None,
            resource: None,
        },
    )
    .unwrap();
    let expected = format!("Basic {}", encoding::base64_std(b"id%3A1:a+b%2B%25"));
    assert_eq!(req.header("Authorization"), Some(expected.as_str()));
}

#[test]
fn code_exchange_rfc6749_section4_1_3() {
    let client = ClientAuth {
        client_id: "s6BhdRkqt3",
        client_secret: None,
        method: TokenEndpointAuth::None,
        assertion: None,
    };
    let resource = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
    let req = code_exchange_request(
        RequestId(3),
        &CodeExchangeParams {
            token_endpoint: &endpoint(),
            client: &client,
            code: &AuthorizationCode::new("SplxlOBeZQQYbYS6WxSbIA"),
            verifier: &PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            redirect_uri: &RedirectUri::parse("https://client.example.com/cb").unwrap(),
            resource: Some(&resource),
        },
    )
    .unwrap();
    assert_eq!(req.method, crate::http::Method::Post);
    assert_eq!(req.purpose, Purpose::CodeExchange);
    assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"));
    let f = form(&req);
    assert_eq!(get(&f, "grant_type"), Some("authorization_code"));
    assert_eq!(get(&f, "code"), Some("SplxlOBeZQQYbYS6WxSbIA"));
    assert_eq!(get(&f, "redirect_uri"), Some("https://client.example.com/cb"));
    assert_eq!(get(&f, "code_verifier"), Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    assert_eq!(get(&f, "resource"), Some("https://mcp.example.com/mcp"));
    assert_eq!(get(&f, "client_id"), Some("s6BhdRkqt3"));
    assert!(req.header("authorization").is_none());
}

#[test]
fn client_secret_post_and_jwt() {
    let secret = ClientSecret::new("s3cr3t");
    let post = ClientAuth {
        client_id: "c",
        client_secret: Some(&secret),
        method: TokenEndpointAuth::ClientSecretPost,
        assertion: None,
    };
    let f = form(
        &refresh_request(
            RequestId(1),
            &RefreshParams {
                token_endpoint: &endpoint(),
                client: &post,
                refresh_token: &RefreshToken::new("r"),
                scope: Some("a b"),
                resource: None,
            },
        )
        .unwrap(),
    );
    assert_eq!(get(&f, "client_secret"), Some("s3cr3t"));
    assert_eq!(get(&f, "scope"), Some("a b"));
    let missing = ClientAuth { client_secret: None, ..post };
    assert_eq!(
        refresh_request(
            RequestId(1),
            &RefreshParams {
                token_endpoint: &endpoint(),
                client: &missing,
                refresh_token: &RefreshToken::new("r"),
                scope: None,
                resource: None
            }
        )
        .unwrap_err(),
        TokenError::MissingClientSecret { method: "client_secret_post" }
    );
    let jwt = ClientAuth {
        client_id: "c",
        client_secret: None,
        method: TokenEndpointAuth::PrivateKeyJwt,
        assertion: Some("h.p.s"),
    };
    let f = form(
        &refresh_request(
            RequestId(1),
            &RefreshParams {
                token_endpoint: &endpoint(),
                client: &jwt,
                refresh_token: &RefreshToken::new("r"),
                scope: None,
                resource: None,
            },
        )
        .unwrap(),
    );
    assert_eq!(
        get(&f, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(get(&f, "client_assertion"), Some("h.p.s"));
    let no_assertion = ClientAuth { assertion: None, ..jwt };
    assert_eq!(
        refresh_request(
            RequestId(1),
            &RefreshParams {
                token_endpoint: &endpoint(),
                client: &no_assertion,
                refresh_token: &RefreshToken::new("r"),
                scope: None,
                resource: None
            }
        )
        .unwrap_err(),
        TokenError::MissingClientAssertion
    );
}

#[test]
fn rfc6749_section5_1_example() {
    let body = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600,
      "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","example_parameter":"example_value"}"#;
    // The RFC's example uses token_type "example"; an MCP client needs Bearer.
    assert_eq!(
        process_token_response(&HttpResponse::json(200, body), UnixTime(1000), None, None),
        Err(TokenError::UnsupportedTokenType("example".into()))
    );
    let body = body.replace("\"example\",", "\"Bearer\",");
    let t =
        process_token_response(&HttpResponse::json(200, &body), UnixTime(1000), None, Some("a"))
            .unwrap();
    assert_eq!(t.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "tGzv3JOkF0XG5Qx2TlKWIA");
    assert_eq!(t.expires_at, Some(UnixTime(4600)));
    assert_eq!(t.scope.as_deref(), Some("a"), "omitted scope = requested scope");
    assert!(t.is_fresh(UnixTime(4000), 60));
    assert!(!t.is_fresh(UnixTime(4550), 60));
}

#[test]
fn rfc6749_section5_2_example() {
    let resp = HttpResponse::json(400, r#"{"error":"invalid_request"}"#);
    assert_eq!(
        process_token_response(&resp, UnixTime(0), None, None),
        Err(TokenError::Rejected {
            status: 400,
            error: OAuthErrorBody {
                error: "invalid_request".into(),
                error_description: None,
                error_uri: None
            }
        })
    );
}

#[test]
fn error_with_status_200_is_an_error() {
    let resp = HttpResponse::json(
        200,
        r#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#,
    );
    let e = process_token_response(&resp, UnixTime(0), None, None).unwrap_err();
    assert_eq!(e.code(), "token_rejected");
    assert!(!e.is_transient());
}

#[test]
fn invalid_grant_and_transient_errors() {
    let e = process_token_response(
        &HttpResponse::json(400, r#"{"error":"invalid_grant"}"#),
        UnixTime(0),
        None,
        None,
    )
    .unwrap_err();
    assert!(matches!(e, TokenError::InvalidGrant(_)));
    assert!(!e.is_transient());
    let e = process_token_response(&HttpResponse::json(503, "<html>"), UnixTime(0), None, None)
        .unwrap_err();
    assert_eq!(e, TokenError::UnexpectedStatus { actual: 503 });
    assert!(e.is_transient());
    let e = process_token_response(
        &HttpResponse::json(400, r#"{"error":"temporarily_unavailable"}"#),
        UnixTime(0),
        None,
        None,
    )
    .unwrap_err();
    assert!(e.is_transient());
}

#[test]
fn refresh_rotation_rules() {
    let old = RefreshToken::new("old");
    let no_rotation =
        HttpResponse::json(200, r#"{"access_token":"a2","token_type":"bearer","expires_in":"60"}"#);
    let t = process_token_response(&no_rotation, UnixTime(10), Some(&old), None).unwrap();
    assert_eq!(t.refresh_token, Some(old.clone()));
    assert_eq!(t.expires_at, Some(UnixTime(70)));
    let rotation = HttpResponse::json(
        200,
        r#"{"access_token":"a2","token_type":"Bearer","refresh_token":"new"}"#,
    );
    let t = process_token_response(&rotation, UnixTime(10), Some(&old), None).unwrap();
    assert_eq!(t.refresh_token.unwrap().secret(), "new");
    assert_eq!(t.expires_at, None);
}

#[test]
fn malformed_token_responses() {
    let p = |status, ct: &str, body: &str| {
        process_token_response(
            &HttpResponse::new(
                status,
                vec![("content-type".into(), ct.into())],
                body.as_bytes().to_vec(),
            ),
            UnixTime(0),
            None,
            None,
        )
    };
    assert_eq!(
        p(200, "application/x-www-form-urlencoded", "access_token=x&token_type=bearer"),
        Err(TokenError::NotJson { content_type: "application/x-www-form-urlencoded".into() })
    );
    assert_eq!(
        p(200, "application/json", r#"{"token_type":"Bearer"}"#),
        Err(TokenError::MissingField("access_token"))
    );
    assert_eq!(
        p(200, "application/json", r#"{"access_token":"x"}"#),
        Err(TokenError::MissingField("token_type"))
    );
    assert_eq!(
        p(
            200,
            "application/json",
            r#"{"access_token":"x","token_type":"Bearer","expires_in":"soon"}"#
        ),
        Err(TokenError::InvalidField { field: "expires_in", expected: "a non-negative integer" })
    );
    assert_eq!(p(200, "application/json", "{").unwrap_err().code(), "token_malformed");
    assert_eq!(p(302, "text/html", "").unwrap_err(), TokenError::UnexpectedStatus { actual: 302 });
}
