//! Attack tests: parsers.
//!
//! Hostile documents sized like the ones in issue 12 (item 3): before the caps, duplicate-name
//! checks were linear scans, so these inputs cost seconds of CPU on the async runtime (or on the
//! browser's main thread). Each test sends the input through the public `process_*`/`parse`
//! functions and asserts that it is refused with the error that names the cap. Without timing
//! anything, the byte offset where the JSON parser stopped shows how much of the input it read:
//! the same offset for the input and for one twice its size.

use std::fmt::Write as _;

use mcp_oauth_core::__private::encoding::form_decode;
use mcp_oauth_core::__private::json;
use mcp_oauth_core::authorize::{
    authorization_request, process_callback, AuthorizationParams, CallbackError,
};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::resource_metadata;
use mcp_oauth_core::server_metadata::{self, ServerMetadataError};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, Url};
use mcp_oauth_core::www_authenticate;
use mcp_oauth_core::FlowSnapshot;

const ISSUER: &str = "https://as.example";

/// An RFC 8414 metadata document with `extra` unique members after the real ones
/// (`,"x00000":"abc"`: 15 bytes each, so 60,000 of them are about 0.9 MB).
fn metadata_with_members(extra: usize) -> String {
    let mut s = format!(
        r#"{{"issuer":"{ISSUER}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{ISSUER}/token","code_challenge_methods_supported":["S256"]"#
    );
    for i in 0..extra {
        write!(s, r#","x{i:05}":"abc""#).expect("writing to a String");
    }
    s.push('}');
    s
}

fn process_server_metadata(body: &str) -> Result<(), ServerMetadataError> {
    let issuer = IssuerUrl::parse(ISSUER).expect("valid");
    let url = EndpointUrl::parse(&format!("{ISSUER}/.well-known/oauth-authorization-server"))
        .expect("valid");
    let resp = HttpResponse::json(200, body);
    server_metadata::process_metadata_response(&issuer, &url, &resp, &ServerPolicy::default())
        .map(|_| ())
}

#[test]
fn metadata_with_60k_unique_members_is_refused_at_the_member_cap() {
    // The exploit: a 0.9 MB metadata document with 60,000 unique member names.
    let body = metadata_with_members(60_000);
    assert!((850_000..1_000_000).contains(&body.len()), "{}", body.len());
    let err = process_server_metadata(&body).unwrap_err();

    // Refused, with the error naming the cap.
    assert_eq!(err.code(), "server_metadata_malformed");
    assert!(err.to_string().contains("MAX_MEMBERS"), "{err}");
    // The parser stopped at the first member over the cap, not at the end of the document, and
    // a document half the size stops at the same byte (twice the size is over MAX_INPUT_LEN).
    let stop = json::parse(body.as_bytes()).unwrap_err().position;
    assert!(stop < 20_000, "stopped at byte {stop} of {}", body.len());
    let half = metadata_with_members(30_000);
    assert_eq!(json::parse(half.as_bytes()).unwrap_err().position, stop);
    let doubled = metadata_with_members(120_000);
    assert_eq!(json::parse(doubled.as_bytes()).unwrap_err().position, 0);
    // A real-sized document (a few dozen members) still parses.
    assert_eq!(process_server_metadata(&metadata_with_members(50)), Ok(()));
}

#[test]
fn json_larger_than_the_input_cap_is_refused_before_parsing() {
    // The exploit: 2 MiB of JSON (a long array of small numbers inside a valid document).
    let mut body = String::from("{\"a\":[");
    while body.len() < 2 << 20 {
        body.push_str("1,");
    }
    body.push_str("1]}");
    let err = json::parse(body.as_bytes()).unwrap_err();

    // Refused at byte 0 by the size cap, before any of it is read.
    assert_eq!(err.position, 0);
    assert!(err.reason.contains("MAX_INPUT_LEN"), "{err}");
}

#[test]
fn resource_metadata_with_100k_scopes_is_refused_at_the_array_cap() {
    // The exploit: protected-resource metadata whose `scopes_supported` lists 100,000 unique
    // scopes (0.9 MB); the flow joins them without duplicates into the authorization request.
    let mut body = String::from(
        r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["#,
    );
    for i in 0..100_000 {
        write!(body, "\"s{i:05}\",").expect("writing to a String");
    }
    body.push_str("\"last\"]}");
    let url = EndpointUrl::parse("https://mcp.example/.well-known/oauth-protected-resource/mcp")
        .expect("valid");
    let mcp = ResourceUrl::parse("https://mcp.example/mcp").expect("valid");
    let err =
        resource_metadata::process_metadata_response(&url, &mcp, &HttpResponse::json(200, &body))
            .unwrap_err();

    // Refused, naming the cap.
    assert_eq!(err.code(), "resource_metadata_malformed");
    assert!(err.to_string().contains("MAX_ITEMS"), "{err}");
}

#[test]
fn json_nested_500k_deep_is_refused_at_depth_64() {
    // The exploit: 512 KiB of `[` (stack exhaustion in a recursive parser).
    let body = "[".repeat(512 << 10);
    let err = json::parse(body.as_bytes()).unwrap_err();

    // Refused where the 65th level opens.
    assert_eq!(err.reason, "nested too deeply (more than MAX_DEPTH = 64 levels)");
    assert_eq!(err.position, 65);
}

#[test]
fn json_string_longer_than_the_string_cap_is_refused() {
    // The exploit: one 512 KiB string member (a single huge allocation per value).
    let body = format!("{{\"access_token\":\"{}\"}}", "a".repeat(512 << 10));
    let err = json::parse(body.as_bytes()).unwrap_err();

    // Refused at the cap, naming it.
    assert!(err.reason.contains("MAX_STRING_LEN"), "{err}");
    assert!(err.position < (256 << 10) + 64, "{}", err.position);
}

/// `Bearer realm="mcp", a00000=b, a00001=b, …` with `params` unique parameters.
fn challenge_with_params(params: usize) -> String {
    let mut h = String::from("Bearer realm=\"mcp\"");
    for i in 0..params {
        write!(h, ", a{i:05}=b").expect("writing to a String");
    }
    h
}

fn bearer(header: &str) -> Result<(), www_authenticate::ChallengeError> {
    let resp = HttpResponse::new(401, vec![("WWW-Authenticate".into(), header.into())], vec![]);
    www_authenticate::bearer_challenge(&resp).map(|_| ())
}

#[test]
fn www_authenticate_with_40k_parameters_is_refused_at_the_length_cap() {
    // The exploit: a 400 KB `WWW-Authenticate` header with 40,000 unique parameters.
    let header = challenge_with_params(40_000);
    assert!((350_000..450_000).contains(&header.len()), "{}", header.len());
    let err = bearer(&header).unwrap_err();

    // Refused by the header length cap, naming it; the error does not copy the header.
    assert_eq!(err.code(), "challenge_too_long");
    assert!(err.to_string().contains("MAX_HEADER_LEN"), "{err}");
    assert!(err.to_string().len() < 200, "{err}");
}

#[test]
fn www_authenticate_under_the_length_cap_with_1k_parameters_is_refused_at_the_count_cap() {
    // The exploit: as many parameters as fit under the length cap (1,400 in 14 KB).
    let header = challenge_with_params(1_400);
    assert!(header.len() < 16 << 10, "{}", header.len());
    let err = bearer(&header).unwrap_err();

    // Refused by the parameter cap, naming it.
    assert_eq!(err.code(), "challenge_too_many_parameters");
    assert!(err.to_string().contains("MAX_PARAMETERS"), "{err}");
    // A real challenge still parses.
    let real = r#"Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource", scope="files:read", error="insufficient_scope""#;
    assert_eq!(bearer(real), Ok(()));
}

#[test]
fn form_body_of_1_mib_is_refused_at_the_length_cap() {
    // The exploit: a 1 MiB `application/x-www-form-urlencoded` body of 131,072 unique pairs.
    let mut body = String::new();
    let mut i = 0;
    while body.len() < 1 << 20 {
        write!(body, "p{i:05}=&").expect("writing to a String");
        i += 1;
    }
    let outcome = format!("{:?}", form_decode(&body));

    // Refused, naming the cap.
    assert!(outcome.starts_with("Err(TooLong"), "{}", &outcome[..outcome.len().min(80)]);
    assert!(outcome.contains("max: 65536"), "{}", &outcome[..outcome.len().min(80)]);
}

#[test]
fn form_body_under_the_length_cap_with_too_many_pairs_is_refused() {
    // The exploit: 32,000 empty-valued pairs in 64 KB (`a&a&…`).
    let body = "a&".repeat(32_000);
    let outcome = format!("{:?}", form_decode(&body));

    // Refused by the pair cap, naming it.
    assert!(outcome.starts_with("Err(TooManyPairs"), "{}", &outcome[..outcome.len().min(80)]);
}

#[test]
fn url_of_1_mib_is_refused_at_the_length_cap() {
    // The exploit: a 1 MiB URL (an endpoint in metadata, a `resource_metadata` link).
    let url = format!("https://as.example/{}", "a".repeat(1 << 20));
    let err = Url::parse(&url).unwrap_err();

    // Refused, naming the cap; the error keeps only the start of the input.
    assert_eq!(err.code(), "url_too_long");
    assert!(err.to_string().contains("MAX_URL_LEN"), "{err}");
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
    assert_eq!(IssuerUrl::parse(&url).unwrap_err().code(), "url_too_long");
}

fn pending() -> mcp_oauth_core::authorize::PendingAuthorization {
    let body = metadata_with_members(0);
    let issuer = IssuerUrl::parse(ISSUER).expect("valid");
    let url = EndpointUrl::parse(&format!("{ISSUER}/.well-known/oauth-authorization-server"))
        .expect("valid");
    let md = server_metadata::process_metadata_response(
        &issuer,
        &url,
        &HttpResponse::json(200, &body),
        &ServerPolicy::default(),
    )
    .expect("valid");
    let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").expect("valid");
    authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "client-1",
            redirect_uri: &redirect,
            resource: None,
            scope: None,
            extra_params: &[],
        },
        &Entropy { verifier: [1; 32], state: [2; 32] },
        UnixTime(1_700_000_000),
    )
    .expect("valid")
}

#[test]
fn callback_of_1_mib_with_130k_parameters_is_refused_at_the_url_cap() {
    // The exploit: a 1 MiB callback URL with 131,072 unique query parameters.
    let p = pending();
    let mut url = String::from("http://127.0.0.1:8765/cb?");
    let mut i = 0;
    while url.len() < 1 << 20 {
        write!(url, "p{i:05}=&").expect("writing to a String");
        i += 1;
    }
    let err = process_callback(&p, &url).unwrap_err();

    // Refused by the URL length cap.
    assert!(matches!(&err, CallbackError::InvalidUrl(e) if e.code() == "url_too_long"), "{err}");
}

#[test]
fn callback_with_8k_parameters_under_the_url_cap_finds_the_duplicate() {
    // The exploit: 8,000 unique parameters in 16 KB, then `state` twice (a quadratic scan for
    // duplicates would compare 32 million pairs).
    let p = pending();
    let mut url = String::from("http://127.0.0.1:8765/cb?");
    let mut i = 0;
    while url.len() < (16 << 10) - 40 {
        write!(url, "{i:x}&").expect("writing to a String");
        i += 1;
    }
    url.push_str("state=a&state=b");
    assert!(url.len() <= 16 << 10, "{}", url.len());
    let err = process_callback(&p, &url).unwrap_err();

    // Refused as a duplicate (RFC 6749 §3.1), not a silent "last wins".
    assert_eq!(err, CallbackError::DuplicateParameter("state".into()));
}

#[test]
fn persisted_snapshot_over_the_input_cap_is_refused() {
    // The exploit: a 2 MiB persisted flow snapshot (a corrupted or planted store entry).
    let text = format!(
        r#"{{"version":1,"server_url":"https://mcp.example/mcp","last_requested_scope":"{}"}}"#,
        "s ".repeat(1 << 20)
    );
    let err = FlowSnapshot::from_json(&text).unwrap_err();

    // Refused by the JSON size cap, naming it.
    assert_eq!(err.code(), "snapshot_invalid");
    assert!(err.to_string().contains("MAX_INPUT_LEN"), "{err}");
}
