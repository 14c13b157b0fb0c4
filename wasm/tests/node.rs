//! wasm-bindgen tests in Node: `cargo test -p mcp-oauth-wasm --target wasm32-unknown-unknown
//! --test node` with `wasm-bindgen-test-runner` as the runner (see `.ci/run`).
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
async fn browser_storages_are_unavailable_in_node_with_a_clear_error() {
    for kind in ["localStorage", "sessionStorage", "indexedDB"] {
        let e = make_storage(&JsValue::from_str(kind)).unwrap_err();
        assert_eq!(get(&e, "code"), "storage_unavailable");
        assert!(get(&e, "message").as_string().unwrap().contains(kind));
    }
}

#[wasm_bindgen_test]
async fn popup_mode_is_refused_in_node() {
    let f = fake();
    let auth: McpOAuth = wait(create(&options(&f, &[]))).await.unwrap().into();
    let (code, message) = rejection(auth.authorize(&obj(&[("mode", "popup".into())]))).await;
    assert_eq!(code, "popup_unavailable");
    assert!(message.contains("follow"), "{message}");
}
