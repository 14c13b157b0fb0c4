//! `mcp-oauth-wasm`: the WebAssembly build of mcp-oauth for browsers and Node, published as the
//! npm package `mcp-oauth` (see `pkg/`).
//!
//! A thin layer over `mcp-oauth-core`: every protocol decision is the core's. This crate owns
//! the clock (`Date.now()`), the entropy (`crypto.getRandomValues`), the transport (the
//! platform's or the host's `fetch`, never following redirects), storage, and the browser's
//! windows.
//!
//! - [`McpOAuth`]: the high-level client (`create`, the drop-in `fetch`, `authorize` with popup,
//!   redirect, follow and manual modes, `handleRedirect`, `completePopup`, `accessToken`,
//!   `status`, `logout`, events).
//! - [`Flow`] and the step functions in [`steps`]: the core's sans-IO API for hosts that drive
//!   the protocol themselves.
//! - `headless` (feature `headless`, on by default; the npm package's Node build): the core's
//!   `HeadlessFlow` (client credentials, cross-app access, service accounts), driven by
//!   `McpOAuthHeadless` (`js/headless.js`: one drain loop, WebCrypto signing, fetch).
//! - Errors are `McpOAuthError` objects whose `code` is the Rust error code
//!   ([`mcp_oauth_core::Error::code`], or one of [`error::BINDING_CODES`]).
//!
//! ## Dependencies, and what was chosen instead
//! The design card lists `web-sys`, `gloo-net`, `serde-wasm-bindgen` and `getrandom`. They are
//! not used: every platform call goes through the small hand-written ES module `js/io.js`
//! (a wasm-bindgen snippet) and `js-sys`, which keeps the bundle smaller (`web-sys` bindings and
//! `serde` add generated glue and code for each type; serde alone cost 37 KB gzipped in the
//! first measurement, see BENCHMARKS.md) and keeps the DOM code readable JavaScript.
//! `getrandom` would call the same `crypto.getRandomValues` through its own glue.
#![deny(missing_docs)]

pub mod error;
#[cfg(feature = "headless")]
pub mod headless;
mod io;
mod options;
pub mod steps;

pub use mcp_oauth_core as core;
pub use steps::Flow;
