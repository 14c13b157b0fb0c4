use super::*;
use crate::flow::tests::harness::{browser_url, drain, entropy, World, MCP, REDIRECT};
use crate::http::Purpose;
use crate::registration::ClientConfig;
use crate::{FlowConfig, FlowEvent, FlowStatus};

const SCOPE_403: &str = r#"Bearer error="insufficient_scope", scope="files:write", error_description="needs files:write""#;
const AUDIENCE_401: &str = r#"Bearer error="invalid_token", error_description="audience mismatch", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
const PLAIN_401: &str = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;

fn flow() -> AuthFlow {
    AuthFlow::new(FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap())
}

fn answer<'a>(
    status: u16,
    header: Option<&'a str>,
    token: Option<&'a AccessToken>,
    operation: &'a str,
) -> ResourceResponse<'a> {
    ResourceResponse {
        status,
        www_authenticate: header,
        token_used: token,
        operation,
        dpop_nonce: None,
    }
}

fn token(flow: &AuthFlow, world: &World) -> Option<AccessToken> {
    flow.access_token(world.now).cloned()
}

/// The host's part after `Retry`: drain, and when the flow waits for the user, approve in the
/// browser and drain again. Returns the events and whether the user was asked.
fn complete(flow: &mut AuthFlow, world: &mut World) -> (Vec<FlowEvent>, bool) {
    let (mut events, errors) = drain(flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    let FlowStatus::AwaitingUser { url } = flow.status(world.now) else {
        return (events, false);
    };
    assert_eq!(browser_url(&events).as_deref(), Some(url.as_str()));
    let callback = world.approve(&url);
    flow.handle_callback(world.now, &callback).unwrap();
    let (more, errors) = drain(flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    events.extend(more);
    (events, true)
}

/// A cold start, as a host runs it: no token → 401 → Retry → the user authorizes.
fn cold(flow: &mut AuthFlow, world: &mut World) -> AccessToken {
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(PLAIN_401), None, "initialize"),
        entropy(1),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    assert!(complete(flow, world).1, "the user authorized");
    token(flow, world).expect("a token")
}

fn failed(events: &[FlowEvent]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            FlowEvent::Failed(e) => Some(e.code()),
            _ => None,
        })
        .collect()
}

#[test]
fn step_up_works_on_the_retry_that_follows_a_login() {
    let mut world = World::new();
    let mut flow = flow();
    let first = cold(&mut flow, &mut world);
    // The retry after the login is refused for scope: step up, on this attempt too.
    let d = flow.handle_resource_response(
        world.now,
        &answer(403, Some(SCOPE_403), Some(&first), "tools/call:write"),
        entropy(2),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    let (events, asked) = complete(&mut flow, &mut world);
    assert!(asked);
    let url = browser_url(&events).unwrap();
    assert!(url.contains("scope=files%3Aread+offline_access+files%3Awrite"), "{url}");
    let second = token(&flow, &world).unwrap();
    assert_ne!(second, first);
    assert!(flow.tokens().unwrap().1.scope.as_deref().unwrap().contains("files:write"));
    // The retry succeeds: passed through.
    let ok = answer(200, None, Some(&second), "tools/call:write");
    assert_eq!(
        flow.handle_resource_response(world.now, &ok, entropy(3)),
        Ok(ResourceDecision::PassThrough)
    );
    assert!(failed(&drain(&mut flow, &mut world).0).is_empty());
}

#[test]
fn step_up_is_capped_per_operation_and_the_cap_resets_on_success() {
    let mut world = World::new();
    let mut flow = flow();
    cold(&mut flow, &mut world);
    let op = "tools/call:write";
    for n in 0..2 {
        let t = token(&flow, &world).unwrap();
        let d = flow.handle_resource_response(
            world.now,
            &answer(403, Some(SCOPE_403), Some(&t), op),
            entropy(10 + n),
        );
        assert_eq!(d, Ok(ResourceDecision::Retry), "step-up {n}");
        assert!(complete(&mut flow, &mut world).1);
    }
    let t = token(&flow, &world).unwrap();
    let before = world.log.len();
    let e = flow
        .handle_resource_response(
            world.now,
            &answer(403, Some(SCOPE_403), Some(&t), op),
            entropy(20),
        )
        .unwrap_err();
    assert_eq!(e.code(), "step_up_limit_reached");
    let text = e.to_string();
    assert!(
        text.contains(op) && text.contains("files:write"),
        "names the operation and scope: {text}"
    );
    let (events, _) = drain(&mut flow, &mut world);
    assert_eq!(failed(&events), ["step_up_limit_reached"]);
    assert_eq!(world.log.len(), before, "no request");
    // Another operation has its own count.
    let other = answer(403, Some(SCOPE_403), Some(&t), "tools/call:other");
    assert_eq!(
        flow.handle_resource_response(world.now, &other, entropy(21)),
        Ok(ResourceDecision::Retry)
    );
    complete(&mut flow, &mut world);
    // Once the operation gets past authorization, it may step up again.
    let t = token(&flow, &world).unwrap();
    let ok = answer(200, None, Some(&t), op);
    assert_eq!(
        flow.handle_resource_response(world.now, &ok, entropy(22)),
        Ok(ResourceDecision::PassThrough)
    );
    let again = answer(403, Some(SCOPE_403), Some(&t), op);
    assert_eq!(
        flow.handle_resource_response(world.now, &again, entropy(23)),
        Ok(ResourceDecision::Retry)
    );
}

#[test]
fn an_application_403_passes_through_without_an_error() {
    let mut world = World::new();
    let mut flow = flow();
    let t = cold(&mut flow, &mut world);
    let before = world.log.len();
    for header in [
        None,
        Some(r#"Bearer error="invalid_token""#),
        Some(r#"Bearer realm="mcp""#),
        Some(r#"Basic realm="files""#),
    ] {
        let d = flow.handle_resource_response(
            world.now,
            &answer(403, header, Some(&t), "tools/call:x"),
            entropy(5),
        );
        assert_eq!(d, Ok(ResourceDecision::PassThrough), "{header:?}");
    }
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(events.is_empty() && errors.is_empty(), "{events:?} {errors:?}");
    assert_eq!(world.log.len(), before, "no request");
    assert_eq!(token(&flow, &world), Some(t), "the token is kept");
}

#[test]
fn other_statuses_pass_through() {
    let mut world = World::new();
    let mut flow = flow();
    let t = cold(&mut flow, &mut world);
    for status in [200, 202, 204, 400, 404, 500] {
        let d = flow.handle_resource_response(
            world.now,
            &answer(status, None, Some(&t), "x"),
            entropy(5),
        );
        assert_eq!(d, Ok(ResourceDecision::PassThrough), "{status}");
    }
    assert!(drain(&mut flow, &mut world).0.is_empty());
}

#[test]
fn a_401_for_a_token_already_replaced_retries_without_a_request() {
    let mut world = World::new();
    let mut flow = flow();
    let old = cold(&mut flow, &mut world);
    // Confirmed by the server, then refused: refresh.
    flow.handle_resource_response(world.now, &answer(200, None, Some(&old), "x"), entropy(2))
        .unwrap();
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(PLAIN_401), Some(&old), "x"),
        entropy(3),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    let (_, asked) = complete(&mut flow, &mut world);
    assert!(!asked, "a refresh, no user");
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
    let new = token(&flow, &world).unwrap();
    assert_ne!(new, old);
    // A request that was in flight with the old token: retry with the new one, nothing sent.
    let before = world.log.len();
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(PLAIN_401), Some(&old), "y"),
        entropy(4),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(events.is_empty() && errors.is_empty());
    assert_eq!(world.log.len(), before);
    // Likewise a 403 insufficient_scope for the old token: the new one may have the scope.
    let d = flow.handle_resource_response(
        world.now,
        &answer(403, Some(SCOPE_403), Some(&old), "y"),
        entropy(5),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    assert_eq!(world.log.len(), before);
}

#[test]
fn a_fresh_token_refused_again_is_an_error_in_the_servers_words() {
    let mut world = World::new();
    let mut flow = flow();
    let first = cold(&mut flow, &mut world);
    // The token from the login is refused at once: the server does not accept this AS's tokens.
    let before = world.log.len();
    let e = flow
        .handle_resource_response(
            world.now,
            &answer(401, Some(AUDIENCE_401), Some(&first), "x"),
            entropy(2),
        )
        .unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
    assert!(e.to_string().contains("invalid_token: audience mismatch"), "{e}");
    let (events, _) = drain(&mut flow, &mut world);
    assert_eq!(failed(&events), ["token_rejected_by_resource"]);
    assert_eq!(world.log.len(), before, "no request");
    // Said once: the next 401 (a later request) starts over with a refresh...
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(AUDIENCE_401), Some(&first), "x"),
        entropy(3),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    assert!(!complete(&mut flow, &mut world).1);
    let refreshed = token(&flow, &world).unwrap();
    // ...whose token, refused too, ends that request.
    let e = flow
        .handle_resource_response(
            world.now,
            &answer(401, Some(AUDIENCE_401), Some(&refreshed), "x"),
            entropy(4),
        )
        .unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
}

/// A token obtained for a refusal that has expired by the time the server refuses it (a slow
/// first use of a short-lived token) is refreshed, not reported as refused.
#[test]
fn an_expired_token_refused_after_the_login_is_refreshed() {
    let mut world = World::new();
    let mut flow = flow();
    let first = cold(&mut flow, &mut world);
    let (_, t) = flow.tokens().unwrap();
    world.now = t.expires_at.unwrap().plus(1);
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(AUDIENCE_401), Some(&first), "x"),
        entropy(2),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    assert!(!complete(&mut flow, &mut world).1, "a refresh, no browser");
    assert_ne!(token(&flow, &world).unwrap(), first);
}

#[test]
fn a_confirmed_token_refused_later_is_refreshed() {
    let mut world = World::new();
    let mut flow = flow();
    let t = cold(&mut flow, &mut world);
    flow.handle_resource_response(world.now, &answer(200, None, Some(&t), "x"), entropy(2))
        .unwrap();
    let d = flow.handle_resource_response(
        world.now,
        &answer(401, Some(AUDIENCE_401), Some(&t), "x"),
        entropy(3),
    );
    assert_eq!(d, Ok(ResourceDecision::Retry));
    complete(&mut flow, &mut world);
    assert_eq!(world.count(Purpose::TokenRefresh), 1);
}

#[test]
fn a_401_while_the_user_is_asked_waits_for_the_user() {
    let mut world = World::new();
    let mut flow = flow();
    let start = answer(401, Some(PLAIN_401), None, "initialize");
    assert_eq!(
        flow.handle_resource_response(world.now, &start, entropy(1)),
        Ok(ResourceDecision::Retry)
    );
    drain(&mut flow, &mut world);
    let url = match flow.status(world.now) {
        FlowStatus::AwaitingUser { url } => url,
        s => panic!("{s:?}"),
    };
    let before = world.log.len();
    assert_eq!(
        flow.handle_resource_response(world.now, &start, entropy(2)),
        Ok(ResourceDecision::Retry)
    );
    assert_eq!(world.log.len(), before);
    assert_eq!(flow.status(world.now), FlowStatus::AwaitingUser { url }, "the same authorization");
}

#[test]
fn a_malformed_challenge_is_an_error() {
    let mut world = World::new();
    let mut flow = flow();
    let e = flow
        .handle_resource_response(
            world.now,
            &answer(401, Some("Bearer error=\"x"), None, "x"),
            entropy(1),
        )
        .unwrap_err();
    assert_eq!(e.code(), "challenge_malformed");
    assert_eq!(failed(&drain(&mut flow, &mut world).0), ["challenge_malformed"]);
}

#[test]
fn operation_keys() {
    let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"admin_op","arguments":{}}}"#;
    assert_eq!(operation_key("POST", call), "tools/call:admin_op");
    assert_eq!(
        operation_key("POST", br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
        "tools/list"
    );
    assert_eq!(
        operation_key("POST", br#"{"method":"prompts/get","params":{"name":"p"}}"#),
        "prompts/get:p"
    );
    assert_eq!(operation_key("POST", br#"{"method":"x","params":{"name":7}}"#), "x");
    assert_eq!(operation_key("POST", br#"[{"method":"tools/list"}]"#), "POST", "a batch");
    assert_eq!(operation_key("get", b""), "GET");
    assert_eq!(operation_key("DELETE", b"not json"), "DELETE");
}

#[test]
fn headless_decisions() {
    let t = AccessToken::new("t");
    let r = |status, header| answer(status, header, Some(&t), "x");
    assert_eq!(headless_decision(&r(200, None), true), Ok(ResourceDecision::PassThrough));
    assert_eq!(headless_decision(&r(403, None), false), Ok(ResourceDecision::PassThrough));
    assert_eq!(headless_decision(&r(401, Some(AUDIENCE_401)), false), Ok(ResourceDecision::Retry));
    let e = headless_decision(&r(401, Some(AUDIENCE_401)), true).unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
    assert!(e.to_string().contains("audience mismatch"), "{e}");
    let e = headless_decision(&r(403, Some(SCOPE_403)), false).unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
    assert!(e.to_string().contains("cannot step up"), "{e}");
}

#[test]
fn rejection_reasons() {
    let c = |e: Option<&str>, d: Option<&str>| BearerChallenge {
        resource_metadata: None,
        scope: None,
        error: e.map(str::to_owned),
        error_description: d.map(str::to_owned),
        realm: None,
    };
    assert_eq!(rejection_reason(Some(&c(Some("e"), Some("d"))), "h"), "e: d");
    assert_eq!(rejection_reason(Some(&c(Some("e"), None)), "h"), "e");
    assert_eq!(rejection_reason(Some(&c(None, Some("d"))), "h"), "d");
    assert_eq!(rejection_reason(Some(&c(None, None)), "h"), "h");
    assert_eq!(rejection_reason(None, "Basic"), "Basic");
}
