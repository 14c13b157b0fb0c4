use super::*;
use crate::http::HttpResponse;
use crate::policy::ServerPolicy;
use crate::url::{EndpointUrl, IssuerUrl};

fn metadata(iss_supported: bool) -> ServerMetadata {
    let body = format!(
        r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize?tenant=t1",
        "token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"],
        "authorization_response_iss_parameter_supported":{iss_supported}}}"#
    );
    crate::server_metadata::process_metadata_response(
        &IssuerUrl::parse("https://as.example").unwrap(),
        &EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server").unwrap(),
        &HttpResponse::json(200, &body),
        &ServerPolicy::default(),
    )
    .unwrap()
}

const RFC7636_OCTETS: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];

fn pending(iss_supported: bool) -> PendingAuthorization {
    let md = metadata(iss_supported);
    let redirect = RedirectUri::parse("http://localhost:8000/auth/redirect").unwrap();
    let resource = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
    authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "client-1",
            redirect_uri: &redirect,
            resource: Some(&resource),
            scope: Some("files:read offline_access"),
            extra_params: &[("audience".into(), "https://api.example".into())],
        },
        &Entropy { verifier: RFC7636_OCTETS, state: [7; 32] },
        UnixTime(100),
    )
    .unwrap()
}

#[test]
fn request_carries_every_parameter() {
    let p = pending(true);
    let url = Url::parse(&p.authorization_url).unwrap();
    assert_eq!(url.path(), "/authorize");
    let q = url.query_pairs().unwrap();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("tenant"), Some("t1"), "the endpoint's own query is kept");
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("client_id"), Some("client-1"));
    assert_eq!(get("redirect_uri"), Some("http://localhost:8000/auth/redirect"));
    assert_eq!(get("scope"), Some("files:read offline_access"));
    assert_eq!(get("state"), Some(p.state.secret()));
    assert_eq!(get("code_challenge"), Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("resource"), Some("https://mcp.example.com/mcp"));
    assert_eq!(get("audience"), Some("https://api.example"));
    assert_eq!(p.issuer, "https://as.example");
    assert!(p.iss_parameter_supported);
}

#[test]
fn extra_params_cannot_override_protocol_params() {
    let md = metadata(false);
    let redirect = RedirectUri::parse("http://localhost:8000/cb").unwrap();
    let e = authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "c",
            redirect_uri: &redirect,
            resource: None,
            scope: None,
            extra_params: &[("code_challenge_method".into(), "plain".into())],
        },
        &Entropy { verifier: [0; 32], state: [0; 32] },
        UnixTime(0),
    )
    .unwrap_err();
    assert_eq!(e, AuthorizeError::ProtectedParameter("code_challenge_method".into()));
}

fn cb(p: &PendingAuthorization, query: &str) -> Result<AuthorizationCode, CallbackError> {
    process_callback(p, &format!("http://localhost:8000/auth/redirect?{query}"))
}

#[test]
fn success_with_iss() {
    let p = pending(true);
    let code = cb(&p, &format!("code=abc&state={}&iss=https%3A%2F%2Fas.example", p.state.secret()))
        .unwrap();
    assert_eq!(code.secret(), "abc");
}

#[test]
fn state_rules() {
    let p = pending(false);
    assert_eq!(cb(&p, "code=abc").unwrap_err(), CallbackError::MissingState);
    assert_eq!(cb(&p, "code=abc&state=forged").unwrap_err(), CallbackError::StateMismatch);
    // A forged error response is not acted on either.
    assert_eq!(
        cb(&p, "error=access_denied&state=forged").unwrap_err(),
        CallbackError::StateMismatch
    );
}

#[test]
fn rfc9207_iss_rules() {
    let p = pending(true);
    let s = p.state.secret().to_owned();
    assert_eq!(
        cb(&p, &format!("code=abc&state={s}")).unwrap_err(),
        CallbackError::IssuerMissing { expected: "https://as.example".into() }
    );
    assert_eq!(
        cb(&p, &format!("code=abc&state={s}&iss=https%3A%2F%2Fevil.example")).unwrap_err(),
        CallbackError::IssuerMismatch {
            expected: "https://as.example".into(),
            actual: "https://evil.example".into()
        }
    );
    // No normalisation: a trailing slash is a different issuer.
    assert_eq!(
        cb(&p, &format!("code=abc&state={s}&iss=https%3A%2F%2Fas.example%2F")).unwrap_err().code(),
        "callback_issuer_mismatch"
    );
    // On mismatch the error parameters are not acted on: no AccessDenied, no description.
    let e = cb(&p, &format!("error=access_denied&error_description=click+here&state={s}&iss=https%3A%2F%2Fevil.example")).unwrap_err();
    assert!(matches!(e, CallbackError::IssuerMismatch { .. }));
    assert!(!e.to_string().contains("click here"));
    // Not advertised: iss optional, but checked when present.
    let p = pending(false);
    let s = p.state.secret().to_owned();
    assert!(cb(&p, &format!("code=abc&state={s}")).is_ok());
    assert!(matches!(
        cb(&p, &format!("code=abc&state={s}&iss=https%3A%2F%2Fevil.example")),
        Err(CallbackError::IssuerMismatch { .. })
    ));
}

#[test]
fn error_responses() {
    let p = pending(false);
    let s = p.state.secret().to_owned();
    assert_eq!(
        cb(&p, &format!("error=access_denied&error_description=User+said+no&state={s}"))
            .unwrap_err(),
        CallbackError::AccessDenied { description: Some("User said no".into()) }
    );
    assert_eq!(
        cb(&p, &format!("error=invalid_scope&state={s}")).unwrap_err(),
        CallbackError::ServerError(OAuthErrorBody {
            error: "invalid_scope".into(),
            error_description: None,
            error_uri: None
        })
    );
    assert_eq!(cb(&p, &format!("state={s}")).unwrap_err(), CallbackError::MissingCode);
    assert_eq!(
        cb(&p, &format!("code=a&code=b&state={s}")).unwrap_err(),
        CallbackError::DuplicateParameter("code".into())
    );
    assert_eq!(cb(&p, "code=%C3").unwrap_err(), CallbackError::MalformedQuery, "invalid UTF-8");
    assert_eq!(cb(&p, "code=%zz").unwrap_err().code(), "callback_url_invalid");
}

#[test]
fn callback_must_come_to_the_redirect_uri() {
    let p = pending(false);
    let e = process_callback(
        &p,
        &format!("http://localhost:8001/auth/redirect?code=a&state={}", p.state.secret()),
    )
    .unwrap_err();
    assert_eq!(e.code(), "redirect_uri_mismatch");
    let e = process_callback(&p, "not a url").unwrap_err();
    assert_eq!(e.code(), "callback_url_invalid");
}

#[test]
fn pending_survives_serialisation() {
    let p = pending(true);
    let json = p.to_json().to_text();
    let back = PendingAuthorization::from_json(&json).unwrap();
    assert_eq!(back, p);
    assert!(!format!("{p:?}").contains(p.state.secret()), "Debug redacts secrets");
}

#[test]
fn pending_keeps_its_token_endpoint_and_reads_records_without_one() {
    let p = pending(true);
    assert_eq!(
        p.token_endpoint.as_ref().map(|e| e.as_str()),
        Some(metadata(true).token_endpoint.as_str())
    );
    let mut json = p.to_json();
    if let crate::json::Json::Object(members) = &mut json {
        members.retain(|(k, _)| k != "token_endpoint");
    }
    let old = PendingAuthorization::from_json(&json.to_text()).unwrap();
    assert_eq!(old.token_endpoint, None);
    assert_eq!(old.issuer, p.issuer);
}
