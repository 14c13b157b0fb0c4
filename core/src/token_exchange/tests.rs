use super::*;
use crate::encoding;
use crate::secret::ClientSecret;
use crate::token::TokenEndpointAuth;

fn json(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, vec![("Content-Type".into(), "application/json".into())], body)
}

#[test]
fn sep990_section4_example_request() {
    // SEP-990 §4's example: client_secret_post, ID token as the subject.
    let secret = ClientSecret::new("a26d84873504215a34a86d52ef5cd64f4b76");
    let client = ClientAuth {
        client_id: "2ec954a1d60620116d36d9ceb7",
        client_secret: Some(&secret),
        method: TokenEndpointAuth::ClientSecretPost,
        assertion: None,
    };
    let req = id_jag_request(
        RequestId(1),
        &IdJagParams {
            idp_token_endpoint: &EndpointUrl::parse("https://acme.idp.example/oauth2/token")
                .unwrap(),
            client: &client,
            id_token: &IdToken::new("eyJraWQiOiJzMTZ0cVNtODhwREo4VGZCXzdrSEtQ"),
            audience: &IssuerUrl::parse("https://auth.chat.example/").unwrap(),
            resource: Some(&ResourceUrl::parse("https://mcp.chat.example/").unwrap()),
            scope: Some("chat.read chat.history"),
        },
    )
    .unwrap();
    assert_eq!(req.purpose, Purpose::IdentityAssertionExchange);
    let f = encoding::form_decode(&req.body_text()).unwrap();
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:id-jag"),
            ("audience", "https://auth.chat.example/"),
            // The canonical resource URL (RFC 8707 §2: no trailing slash on an empty path).
            ("resource", "https://mcp.chat.example"),
            ("scope", "chat.read chat.history"),
            ("subject_token", "eyJraWQiOiJzMTZ0cVNtODhwREo4VGZCXzdrSEtQ"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
            ("client_id", "2ec954a1d60620116d36d9ceb7"),
            ("client_secret", "a26d84873504215a34a86d52ef5cd64f4b76"),
        ]
    );
}

#[test]
fn sep990_section4_2_example_response() {
    let resp = json(
        200,
        r#"{"issued_token_type":"urn:ietf:params:oauth:token-type:id-jag",
            "access_token":"eyJhbGciOiJIUzI1NiIsI...","token_type":"N_A",
            "scope":"chat.read chat.history","expires_in":300}"#,
    );
    let t =
        process_token_exchange_response(&resp, UnixTime(10), Some(token_types::ID_JAG)).unwrap();
    assert_eq!(t.token.secret(), "eyJhbGciOiJIUzI1NiIsI...");
    assert_eq!(t.token_type, "N_A");
    assert_eq!(t.expires_at, Some(UnixTime(310)));
    assert_eq!(t.scope.as_deref(), Some("chat.read chat.history"));
    assert!(!format!("{t:?}").contains("eyJ"), "the assertion is redacted in Debug");
}

#[test]
fn issued_type_must_be_the_requested_one() {
    let resp = json(
        200,
        r#"{"issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
            "access_token":"x","token_type":"Bearer"}"#,
    );
    let e =
        process_token_exchange_response(&resp, UnixTime(0), Some(token_types::ID_JAG)).unwrap_err();
    assert_eq!(e.code(), "issued_token_type_mismatch");
    assert!(process_token_exchange_response(&resp, UnixTime(0), None).is_ok());
}

#[test]
fn required_members_are_checked_in_order() {
    let cases = [
        (r#"{"issued_token_type":"t","token_type":"N_A"}"#, "access_token"),
        (r#"{"access_token":"x","token_type":"N_A"}"#, "issued_token_type"),
        (r#"{"access_token":"x","issued_token_type":"t"}"#, "token_type"),
    ];
    for (body, missing) in cases {
        let e = process_token_exchange_response(&json(200, body), UnixTime(0), None).unwrap_err();
        assert_eq!(e, TokenExchangeError::MissingField(missing), "{body}");
    }
    let e = process_token_exchange_response(
        &json(200, r#"{"access_token":"x","issued_token_type":"t","token_type":"N_A","expires_in":"soon"}"#),
        UnixTime(0),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), "token_exchange_invalid_field");
}

#[test]
fn errors_status_and_content_type() {
    let e = process_token_exchange_response(
        &json(400, r#"{"error":"invalid_target","error_description":"policy denies"}"#),
        UnixTime(0),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, TokenExchangeError::Rejected { status: 400, error } if error.error == "invalid_target")
    );
    let e = process_token_exchange_response(&json(500, "oops"), UnixTime(0), None).unwrap_err();
    assert_eq!(e, TokenExchangeError::UnexpectedStatus { actual: 500 });
    let html = HttpResponse::new(200, vec![("Content-Type".into(), "text/html".into())], "<p>");
    let e = process_token_exchange_response(&html, UnixTime(0), None).unwrap_err();
    assert_eq!(e.code(), "token_exchange_not_json");
    let e = process_token_exchange_response(&json(200, "[1]"), UnixTime(0), None).unwrap_err();
    assert_eq!(e.code(), "token_exchange_malformed");
}
