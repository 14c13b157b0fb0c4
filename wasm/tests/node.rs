//! wasm-bindgen tests in Node: `cargo test -p mcp-oauth-wasm --target wasm32-unknown-unknown
//! --test node` with `wasm-bindgen-test-runner` as the runner (see `.ci/run`): the shared tests
//! of `common`, and the headless step functions.
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

/// The headless step functions (feature `headless`, on by default; the npm package's Node build).
#[cfg(feature = "headless")]
mod headless {
    use super::*;

    #[wasm_bindgen_test]
    fn headless_discovery_gives_what_the_grants_need() {
        use mcp_oauth_core::demo::{DemoServer, MCP_URL};
        let mut server = DemoServer::new();
        let options = obj(&[("serverUrl", MCP_URL.into()), ("redirectUri", REDIRECT.into())]);
        let mut flow = mcp_oauth_wasm::Flow::new(options).unwrap();
        assert!(flow.discovery().is_undefined());
        flow.begin_discovery(1000.0).unwrap();
        let mut n = 0;
        loop {
            let req = flow.poll_request();
            if req.is_undefined() {
                break;
            }
            n += 1;
            let id = get(&req, "id").as_f64().unwrap();
            flow.handle_response(1000.0, id, demo_answer(&mut server, &req)).unwrap();
        }
        assert_eq!(n, 2, "resource metadata, then server metadata");
        let d = flow.discovery();
        assert_eq!(get(&d, "issuer"), mcp_oauth_core::demo::ISSUER);
        assert_eq!(get(&d, "tokenEndpoint"), format!("{}/token", mcp_oauth_core::demo::ISSUER));
        assert_eq!(get(&d, "resource"), MCP_URL);
        assert_eq!(get(&d, "scope"), "tools:read", "the PRM's scopes_supported");
        assert_eq!(get(&d, "secretAuthMethod"), "client_secret_basic");
        // Cached: a second discovery makes no request.
        flow.begin_discovery(1001.0).unwrap();
        assert!(flow.poll_request().is_undefined());
    }

    #[wasm_bindgen_test]
    fn headless_step_functions_build_requests_and_read_responses() {
        use mcp_oauth_wasm::headless::*;
        let params = |extra: &[(&str, JsValue)]| {
            let mut all = vec![
                ("tokenEndpoint", JsValue::from("https://as.example.com/token")),
                ("clientId", "svc".into()),
                ("resource", "https://mcp.example.com/mcp".into()),
            ];
            all.extend_from_slice(extra);
            obj(&all)
        };
        let req = client_credentials_request(params(&[("clientSecret", "s3cret".into())])).unwrap();
        assert_eq!(get(&req, "purpose"), "client_credentials");
        assert_eq!(get(&req, "method"), "POST");
        let body = String::from_utf8(js_sys::Uint8Array::from(get(&req, "body")).to_vec()).unwrap();
        assert_eq!(
            body,
            "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
        );
        // A public client is refused by the core; a bad URL names the URL; a bad method is named.
        let e = client_credentials_request(params(&[])).unwrap_err();
        assert_eq!(get(&e, "code"), "client_authentication_required");
        let e = client_credentials_request(obj(&[
            ("tokenEndpoint", "ftp://x/token".into()),
            ("clientId", "c".into()),
        ]))
        .unwrap_err();
        assert!(get(&e, "message").as_string().unwrap().contains("ftp://x/token"));
        let e = client_credentials_request(params(&[("authMethod", "magic".into())])).unwrap_err();
        assert_eq!(get(&e, "code"), "invalid_argument");
        assert!(get(&e, "message").as_string().unwrap().starts_with("authMethod"));
        // private_key_jwt is inferred from an assertion.
        let req = jwt_bearer_request(params(&[("assertion", "a.b.c".into())])).unwrap();
        assert_eq!(get(&req, "purpose"), "jwt_bearer");
        let e = jwt_bearer_request(params(&[])).unwrap_err();
        assert_eq!(get(&e, "message"), "assertion is required");
        let req = id_jag_request(params(&[
            ("idToken", "id.tok.en".into()),
            ("audience", "https://as.example.com".into()),
            ("clientSecret", "s".into()),
        ]))
        .unwrap();
        let body = String::from_utf8(js_sys::Uint8Array::from(get(&req, "body")).to_vec()).unwrap();
        assert!(
            body.contains("requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid-jag")
        );
        assert!(body.contains("audience=https%3A%2F%2Fas.example.com"), "{body}");

        let json = |status: u16, body: &str| {
            let h = js_sys::Array::of1(&js_sys::Array::of2(
                &"content-type".into(),
                &"application/json".into(),
            ));
            obj(&[("status", status.into()), ("headers", h.into()), ("body", body.into())])
        };
        let t = process_token_response(
            100.0,
            json(200, r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#),
            Some("mcp:tools".into()),
        )
        .unwrap();
        assert_eq!(get(&t, "accessToken"), "at");
        assert_eq!(get(&t, "expiresAt"), 160);
        assert_eq!(get(&t, "scope"), "mcp:tools");
        assert!(get(&t, "refreshToken").is_undefined());
        let e = process_token_response(100.0, json(401, r#"{"error":"invalid_client"}"#), None)
            .unwrap_err();
        assert_eq!(get(&e, "code"), "token_rejected");
        assert_eq!(get(&e, "oauthError"), "invalid_client");
        let jag = r#"{"access_token":"j.a.g","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A","expires_in":300}"#;
        let x = process_token_exchange_response(
            100.0,
            json(200, jag),
            Some("urn:ietf:params:oauth:token-type:id-jag".into()),
        )
        .unwrap();
        assert_eq!(get(&x, "token"), "j.a.g");
        assert_eq!(get(&x, "expiresAt"), 400);
        let e = process_token_exchange_response(100.0, json(200, jag), Some("other".into()))
            .unwrap_err();
        assert_eq!(get(&e, "code"), "issued_token_type_mismatch");

        let jti = Some(js_sys::Uint8Array::from([5u8; 16].as_slice()));
        let c = client_assertion_claims("svc", "https://as.example.com", 1000.0, jti).unwrap();
        assert_eq!(get(&c, "exp"), 1120);
        assert_eq!(get(&c, "jti").as_string().unwrap().len(), 22);
        // The jti bytes are the caller's (crypto.getRandomValues in the JS host).
        let e = client_assertion_claims("svc", "https://as.example.com", 1000.0, None).unwrap_err();
        assert!(assert_error(&e, "invalid_argument").contains("jtiRandom"));
    }
}
