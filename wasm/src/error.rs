//! The errors Rust throws: a JS `Error` named `McpOAuthError` whose `code` is the stable code of
//! the Rust error (core codes from `mcp_oauth_core::Error::code`, plus the binding's own below),
//! with the error's fields as properties. The package's `McpOAuthError` class
//! (`pkg/src/io.js`) recognises them (`instanceof`), so Rust imports nothing from JS.

use mcp_oauth_core::error::FlowError;
use wasm_bindgen::JsValue;

use crate::io::set_all;

/// An `Error` named `McpOAuthError` with `code` and `fields`.
fn make_error(code: &str, message: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name("McpOAuthError");
    let e = JsValue::from(e);
    set_all(&e, &[("code", JsValue::from_str(code))]);
    set_all(&e, fields);
    e
}

/// The codes this binding reports besides the core's errors' (each listed in
/// `mcp_oauth_core::error::HOST_CODES` or, for a condition the core also names, `CORE_CODES`;
/// core/tests/error_codes.rs checks both lists and the JS sources against each other).
pub const BINDING_CODES: &[&str] = &[
    "invalid_option",
    "invalid_argument",
    "storage_unavailable",
    "storage_failed",
    "stored_state_invalid",
    "entropy_unavailable",
    "popup_unavailable",
    "popup_blocked",
    "popup_closed",
    "authorization_timed_out",
    "authorization_required",
    "follow_failed",
    "unknown_state",
    "wasm_load_failed",
];

/// A binding error with extra fields.
pub(crate) fn error(code: &'static str, message: &str, fields: &[(&str, JsValue)]) -> JsValue {
    debug_assert!(BINDING_CODES.contains(&code), "unlisted binding code {code}");
    make_error(code, message, fields)
}

/// A bad option: names it.
pub(crate) fn invalid_option(option: &str, problem: &str) -> JsValue {
    error(
        "invalid_option",
        &format!("options.{option}: {problem}"),
        &[("option", JsValue::from_str(option))],
    )
}

/// A core error as `McpOAuthError`, with the URL of a transport failure, and the OAuth error
/// the server sent (`oauthError`, e.g. `invalid_client`, and `errorDescription`) when it did.
pub(crate) fn core_error(e: &mcp_oauth_core::Error) -> JsValue {
    let fields = match (e, e.oauth_error()) {
        (mcp_oauth_core::Error::Flow(FlowError::Transport { url, purpose, .. }), _) => {
            vec![("url", JsValue::from_str(url)), ("purpose", JsValue::from_str(purpose))]
        }
        (_, Some(b)) => vec![
            ("oauthError", JsValue::from_str(&b.error)),
            ("errorDescription", crate::steps::str_or_null(b.error_description.as_deref())),
        ],
        _ => Vec::new(),
    };
    make_error(e.code(), &e.to_string(), &fields)
}

/// Converts core results.
pub(crate) trait IntoJs<T> {
    /// Maps the core error to an `McpOAuthError`.
    fn js(self) -> Result<T, JsValue>;
}

impl<T> IntoJs<T> for Result<T, mcp_oauth_core::Error> {
    fn js(self) -> Result<T, JsValue> {
        self.map_err(|e| core_error(&e))
    }
}

impl<T> IntoJs<T> for Result<T, mcp_oauth_core::url::UrlError> {
    fn js(self) -> Result<T, JsValue> {
        self.map_err(|e| core_error(&e.into()))
    }
}
