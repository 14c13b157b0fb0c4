//! The mapping from the model to the client options: what a provider of the file means for
//! [`crate::ClientOptions`] (`mcp_oauth2`) and [`crate::HeadlessOptions`]
//! (`mcp_service_account`). Building options reads no file and opens no store: the key of
//! `private_key_file` is read by the explicit `load_signer`/`load_credentials`, and the store of
//! `token_storage` is opened by the host (the CLI: file or memory; the multi-user server:
//! memory or Redis).

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::headless::FixedTokenEndpoint;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::url::EndpointUrl;

use super::*;
use crate::headless::ClientCredentials;
use crate::signer::{KeyError, PrivateKeySigner};
use crate::store::TokenStore;
use crate::{ClientOptions, Error, HeadlessGrant, HeadlessOptions};

/// A policy with the two `danger_*` switches and the extra authorization parameters.
fn policy(p: &ServerPolicyConfig) -> ServerPolicy {
    let mut policy = ServerPolicy::default();
    policy.danger_assume_pkce_s256 = p.danger_assume_pkce_s256;
    policy.danger_omit_resource = p.danger_omit_resource;
    policy.extra_authorization_params = p.authorization_params.clone();
    policy
}

impl McpOAuth2 {
    /// The client identity these options describe (`client_name`,
    /// `enable_dynamic_registration`, `client_id`/`client_secret` with
    /// `token_endpoint_auth_method` (`private_key_jwt` with a `private_key_file`),
    /// `client_issuer`, `client_metadata_url`). The key itself is read by
    /// [`McpOAuth2::load_signer`]. `path` (`authentication.<name>`) prefixes errors.
    pub fn client_config(
        &self,
        path: &str,
    ) -> Result<mcp_oauth_core::registration::ClientConfig, ConfigError> {
        use mcp_oauth_core::registration::{ClientConfig, PreRegistered};
        let mut client = ClientConfig::dynamic(self.client_name.as_str());
        client.dynamic_registration = self.enable_dynamic_registration;
        if let Some(id) = &self.client_id {
            client.pre_registered = Some(PreRegistered {
                client_id: id.clone(),
                client_secret: self
                    .client_secret
                    .clone()
                    .map(mcp_oauth_core::secret::ClientSecret::new),
                auth_method: self.token_endpoint_auth_method,
                issuers: self.client_issuer.clone(),
            });
        }
        if let Some(u) = &self.client_metadata_url {
            client.metadata_document_url =
                Some(mcp_oauth_core::url::EndpointUrl::parse(u).map_err(|e| {
                    err(
                        &format!("{path}.client_metadata_url"),
                        ConfigProblem::InvalidValue(e.to_string()),
                    )
                })?);
        }
        Ok(client)
    }

    /// `scopes` as one `scope` value (checked and de-duplicated by the core).
    fn scope(&self, path: &str) -> Result<Option<String>, ConfigError> {
        scope_value(self.scopes.as_deref(), path)
    }

    /// `server_policies`, as per-issuer policies in file order.
    pub fn policies(&self) -> Vec<(String, ServerPolicy)> {
        self.server_policies.iter().map(|(issuer, p)| (issuer.clone(), policy(p))).collect()
    }

    /// Reads `private_key_file` (this is the IO of the mapping) into a `signing_alg` signer;
    /// `None` without a key file.
    pub fn load_signer(&self) -> Result<Option<Arc<PrivateKeySigner>>, KeyError> {
        match &self.private_key_file {
            Some(file) => {
                Ok(Some(Arc::new(PrivateKeySigner::from_pem_file(file, self.signing_alg)?)))
            }
            None => Ok(None),
        }
    }

    /// The client options for the MCP server `server_url`, with tokens in `store`:
    /// `redirect_uri`, the client identity ([`McpOAuth2::client_config`]), `scopes`,
    /// `server_policies` and `default_user_id` (else `default`). The assertion signer of
    /// `private_key_file` is left to [`McpOAuth2::load_signer`]; `store` should be the one
    /// `token_storage` names. `path` (`authentication.<name>`) prefixes errors.
    pub fn client_options(
        &self,
        path: &str,
        server_url: &str,
        store: Arc<dyn TokenStore>,
    ) -> Result<ClientOptions, Error> {
        let mut o = ClientOptions::new(server_url, store)?;
        o.redirect_uri = self.redirect_uri.clone();
        o.client = self.client_config(path)?;
        o.scopes = self.scope(path)?;
        o.policies = self.policies();
        o.dpop = self.dpop;
        if let Some(user) = &self.default_user_id {
            o.user = user.clone();
        }
        Ok(o)
    }
}

/// The configured `scopes` of the provider at `path` as one `scope` value
/// ([`mcp_oauth_core::scope::from_list`]).
/// `private_key_jwt` credentials of `client_id` with the key in `file`, read now; `path`
/// (`authentication.<name>`) names a missing `private_key_file`.
pub(super) fn private_key_jwt_credentials(
    client_id: &str,
    file: Option<&std::path::Path>,
    alg: SigningAlg,
    path: &str,
) -> Result<ClientCredentials, Error> {
    let file =
        file.ok_or_else(|| err(&format!("{path}.private_key_file"), ConfigProblem::Missing))?;
    let signer = PrivateKeySigner::from_pem_file(file, alg)?;
    Ok(ClientCredentials::private_key_jwt(client_id.to_owned(), Arc::new(signer)))
}

pub(super) fn scope_value(
    scopes: Option<&[String]>,
    path: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(list) = scopes else { return Ok(None) };
    mcp_oauth_core::scope::from_list(list)
        .map_err(|e| err(&format!("{path}.scopes"), ConfigProblem::InvalidValue(e.to_string())))
}

impl ServiceAccount {
    /// The client at the token endpoint; reads `private_key_file` (IO) for `private_key_jwt`.
    /// `path` (`authentication.<name>`) names a missing key file.
    pub fn load_credentials(&self, path: &str) -> Result<ClientCredentials, Error> {
        Ok(match self.token_endpoint_auth_method {
            TokenEndpointAuth::PrivateKeyJwt => private_key_jwt_credentials(
                &self.client_id,
                self.private_key_file.as_deref(),
                self.signing_alg,
                path,
            )?,
            m => ClientCredentials::secret(
                self.client_id.clone(),
                self.client_secret.clone().unwrap_or_default(),
                m,
            ),
        })
    }

    /// The headless options for the MCP server `server_url` with `client`
    /// ([`ServiceAccount::load_credentials`]): client credentials at `token_url` (no
    /// discovery), `issuer`, `scopes`, `token_cache_buffer_seconds`, the `service_token`
    /// header, and no `resource` parameter when `send_resource: false`. `path`
    /// (`authentication.<name>`) prefixes errors.
    pub fn headless_options(
        &self,
        path: &str,
        server_url: &str,
        client: ClientCredentials,
    ) -> Result<HeadlessOptions, Error> {
        let mut o = HeadlessOptions::new(server_url, HeadlessGrant::ClientCredentials { client })?;
        o.token_url = Some(self.token_url.clone());
        o.issuer = self.issuer.clone();
        o.scopes = scope_value(self.scopes.as_deref(), path)?;
        o.refresh_buffer = Duration::from_secs(self.token_cache_buffer_seconds);
        o.dpop = self.dpop;
        if let Some(token) = &self.service_token {
            o.extra_headers.push((self.service_token_header.clone(), token.clone()));
        }
        if !self.send_resource {
            // RFC 8707 §2: the resource parameter is optional; this server rejects it. The
            // policy is keyed by the issuer the core takes for this endpoint.
            let token_endpoint = EndpointUrl::parse(&self.token_url).map_err(|e| {
                err(&format!("{path}.token_url"), ConfigProblem::InvalidValue(e.to_string()))
            })?;
            let fixed = FixedTokenEndpoint { token_endpoint, issuer: self.issuer.clone() };
            let mut omit = ServerPolicy::default();
            omit.danger_omit_resource = true;
            o.policies.push((fixed.effective_issuer(), omit));
        }
        Ok(o)
    }
}

#[cfg(feature = "server")]
impl McpOAuth2 {
    /// Applies the provider to the multi-user server's configuration: `redirect_uri`, the
    /// client identity, `scopes`, `server_policies` and `dpop`; the signer of `private_key_file` is
    /// [`McpOAuth2::load_signer`]'s to read. `token_storage: file` is refused (the server keeps
    /// tokens in its own store: memory or Redis, which the host opens). `path`
    /// (`authentication.<name>`) prefixes errors.
    pub fn apply_to_server(
        &self,
        path: &str,
        config: &mut crate::server::ServerConfig,
    ) -> Result<(), ConfigError> {
        if let TokenStorage::File { .. } = self.token_storage {
            return Err(err(
                &format!("{path}.token_storage"),
                ConfigProblem::InvalidValue(
                    "the multi-user server keeps tokens in memory, redis or mysql, not files"
                        .into(),
                ),
            ));
        }
        config.redirect_uri = self.redirect_uri.clone();
        config.client = self.client_config(path)?;
        config.scopes = self.scope(path)?;
        config.policies = self.policies();
        config.dpop = self.dpop;
        Ok(())
    }
}
