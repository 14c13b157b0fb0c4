//! What the JS host hands to Rust, and the JS values Rust hands back. No platform call happens
//! here: the entropy arrives as bytes (the host calls `crypto.getRandomValues`, see
//! `pkg/src/io.js`), and fetch, storage, windows and the clock stay in `pkg/src/`.

use js_sys::{Reflect, Uint8Array};
use mcp_oauth_core::pkce::Entropy;
use wasm_bindgen::JsValue;

use crate::error::error;

/// `n` bytes the host drew from its CSPRNG; `name` is the argument's name in the error.
pub(crate) fn bytes<const N: usize>(b: Option<Uint8Array>, name: &str) -> Result<[u8; N], JsValue> {
    match b {
        Some(b) if b.length() as usize == N => {
            let mut all = [0u8; N];
            b.copy_to(&mut all);
            Ok(all)
        }
        _ => Err(error(
            "invalid_argument",
            &format!("{name} must be a Uint8Array of {N} bytes from crypto.getRandomValues"),
            &[],
        )),
    }
}

/// PKCE verifier and `state` bytes: 64 bytes from the host.
pub(crate) fn entropy(b: Option<Uint8Array>) -> Result<Entropy, JsValue> {
    Ok(Entropy::from_bytes(&bytes::<64>(b, "entropy")?))
}

/// Sets name/value pairs on a JS object.
pub(crate) fn set_all(o: &JsValue, fields: &[(&str, JsValue)]) {
    for (k, v) in fields {
        // Setting a property on a fresh object cannot fail.
        let _ = Reflect::set(o, &JsValue::from_str(k), v);
    }
}

/// A JS object from name/value pairs.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new().into();
    set_all(&o, fields);
    o
}
