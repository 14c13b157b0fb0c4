//! `mcp-oauth`: list and call the tools of an MCP server, authorizing with OAuth when it asks.
//!
//! Progress goes to stderr, results to stdout (a table, or JSON with `--json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_oauth::client::{Progress, DEFAULT_REDIRECT_URI};
use mcp_oauth::config::{self, AuthProvider, Config, GroupKind, TokenStorage, Transport};
use mcp_oauth::core::policy::ServerPolicy;
use mcp_oauth::core::registration::{ClientConfig, PreRegistered};
use mcp_oauth::core::secret::{ClientSecret, IdToken};
use mcp_oauth::core::token::TokenEndpointAuth;
use mcp_oauth::core::url::EndpointUrl;
use mcp_oauth::headless::ClientCredentials;
use mcp_oauth::mcp::{Authorizer, McpSession};
use mcp_oauth::signer::{PrivateKeySigner, SigningAlg};
use mcp_oauth::store::{FileStore, KeySource, MemoryStore, TokenStore};
use mcp_oauth::{
    BrowserMode, ClientOptions, Error, HeadlessClient, HeadlessGrant, HeadlessOptions, OAuthClient,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error
  2  usage error (bad options, unknown tool)
  3  authorization failed (denied, timed out, server metadata or registration refused,
     token request rejected)
  4  not authorized yet (run `mcp-oauth login --url URL` or pass --auth)
  5  the MCP server failed (connection refused by it, protocol error, tool error)
  6  network error reaching a server
  7  token store error (unreadable, wrong key)
  130 cancelled with Ctrl-C";

#[derive(Parser, Debug)]
#[command(name = "mcp-oauth", version, about = "MCP client with OAuth 2 authorization", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Args, Debug, Clone)]
struct Opts {
    /// A configuration file (YAML: function_groups, authentication); see `config schema`.
    #[arg(long, global = true, env = "MCP_OAUTH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The function group of --config to use (its server URL and authentication).
    #[arg(long, global = true, env = "MCP_OAUTH_GROUP", value_name = "NAME")]
    group: Option<String>,
    /// How to obtain tokens.
    #[arg(long, global = true, env = "MCP_OAUTH_GRANT", value_enum, default_value_t = Grant::AuthorizationCode)]
    grant: Grant,
    /// The redirect URI (a loopback URI without a port listens on 8000; port 0 picks a free one)
    /// [default: http://localhost:8000/auth/redirect].
    #[arg(long, global = true, env = "MCP_OAUTH_REDIRECT_URI")]
    redirect_uri: Option<String>,
    /// A client id issued by the authorization server (skips registration).
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_ID")]
    client_id: Option<String>,
    /// The client secret of --client-id.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// The issuer --client-id belongs to (repeatable); its secret or key is never sent to
    /// another [default: the first issuer it is used with, pinned].
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_ISSUER", value_delimiter = ',')]
    client_issuer: Vec<String>,
    /// How --client-id authenticates at the token endpoint (none, client_secret_basic,
    /// client_secret_post, private_key_jwt) [default: client_secret_basic with a secret,
    /// private_key_jwt with --private-key].
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_TOKEN_ENDPOINT_AUTH_METHOD",
        value_name = "METHOD"
    )]
    token_endpoint_auth_method: Option<String>,
    /// A PEM private key (PKCS#8; PKCS#1 for RSA) for private_key_jwt client authentication.
    #[arg(long, global = true, env = "MCP_OAUTH_PRIVATE_KEY", value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// The algorithm of --private-key.
    #[arg(long, global = true, env = "MCP_OAUTH_SIGNING_ALG", value_enum, default_value_t = Alg::Es256)]
    signing_alg: Alg,
    /// Cross-app access: the identity provider's token endpoint (RFC 8693 exchange).
    #[arg(long, global = true, env = "MCP_OAUTH_IDP_TOKEN_ENDPOINT", value_name = "URL")]
    idp_token_endpoint: Option<String>,
    /// Cross-app access: the user's ID token from the identity provider.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_ID_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    id_token: Option<String>,
    /// Cross-app access: this client's id at the identity provider.
    #[arg(long, global = true, env = "MCP_OAUTH_IDP_CLIENT_ID", value_name = "ID")]
    idp_client_id: Option<String>,
    /// Cross-app access: the secret of --idp-client-id.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_IDP_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    idp_client_secret: Option<String>,
    /// A Client ID Metadata Document URL, used when the server supports it.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_METADATA_URL")]
    client_metadata_url: Option<String>,
    /// Scopes to request (space-separated), instead of the server's.
    #[arg(long, global = true, env = "MCP_OAUTH_SCOPE")]
    scope: Option<String>,
    /// How to get the user's consent.
    #[arg(long, global = true, env = "MCP_OAUTH_BROWSER", value_enum, default_value_t = Browser::Open)]
    browser: Browser,
    /// Where tokens are kept [default: file].
    #[arg(long, global = true, env = "MCP_OAUTH_TOKEN_STORE", value_enum)]
    token_store: Option<StoreKind>,
    /// The directory of the file store (default: $XDG_DATA_HOME/mcp-oauth or ~/.local/share/mcp-oauth).
    #[arg(long, global = true, env = "MCP_OAUTH_STORE_DIR")]
    store_dir: Option<PathBuf>,
    /// The user the tokens belong to [default: the config's default_user_id, else "default"].
    #[arg(long, global = true, env = "MCP_OAUTH_USER")]
    user: Option<String>,
    /// Seconds to wait for the authorization in the browser.
    #[arg(long, global = true, env = "MCP_OAUTH_TIMEOUT", default_value_t = 300)]
    timeout: u64,
    /// Print results as JSON.
    #[arg(long, global = true, env = "MCP_OAUTH_JSON")]
    json: bool,
    /// Accept an authorization server (by issuer) that does not advertise PKCE S256 support;
    /// PKCE S256 is still used. Repeatable.
    #[arg(long, global = true, value_name = "ISSUER")]
    danger_assume_pkce_s256: Vec<String>,
    /// Send no `resource` parameter to this authorization server (by issuer). Repeatable.
    #[arg(long, global = true, value_name = "ISSUER")]
    danger_omit_resource: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Grant {
    /// A user authorizes in the browser (authorization code + PKCE).
    AuthorizationCode,
    /// The client's own token (RFC 6749 §4.4), with a secret or private_key_jwt.
    ClientCredentials,
    /// Enterprise-managed authorization (SEP-990): ID token → ID-JAG at the identity provider →
    /// access token (RFC 8693, RFC 7523).
    CrossApp,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Alg {
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[value(name = "RS256")]
    Rs256,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Browser {
    /// Open the system browser ($BROWSER, else the OS opener).
    Open,
    /// Print the URL to open.
    Print,
    /// Follow the authorization server's redirects without a browser (auto-approving servers).
    Follow,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum StoreKind {
    /// Encrypted files in --store-dir.
    File,
    /// In memory, for this run only.
    Memory,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List or call tools.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
    },
    /// Authorize now (opens the browser) and store the tokens.
    Login(UrlArg),
    /// Show what is stored (for one server with --url).
    Status(OptionalUrlArg),
    /// Revoke the tokens (when the server supports it) and delete them locally.
    Logout(UrlArg),
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print every option of an authentication `_type` (mcp_oauth2, mcp_service_account) with
    /// its type, default and meaning.
    Schema {
        /// The `_type`.
        kind: String,
    },
    /// Load --config (interpolating the environment) and list its groups, or say what is wrong.
    Check,
}

#[derive(Subcommand, Debug)]
enum ToolsCommand {
    /// List the tools of an MCP server.
    List {
        #[command(flatten)]
        url: UrlArg,
        /// Authorize with OAuth when the server asks for it.
        #[arg(long)]
        auth: bool,
    },
    /// Call a tool.
    Call {
        /// The tool's name.
        #[arg(long)]
        name: String,
        /// The arguments as a JSON object.
        #[arg(long)]
        args: Option<String>,
        /// Authorize with OAuth when the server asks for it.
        #[arg(long)]
        auth: bool,
        #[command(flatten)]
        url: UrlArg,
    },
}

#[derive(Args, Debug)]
struct UrlArg {
    /// The MCP server's URL (streamable HTTP) [default: the --group's server url].
    #[arg(long, env = "MCP_OAUTH_URL")]
    url: Option<String>,
}

#[derive(Args, Debug)]
struct OptionalUrlArg {
    /// The MCP server's URL.
    #[arg(long, env = "MCP_OAUTH_URL")]
    url: Option<String>,
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Usage(_) | Error::SseNotSupported | Error::Config(_) | Error::PrivateKey(_) => 2,
        Error::AuthorizationRequired { .. } => 4,
        Error::Mcp(_) | Error::TokenRejected { .. } => 5,
        Error::Transport { .. } => 6,
        Error::Store(_) => 7,
        Error::Cancelled => 130,
        Error::Protocol(_) | Error::Redirect(_) | Error::Timeout { .. } => 3,
        _ => 1,
    }
}

/// What to do about an error, beyond its message.
fn hint(e: &Error) -> Option<String> {
    use mcp_oauth::core::server_metadata::ServerMetadataError as S;
    match e {
        Error::Protocol(mcp_oauth::core::Error::ServerMetadata(S::PkceSupportNotAdvertised { issuer })) => Some(format!(
            "if you trust that {issuer} supports PKCE S256, pass --danger-assume-pkce-s256 {issuer}"
        )),
        Error::Protocol(mcp_oauth::core::Error::Registration(
            mcp_oauth::core::registration::RegistrationError::NoClientIdentity { .. },
        )) => Some("register a client with the authorization server and pass --client-id (and --client-secret)".into()),
        Error::Protocol(mcp_oauth::core::Error::Callback(mcp_oauth::core::authorize::CallbackError::AccessDenied { .. })) => {
            Some("consent was denied at the authorization server; run the command again to retry".into())
        }
        Error::Transport { .. } => Some("check that the server is running and reachable".into()),
        Error::TokenRejected { .. } => Some(
            "the authorization server issued a token the MCP server does not accept (audience, \
             scope or issuer); check the server's resource configuration"
                .into(),
        ),
        _ => None,
    }
}

fn default_store_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("mcp-oauth");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local").join("share").join("mcp-oauth")
}

/// The options with the configuration file's group applied (command-line options win).
struct Setup {
    opts: Opts,
    group: Option<(String, config::FunctionGroup, Option<AuthProvider>)>,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

impl Setup {
    fn new(opts: Opts) -> Result<Setup, Error> {
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

    fn oauth2(&self) -> Option<&config::McpOAuth2> {
        match &self.group {
            Some((_, _, Some(AuthProvider::OAuth2(o)))) => Some(o),
            _ => None,
        }
    }

    fn service_account(&self) -> Option<&config::ServiceAccount> {
        match &self.group {
            Some((_, _, Some(AuthProvider::ServiceAccount(s)))) => Some(s),
            _ => None,
        }
    }

    /// The MCP server: --url, else the group's server.
    fn url(&self, arg: &UrlArg) -> Result<String, Error> {
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
                    "function group {name} uses the sse transport, which this CLI does not speak; use streamable-http"
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

    /// True when the group names an authentication provider or a headless grant is chosen.
    fn implies_auth(&self) -> bool {
        self.opts.grant != Grant::AuthorizationCode
            || self.group.as_ref().is_some_and(|(_, _, p)| p.is_some())
    }

    fn user(&self) -> String {
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

    fn store(&self) -> Result<Arc<dyn TokenStore>, Error> {
        let configured = self.oauth2().map(|o| o.token_storage.clone());
        let kind = match (self.opts.token_store, configured) {
            (Some(StoreKind::Memory), _) => TokenStorage::Memory,
            (Some(StoreKind::File), Some(TokenStorage::File { dir })) => TokenStorage::File { dir },
            (Some(StoreKind::File), _) => TokenStorage::File { dir: None },
            (None, Some(t)) => t,
            (None, None) => TokenStorage::File { dir: None },
        };
        Ok(match kind {
            TokenStorage::Memory => Arc::new(MemoryStore::new()),
            TokenStorage::File { dir } => {
                let dir = self.opts.store_dir.clone().or(dir).unwrap_or_else(default_store_dir);
                Arc::new(FileStore::open(dir.clone(), KeySource::Default(dir))?)
            }
            TokenStorage::Redis { .. } => {
                return Err(usage(
                    "token_storage redis needs the multi-user server (its redis store); the CLI \
                     keeps tokens in `file` or `memory` storage: pass --token-store file|memory",
                ))
            }
        })
    }

    fn client(&self, url: &str, store: Arc<dyn TokenStore>) -> Result<Arc<OAuthClient>, Error> {
        let opts = &self.opts;
        let cfg = self.oauth2();
        let mut o = ClientOptions::new(url, store)?;
        o.redirect_uri = opts
            .redirect_uri
            .clone()
            .or_else(|| cfg.map(|c| c.redirect_uri.clone()))
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        o.user = self.user();
        o.scopes =
            opts.scope.clone().or_else(|| cfg.and_then(|c| c.scopes.as_ref()).map(|s| s.join(" ")));
        o.timeout = Duration::from_secs(opts.timeout);
        o.browser = match opts.browser {
            Browser::Open => BrowserMode::Open,
            Browser::Print => BrowserMode::Print,
            Browser::Follow => BrowserMode::Follow,
        };
        o.client = ClientConfig::dynamic(cfg.map_or("mcp-oauth CLI", |c| c.client_name.as_str()));
        if let Some(c) = cfg {
            o.client.dynamic_registration = c.enable_dynamic_registration;
        }
        let client_id = opts.client_id.clone().or_else(|| cfg.and_then(|c| c.client_id.clone()));
        let client_secret =
            opts.client_secret.clone().or_else(|| cfg.and_then(|c| c.client_secret.clone()));
        let mut auth_method = match &opts.token_endpoint_auth_method {
            Some(m) => Some(auth_method(m)?),
            None => cfg.and_then(|c| c.token_endpoint_auth_method),
        };
        let key = match (&opts.private_key, cfg.and_then(|c| c.private_key_file.as_ref())) {
            (Some(path), _) => Some((path.clone(), signing_alg(opts.signing_alg))),
            (None, Some(path)) => cfg.map(|c| (path.clone(), c.signing_alg)),
            (None, None) => None,
        };
        if let Some((path, alg)) = key {
            if auth_method.is_some_and(|m| m != TokenEndpointAuth::PrivateKeyJwt) {
                return Err(usage(
                    "--private-key needs --token-endpoint-auth-method private_key_jwt",
                ));
            }
            auth_method = Some(TokenEndpointAuth::PrivateKeyJwt);
            o.assertion_signer = Some(Arc::new(PrivateKeySigner::from_pem_file(&path, alg)?));
        }
        if let Some(id) = client_id {
            o.client.pre_registered = Some(PreRegistered {
                client_id: id,
                client_secret: client_secret.map(ClientSecret::new),
                auth_method,
                issuers: if opts.client_issuer.is_empty() {
                    cfg.map(|c| c.client_issuer.clone()).unwrap_or_default()
                } else {
                    opts.client_issuer.clone()
                },
            });
        } else if client_secret.is_some() {
            return Err(usage("--client-secret needs --client-id"));
        }
        let metadata_url = opts
            .client_metadata_url
            .clone()
            .or_else(|| cfg.and_then(|c| c.client_metadata_url.clone()));
        if let Some(u) = &metadata_url {
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
            _ => {}
        }
        }));
        Ok(Arc::new(OAuthClient::new(o)?))
    }

    /// Per-issuer policies: the config's `server_policies`, then the --danger-* options.
    fn policies(&self) -> Vec<(String, ServerPolicy)> {
        let mut policies: Vec<(String, ServerPolicy)> = Vec::new();
        if let Some(c) = self.oauth2() {
            for (issuer, p) in &c.server_policies {
                policies.push((
                    issuer.clone(),
                    ServerPolicy {
                        danger_assume_pkce_s256: p.danger_assume_pkce_s256,
                        danger_omit_resource: p.danger_omit_resource,
                        extra_authorization_params: p.authorization_params.clone(),
                    },
                ));
            }
        }
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
    fn headless_client(&self, required_secret: bool) -> Result<ClientCredentials, Error> {
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
            (Some(secret), m) => Ok(ClientCredentials::secret(
                id,
                secret.clone(),
                m.unwrap_or(TokenEndpointAuth::ClientSecretBasic),
            )),
            (None, _) if !required_secret => Ok(ClientCredentials::public(id)),
            (None, _) => Err(usage(format!(
                "--grant {} needs --client-secret or --private-key",
                grant_name(opts.grant)
            ))),
        }?;
        Ok(client.with_issuers(opts.client_issuer.clone()))
    }

    /// The headless client, when the grant or the group's provider is one.
    fn headless(&self, url: &str) -> Result<Option<Arc<HeadlessClient>>, Error> {
        let opts = &self.opts;
        let mut o = if let Some(sa) = self.service_account() {
            let client = match sa.token_endpoint_auth_method {
                TokenEndpointAuth::PrivateKeyJwt => {
                    let path = sa
                        .private_key_file
                        .as_ref()
                        .ok_or_else(|| usage("private_key_file is required"))?;
                    let signer = PrivateKeySigner::from_pem_file(path, sa.signing_alg)?;
                    ClientCredentials::private_key_jwt(sa.client_id.clone(), Arc::new(signer))
                }
                m => ClientCredentials::secret(
                    sa.client_id.clone(),
                    sa.client_secret.clone().unwrap_or_default(),
                    m,
                ),
            };
            let mut o = HeadlessOptions::new(url, HeadlessGrant::ClientCredentials { client })?;
            o.token_url = Some(sa.token_url.clone());
            o.issuer = sa.issuer.clone();
            o.scopes = sa.scopes.as_ref().map(|s| s.join(" "));
            o.refresh_buffer = Duration::from_secs(sa.token_cache_buffer_seconds);
            if let Some(token) = &sa.service_token {
                o.extra_headers.push((sa.service_token_header.clone(), token.clone()));
            }
            if !sa.send_resource {
                let issuer = sa.issuer.clone().unwrap_or_else(|| sa.token_url.clone());
                o.policies.push((
                    issuer,
                    ServerPolicy { danger_omit_resource: true, ..ServerPolicy::default() },
                ));
            }
            o
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
                            Some(s) => ClientCredentials::secret(
                                idp_id,
                                s.clone(),
                                TokenEndpointAuth::ClientSecretBasic,
                            ),
                            None => ClientCredentials::public(idp_id),
                        },
                        client: self.headless_client(false)?,
                    }
                }
            };
            let mut o = HeadlessOptions::new(url, grant)?;
            o.scopes = opts.scope.clone();
            o
        };
        if opts.scope.is_some() {
            o.scopes = opts.scope.clone();
        }
        o.policies.extend(self.policies());
        Ok(Some(Arc::new(HeadlessClient::new(o)?)))
    }
}

fn signing_alg(a: Alg) -> SigningAlg {
    match a {
        Alg::Es256 => SigningAlg::Es256,
        Alg::Rs256 => SigningAlg::Rs256,
    }
}

fn grant_name(g: Grant) -> &'static str {
    match g {
        Grant::AuthorizationCode => "authorization-code",
        Grant::ClientCredentials => "client-credentials",
        Grant::CrossApp => "cross-app",
    }
}

fn auth_method(name: &str) -> Result<TokenEndpointAuth, Error> {
    TokenEndpointAuth::from_name(name).ok_or_else(|| {
        usage(format!(
            "--token-endpoint-auth-method {name}: expected none, client_secret_basic, \
             client_secret_post or private_key_jwt"
        ))
    })
}

async fn run(cli: Cli) -> Result<(), Error> {
    if let Command::Config { command } = &cli.command {
        return config_command(command, &cli.opts);
    }
    let setup = Setup::new(cli.opts)?;
    let opts = &setup.opts;
    match cli.command {
        Command::Config { .. } => {}
        Command::Tools { command: ToolsCommand::List { url, auth } } => {
            let url = setup.url(&url)?;
            let session = connect(&setup, &url, auth).await?;
            let tools = session.list_tools().await;
            session.close().await;
            print_tools(&tools?, opts.json);
        }
        Command::Tools { command: ToolsCommand::Call { name, args, auth, url } } => {
            let url = setup.url(&url)?;
            let arguments = match args {
                None => None,
                Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(map)) => Some(map),
                    Ok(_) => return Err(usage("--args must be a JSON object")),
                    Err(e) => return Err(usage(format!("--args is not valid JSON: {e}"))),
                },
            };
            let session = connect(&setup, &url, auth).await?;
            let result = call(&session, &name, arguments).await;
            session.close().await;
            let result = result?;
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
            } else {
                for block in &result.content {
                    match block.as_text() {
                        Some(t) => println!("{}", t.text),
                        None => println!("{}", serde_json::to_string(block).unwrap_or_default()),
                    }
                }
            }
            if result.is_error == Some(true) {
                return Err(Error::Mcp(format!("the tool `{name}` reported an error")));
            }
        }
        Command::Login(url) => {
            let url = setup.url(&url)?;
            if let Some(h) = setup.headless(&url)? {
                h.access_token().await?;
                let tokens = h.tokens().await;
                print_headless(&url, tokens.as_ref(), opts.json);
                return Ok(());
            }
            let store = setup.store()?;
            let c = setup.client(&url, store)?;
            c.authorize().await?;
            print_status(&c.status().await?, opts.json);
        }
        Command::Status(OptionalUrlArg { url: Some(url) }) => {
            let store = setup.store()?;
            let c = setup.client(&url, store)?;
            print_status(&c.status().await?, opts.json);
        }
        Command::Status(OptionalUrlArg { url: None }) => {
            let store = setup.store()?;
            let user = setup.user();
            let keys = store.list(&user).await?;
            if keys.is_empty() && !opts.json {
                println!("no stored authorizations for user {user}");
            }
            for key in keys {
                let c = setup.client(&key.resource, store.clone())?;
                print_status(&c.status().await?, opts.json);
            }
        }
        Command::Logout(url) => {
            let url = setup.url(&url)?;
            let store = setup.store()?;
            let c = setup.client(&url, store)?;
            let report = c.logout().await?;
            if opts.json {
                let v = serde_json::json!({
                    "had_tokens": report.had_tokens,
                    "revoked": report.revoked,
                    "revocation_error": report.revocation_error,
                });
                println!("{v}");
            } else if !report.had_tokens {
                println!("nothing stored for {url}");
            } else {
                match &report.revocation_error {
                    None if report.revoked => println!("logged out: tokens revoked and deleted"),
                    None => {
                        println!("logged out: tokens deleted (the server offers no revocation)")
                    }
                    Some(e) => {
                        println!("logged out: tokens deleted locally; revocation failed: {e}")
                    }
                }
            }
        }
    }
    Ok(())
}

fn config_command(command: &ConfigCommand, opts: &Opts) -> Result<(), Error> {
    match command {
        ConfigCommand::Schema { kind } => match config::schema_text(kind) {
            Some(text) => print!("{text}"),
            None => {
                return Err(usage(format!(
                    "unknown _type `{kind}`; expected mcp_oauth2 or mcp_service_account"
                )))
            }
        },
        ConfigCommand::Check => {
            let path =
                opts.config.as_ref().ok_or_else(|| usage("config check needs --config FILE"))?;
            let c = Config::load(path)?;
            for (name, g) in &c.function_groups {
                let auth = g.server.auth_provider.as_deref().unwrap_or("(none)");
                let target = g.server.url.as_deref().or(g.server.command.as_deref()).unwrap_or("");
                println!("{name}: {target}  auth: {auth}");
            }
            println!(
                "ok: {} function group(s), {} authentication provider(s)",
                c.function_groups.len(),
                c.authentication.len()
            );
        }
    }
    Ok(())
}

fn print_headless(url: &str, tokens: Option<&mcp_oauth::core::token::TokenSet>, json: bool) {
    let expires = tokens.and_then(|t| t.expires_at).map(|t| t.secs());
    let scope = tokens.and_then(|t| t.scope.clone());
    if json {
        println!(
            "{}",
            serde_json::json!({ "server": url, "authorized": tokens.is_some(), "expires_at": expires, "scope": scope })
        );
        return;
    }
    println!("{url}  authorized (headless grant; the token is not stored)");
    if let Some(t) = expires {
        println!(
            "  access token expires in {} s",
            t as i64
                - std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()) as i64
        );
    }
    if let Some(scope) = scope {
        println!("  scope: {scope}");
    }
}

async fn connect(setup: &Setup, url: &str, auth: bool) -> Result<McpSession, Error> {
    let auth = auth || setup.implies_auth();
    let authorizer = if !auth {
        None
    } else if let Some(h) = setup.headless(url)? {
        Some(Authorizer::Headless(h))
    } else {
        Some(Authorizer::User(setup.client(url, setup.store()?)?))
    };
    McpSession::connect_with(url, authorizer, true).await.map_err(|e| match e {
        Error::Mcp(msg) if !auth && (msg.contains("Auth required") || msg.contains("401")) => {
            Error::Mcp(format!("{msg} — the server requires authorization; pass --auth"))
        }
        other => other,
    })
}

async fn call(
    session: &McpSession,
    name: &str,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<rmcp::model::CallToolResult, Error> {
    let tools = session.list_tools().await?;
    if !tools.iter().any(|t| t.name == name) {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        return Err(Error::Usage(format!(
            "the server has no tool `{name}`; available: {}",
            if names.is_empty() { "(none)".to_owned() } else { names.join(", ") }
        )));
    }
    session.call_tool(name, arguments).await
}

fn print_tools(tools: &[rmcp::model::Tool], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(tools).unwrap_or_default());
        return;
    }
    let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    println!("{:width$}  DESCRIPTION", "NAME");
    for t in tools {
        let desc = t.description.as_deref().unwrap_or("").lines().next().unwrap_or("");
        println!("{:width$}  {desc}", t.name);
    }
}

fn print_status(s: &mcp_oauth::Status, json: bool) {
    if json {
        let v = serde_json::json!({
            "server": s.server, "user": s.user, "issuer": s.issuer, "authorized": s.authorized,
            "expires_at": s.expires_at.map(|t| t.secs()), "refreshable": s.refreshable, "scope": s.scope,
        });
        println!("{v}");
        return;
    }
    let state = if s.authorized {
        "authorized"
    } else if s.refreshable {
        "expired (refreshable)"
    } else {
        "not authorized"
    };
    println!("{}  user={}  {state}", s.server, s.user);
    if let Some(i) = &s.issuer {
        println!("  issuer: {i}");
    }
    if let Some(t) = s.expires_at {
        let left = t.secs() as i64
            - std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()) as i64;
        println!("  access token expires in {left} s");
    }
    if let Some(scope) = &s.scope {
        println!("  scope: {scope}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-oauth: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Cancelled),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-oauth: error: {e}");
            if let Some(h) = hint(&e) {
                eprintln!("mcp-oauth: hint: {h}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
