use super::*;

fn issuer(s: &str) -> IssuerUrl {
    IssuerUrl::parse(s).unwrap()
}

fn urls(v: Vec<(EndpointUrl, MetadataVariant)>) -> Vec<String> {
    v.into_iter().map(|(u, _)| u.as_str().to_owned()).collect()
}

#[test]
fn rfc8414_section3_1_path_insertion() {
    // RFC 8414 §3.1 example: issuer https://example.com/issuer1.
    assert_eq!(
        urls(candidate_urls(&issuer("https://example.com/issuer1"))),
        [
            "https://example.com/.well-known/oauth-authorization-server/issuer1",
            "https://example.com/.well-known/openid-configuration/issuer1",
            "https://example.com/issuer1/.well-known/openid-configuration",
        ]
    );
}

#[test]
fn root_issuer_has_two_candidates() {
    assert_eq!(
        urls(candidate_urls(&issuer("https://as.example.com"))),
        [
            "https://as.example.com/.well-known/oauth-authorization-server",
            "https://as.example.com/.well-known/openid-configuration",
        ]
    );
    // Auth0-style trailing slash: still a root issuer.
    assert_eq!(candidate_urls(&issuer("https://tenant.auth0.com/")).len(), 2);
    // A trailing slash after a path is removed before insertion.
    assert_eq!(
        urls(candidate_urls(&issuer("https://kc.example/realms/demo/")))[0],
        "https://kc.example/.well-known/oauth-authorization-server/realms/demo"
    );
}

const RFC8414_EXAMPLE: &str = r#"{
  "issuer": "https://server.example.com",
  "authorization_endpoint": "https://server.example.com/authorize",
  "token_endpoint": "https://server.example.com/token",
  "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
  "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
  "userinfo_endpoint": "https://server.example.com/userinfo",
  "jwks_uri": "https://server.example.com/jwks.json",
  "registration_endpoint": "https://server.example.com/register",
  "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
  "response_types_supported": ["code", "code token"],
  "service_documentation": "http://server.example.com/service_documentation.html",
  "ui_locales_supported": ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
}"#;

fn process(body: &str, policy: &ServerPolicy) -> Result<ServerMetadata, ServerMetadataError> {
    let url =
        EndpointUrl::parse("https://server.example.com/.well-known/oauth-authorization-server")
            .unwrap();
    process_metadata_response(
        &issuer("https://server.example.com"),
        &url,
        &HttpResponse::json(200, body),
        policy,
    )
}

#[test]
fn rfc8414_section3_2_example_needs_pkce_field() {
    // The RFC's example predates the MCP rule: no code_challenge_methods_supported → refused.
    assert_eq!(
        process(RFC8414_EXAMPLE, &ServerPolicy::default()),
        Err(ServerMetadataError::PkceSupportNotAdvertised {
            issuer: "https://server.example.com".into()
        })
    );
    let policy = ServerPolicy { danger_assume_pkce_s256: true, ..ServerPolicy::default() };
    let m = process(RFC8414_EXAMPLE, &policy).unwrap();
    assert_eq!(m.token_endpoint.as_str(), "https://server.example.com/token");
    assert_eq!(m.registration_endpoint.unwrap().as_str(), "https://server.example.com/register");
    assert!(!m.authorization_response_iss_parameter_supported);
}

fn doc(extra: &str) -> String {
    format!(
        r#"{{"issuer":"https://server.example.com","authorization_endpoint":"https://server.example.com/a",
        "token_endpoint":"https://server.example.com/t","code_challenge_methods_supported":["S256"]{extra}}}"#
    )
}

#[test]
fn issuer_must_match_exactly() {
    let body = doc("").replace(
        "\"issuer\":\"https://server.example.com\"",
        "\"issuer\":\"https://server.example.com/\"",
    );
    assert_eq!(
        process(&body, &ServerPolicy::default()),
        Err(ServerMetadataError::IssuerMismatch {
            expected: "https://server.example.com".into(),
            actual: "https://server.example.com/".into()
        })
    );
}

#[test]
fn pkce_rules() {
    let p = ServerPolicy::default();
    assert!(process(&doc(""), &p).is_ok());
    let plain_only = doc("").replace(r#"["S256"]"#, r#"["plain"]"#);
    assert_eq!(
        process(&plain_only, &p),
        Err(ServerMetadataError::PkceS256NotSupported { methods: "plain".into() })
    );
    // The danger option covers an absent field only, never a list without S256.
    let danger = ServerPolicy { danger_assume_pkce_s256: true, ..ServerPolicy::default() };
    assert_eq!(process(&plain_only, &danger).unwrap_err().code(), "pkce_s256_not_supported");
}

#[test]
fn response_type_and_endpoints() {
    let p = ServerPolicy::default();
    assert_eq!(
        process(&doc(r#","response_types_supported":["token"]"#), &p),
        Err(ServerMetadataError::CodeResponseTypeNotSupported)
    );
    let insecure = doc("").replace("https://server.example.com/t", "http://server.example.com/t");
    assert_eq!(process(&insecure, &p).unwrap_err().code(), "server_metadata_invalid_endpoint");
    let missing = doc("").replace(r#""token_endpoint":"https://server.example.com/t","#, "");
    assert_eq!(process(&missing, &p), Err(ServerMetadataError::MissingField("token_endpoint")));
    assert_eq!(
        process(&doc(r#","authorization_response_iss_parameter_supported":"yes""#), &p),
        Err(ServerMetadataError::InvalidField {
            field: "authorization_response_iss_parameter_supported",
            expected: "a boolean"
        })
    );
}

#[test]
fn status_classification() {
    let url =
        EndpointUrl::parse("https://server.example.com/.well-known/oauth-authorization-server")
            .unwrap();
    let is = issuer("https://server.example.com");
    let p = ServerPolicy::default();
    let e = process_metadata_response(&is, &url, &HttpResponse::json(404, "{}"), &p).unwrap_err();
    assert!(e.try_next_candidate());
    let e = process_metadata_response(&is, &url, &HttpResponse::json(500, "{}"), &p).unwrap_err();
    assert!(!e.try_next_candidate());
    let e =
        process_metadata_response(&is, &url, &HttpResponse::json(200, "not json"), &p).unwrap_err();
    assert!(!e.try_next_candidate());
    assert_eq!(e.code(), "server_metadata_malformed");
}

#[test]
fn legacy_defaults() {
    let m = legacy_default_metadata(&ResourceUrl::parse("https://mcp.example.com/v1/mcp").unwrap())
        .unwrap();
    assert_eq!(m.issuer.as_str(), "https://mcp.example.com");
    assert_eq!(m.authorization_endpoint.as_str(), "https://mcp.example.com/authorize");
    assert_eq!(m.token_endpoint.as_str(), "https://mcp.example.com/token");
    assert_eq!(m.registration_endpoint.unwrap().as_str(), "https://mcp.example.com/register");
    assert_eq!(
        urls(legacy_candidate_urls(&ResourceUrl::parse("https://mcp.example.com/v1/mcp").unwrap())),
        [
            "https://mcp.example.com/.well-known/oauth-authorization-server",
            "https://mcp.example.com/.well-known/openid-configuration"
        ]
    );
}

#[test]
fn legacy_metadata_takes_the_documents_issuer_at_the_same_origin() {
    let url = EndpointUrl::parse("https://mcp.example.com/.well-known/oauth-authorization-server")
        .unwrap();
    let body = doc("").replace("https://server.example.com\"", "https://mcp.example.com/oauth\"");
    let m = process_legacy_metadata_response(
        &url,
        &HttpResponse::json(200, &body),
        &ServerPolicy::default(),
    )
    .unwrap();
    assert_eq!(m.issuer.as_str(), "https://mcp.example.com/oauth");
}

#[test]
fn legacy_metadata_naming_another_origins_issuer_is_refused() {
    let url = EndpointUrl::parse("https://mcp.example.com/.well-known/oauth-authorization-server")
        .unwrap();
    for other in
        ["https://auth.example.com", "https://mcp.example.com:8443", "https://evil.example"]
    {
        let body = doc("").replace("https://server.example.com\"", &format!("{other}\""));
        let err = process_legacy_metadata_response(
            &url,
            &HttpResponse::json(200, &body),
            &ServerPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ServerMetadataError::LegacyIssuerOriginMismatch {
                origin: "https://mcp.example.com".into(),
                issuer: other.into(),
            }
        );
    }
}
