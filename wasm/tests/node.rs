//! wasm-bindgen tests in Node: `cargo test -p mcp-oauth-wasm --target wasm32-unknown-unknown
//! --test node` with `wasm-bindgen-test-runner` as the runner (see `.ci/run`): the shared tests
//! of `common`, and the headless step functions.
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

use wasm_bindgen_test::*;

/// The headless step functions (feature `headless`, on by default; the npm package's Node build).
#[cfg(feature = "headless")]
mod headless {
    use super::*;

    #[wasm_bindgen_test]
    fn headless_flow_discovers_then_builds_the_grant_request() {
        use mcp_oauth_core::demo::{DemoServer, ISSUER, MCP_URL};
        use mcp_oauth_wasm::headless::HeadlessFlow;
        let mut server = DemoServer::new();
        let options = obj(&[
            ("serverUrl", MCP_URL.into()),
            ("clientId", "svc".into()),
            ("clientSecret", "s3cret".into()),
        ]);
        let mut flow = HeadlessFlow::new(options).unwrap();
        flow.begin(1000.0).unwrap();
        let mut urls = Vec::new();
        let token_request = loop {
            let req = flow.poll_request();
            assert!(!req.is_undefined(), "a request until the token request");
            urls.push(get(&req, "url").as_string().unwrap());
            if get(&req, "method").as_string().unwrap() == "POST" {
                break req;
            }
            let id = get(&req, "id").as_f64().unwrap();
            flow.handle_response(1000.0, id, demo_answer(&mut server, &req)).unwrap();
        };
        assert_eq!(urls.len(), 3, "resource metadata, server metadata, token: {urls:?}");
        assert_eq!(get(&token_request, "purpose"), "client_credentials");
        let body =
            String::from_utf8(js_sys::Uint8Array::from(get(&token_request, "body")).to_vec())
                .unwrap();
        // The core's decisions: the PRM's scopes_supported, the resource, client_secret_basic
        // (the metadata lists no methods).
        assert_eq!(
            body,
            "grant_type=client_credentials&scope=tools%3Aread&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
        );
        let headers = js_sys::Array::from(&get(&token_request, "headers"));
        let auth = headers
            .iter()
            .map(|p| js_sys::Array::from(&p))
            .find(|p| p.get(0).as_string().unwrap().eq_ignore_ascii_case("authorization"))
            .expect("an Authorization header");
        assert!(auth.get(1).as_string().unwrap().starts_with("Basic "));
        assert!(flow.busy());
        let id = get(&token_request, "id").as_f64().unwrap();
        let e = flow.handle_transport_error(1000.0, id, "offline").unwrap_err();
        assert_eq!(get(&e, "code"), "transport_failed");
        assert!(!flow.busy());
        assert_eq!(get(&flow.poll_event(), "type"), "metadata_discovered");

        // private_key_jwt: the signature request carries the core's claims for the issuer.
        let options = obj(&[
            ("serverUrl", MCP_URL.into()),
            ("clientId", "svc".into()),
            ("privateKeyJwt", true.into()),
        ]);
        let mut flow = HeadlessFlow::new(options).unwrap();
        flow.begin(1000.0).unwrap();
        let sig = loop {
            let sig =
                flow.poll_signature(Some(js_sys::Uint8Array::from([3u8; 16].as_slice()))).unwrap();
            if !sig.is_undefined() {
                break sig;
            }
            let req = flow.poll_request();
            let id = get(&req, "id").as_f64().unwrap();
            flow.handle_response(1000.0, id, demo_answer(&mut server, &req)).unwrap();
        };
        assert_eq!(get(&sig, "signer"), "authorization_server");
        let payload = get(&sig, "payload").as_string().unwrap();
        assert!(payload.contains(&format!(r#""aud":"{ISSUER}""#)), "{payload}");
        assert!(payload.contains(r#""jti":""#), "{payload}");
        let id = get(&sig, "id").as_f64().unwrap();
        flow.provide_assertion(1000.0, id, "h.p.s").unwrap();
        let req = flow.poll_request();
        let body = String::from_utf8(js_sys::Uint8Array::from(get(&req, "body")).to_vec()).unwrap();
        assert!(body.contains("client_assertion=h.p.s"), "{body}");

        // Options are checked, naming the option.
        let e = HeadlessFlow::new(obj(&[("serverUrl", MCP_URL.into())])).err().unwrap();
        assert_eq!(get(&e, "code"), "invalid_option");
        let e = HeadlessFlow::new(obj(&[
            ("serverUrl", MCP_URL.into()),
            ("clientId", "c".into()),
            ("authMethod", "magic".into()),
        ]))
        .err()
        .unwrap();
        assert!(get(&e, "message").as_string().unwrap().contains("authMethod"));

        let jti = Some(js_sys::Uint8Array::from([5u8; 16].as_slice()));
        use mcp_oauth_wasm::headless::client_assertion_claims;
        let c = client_assertion_claims("svc", "https://as.example.com", 1000.0, jti).unwrap();
        assert_eq!(get(&c, "exp"), 1120);
        assert_eq!(get(&c, "jti").as_string().unwrap().len(), 22);
        // The jti bytes are the caller's (crypto.getRandomValues in the JS host).
        let e = client_assertion_claims("svc", "https://as.example.com", 1000.0, None).unwrap_err();
        assert!(assert_error(&e, "invalid_argument").contains("jtiRandom"));
    }
}

/// DPoP proofs signed by the JS host (feature `dpop`, on by default; the npm package's Node
/// build): the token request waits for the signature the host provides.
#[cfg(feature = "dpop")]
mod dpop {
    use super::*;
    use js_sys::{Array, Uint8Array};
    use mcp_oauth_core::demo::{DemoServer, MCP_URL};
    use mcp_oauth_wasm::Flow;
    use wasm_bindgen::JsValue;

    fn options(mode: &str) -> JsValue {
        obj(&[
            ("serverUrl", MCP_URL.into()),
            ("redirectUri", REDIRECT.into()),
            ("dpop", mode.into()),
        ])
    }

    /// Answers every request; returns the browser URL of the last `open_browser` event.
    fn drain(flow: &mut Flow, server: &mut DemoServer) -> Option<String> {
        loop {
            let req = flow.poll_request();
            if req.is_undefined() {
                break;
            }
            let id = get(&req, "id").as_f64().unwrap();
            flow.handle_response(1000.0, id, demo_answer(server, &req)).unwrap();
        }
        let mut url = None;
        loop {
            let ev = flow.poll_event();
            if ev.is_undefined() {
                return url;
            }
            if get(&ev, "type") == "open_browser" {
                url = get(&ev, "url").as_string();
            }
        }
    }

    #[wasm_bindgen_test]
    fn the_code_exchange_waits_for_the_hosts_proof_signature() {
        let mut server = DemoServer::new();
        let mut flow = Flow::new(options("always")).unwrap();
        flow.use_host_dpop_signing();
        flow.begin_authorization(1000.0, entropy(1)).unwrap();
        let url = drain(&mut flow, &mut server).expect("open_browser");
        flow.handle_callback(1000.0, &server.approve(&url)).unwrap();
        assert!(flow.poll_request().is_undefined(), "held until the proof is signed");
        assert!(flow.dpop_key_wanted());
        let jkt = flow.set_dpop_key("eA".into(), "eQ".into());
        assert_eq!(jkt.len(), 43, "a base64url SHA-256 thumbprint: {jkt}");
        let e = flow.poll_proof(Some(Uint8Array::new_with_length(15))).unwrap_err();
        assert!(assert_error(&e, "invalid_argument").contains("16 bytes"));
        let proof = flow.poll_proof(Some(Uint8Array::new_with_length(16))).unwrap();
        let id = get(&proof, "id").as_f64().unwrap();
        let input = get(&proof, "signingInput").as_string().unwrap();
        assert_error(
            &flow.provide_proof_signature(id + 1.0, &[1; 64]).unwrap_err(),
            "unknown_request",
        );
        flow.provide_proof_signature(id, &[1; 64]).unwrap();
        let req = flow.poll_request();
        let dpop = Array::from(&get(&req, "headers"))
            .iter()
            .map(|p| Array::from(&p))
            .find(|p| p.get(0) == "DPoP")
            .map(|p| p.get(1).as_string().unwrap())
            .expect("a DPoP header");
        assert_eq!(dpop, mcp_oauth_wasm::core::dpop::assemble(&input, &[1; 64]));
    }

    #[wasm_bindgen_test]
    fn the_dpop_option_is_checked() {
        let e = Flow::new(options("sometimes")).map(|_| ()).unwrap_err();
        let message = assert_error(&e, "invalid_option");
        assert!(message.contains("options.dpop") && message.contains("\"sometimes\""), "{message}");
    }
}
