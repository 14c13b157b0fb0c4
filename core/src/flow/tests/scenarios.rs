use serde_json::json;

use super::harness::*;
use crate::http::Purpose;
use crate::policy::ServerPolicy;
use crate::registration::{ClientConfig, IdentitySource, PreRegistered};
use crate::secret::ClientSecret;
use crate::time::UnixTime;
use crate::token::TokenEndpointAuth;
use crate::url::EndpointUrl;
use crate::{AuthFlow, Error, FlowConfig, FlowEvent, FlowSnapshot, FlowStatus};

fn config() -> FlowConfig {
    FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("mcp-oauth tests")).unwrap()
}

fn flow() -> AuthFlow {
    AuthFlow::new(config())
}

#[test]
fn cold_flow_makes_the_minimum_requests() {
    let mut world = World::new();
    let mut flow = flow();
    let events = authorize(&mut flow, &mut world, 1);
    // PRM (header URL), AS metadata, registration, token: the spec minimum.
    assert_eq!(
        world.log.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [
            Purpose::ResourceMetadata,
            Purpose::ServerMetadata,
            Purpose::ClientRegistration,
            Purpose::CodeExchange
        ]
    );
    assert!(matches!(events[0], FlowEvent::MetadataDiscovered(_)));
    assert!(matches!(events[1], FlowEvent::ClientRegistered(_)));
    assert!(matches!(events[2], FlowEvent::AuthorizationPending(_)));
    assert!(matches!(events[3], FlowEvent::OpenBrowser { .. }));
    assert!(matches!(events[4], FlowEvent::TokensUpdated { .. }));
    assert_eq!(events[5], FlowEvent::Authorized);
    let header = flow.authorization_header(world.now, MCP).unwrap();
    assert!(world.mcp_accepts(header.as_deref()));
    // Registration: native app (loopback redirect), refresh grant requested.
    assert_eq!(world.registered[0]["application_type"], "native");
    assert_eq!(world.registered[0]["grant_types"], json!(["authorization_code", "refresh_token"]));
    // Scope: PRM scopes_supported plus offline_access (listed by the AS).
    let (_, tokens) = flow.tokens().unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("files:read offline_access"));
    assert!(matches!(flow.status(world.now), FlowStatus::Authorized { .. }));
}

#[test]
fn challenge_scope_wins_over_metadata_scopes() {
    let mut world = World::new();
    let mut flow = flow();
    let resp = world.unauthorized(Some(
        r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:write""#,
    ));
    flow.handle_unauthorized(world.now, &resp, entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let url = browser_url(&events).unwrap();
    assert!(url.contains("scope=files%3Awrite+offline_access"), "{url}");
}

#[test]
fn no_header_uses_well_known_urls_in_order() {
    let mut world = World::new();
    // Notion's shape: the path-suffixed URL 404s, the root one works, resource = origin.
    world.prm_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource".into()];
    world.prm["resource"] = json!("https://mcp.example.com");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.unauthorized(None), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(browser_url(&events).is_some());
    let urls: Vec<_> = world.log.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(
        urls[..2],
        [
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        ]
    );
    // The token is for the PRM's resource, which covers the MCP URL.
    let url = browser_url(&events).unwrap();
    assert!(url.ends_with("&resource=https%3A%2F%2Fmcp.example.com"), "{url}");
}

#[test]
fn header_url_that_404s_falls_back_to_well_known() {
    let mut world = World::new();
    world.prm_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource".into()];
    world.prm["resource"] = json!("https://mcp.example.com");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty() && browser_url(&events).is_some());
    assert_eq!(world.count(Purpose::ResourceMetadata), 2);
}

#[test]
fn html_and_transport_failures_move_to_the_next_candidate() {
    let mut world = World::new();
    world.html_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into()];
    world.prm_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource".into()];
    world.unreachable =
        vec!["https://auth.example.com/.well-known/oauth-authorization-server".into()];
    world.as_at = vec![(
        "https://auth.example.com/.well-known/openid-configuration".into(),
        as_document(ISSUER),
    )];
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.unauthorized(None), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(browser_url(&events).is_some());
    assert_eq!(world.count(Purpose::ServerMetadata), 2);
}

#[test]
fn server_error_stops_discovery() {
    let mut world = World::new();
    world.fail_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into()];
    world.prm_at = vec!["https://mcp.example.com/.well-known/oauth-protected-resource".into()];
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.unauthorized(None), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "resource_metadata_status");
    assert_eq!(world.log.len(), 1, "no request after a 5xx");
    assert!(matches!(events.last(), Some(FlowEvent::Failed(_))));
    assert_eq!(flow.status(world.now), FlowStatus::Unauthorized);
}

#[test]
fn path_issuer_reachable_only_by_oidc_append() {
    // Entra-style: tenant issuer with a path, metadata only at the OIDC append URL, no PKCE field.
    let issuer = "https://login.example.com/tenant1/v2.0";
    let mut world = World::new();
    world.issuer = issuer.into();
    world.prm["authorization_servers"] = json!([issuer]);
    let mut doc = as_document(issuer);
    doc.as_object_mut().unwrap().remove("code_challenge_methods_supported");
    doc["token_endpoint"] = json!("https://login.example.com/token");
    doc["registration_endpoint"] = json!("https://login.example.com/register");
    world.as_at = vec![(
        "https://login.example.com/tenant1/v2.0/.well-known/openid-configuration".into(),
        doc,
    )];
    // Strict default: refused, and the error names the per-server opt-out.
    let mut strict = flow();
    strict.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut strict, &mut world);
    assert_eq!(errors[0].code(), "pkce_support_not_advertised");
    assert!(errors[0].to_string().contains("danger_assume_pkce_s256"));
    let tried: Vec<_> = world
        .log
        .iter()
        .filter(|(p, _)| *p == Purpose::ServerMetadata)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(
        tried,
        [
            "https://login.example.com/.well-known/oauth-authorization-server/tenant1/v2.0",
            "https://login.example.com/.well-known/openid-configuration/tenant1/v2.0",
            "https://login.example.com/tenant1/v2.0/.well-known/openid-configuration",
        ]
    );
    // With the opt-out for this issuer only, the flow completes.
    let mut config = config();
    config.policies.push((
        issuer.into(),
        ServerPolicy { danger_assume_pkce_s256: true, ..ServerPolicy::default() },
    ));
    let mut flow = AuthFlow::new(config);
    authorize(&mut flow, &mut world, 2);
    assert!(flow.access_token(world.now).is_some());
}

#[test]
fn several_authorization_servers_are_tried_in_order() {
    let mut world = World::new();
    world.prm["authorization_servers"] = json!(["https://broken.example.com", ISSUER]);
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let (issuer, _) = flow.tokens().unwrap();
    assert_eq!(issuer, ISSUER);
    assert_eq!(
        world.count(Purpose::ServerMetadata),
        3,
        "two candidates of the first, then the second"
    );
    // The host may prefer a server.
    let mut world = World::new();
    world.prm["authorization_servers"] = json!(["https://other.example.com", ISSUER]);
    let mut config = config();
    config.preferred_issuer = Some(ISSUER.into());
    let mut flow = AuthFlow::new(config);
    authorize(&mut flow, &mut world, 1);
    assert_eq!(world.count(Purpose::ServerMetadata), 1);
}

#[test]
fn pre_registered_client_skips_registration() {
    let mut world = World::new();
    world.secrets.insert("pre-1".into(), "s3cret".into());
    let client = ClientConfig {
        pre_registered: Some(PreRegistered {
            client_id: "pre-1".into(),
            client_secret: Some(ClientSecret::new("s3cret")),
            auth_method: None,
            issuers: Vec::new(),
        }),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
    let events = authorize(&mut flow, &mut world, 1);
    assert_eq!(world.count(Purpose::ClientRegistration), 0);
    assert!(!events.iter().any(|e| matches!(e, FlowEvent::ClientRegistered(_))));
    assert!(flow.access_token(world.now).is_some(), "client_secret_basic accepted by the server");
}

#[test]
fn client_metadata_document_when_supported() {
    let mut world = World::new();
    world.as_at[0].1["client_id_metadata_document_supported"] = json!(true);
    let client = ClientConfig {
        metadata_document_url: Some(
            EndpointUrl::parse("https://client.example/oauth/client.json").unwrap(),
        ),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
    let events = authorize(&mut flow, &mut world, 1);
    assert_eq!(world.count(Purpose::ClientRegistration), 0);
    let url = browser_url(&events).unwrap();
    assert!(url.contains("client_id=https%3A%2F%2Fclient.example%2Foauth%2Fclient.json"), "{url}");
}

#[test]
fn no_client_identity_is_a_clear_error() {
    let mut world = World::new();
    world.as_at[0].1.as_object_mut().unwrap().remove("registration_endpoint");
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "no_client_identity");
}

#[test]
fn registration_is_reused_per_issuer_and_redone_for_a_new_one() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let snapshot = flow.snapshot();
    assert_eq!(snapshot.registrations.len(), 1);
    // Same issuer, new process, tokens gone: no second registration.
    let mut world2 = World::new();
    let mut again = AuthFlow::new(config());
    again.add_registration(snapshot.registrations[0].clone());
    // The new world does not know the client; pretend it does by re-registering there is wrong:
    // the flow must not register, and the authorization URL carries the stored client id.
    again.handle_unauthorized(world2.now, &world2.challenge_401(), entropy(2)).unwrap();
    let (events, _) = drain(&mut again, &mut world2);
    assert_eq!(world2.count(Purpose::ClientRegistration), 0);
    assert!(browser_url(&events)
        .unwrap()
        .contains(&format!("client_id={}", snapshot.registrations[0].client_id)));
    // The resource moves to another authorization server: the old registration is not reused.
    let mut world3 = World::new();
    let new_issuer = "https://auth2.example.com";
    world3.issuer = new_issuer.into();
    world3.prm["authorization_servers"] = json!([new_issuer]);
    world3.as_at = vec![(
        format!("{new_issuer}/.well-known/oauth-authorization-server"),
        as_document(new_issuer),
    )];
    let mut moved = AuthFlow::new(config());
    moved.add_registration(snapshot.registrations[0].clone());
    authorize(&mut moved, &mut world3, 3);
    assert_eq!(world3.count(Purpose::ClientRegistration), 1);
    assert_eq!(moved.snapshot().registrations.len(), 2);
    assert!(moved.snapshot().registrations.iter().all(|r| r.source == IdentitySource::Dynamic));
}

#[test]
fn registration_must_answer_201_or_a_complete_200() {
    let mut world = World::new();
    world.registration_status = 202;
    let mut flow = self::flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "registration_status");
    // 200 with a client information response: accepted, and said so in a notice.
    let mut world = World::new();
    world.registration_status = 200;
    let mut flow = self::flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(browser_url(&events).is_some());
    let notice = events.iter().find_map(|e| match e {
        FlowEvent::Notice { message } => Some(message.clone()),
        _ => None,
    });
    assert!(notice.is_some_and(|m| m.contains("200 OK") && m.contains("RFC 7591")));
}

#[test]
fn step_up_requests_the_union_and_is_capped() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let forbidden = crate::http::HttpResponse::new(
        403,
        vec![(
            "WWW-Authenticate".into(),
            r#"Bearer error="insufficient_scope", scope="files:write""#.into(),
        )],
        Vec::new(),
    );
    flow.handle_forbidden(world.now, &forbidden, "tools/call:write_file", entropy(2)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert_eq!(world.count(Purpose::ResourceMetadata), 1, "discovery is cached");
    let url = browser_url(&events).unwrap();
    assert!(url.contains("scope=files%3Aread+offline_access+files%3Awrite"), "{url}");
    let cb = world.approve(&url);
    flow.handle_callback(world.now, &cb).unwrap();
    drain(&mut flow, &mut world);
    assert_eq!(
        flow.tokens().unwrap().1.scope.as_deref(),
        Some("files:read offline_access files:write")
    );
    flow.handle_forbidden(world.now, &forbidden, "tools/call:write_file", entropy(3)).unwrap();
    drain(&mut flow, &mut world);
    flow.cancel();
    let e = flow
        .handle_forbidden(world.now, &forbidden, "tools/call:write_file", entropy(4))
        .unwrap_err();
    assert_eq!(e.code(), "step_up_limit_reached");
    // Another operation has its own counter.
    assert!(flow.handle_forbidden(world.now, &forbidden, "tools/call:other", entropy(5)).is_ok());
    // A 403 without insufficient_scope is not step-up.
    let plain = crate::http::HttpResponse::new(403, vec![], Vec::new());
    assert_eq!(
        flow.handle_forbidden(world.now, &plain, "x", entropy(6)).unwrap_err().code(),
        "forbidden"
    );
}

#[test]
fn proactive_refresh_with_rotation() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let first = flow.tokens().unwrap().1.clone();
    let deadline = flow.poll_timeout().unwrap();
    assert_eq!(deadline, first.expires_at.unwrap().minus(60));
    // Nothing happens before the deadline.
    world.now = deadline.minus(1);
    flow.handle_timeout(world.now).unwrap();
    assert!(flow.poll_request().is_none());
    world.now = deadline;
    flow.handle_timeout(world.now).unwrap();
    // While refreshing, the timeout is not the same instant again (no busy loop).
    assert_eq!(flow.poll_timeout(), None);
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(events.iter().any(|e| matches!(e, FlowEvent::TokensUpdated { .. })));
    let second = flow.tokens().unwrap().1.clone();
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert!(flow.poll_timeout().unwrap() > deadline, "the timeout moved forward");
    // The refresh carried resource and no secret for a public client.
    let last = world.token_requests.last().unwrap();
    assert!(last.iter().any(|(k, v)| k == "resource" && v == MCP));
    assert!(last.iter().any(|(k, v)| k == "grant_type" && v == "refresh_token"));
}

#[test]
fn refresh_without_rotation_keeps_the_old_refresh_token() {
    let mut world = World::new();
    world.rotate_refresh = false;
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let first = flow.tokens().unwrap().1.clone();
    world.now = flow.poll_timeout().unwrap();
    flow.handle_timeout(world.now).unwrap();
    drain(&mut flow, &mut world);
    let second = flow.tokens().unwrap().1.clone();
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.refresh_token, first.refresh_token);
}

#[test]
fn expiry_without_refresh_token() {
    let mut world = World::new();
    world.issue_refresh = false;
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    assert!(flow.access_token(world.now).is_some());
    assert_eq!(flow.poll_timeout(), None, "nothing to refresh");
    world.now = world.now.plus(3600);
    assert!(flow.access_token(world.now).is_none());
    assert_eq!(flow.authorization_header(world.now, MCP).unwrap(), None);
    assert_eq!(flow.status(world.now), FlowStatus::Unauthorized);
    // The next 401 authorizes again.
    let events = authorize(&mut flow, &mut world, 2);
    assert!(events.contains(&FlowEvent::Authorized));
}

#[test]
fn unauthorized_with_refresh_token_refreshes_then_reauthorizes_on_invalid_grant() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let before = world.log.len();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(2)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty());
    // The resource metadata is read again (did the resource move? MCP SEP-2352), then refresh.
    assert_eq!(
        world.log[before..].iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [Purpose::ResourceMetadata, Purpose::TokenRefresh]
    );
    assert!(events.iter().any(|e| matches!(e, FlowEvent::TokensUpdated { .. })));
    // A second 401 right after the refresh: the refresh did not help, authorize instead.
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(3)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert!(browser_url(&events).is_some());
    flow.cancel();
    // A revoked refresh token: invalid_grant → tokens cleared → new authorization.
    let mut world = World::new();
    let mut flow = AuthFlow::new(config());
    authorize(&mut flow, &mut world, 1);
    world.refresh_tokens_clear();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(2)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(events.contains(&FlowEvent::TokensCleared));
    assert!(browser_url(&events).is_some());
    assert!(flow.tokens().is_none());
}

#[test]
fn proactive_refresh_invalid_grant_is_terminal() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    world.refresh_tokens_clear();
    world.now = flow.poll_timeout().unwrap();
    flow.handle_timeout(world.now).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "invalid_grant");
    assert!(events.contains(&FlowEvent::TokensCleared));
    assert_eq!(flow.poll_timeout(), None);
}

#[test]
fn transient_refresh_failure_keeps_tokens_and_backs_off() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let tokens = flow.tokens().unwrap().1.clone();
    world.token_endpoint_down = true;
    world.now = flow.poll_timeout().unwrap();
    flow.handle_timeout(world.now).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(errors[0].code(), "token_status");
    assert_eq!(flow.tokens().unwrap().1, &tokens, "tokens never lost on a transient failure");
    assert_eq!(flow.poll_timeout(), Some(world.now.plus(30)));
    world.token_endpoint_down = false;
    world.now = world.now.plus(30);
    flow.handle_timeout(world.now).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty());
    assert_ne!(flow.tokens().unwrap().1.access_token, tokens.access_token);
}

#[test]
fn legacy_server_with_metadata_at_the_origin() {
    let mut world = World::new();
    world.prm_at.clear();
    // A 2025-03-26 server: metadata at the origin, with its own issuer name.
    let issuer = "https://mcp.example.com/oauth";
    world.issuer = issuer.into();
    world.require_resource = false;
    let mut doc = as_document("https://mcp.example.com");
    doc["issuer"] = json!(issuer);
    world.as_at =
        vec![("https://mcp.example.com/.well-known/oauth-authorization-server".into(), doc)];
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.unauthorized(Some("Bearer")), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(events.iter().any(|e| matches!(e, FlowEvent::UsingLegacyDiscovery { .. })));
    let cb = world.approve(&browser_url(&events).unwrap());
    flow.handle_callback(world.now, &cb).unwrap();
    drain(&mut flow, &mut world);
    assert_eq!(flow.tokens().unwrap().0, issuer);
}

#[test]
fn legacy_server_without_metadata_uses_default_endpoints() {
    let mut world = World::new();
    world.prm_at.clear();
    world.as_at.clear();
    world.issuer = "https://mcp.example.com".into();
    world.require_resource = false;
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.unauthorized(None), entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    let url = browser_url(&events).unwrap();
    assert!(url.starts_with("https://mcp.example.com/authorize?"), "{url}");
    assert!(
        world
            .log
            .iter()
            .any(|(p, u)| *p == Purpose::ClientRegistration
                && u == "https://mcp.example.com/register")
    );
    let cb = world.approve(&url);
    flow.handle_callback(world.now, &cb).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(world
        .log
        .iter()
        .any(|(p, u)| *p == Purpose::CodeExchange && u == "https://mcp.example.com/token"));
    // Without the compatibility path, no metadata is an error.
    let mut world = World::new();
    world.prm_at.clear();
    let mut config = config();
    config.legacy_discovery = false;
    let mut strict = AuthFlow::new(config);
    strict.handle_unauthorized(world.now, &world.unauthorized(None), entropy(1)).unwrap();
    let (_, errors) = drain(&mut strict, &mut world);
    assert_eq!(errors[0].code(), "resource_metadata_not_found");
}

#[test]
fn snapshot_restore_complete_in_another_process() {
    let mut world = World::new();
    let mut first = flow();
    first.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut first, &mut world);
    assert!(events.iter().any(|e| matches!(e, FlowEvent::AuthorizationPending(_))));
    let saved = first.snapshot().to_json();
    drop(first);
    let callback = world.approve(&browser_url(&events).unwrap());
    // "Another process": a new flow from the saved JSON and the same configuration.
    let snapshot = FlowSnapshot::from_json(&saved).unwrap();
    let mut second = AuthFlow::restore(config(), snapshot).unwrap();
    assert!(matches!(second.status(world.now), FlowStatus::AwaitingUser { .. }));
    second.handle_callback(world.now, &callback).unwrap();
    let (events, errors) = drain(&mut second, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(events.contains(&FlowEvent::Authorized));
    // And tokens survive another round trip.
    let saved = second.snapshot().to_json();
    let third = AuthFlow::restore(config(), FlowSnapshot::from_json(&saved).unwrap()).unwrap();
    assert!(world.mcp_accepts(third.authorization_header(world.now, MCP).unwrap().as_deref()));
}

#[test]
fn snapshot_refuses_other_versions_and_servers() {
    let mut snap = flow().snapshot();
    snap.version = 99;
    let e = AuthFlow::restore(config(), snap.clone()).unwrap_err();
    assert_eq!(e.code(), "snapshot_invalid");
    assert!(e.to_string().contains("version 99"));
    snap.version = crate::flow::SNAPSHOT_VERSION;
    snap.server_url = "https://other.example.com".into();
    assert_eq!(AuthFlow::restore(config(), snap).unwrap_err().code(), "snapshot_invalid");
}

#[test]
fn pending_authorization_expires() {
    let mut world = World::new();
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let started = world.now;
    assert_eq!(flow.poll_timeout(), Some(started.plus(600)));
    let cb = world.approve(&browser_url(&events).unwrap());
    world.now = started.plus(600);
    let e = flow.handle_timeout(world.now).unwrap_err();
    assert_eq!(e.code(), "authorization_timed_out");
    assert_eq!(flow.poll_timeout(), None);
    assert_eq!(
        flow.handle_callback(world.now, &cb).unwrap_err().code(),
        "no_pending_authorization"
    );
}

#[test]
fn access_denied_ends_the_attempt() {
    let mut world = World::new();
    world.deny = true;
    let mut flow = flow();
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let cb = world.approve(&browser_url(&events).unwrap());
    let e = flow.handle_callback(world.now, &cb).unwrap_err();
    assert_eq!(
        e,
        Error::Callback(crate::authorize::CallbackError::AccessDenied {
            description: Some("The user said no".into())
        })
    );
    assert_eq!(flow.status(world.now), FlowStatus::Unauthorized);
}

#[test]
fn logout_revokes_and_clears() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let tokens = flow.tokens().unwrap().1.clone();
    flow.logout(world.now).unwrap();
    assert!(flow.tokens().is_none());
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty());
    assert_eq!(events, [FlowEvent::TokensCleared]);
    assert_eq!(
        world.revoked,
        [
            tokens.refresh_token.unwrap().secret().to_owned(),
            tokens.access_token.secret().to_owned()
        ]
    );
    assert!(!world.mcp_accepts(Some(&format!("Bearer {}", tokens.access_token.secret()))));
    assert_eq!(flow.status(world.now), FlowStatus::Unauthorized);
}

/// RFC 7009 §2.2.1: `unsupported_token_type` for the access token is no failure: the refresh
/// token is revoked, the tokens are cleared, and the host learns the access token is not
/// revocable there. Any other error is a failure that names the revocation endpoint.
#[test]
fn logout_with_an_access_token_the_server_cannot_revoke() {
    let mut world = World::new();
    world.access_tokens_not_revocable = true;
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let tokens = flow.tokens().unwrap().1.clone();
    flow.logout(world.now).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        events,
        [
            FlowEvent::TokensCleared,
            FlowEvent::TokenNotRevocable { endpoint: format!("{ISSUER}/revoke") }
        ]
    );
    assert_eq!(world.revoked, [tokens.refresh_token.unwrap().secret().to_owned()]);
    assert!(flow.tokens().is_none());
}

#[test]
fn shared_discovery_makes_zero_discovery_requests() {
    let mut world = World::new();
    world.as_at[0].1 = as_document(ISSUER);
    let mut alice = flow();
    let events = authorize(&mut alice, &mut world, 1);
    let discovery = events
        .iter()
        .find_map(|e| match e {
            FlowEvent::MetadataDiscovered(d) => Some(d.clone()),
            _ => None,
        })
        .unwrap();
    let before = world.log.len();
    let mut bob = flow();
    bob.use_discovery(discovery);
    authorize(&mut bob, &mut world, 2);
    let bob_purposes: Vec<_> = world.log[before..].iter().map(|(p, _)| *p).collect();
    assert_eq!(bob_purposes, [Purpose::ClientRegistration, Purpose::CodeExchange]);
}

#[test]
fn cache_control_limits_shared_discovery() {
    let mut world = World::new();
    let mut flow = flow();
    let resp = crate::http::HttpResponse::new(
        200,
        vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "max-age=300".into()),
        ],
        world.prm.to_string(),
    );
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let req = flow.poll_request().unwrap();
    flow.handle_response(world.now, req.id, resp).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let d = events
        .iter()
        .find_map(|e| match e {
            FlowEvent::MetadataDiscovered(d) => Some(d.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(d.cache_until, Some(world.now.plus(300)));
    // Expired cache: a new flow using it rediscovers.
    let mut later = AuthFlow::new(config());
    later.use_discovery(d);
    world.now = world.now.plus(301);
    let before = world.count(Purpose::ResourceMetadata);
    later.handle_unauthorized(world.now, &world.challenge_401(), entropy(2)).unwrap();
    drain(&mut later, &mut world);
    assert_eq!(world.count(Purpose::ResourceMetadata), before + 1);
}

#[test]
fn confidential_dynamic_client_with_secret_post() {
    let mut world = World::new();
    let mut flow = flow();
    flow.add_registration(crate::registration::ClientRegistration {
        issuer: ISSUER.into(),
        client_id: "conf-1".into(),
        client_secret: Some(ClientSecret::new("pw")),
        client_secret_expires_at: Some(UnixTime(world.now.secs() + 10_000)),
        auth_method: TokenEndpointAuth::ClientSecretPost,
        redirect_uri: REDIRECT.into(),
        source: IdentitySource::Dynamic,
    });
    world.secrets.insert("conf-1".into(), "pw".into());
    authorize(&mut flow, &mut world, 1);
    assert_eq!(world.count(Purpose::ClientRegistration), 0);
    let form = world.token_requests.last().unwrap();
    assert!(form.iter().any(|(k, v)| k == "client_secret" && v == "pw"));
    assert!(flow.access_token(world.now).is_some());
}

struct RecordingSigner(std::sync::Mutex<Vec<crate::token::AssertionClaims>>);

impl crate::token::ClientAssertionSigner for RecordingSigner {
    fn sign(&self, claims: &crate::token::AssertionClaims) -> Result<String, String> {
        self.0.lock().map_err(|e| e.to_string())?.push(claims.clone());
        Ok(format!("eyJhbGciOiJFUzI1NiJ9.{}.sig", claims.iat))
    }
}

#[test]
fn private_key_jwt_hook_signs_every_token_request() {
    let mut world = World::new();
    let client = ClientConfig {
        pre_registered: Some(PreRegistered {
            client_id: "jwt-client".into(),
            client_secret: None,
            auth_method: Some(TokenEndpointAuth::PrivateKeyJwt),
            issuers: Vec::new(),
        }),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
    // Without a signer: a clear error, no token request.
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let cb = world.approve(&browser_url(&events).unwrap());
    assert_eq!(
        flow.handle_callback(world.now, &cb).unwrap_err().code(),
        "missing_client_assertion"
    );
    assert_eq!(world.count(Purpose::CodeExchange), 0);
    // With one.
    let signer = std::sync::Arc::new(RecordingSigner(std::sync::Mutex::new(Vec::new())));
    flow.set_assertion_signer(signer.clone());
    authorize(&mut flow, &mut world, 2);
    world.now = flow.poll_timeout().unwrap();
    flow.handle_timeout(world.now).unwrap();
    drain(&mut flow, &mut world);
    let claims = signer.0.lock().unwrap().clone();
    assert_eq!(claims.len(), 2, "code exchange and refresh");
    assert_eq!(claims[1].iss, "jwt-client");
    assert_eq!(claims[1].sub, "jwt-client");
    assert_eq!(claims[1].aud, ISSUER);
    assert_eq!(claims[1].exp, claims[1].iat + 120);
    for form in &world.token_requests {
        assert!(form.iter().any(|(k, v)| k == "client_assertion" && v.starts_with("eyJ")));
        assert!(form.iter().any(|(k, v)| k == "client_assertion_type"
            && v == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
    }
}

/// RFC 7523 §2.2: configured credentials without a method and a signer held by the host mean
/// `private_key_jwt`; without a signer (and no secret) the same credentials are a public client.
#[test]
fn configured_client_without_a_method_uses_the_signer_when_there_is_one() {
    for with_signer in [true, false] {
        let mut world = World::new();
        let client = ClientConfig {
            pre_registered: Some(PreRegistered::new("configured", None)),
            ..ClientConfig::dynamic("x")
        };
        let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
        if with_signer {
            flow.set_assertion_signer(std::sync::Arc::new(RecordingSigner(std::sync::Mutex::new(
                Vec::new(),
            ))));
        }
        authorize(&mut flow, &mut world, 1);
        let form = world.token_requests.last().unwrap();
        let assertion = form.iter().any(|(k, _)| k == "client_assertion");
        assert_eq!(assertion, with_signer, "with_signer={with_signer}");
        assert!(form.iter().any(|(k, v)| k == "client_id" && v == "configured") || with_signer);
    }
}

#[test]
fn a_refresh_that_cannot_start_still_moves_the_timeout() {
    let mut world = World::new();
    let client = ClientConfig {
        pre_registered: Some(PreRegistered {
            client_id: "jwt-client".into(),
            client_secret: None,
            auth_method: Some(TokenEndpointAuth::PrivateKeyJwt),
            issuers: Vec::new(),
        }),
        ..ClientConfig::dynamic("x")
    };
    let mut flow = AuthFlow::new(FlowConfig::new(MCP, REDIRECT, client).unwrap());
    flow.set_assertion_signer(std::sync::Arc::new(RecordingSigner(std::sync::Mutex::new(
        Vec::new(),
    ))));
    authorize(&mut flow, &mut world, 1);
    // The snapshot has no signer: the restored flow cannot sign the refresh.
    let mut restored = AuthFlow::restore(flow.config().clone(), flow.snapshot()).unwrap();
    let deadline = restored.poll_timeout().unwrap();
    world.now = deadline;
    let e = restored.handle_timeout(world.now).unwrap_err();
    assert_eq!(e.code(), "missing_client_assertion");
    assert!(restored.poll_timeout().unwrap() > world.now, "no busy loop");
    assert!(restored.tokens().is_some(), "tokens kept");
}

#[test]
fn stale_unauthorized_after_a_concurrent_refresh_is_ignored() {
    let mut world = World::new();
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let old = flow.access_token(world.now).unwrap().clone();
    // Two requests carried `old` and both got 401. The first 401 refreshes...
    flow.handle_unauthorized_for(world.now, &world.challenge_401(), &old, entropy(2)).unwrap();
    drain(&mut flow, &mut world);
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
    let new = flow.access_token(world.now).unwrap().clone();
    assert_ne!(new, old);
    // ...the second is stale: no new refresh, no authorization.
    flow.handle_unauthorized_for(world.now, &world.challenge_401(), &old, entropy(3)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert!(events.is_empty());
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
    // A 401 for the current token still means the refresh did not help: authorize.
    flow.handle_unauthorized_for(world.now, &world.challenge_401(), &new, entropy(4)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert!(browser_url(&events).is_some());
}

#[test]
fn short_lived_tokens_are_not_refreshed_on_every_use() {
    let mut world = World::new();
    world.token_lifetime = Some(10);
    let mut flow = flow();
    authorize(&mut flow, &mut world, 1);
    let received = flow.tokens().unwrap().1.received_at;
    // Skew 60 s > lifetime 10 s: refresh halfway, not at once.
    assert_eq!(flow.poll_timeout(), Some(received.plus(5)));
    world.now = received.plus(5);
    flow.handle_timeout(world.now).unwrap();
    drain(&mut flow, &mut world);
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
    assert_eq!(flow.poll_timeout(), Some(world.now.plus(5)), "the next deadline is ahead, not now");
}

#[test]
fn begin_discovery_runs_discovery_only_then_reuses_it() {
    let mut world = World::new();
    let mut flow = flow();
    flow.begin_discovery(world.now).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    // Without a 401 header URL: the path-suffixed PRM well-known URL, then AS metadata. No
    // registration, no authorization, no token request.
    assert_eq!(
        world.log.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [Purpose::ResourceMetadata, Purpose::ServerMetadata]
    );
    assert!(matches!(events.as_slice(), [FlowEvent::MetadataDiscovered(_)]), "{events:?}");
    let d = flow.discovery().expect("discovered");
    assert_eq!(d.server.issuer.as_str(), "https://auth.example.com");
    assert_eq!(flow.resource().as_str(), MCP);
    assert_eq!(flow.poll_timeout(), None);
    // A second call within the cache lifetime makes no requests.
    flow.begin_discovery(world.now).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    assert!(events.is_empty());
    assert_eq!(world.log.len(), 2);
}
