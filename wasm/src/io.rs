//! What Rust needs of the platform, imported from the snippets in `js/`: the error class and
//! `crypto.getRandomValues`. Everything else the platform does (fetch, storage, windows, the
//! clock) happens in `js/io.js` and `js/client.js`, which drive the core through [`crate::Flow`].

use js_sys::{Reflect, Uint8Array};
use mcp_oauth_core::pkce::Entropy;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    #[wasm_bindgen(js_name = registerFlowFactory)]
    pub(crate) fn register_flow_factory(factory: &JsValue);
}

#[wasm_bindgen(module = "/js/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    pub(crate) fn make_error(code: &str, message: &str, fields: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = randomBytes, catch)]
    pub(crate) fn random_bytes(n: u32) -> Result<Uint8Array, JsValue>;
}

/// PKCE verifier and `state` bytes from `crypto.getRandomValues`.
pub(crate) fn entropy() -> Result<Entropy, JsValue> {
    let bytes = random_bytes(64)?;
    let mut all = [0u8; 64];
    bytes.copy_to(&mut all);
    Ok(Entropy::from_bytes(&all))
}

/// A JS object from name/value pairs.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}
