//! The versioned, serialisable state of a flow: what a host stores so that a
//! pending authorization started in one process can be completed in another, and tokens survive
//! restarts. Requests in flight are not part of it: a restored flow is idle or awaiting its
//! callback.

use std::sync::Arc;

use super::{AuthFlow, FlowConfig, Phase};
use crate::authorize::PendingAuthorization;
use crate::error::{Error, FlowError};
use crate::registration::ClientRegistration;
use crate::resource_metadata::ResourceMetadata;
use crate::server_metadata::ServerMetadata;
use crate::time::UnixTime;
use crate::token::TokenSet;

/// The version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The result of discovery for one MCP server; shareable between flows of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The protected-resource metadata (`None` on the legacy path).
    pub resource_metadata: Option<ResourceMetadata>,
    /// The authorization server's metadata.
    pub server: ServerMetadata,
    /// True when found by the 2025-03-26 fallback.
    pub legacy: bool,
    /// The `resource_metadata` URL of the challenge that led here.
    pub header_url: Option<String>,
    /// Reuse until then (from `Cache-Control: max-age`; `None`: the responses did not say).
    pub cache_until: Option<UnixTime>,
}

/// Tokens with the issuer that issued them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTokens {
    /// The issuer.
    pub issuer: String,
    /// The tokens.
    pub tokens: TokenSet,
}

/// A flow's persistent state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSnapshot {
    /// [`SNAPSHOT_VERSION`] when written.
    pub version: u32,
    /// The MCP server (canonical) it belongs to.
    pub server_url: String,
    /// Discovery results.
    pub discovery: Option<Discovery>,
    /// Client registrations, one per issuer.
    pub registrations: Vec<ClientRegistration>,
    /// Tokens.
    pub tokens: Option<StoredTokens>,
    /// The authorization waiting for its callback.
    pub pending: Option<PendingAuthorization>,
    /// The scope of the last authorization request (for step-up unions).
    pub last_requested_scope: Option<String>,
}

impl AuthFlow {
    /// The state to persist (see [`FlowSnapshot`]).
    pub fn snapshot(&self) -> FlowSnapshot {
        FlowSnapshot {
            version: SNAPSHOT_VERSION,
            server_url: self.config.server_url.as_str().to_owned(),
            discovery: self.discovery.as_deref().cloned(),
            registrations: self.registrations.clone(),
            tokens: self.tokens.as_ref().map(|(issuer, tokens)| StoredTokens {
                issuer: issuer.clone(),
                tokens: tokens.clone(),
            }),
            pending: match &self.phase {
                Phase::AwaitingCallback { pending } => Some(PendingAuthorization::clone(pending)),
                _ => None,
            },
            last_requested_scope: self.last_requested_scope.clone(),
        }
    }

    /// Rebuilds a flow from a snapshot, with the host's configuration. Refuses a snapshot of
    /// another version, another MCP server, or another redirect URI.
    pub fn restore(
        config: impl Into<Arc<FlowConfig>>,
        snapshot: FlowSnapshot,
    ) -> Result<AuthFlow, Error> {
        let config = config.into();
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(FlowError::Snapshot(format!(
                "version {} is not supported (this build reads version {SNAPSHOT_VERSION})",
                snapshot.version
            ))
            .into());
        }
        if snapshot.server_url != config.server_url.as_str() {
            return Err(FlowError::Snapshot(format!(
                "it belongs to {}, not to {}",
                snapshot.server_url,
                config.server_url.as_str()
            ))
            .into());
        }
        if let Some(p) = &snapshot.pending {
            if p.redirect_uri != config.redirect_uri {
                return Err(FlowError::Snapshot(format!(
                    "its pending authorization uses redirect URI {}, the configuration {}",
                    p.redirect_uri, config.redirect_uri
                ))
                .into());
            }
        }
        let mut flow = AuthFlow::new(config);
        flow.discovery = snapshot.discovery.map(Arc::new);
        flow.registrations = snapshot.registrations;
        flow.tokens = snapshot.tokens.map(|s| (s.issuer, s.tokens));
        flow.last_requested_scope = snapshot.last_requested_scope;
        if let Some(pending) = snapshot.pending {
            flow.phase = Phase::AwaitingCallback { pending: Box::new(pending) };
        }
        Ok(flow)
    }
}
