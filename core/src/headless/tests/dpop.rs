//! DPoP (RFC 9449) for the headless grants: a proof on the grant request when the mode says so,
//! the `use_dpop_nonce` retry at the token endpoint (§8) and at the MCP server (§9), the DPoP
//! token type only after a proof, resource proofs with `ath`, never Bearer for a bound token.

use std::sync::atomic::{AtomicU8, Ordering};

use serde_json::Value;

use super::*;
use crate::dpop::{self, DpopKey, DpopMode, DpopSigner, PublicJwk};
use crate::flow::{ResourceDecision, ResourceResponse};

/// base64url without padding (RFC 4648 §5), decoded independently of the code under test.
fn base64url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url character") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

fn part(proof: &str, i: usize) -> Value {
    let segment = proof.split('.').nth(i).expect("a compact JWS");
    serde_json::from_slice(&base64url_decode(segment)).expect("JSON")
}

/// A signer without cryptography: the core never verifies, the peers' tests do.
struct FakeSigner {
    key: DpopKey,
    counter: AtomicU8,
}

impl DpopSigner for FakeSigner {
    fn key(&self) -> &DpopKey {
        &self.key
    }
    fn jti_random(&self) -> [u8; 16] {
        [self.counter.fetch_add(1, Ordering::Relaxed); 16]
    }
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, String> {
        Ok(signing_input.iter().rev().take(64).copied().collect())
    }
}

fn signer() -> Arc<FakeSigner> {
    Arc::new(FakeSigner {
        key: DpopKey {
            alg: "ES256".into(),
            jwk: PublicJwk::Ec { crv: "P-256".into(), x: "xx".into(), y: "yy".into() },
        },
        counter: AtomicU8::new(1),
    })
}

/// A world with a client secret whose AS advertises DPoP (`advertised`) and whose resource
/// requires DPoP-bound tokens (`required`).
fn dpop_world(advertised: bool, required: bool) -> World {
    let mut world = world_with_secret("svc", "s3cret");
    if advertised {
        world.as_at[0].1["dpop_signing_alg_values_supported"] = json!(["ES256", "EdDSA"]);
    }
    world.prm["dpop_bound_access_tokens_required"] = json!(required);
    world
}

fn dpop_flow(mode: DpopMode, with_signer: bool) -> HeadlessFlow {
    let mut config =
        HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    config.dpop = mode;
    dpop_flow_with(config, with_signer)
}

fn dpop_flow_with(config: HeadlessConfig, with_signer: bool) -> HeadlessFlow {
    let mut flow = HeadlessFlow::new(config);
    if with_signer {
        flow.set_dpop_signer(signer());
    }
    flow
}

fn begin(flow: &mut HeadlessFlow, world: &mut World) -> Seen {
    let r = flow.begin(world.now);
    let mut seen = drive(flow, world);
    seen.errors.splice(0..0, r.err());
    seen
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn answer<'a>(
    status: u16,
    www_authenticate: Option<&'a str>,
    token_used: Option<&'a AccessToken>,
    dpop_nonce: Option<&'a str>,
) -> ResourceResponse<'a> {
    ResourceResponse { status, www_authenticate, token_used, operation: "", dpop_nonce }
}

const NONCE_CHALLENGE: &str = r#"DPoP algs="ES256", error="use_dpop_nonce""#;

#[test]
fn client_credentials_with_a_proof_and_the_token_endpoints_nonce() {
    let mut world = dpop_world(true, true);
    world.dpop_nonce = Some("as-nonce-1".into());
    let mut flow = dpop_flow(DpopMode::Auto, true);
    let seen = begin(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    // The first grant request is refused for want of the nonce; the retry carries it.
    let posts = seen.token_requests();
    assert_eq!(posts.len(), 2, "one nonce retry");
    assert_eq!(posts[0].body, posts[1].body, "the same request");
    assert_ne!(posts[0].id, posts[1].id);
    let (first, retry) = (posts[0].header("dpop").unwrap(), posts[1].header("dpop").unwrap());
    let head = part(first, 0);
    assert_eq!(head["typ"], "dpop+jwt");
    assert_eq!(head["alg"], "ES256");
    assert_eq!(head["jwk"], json!({"crv": "P-256", "kty": "EC", "x": "xx", "y": "yy"}));
    let claims = part(first, 1);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{ISSUER}/token"));
    assert!(claims.get("nonce").is_none() && claims.get("ath").is_none(), "{claims}");
    let claims = part(retry, 1);
    assert_eq!(claims["nonce"], "as-nonce-1");
    assert_ne!(claims["jti"], part(first, 1)["jti"], "a fresh proof");
    let (_, tokens) = flow.tokens().unwrap();
    assert!(tokens.is_dpop_bound());
    let token = tokens.access_token.secret().to_owned();
    // RFC 9449 §7.1: never Bearer for a DPoP-bound token.
    let auth = flow.authorization_header(world.now, MCP).unwrap().unwrap();
    assert_eq!(auth, format!("DPoP {token}"));

    // The next token (expiry) uses the nonce it knows: no refusal.
    world.now = UnixTime(world.now.secs() + 7200);
    let before = world.dpop_proofs.len();
    let seen = begin(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(world.dpop_proofs.len(), before + 1, "the cached nonce, no retry");
}

#[test]
fn resource_requests_carry_ath_and_the_mcp_servers_nonce_once_retried() {
    let mut world = dpop_world(true, true);
    let mut flow = dpop_flow(DpopMode::Auto, true);
    assert!(begin(&mut flow, &mut world).errors.is_empty());
    let token = flow.access_token(world.now).unwrap().clone();
    let headers = flow.resource_request_headers(world.now, "post", &format!("{MCP}?q=1")).unwrap();
    assert_eq!(
        header(&headers, "authorization"),
        Some(format!("DPoP {}", token.secret()).as_str())
    );
    let claims = part(header(&headers, "dpop").expect("a proof"), 1);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], MCP, "no query (RFC 9449 §4.2)");
    assert_eq!(claims["ath"], dpop::ath(token.secret()));
    assert!(claims.get("nonce").is_none());

    // §9: 401 use_dpop_nonce with a nonce → retry with it, the token kept.
    let a = answer(401, Some(NONCE_CHALLENGE), Some(&token), Some("rs-nonce-1"));
    assert_eq!(flow.handle_resource_response(world.now, &a).unwrap(), ResourceDecision::Retry);
    assert_eq!(flow.access_token(world.now), Some(&token), "not dropped");
    assert!(flow.poll_request().is_none(), "no token request");
    let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    let retry = part(header(&headers, "dpop").unwrap(), 1);
    assert_eq!(retry["nonce"], "rs-nonce-1");
    assert_ne!(retry["jti"], claims["jti"]);
    // Accepted: the count starts over; a later answer's nonce is used next.
    let ok = answer(200, None, Some(&token), Some("rs-nonce-2"));
    assert_eq!(
        flow.handle_resource_response(world.now, &ok).unwrap(),
        ResourceDecision::PassThrough
    );
    let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    assert_eq!(part(header(&headers, "dpop").unwrap(), 1)["nonce"], "rs-nonce-2");

    // A server that refuses every nonce it sends: the core ends the loop.
    let mut decisions = Vec::new();
    for i in 0..3 {
        let n = format!("n{i}");
        let a = answer(401, Some(NONCE_CHALLENGE), Some(&token), Some(&n));
        decisions.push(flow.handle_resource_response(world.now, &a).map_err(|e| e.code()));
    }
    let retry = Ok(ResourceDecision::Retry);
    assert_eq!(decisions, [retry, retry, Err("token_rejected_by_resource")]);
    // A nonce refusal without a nonce cannot be retried: the usual 401 (a new token).
    let a = answer(401, Some(NONCE_CHALLENGE), Some(&token), None);
    assert_eq!(flow.handle_resource_response(world.now, &a).unwrap(), ResourceDecision::Retry);
    assert!(flow.tokens().is_none(), "dropped: a new one is being obtained");
}

#[test]
fn the_mode_decides_when_grant_requests_carry_a_proof() {
    // (mode, AS advertises, resource requires, signer) → proof sent
    let cases = [
        (DpopMode::Auto, true, true, true, true),
        (DpopMode::Auto, true, false, true, false),
        (DpopMode::Auto, false, true, true, false),
        (DpopMode::Auto, true, true, false, false),
        (DpopMode::Never, true, true, true, false),
        (DpopMode::Always, false, false, true, true),
    ];
    for (mode, advertised, required, with_signer, expected) in cases {
        let mut world = dpop_world(advertised, required);
        let mut flow = dpop_flow(mode, with_signer);
        let seen = begin(&mut flow, &mut world);
        let case = (mode, advertised, required, with_signer);
        assert!(seen.errors.is_empty(), "{case:?}: {:?}", seen.errors);
        let proofs: Vec<bool> = world.dpop_proofs.iter().map(Option::is_some).collect();
        assert_eq!(proofs, [expected], "{case:?}");
        let (_, tokens) = flow.tokens().unwrap();
        assert_eq!(tokens.is_dpop_bound(), expected, "{case:?}");
        let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
        let scheme = if expected { "DPoP " } else { "Bearer " };
        assert!(header(&headers, "authorization").unwrap().starts_with(scheme), "{case:?}");
        assert_eq!(header(&headers, "dpop").is_some(), expected, "{case:?}");
    }

    // Always without a key: refused before anything is sent to the token endpoint.
    let mut world = dpop_world(true, true);
    let mut flow = dpop_flow(DpopMode::Always, false);
    let seen = begin(&mut flow, &mut world);
    assert_eq!(seen.errors.iter().map(Error::code).collect::<Vec<_>>(), ["dpop_signer_missing"]);
    assert!(seen.token_requests().is_empty());
    // A server whose algorithms the key cannot sign with.
    let mut world = dpop_world(true, true);
    world.as_at[0].1["dpop_signing_alg_values_supported"] = json!(["EdDSA"]);
    let mut flow = dpop_flow(DpopMode::Auto, true);
    let seen = begin(&mut flow, &mut world);
    assert_eq!(
        seen.errors.iter().map(Error::code).collect::<Vec<_>>(),
        ["dpop_no_common_algorithm"]
    );
}

#[test]
fn a_dpop_token_type_is_accepted_only_after_a_proof() {
    let mut world = dpop_world(true, false);
    let mut flow = dpop_flow(DpopMode::Auto, true);
    flow.begin(world.now).unwrap();
    let mut token_request = None;
    while let Some(req) = flow.poll_request() {
        if req.method == crate::http::Method::Post {
            token_request = Some(req);
            break;
        }
        let resp = world.handle(&req).unwrap();
        flow.handle_response(world.now, req.id, resp).unwrap();
    }
    let req = token_request.expect("the grant request");
    assert_eq!(req.header("dpop"), None, "the resource does not need DPoP");
    let resp = HttpResponse::json(200, r#"{"access_token":"at-x","token_type":"DPoP"}"#);
    let e = flow.handle_response(world.now, req.id, resp).unwrap_err();
    assert_eq!(e.code(), "unsupported_token_type", "{e}");
    assert!(flow.tokens().is_none());
}

#[test]
fn cross_app_and_workload_grants_carry_a_proof_at_the_authorization_server_only() {
    let mut world = dpop_world(true, true);
    world.dpop_nonce = Some("as-nonce".into());
    world.secrets.insert("app-at-idp".into(), "idp-secret".into());
    let mut config = HeadlessConfig::new(MCP, HeadlessCredentials::public("app")).unwrap();
    config.cross_app = Some(CrossAppConfig {
        idp_issuer: None,
        idp_token_endpoint: Some(EndpointUrl::parse(&format!("{IDP}/token")).unwrap()),
        idp_client: HeadlessCredentials::secret("app-at-idp", "idp-secret"),
        id_token: IdToken::new("id-token"),
    });
    let mut flow = dpop_flow_with(config, true);
    let seen = begin(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let posts = seen.token_requests();
    let purposes: Vec<_> = posts.iter().map(|r| (r.purpose, r.header("dpop").is_some())).collect();
    assert_eq!(
        purposes,
        [
            (Purpose::IdentityAssertionExchange, false),
            (Purpose::JwtBearerGrant, true),
            (Purpose::JwtBearerGrant, true),
        ],
        "no proof at the identity provider; the grant and its nonce retry with one"
    );
    assert_eq!(part(posts[2].header("dpop").unwrap(), 1)["nonce"], "as-nonce");
    assert!(flow.tokens().unwrap().1.is_dpop_bound());

    // Workload identity: the platform's assertion, then the grant with a proof.
    let mut world = dpop_world(true, true);
    const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3In0.c2ln";
    world.workload_assertions.push(JWT.into());
    let mut config = HeadlessConfig::new(MCP, HeadlessCredentials::public("wl")).unwrap();
    config.workload_identity = true;
    let mut flow = dpop_flow_with(config, true);
    flow.begin(world.now).unwrap();
    let mut sent = Vec::new();
    loop {
        if let Some(req) = flow.poll_request() {
            let resp = world.handle(&req).unwrap();
            flow.handle_response(world.now, req.id, resp).unwrap();
            sent.push(req);
        } else if let Some(sig) = flow.poll_signature() {
            flow.provide_assertion(world.now, sig.id, JWT).unwrap();
        } else {
            break;
        }
    }
    let grant = sent.iter().find(|r| r.method == crate::http::Method::Post).unwrap();
    assert!(grant.header("dpop").is_some());
    assert!(flow.tokens().unwrap().1.is_dpop_bound());
}

#[test]
fn a_service_account_follows_the_resources_dpop_challenge() {
    let mut world = dpop_world(false, false);
    let mut config =
        HeadlessConfig::new(MCP, HeadlessCredentials::secret("svc", "s3cret")).unwrap();
    config.token_endpoint = Some(FixedTokenEndpoint {
        token_endpoint: EndpointUrl::parse(&format!("{ISSUER}/token")).unwrap(),
        issuer: Some(ISSUER.into()),
    });
    let mut flow = dpop_flow_with(config, true);
    assert!(begin(&mut flow, &mut world).errors.is_empty());
    assert_eq!(world.dpop_proofs, [None], "nothing says DPoP yet");
    let bearer = flow.access_token(world.now).unwrap().clone();
    // The MCP server wants DPoP-bound tokens: a new token, with a proof.
    let challenge = r#"DPoP algs="ES256", error="invalid_request""#;
    let a = answer(401, Some(challenge), Some(&bearer), None);
    assert_eq!(flow.handle_resource_response(world.now, &a).unwrap(), ResourceDecision::Retry);
    let seen = drive(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(world.dpop_proofs.len(), 2);
    assert!(world.dpop_proofs[1].is_some());
    let (_, tokens) = flow.tokens().unwrap();
    assert!(tokens.is_dpop_bound());
    // Refused again (a bound token): the server's words, no loop.
    let t = tokens.access_token.clone();
    let a = answer(401, Some(challenge), Some(&t), None);
    let e = flow.handle_resource_response(world.now, &a).unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
}

#[test]
fn dpop_never_against_a_dpop_only_resource_says_so() {
    let mut world = dpop_world(true, true);
    let mut flow = dpop_flow(DpopMode::Never, true);
    assert!(begin(&mut flow, &mut world).errors.is_empty());
    let t = flow.access_token(world.now).unwrap().clone();
    let a = answer(401, Some(r#"DPoP algs="ES256""#), Some(&t), None);
    let e = flow.handle_resource_response(world.now, &a).unwrap_err();
    assert_eq!(e.code(), "token_rejected_by_resource");
    assert!(e.to_string().contains("accepts only DPoP-bound tokens"), "{e}");
    assert!(e.to_string().contains("dpop: never"), "{e}");
    assert!(flow.poll_request().is_none(), "no new token: it would be refused the same way");
    // A server that also takes Bearer: the usual renewal.
    let a = answer(401, Some(r#"DPoP algs="ES256", Bearer error="invalid_token""#), Some(&t), None);
    assert_eq!(flow.handle_resource_response(world.now, &a).unwrap(), ResourceDecision::Retry);
}

#[test]
fn a_nonce_retry_is_built_anew_once() {
    // private_key_jwt: the retry carries a new client assertion (its jti may be recorded,
    // RFC 7523 §3 item 7) and a new proof with the nonce.
    let mut world = dpop_world(true, true);
    world.dpop_nonce = Some("as-nonce".into());
    let config = HeadlessConfig::new(MCP, HeadlessCredentials::private_key_jwt("svc")).unwrap();
    let mut flow = dpop_flow_with(config, true);
    let seen = begin(&mut flow, &mut world);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.signatures.len(), 2, "one client assertion per grant request");
    let posts = seen.token_requests();
    assert_eq!(posts.len(), 2);
    assert_eq!(part(posts[1].header("dpop").unwrap(), 1)["nonce"], "as-nonce");
    assert!(flow.tokens().unwrap().1.is_dpop_bound());

    // A server that refuses the retry too: its error, no third request.
    let mut world = dpop_world(true, true);
    let mut flow = dpop_flow(DpopMode::Auto, true);
    flow.begin(world.now).unwrap();
    let (mut posts, mut errors) = (0, Vec::new());
    while let Some(req) = flow.poll_request() {
        let resp = if req.method == crate::http::Method::Post {
            posts += 1;
            let nonce = format!("n{posts}");
            HttpResponse::new(
                400,
                vec![
                    ("content-type".into(), "application/json".into()),
                    ("DPoP-Nonce".into(), nonce),
                ],
                r#"{"error":"use_dpop_nonce"}"#,
            )
        } else {
            world.handle(&req).unwrap()
        };
        errors.extend(flow.handle_response(world.now, req.id, resp).err().map(|e| e.code()));
    }
    assert_eq!(posts, 2, "one retry");
    assert_eq!(errors, ["token_rejected"]);
    assert!(!flow.is_busy());
}
