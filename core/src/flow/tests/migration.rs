//! Authorization-server migration (MCP SEP-2352): the protected-resource metadata starts naming
//! another authorization server while the flow holds tokens and a registration from the first.

use serde_json::json;

use super::harness::*;
use crate::flow::resource::{ResourceDecision, ResourceResponse};
use crate::http::Purpose;
use crate::registration::{ClientConfig, PreRegistered};
use crate::secret::ClientSecret;
use crate::url::EndpointUrl;
use crate::{AuthFlow, Error, FlowConfig, FlowEvent};

const AS2: &str = "https://auth2.example.com";

fn flow_with(client: ClientConfig) -> AuthFlow {
    AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap())
}

/// The resource now trusts AS2 only; AS1 keeps running (its metadata is still served).
fn migrate(world: &mut World) {
    world.prm["authorization_servers"] = json!([AS2]);
    world.as_at.push((format!("{AS2}/.well-known/oauth-authorization-server"), as_document(AS2)));
    world.issuer = AS2.into();
}

/// The MCP server refuses the held token with a 401; returns the decision.
fn refused(flow: &mut AuthFlow, world: &mut World, seed: u8) -> ResourceDecision {
    let used = flow.tokens().map(|(_, t)| t.access_token.clone());
    let header = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error="invalid_token""#;
    let response = ResourceResponse {
        status: 401,
        www_authenticate: Some(header),
        token_used: used.as_ref(),
        operation: "tools/list",
        dpop_nonce: None,
    };
    flow.handle_resource_response(world.now, &response, entropy(seed)).unwrap()
}

/// Requests made to `host` since log index `from`.
fn requests_to(world: &World, from: usize, host: &str) -> Vec<(Purpose, String)> {
    world.log[from..].iter().filter(|(_, u)| u.starts_with(host)).cloned().collect()
}

#[test]
fn a_401_after_the_resource_moved_registers_and_authorizes_at_the_new_server() {
    let mut world = World::new();
    let mut flow = flow_with(ClientConfig::dynamic("x"));
    authorize(&mut flow, &mut world, 1);
    let as1_client = flow.snapshot().registrations[0].client_id.clone();
    let as1_refresh =
        flow.tokens().and_then(|(_, t)| t.refresh_token.clone()).unwrap().secret().to_owned();
    migrate(&mut world);
    let mark = world.log.len();
    let registered_before = world.registered.len();
    let token_requests_before = world.token_requests.len();

    // The cached discovery (no max-age: fresh forever) does not hide the move from a 401.
    assert_eq!(refused(&mut flow, &mut world, 2), ResourceDecision::Retry);
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        events.contains(&FlowEvent::AuthorizationServerChanged {
            from: ISSUER.into(),
            to: AS2.into()
        }),
        "{events:?}"
    );
    assert!(events.contains(&FlowEvent::TokensCleared));
    // Nothing more went to AS1: no refresh with its refresh token.
    assert_eq!(requests_to(&world, mark, ISSUER), vec![], "AS1 is not asked again");
    assert_eq!(world.count(Purpose::TokenRefresh), 0);
    // A registration at AS2, and the browser goes to AS2 with AS2's client id.
    assert_eq!(world.registered.len(), registered_before + 1);
    assert!(requests_to(&world, mark, AS2).iter().any(|(p, _)| *p == Purpose::ClientRegistration));
    let url = browser_url(&events).unwrap();
    assert!(url.starts_with(&format!("{AS2}/authorize?")), "{url}");
    assert!(!url.contains(&format!("client_id={as1_client}&")), "{url}");

    let callback = world.approve(&url);
    flow.handle_callback(world.now, &callback).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(events.contains(&FlowEvent::Authorized));
    assert_eq!(flow.tokens().map(|(i, _)| i), Some(AS2));
    // What AS2 received never carries AS1's client id or refresh token.
    for form in &world.token_requests[token_requests_before..] {
        for (k, v) in form {
            assert!(!(k == "client_id" && *v == as1_client), "AS1's client_id sent to AS2");
            assert_ne!(v, &as1_refresh, "AS1's refresh token sent to AS2");
        }
    }
    assert!(requests_to(&world, mark, ISSUER).is_empty());
    // Both registrations are kept, each under its issuer.
    let snap = flow.snapshot();
    let issuers: Vec<_> = snap.registrations.iter().map(|r| r.issuer.as_str()).collect();
    assert!(issuers.contains(&ISSUER) && issuers.contains(&AS2), "{issuers:?}");
    let header = flow.authorization_header(world.now, MCP).unwrap();
    assert!(world.mcp_accepts(header.as_deref()));
}

#[test]
fn a_401_with_the_same_server_listed_refreshes_as_before() {
    let mut world = World::new();
    let mut flow = flow_with(ClientConfig::dynamic("x"));
    authorize(&mut flow, &mut world, 1);
    let as_metadata = world.count(Purpose::ServerMetadata);
    assert_eq!(refused(&mut flow, &mut world, 2), ResourceDecision::Retry);
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    // The metadata is read again (the 401 makes the cache stale) but the server did not move:
    // a refresh at the same issuer, its metadata reused, no event.
    assert_eq!(world.count(Purpose::ResourceMetadata), 2);
    assert_eq!(world.count(Purpose::ServerMetadata), as_metadata);
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
    assert!(!events.iter().any(|e| matches!(e, FlowEvent::AuthorizationServerChanged { .. })));
}

#[test]
fn a_transient_metadata_failure_is_not_a_migration() {
    let prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".to_owned();
    for transient in ["500", "transport"] {
        let mut world = World::new();
        let mut flow = flow_with(ClientConfig::dynamic("x"));
        authorize(&mut flow, &mut world, 1);
        if transient == "500" {
            world.fail_at.push(prm.clone());
        } else {
            world.unreachable.push(prm.clone());
        }
        // The move is published but cannot be read: the known server stays.
        migrate(&mut world);
        let mark = world.log.len();
        assert_eq!(refused(&mut flow, &mut world, 2), ResourceDecision::Retry);
        let (events, errors) = drain(&mut flow, &mut world);
        assert!(errors.is_empty(), "{transient}: {errors:?}");
        let purposes: Vec<_> = world.log[mark..].iter().map(|(p, _)| *p).collect();
        // One try of the metadata, no other candidate, no legacy fallback, then the refresh.
        assert_eq!(purposes, [Purpose::ResourceMetadata, Purpose::TokenRefresh], "{transient}");
        assert_eq!(flow.tokens().map(|(i, _)| i), Some(ISSUER), "{transient}");
        assert!(!events.iter().any(|e| matches!(e, FlowEvent::UsingLegacyDiscovery { .. })));
        assert!(!events.iter().any(|e| matches!(e, FlowEvent::AuthorizationServerChanged { .. })));
    }
}

#[test]
fn missing_metadata_after_a_401_keeps_the_known_server() {
    // Every candidate answers 404 now: no document names another server, so no migration
    // (and no legacy fallback that would take the MCP server's origin for the issuer).
    let mut world = World::new();
    let mut flow = flow_with(ClientConfig::dynamic("x"));
    authorize(&mut flow, &mut world, 1);
    world.prm_at.clear();
    let mark = world.log.len();
    assert_eq!(refused(&mut flow, &mut world, 2), ResourceDecision::Retry);
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!events.iter().any(|e| matches!(e, FlowEvent::UsingLegacyDiscovery { .. })));
    assert!(world.log[mark..].iter().all(|(p, _)| *p != Purpose::ServerMetadata));
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
}

#[test]
fn configured_credentials_of_the_old_server_are_refused_at_the_new_one() {
    let mut world = World::new();
    world.secrets.insert("pre-1".into(), "s3cret".into());
    let client = ClientConfig {
        pre_registered: Some(PreRegistered::new("pre-1", Some(ClientSecret::new("s3cret")))),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = flow_with(client);
    authorize(&mut flow, &mut world, 1);
    migrate(&mut world);
    let mark = world.log.len();
    let _ = refused(&mut flow, &mut world, 2);
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors.iter().map(Error::code).collect::<Vec<_>>(), ["credential_issuer_mismatch"]);
    // Discovery only: the configured secret went nowhere.
    assert!(world.log[mark..]
        .iter()
        .all(|(p, _)| matches!(p, Purpose::ResourceMetadata | Purpose::ServerMetadata)));
}

#[test]
fn a_metadata_document_client_id_moves_with_the_resource() {
    let mut world = World::new();
    world.as_at[0].1["client_id_metadata_document_supported"] = json!(true);
    let client = ClientConfig {
        metadata_document_url: Some(
            EndpointUrl::parse("https://client.example/oauth/client.json").unwrap(),
        ),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = flow_with(client);
    authorize(&mut flow, &mut world, 1);
    migrate(&mut world);
    world.as_at[1].1["client_id_metadata_document_supported"] = json!(true);
    let _ = refused(&mut flow, &mut world, 2);
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(world.count(Purpose::ClientRegistration), 0, "a URL client id needs none");
    let url = browser_url(&events).unwrap();
    assert!(url.starts_with(&format!("{AS2}/authorize?")), "{url}");
    assert!(url.contains("client_id=https%3A%2F%2Fclient.example%2Foauth%2Fclient.json"), "{url}");
}
