//! Workload identity (SEP-1933): the jwt-bearer grant with the host's platform assertion.

use super::*;

const JWT_A: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZC1hIn0.c2ln";
const JWT_B: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZC1iIn0.c2ln";

/// The drain contract with a host that answers workload requests from `assertion` (its
/// "file": `Err` when it cannot be read) and signs client assertions as `drive` does.
fn drive_workload(
    flow: &mut HeadlessFlow,
    world: &mut World,
    assertion: &Result<String, String>,
) -> Seen {
    let mut seen = Seen::default();
    loop {
        if let Some(req) = flow.poll_request() {
            let resp = world.handle(&req).expect("reachable");
            seen.errors.extend(flow.handle_response(world.now, req.id, resp).err());
            seen.requests.push(req);
        } else if let Some(sig) = flow.poll_signature() {
            let r = match (sig.signer, assertion) {
                (AssertionFor::Workload, Ok(a)) => flow.provide_assertion(world.now, sig.id, a),
                (AssertionFor::Workload, Err(e)) => flow.handle_signing_error(sig.id, e),
                _ => {
                    let jwt = format!("jws:{}:{}", sig.claims.iss, sig.claims.aud);
                    flow.provide_assertion(world.now, sig.id, &jwt)
                }
            };
            seen.errors.extend(r.err());
            seen.signatures.push(sig);
        } else {
            break;
        }
    }
    while let Some(e) = flow.poll_event() {
        seen.events.push(e);
    }
    seen
}

fn begin(flow: &mut HeadlessFlow, world: &mut World, assertion: Result<&str, &str>) -> Seen {
    let r = flow.begin(world.now);
    let assertion = assertion.map(str::to_owned).map_err(str::to_owned);
    let mut seen = drive_workload(flow, world, &assertion);
    seen.errors.splice(0..0, r.err());
    seen
}

fn workload_config(client: HeadlessCredentials) -> HeadlessConfig {
    let mut config = HeadlessConfig::new(MCP, client).unwrap();
    config.workload_identity = true;
    config
}

#[test]
fn the_assertion_is_asked_for_on_every_token_request() {
    let mut world = World::new();
    world.issue_refresh = false;
    world.token_lifetime = Some(3600);
    world.workload_assertions = vec![JWT_A.into(), JWT_B.into()];
    let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::public("workload")));
    // A file ends with a newline: trimmed.
    let seen = begin(&mut flow, &mut world, Ok(&format!("{JWT_A}\n")));
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.signatures.len(), 1);
    let ask = &seen.signatures[0];
    assert_eq!(ask.signer, AssertionFor::Workload);
    assert_eq!(ask.claims.aud, ISSUER, "the audience the assertion should carry");
    let posts = seen.token_requests();
    assert_eq!(posts.len(), 1);
    let grant = posts[0];
    assert_eq!(grant.url, "https://auth.example.com/token");
    assert_eq!(grant.purpose, Purpose::JwtBearerGrant);
    assert_eq!(param(grant, "grant_type").as_deref(), Some(jwt_bearer::GRANT_TYPE));
    assert_eq!(param(grant, "assertion").as_deref(), Some(JWT_A));
    assert_eq!(param(grant, "resource").as_deref(), Some(MCP), "RFC 8707");
    assert_eq!(param(grant, "scope").as_deref(), Some("files:read"), "the core's scope rule");
    assert_eq!(param(grant, "client_id").as_deref(), Some("workload"), "a public client");
    let first = flow.access_token(world.now).cloned().expect("a token");

    // The token is due: the next request asks again, and carries the rotated assertion.
    world.now = flow.poll_timeout().expect("expires");
    let r = flow.handle_timeout(world.now);
    let mut seen = drive_workload(&mut flow, &mut world, &Ok(JWT_B.to_owned()));
    seen.errors.extend(r.err());
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.signatures.len(), 1);
    assert_eq!(param(seen.token_requests()[0], "assertion").as_deref(), Some(JWT_B));
    assert_ne!(flow.access_token(world.now), Some(&first));
}

#[test]
fn client_authentication_is_as_configured() {
    let mut world = world_with_secret("svc", "s3cret");
    world.workload_assertions = vec![JWT_A.into()];
    let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::secret("svc", "s3cret")));
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let grant = seen.token_requests()[0];
    assert_eq!(grant.header("authorization"), Some(basic("svc", "s3cret").as_str()));
    assert_eq!(param(grant, "assertion").as_deref(), Some(JWT_A));

    // private_key_jwt: first the workload's assertion, then the client's signature.
    auth_methods(&mut world, json!(["private_key_jwt"]));
    let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::private_key_jwt("key")));
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let signers: Vec<AssertionFor> = seen.signatures.iter().map(|s| s.signer).collect();
    assert_eq!(signers, [AssertionFor::Workload, AssertionFor::AuthorizationServer]);
    let grant = seen.token_requests()[0];
    assert_eq!(param(grant, "assertion").as_deref(), Some(JWT_A));
    assert_eq!(
        param(grant, "client_assertion").as_deref(),
        Some("jws:key:https://auth.example.com")
    );
}

#[test]
fn a_refusal_stops_with_the_servers_error_without_retry() {
    let mut world = World::new();
    world.issue_refresh = false;
    world.workload_assertions = vec![JWT_B.into()];
    let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::public("workload")));
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert_eq!(seen.errors.len(), 1, "{:?}", seen.errors);
    assert_eq!(seen.errors[0].code(), "invalid_grant");
    assert!(seen.events.iter().any(|e| matches!(e, FlowEvent::Failed(_))));
    assert_eq!(seen.token_requests().len(), 1, "one token request, no retry");
    let grants: Vec<&str> = world
        .token_requests
        .iter()
        .flatten()
        .filter(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(grants, [jwt_bearer::GRANT_TYPE], "no other grant");
    assert!(flow.access_token(world.now).is_none() && !flow.is_busy());
    assert_eq!(flow.poll_timeout(), None, "nothing starts by itself");
    assert!(flow.handle_timeout(UnixTime(u64::MAX)).is_ok());
    assert!(flow.poll_request().is_none() && flow.poll_signature().is_none());

    // The host's next need for a token reads the assertion again: rotated, it works.
    let seen = begin(&mut flow, &mut world, Ok(JWT_B));
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert!(flow.access_token(world.now).is_some());
}

#[test]
fn an_unreadable_or_malformed_assertion_sends_nothing() {
    let mut world = World::new();
    for (assertion, why) in [
        (Err("cannot read /var/run/token: no such file"), "no such file"),
        (Ok("  \n"), "empty"),
        (Ok("not a jwt"), "not a JWT"),
        (Ok("a.b"), "not a JWT"),
        (Ok("a.b.c d"), "not a JWT"),
    ] {
        let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::public("w")));
        let seen = begin(&mut flow, &mut world, assertion);
        assert_eq!(seen.errors.len(), 1, "{assertion:?}");
        let e = &seen.errors[0];
        assert_eq!(e.code(), "workload_assertion_unavailable", "{assertion:?}");
        assert!(e.to_string().contains(why), "{e}");
        assert!(seen.token_requests().is_empty(), "{assertion:?}");
        assert!(!flow.is_busy());
    }
}

#[test]
fn workload_identity_and_cross_app_conflict() {
    let mut world = World::new();
    let mut config = workload_config(HeadlessCredentials::public("app"));
    config.cross_app = Some(cross_app(HeadlessCredentials::public("app-at-idp"), false));
    let mut flow = HeadlessFlow::new(config);
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].code(), "conflicting_grants");
    assert!(seen.token_requests().is_empty());
}

#[test]
fn every_refusal_is_the_servers_error_once() {
    for (status, error, code) in [
        (400, "invalid_grant", "invalid_grant"),
        (400, "invalid_scope", "token_rejected"),
        (400, "unauthorized_client", "token_rejected"),
        (401, "invalid_client", "token_rejected"),
    ] {
        let mut config = workload_config(HeadlessCredentials::public("w"));
        config.token_endpoint = Some(FixedTokenEndpoint {
            token_endpoint: EndpointUrl::parse("https://auth.example.com/token").unwrap(),
            issuer: Some(ISSUER.into()),
        });
        let mut flow = HeadlessFlow::new(config);
        let now = UnixTime(1_800_000_000);
        flow.begin(now).unwrap();
        assert!(flow.poll_request().is_none(), "the assertion comes first");
        let ask = flow.poll_signature().expect("asks for the assertion");
        flow.provide_assertion(now, ask.id, JWT_A).unwrap();
        let req = flow.poll_request().expect("the grant request");
        let body = format!(r#"{{"error":"{error}","error_description":"said the server"}}"#);
        let e = flow.handle_response(now, req.id, HttpResponse::json(status, &body)).unwrap_err();
        assert_eq!(e.code(), code, "{error}");
        assert!(e.to_string().contains(error), "{e}");
        assert!(e.to_string().contains("said the server"), "{e}");
        // Nothing more: no retry, no other grant, no timer.
        assert!(flow.poll_request().is_none() && flow.poll_signature().is_none(), "{error}");
        assert!(!flow.is_busy() && flow.poll_timeout().is_none(), "{error}");
    }
}

#[test]
fn the_assertion_is_bound_to_the_issuer_like_a_secret() {
    let mut world = World::new();
    world.workload_assertions = vec![JWT_A.into()];
    // Configured for another authorization server: refused before the assertion is read.
    let client =
        HeadlessCredentials::public("w").with_issuers(vec!["https://other.example".into()]);
    let mut flow = HeadlessFlow::new(workload_config(client));
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].code(), "credential_issuer_mismatch");
    assert!(seen.signatures.is_empty() && seen.token_requests().is_empty());
    // Not configured: the first issuer is pinned, even for a public client.
    let mut flow = HeadlessFlow::new(workload_config(HeadlessCredentials::public("w")));
    let seen = begin(&mut flow, &mut world, Ok(JWT_A));
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert!(seen
        .events
        .iter()
        .any(|e| matches!(e, FlowEvent::CredentialPinned { issuer, .. } if issuer == ISSUER)));
}
