//! The machine on its own, against the in-memory world of core/src/flow/tests/harness.rs.

use std::sync::Arc;

use super::*;
use crate::flow::tests::harness::{World, ISSUER, MCP};

fn config() -> SharedSettings {
    Arc::new(DiscoveryConfig::new(ResourceUrl::parse(MCP).unwrap()))
}

/// Answers every request from the world; returns the URLs asked for, the events and the errors.
fn drive(m: &mut DiscoveryMachine, world: &mut World) -> (Vec<String>, Vec<FlowEvent>, Vec<Error>) {
    let (mut urls, mut errors) = (Vec::new(), Vec::new());
    while let Some(req) = m.poll_request() {
        urls.push(req.url.clone());
        let r = match world.handle(&req) {
            Ok(resp) => m.handle_response(world.now, req.id, &resp),
            Err(msg) => m.handle_transport_error(world.now, req.id, &msg),
        };
        errors.extend(r.err());
    }
    let mut events = Vec::new();
    while let Some(e) = m.poll_event() {
        events.push(e);
    }
    (urls, events, errors)
}

#[test]
fn resource_then_server_metadata_then_the_cache() {
    let mut world = World::new();
    let start = DiscoveryStart { first_request_id: RequestId(7), ..DiscoveryStart::default() };
    let mut m = DiscoveryMachine::start(world.now, config(), start);
    assert_eq!(m.next_request_id(), RequestId(8), "the first request took id 7");
    let (urls, events, errors) = drive(&mut m, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        urls,
        [
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            "https://auth.example.com/.well-known/oauth-authorization-server",
        ]
    );
    let found = m.outcome().unwrap().clone().unwrap();
    assert_eq!(found.server.issuer.as_str(), ISSUER);
    assert_eq!(events, [FlowEvent::MetadataDiscovered(Discovery::clone(&found))]);
    assert_eq!(m.next_request_id(), RequestId(9));

    // A fresh cached result: done at once, no request, no event.
    let cached = DiscoveryStart { cached: Some(found.clone()), ..DiscoveryStart::default() };
    let mut again = DiscoveryMachine::start(world.now, config(), cached);
    assert!(again.is_done() && again.poll_request().is_none() && again.poll_event().is_none());
    assert!(Arc::ptr_eq(again.outcome().unwrap().as_ref().unwrap(), &found));
    // A challenge naming other metadata than the cached one is fetched.
    let other = DiscoveryStart {
        cached: Some(found),
        header_url: Some(
            "https://mcp.example.com/.well-known/oauth-protected-resource/other".into(),
        ),
        ..DiscoveryStart::default()
    };
    assert!(!DiscoveryMachine::start(world.now, config(), other).is_done());
}

#[test]
fn transport_errors_move_on_and_no_metadata_falls_back_to_legacy() {
    let mut world = World::new();
    world.prm_at.clear();
    world
        .unreachable
        .push("https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into());
    let mut m = DiscoveryMachine::start(world.now, config(), DiscoveryStart::default());
    let (urls, events, errors) = drive(&mut m, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(urls[1], "https://mcp.example.com/.well-known/oauth-protected-resource");
    assert_eq!(
        events[0],
        FlowEvent::UsingLegacyDiscovery { origin: "https://mcp.example.com".into() }
    );
    let d = m.outcome().unwrap().as_ref().unwrap();
    assert!(d.legacy);
    assert_eq!(d.server.token_endpoint.as_str(), "https://mcp.example.com/token");

    // Without the fallback: not found, naming what was tried.
    let mut strict = DiscoveryConfig::new(ResourceUrl::parse(MCP).unwrap());
    strict.legacy_discovery = false;
    let mut m = DiscoveryMachine::start(world.now, Arc::new(strict), DiscoveryStart::default());
    let (_, _, errors) = drive(&mut m, &mut world);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "resource_metadata_not_found");
    assert_eq!(m.outcome().unwrap().as_ref().unwrap_err(), &errors[0]);
}

/// In a browser a request refused by CORS has no response, like an unreachable server: when no
/// candidate answered at all, that is the error (naming the first URL), not "no metadata" and
/// not the 2025-03-26 fallback (issue 15: a blocked resource metadata led to default endpoints
/// and a CORS failure at a `/register` that does not exist).
#[test]
fn no_answer_at_any_candidate_is_a_transport_error_not_missing_metadata() {
    let transport_error = |errors: &[Error], purpose: &str, url: &str| {
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].code(), "transport_failed");
        let Error::Flow(FlowError::Transport { purpose: p, url: u, message }) = &errors[0] else {
            panic!("{:?}", errors[0]);
        };
        assert_eq!((p.as_str(), u.as_str()), (purpose, url));
        assert!(!message.is_empty());
    };
    // Every resource-metadata candidate unreachable.
    let mut world = World::new();
    let prm = [
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
    ];
    world.unreachable.extend(prm.iter().map(|u| (*u).to_owned()));
    let mut m = DiscoveryMachine::start(world.now, config(), DiscoveryStart::default());
    let (urls, events, errors) = drive(&mut m, &mut world);
    assert_eq!(urls, prm, "no fallback request");
    assert!(events.is_empty(), "no legacy discovery: {events:?}");
    transport_error(&errors, "protected resource metadata", prm[0]);

    // The resource metadata answers; every metadata URL of its authorization server does not.
    let mut world = World::new();
    let as_urls = crate::server_metadata::candidate_urls(&IssuerUrl::parse(ISSUER).unwrap());
    world.unreachable.extend(as_urls.iter().map(|(u, _)| u.as_str().to_owned()));
    let mut m = DiscoveryMachine::start(world.now, config(), DiscoveryStart::default());
    let (urls, _, errors) = drive(&mut m, &mut world);
    assert_eq!(urls.len(), 1 + as_urls.len(), "{urls:?}");
    transport_error(&errors, "authorization server metadata", as_urls[0].0.as_str());

    // No resource metadata (404s), then no answer at the MCP server's origin: no default
    // endpoints.
    let mut world = World::new();
    world.prm_at.clear();
    let legacy = crate::server_metadata::legacy_candidate_urls(&ResourceUrl::parse(MCP).unwrap());
    world.unreachable.extend(legacy.iter().map(|(u, _)| u.as_str().to_owned()));
    let mut m = DiscoveryMachine::start(world.now, config(), DiscoveryStart::default());
    let (_, events, errors) = drive(&mut m, &mut world);
    assert!(matches!(events[..], [FlowEvent::UsingLegacyDiscovery { .. }]), "{events:?}");
    transport_error(&errors, "authorization server metadata", legacy[0].0.as_str());

    // One candidate unreachable and another answering 404 is still "no metadata": the
    // fallback runs (transport_errors_move_on_and_no_metadata_falls_back_to_legacy).
}

#[test]
fn a_known_issuer_and_foreign_answers() {
    let mut world = World::new();
    let issuer = IssuerUrl::parse(ISSUER).unwrap();
    let mut m = DiscoveryMachine::start_at_issuer(config(), issuer, RequestId(1));
    let req = m.poll_request().unwrap();
    assert_eq!(req.url, "https://auth.example.com/.well-known/oauth-authorization-server");
    let e = m.handle_response(world.now, RequestId(99), &HttpResponse::json(200, "{}"));
    assert_eq!(e.unwrap_err().code(), "unknown_request");
    let resp = world.handle(&req).unwrap();
    m.handle_response(world.now, req.id, &resp).unwrap();
    let d = m.outcome().unwrap().as_ref().unwrap();
    assert!(d.resource_metadata.is_none() && !d.legacy);
    assert_eq!(d.server.issuer.as_str(), ISSUER);
    // Done: a late answer is refused.
    let e = m.handle_response(world.now, req.id, &resp).unwrap_err();
    assert_eq!(e.code(), "unknown_request");
}

/// Revalidation (a 401): the cache is read again; only a valid document moves the result.
#[test]
fn revalidation_reads_the_metadata_again_and_keeps_the_known_result_on_failure() {
    use crate::flow::tests::harness::as_document;
    use serde_json::json;
    let mut world = World::new();
    let mut m = DiscoveryMachine::start(world.now, config(), DiscoveryStart::default());
    drive(&mut m, &mut world);
    let known = m.outcome().unwrap().clone().unwrap();
    let revalidate =
        || DiscoveryStart { cached: Some(known.clone()), revalidate: true, ..Default::default() };
    let prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    // Unchanged: one request, the known server metadata reused, the new document kept.
    let mut m = DiscoveryMachine::start(world.now, config(), revalidate());
    assert!(!m.is_done(), "a fresh cache does not answer a revalidation");
    let (urls, events, errors) = drive(&mut m, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(urls, [prm]);
    let found = m.outcome().unwrap().clone().unwrap();
    assert_eq!(found.server, known.server);
    assert_eq!(events, [FlowEvent::MetadataDiscovered(Discovery::clone(&found))]);

    // A 5xx, or a transport error: one try, the known result, no event.
    for transient in [true, false] {
        let mut world = World::new();
        if transient {
            world.fail_at.push(prm.into());
        } else {
            world.unreachable.push(prm.into());
        }
        world.prm["authorization_servers"] = json!(["https://auth2.example.com"]);
        let mut m = DiscoveryMachine::start(world.now, config(), revalidate());
        let (urls, events, errors) = drive(&mut m, &mut world);
        assert!(errors.is_empty() && events.is_empty(), "{errors:?} {events:?}");
        assert_eq!(urls, [prm]);
        assert!(Arc::ptr_eq(m.outcome().unwrap().as_ref().unwrap(), &known));
    }

    // No document at any candidate (4xx): the known result, not the 2025-03-26 fallback.
    let mut world = World::new();
    world.prm_at.clear();
    let mut m = DiscoveryMachine::start(world.now, config(), revalidate());
    let (urls, events, _) = drive(&mut m, &mut world);
    assert_eq!(urls.len(), 2, "both well-known candidates: {urls:?}");
    assert!(events.is_empty(), "{events:?}");
    assert!(Arc::ptr_eq(m.outcome().unwrap().as_ref().unwrap(), &known));

    // Moved: the new server's metadata is fetched and wins.
    let as2 = "https://auth2.example.com";
    let mut world = World::new();
    world.prm["authorization_servers"] = json!([as2]);
    world.as_at.push((format!("{as2}/.well-known/oauth-authorization-server"), as_document(as2)));
    let mut m = DiscoveryMachine::start(world.now, config(), revalidate());
    let (urls, _, errors) = drive(&mut m, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(urls, [prm.to_owned(), format!("{as2}/.well-known/oauth-authorization-server")]);
    assert_eq!(m.outcome().unwrap().as_ref().unwrap().server.issuer.as_str(), as2);

    // A document that is wrong (another resource) is an error, not the known result.
    let mut world = World::new();
    world.prm["resource"] = json!("https://other.example.com/mcp");
    let mut m = DiscoveryMachine::start(world.now, config(), revalidate());
    let (_, _, errors) = drive(&mut m, &mut world);
    assert_eq!(errors.len(), 1, "{errors:?}");
}
