//! Real servers' documents run through the public step functions.
//!
//! Every fixture under `tests/fixtures/real-world/` was copied from a public source; its
//! provenance and the quirk it shows are in `tests/fixtures/real-world/README.md`. Each test
//! feeds one document to the matching `process_*` function and asserts the exact outcome: the
//! fields the client uses, or the exact error variant.
//!
//! A few documents are not fixtures because no verbatim copy exists (the README's "Not found"
//! list); those are built inline from the facts the README gives and are marked "synthesized".

use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::{
    self, ClientConfig, ClientRegistration, IdentityChoice, IdentitySource, RegistrationError,
};
use mcp_oauth_core::resource_metadata::{self, ResourceMetadata, ResourceMetadataError};
use mcp_oauth_core::secret::{AuthorizationCode, ClientSecret, PkceVerifier, RefreshToken};
use mcp_oauth_core::server_metadata::{self, MetadataVariant, ServerMetadata, ServerMetadataError};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{self, ClientAuth, TokenEndpointAuth, TokenError};
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, UrlError, UrlProblem};
use mcp_oauth_core::www_authenticate::{self, BearerChallenge, Challenge};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/real-world/", $name))
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Reads a captured HTTP response out of a fixture transcript: annotation lines and curl
/// command lines before the status line are skipped; the status is the number after the first
/// `HTTP…` word; header lines follow until a blank line (a line starting with white space
/// continues the previous header, as in an obs-fold or a reporter's wrapping, and is joined with
/// one space); the rest is the body.
fn transcript_response(transcript: &str) -> HttpResponse {
    let mut lines = transcript.lines().skip_while(|l| !l.starts_with("HTTP"));
    let status_line = lines.next().expect("the transcript has an HTTP status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("the status line has a status code");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().expect("a continuation follows a header");
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line.split_once(':').expect("a header line has a colon");
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = lines.collect::<Vec<_>>().join("\n");
    HttpResponse::new(status, headers, body)
}

/// The `WWW-Authenticate` value of a transcript.
fn www_authenticate(transcript: &str) -> String {
    transcript_response(transcript)
        .header("www-authenticate")
        .expect("the transcript has a WWW-Authenticate header")
        .to_owned()
}

fn mcp(url: &str) -> ResourceUrl {
    ResourceUrl::parse(url).expect("valid MCP URL")
}

fn issuer(s: &str) -> IssuerUrl {
    IssuerUrl::parse(s).expect("valid issuer")
}

fn endpoint(s: &str) -> EndpointUrl {
    EndpointUrl::parse(s).expect("valid endpoint URL")
}

fn redirect(s: &str) -> RedirectUri {
    RedirectUri::parse(s).expect("valid redirect URI")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn prm_candidates(mcp_url: &str, header_url: Option<&str>) -> Vec<String> {
    resource_metadata::candidate_urls(&mcp(mcp_url), header_url)
        .expect("candidate URLs")
        .into_iter()
        .map(|u| u.as_str().to_owned())
        .collect()
}

fn prm(
    fetched_from: &str,
    mcp_url: &str,
    resp: &HttpResponse,
) -> Result<ResourceMetadata, ResourceMetadataError> {
    resource_metadata::process_metadata_response(&endpoint(fetched_from), &mcp(mcp_url), resp)
}

fn as_candidates(issuer_str: &str) -> Vec<(String, MetadataVariant)> {
    server_metadata::candidate_urls(&issuer(issuer_str))
        .into_iter()
        .map(|(u, v)| (u.as_str().to_owned(), v))
        .collect()
}

/// Fetches `body` as if it came from candidate `index` of the issuer's candidate list.
fn as_metadata(
    issuer_str: &str,
    index: usize,
    body: &str,
    policy: &ServerPolicy,
) -> Result<ServerMetadata, ServerMetadataError> {
    let iss = issuer(issuer_str);
    let candidates = server_metadata::candidate_urls(&iss);
    let (url, _) = candidates.get(index).expect("candidate index in range");
    server_metadata::process_metadata_response(&iss, url, &HttpResponse::json(200, body), policy)
}

fn strict() -> ServerPolicy {
    ServerPolicy::default()
}

fn assume_pkce() -> ServerPolicy {
    ServerPolicy { danger_assume_pkce_s256: true, ..ServerPolicy::default() }
}

fn ep(e: &Option<EndpointUrl>) -> Option<&str> {
    e.as_ref().map(EndpointUrl::as_str)
}

fn issuers(m: &ResourceMetadata) -> Vec<&str> {
    m.authorization_servers.iter().map(IssuerUrl::as_str).collect()
}

const LOOPBACK_REDIRECT: &str = "http://127.0.0.1:8765/callback";
const NOW: UnixTime = UnixTime(1_790_000_000);

// ---------------------------------------------------------------------------------------------
// 401 challenges (RFC 6750 §3, RFC 9728 §5.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn github_401_invalid_request_with_path_suffixed_resource_metadata() {
    let resp = transcript_response(fixture!("github-mcp-401-www-authenticate.txt"));
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(resp.body, b"bad request: missing required Authorization header");
    let value = www_authenticate(fixture!("github-mcp-401-www-authenticate.txt"));
    assert_eq!(
        value,
        "Bearer error=\"invalid_request\", error_description=\"No access token was provided in \
         this request\", resource_metadata=\"https://api.githubcopilot.com/.well-known/\
         oauth-protected-resource/mcp\""
    );

    assert_eq!(
        www_authenticate::parse(&value).unwrap(),
        vec![Challenge {
            scheme: "Bearer".into(),
            token68: None,
            params: vec![
                ("error".into(), "invalid_request".into()),
                ("error_description".into(), "No access token was provided in this request".into()),
                (
                    "resource_metadata".into(),
                    "https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp".into()
                ),
            ],
        }]
    );
    // RFC 6750 §3.1 says no error code on a request without credentials; GitHub sends
    // `invalid_request` anyway. It is reported as sent, and resource_metadata is still read.
    assert_eq!(
        www_authenticate::bearer_challenge(&resp).unwrap(),
        Some(BearerChallenge {
            resource_metadata: Some(
                "https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp".into()
            ),
            scope: None,
            error: Some("invalid_request".into()),
            error_description: Some("No access token was provided in this request".into()),
            realm: None,
        })
    );
    // The header URL equals the path-suffixed candidate, so it is not repeated.
    assert_eq!(
        prm_candidates(
            "https://api.githubcopilot.com/mcp",
            Some("https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp"),
        ),
        [
            "https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp",
            "https://api.githubcopilot.com/.well-known/oauth-protected-resource",
        ]
    );
}

#[test]
fn github_enterprise_401_points_at_another_origin_whose_metadata_is_refused() {
    let transcript = fixture!("github-mcp-enterprise-readonly-401-www-authenticate.txt");
    let resp = transcript_response(transcript);
    assert_eq!(resp.status, 401);
    // The reporter wrapped the value over three lines; unfolded, it is one header value.
    assert_eq!(
        www_authenticate(transcript),
        "Bearer error=\"invalid_request\", error_description=\"No access token was provided in \
         this request\", resource_metadata=\"https://api.githubcopilot.com/.well-known/\
         oauth-protected-resource/mcp/readonly\""
    );
    let challenge = www_authenticate::bearer_challenge(&resp).unwrap().unwrap();
    let header_url =
        "https://api.githubcopilot.com/.well-known/oauth-protected-resource/mcp/readonly";
    assert_eq!(challenge.resource_metadata.as_deref(), Some(header_url));
    assert_eq!(challenge.error.as_deref(), Some("invalid_request"));
    assert_eq!(challenge.realm, None);

    // The cross-origin URL is an https URL, so it is accepted as the first candidate; the
    // enterprise host's own well-known URLs follow.
    let mcp_url = "https://api.enterprise.githubcopilot.com/mcp/readonly";
    assert_eq!(
        prm_candidates(mcp_url, Some(header_url)),
        [
            header_url,
            "https://api.enterprise.githubcopilot.com/.well-known/oauth-protected-resource/mcp/readonly",
            "https://api.enterprise.githubcopilot.com/.well-known/oauth-protected-resource",
        ]
    );

    // Synthesized (no verbatim GitHub PRM exists, README "Not found"): what the other origin
    // serves names its own resource. It must not be used for the enterprise host.
    let other_origin_prm = r#"{"resource":"https://api.githubcopilot.com/mcp/readonly","authorization_servers":["https://github.com/login/oauth"],"bearer_methods_supported":["header"],"resource_name":"GitHub MCP Server"}"#;
    let resp = HttpResponse::json(200, other_origin_prm);
    assert_eq!(
        prm(header_url, mcp_url, &resp),
        Err(ResourceMetadataError::ResourceMismatch {
            expected: "https://api.enterprise.githubcopilot.com/mcp/readonly".into(),
            actual: "https://api.githubcopilot.com/mcp/readonly".into(),
        })
    );
    assert!(!prm(header_url, mcp_url, &resp).unwrap_err().try_next_candidate());
    // The same document is fine for the host it names.
    let ok = prm(header_url, "https://api.githubcopilot.com/mcp/readonly", &resp).unwrap();
    assert_eq!(ok.resource.as_str(), "https://api.githubcopilot.com/mcp/readonly");
    assert_eq!(issuers(&ok), ["https://github.com/login/oauth"]);
}

#[test]
fn entra_graph_claims_challenge_with_empty_realm() {
    let transcript = fixture!("entra-graph-401-www-authenticate-insufficient-claims.txt");
    let resp = transcript_response(transcript);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let claims =
        "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYzNTUyNzc5MCJ9fX0=";
    assert_eq!(
        www_authenticate::parse(&www_authenticate(transcript)).unwrap(),
        vec![Challenge {
            scheme: "Bearer".into(),
            token68: None,
            params: vec![
                ("realm".into(), String::new()),
                (
                    "authorization_uri".into(),
                    "https://login.microsoftonline.com/common/oauth2/authorize".into()
                ),
                ("client_id".into(), "00000003-0000-0000-c000-000000000000".into()),
                ("error".into(), "insufficient_claims".into()),
                ("claims".into(), claims.into()),
            ],
        }]
    );
    assert_eq!(
        www_authenticate::bearer_challenge(&resp).unwrap(),
        Some(BearerChallenge {
            resource_metadata: None,
            scope: None,
            error: Some("insufficient_claims".into()),
            error_description: None,
            realm: Some(String::new()),
        })
    );
}

#[test]
fn linear_401_realm_oauth_with_invalid_token() {
    let resp = transcript_response(fixture!("linear-mcp-401-www-authenticate.txt"));
    assert_eq!(resp.status, 401);
    let header_url = "https://mcp.linear.app/.well-known/oauth-protected-resource/mcp";
    assert_eq!(
        www_authenticate::bearer_challenge(&resp).unwrap(),
        Some(BearerChallenge {
            resource_metadata: Some(header_url.into()),
            scope: None,
            error: Some("invalid_token".into()),
            error_description: Some("Missing or invalid access token".into()),
            realm: Some("OAuth".into()),
        })
    );
    assert_eq!(
        prm_candidates("https://mcp.linear.app/mcp", Some(header_url)),
        [header_url, "https://mcp.linear.app/.well-known/oauth-protected-resource"]
    );
}

#[test]
fn sentry_401_realm_oauth_without_error() {
    let resp = transcript_response(fixture!("sentry-mcp-401-www-authenticate.txt"));
    assert_eq!(resp.status, 401);
    assert_eq!(
        www_authenticate::parse(resp.header("www-authenticate").unwrap()).unwrap(),
        vec![Challenge {
            scheme: "Bearer".into(),
            token68: None,
            params: vec![
                ("realm".into(), "OAuth".into()),
                (
                    "resource_metadata".into(),
                    "https://mcp.sentry.dev/.well-known/oauth-protected-resource/mcp".into()
                ),
            ],
        }]
    );
    assert_eq!(
        www_authenticate::bearer_challenge(&resp).unwrap(),
        Some(BearerChallenge {
            resource_metadata: Some(
                "https://mcp.sentry.dev/.well-known/oauth-protected-resource/mcp".into()
            ),
            scope: None,
            error: None,
            error_description: None,
            realm: Some("OAuth".into()),
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Protected-resource metadata (RFC 9728)
// ---------------------------------------------------------------------------------------------

#[test]
fn notion_prm_root_only_resource_is_the_origin() {
    let mcp_url = "https://mcp.notion.com/mcp";
    let header_url = "https://mcp.notion.com/.well-known/oauth-protected-resource/mcp";
    let candidates = prm_candidates(mcp_url, Some(header_url));
    assert_eq!(
        candidates,
        [header_url, "https://mcp.notion.com/.well-known/oauth-protected-resource"]
    );

    // The header's URL answers 404: discovery moves on to the root URL.
    let not_found = prm(&candidates[0], mcp_url, &HttpResponse::new(404, vec![], "")).unwrap_err();
    assert_eq!(
        not_found,
        ResourceMetadataError::UnexpectedStatus { url: header_url.into(), actual: 404 }
    );
    assert!(not_found.try_next_candidate());

    let body = fixture!("notion-mcp-protected-resource.json");
    let m = prm(&candidates[1], mcp_url, &HttpResponse::json(200, body)).unwrap();
    assert_eq!(
        m,
        ResourceMetadata {
            url: "https://mcp.notion.com/.well-known/oauth-protected-resource".into(),
            resource: mcp("https://mcp.notion.com"),
            authorization_servers: vec![issuer("https://mcp.notion.com")],
            scopes_supported: Some(strings(&["default"])),
            resource_name: Some("Notion MCP (Beta)".into()),
        }
    );
}

#[test]
fn linear_prm_resource_includes_the_path() {
    let mcp_url = "https://mcp.linear.app/mcp";
    let body = fixture!("linear-mcp-protected-resource.json");
    // Served at both URLs with the same body.
    for url in prm_candidates(mcp_url, None) {
        let m = prm(&url, mcp_url, &HttpResponse::json(200, body)).unwrap();
        assert_eq!(m.url, url);
        assert_eq!(m.resource.as_str(), "https://mcp.linear.app/mcp");
        assert_eq!(issuers(&m), ["https://mcp.linear.app"]);
        assert_eq!(m.scopes_supported, Some(strings(&["read", "write"])));
        assert_eq!(m.resource_name, None);
    }
}

#[test]
fn sentry_prm_path_suffixed_only() {
    let mcp_url = "https://mcp.sentry.dev/mcp";
    let candidates = prm_candidates(mcp_url, None);
    assert_eq!(
        candidates,
        [
            "https://mcp.sentry.dev/.well-known/oauth-protected-resource/mcp",
            "https://mcp.sentry.dev/.well-known/oauth-protected-resource",
        ]
    );
    let body = fixture!("sentry-mcp-protected-resource.json");
    let m = prm(&candidates[0], mcp_url, &HttpResponse::json(200, body)).unwrap();
    assert_eq!(m.resource.as_str(), "https://mcp.sentry.dev/mcp");
    assert_eq!(issuers(&m), ["https://mcp.sentry.dev"]);
    assert_eq!(
        m.scopes_supported,
        Some(strings(&["org:read", "project:write", "team:write", "event:write"]))
    );
    let root = prm(&candidates[1], mcp_url, &HttpResponse::new(404, vec![], "")).unwrap_err();
    assert!(root.try_next_candidate());
}

#[test]
fn canva_prm_root_resource_without_path_covers_mcp() {
    let mcp_url = "https://mcp.canva.com/mcp";
    let body = fixture!("canva-mcp-protected-resource.json");
    let m = prm(
        "https://mcp.canva.com/.well-known/oauth-protected-resource",
        mcp_url,
        &HttpResponse::json(200, body),
    )
    .unwrap();
    assert_eq!(m.resource.as_str(), "https://mcp.canva.com");
    assert_eq!(issuers(&m), ["https://mcp.canva.com"]);
    let scopes = m.scopes_supported.unwrap();
    assert_eq!(scopes.len(), 16);
    assert_eq!(scopes.first().map(String::as_str), Some("profile:read"));
    assert_eq!(scopes.last().map(String::as_str), Some("help:answers:write"));
    assert_eq!(m.resource_name, None);
}

#[test]
fn vercel_prm_transport_at_root() {
    let root_doc = fixture!("vercel-mcp-protected-resource-root.json");
    let mcp_path_doc = fixture!("vercel-mcp-protected-resource-mcp-path.json");
    let root_url = "https://mcp.vercel.com/.well-known/oauth-protected-resource";
    let suffixed_url = "https://mcp.vercel.com/.well-known/oauth-protected-resource/mcp";

    // The transport is at `/`: the canonical resource drops the empty path's slash, and the
    // path-suffixed candidate is the root URL, so only one URL is tried.
    let at_root = "https://mcp.vercel.com/";
    assert_eq!(mcp(at_root).as_str(), "https://mcp.vercel.com");
    assert_eq!(prm_candidates(at_root, None), [root_url]);
    let m = prm(root_url, at_root, &HttpResponse::json(200, root_doc)).unwrap();
    // The published `resource` is kept verbatim: it is what Vercel's AS knows the resource as.
    assert_eq!(m.resource.as_str(), "https://mcp.vercel.com/");
    assert_eq!(issuers(&m), ["https://vercel.com"]);
    assert_eq!(m.scopes_supported, Some(strings(&["openid"])));
    assert_eq!(m.resource_name.as_deref(), Some("Vercel MCP"));
    // The `/mcp` document names a narrower resource than `/`: not this server's.
    assert_eq!(
        prm(suffixed_url, at_root, &HttpResponse::json(200, mcp_path_doc)),
        Err(ResourceMetadataError::ResourceMismatch {
            expected: "https://mcp.vercel.com".into(),
            actual: "https://mcp.vercel.com/mcp".into(),
        })
    );

    // A user who configures `/mcp` (where POST answers 404) still gets through discovery:
    // the first candidate gives the `/mcp` document, and the root document covers `/mcp` too.
    let at_mcp = "https://mcp.vercel.com/mcp";
    assert_eq!(prm_candidates(at_mcp, None), [suffixed_url, root_url]);
    let m = prm(suffixed_url, at_mcp, &HttpResponse::json(200, mcp_path_doc)).unwrap();
    assert_eq!(m.resource.as_str(), "https://mcp.vercel.com/mcp");
    assert_eq!(issuers(&m), ["https://vercel.com"]);
    let m = prm(root_url, at_mcp, &HttpResponse::json(200, root_doc)).unwrap();
    assert_eq!(m.resource.as_str(), "https://mcp.vercel.com/");
}

// ---------------------------------------------------------------------------------------------
// Authorization-server metadata (RFC 8414, OIDC Discovery)
// ---------------------------------------------------------------------------------------------

#[test]
fn keycloak_2023_http_issuer_is_refused() {
    let doc: serde_json::Value =
        serde_json::from_str(fixture!("keycloak-2023-realm-openid-configuration.json")).unwrap();
    let iss = doc["issuer"].as_str().unwrap();
    assert_eq!(iss, "http://docker-rp-1:8080/realms/demorealm");
    // Plain http on a host that is not loopback: refused for the issuer and every endpoint
    // (MCP security considerations; checklist item 22). Nothing can be fetched from it.
    assert_eq!(
        IssuerUrl::parse(iss),
        Err(UrlError { what: "issuer", input: iss.into(), problem: UrlProblem::InsecureScheme })
    );
    let token_endpoint = doc["token_endpoint"].as_str().unwrap();
    assert_eq!(EndpointUrl::parse(token_endpoint).unwrap_err().problem, UrlProblem::InsecureScheme);
    // An MCP server whose PRM names this issuer fails at the PRM step.
    let synthesized_prm = r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["http://docker-rp-1:8080/realms/demorealm"]}"#;
    assert_eq!(
        prm(
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            "https://mcp.example.com/mcp",
            &HttpResponse::json(200, synthesized_prm),
        ),
        Err(ResourceMetadataError::InvalidUrl(UrlError {
            what: "issuer",
            input: iss.into(),
            problem: UrlProblem::InsecureScheme,
        }))
    );
}

#[test]
fn keycloak_26_loopback_realm_with_iss_parameter() {
    let iss = "http://localhost:8180/realms/sso-realm";
    assert_eq!(
        as_candidates(iss),
        [
            (
                "http://localhost:8180/.well-known/oauth-authorization-server/realms/sso-realm"
                    .into(),
                MetadataVariant::OAuthInsert
            ),
            (
                "http://localhost:8180/.well-known/openid-configuration/realms/sso-realm".into(),
                MetadataVariant::OidcInsert
            ),
            (
                "http://localhost:8180/realms/sso-realm/.well-known/openid-configuration".into(),
                MetadataVariant::OidcAppend
            ),
        ]
    );
    let body = fixture!("keycloak-26-realm-openid-configuration.json");
    let m = as_metadata(iss, 2, body, &strict()).unwrap();
    assert_eq!(m.issuer.as_str(), iss);
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "http://localhost:8180/realms/sso-realm/protocol/openid-connect/auth"
    );
    assert_eq!(
        m.token_endpoint.as_str(),
        "http://localhost:8180/realms/sso-realm/protocol/openid-connect/token"
    );
    assert_eq!(
        ep(&m.registration_endpoint),
        Some("http://localhost:8180/realms/sso-realm/clients-registrations/openid-connect")
    );
    assert_eq!(
        ep(&m.revocation_endpoint),
        Some("http://localhost:8180/realms/sso-realm/protocol/openid-connect/revoke")
    );
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["plain", "S256"])));
    assert!(m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);
}

#[test]
fn entra_v2_tenant_needs_assume_pkce_and_only_the_append_form_is_served() {
    let iss = "https://login.microsoftonline.com/12345678-1234-1234-1234-123456789012/v2.0";
    let candidates = as_candidates(iss);
    assert_eq!(
        candidates,
        [
            (
                "https://login.microsoftonline.com/.well-known/oauth-authorization-server/12345678-1234-1234-1234-123456789012/v2.0".into(),
                MetadataVariant::OAuthInsert
            ),
            (
                "https://login.microsoftonline.com/.well-known/openid-configuration/12345678-1234-1234-1234-123456789012/v2.0".into(),
                MetadataVariant::OidcInsert
            ),
            // The only one Entra serves (checklist "Real servers' quirks").
            (
                "https://login.microsoftonline.com/12345678-1234-1234-1234-123456789012/v2.0/.well-known/openid-configuration".into(),
                MetadataVariant::OidcAppend
            ),
        ]
    );

    let body = fixture!("entra-v2-tenant-openid-configuration.json");
    assert_eq!(
        as_metadata(iss, 2, body, &strict()),
        Err(ServerMetadataError::PkceSupportNotAdvertised { issuer: iss.into() })
    );
    let m = as_metadata(iss, 2, body, &assume_pkce()).unwrap();
    assert_eq!(m.issuer.as_str(), iss);
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://login.microsoftonline.com/12345678-1234-1234-1234-123456789012/oauth2/v2.0/authorize"
    );
    assert_eq!(
        m.token_endpoint.as_str(),
        "https://login.microsoftonline.com/12345678-1234-1234-1234-123456789012/oauth2/v2.0/token"
    );
    assert_eq!(m.registration_endpoint, None);
    assert_eq!(m.revocation_endpoint, None);
    assert_eq!(m.code_challenge_methods_supported, None);
    assert_eq!(m.grant_types_supported, None);
    assert!(!m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);

    // No DCR, no CIMD: the user must configure a client id.
    let choice = registration::choose_identity(
        &ClientConfig::dynamic("mcp-oauth test"),
        &m,
        &redirect(LOOPBACK_REDIRECT),
        None,
        NOW,
    );
    assert_eq!(choice, Err(RegistrationError::NoClientIdentity { issuer: iss.into() }));
}

#[test]
fn entra_common_and_organizations_tenantid_template_issuer() {
    for (name, body) in [
        ("common", fixture!("entra-v2-common-openid-configuration.json")),
        ("organizations", fixture!("entra-v2-organizations-openid-configuration.json")),
    ] {
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        // The template is not even a URL: `{` must be percent-encoded.
        assert_eq!(
            IssuerUrl::parse(template).unwrap_err().problem,
            UrlProblem::InvalidCharacter('{')
        );

        // Fetched for the issuer it is served under, the document names another issuer.
        let iss = format!("https://login.microsoftonline.com/{name}/v2.0");
        let candidates = as_candidates(&iss);
        assert_eq!(
            candidates[2],
            (
                format!("https://login.microsoftonline.com/{name}/v2.0/.well-known/openid-configuration"),
                MetadataVariant::OidcAppend
            )
        );
        for policy in [strict(), assume_pkce()] {
            assert_eq!(
                as_metadata(&iss, 2, body, &policy),
                Err(ServerMetadataError::IssuerMismatch {
                    expected: iss.clone(),
                    actual: template.into(),
                })
            );
        }
        // The legacy path takes the document's issuer as is, and cannot parse it either.
        let err = server_metadata::process_legacy_metadata_response(
            &endpoint(&candidates[2].0),
            &HttpResponse::json(200, body),
            &assume_pkce(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ServerMetadataError::InvalidEndpoint {
                field: "issuer",
                error: UrlError { problem: UrlProblem::InvalidCharacter('{'), .. }
            }
        ));
    }
}

#[test]
fn auth0_trailing_slash_issuer_is_matched_exactly() {
    let with_slash = "https://dev-ltxchcls4igzho78.us.auth0.com/";
    let without_slash = "https://dev-ltxchcls4igzho78.us.auth0.com";
    let expected_candidates = [
        (
            "https://dev-ltxchcls4igzho78.us.auth0.com/.well-known/oauth-authorization-server"
                .to_owned(),
            MetadataVariant::OAuthInsert,
        ),
        (
            "https://dev-ltxchcls4igzho78.us.auth0.com/.well-known/openid-configuration".to_owned(),
            MetadataVariant::OidcInsert,
        ),
    ];
    // RFC 8414 §3.1: the trailing slash is removed before the well-known suffix, so both
    // spellings fetch the same URLs; only the issuer comparison tells them apart.
    assert_eq!(as_candidates(with_slash), expected_candidates);
    assert_eq!(as_candidates(without_slash), expected_candidates);

    let body = fixture!("auth0-openid-configuration.json");
    let m = as_metadata(with_slash, 1, body, &strict()).unwrap();
    assert_eq!(m.issuer.as_str(), with_slash);
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://dev-ltxchcls4igzho78.us.auth0.com/authorize"
    );
    assert_eq!(m.token_endpoint.as_str(), "https://dev-ltxchcls4igzho78.us.auth0.com/oauth/token");
    assert_eq!(
        ep(&m.registration_endpoint),
        Some("https://dev-ltxchcls4igzho78.us.auth0.com/oidc/register")
    );
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["S256", "plain"])));
    assert_eq!(m.grant_types_supported, None);
    assert!(!m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);

    assert_eq!(
        as_metadata(without_slash, 1, body, &strict()),
        Err(ServerMetadataError::IssuerMismatch {
            expected: without_slash.into(),
            actual: with_slash.into(),
        })
    );
}

#[test]
fn google_no_registration_endpoint() {
    let iss = "https://accounts.google.com";
    assert_eq!(
        as_candidates(iss),
        [
            (
                "https://accounts.google.com/.well-known/oauth-authorization-server".into(),
                MetadataVariant::OAuthInsert
            ),
            (
                "https://accounts.google.com/.well-known/openid-configuration".into(),
                MetadataVariant::OidcInsert
            ),
        ]
    );
    let m = as_metadata(iss, 1, fixture!("google-openid-configuration.json"), &strict()).unwrap();
    assert_eq!(m.authorization_endpoint.as_str(), "https://accounts.google.com/o/oauth2/v2/auth");
    assert_eq!(m.token_endpoint.as_str(), "https://oauth2.googleapis.com/token");
    assert_eq!(ep(&m.revocation_endpoint), Some("https://oauth2.googleapis.com/revoke"));
    assert_eq!(m.registration_endpoint, None);
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["plain", "S256"])));
    assert_eq!(m.scopes_supported, Some(strings(&["openid", "email", "profile"])));
    assert!(!m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);
    assert_eq!(
        registration::choose_identity(
            &ClientConfig::dynamic("mcp-oauth test"),
            &m,
            &redirect(LOOPBACK_REDIRECT),
            None,
            NOW,
        ),
        Err(RegistrationError::NoClientIdentity { issuer: iss.into() })
    );
}

#[test]
fn okta_custom_authorization_server_issuer_with_path() {
    let iss = "https://dev-69785679.okta.com/oauth2/default";
    assert_eq!(
        as_candidates(iss),
        [
            (
                "https://dev-69785679.okta.com/.well-known/oauth-authorization-server/oauth2/default"
                    .into(),
                MetadataVariant::OAuthInsert
            ),
            (
                "https://dev-69785679.okta.com/.well-known/openid-configuration/oauth2/default"
                    .into(),
                MetadataVariant::OidcInsert
            ),
            (
                "https://dev-69785679.okta.com/oauth2/default/.well-known/openid-configuration"
                    .into(),
                MetadataVariant::OidcAppend
            ),
        ]
    );
    let body = fixture!("okta-custom-as-default-openid-configuration.json");
    let m = as_metadata(iss, 2, body, &strict()).unwrap();
    assert_eq!(m.issuer.as_str(), iss);
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://dev-69785679.okta.com/oauth2/default/v1/authorize"
    );
    assert_eq!(m.token_endpoint.as_str(), "https://dev-69785679.okta.com/oauth2/default/v1/token");
    // The registration endpoint is org-level, outside the issuer's path.
    assert_eq!(
        ep(&m.registration_endpoint),
        Some("https://dev-69785679.okta.com/oauth2/v1/clients")
    );
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["S256"])));
    assert!(!m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);
}

#[test]
fn cognito_no_pkce_field() {
    let iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_ZLiEFD4b6";
    let candidates = as_candidates(iss);
    assert_eq!(
        candidates[2],
        (
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_ZLiEFD4b6/.well-known/openid-configuration".into(),
            MetadataVariant::OidcAppend
        )
    );
    let body = fixture!("aws-cognito-openid-configuration.json");
    assert_eq!(
        as_metadata(iss, 2, body, &strict()),
        Err(ServerMetadataError::PkceSupportNotAdvertised { issuer: iss.into() })
    );
    let m = as_metadata(iss, 2, body, &assume_pkce()).unwrap();
    // Endpoints live on another host than the issuer.
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://micronautguides.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
    );
    assert_eq!(
        m.token_endpoint.as_str(),
        "https://micronautguides.auth.eu-west-1.amazoncognito.com/oauth2/token"
    );
    assert_eq!(m.registration_endpoint, None);
    assert_eq!(m.revocation_endpoint, None);
    assert_eq!(m.code_challenge_methods_supported, None);
    assert_eq!(
        m.token_endpoint_auth_methods_supported,
        Some(strings(&["client_secret_basic", "client_secret_post"]))
    );
}

#[test]
fn adfs_upper_case_issuer_host_is_compared_as_a_string() {
    let iss = "https://EC2AMAZ-5A2FKI6.REDPANDA.COM/adfs";
    let parsed = issuer(iss);
    assert_eq!(parsed.as_str(), iss, "the original spelling is kept for comparisons");
    assert_eq!(parsed.url().host(), "ec2amaz-5a2fki6.redpanda.com");
    // Candidate URLs use the parsed (lower-case) origin.
    assert_eq!(
        as_candidates(iss)[2],
        (
            "https://ec2amaz-5a2fki6.redpanda.com/adfs/.well-known/openid-configuration".into(),
            MetadataVariant::OidcAppend
        )
    );
    let body = fixture!("adfs-openid-configuration.json");
    assert_eq!(
        as_metadata(iss, 2, body, &strict()),
        Err(ServerMetadataError::PkceSupportNotAdvertised { issuer: iss.into() })
    );
    let m = as_metadata(iss, 2, body, &assume_pkce()).unwrap();
    assert_eq!(m.issuer.as_str(), iss);
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://ec2amaz-5a2fki6.redpanda.com/adfs/oauth2/authorize/"
    );
    assert_eq!(
        m.token_endpoint.as_str(),
        "https://ec2amaz-5a2fki6.redpanda.com/adfs/oauth2/token/"
    );
    assert_eq!(m.registration_endpoint, None);
    // RFC 8414 §3.3 is a string comparison: the lower-case spelling is another issuer.
    let lower = "https://ec2amaz-5a2fki6.redpanda.com/adfs";
    assert_eq!(
        as_metadata(lower, 2, body, &assume_pkce()),
        Err(ServerMetadataError::IssuerMismatch { expected: lower.into(), actual: iss.into() })
    );
}

#[test]
fn cloudflare_radar_revocation_is_the_token_endpoint() {
    let iss = "https://radar.mcp.cloudflare.com";
    let body = fixture!("cloudflare-radar-mcp-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(
        m.authorization_endpoint.as_str(),
        "https://radar.mcp.cloudflare.com/oauth/authorize"
    );
    assert_eq!(m.token_endpoint.as_str(), "https://radar.mcp.cloudflare.com/token");
    assert_eq!(ep(&m.revocation_endpoint), Some("https://radar.mcp.cloudflare.com/token"));
    assert_eq!(ep(&m.registration_endpoint), Some("https://radar.mcp.cloudflare.com/register"));
    assert_eq!(m.scopes_supported, None);
    assert_eq!(
        m.token_endpoint_auth_methods_supported,
        Some(strings(&["client_secret_basic", "client_secret_post", "none"]))
    );
    assert!(!m.authorization_response_iss_parameter_supported);
    assert!(!m.client_id_metadata_document_supported);
}

#[test]
fn notion_cimd_supported_metadata_document_is_chosen() {
    let iss = "https://mcp.notion.com";
    let body = fixture!("notion-mcp-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(ep(&m.registration_endpoint), Some("https://mcp.notion.com/register"));
    assert_eq!(m.token_endpoint.as_str(), "https://mcp.notion.com/token");
    assert_eq!(m.scopes_supported, Some(strings(&["default"])));
    assert!(m.client_id_metadata_document_supported);
    assert!(!m.authorization_response_iss_parameter_supported);

    let redirect_uri = redirect(LOOPBACK_REDIRECT);
    let cimd_url = "https://client.example.com/oauth/client-metadata.json";
    let config = ClientConfig {
        metadata_document_url: Some(endpoint(cimd_url)),
        ..ClientConfig::dynamic("mcp-oauth test")
    };
    assert_eq!(
        registration::choose_identity(&config, &m, &redirect_uri, None, NOW),
        Ok(IdentityChoice::Ready(ClientRegistration {
            issuer: iss.into(),
            client_id: cimd_url.into(),
            client_secret: None,
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::None,
            redirect_uri: LOOPBACK_REDIRECT.into(),
            source: IdentitySource::MetadataDocument,
        }))
    );
    // Without a metadata document URL configured, DCR is next.
    assert_eq!(
        registration::choose_identity(
            &ClientConfig::dynamic("mcp-oauth test"),
            &m,
            &redirect_uri,
            None,
            NOW
        ),
        Ok(IdentityChoice::Register(endpoint("https://mcp.notion.com/register")))
    );
}

#[test]
fn linear_as_metadata_with_nonstandard_resource_members() {
    let iss = "https://mcp.linear.app";
    let body = fixture!("linear-mcp-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(m.authorization_endpoint.as_str(), "https://mcp.linear.app/authorize");
    assert_eq!(m.token_endpoint.as_str(), "https://mcp.linear.app/token");
    assert_eq!(ep(&m.registration_endpoint), Some("https://mcp.linear.app/register"));
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["S256"])));
    assert_eq!(m.scopes_supported, Some(strings(&["read", "write", "openid", "email"])));
    assert!(m.client_id_metadata_document_supported);
    assert!(!m.authorization_response_iss_parameter_supported);
}

#[test]
fn sentry_as_metadata_iss_parameter_and_cimd() {
    let iss = "https://mcp.sentry.dev";
    let body = fixture!("sentry-mcp-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(m.authorization_endpoint.as_str(), "https://mcp.sentry.dev/oauth/authorize");
    assert_eq!(m.token_endpoint.as_str(), "https://mcp.sentry.dev/oauth/token");
    assert_eq!(ep(&m.registration_endpoint), Some("https://mcp.sentry.dev/oauth/register"));
    assert_eq!(ep(&m.revocation_endpoint), Some("https://mcp.sentry.dev/oauth/token"));
    assert!(m.authorization_response_iss_parameter_supported);
    assert!(m.client_id_metadata_document_supported);
}

#[test]
fn canva_as_metadata_without_scopes() {
    let iss = "https://mcp.canva.com";
    let body = fixture!("canva-mcp-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(ep(&m.registration_endpoint), Some("https://mcp.canva.com/register"));
    assert_eq!(m.scopes_supported, None);
    assert_eq!(m.code_challenge_methods_supported, Some(strings(&["plain", "S256"])));
    assert!(m.client_id_metadata_document_supported);
    assert!(!m.authorization_response_iss_parameter_supported);
}

#[test]
fn vercel_as_on_another_host_registers_dynamically() {
    let iss = "https://vercel.com";
    let body = fixture!("vercel-oauth-authorization-server.json");
    let m = as_metadata(iss, 0, body, &strict()).unwrap();
    assert_eq!(m.authorization_endpoint.as_str(), "https://vercel.com/oauth/authorize");
    assert_eq!(m.token_endpoint.as_str(), "https://api.vercel.com/login/oauth/token");
    assert_eq!(ep(&m.registration_endpoint), Some("https://api.vercel.com/login/oauth/register"));
    assert_eq!(ep(&m.revocation_endpoint), Some("https://api.vercel.com/login/oauth/token/revoke"));
    // `none` is not listed although public clients are issued (see the DCR test below).
    assert_eq!(
        m.token_endpoint_auth_methods_supported,
        Some(strings(&[
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt"
        ]))
    );
    assert!(!m.client_id_metadata_document_supported);
    assert!(!m.authorization_response_iss_parameter_supported);
    assert_eq!(
        registration::choose_identity(
            &ClientConfig::dynamic("mcp-oauth test"),
            &m,
            &redirect(LOOPBACK_REDIRECT),
            None,
            NOW
        ),
        Ok(IdentityChoice::Register(endpoint("https://api.vercel.com/login/oauth/register")))
    );
}

// ---------------------------------------------------------------------------------------------
// Token endpoint responses (RFC 6749 §5)
// ---------------------------------------------------------------------------------------------

#[test]
fn github_json_token_lowercase_bearer_no_expiry() {
    let resp = HttpResponse::new(
        200,
        vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        fixture!("github-oauth-token-response-json.json"),
    );
    let t = token::process_token_response(&resp, NOW, None, Some("repo gist")).unwrap();
    assert_eq!(t.access_token.secret(), "gho_16C7e42F292c6912E7710c838347Ae178B4a");
    assert_eq!(t.token_type, "bearer");
    assert_eq!(t.expires_at, None);
    assert!(t.is_fresh(NOW.plus(10 * 365 * 24 * 3600), 60), "no expiry: always fresh");
    assert_eq!(t.refresh_token, None);
    // GitHub's comma-separated scope is kept as sent.
    assert_eq!(t.scope.as_deref(), Some("repo,gist"));
    assert_eq!(t.id_token, None);
    assert_eq!(t.received_at, NOW);
}

#[test]
fn github_form_encoded_default_is_not_json() {
    let resp = HttpResponse::new(
        200,
        vec![("Content-Type".into(), "application/x-www-form-urlencoded; charset=utf-8".into())],
        fixture!("github-oauth-token-response-default-form-encoded.txt"),
    );
    let err = token::process_token_response(&resp, NOW, None, None).unwrap_err();
    assert_eq!(
        err,
        TokenError::NotJson {
            content_type: "application/x-www-form-urlencoded; charset=utf-8".into()
        }
    );
    assert_eq!(err.code(), "token_not_json");

    // GitHub answers JSON only when asked: every token request carries Accept: application/json.
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let client = ClientAuth {
        client_id: "Iv1.0123456789abcdef",
        client_secret: None,
        method: TokenEndpointAuth::None,
        assertion: None,
    };
    let req = token::code_exchange_request(
        mcp_oauth_core::http::RequestId(1),
        &endpoint("https://github.com/login/oauth/access_token"),
        &client,
        AuthorizationCode::new("code123"),
        &verifier,
        &redirect(LOOPBACK_REDIRECT),
        Some(&mcp("https://api.githubcopilot.com/mcp")),
    )
    .unwrap();
    assert_eq!(req.header("accept"), Some("application/json"));
}

#[test]
fn github_error_with_http_200_is_an_error() {
    let body = fixture!("github-oauth-token-error-bad-verification-code-http200.json");
    let err =
        token::process_token_response(&HttpResponse::json(200, body), NOW, None, None).unwrap_err();
    let TokenError::Rejected { status, error } = &err else {
        panic!("expected TokenError::Rejected, got {err:?}");
    };
    assert_eq!(*status, 200);
    assert_eq!(error.error, "bad_verification_code");
    assert_eq!(
        error.error_description.as_deref(),
        Some("The code passed is incorrect or expired.")
    );
    assert_eq!(
        error.error_uri.as_deref(),
        Some("https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code")
    );
    assert_eq!(err.code(), "token_rejected");
    assert!(!err.is_transient());
}

#[test]
fn github_docs_error_with_relative_error_uri() {
    let body = fixture!("github-oauth-token-error-incorrect-client-credentials-docs.json");
    let err =
        token::process_token_response(&HttpResponse::json(200, body), NOW, None, None).unwrap_err();
    assert!(matches!(
        &err,
        TokenError::Rejected { status: 200, error }
            if error.error == "incorrect_client_credentials"
                && error.error_uri.as_deref()
                    == Some("/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials")
    ));
}

#[test]
fn entra_v1_expires_in_as_string() {
    let body = fixture!("entra-v1-token-response-expires-in-string.json");
    let now = UnixTime(1_458_241_848);
    let previous = RefreshToken::new("previous-refresh");
    let t = token::process_token_response(
        &HttpResponse::json(200, body),
        now,
        Some(&previous),
        Some("https://management.core.windows.net//.default"),
    )
    .unwrap();
    assert_eq!(t.access_token.secret(), "<REDACTED>");
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_at, Some(UnixTime(1_458_241_848 + 3599)));
    assert_eq!(t.refresh_token, Some(previous), "no rotation: the old refresh token is kept");
    assert_eq!(t.scope.as_deref(), Some("https://management.core.windows.net//.default"));
}

#[test]
fn entra_invalid_grant_400() {
    let body = fixture!("entra-token-error-invalid-grant.json");
    let err =
        token::process_token_response(&HttpResponse::json(400, body), NOW, None, None).unwrap_err();
    let TokenError::InvalidGrant(error) = &err else {
        panic!("expected TokenError::InvalidGrant, got {err:?}");
    };
    assert_eq!(error.error, "invalid_grant");
    let description = error.error_description.as_deref().unwrap();
    assert!(description.starts_with("AADSTS50173: The provided grant has expired"));
    assert!(description
        .contains(".\r\nTrace ID: 47a23f57-3717-4857-8fab-b3485aeba800\r\nCorrelation ID: "));
    assert_eq!(
        error.error_uri.as_deref(),
        Some("https://login.microsoftonline.com/error?code=50173")
    );
    assert_eq!(err.code(), "invalid_grant");
    assert!(!err.is_transient());
}

#[test]
fn cloudflare_lowercase_bearer_with_refresh() {
    let body = fixture!("cloudflare-radar-mcp-token-response-lowercase-bearer.json");
    let old = RefreshToken::new("old-refresh");
    let t = token::process_token_response(&HttpResponse::json(200, body), NOW, Some(&old), None)
        .unwrap();
    assert_eq!(t.access_token.secret(), "REDACTED-ACCESS-TOKEN");
    assert_eq!(t.token_type, "bearer");
    assert_eq!(t.expires_at, Some(NOW.plus(3600)));
    assert_eq!(t.refresh_token, Some(RefreshToken::new("REDACTED-REFRESH-TOKEN")));
    assert_eq!(
        t.scope.as_deref(),
        Some("user:read offline_access account:read radar:read url_scanner:write")
    );
}

// ---------------------------------------------------------------------------------------------
// Dynamic client registration responses (RFC 7591 §3.2)
// ---------------------------------------------------------------------------------------------

#[test]
fn vercel_dcr_downgraded_to_public_client() {
    let body = fixture!("vercel-dcr-response-downgraded-to-public.json");
    let redirect_uri = redirect("http://127.0.0.1:8090/api/v1/oauth-callback/remote");
    let reg = registration::process_registration_response(
        &HttpResponse::json(201, body),
        "https://vercel.com",
        &redirect_uri,
        NOW,
    )
    .unwrap();
    assert_eq!(
        reg,
        ClientRegistration {
            issuer: "https://vercel.com".into(),
            client_id: "cl_WbdtcToDrMR4ZHvXLGAmbfoYCsQjMeS8".into(),
            client_secret: None,
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::None,
            redirect_uri: "http://127.0.0.1:8090/api/v1/oauth-callback/remote".into(),
            source: IdentitySource::Dynamic,
        }
    );
}

#[test]
fn keycloak_dcr_confidential_client_secret_never_expires() {
    let body = fixture!("keycloak-dcr-response-confidential-client.json");
    let iss = "http://localhost:8180/realms/master";
    let reg = registration::process_registration_response(
        &HttpResponse::json(201, body),
        iss,
        &redirect(LOOPBACK_REDIRECT),
        UnixTime(1_687_737_390),
    )
    .unwrap();
    assert_eq!(
        reg,
        ClientRegistration {
            issuer: iss.into(),
            client_id: "cf4ab76c-c437-4ba2-8e94-1323269b5090".into(),
            client_secret: Some(ClientSecret::new("iDe9fkFNBDbVS5JOtYNUDIO8w8N6dWzf")),
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::ClientSecretBasic,
            redirect_uri: LOOPBACK_REDIRECT.into(),
            source: IdentitySource::Dynamic,
        }
    );
    // `client_secret_expires_at: 0` means never: still usable far in the future.
    assert!(reg.usable_for(iss, LOOPBACK_REDIRECT, UnixTime(u64::MAX)));
}

#[test]
fn authlete_dcr_public_client_with_charset_content_type() {
    let body = fixture!("authlete-style-dcr-response-public-client.json");
    let resp = HttpResponse::new(
        201,
        vec![
            ("content-type".into(), "application/json;charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body,
    );
    let iss = "https://vc-issuer.g-trustedweb.workers.dev";
    let redirect_uri = "http://localhost:6274/oauth/callback/debug";
    let reg = registration::process_registration_response(&resp, iss, &redirect(redirect_uri), NOW)
        .unwrap();
    assert_eq!(
        reg,
        ClientRegistration {
            issuer: iss.into(),
            client_id: "1687054126".into(),
            client_secret: None,
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::None,
            redirect_uri: redirect_uri.into(),
            source: IdentitySource::Dynamic,
        }
    );
}
