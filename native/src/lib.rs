//! `mcp-oauth`: the native adapter of mcp-oauth. It owns the clock, the entropy and the
//! transport, and re-exports the sans-IO core. The tokio/reqwest driver, token stores and the CLI
//! arrive with their own issue; today this crate re-exports the core so hosts can drive it by
//! hand.
#![deny(missing_docs)]

pub use mcp_oauth_core as core;
pub use mcp_oauth_core::*;
