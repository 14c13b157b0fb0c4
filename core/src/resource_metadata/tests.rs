use super::*;

fn mcp(url: &str) -> ResourceUrl {
    ResourceUrl::parse(url).unwrap()
}

fn urls(v: Vec<EndpointUrl>) -> Vec<String> {
    v.into_iter().map(|u| u.as_str().to_owned()).collect()
}

#[test]
fn candidates_in_spec_order() {
    let c = candidate_urls(&mcp("https://mcp.example.com/public/mcp"), None).unwrap();
    assert_eq!(
        urls(c),
        [
            "https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
            "https://mcp.example.com/.well-known/oauth-protected-resource",
        ]
    );
    let c = candidate_urls(
        &mcp("https://mcp.example.com/mcp"),
        Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
    )
    .unwrap();
    assert_eq!(c.len(), 2, "the header URL is not repeated");
    let c =
        candidate_urls(&mcp("https://mcp.example.com"), Some("https://meta.example/prm")).unwrap();
    assert_eq!(
        urls(c),
        [
            "https://meta.example/prm",
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        ]
    );
}

#[test]
fn header_url_must_be_secure() {
    let e = candidate_urls(&mcp("https://mcp.example.com"), Some("http://evil.example/prm"))
        .unwrap_err();
    assert_eq!(e.code(), "resource_metadata_url_invalid");
}

fn process(
    mcp_url: &str,
    status: u16,
    body: &str,
) -> Result<ResourceMetadata, ResourceMetadataError> {
    let url =
        EndpointUrl::parse("https://mcp.example.com/.well-known/oauth-protected-resource").unwrap();
    process_metadata_response(&url, &mcp(mcp_url), &HttpResponse::json(status, body))
}

#[test]
fn rfc9728_section3_2_example() {
    let body = r#"{
      "resource": "https://mcp.example.com/mcp",
      "authorization_servers": ["https://as1.example.com", "https://as2.example.net"],
      "bearer_methods_supported": ["header", "body"],
      "scopes_supported": ["profile", "email", "phone"],
      "resource_documentation": "https://resource.example.com/resource_documentation.html"
    }"#;
    let m = process("https://mcp.example.com/mcp", 200, body).unwrap();
    assert_eq!(m.authorization_servers.len(), 2);
    assert_eq!(m.authorization_servers[1].as_str(), "https://as2.example.net");
    assert_eq!(m.scopes_supported.unwrap().len(), 3);
}

#[test]
fn resource_identity_rules() {
    let body =
        |r: &str| format!(r#"{{"resource":"{r}","authorization_servers":["https://as.example"]}}"#);
    assert!(process("https://mcp.example.com/mcp", 200, &body("https://mcp.example.com")).is_ok());
    assert_eq!(
        process("https://mcp.example.com/mcp", 200, &body("https://other.example.com/mcp")),
        Err(ResourceMetadataError::ResourceMismatch {
            expected: "https://mcp.example.com/mcp".into(),
            actual: "https://other.example.com/mcp".into(),
        })
    );
    assert_eq!(
        process("https://mcp.example.com/mcp", 200, &body("https://mcp.example.com/mcp/other"))
            .unwrap_err()
            .code(),
        "resource_mismatch"
    );
}

#[test]
fn status_and_content_rules() {
    let e = process("https://mcp.example.com", 404, "{}").unwrap_err();
    assert!(e.try_next_candidate());
    let e = process("https://mcp.example.com", 503, "{}").unwrap_err();
    assert!(!e.try_next_candidate());
    let url =
        EndpointUrl::parse("https://mcp.example.com/.well-known/oauth-protected-resource").unwrap();
    let html = HttpResponse::new(200, vec![("content-type".into(), "text/html".into())], "<html>");
    let e = process_metadata_response(&url, &mcp("https://mcp.example.com"), &html).unwrap_err();
    assert!(matches!(e, ResourceMetadataError::NotJson { .. }));
    assert!(e.try_next_candidate());
    assert_eq!(
        process("https://mcp.example.com", 200, "[]").unwrap_err().code(),
        "resource_metadata_malformed"
    );
    assert_eq!(
        process(
            "https://mcp.example.com",
            200,
            r#"{"authorization_servers":["https://a.example"]}"#
        ),
        Err(ResourceMetadataError::MissingField("resource"))
    );
    assert_eq!(
        process("https://mcp.example.com", 200, r#"{"resource":"https://mcp.example.com"}"#),
        Err(ResourceMetadataError::NoAuthorizationServers)
    );
    assert_eq!(
        process(
            "https://mcp.example.com",
            200,
            r#"{"resource":"https://mcp.example.com","authorization_servers":[]}"#
        ),
        Err(ResourceMetadataError::NoAuthorizationServers)
    );
    assert_eq!(
        process(
            "https://mcp.example.com",
            200,
            r#"{"resource":"https://mcp.example.com","authorization_servers":"https://a.example"}"#
        ),
        Err(ResourceMetadataError::InvalidField {
            field: "authorization_servers",
            expected: "an array of strings"
        })
    );
    assert_eq!(
        process(
            "https://mcp.example.com",
            200,
            r#"{"resource":"https://mcp.example.com","authorization_servers":["http://a.example"]}"#
        )
        .unwrap_err()
        .code(),
        "resource_metadata_invalid_url"
    );
}
