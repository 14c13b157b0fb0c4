//! The mapping from the model to the client options: what a provider of the file means for
//! [`crate::ClientOptions`] and [`crate::HeadlessOptions`].

use super::*;

impl McpOAuth2 {
    /// The client identity these options describe (`client_name`,
    /// `enable_dynamic_registration`, `client_id`/`client_secret` with
    /// `token_endpoint_auth_method`, `client_metadata_url`). `private_key_file` is not part of
    /// it: the host loads the key into a signer.
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
}
