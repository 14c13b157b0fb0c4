//! What the host configures for one (user, MCP server) flow.

use crate::dpop::DpopMode;
use crate::error::{Error, FlowError};
use crate::policy::ServerPolicy;
use crate::registration::ClientConfig;
use crate::url::{RedirectUri, ResourceUrl};

/// Configuration of an [`crate::AuthFlow`]. Build it with [`FlowConfig::new`] and adjust the
/// public fields; every default is the spec's strict behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowConfig {
    /// The MCP server's URL (its canonical form is the `resource`).
    pub server_url: ResourceUrl,
    /// Where the authorization server sends the browser back.
    pub redirect_uri: RedirectUri,
    /// How the client identifies itself.
    pub client: ClientConfig,
    /// Scopes to request instead of the challenge's or the metadata's (space-delimited).
    pub scopes: Option<String>,
    /// Add `offline_access` when the authorization server lists it (default true).
    pub request_offline_access: bool,
    /// Per-issuer quirk settings (keyed by the exact issuer string).
    pub policies: Vec<(String, ServerPolicy)>,
    /// Issuer to try first when the resource lists several authorization servers.
    pub preferred_issuer: Option<String>,
    /// Refresh this many seconds before the access token expires (default 60).
    pub refresh_skew_secs: u64,
    /// A pending authorization expires after this many seconds (default 600).
    pub pending_ttl_secs: u64,
    /// After a transient refresh failure, wait this long before trying again (default 30).
    pub retry_after_secs: u64,
    /// Step-up attempts allowed per operation (default 2).
    pub max_step_up_attempts: u32,
    /// Fall back to the 2025-03-26 discovery (authorization server at the MCP server's origin)
    /// when the server publishes no protected-resource metadata (default true).
    pub legacy_discovery: bool,
    /// When token requests carry DPoP proofs (RFC 9449; default [`DpopMode::Auto`]).
    pub dpop: DpopMode,
}

impl FlowConfig {
    /// Validates the server URL and redirect URI and applies the defaults.
    pub fn new(
        server_url: &str,
        redirect_uri: &str,
        client: ClientConfig,
    ) -> Result<FlowConfig, Error> {
        if client.client_name.trim().is_empty() && client.pre_registered.is_none() {
            return Err(FlowError::EmptyClientName.into());
        }
        Ok(FlowConfig {
            server_url: ResourceUrl::parse(server_url)?,
            redirect_uri: RedirectUri::parse(redirect_uri)?,
            client,
            scopes: None,
            request_offline_access: true,
            policies: Vec::new(),
            preferred_issuer: None,
            refresh_skew_secs: 60,
            pending_ttl_secs: 600,
            retry_after_secs: 30,
            max_step_up_attempts: 2,
            legacy_discovery: true,
            dpop: DpopMode::Auto,
        })
    }

    /// The policy for an issuer (the default, strict one when none is configured).
    pub fn policy(&self, issuer: &str) -> ServerPolicy {
        crate::discovery::policy_of(&self.policies, issuer)
    }
}
