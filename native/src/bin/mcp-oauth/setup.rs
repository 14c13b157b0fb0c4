//! The options with the configuration file's group applied: the library's mapping
//! ([`mcp_oauth::config`]) first, the command-line flags on top (flags win).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth::client::Progress;
use mcp_oauth::config::{self, AuthProvider, Config, GroupKind, TokenStorage, Transport};
use mcp_oauth::core::policy::ServerPolicy;
use mcp_oauth::core::registration::{ClientConfig, PreRegistered};
use mcp_oauth::core::secret::{ClientSecret, IdToken};
use mcp_oauth::core::token::TokenEndpointAuth;
use mcp_oauth::core::url::EndpointUrl;
use mcp_oauth::headless::{AssertionSource, ClientCredentials};
use mcp_oauth::mcp::McpTarget;
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::store::{FileStore, KeySource, MemoryStore, SealingKeys, TokenStore};
use mcp_oauth::{
    BrowserMode, ClientOptions, Error, HeadlessClient, HeadlessGrant, HeadlessOptions, OAuthClient,
};

use crate::args::{Alg, Browser, Grant, Opts, StoreKind, UrlArg};

pub(crate) fn default_store_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("mcp-oauth");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local").join("share").join("mcp-oauth")
}

/// The options with the configuration file's group applied (command-line options win).
pub(crate) struct Setup {
    pub(crate) opts: Opts,
    pub(crate) group: Option<(String, config::FunctionGroup, Option<AuthProvider>)>,
}

pub(crate) fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

impl Setup {
    pub(crate) fn new(opts: Opts) -> Result<Setup, Error> {
        let config = match &opts.config {
            Some(path) => Some(Config::load(path)?),
            None => None,
        };
        let group = match (&opts.group, &config) {
            (Some(name), Some(c)) => {
                let (g, p) = c.group(name)?;
                Some((name.clone(), g.clone(), p.cloned()))
            }
            (Some(_), None) => return Err(usage("--group needs --config FILE")),
            (None, _) => None,
        };
        Ok(Setup { opts, group })
    }

    /// `authentication.<name>`: the YAML path of the group's provider, for errors.
    fn provider_path(&self) -> String {
        let name = self.group.as_ref().and_then(|(_, g, _)| g.server.auth_provider.as_deref());
        format!("authentication.{}", name.unwrap_or_default())
    }

    pub(crate) fn oauth2(&self) -> Option<&config::McpOAuth2> {
        match &self.group {
            Some((_, _, Some(AuthProvider::OAuth2(o)))) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn service_account(&self) -> Option<&config::ServiceAccount> {
        match &self.group {
            Some((_, _, Some(AuthProvider::ServiceAccount(s)))) => Some(s),
            _ => None,
        }
    }

    fn workload_identity(&self) -> Option<&config::WorkloadIdentity> {
        match &self.group {
            Some((_, _, Some(AuthProvider::WorkloadIdentity(w)))) => Some(w),
            _ => None,
        }
    }

    /// The MCP server: --url, else the group's server.
    pub(crate) fn url(&self, arg: &UrlArg) -> Result<String, Error> {
        if let Some(u) = &arg.url {
            return Ok(u.clone());
        }
        let Some((name, group, _)) = &self.group else {
            return Err(usage("--url URL is required (or --config FILE --group NAME)"));
        };
        match group.server.transport {
            Transport::StreamableHttp => {}
            Transport::Sse => {
                return Err(usage(format!(
                    "function group {name} uses the sse transport, which runs without \
                     authorization: there is nothing to log in to or out of"
                )))
            }
            Transport::Stdio => {
                return Err(usage(format!(
                    "function group {name} is a stdio server: it runs locally and needs no authorization"
                )))
            }
        }
        group
            .server
            .url
            .clone()
            .ok_or_else(|| usage(format!("function group {name} has no server url")))
    }

    /// The MCP server of `tools`: --url (streamable HTTP), else the group's server, whatever
    /// its transport.
    pub(crate) fn target(&self, arg: &UrlArg) -> Result<McpTarget, Error> {
        if let Some(u) = &arg.url {
            return Ok(McpTarget::StreamableHttp { url: u.clone() });
        }
        let Some((name, group, _)) = &self.group else {
            return Err(usage("--url URL is required (or --config FILE --group NAME)"));
        };
        McpTarget::of(&group.server).map_err(|e| usage(format!("function group {name}: {e}")))
    }

    /// True when the group names an authentication provider or a headless grant is chosen.
    pub(crate) fn implies_auth(&self) -> bool {
        self.opts.grant != Grant::AuthorizationCode
            || self.group.as_ref().is_some_and(|(_, _, p)| p.is_some())
    }

    pub(crate) fn user(&self) -> String {
        if let Some(u) = &self.opts.user {
            return u.clone();
        }
        if let Some((_, g, _)) = &self.group {
            if g.kind == GroupKind::Shared {
                return "shared".to_owned();
            }
        }
        self.oauth2().and_then(|o| o.default_user_id.clone()).unwrap_or_else(|| "default".into())
    }

    pub(crate) fn store(&self) -> Result<Arc<dyn TokenStore>, Error> {
        self.store_and_file().map(|(store, _)| store)
    }

    /// The token store, and the same store as a [`FileStore`] when it is one (the proxy
    /// coordinates its instances through the store directory).
    pub(crate) fn store_and_file(&self) -> Result<(Arc<dyn TokenStore>, Option<FileStore>), Error> {
        let configured = self.oauth2().map(|o| o.token_storage.clone());
        let kind = match (self.opts.token_store, configured) {
            (Some(StoreKind::Memory), _) => TokenStorage::Memory,
            (Some(StoreKind::File), Some(TokenStorage::File { dir })) => TokenStorage::File { dir },
            (Some(StoreKind::File), _) => TokenStorage::File { dir: None },
            (None, Some(t)) => t,
            (None, None) => TokenStorage::File { dir: None },
        };
        Ok(match kind {
            TokenStorage::Memory => (Arc::new(MemoryStore::new()), None),
            TokenStorage::File { dir } => {
                let dir = self.opts.store_dir.clone().or(dir).unwrap_or_else(default_store_dir);
                // Keys being rotated out open entries (re-sealed with the current key).
                let previous = match std::env::var(SealingKeys::PREVIOUS_ENV_VAR) {
                    Ok(text) => SealingKeys::parse_list(&text, SealingKeys::PREVIOUS_ENV_VAR)?,
                    Err(std::env::VarError::NotPresent) => Vec::new(),
                    Err(std::env::VarError::NotUnicode(_)) => {
                        return Err(usage(format!("{} is not text", SealingKeys::PREVIOUS_ENV_VAR)))
                    }
                };
                let store = FileStore::open_with_previous_keys(
                    dir.clone(),
                    KeySource::Default(dir),
                    &previous,
                )?;
                (Arc::new(store.clone()), Some(store))
            }
            shared @ (TokenStorage::Redis { .. } | TokenStorage::Mysql { .. }) => {
                let name =
                    if matches!(shared, TokenStorage::Redis { .. }) { "redis" } else { "mysql" };
                return Err(usage(format!(
                    "token_storage {name} needs the multi-user server (its {name} store); the CLI \
                     keeps tokens in `file` or `memory` storage: pass --token-store file|memory"
                )));
            }
            TokenStorage::S3 { .. } => {
                return Err(usage(
                    "token_storage s3 needs the multi-user server (its s3 store); the CLI \
                     keeps tokens in `file` or `memory` storage: pass --token-store file|memory",
                ))
            }
        })
    }

    pub(crate) fn client(
        &self,
        url: &str,
        store: Arc<dyn TokenStore>,
    ) -> Result<Arc<OAuthClient>, Error> {
        let opts = &self.opts;
        let cfg = self.oauth2();
        // The library's mapping of the provider first; the flags below win over it.
        let (mut o, cfg_signer) = match cfg {
            Some(c) => {
                // `private_key_file` is read only when --private-key does not replace it.
                let signer = match &opts.private_key {
                    Some(_) => None,
                    None => c.load_signer()?,
                };
                (c.client_options(&self.provider_path(), url, store)?, signer)
            }
            None => {
                let mut o = ClientOptions::new(url, store)?;
                o.client = ClientConfig::dynamic("mcp-oauth CLI");
                (o, None)
            }
        };
        if let Some(r) = &opts.redirect_uri {
            o.redirect_uri = r.clone();
        }
        o.user = self.user();
        if let Some(s) = &opts.scope {
            o.scopes = scope_flag(s)?;
        }
        if let Some(d) = opts.dpop {
            o.dpop = dpop_mode(d);
        }
        o.timeout = Duration::from_secs(opts.timeout);
        o.browser = match opts.browser {
            Browser::Open => BrowserMode::Open,
            Browser::Print => BrowserMode::Print,
            Browser::Follow => BrowserMode::Follow,
        };
        let configured = o.client.pre_registered.take();
        let client_id =
            opts.client_id.clone().or_else(|| configured.as_ref().map(|p| p.client_id.clone()));
        let client_secret = opts
            .client_secret
            .clone()
            .map(ClientSecret::new)
            .or_else(|| configured.as_ref().and_then(|p| p.client_secret.clone()));
        let auth_method = match &opts.token_endpoint_auth_method {
            Some(m) => Some(auth_method(m)?),
            None => configured.as_ref().and_then(|p| p.auth_method),
        };
        let signer = match &opts.private_key {
            Some(path) => Some(Arc::new(PrivateKeySigner::from_pem_file(
                path,
                signing_alg(opts.signing_alg),
            )?)),
            None => cfg_signer,
        };
        if let Some(signer) = signer {
            if auth_method.is_some_and(|m| m != TokenEndpointAuth::PrivateKeyJwt) {
                return Err(usage(
                    "--private-key needs --token-endpoint-auth-method private_key_jwt",
                ));
            }
            o.assertion_signer = Some(signer);
        }
        if let Some(id) = client_id {
            o.client.pre_registered = Some(PreRegistered {
                client_id: id,
                client_secret,
                auth_method,
                issuers: if opts.client_issuer.is_empty() {
                    configured.map(|p| p.issuers).unwrap_or_default()
                } else {
                    opts.client_issuer.clone()
                },
            });
        } else if client_secret.is_some() {
            return Err(usage("--client-secret needs --client-id"));
        }
        if let Some(u) = &opts.client_metadata_url {
            o.client.metadata_document_url = Some(
                EndpointUrl::parse(u).map_err(|e| usage(format!("--client-metadata-url: {e}")))?,
            );
        }
        o.policies = self.policies();
        o.progress = Some(Arc::new(|p: Progress| {
            match p {
            Progress::Authorizing => eprintln!("mcp-oauth: discovering the authorization server…"),
            Progress::Registered { client_id } => eprintln!("mcp-oauth: registered client {client_id}"),
            Progress::BrowserOpened { url } => eprintln!("mcp-oauth: opened the browser at\n  {url}"),
            Progress::VisitUrl { url } => eprintln!("mcp-oauth: open this URL to authorize:\n  {url}"),
            Progress::Waiting { redirect_uri, timeout_secs } => eprintln!(
                "mcp-oauth: waiting for the authorization at {redirect_uri} (up to {timeout_secs} s; Ctrl-C to cancel)…"
            ),
            Progress::Following => eprintln!("mcp-oauth: following the authorization server's redirects…"),
            Progress::Authorized => eprintln!("mcp-oauth: authorized"),
            Progress::Notice { message } => eprintln!("mcp-oauth: note: {message}"),
            _ => {}
        }
        }));
        Ok(Arc::new(OAuthClient::new(o)?))
    }

    /// Per-issuer policies: the config's `server_policies`, then the --danger-* options.
    pub(crate) fn policies(&self) -> Vec<(String, ServerPolicy)> {
        let mut policies = self.oauth2().map(|c| c.policies()).unwrap_or_default();
        fn entry<'a>(
            policies: &'a mut Vec<(String, ServerPolicy)>,
            issuer: &str,
        ) -> &'a mut ServerPolicy {
            let i = match policies.iter().position(|(i, _)| i == issuer) {
                Some(i) => i,
                None => {
                    policies.push((issuer.to_owned(), ServerPolicy::default()));
                    policies.len() - 1
                }
            };
            &mut policies[i].1
        }
        for issuer in &self.opts.danger_assume_pkce_s256 {
            entry(&mut policies, issuer).danger_assume_pkce_s256 = true;
        }
        for issuer in &self.opts.danger_omit_resource {
            entry(&mut policies, issuer).danger_omit_resource = true;
        }
        policies
    }

    /// The client at the authorization server for the headless grants.
    pub(crate) fn headless_client(
        &self,
        required_secret: bool,
    ) -> Result<ClientCredentials, Error> {
        let opts = &self.opts;
        let id = opts.client_id.clone().ok_or_else(|| {
            usage(format!(
                "--grant {} needs --client-id (and --client-secret or --private-key)",
                grant_name(opts.grant)
            ))
        })?;
        let method = opts.token_endpoint_auth_method.as_deref().map(auth_method).transpose()?;
        if let Some(path) = &opts.private_key {
            if method.is_some_and(|m| m != TokenEndpointAuth::PrivateKeyJwt) {
                return Err(usage(
                    "--private-key needs --token-endpoint-auth-method private_key_jwt",
                ));
            }
            let signer = PrivateKeySigner::from_pem_file(path, signing_alg(opts.signing_alg))?;
            return Ok(ClientCredentials::private_key_jwt(id, Arc::new(signer))
                .with_issuers(opts.client_issuer.clone()));
        }
        let client = match (&opts.client_secret, method) {
            (_, Some(TokenEndpointAuth::PrivateKeyJwt)) => {
                Err(usage("private_key_jwt needs --private-key FILE"))
            }
            // No method given: the core chooses from the server's metadata.
            (Some(secret), m) => Ok(ClientCredentials {
                method: m,
                ..ClientCredentials::client_secret(id, secret.clone())
            }),
            (None, _) if !required_secret => Ok(ClientCredentials::public(id)),
            (None, _) => Err(usage(format!(
                "--grant {} needs --client-secret or --private-key",
                grant_name(opts.grant)
            ))),
        }?;
        Ok(client.with_issuers(opts.client_issuer.clone()))
    }

    /// The headless client, when the grant or the group's provider is one.
    pub(crate) fn headless(&self, url: &str) -> Result<Option<Arc<HeadlessClient>>, Error> {
        let opts = &self.opts;
        let mut o = if let Some(sa) = self.service_account() {
            let path = self.provider_path();
            let client = sa.load_credentials(&path)?;
            sa.headless_options(&path, url, client)?
        } else if let Some(w) = self.workload_identity() {
            w.headless_options(&self.provider_path(), url)?
        } else {
            let grant = match opts.grant {
                Grant::AuthorizationCode => return Ok(None),
                Grant::ClientCredentials => {
                    HeadlessGrant::ClientCredentials { client: self.headless_client(true)? }
                }
                Grant::CrossApp => {
                    let need = |v: &Option<String>, flag: &str| {
                        v.clone().ok_or_else(|| usage(format!("--grant cross-app needs {flag}")))
                    };
                    let idp_id = need(&opts.idp_client_id, "--idp-client-id")?;
                    HeadlessGrant::CrossApp {
                        idp_token_endpoint: need(
                            &opts.idp_token_endpoint,
                            "--idp-token-endpoint URL",
                        )?,
                        id_token: IdToken::new(need(&opts.id_token, "--id-token TOKEN")?),
                        idp_client: match &opts.idp_client_secret {
                            Some(s) => ClientCredentials::client_secret(idp_id, s.clone()),
                            None => ClientCredentials::public(idp_id),
                        },
                        client: self.headless_client(false)?,
                    }
                }
                Grant::JwtBearer => HeadlessGrant::JwtBearer {
                    assertion: match &opts.assertion_file {
                        Some(path) => AssertionSource::File(path.clone()),
                        None if std::env::var_os(ASSERTION_ENV).is_some() => {
                            AssertionSource::Env(ASSERTION_ENV.to_owned())
                        }
                        None => {
                            return Err(usage(format!(
                                "--grant jwt-bearer needs --assertion-file FILE or the \
                                 environment variable {ASSERTION_ENV} (the platform's JWT)"
                            )))
                        }
                    },
                    client: self.headless_client(false)?,
                },
            };
            HeadlessOptions::new(url, grant)?
        };
        if let Some(s) = &opts.scope {
            o.scopes = scope_flag(s)?;
        }
        o.policies.extend(self.policies());
        // --dpop wins over the provider's `dpop:`, as for the authorization-code flow.
        if let Some(d) = opts.dpop {
            o.dpop = dpop_mode(d);
        }
        Ok(Some(Arc::new(HeadlessClient::new(o)?)))
    }
}

/// The environment variable holding the workload's assertion when no file is given.
const ASSERTION_ENV: &str = "MCP_OAUTH_ASSERTION";

pub(crate) fn dpop_mode(d: crate::args::Dpop) -> mcp_oauth::core::dpop::DpopMode {
    match d {
        crate::args::Dpop::Auto => mcp_oauth::core::dpop::DpopMode::Auto,
        crate::args::Dpop::Always => mcp_oauth::core::dpop::DpopMode::Always,
        crate::args::Dpop::Never => mcp_oauth::core::dpop::DpopMode::Never,
    }
}

pub(crate) fn signing_alg(a: Alg) -> SigningAlg {
    match a {
        Alg::Es256 => SigningAlg::Es256,
        Alg::Rs256 => SigningAlg::Rs256,
    }
}

pub(crate) fn grant_name(g: Grant) -> &'static str {
    match g {
        Grant::AuthorizationCode => "authorization-code",
        Grant::ClientCredentials => "client-credentials",
        Grant::CrossApp => "cross-app",
        Grant::JwtBearer => "jwt-bearer",
    }
}

pub(crate) fn auth_method(name: &str) -> Result<TokenEndpointAuth, Error> {
    TokenEndpointAuth::from_name(name).ok_or_else(|| {
        usage(format!(
            "--token-endpoint-auth-method {name}: expected none, client_secret_basic, \
             client_secret_post or private_key_jwt"
        ))
    })
}

/// `--scope` (space-separated) as one `scope` value, each token checked by the core.
fn scope_flag(value: &str) -> Result<Option<String>, Error> {
    let tokens: Vec<&str> = mcp_oauth_core::scope::split(value).collect();
    mcp_oauth_core::scope::from_list(&tokens).map_err(|e| Error::Usage(format!("--scope: {e}")))
}
