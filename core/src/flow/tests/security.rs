//! One negative test per MUST of the MCP 2026-07-28 authorization chapter and the RFCs it names.
//! The flow-level ones are here;
//! each asserts the exact error and that nothing unsafe happened afterwards (no further request,
//! no token). Where a rule is enforced inside one step function, its negative test sits next to
//! that function. The map, by rule (the `itemN_` test names use these numbers):
//!
//! | item | rule | negative test(s) |
//! |---|---|---|
//! | 1 | parse WWW-Authenticate strictly | `item1_malformed_challenge_is_an_error_not_a_guess`, `www_authenticate::tests::malformed_headers_name_the_problem` |
//! | 2 | PRM URLs, abort when none | `item2_insecure_resource_metadata_url_is_refused`, `scenarios::legacy_server_without_metadata_uses_default_endpoints` (strict part) |
//! | 3 | PRM `resource` is this server | `item3_metadata_for_another_resource_aborts`, `resource_metadata::tests::resource_identity_rules` |
//! | 4 | several AS, kept apart | `scenarios::several_authorization_servers_are_tried_in_order`, `item11_tokens_of_one_issuer_are_not_refreshed_at_another` |
//! | 5 | candidate order, 4xx next, 5xx stop | `scenarios::server_error_stops_discovery`, `server_metadata::tests::status_classification` |
//! | 6 | metadata issuer equals exactly | `item6_issuer_mismatch_metadata_is_not_used`, `server_metadata::tests::issuer_must_match_exactly` |
//! | 7 | S256 advertised; absent = refuse | `scenarios::path_issuer_reachable_only_by_oidc_append`, `item7_pkce_s256_missing_from_the_list_is_refused`, `server_metadata::tests::pkce_rules` |
//! | 8 | legacy only as the explicit path | `scenarios::legacy_server_without_metadata_uses_default_endpoints` (`legacy_discovery = false`) |
//! | 9 | identity priority, else ask | `registration::tests::identity_priority`, `registration::tests::no_identity_is_a_clear_error` |
//! | 10 | DCR: 201, errors surfaced | `scenarios::registration_must_answer_201`, `registration::tests::status_201_is_required`, `rfc7591_section3_2_2_error` |
//! | 11 | registration per issuer | `scenarios::registration_is_reused_per_issuer_and_redone_for_a_new_one`, `registration::tests::stored_registration_reuse_is_per_issuer` |
//! | 12 | client authentication | `token::tests::client_secret_post_and_jwt` (missing secret / assertion), `scenarios::private_key_jwt_hook_signs_every_token_request` |
//! | 13 | PKCE S256, state in constant time | `item13_state_mismatch_keeps_the_real_authorization`, `item13_pkce_s256_is_always_sent`, `authorize::tests::state_rules`, `extra_params_cannot_override_protocol_params` |
//! | 14 | `resource` everywhere | `item14_resource_on_authorization_and_every_token_request` (the fake server rejects a token request without it) |
//! | 15 | scope selection, `offline_access` only if listed | `scope::tests::offline_access_only_when_listed_by_the_server` |
//! | 16 | record the issuer before redirecting | `scenarios::snapshot_restore_complete_in_another_process` (the restored flow checks `iss`) |
//! | 17 | RFC 9207 `iss` | `item17_missing_iss_is_rejected_when_advertised`, `item17_wrong_iss_is_rejected_and_its_error_not_shown`, `authorize::tests::rfc9207_iss_rules` |
//! | 18 | redirect URI loopback or https | `item18_redirect_uri_must_be_loopback_or_https`, `url::tests::redirect_uri_rules` |
//! | 19 | Bearer header, no token for another resource | `item19_no_token_for_another_resource_or_in_a_query` |
//! | 20 | expiry, refresh, invalid_grant terminal | `scenarios::proactive_refresh_invalid_grant_is_terminal`, `transient_refresh_failure_keeps_tokens_and_backs_off`, `expiry_without_refresh_token` |
//! | 21 | step-up capped | `scenarios::step_up_requests_the_union_and_is_capped` |
//! | 22 | AS endpoints over https | `item22_http_endpoints_are_refused`, `url::tests::issuer_rules` |
//! | 24 | credentials bound to their issuer; code to the pending server (RFC 9700 §4.4) | `item24_configured_credentials_are_pinned_to_their_first_issuer`, `item24_code_goes_only_to_the_pending_authorizations_server`, `registration::tests::credentials_go_only_to_their_issuers`, `server_metadata::tests::legacy_metadata_naming_another_origins_issuer_is_refused` |

use serde_json::json;

use super::harness::*;
use crate::authorize::CallbackError;
use crate::http::{HttpResponse, Purpose};
use crate::registration::ClientConfig;
use crate::server_metadata::ServerMetadataError;
use crate::{AuthFlow, Error, FlowConfig, FlowEvent};

fn flow() -> AuthFlow {
    AuthFlow::new(FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("security tests")).unwrap())
}

fn pending_flow(world: &mut World) -> (AuthFlow, String) {
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    let url = browser_url(&events).unwrap();
    (flow, url)
}

#[test]
fn item1_malformed_challenge_is_an_error_not_a_guess() {
    let world = World::new();
    let mut flow = flow();
    let e = flow
        .handle_unauthorized(
            world.now,
            &world.unauthorized(Some(r#"Bearer resource_metadata="https://x"#)),
            entropy(1),
        )
        .unwrap_err();
    assert_eq!(e.code(), "challenge_malformed");
    assert!(flow.poll_request().is_none());
}

#[test]
fn item2_insecure_resource_metadata_url_is_refused() {
    let world = World::new();
    let mut flow = flow();
    flow.handle_unauthorized(
        world.now,
        &world.unauthorized(Some(r#"Bearer resource_metadata="http://mcp.example.com/.well-known/oauth-protected-resource""#)),
        entropy(1),
    )
    .unwrap_err();
    assert!(flow.poll_request().is_none());
}

#[test]
fn item3_metadata_for_another_resource_aborts() {
    let mut world = World::new();
    world.prm["resource"] = json!("https://evil.example.com/mcp");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "resource_mismatch");
    assert_eq!(world.log.len(), 1, "no authorization server contacted");
    assert!(flow.tokens().is_none());
}

#[test]
fn item6_issuer_mismatch_metadata_is_not_used() {
    let mut world = World::new();
    world.as_at[0].1["issuer"] = json!("https://auth.example.com/");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(
        errors[0],
        Error::ServerMetadata(ServerMetadataError::IssuerMismatch {
            expected: ISSUER.into(),
            actual: "https://auth.example.com/".into()
        })
    );
    assert_eq!(world.count(Purpose::ClientRegistration), 0);
}

#[test]
fn item7_pkce_s256_missing_from_the_list_is_refused() {
    let mut world = World::new();
    world.as_at[0].1["code_challenge_methods_supported"] = json!(["plain"]);
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "pkce_s256_not_supported");
}

#[test]
fn item13_state_mismatch_keeps_the_real_authorization() {
    let mut world = World::new();
    let (mut flow, url) = pending_flow(&mut world);
    let real = world.approve(&url);
    let forged = real.replace("state=", "state=x");
    let e = flow.handle_callback(world.now, &forged).unwrap_err();
    assert_eq!(e, Error::Callback(CallbackError::StateMismatch));
    assert!(flow.poll_request().is_none(), "no token request for a forged callback");
    flow.handle_callback(world.now, &real).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert!(events.contains(&FlowEvent::Authorized));
}

#[test]
fn item13_pkce_s256_is_always_sent() {
    let mut world = World::new();
    let (_, url) = pending_flow(&mut world);
    assert!(url.contains("code_challenge_method=S256"));
    assert!(url.contains("code_challenge="));
    assert!(url.contains("state="));
}

#[test]
fn item14_resource_on_authorization_and_every_token_request() {
    let mut world = World::new();
    let mut flow = flow();
    let events = authorize(&mut flow, &mut world, 1);
    assert!(browser_url(&events).unwrap().contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp"));
    world.now = flow.poll_timeout().unwrap();
    flow.handle_timeout(world.now).unwrap();
    drain(&mut flow, &mut world);
    assert_eq!(world.token_requests.len(), 2);
    for form in &world.token_requests {
        assert!(form.iter().any(|(k, v)| k == "resource" && v == MCP), "{form:?}");
    }
}

#[test]
fn item17_missing_iss_is_rejected_when_advertised() {
    let mut world = World::new();
    world.iss = Iss::Missing;
    let (mut flow, url) = pending_flow(&mut world);
    let cb = world.approve(&url);
    let e = flow.handle_callback(world.now, &cb).unwrap_err();
    assert_eq!(e, Error::Callback(CallbackError::IssuerMissing { expected: ISSUER.into() }));
    assert!(flow.poll_request().is_none());
    assert_eq!(world.count(Purpose::CodeExchange), 0);
}

#[test]
fn item17_wrong_iss_is_rejected_and_its_error_not_shown() {
    let mut world = World::new();
    world.iss = Iss::Wrong;
    world.deny = true;
    let (mut flow, url) = pending_flow(&mut world);
    let cb = world.approve(&url);
    let e = flow.handle_callback(world.now, &cb).unwrap_err();
    assert_eq!(e.code(), "callback_issuer_mismatch");
    assert!(!e.to_string().contains("said no"), "{e}");
    assert!(flow.poll_request().is_none());
}

#[test]
fn config_needs_a_client_name() {
    let e = FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic(" ")).unwrap_err();
    assert_eq!(e.code(), "empty_client_name");
}

#[test]
fn item18_redirect_uri_must_be_loopback_or_https() {
    let e =
        FlowConfig::new(MCP, "http://app.example.com/cb", ClientConfig::dynamic("x")).unwrap_err();
    assert_eq!(e.code(), "url_insecure_scheme");
    assert!(FlowConfig::new(MCP, "http://127.0.0.1:9/cb", ClientConfig::dynamic("x")).is_ok());
    assert!(FlowConfig::new(MCP, "https://app.example.com/cb", ClientConfig::dynamic("x")).is_ok());
}

#[test]
fn item19_no_token_for_another_resource_or_in_a_query() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let e = flow.authorization_header(world.now, "https://evil.example.com/mcp").unwrap_err();
    assert_eq!(e.code(), "token_for_other_resource");
    let e = flow.authorization_header(world.now, "https://mcp.example.com/other").unwrap_err();
    assert_eq!(e.code(), "token_for_other_resource");
    // The token never appears in a request URL the flow makes.
    let token = flow.access_token(world.now).unwrap().secret().to_owned();
    flow.logout(world.now).unwrap();
    while let Some(req) = flow.poll_request() {
        assert!(!req.url.contains(&token));
    }
}

#[test]
fn item11_tokens_of_one_issuer_are_not_refreshed_at_another() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let snapshot = flow.snapshot();
    // The resource now names another authorization server; the stored tokens are A's.
    let other = "https://auth2.example.com";
    let mut world2 = World::new();
    world2.issuer = other.into();
    world2.prm["authorization_servers"] = json!([other]);
    world2.as_at =
        vec![(format!("{other}/.well-known/oauth-authorization-server"), as_document(other))];
    let mut restored = AuthFlow::restore(flow.config().clone(), snapshot).unwrap();
    // Discovery is cached from before; force a new one by a challenge naming other metadata.
    restored.use_discovery(crate::flow::Discovery {
        cache_until: Some(world2.now),
        ..restored.snapshot().discovery.unwrap()
    });
    restored.handle_unauthorized(world2.now, &world2.challenge_401(), entropy(2)).unwrap();
    let (events, errors) = drain(&mut restored, &mut world2);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(world2.count(Purpose::TokenRefresh), 0, "A's refresh token never goes to B");
    assert!(events.contains(&FlowEvent::TokensCleared));
    assert!(browser_url(&events).unwrap().starts_with(other));
}

#[test]
fn item22_http_endpoints_are_refused() {
    let mut world = World::new();
    world.as_at[0].1["token_endpoint"] = json!("http://auth.example.com/token");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "server_metadata_invalid_endpoint");
    assert!(errors[0].to_string().contains("token_endpoint"));
}

#[test]
fn unknown_responses_are_rejected_without_changing_state() {
    let mut world = World::new();
    let (mut flow, _) = pending_flow(&mut world);
    let e = flow
        .handle_response(world.now, crate::http::RequestId(999), HttpResponse::json(200, "{}"))
        .unwrap_err();
    assert_eq!(e.code(), "unknown_request");
    assert!(matches!(flow.status(world.now), crate::FlowStatus::AwaitingUser { .. }));
}

#[test]
fn every_error_is_also_an_event() {
    let mut world = World::new();
    world.prm["resource"] = json!("https://evil.example.com/mcp");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert_eq!(events, errors.into_iter().map(FlowEvent::Failed).collect::<Vec<_>>());
}

#[test]
fn item24_configured_credentials_are_pinned_to_their_first_issuer() {
    use crate::registration::PreRegistered;
    use crate::secret::ClientSecret;
    let mut world = World::new();
    world.secrets.insert("pre-1".into(), "s3cret".into());
    let client = ClientConfig {
        pre_registered: Some(PreRegistered::new("pre-1", Some(ClientSecret::new("s3cret")))),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
    let events = authorize(&mut flow, &mut world, 1);
    let pins: Vec<_> =
        events.iter().filter(|e| matches!(e, FlowEvent::CredentialPinned { .. })).collect();
    assert_eq!(
        pins,
        vec![&FlowEvent::CredentialPinned { issuer: ISSUER.into(), client_id: "pre-1".into() }]
    );
    // Used again at the same issuer: no new pin, and it works.
    flow.begin_authorization(world.now, entropy(2)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(
        errors.is_empty()
            && !events.iter().any(|e| matches!(e, FlowEvent::CredentialPinned { .. }))
    );
    // Another issuer after a restart (the pin is in the snapshot's registrations): refused
    // before any request is made.
    let mut snap = flow.snapshot();
    snap.discovery = None;
    snap.pending = None;
    let other = "https://auth2.example.com";
    world.issuer = other.into();
    world.prm["authorization_servers"] = json!([other]);
    world.as_at =
        vec![(format!("{other}/.well-known/oauth-authorization-server"), as_document(other))];
    let mut flow = AuthFlow::restore(flow.config().clone(), snap).unwrap();
    flow.begin_authorization(world.now, entropy(3)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors.iter().map(Error::code).collect::<Vec<_>>(), ["credential_issuer_mismatch"]);
    assert_eq!(world.count(Purpose::CodeExchange), 1);
    assert!(flow.poll_request().is_none());
}

#[test]
fn item24_code_goes_only_to_the_pending_authorizations_server() {
    let mut world = World::new();
    let mut flow = flow();
    flow.begin_authorization(world.now, entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let callback = world.approve(&browser_url(&events).unwrap());
    // Discovery changes while the user is at the authorization server.
    let mut changed = flow.discovery().unwrap().clone();
    changed.server.token_endpoint =
        crate::url::EndpointUrl::parse("https://evil.example/token").unwrap();
    flow.use_discovery(changed);
    let e = flow.handle_callback(world.now, &callback).unwrap_err();
    assert_eq!(
        e,
        Error::from(crate::error::FlowError::PendingServerMismatch {
            pending_issuer: ISSUER.into(),
            pending_token_endpoint: format!("{ISSUER}/token"),
            current_issuer: ISSUER.into(),
            current_token_endpoint: "https://evil.example/token".into(),
        })
    );
    assert!(flow.poll_request().is_none(), "the code is sent nowhere");
}

#[test]
fn the_code_goes_only_with_the_client_it_was_issued_to() {
    let mut world = World::new();
    let mut flow = flow();
    flow.begin_authorization(world.now, entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let callback = world.approve(&browser_url(&events).unwrap());
    let started_as = flow.pending().unwrap().client_id.clone();
    // The registration for the issuer is replaced while the user is at the authorization
    // server (another process registered, or a shared registration was adopted).
    let mut other = flow.registration_for(ISSUER).unwrap().clone();
    other.client_id = "another-client".into();
    flow.add_registration(other);
    let e = flow.handle_callback(world.now, &callback).unwrap_err();
    assert_eq!(
        e,
        Error::from(crate::error::FlowError::PendingClientChanged {
            pending_client_id: started_as,
            current_client_id: "another-client".into(),
        })
    );
    assert_eq!(e.code(), "pending_client_changed");
    assert!(flow.poll_request().is_none(), "the code is sent with no other client");
    assert_eq!(world.count(Purpose::CodeExchange), 0);
}
