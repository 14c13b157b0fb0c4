//! wasm-bindgen tests in headless Chromium: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p
//! mcp-oauth-wasm --target wasm32-unknown-unknown --test browser` with `wasm-bindgen-test-runner`
//! as the runner (see `.ci/run`; `webdriver.json` passes Chromium's flags): the shared tests of
//! `common` in a browser. The package's browser-only JS (storages, popups, CORS) is tested in
//! Chromium by `examples/browser-chat/test/`.
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);
