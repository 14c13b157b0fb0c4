//! mcp-oauth-core (work in progress)
#![deny(missing_docs)]

pub mod encoding;
pub mod http;
pub mod secret;
pub mod time;
pub mod url;
