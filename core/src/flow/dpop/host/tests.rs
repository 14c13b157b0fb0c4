//! Proofs signed asynchronously by the host: the token request waits for the signature, the
//! nonce retry asks for a second one, a signing failure is the flow's error, and answers for
//! proofs the flow did not ask for are refused.

use serde_json::json;

use super::super::tests::proof_claims;
use crate::dpop::{self, DpopKey, DpopMode, PublicJwk};
use crate::flow::tests::harness::{browser_url, drain, entropy, World, ISSUER, MCP, REDIRECT};
use crate::flow::{AuthFlow, FlowConfig};
use crate::registration::ClientConfig;
use crate::FlowEvent;

fn key() -> DpopKey {
    DpopKey {
        alg: "ES256".into(),
        jwk: PublicJwk::Ec { crv: "P-256".into(), x: "hx".into(), y: "hy".into() },
    }
}

/// A signature without cryptography: the core never verifies (the peers' tests do).
fn signature(input: &str) -> Vec<u8> {
    input.bytes().rev().take(64).collect()
}

fn world(nonce: Option<&str>) -> World {
    let mut world = World::new();
    world.as_at[0].1["dpop_signing_alg_values_supported"] = json!(["ES256"]);
    world.prm["dpop_bound_access_tokens_required"] = json!(true);
    world.dpop_nonce = nonce.map(str::to_owned);
    world
}

fn host_flow() -> AuthFlow {
    let mut config = FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap();
    config.dpop = DpopMode::Auto;
    let mut flow = AuthFlow::new(config);
    flow.use_host_dpop_signing("ES256");
    flow
}

/// Up to the callback: discovery and registration (no proofs), the callback handled.
fn to_callback(flow: &mut AuthFlow, world: &mut World) {
    flow.handle_unauthorized(world.now, &world.challenge_401(), entropy(1)).unwrap();
    let (events, errors) = drain(flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    let callback = world.approve(&browser_url(&events).unwrap());
    flow.handle_callback(world.now, &callback).unwrap();
}

/// The host's part: the key when wanted, then signs the proof asked for. Returns its input.
fn sign_next(flow: &mut AuthFlow, jti: u8) -> String {
    if flow.dpop_key_wanted() {
        flow.set_dpop_key(key());
    }
    let proof = flow.poll_proof(&[jti; 16]).expect("a proof to sign");
    flow.provide_proof_signature(proof.id, &signature(&proof.signing_input)).unwrap();
    proof.signing_input
}

#[test]
fn the_token_request_waits_for_its_proof_signature() {
    let mut world = world(None);
    let mut flow = host_flow();
    to_callback(&mut flow, &mut world);
    assert!(flow.poll_request().is_none(), "no token request before its proof is signed");
    assert!(flow.dpop_key_wanted(), "the key is made on first need");
    assert_eq!(flow.poll_proof(&[1; 16]), None, "no signing input without the key");
    let jkt = flow.set_dpop_key(key());
    assert_eq!(jkt, key().jwk.thumbprint());
    assert!(!flow.dpop_key_wanted());
    let proof = flow.poll_proof(&[1; 16]).unwrap();
    assert_eq!(flow.poll_proof(&[2; 16]), None, "asked once");
    assert!(flow.poll_request().is_none());
    let sig = signature(&proof.signing_input);
    flow.provide_proof_signature(proof.id, &sig).unwrap();
    let req = flow.poll_request().expect("the code exchange, now");
    let sent = req.header("dpop").unwrap().to_owned();
    assert_eq!(sent, dpop::assemble(&proof.signing_input, &sig));
    let claims = proof_claims(&sent);
    assert_eq!(claims["htu"], format!("{ISSUER}/token"));
    assert_eq!(claims["jti"], crate::encoding::base64url_nopad(&[1; 16]));
    let resp = world.handle(&req).unwrap();
    flow.handle_response(world.now, req.id, resp).unwrap();
    assert!(flow.tokens().unwrap().1.is_dpop_bound());
    // The same proof again: its request is gone.
    let e = flow.provide_proof_signature(proof.id, &sig).unwrap_err();
    assert_eq!(e.code(), "unknown_request");
}

#[test]
fn use_dpop_nonce_asks_for_one_more_proof_with_the_nonce() {
    let mut world = world(Some("as-n1"));
    let mut flow = host_flow();
    to_callback(&mut flow, &mut world);
    let first = sign_next(&mut flow, 1);
    assert!(proof_claims(&format!("{first}.x")).get("nonce").is_none());
    let req = flow.poll_request().unwrap();
    let refusal = world.handle(&req).unwrap();
    assert_eq!(refusal.status, 400);
    flow.handle_response(world.now, req.id, refusal).unwrap();
    assert!(flow.poll_request().is_none(), "the retry waits for its proof too");
    let second = sign_next(&mut flow, 2);
    assert_eq!(proof_claims(&format!("{second}.x"))["nonce"], "as-n1");
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(flow.tokens().unwrap().1.is_dpop_bound());
    assert_eq!(world.dpop_proofs.len(), 2);

    // The refresh knows the nonce; a refusal of the retry is the error, no third proof.
    world.now = world.now.plus(3600);
    world.dpop_nonce = Some("as-n2".into());
    flow.handle_timeout(world.now).unwrap();
    sign_next(&mut flow, 3);
    let req = flow.poll_request().unwrap();
    let resp = world.handle(&req).unwrap();
    flow.handle_response(world.now, req.id, resp).unwrap();
    world.dpop_nonce = Some("as-n3".into());
    sign_next(&mut flow, 4);
    let req = flow.poll_request().unwrap();
    let resp = world.handle(&req).unwrap();
    let e = flow.handle_response(world.now, req.id, resp).unwrap_err();
    assert_eq!(e.code(), "token_rejected");
    assert_eq!(flow.poll_proof(&[5; 16]), None);
    assert!(flow.poll_request().is_none());
    assert_eq!(world.dpop_proofs.len(), 4);
}

#[test]
fn a_signing_failure_fails_the_token_request_with_the_hosts_reason() {
    let mut world = world(None);
    let mut flow = host_flow();
    to_callback(&mut flow, &mut world);
    flow.set_dpop_key(key());
    let proof = flow.poll_proof(&[1; 16]).unwrap();
    let e = flow.handle_proof_signing_error(proof.id, "the key is gone").unwrap_err();
    assert_eq!(e.code(), "dpop_signing_failed");
    assert!(e.to_string().contains("the key is gone"), "{e}");
    assert!(flow.poll_request().is_none(), "no token request without its proof");
    let failed: Vec<_> = std::iter::from_fn(|| flow.poll_event())
        .filter(|e| matches!(e, FlowEvent::Failed(_)))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(flow.status(world.now), crate::FlowStatus::Unauthorized);
    assert!(world.dpop_proofs.is_empty());
}

#[test]
fn answers_for_proofs_not_asked_for_are_refused() {
    let mut world = world(None);
    let mut flow = host_flow();
    assert_eq!(flow.provide_proof_signature(1, b"sig").unwrap_err().code(), "unknown_request");
    to_callback(&mut flow, &mut world);
    flow.set_dpop_key(key());
    let proof = flow.poll_proof(&[1; 16]).unwrap();
    let wrong = proof.id + 1;
    assert_eq!(flow.provide_proof_signature(wrong, b"sig").unwrap_err().code(), "unknown_request");
    assert_eq!(flow.handle_proof_signing_error(wrong, "x").unwrap_err().code(), "unknown_request");
    // The right one still goes through; a cancel drops a held request.
    flow.provide_proof_signature(proof.id, &signature(&proof.signing_input)).unwrap();
    assert!(flow.poll_request().is_some());
    let mut world = self::world(None);
    let mut flow = host_flow();
    to_callback(&mut flow, &mut world);
    flow.set_dpop_key(key());
    let proof = flow.poll_proof(&[1; 16]).unwrap();
    flow.cancel();
    assert_eq!(flow.provide_proof_signature(proof.id, b"s").unwrap_err().code(), "unknown_request");
}

#[test]
fn resource_proofs_carry_ath_and_the_resource_nonce() {
    let mut world = world(None);
    let mut flow = host_flow();
    let none = flow.resource_proof_signing_input(world.now, "POST", MCP, &[1; 16]).unwrap();
    assert_eq!(none, None, "no token, no proof");
    to_callback(&mut flow, &mut world);
    sign_next(&mut flow, 1);
    let (_, errors) = drain(&mut flow, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    let token = flow.access_token(world.now).unwrap().secret().to_owned();
    let input = flow.resource_proof_signing_input(world.now, "post", MCP, &[7; 16]).unwrap();
    let claims = proof_claims(&format!("{}.x", input.unwrap()));
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], MCP);
    assert_eq!(claims["ath"], dpop::ath(&token));
    assert!(claims.get("nonce").is_none());
    assert_eq!(
        flow.authorization_header(world.now, MCP).unwrap(),
        Some(format!("DPoP {token}")),
        "never Bearer for a bound token"
    );
    // The MCP server's `use_dpop_nonce` (§9): retry, with its nonce in the next proof.
    let used = flow.access_token(world.now).cloned();
    let refusal = crate::ResourceResponse {
        status: 401,
        www_authenticate: Some(r#"DPoP error="use_dpop_nonce""#),
        token_used: used.as_ref(),
        operation: "tools/list",
        dpop_nonce: Some("rs-1"),
    };
    let d = flow.handle_resource_response(world.now, &refusal, entropy(2)).unwrap();
    assert_eq!(d, crate::ResourceDecision::Retry);
    let input = flow.resource_proof_signing_input(world.now, "POST", MCP, &[8; 16]).unwrap();
    assert_eq!(proof_claims(&format!("{}.x", input.unwrap()))["nonce"], "rs-1");
    let e = flow
        .resource_proof_signing_input(world.now, "POST", "https://other.example/mcp", &[9; 16])
        .unwrap_err();
    assert_eq!(e.code(), "token_for_other_resource");
    // A bound token without the host's key (lost): a clear error, not a Bearer request.
    let mut config = FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap();
    config.dpop = DpopMode::Auto;
    let mut keyless = AuthFlow::new(config);
    let (issuer, tokens) = flow.tokens().unwrap();
    keyless.set_tokens(issuer, tokens.clone());
    let e = keyless.resource_proof_signing_input(world.now, "POST", MCP, &[1; 16]).unwrap_err();
    assert_eq!(e.code(), "dpop_signer_missing");
}
