//! Real authorization servers' metadata documents (RFC 8414, OIDC Discovery) run through the
//! public step functions.
//!
//! Every fixture under `tests/fixtures/real-world/` was copied from a public source; its
//! provenance and the quirk it shows are in `tests/fixtures/real-world/README.md`. Each test
//! feeds one document to the matching `process_*` function and asserts the exact outcome: the
//! fields the client uses, or the exact error variant.
//!
//! A few documents are not fixtures because no verbatim copy exists (the README's "Not found"
//! list); those are built inline from the facts the README gives and are marked "synthesized".
//!
//! The other real-world tests are in `real_world_resource.rs` and `real_world_tokens.rs`; the
//! shared helpers and the `fixture!` macro are in `common/real_world.rs`.

mod common;

use common::real_world::{
    as_candidates, as_metadata, assume_pkce, endpoint, ep, fixture, issuer, prm, redirect, strict,
    strings, LOOPBACK_REDIRECT, NOW,
};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::registration::{
    self, ClientConfig, ClientRegistration, IdentityChoice, IdentitySource, RegistrationError,
};
use mcp_oauth_core::resource_metadata::ResourceMetadataError;
use mcp_oauth_core::server_metadata::{self, MetadataVariant, ServerMetadataError};
use mcp_oauth_core::token::TokenEndpointAuth;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, UrlError, UrlProblem};

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
    // (MCP 2026-07-28 authorization, communication security). Nothing can be fetched from it.
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
            // The only one Entra serves (Entra ID omits `code_challenge_methods_supported`).
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
    let mut config = ClientConfig::dynamic("mcp-oauth test");
    config.metadata_document_url = Some(endpoint(cimd_url));
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
