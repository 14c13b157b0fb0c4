//! DPoP in the flow (RFC 9449): proofs on token requests, the nonce retry at the token endpoint
//! and at the MCP server, DPoP token types, resource proofs with `ath`, never Bearer for a
//! bound token.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::super::tests::harness::{authorize, drain, entropy, World, ISSUER, MCP, REDIRECT};
use crate::dpop::{self, DpopKey, DpopMode, DpopSigner, PublicJwk};
use crate::flow::{AuthFlow, FlowConfig, ResourceDecision, ResourceResponse};
use crate::registration::ClientConfig;

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

/// The claims of a proof (the harness's token endpoint reads the nonce with it).
pub(crate) fn proof_claims(proof: &str) -> Value {
    part(proof, 1)
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

/// A world whose AS advertises DPoP and whose resource requires DPoP-bound tokens.
fn dpop_world(required: bool) -> World {
    let mut world = World::new();
    world.as_at[0].1["dpop_signing_alg_values_supported"] = json!(["ES256", "EdDSA"]);
    world.prm["dpop_bound_access_tokens_required"] = json!(required);
    world
}

fn flow(mode: DpopMode, with_signer: bool) -> AuthFlow {
    let mut config = FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap();
    config.dpop = mode;
    let mut flow = AuthFlow::new(config);
    if with_signer {
        flow.set_dpop_signer(signer());
    }
    flow
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[test]
fn the_code_exchange_carries_a_proof_and_the_token_is_dpop_bound() {
    let mut world = dpop_world(true);
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    let proof = world.dpop_proofs.last().cloned().flatten().expect("a proof on the exchange");
    let head = part(&proof, 0);
    assert_eq!(head["typ"], "dpop+jwt");
    assert_eq!(head["alg"], "ES256");
    assert_eq!(head["jwk"], json!({"crv": "P-256", "kty": "EC", "x": "xx", "y": "yy"}));
    let claims = proof_claims(&proof);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{ISSUER}/token"));
    assert_eq!(claims["iat"], world.now.secs());
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none(), "{claims}");
    let (_, tokens) = flow.tokens().unwrap();
    assert!(tokens.is_dpop_bound());
    // RFC 9449 §7.1: never Bearer for a DPoP-bound token.
    let auth = flow.authorization_header(world.now, MCP).unwrap().unwrap();
    assert_eq!(auth, format!("DPoP {}", tokens.access_token.secret()));
}

#[test]
fn a_resource_request_has_a_fresh_proof_with_ath() {
    let mut world = dpop_world(true);
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    let token = flow.access_token(world.now).unwrap().secret().to_owned();
    let url = format!("{MCP}?x=1");
    let headers = flow.resource_request_headers(world.now, "post", &url).unwrap();
    assert_eq!(header(&headers, "authorization"), Some(format!("DPoP {token}").as_str()));
    let proof = header(&headers, "dpop").expect("a proof");
    let claims = proof_claims(proof);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], MCP, "no query (RFC 9449 §4.2)");
    assert_eq!(claims["ath"], dpop::ath(&token));
    let again = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    let second = header(&again, "dpop").unwrap();
    assert_ne!(proof_claims(second)["jti"], claims["jti"], "a fresh proof per request");
}

#[test]
fn auto_uses_bearer_when_the_resource_does_not_need_dpop() {
    let mut world = dpop_world(false);
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    assert_eq!(world.dpop_proofs.last(), Some(&None));
    let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    assert!(header(&headers, "authorization").unwrap().starts_with("Bearer "));
    assert_eq!(header(&headers, "dpop"), None);
}

#[test]
fn auto_uses_dpop_after_a_dpop_challenge() {
    let mut world = dpop_world(false);
    let mut flow = flow(DpopMode::Auto, true);
    let challenge = world.unauthorized(Some(
        r#"DPoP algs="ES256", Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
    ));
    flow.handle_unauthorized(world.now, &challenge, entropy(1)).unwrap();
    let (events, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    let url = super::super::tests::harness::browser_url(&events).unwrap();
    let callback = world.approve(&url);
    flow.handle_callback(world.now, &callback).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(world.dpop_proofs.last().unwrap().is_some());
    assert!(flow.tokens().unwrap().1.is_dpop_bound());
}

#[test]
fn never_sends_no_proof_and_always_needs_a_key() {
    let mut world = dpop_world(true);
    let mut never = flow(DpopMode::Never, true);
    authorize(&mut never, &mut world, 1);
    assert_eq!(world.dpop_proofs.last(), Some(&None));
    assert!(!never.tokens().unwrap().1.is_dpop_bound());

    let mut world = dpop_world(false);
    let mut always = flow(DpopMode::Always, false);
    always.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut always, &mut world);
    let url = super::super::tests::harness::browser_url(&events).unwrap();
    let callback = world.approve(&url);
    let e = always.handle_callback(world.now, &callback).unwrap_err();
    assert_eq!(e.code(), "dpop_signer_missing");
    assert!(world.dpop_proofs.is_empty(), "no token request without the proof");
}

#[test]
fn use_dpop_nonce_at_the_token_endpoint_is_retried_once_with_the_nonce() {
    let mut world = dpop_world(true);
    world.dpop_nonce = Some("as-nonce-1".into());
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    assert_eq!(world.dpop_proofs.len(), 2, "the refused exchange and its retry");
    let first = proof_claims(world.dpop_proofs[0].as_deref().unwrap());
    let retry = proof_claims(world.dpop_proofs[1].as_deref().unwrap());
    assert!(first.get("nonce").is_none());
    assert_eq!(retry["nonce"], "as-nonce-1");
    assert_ne!(first["jti"], retry["jti"]);
    assert!(flow.tokens().unwrap().1.is_dpop_bound());

    // The refresh uses the nonce it knows: one request. It carries a proof: the token is bound.
    world.now = world.now.plus(3600);
    flow.handle_timeout(world.now).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(world.dpop_proofs.len(), 3);
    assert_eq!(proof_claims(world.dpop_proofs[2].as_deref().unwrap())["nonce"], "as-nonce-1");
    assert_eq!(world.token_requests[2][0], ("grant_type".into(), "refresh_token".into()));

    // A server that refuses the retry too: the error, no third attempt.
    world.dpop_nonce = Some("as-nonce-2".into());
    let before = world.dpop_proofs.len();
    world.now = world.now.plus(3600);
    flow.handle_timeout(world.now).unwrap();
    let (_, errors) = drain(&mut flow, &mut world);
    assert_eq!(world.dpop_proofs.len(), before + 2, "one refusal, then the nonce retry");
    assert!(errors.is_empty(), "the retry with as-nonce-2 succeeds: {errors:?}");
}

#[test]
fn a_retry_refused_again_is_an_error() {
    let mut world = dpop_world(true);
    let mut flow = flow(DpopMode::Auto, true);
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let url = super::super::tests::harness::browser_url(&events).unwrap();
    let callback = world.approve(&url);
    flow.handle_callback(world.now, &callback).unwrap();
    // A server that wants a new nonce on every request.
    let mut answered = 0;
    while let Some(req) = flow.poll_request() {
        answered += 1;
        let refusal = crate::http::HttpResponse::new(
            400,
            vec![
                ("content-type".into(), "application/json".into()),
                ("DPoP-Nonce".into(), format!("n-{answered}")),
            ],
            r#"{"error":"use_dpop_nonce"}"#,
        );
        let result = flow.handle_response(world.now, req.id, refusal);
        if answered == 2 {
            assert_eq!(result.unwrap_err().code(), "token_rejected");
        }
    }
    assert_eq!(answered, 2, "the request and one retry");
}

#[test]
fn a_dpop_token_type_without_a_proof_is_refused() {
    let body = r#"{"access_token":"a","token_type":"DPoP"}"#;
    let resp = crate::http::HttpResponse::json(200, body);
    let now = crate::time::UnixTime(1);
    let e = crate::token::process_token_response(&resp, now, None, None).unwrap_err();
    assert_eq!(e.code(), "unsupported_token_type");
    let t = crate::token::process_token_response_dpop(&resp, now, None, None, true).unwrap();
    assert!(t.is_dpop_bound());
    let bearer =
        crate::http::HttpResponse::json(200, r#"{"access_token":"a","token_type":"bearer"}"#);
    let t = crate::token::process_token_response_dpop(&bearer, now, None, None, true).unwrap();
    assert!(!t.is_dpop_bound(), "a server may issue Bearer after a proof (RFC 9449 §5)");
}

#[test]
fn use_dpop_nonce_at_the_mcp_server_retries_with_the_new_nonce() {
    let mut world = dpop_world(true);
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    let token = flow.access_token(world.now).cloned().unwrap();
    let refusal = |nonce: &'static str| ResourceResponse {
        status: 401,
        www_authenticate: Some(r#"DPoP error="use_dpop_nonce", error_description="nonce""#),
        token_used: None,
        operation: "tools/list",
        dpop_nonce: Some(nonce),
    };
    let mut answer = refusal("rs-1");
    answer.token_used = Some(&token);
    let d = flow.handle_resource_response(world.now, &answer, entropy(2)).unwrap();
    assert_eq!(d, ResourceDecision::Retry);
    assert!(flow.poll_request().is_none(), "no refresh, no authorization: only the nonce");
    let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    let claims = proof_claims(header(&headers, "dpop").unwrap());
    assert_eq!(claims["nonce"], "rs-1");
    assert_eq!(claims["ath"], dpop::ath(token.secret()));
    // Accepted: the count starts over; a server refusing every nonce ends in an error.
    let ok = ResourceResponse { status: 200, dpop_nonce: Some("rs-2"), ..answer };
    assert_eq!(
        flow.handle_resource_response(world.now, &ok, entropy(3)),
        Ok(ResourceDecision::PassThrough)
    );
    let headers = flow.resource_request_headers(world.now, "POST", MCP).unwrap();
    assert_eq!(proof_claims(header(&headers, "dpop").unwrap())["nonce"], "rs-2");
    let mut decisions = Vec::new();
    for n in ["rs-3", "rs-4", "rs-5"] {
        let mut a = refusal(n);
        a.token_used = Some(&token);
        decisions
            .push(flow.handle_resource_response(world.now, &a, entropy(4)).map_err(|e| e.code()));
    }
    assert_eq!(
        decisions,
        vec![
            Ok(ResourceDecision::Retry),
            Ok(ResourceDecision::Retry),
            Err("token_rejected_by_resource")
        ]
    );
}

#[test]
fn the_persisted_discovery_keeps_the_dpop_metadata() {
    let mut world = dpop_world(true);
    let mut flow = flow(DpopMode::Auto, true);
    authorize(&mut flow, &mut world, 1);
    let discovery = flow.discovery().unwrap().clone();
    let text = discovery.to_json().to_text();
    let back = crate::flow::Discovery::from_json(&text).unwrap();
    assert_eq!(back, discovery);
    assert!(back.resource_metadata.as_ref().unwrap().dpop_bound_access_tokens_required);
    let algs = back.server.dpop_signing_alg_values_supported.clone().unwrap();
    assert_eq!(algs, vec!["ES256".to_owned(), "EdDSA".to_owned()]);
    // Written before DPoP support: the members are absent and read as false / none.
    let old = text
        .replace(r#","dpop_bound_access_tokens_required":true"#, "")
        .replace(r#","dpop_signing_alg_values_supported":["ES256","EdDSA"]"#, "");
    assert!(!old.contains("dpop"), "{old}");
    let back = crate::flow::Discovery::from_json(&old).unwrap();
    assert!(!back.resource_metadata.unwrap().dpop_bound_access_tokens_required);
    assert_eq!(back.server.dpop_signing_alg_values_supported, None);
}
