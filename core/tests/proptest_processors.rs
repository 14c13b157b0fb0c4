//! Property tests over the core's four JSON response processors (token, authorization-server
//! metadata, protected-resource metadata, client registration), and the registration
//! regression test found by fuzzing.
//!
//! Two kinds of properties:
//! - robustness: a processor never panics on arbitrary input (bytes, statuses, content types,
//!   JSON documents), and whatever it accepts satisfies cheap invariants;
//! - laws on generated valid input: a well-formed token response is accepted whatever its
//!   values.
//!
//! Cases per property: proptest's default of 256 (512 for the four `*_never_panics`
//! properties), a few seconds in a debug build; `PROPTEST_CASES=10000 cargo test -p
//! mcp-oauth-core --test proptest_processors` for a longer run. The cargo-fuzz targets in `fuzz/`
//! cover the same parsers with coverage guidance.
//!
//! The other property tests are in `proptest_urls.rs` and `proptest_challenges.rs`; the shared
//! configuration and URL generators are in `common/strategies.rs`.

mod common;

use common::strategies::{config, url_like, ISSUER};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::process_registration_response;
use mcp_oauth_core::resource_metadata;
use mcp_oauth_core::secret::RefreshToken;
use mcp_oauth_core::server_metadata;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{process_token_response, TokenEndpointAuth};
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Properties: JSON response processors
// ---------------------------------------------------------------------------------------------

/// Strings that matter to the processors: URLs they compare against, enum values, and junk.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            ISSUER,
            "https://as.example",
            "https://as.example/authorize",
            "http://as.example/token",
            "http://localhost:9000/token",
            "https://mcp.example.com",
            "https://mcp.example.com/",
            "https://mcp.example.com/mcp",
            "https://MCP.example.com:443/mcp/sub",
            "https://mcp.example.com/mcpx",
            "https://evil.example/mcp",
            "Bearer", "bearer", "DPoP", "S256", "plain", "code", "token", "none",
            "client_secret_basic", "client_secret_post", "private_key_jwt",
            "invalid_grant", "invalid_client", "3600", " 42 ", "-1", "1e3", "",
        ]).prop_map(String::from),
        1 => any::<String>(),
        1 => url_like(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => select(vec![0u64, 1, 3600, u64::MAX]).prop_map(Value::from),
        1 => any::<f64>()
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        1 => select(vec![3600.0f64, -0.0, 1.5, 1e15, 1e300]).prop_map(Value::from),
        5 => interesting_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
    "scopes_supported",
    "response_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "grant_types_supported",
    "authorization_response_iss_parameter_supported",
    "client_id_metadata_document_supported",
    "resource",
    "authorization_servers",
    "resource_name",
    "client_id",
    "client_secret",
    "client_secret_expires_at",
    "token_endpoint_auth_method",
];

/// A JSON object whose members are mostly the ones the processors read.
fn json_document() -> impl Strategy<Value = Value> {
    let member = (
        prop_oneof![9 => select(FIELDS.to_vec()).prop_map(String::from), 1 => "[a-z_]{1,8}"],
        prop_oneof![
            3 => json_leaf(),
            1 => prop::collection::vec(json_leaf(), 0..4).prop_map(Value::Array),
            1 => json_value(),
        ],
    );
    prop::collection::vec(member, 0..14)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// What to do with one member of a valid document.
#[derive(Clone, Debug)]
enum Edit {
    Keep,
    Remove,
    Replace(Value),
}

/// A valid document with some members removed or replaced and a few members added, so that
/// both the success path and every member's checks are reached.
fn perturbed(valid: Value) -> impl Strategy<Value = Value> {
    let valid = match valid {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let edit = prop_oneof![
        12 => Just(Edit::Keep),
        1 => Just(Edit::Remove),
        1 => json_leaf().prop_map(Edit::Replace),
        1 => json_value().prop_map(Edit::Replace),
    ];
    let extra = (select(FIELDS.to_vec()).prop_map(String::from), json_leaf());
    (prop::collection::vec(edit, valid.len()), prop::collection::vec(extra, 0..2)).prop_map(
        move |(edits, extras)| {
            let mut m = Map::new();
            for ((k, v), e) in valid.iter().zip(edits) {
                match e {
                    Edit::Keep => drop(m.insert(k.clone(), v.clone())),
                    Edit::Remove => {}
                    Edit::Replace(r) => drop(m.insert(k.clone(), r)),
                }
            }
            for (k, v) in extras {
                m.insert(k, v);
            }
            Value::Object(m)
        },
    )
}

/// A response for a processor whose success status is `ok_status` and whose valid document is
/// `valid`: status, content type and body drawn from plausible and arbitrary values.
fn response(ok_status: u16, valid: Value) -> impl Strategy<Value = HttpResponse> {
    let status = prop_oneof![
        6 => Just(ok_status),
        3 => select(vec![200u16, 201, 400, 401, 404, 429, 500, 503, 302]),
        1 => any::<u16>(),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/json".to_owned())),
        4 => select(vec![
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
            "text/html",
            "",
            "json",
        ])
        .prop_map(|s| Some(s.to_owned())),
        1 => Just(None),
        1 => any::<String>().prop_map(Some),
    ];
    let header_name = select(vec!["content-type", "Content-Type", "CONTENT-TYPE"]);
    let body = prop_oneof![
        8 => perturbed(valid.clone()).prop_map(|v| v.to_string().into_bytes()),
        2 => json_document().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => (perturbed(valid), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            // Truncated JSON (possibly inside a multi-byte character).
            let mut b = v.to_string().into_bytes();
            let n = i.index(b.len() + 1);
            b.truncate(n);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..48),
    ];
    (status, content_type, header_name, body).prop_map(|(status, ct, name, body)| {
        let headers = ct.map(|ct| vec![(name.to_owned(), ct)]).unwrap_or_default();
        HttpResponse::new(status, headers, body)
    })
}

fn valid_token() -> Value {
    serde_json::json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "rt-1", "scope": "files:read", "id_token": "eyJ.x.y",
    })
}

fn valid_server_metadata() -> Value {
    serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "registration_endpoint": "https://as.example/register",
        "revocation_endpoint": "http://localhost:9000/revoke",
        "scopes_supported": ["files:read", "offline_access"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": false,
    })
}

fn valid_resource_metadata() -> Value {
    serde_json::json!({
        "resource": "https://mcp.example.com",
        "authorization_servers": [ISSUER, "https://as.example"],
        "scopes_supported": ["files:read"],
        "resource_name": "Example MCP",
    })
}

fn valid_registration() -> Value {
    serde_json::json!({
        "client_id": "client-1", "client_secret": "s3cret", "client_secret_expires_at": 0,
        "token_endpoint_auth_method": "client_secret_post",
    })
}

proptest! {
    #![proptest_config(config(2))]

    #[test]
    fn token_response_never_panics(
        resp in response(200, valid_token()),
        now in prop_oneof![any::<u64>(), Just(u64::MAX), Just(1_700_000_000)],
        previous in prop::option::of("[a-z]{1,8}"),
        requested in prop::option::of("[a-z: ]{0,12}"),
    ) {
        let previous = previous.map(RefreshToken::new);
        let out =
            process_token_response(&resp, UnixTime(now), previous.as_ref(), requested.as_deref());
        if let Ok(t) = out {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(resp.is_json());
            prop_assert!(t.token_type.eq_ignore_ascii_case("bearer"));
            prop_assert!(!t.access_token.secret().is_empty());
            prop_assert_eq!(t.received_at, UnixTime(now));
            prop_assert!(t.expires_at.is_none_or(|e| e >= UnixTime(now)));
            if t.refresh_token.is_none() {
                prop_assert!(previous.is_none());
            }
            if t.scope.is_none() {
                prop_assert!(requested.is_none());
            }
        }
    }

    #[test]
    fn server_metadata_never_panics(
        resp in response(200, valid_server_metadata()),
        assume_pkce in any::<bool>(),
    ) {
        let issuer = IssuerUrl::parse(ISSUER).unwrap();
        let url = EndpointUrl::parse(
            "https://as.example/.well-known/oauth-authorization-server/tenant",
        )
        .unwrap();
        let policy =
            { let mut p = ServerPolicy::default(); p.danger_assume_pkce_s256 = assume_pkce; p };
        if let Ok(m) = server_metadata::process_metadata_response(&issuer, &url, &resp, &policy) {
            prop_assert_eq!(resp.status, 200);
            prop_assert_eq!(m.issuer.as_str(), ISSUER);
            match &m.code_challenge_methods_supported {
                Some(ms) => prop_assert!(ms.iter().any(|x| x == "S256")),
                None => prop_assert!(assume_pkce),
            }
            prop_assert!(m.authorization_endpoint.url().require_secure().is_ok());
            prop_assert!(m.token_endpoint.url().require_secure().is_ok());
        }
        if let Ok(m) = server_metadata::process_legacy_metadata_response(&url, &resp, &policy) {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(m.issuer.url().require_secure().is_ok());
        }
    }

    #[test]
    fn resource_metadata_never_panics(
        resp in response(200, valid_resource_metadata()),
        mcp in select(vec![
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "http://localhost:3000/mcp",
        ]),
    ) {
        let mcp_url = ResourceUrl::parse(mcp).unwrap();
        let url = EndpointUrl::parse(
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        )
        .unwrap();
        if let Ok(m) = resource_metadata::process_metadata_response(&url, &mcp_url, &resp) {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(m.resource.covers(&mcp_url));
            prop_assert!(!m.authorization_servers.is_empty());
            prop_assert_eq!(m.url.as_str(), url.as_str());
        }
    }

    #[test]
    fn registration_response_never_panics(
        resp in response(201, valid_registration()),
        now in prop_oneof![any::<u64>(), Just(0), Just(1_700_000_000)],
    ) {
        let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").unwrap();
        if let Ok(r) = process_registration_response(&resp, ISSUER, &redirect, UnixTime(now)) {
            prop_assert!(resp.status == 201 || resp.status == 200, "status {}", resp.status);
            prop_assert!(!r.client_id.is_empty());
            prop_assert_eq!(r.issuer.as_str(), ISSUER);
            prop_assert!(r.auth_method != TokenEndpointAuth::PrivateKeyJwt);
            match r.auth_method {
                TokenEndpointAuth::None => prop_assert!(r.client_secret.is_none()),
                _ => prop_assert!(r.client_secret.is_some()),
            }
            if r.client_secret.is_some() {
                prop_assert!(r.client_secret_expires_at.is_none_or(|t| t > UnixTime(now)));
            }
            // A registration just received is usable at once (see `registration_ok_is_usable`).
            prop_assert!(r.usable_for(ISSUER, redirect.as_str(), UnixTime(now)));
        }
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// A well-formed token response is accepted whatever its values, with saturating expiry.
    #[test]
    fn valid_token_responses_are_accepted(
        access in "[!-~]{1,40}",
        token_type in "[bB][eE][aA][rR][eE][rR]",
        expires_in in prop::option::of(any::<u64>()),
        as_string in any::<bool>(),
        now in any::<u64>(),
        refresh in prop::option::of("[a-z0-9]{0,8}"),
        ct in select(vec![
            "application/json",
            "application/json;charset=UTF-8",
            "APPLICATION/JSON",
        ]),
    ) {
        let mut body = serde_json::json!({ "access_token": access, "token_type": token_type });
        if let Some(e) = expires_in {
            body["expires_in"] =
                if as_string { Value::from(e.to_string()) } else { Value::from(e) };
        }
        if let Some(r) = &refresh {
            body["refresh_token"] = Value::from(r.as_str());
        }
        let headers = vec![("Content-Type".to_owned(), ct.to_owned())];
        let resp = HttpResponse::new(200, headers, body.to_string());
        let previous = RefreshToken::new("old");
        let t = process_token_response(&resp, UnixTime(now), Some(&previous), Some("a b"))
            .map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        prop_assert_eq!(t.access_token.secret(), access.as_str());
        prop_assert_eq!(t.expires_at, expires_in.map(|e| UnixTime(now).plus(e)));
        let expected_refresh = refresh.filter(|r| !r.is_empty()).unwrap_or_else(|| "old".into());
        let refresh_token = t.refresh_token.as_ref().map(|r| r.secret());
        prop_assert_eq!(refresh_token, Some(expected_refresh.as_str()));
        prop_assert_eq!(t.scope.as_deref(), Some("a b"));
    }
}

/// Regression (found by fuzz_registration_response): a 201 without a client secret but with a
/// past `client_secret_expires_at` gave a registration that was not `usable_for` its own issuer
/// and redirect URI at the same instant, so the client registered again on every authorization.
#[test]
fn registration_ok_is_usable() {
    let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").unwrap();
    let now = UnixTime(1_700_000_000);
    let resp = HttpResponse::json(201, r#"{"client_id":"c1","client_secret_expires_at":5}"#);
    let r = process_registration_response(&resp, ISSUER, &redirect, now).unwrap();
    assert_eq!(r.auth_method, TokenEndpointAuth::None);
    assert!(r.usable_for(ISSUER, redirect.as_str(), now), "fresh registration unusable: {r:?}");
}
