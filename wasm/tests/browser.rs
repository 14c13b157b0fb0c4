//! wasm-bindgen tests in headless Chromium: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p
//! mcp-oauth-wasm --target wasm32-unknown-unknown --test browser` with `wasm-bindgen-test-runner`
//! as the runner (see `.ci/run`; `webdriver.json` passes Chromium's flags).
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn web_storages_and_indexeddb_round_trip() {
    for kind in ["localStorage", "sessionStorage", "indexedDB"] {
        let s = make_storage(&JsValue::from_str(kind)).unwrap();
        let key = format!("test/{kind}");
        wait(storage_set(&s, &key, "v1")).await.unwrap();
        assert_eq!(wait(storage_get(&s, &key)).await.unwrap(), "v1", "{kind}");
        wait(storage_set(&s, &key, "v2")).await.unwrap();
        assert_eq!(wait(storage_get(&s, &key)).await.unwrap(), "v2", "{kind}");
        wait(storage_delete(&s, &key)).await.unwrap();
        assert!(wait(storage_get(&s, &key)).await.unwrap().is_null(), "{kind}");
    }
}

#[wasm_bindgen_test]
async fn tokens_survive_a_new_client_in_local_storage_and_indexeddb() {
    for kind in ["localStorage", "indexedDB"] {
        let f = fake();
        let opts = options(
            &f,
            &[
                ("storage", kind.into()),
                ("userId", format!("user-{kind}").into()),
                ("onAuthorizationRequired", approver(f.server.clone())),
            ],
        );
        let auth: McpOAuth = wait(create(&opts)).await.unwrap().into();
        mcp_post(&auth).await;
        let again: McpOAuth = wait(create(&options(
            &f,
            &[("storage", kind.into()), ("userId", format!("user-{kind}").into())],
        )))
        .await
        .unwrap()
        .into();
        assert_eq!(get(&again.status(), "authorized"), JsValue::TRUE, "{kind}");
        wait(again.logout()).await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn transport_failures_in_a_browser_name_the_url_and_cors() {
    // Nothing listens on port 9 (discard): a network error, as a CORS refusal looks to a page.
    let opts =
        obj(&[("serverUrl", "http://127.0.0.1:9/mcp".into()), ("redirectUri", REDIRECT.into())]);
    let auth: McpOAuth = wait(create(&opts)).await.unwrap().into();
    let (code, message) = rejection(auth.authorize(&obj(&[("mode", "manual".into())]))).await;
    // Every discovery candidate failed; the error names the server and the CORS requirement.
    assert!(!code.is_empty());
    assert!(message.contains("127.0.0.1:9"), "{message}");
    assert!(message.contains("CORS"), "{message}");
}
