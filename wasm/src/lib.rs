//! `mcp-oauth-wasm`: wasm-bindgen bindings of the mcp-oauth core (work in progress).
#![deny(missing_docs)]

pub use mcp_oauth_core::*;
