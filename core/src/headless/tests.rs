//! The headless flow against the in-memory world of core/src/flow/tests/harness.rs (its token
//! endpoint also plays the identity provider of cross-app access).

use serde_json::json;

use super::*;
use crate::encoding;
use crate::flow::tests::harness::{as_document, World, ISSUER, MCP};
use crate::http::Purpose;
use crate::policy::ServerPolicy;
use crate::secret::IdToken;
use crate::token::TokenEndpointAuth;
use crate::token_exchange::token_types;
use crate::url::IssuerUrl;

const IDP: &str = "https://idp.example.com";

/// What one drive saw.
#[derive(Default)]
struct Seen {
    requests: Vec<HttpRequest>,
    signatures: Vec<SigningRequest>,
    events: Vec<FlowEvent>,
    errors: Vec<Error>,
}

impl Seen {
    fn token_requests(&self) -> Vec<&HttpRequest> {
        self.requests.iter().filter(|r| r.method == crate::http::Method::Post).collect()
    }
}

fn form(req: &HttpRequest) -> Vec<(String, String)> {
    encoding::form_decode(&req.body_text()).unwrap()
}

fn param(req: &HttpRequest, name: &str) -> Option<String> {
    form(req).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", encoding::base64_std(format!("{id}:{secret}").as_bytes()))
}

/// The drain contract: requests and signatures until both are empty, then events. The test
/// signer answers `jws:<iss>:<aud>`, which the world accepts as a valid assertion.
fn drive(flow: &mut HeadlessFlow, world: &mut World) -> Seen {
    let mut seen = Seen::default();
    loop {
        if let Some(req) = flow.poll_request() {
            let r = match world.handle(&req) {
                Ok(resp) => flow.handle_response(world.now, req.id, resp),
                Err(msg) => flow.handle_transport_error(world.now, req.id, &msg),
            };
            seen.errors.extend(r.err());
            seen.requests.push(req);
        } else if let Some(sig) = flow.poll_signature() {
            let jwt = format!("jws:{}:{}", sig.claims.iss, sig.claims.aud);
            seen.errors.extend(flow.provide_assertion(world.now, sig.id, &jwt).err());
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

fn start(config: HeadlessConfig, world: &mut World) -> (HeadlessFlow, Seen) {
    let mut flow = HeadlessFlow::new(config);
    let r = flow.begin(world.now);
    let mut seen = drive(&mut flow, world);
    seen.errors.splice(0..0, r.err());
    (flow, seen)
}

fn world_with_secret(id: &str, secret: &str) -> World {
    let mut world = World::new();
    world.secrets.insert(id.into(), secret.into());
    world.issue_refresh = false;
    world
}

fn auth_methods(world: &mut World, methods: serde_json::Value) {
    world.as_at[0].1["token_endpoint_auth_methods_supported"] = methods;
}

#[test]
fn client_secret_method_follows_the_metadata() {
    for (methods, basic_expected) in [
        (None, true),
        (Some(json!(["client_secret_post", "client_secret_basic"])), true),
        (Some(json!(["private_key_jwt", "client_secret_post"])), false),
    ] {
        let mut world = world_with_secret("svc", "s3cret");
        if let Some(m) = methods.clone() {
            auth_methods(&mut world, m);
        }
        let config =
            HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
        let (flow, seen) = start(config, &mut world);
        assert!(seen.errors.is_empty(), "{methods:?}: {:?}", seen.errors);
        let urls: Vec<&str> = seen.requests.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/token",
            ]
        );
        let token = seen.token_requests()[0];
        assert_eq!(token.purpose, Purpose::ClientCredentials);
        assert_eq!(param(token, "grant_type").as_deref(), Some("client_credentials"));
        // The scope rule of the authorization-code flow: the resource's scopes_supported.
        assert_eq!(param(token, "scope").as_deref(), Some("files:read"));
        assert_eq!(param(token, "resource").as_deref(), Some(MCP));
        if basic_expected {
            assert_eq!(token.header("authorization"), Some(basic("svc", "s3cret").as_str()));
            assert_eq!(param(token, "client_secret"), None);
        } else {
            assert_eq!(token.header("authorization"), None);
            assert_eq!(param(token, "client_secret").as_deref(), Some("s3cret"));
        }
        assert!(matches!(seen.events[0], FlowEvent::MetadataDiscovered(_)));
        assert_eq!(
            seen.events[1],
            FlowEvent::CredentialPinned { issuer: ISSUER.into(), client_id: "svc".into() }
        );
        let FlowEvent::TokensUpdated { issuer, resource, tokens } = &seen.events[2] else {
            panic!("{:?}", seen.events)
        };
        assert_eq!((issuer.as_str(), resource.as_str()), (ISSUER, MCP));
        assert!(world.mcp_accepts(Some(&format!("Bearer {}", tokens.access_token.secret()))));
        assert_eq!(flow.access_token(world.now), Some(&tokens.access_token));
        assert_eq!(
            flow.authorization_header(world.now, MCP).unwrap(),
            Some(format!("Bearer {}", tokens.access_token.secret()))
        );
        let e = flow.authorization_header(world.now, "https://other.example.com/mcp");
        assert_eq!(e.unwrap_err().code(), "token_for_other_resource");
    }
    // A configured method wins; a server that takes no secret method is a clear error.
    let mut world = world_with_secret("svc", "s3cret");
    auth_methods(&mut world, json!(["private_key_jwt"]));
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    let (_, seen) = start(config.clone(), &mut world);
    assert_eq!(seen.errors[0].code(), "no_supported_auth_method");
    assert!(seen.token_requests().is_empty());
    assert!(matches!(seen.events.last(), Some(FlowEvent::Failed(_))));
    let mut forced = config;
    forced.client = forced.client.with_method(TokenEndpointAuth::ClientSecretPost);
    let (_, seen) = start(forced, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(param(seen.token_requests()[0], "client_secret").as_deref(), Some("s3cret"));
}

#[test]
fn private_key_jwt_asks_the_host_to_sign() {
    let mut world = World::new();
    world.issue_refresh = false;
    let mut config =
        HeadlessConfig::new(MCP, HeadlessCredentials::private_key_jwt("svc-key")).unwrap();
    config.scopes = Some("files:write".into());
    let mut flow = HeadlessFlow::new(config);
    flow.begin(world.now).unwrap();
    // Discovery first; the signature is asked for once the issuer is known.
    let mut sig = None;
    while sig.is_none() {
        let req = flow.poll_request().expect("a discovery request");
        flow.handle_response(world.now, req.id, world.handle(&req).unwrap()).unwrap();
        sig = flow.poll_signature();
    }
    let sig = sig.unwrap();
    assert_eq!(sig.signer, AssertionFor::AuthorizationServer);
    assert_eq!((sig.claims.iss.as_str(), sig.claims.sub.as_str()), ("svc-key", "svc-key"));
    assert_eq!(sig.claims.aud, ISSUER, "RFC 7523 §3 item 3: the issuer");
    assert_eq!(sig.claims.jti, None, "the signer adds jti");
    assert!(flow.poll_request().is_none(), "nothing is sent before the assertion");
    assert_eq!(
        flow.provide_assertion(world.now, sig.id + 1, "x").unwrap_err().code(),
        "unknown_request"
    );
    flow.provide_assertion(world.now, sig.id, "jws:svc-key:https://auth.example.com").unwrap();
    let req = flow.poll_request().unwrap();
    assert_eq!(
        param(&req, "client_assertion").as_deref(),
        Some("jws:svc-key:https://auth.example.com")
    );
    assert_eq!(param(&req, "scope").as_deref(), Some("files:write"), "configured scopes win");
    flow.handle_response(world.now, req.id, world.handle(&req).unwrap()).unwrap();
    assert!(flow.access_token(world.now).is_some());

    // A signer that fails fails the attempt.
    let mut flow = HeadlessFlow::new(
        HeadlessConfig::new(MCP, HeadlessCredentials::private_key_jwt("svc-key")).unwrap(),
    );
    flow.use_discovery(world_discovery(&mut world));
    flow.begin(world.now).unwrap();
    let sig = flow.poll_signature().expect("cached discovery: the signature at once");
    let e = flow.handle_signing_error(sig.id, "no key").unwrap_err();
    assert_eq!(e.code(), "assertion_signing_failed");
    assert!(!flow.is_busy());
}

fn world_discovery(world: &mut World) -> Discovery {
    let mut flow =
        HeadlessFlow::new(HeadlessConfig::new(MCP, HeadlessCredentials::public("x")).unwrap());
    flow.begin(world.now).unwrap();
    drive(&mut flow, world);
    flow.discovery().cloned().expect("discovered")
}

fn cross_app(idp_client: HeadlessCredentials, issuer: bool) -> CrossAppConfig {
    CrossAppConfig {
        idp_issuer: issuer.then(|| IssuerUrl::parse(IDP).unwrap()),
        idp_token_endpoint: (!issuer).then(|| EndpointUrl::parse(&format!("{IDP}/token")).unwrap()),
        idp_client,
        id_token: IdToken::new("id-token"),
    }
}

#[test]
fn cross_app_exchanges_the_id_token_then_redeems_the_id_jag() {
    let mut world = world_with_secret("app-at-idp", "idp-secret");
    let mut config = HeadlessConfig::new(MCP, HeadlessCredentials::public("app")).unwrap();
    config.cross_app =
        Some(cross_app(HeadlessCredentials::secret("app-at-idp", "idp-secret"), false));
    let (flow, seen) = start(config.clone(), &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let posts = seen.token_requests();
    assert_eq!(posts.len(), 2);
    let (exchange, grant) = (posts[0], posts[1]);
    assert_eq!(exchange.url, "https://idp.example.com/token");
    assert_eq!(exchange.purpose, Purpose::IdentityAssertionExchange);
    assert_eq!(param(exchange, "subject_token").as_deref(), Some("id-token"));
    assert_eq!(param(exchange, "audience").as_deref(), Some(ISSUER), "SEP-990 §4");
    assert_eq!(param(exchange, "resource").as_deref(), Some(MCP));
    assert_eq!(param(exchange, "requested_token_type").as_deref(), Some(token_types::ID_JAG));
    // No metadata for the identity provider: the rule's default, client_secret_basic.
    assert_eq!(exchange.header("authorization"), Some(basic("app-at-idp", "idp-secret").as_str()));
    assert_eq!(grant.url, "https://auth.example.com/token");
    assert_eq!(param(grant, "grant_type").as_deref(), Some(jwt_bearer::GRANT_TYPE));
    assert!(param(grant, "assertion").unwrap().starts_with("jag-"));
    assert_eq!(param(grant, "client_id").as_deref(), Some("app"), "a public client");
    assert_eq!(param(grant, "scope").as_deref(), Some("files:read"));
    assert!(flow.access_token(world.now).is_some());

    // With the identity provider's issuer: its metadata says client_secret_post only, and a
    // private_key_jwt client at the authorization server signs for the issuer.
    let mut idp_doc = as_document(IDP);
    idp_doc["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
    world.as_at.push((format!("{IDP}/.well-known/oauth-authorization-server"), idp_doc));
    config.cross_app =
        Some(cross_app(HeadlessCredentials::secret("app-at-idp", "idp-secret"), true));
    config.client = HeadlessCredentials::private_key_jwt("app");
    let (_, seen) = start(config.clone(), &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert!(seen
        .requests
        .iter()
        .any(|r| r.url == format!("{IDP}/.well-known/oauth-authorization-server")));
    assert!(
        !seen.events.iter().any(
            |e| matches!(e, FlowEvent::MetadataDiscovered(d) if d.server.issuer.as_str() == IDP)
        ),
        "not the MCP server's metadata"
    );
    let posts = seen.token_requests();
    assert_eq!(param(posts[0], "client_secret").as_deref(), Some("idp-secret"));
    assert_eq!(posts[0].header("authorization"), None);
    assert_eq!(seen.signatures.len(), 1);
    assert_eq!(seen.signatures[0].claims.aud, ISSUER);
    assert_eq!(
        param(posts[1], "client_assertion").as_deref(),
        Some("jws:app:https://auth.example.com")
    );

    // private_key_jwt at the identity provider: signed for the identity provider's issuer.
    config.cross_app = Some(cross_app(HeadlessCredentials::private_key_jwt("app-at-idp"), true));
    config.client = HeadlessCredentials::public("app");
    let (_, seen) = start(config.clone(), &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.signatures[0].signer, AssertionFor::IdentityProvider);
    assert_eq!(seen.signatures[0].claims.aud, IDP);

    // The identity provider refuses the ID token: the exchange error, no grant request.
    config.cross_app.as_mut().unwrap().id_token = IdToken::new("expired");
    let (flow, seen) = start(config, &mut world);
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].code(), "token_exchange_rejected");
    assert_eq!(seen.token_requests().len(), 1);
    assert!(flow.access_token(world.now).is_none() && !flow.is_busy());
}

#[test]
fn danger_omit_resource_and_service_account_mode() {
    let mut world = world_with_secret("svc", "s3cret");
    world.require_resource = false;
    let mut config =
        HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    config.policies.push((
        ISSUER.into(),
        ServerPolicy { danger_omit_resource: true, ..ServerPolicy::default() },
    ));
    let (_, seen) = start(config.clone(), &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(param(seen.token_requests()[0], "resource"), None);

    // Service account: the configured endpoint, no discovery, the configured scopes.
    config.policies.clear();
    config.scopes = Some("mcp:tools".into());
    config.token_endpoint = Some(FixedTokenEndpoint {
        token_endpoint: EndpointUrl::parse("https://auth.example.com/token").unwrap(),
        issuer: Some(ISSUER.into()),
    });
    let (flow, seen) = start(config, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.requests.len(), 1, "no discovery");
    assert_eq!(param(&seen.requests[0], "scope").as_deref(), Some("mcp:tools"));
    assert_eq!(param(&seen.requests[0], "resource").as_deref(), Some(MCP));
    assert_eq!(flow.tokens().unwrap().0, ISSUER);
}

#[test]
fn errors_are_returned_and_reported() {
    // Transport failure of the token request.
    let mut world = world_with_secret("svc", "s3cret");
    world.unreachable.push("https://auth.example.com/token".into());
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    let (mut flow, seen) = start(config.clone(), &mut world);
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].code(), "transport_failed");
    assert_eq!(seen.events.last(), Some(&FlowEvent::Failed(seen.errors[0].clone())));
    assert!(!flow.is_busy());
    // The next attempt reuses the discovery and succeeds.
    world.unreachable.clear();
    flow.begin(world.now).unwrap();
    let seen = drive(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.requests.len(), 1);

    // A wrong secret: the server's OAuth error.
    let mut world = world_with_secret("svc", "other");
    let (_, seen) = start(config.clone(), &mut world);
    assert_eq!(seen.errors[0].code(), "token_rejected");
    assert!(seen.errors[0].to_string().contains("invalid_client"));
    // The token endpoint down: a transient error.
    let mut world = world_with_secret("svc", "s3cret");
    world.token_endpoint_down = true;
    let (_, seen) = start(config.clone(), &mut world);
    assert_eq!(seen.errors[0].code(), "token_status");
    // A public client cannot use client credentials (RFC 6749 §4.4.2).
    let public = HeadlessConfig::new(MCP, HeadlessCredentials::public("svc")).unwrap();
    let (_, seen) = start(public, &mut world);
    assert_eq!(seen.errors[0].code(), "client_authentication_required");
    // Credentials bound to another issuer are never sent (SEP-2352).
    let mut bound = config;
    bound.client = bound.client.with_issuers(vec!["https://elsewhere.example.com".into()]);
    let (_, seen) = start(bound, &mut world);
    assert_eq!(seen.errors[0].code(), "credential_issuer_mismatch");
    assert!(seen.token_requests().is_empty());
    // Discovery failing: its error.
    let mut world = World::new();
    world.fail_at.push("https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into());
    let c = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    let (_, seen) = start(c, &mut world);
    assert_eq!(seen.errors.len(), 1);
    assert!(seen.errors[0].code().starts_with("resource_metadata"), "{}", seen.errors[0].code());
}

#[test]
fn expiry_401_and_single_flight() {
    let mut world = world_with_secret("svc", "s3cret");
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    let (mut flow, _) = start(config, &mut world);
    let first = flow.access_token(world.now).cloned().unwrap();
    // Expires in 3600 s; replaced 60 s before.
    assert_eq!(flow.poll_timeout(), Some(world.now.plus(3540)));
    flow.handle_timeout(world.now).unwrap();
    assert!(flow.poll_request().is_none(), "not yet");
    world.now = world.now.plus(3541);
    assert!(flow.access_token(world.now).is_none(), "inside the skew");
    flow.handle_timeout(world.now).unwrap();
    flow.begin(world.now).unwrap(); // absorbed: one request in flight
    let seen = drive(&mut flow, &mut world);
    assert_eq!(seen.requests.len(), 1, "cached discovery, one token request");
    let second = flow.access_token(world.now).cloned().unwrap();
    assert_ne!(first, second);
    // A stale 401 (for the old token) does nothing; one for the current token replaces it.
    flow.handle_unauthorized(world.now, Some(&first)).unwrap();
    assert!(flow.poll_request().is_none());
    flow.handle_unauthorized(world.now, Some(&second)).unwrap();
    let seen = drive(&mut flow, &mut world);
    assert_eq!(seen.events[0], FlowEvent::TokensCleared);
    // The refusal makes the cached discovery stale: the resource metadata is read again (MCP
    // SEP-2352), the authorization server's metadata is reused (same issuer).
    let purposes: Vec<_> = seen.requests.iter().map(|r| r.purpose).collect();
    assert_eq!(purposes, [Purpose::ResourceMetadata, Purpose::ClientCredentials]);
    assert!(matches!(seen.events.last(), Some(FlowEvent::TokensUpdated { .. })));
    assert_ne!(flow.access_token(world.now), Some(&second));
    // An answer nobody asked for.
    let e = flow.handle_response(world.now, RequestId(999), HttpResponse::json(200, "{}"));
    assert_eq!(e.unwrap_err().code(), "unknown_request");
}

/// The resource server's answers, as the core decides them for a headless grant: a 401 to the
/// token held → a new token and `Retry`; the new token refused again → `token_rejected_by_resource`
/// in the server's words; a stale 401 → `Retry` with the current token, nothing sent; a 403
/// `insufficient_scope` → an error (no user to step up); another 403 and a 200 pass through.
#[test]
fn resource_answers_are_the_cores_decision() {
    use crate::flow::{ResourceDecision, ResourceResponse};
    let mut world = world_with_secret("svc", "s3cret");
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    let (mut flow, _) = start(config, &mut world);
    let first = flow.access_token(world.now).cloned().unwrap();
    let answer = |status, www: Option<&'static str>, used| ResourceResponse {
        status,
        www_authenticate: www,
        token_used: used,
        operation: "",
        dpop_nonce: None,
    };
    let ok = flow.handle_resource_response(world.now, &answer(200, None, Some(&first)));
    assert_eq!(ok, Ok(ResourceDecision::PassThrough));
    let bearer = Some(r#"Bearer error="invalid_token", error_description="expired""#);
    let d = flow.handle_resource_response(world.now, &answer(401, bearer, Some(&first)));
    assert_eq!(d, Ok(ResourceDecision::Retry));
    let seen = drive(&mut flow, &mut world);
    assert_eq!(seen.token_requests().len(), 1, "a new token");
    let second = flow.access_token(world.now).cloned().unwrap();
    assert_ne!(first, second);
    // A late 401 for the first token: stale, retry with the current one, nothing sent.
    let d = flow.handle_resource_response(world.now, &answer(401, bearer, Some(&first)));
    assert_eq!(d, Ok(ResourceDecision::Retry));
    assert!(flow.poll_request().is_none());
    assert_eq!(flow.access_token(world.now), Some(&second));
    // The new token refused too: no loop, the server's reason.
    let e = flow.handle_resource_response(world.now, &answer(401, bearer, Some(&second)));
    let e = e.unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
    assert!(e.to_string().contains("invalid_token: expired"), "{e}");
    assert!(flow.poll_request().is_none());
    // 403: insufficient_scope cannot be stepped up; any other 403 is the application's.
    let scope = Some(r#"Bearer error="insufficient_scope", scope="mcp:admin""#);
    let e = flow.handle_resource_response(world.now, &answer(403, scope, Some(&second)));
    assert_eq!(e.unwrap_err().code(), "token_rejected_by_resource");
    let d = flow.handle_resource_response(world.now, &answer(403, None, Some(&second)));
    assert_eq!(d, Ok(ResourceDecision::PassThrough));
    let events = drive(&mut flow, &mut world).events;
    assert_eq!(
        events.iter().filter(|e| matches!(e, FlowEvent::Failed(_))).count(),
        2,
        "the two errors, not the pass-through: {events:?}"
    );
}

mod dpop;
mod workload;
/// MCP SEP-2352: a 401 after the resource moved to another authorization server re-reads its
/// metadata; credentials pinned to the first issuer are refused there before anything is sent.
/// A transient metadata failure keeps the known server.
#[test]
fn a_401_after_the_resource_moved_refuses_pinned_credentials() {
    let as2 = "https://auth2.example.com";
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    // Transient: the metadata answers 500; the token comes from the known server again.
    let mut world = world_with_secret("svc", "s3cret");
    let (mut flow, _) = start(config.clone(), &mut world);
    let held = flow.access_token(world.now).cloned().unwrap();
    world.fail_at.push("https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into());
    flow.handle_unauthorized(world.now, Some(&held)).unwrap();
    let seen = drive(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let purposes: Vec<_> = seen.requests.iter().map(|r| r.purpose).collect();
    assert_eq!(purposes, [Purpose::ResourceMetadata, Purpose::ClientCredentials]);
    // Moved: the secret pinned to the first issuer never goes to the second.
    world.fail_at.clear();
    world.prm["authorization_servers"] = json!([as2]);
    world.as_at.push((format!("{as2}/.well-known/oauth-authorization-server"), as_document(as2)));
    let held = flow.access_token(world.now).cloned().unwrap();
    flow.handle_unauthorized(world.now, Some(&held)).unwrap();
    let seen = drive(&mut flow, &mut world);
    assert_eq!(seen.errors.len(), 1);
    assert_eq!(seen.errors[0].code(), "credential_issuer_mismatch");
    assert!(seen.token_requests().is_empty());
}
