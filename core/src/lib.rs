//! mcp-oauth-core (work in progress)
#![deny(missing_docs)]

pub mod authorize;
pub mod encoding;
pub mod error;
pub mod http;
mod json;
pub mod pkce;
pub mod policy;
pub mod registration;
pub mod resource_metadata;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod server_metadata;
pub mod time;
pub mod token;
pub mod url;
pub mod www_authenticate;

pub use json::cache_max_age;
pub mod flow;
pub use error::Error;
pub use flow::{AuthFlow, Discovery, FlowConfig, FlowEvent, FlowSnapshot, FlowStatus};
