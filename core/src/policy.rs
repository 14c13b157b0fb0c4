//! Per-authorization-server settings for real servers' quirks (see core/tests/real_world_*.rs).
//! Everything weaker than the spec's defaults carries a `danger_` name so it can be
//! found with grep, and applies to one issuer only.

/// Settings for one authorization server, keyed by its issuer in [`crate::FlowConfig`].
///
/// Non-exhaustive: start from `ServerPolicy::default()` and set the fields you need, so that a
/// setting added later is not a breaking change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerPolicy {
    /// Use this server although its metadata has no `code_challenge_methods_supported`
    /// (Entra ID, Cognito support S256 but do not say so). PKCE S256 is still sent. A metadata
    /// document that lists methods without `S256` is refused regardless.
    pub danger_assume_pkce_s256: bool,
    /// Send no `resource` parameter to this server (Entra ID rejects it). Tokens may then be
    /// valid for other resources too: use only with servers that scope tokens otherwise.
    pub danger_omit_resource: bool,
    /// Extra authorization-request parameters (`audience` for Auth0, `access_type=offline` and
    /// `prompt=consent` for Google). They cannot replace a parameter the protocol sets.
    pub extra_authorization_params: Vec<(String, String)>,
}
