//! Real servers' token endpoint responses (RFC 6749 §5) and dynamic client registration
//! responses (RFC 7591 §3.2) run through the public step functions.
//!
//! Every fixture under `tests/fixtures/real-world/` was copied from a public source; its
//! provenance and the quirk it shows are in `tests/fixtures/real-world/README.md`. Each test
//! feeds one document to the matching `process_*` function and asserts the exact outcome: the
//! fields the client uses, or the exact error variant.
//!
//! The other real-world tests are in `real_world_resource.rs` and
//! `real_world_server_metadata.rs`; the shared helpers and the `fixture!` macro are in
//! `common/real_world.rs`.

mod common;

use common::real_world::{endpoint, fixture, mcp, redirect, LOOPBACK_REDIRECT, NOW};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::registration::{self, ClientRegistration, IdentitySource};
use mcp_oauth_core::secret::{AuthorizationCode, ClientSecret, PkceVerifier, RefreshToken};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{self, ClientAuth, TokenEndpointAuth, TokenError};

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
        &token::CodeExchangeParams {
            token_endpoint: &endpoint("https://github.com/login/oauth/access_token"),
            client: &client,
            code: &AuthorizationCode::new("code123"),
            verifier: &verifier,
            redirect_uri: &redirect(LOOPBACK_REDIRECT),
            resource: Some(&mcp("https://api.githubcopilot.com/mcp")),
        },
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
