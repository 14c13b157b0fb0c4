//! Real servers' 401 challenges and protected-resource metadata run through the public step
//! functions.
//!
//! Every fixture under `tests/fixtures/real-world/` was copied from a public source; its
//! provenance and the quirk it shows are in `tests/fixtures/real-world/README.md`. Each test
//! feeds one document to the matching `process_*` function and asserts the exact outcome: the
//! fields the client uses, or the exact error variant.
//!
//! A few documents are not fixtures because no verbatim copy exists (the README's "Not found"
//! list); those are built inline from the facts the README gives and are marked "synthesized".
//!
//! The other real-world tests are in `real_world_server_metadata.rs` and `real_world_tokens.rs`;
//! the shared helpers and the `fixture!` macro are in `common/real_world.rs`.

mod common;

use common::real_world::{
    fixture, issuer, issuers, mcp, prm, prm_candidates, strings, transcript_response,
    www_authenticate,
};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::resource_metadata::{ResourceMetadata, ResourceMetadataError};
use mcp_oauth_core::www_authenticate::{self, BearerChallenge, Challenge};

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
            dpop_bound_access_tokens_required: false,
            dpop_signing_alg_values_supported: None,
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
