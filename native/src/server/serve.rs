//! The multi-user server as a service (`mcp-oauth serve`, and the example `multi-user-server`):
//! its options ([`ServeOptions`]: a YAML configuration file and/or flags), the shared stores,
//! where it listens ([`listen_plan`]), `/healthz` and `/readyz`, and a graceful stop.
//!
//! Where it listens: `--host`/`--port` when given; otherwise where the redirect URI leads when
//! that is a loopback URI (`localhost` → 127.0.0.1 and `[::1]`, port 8000 when it names none:
//! RFC 8252 §7.3); a redirect URI that is not loopback (the public https URL of a deployment
//! behind a reverse proxy) gets 127.0.0.1:8000. Listening on loopback while authorization
//! servers send browsers to another host only works behind a reverse proxy on this host: that
//! is a startup warning naming what to change, unless [`ServeOptions::behind_proxy`] says so.
//!
//! Health: `GET /healthz` answers 200 while the process serves; `GET /readyz` answers 200 when
//! the token store answers, else 503 in the JSON error format (`store_unavailable`).
//!
//! Stopping: on SIGTERM (or Ctrl-C) the listeners close, running requests get
//! [`ServeOptions::shutdown_grace`] to finish, and the process ends. Pending consents live in the
//! shared store ([`crate::store::PendingStore`]), keyed by `state`, so a replica — or this one
//! restarted — completes their callbacks.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{Identity, JwtConfig, JwtKey, MultiUserServer, ServerConfig};
use crate::config::{AuthProvider, Config, McpOAuth2, TokenStorage, Transport};
use crate::mcp::McpTarget;
use crate::store::{KeySource, MemoryStore, PendingStore, SealingKeys, TokenStore};
use crate::Error;

/// The page of [`ServeOptions::demo_login`]: log in as a name, send `tools` or `call …`.
const DEMO_PAGE: &str = include_str!("demo_page.html");

/// The user whose (empty) key list `/readyz` reads to see that the store answers.
const READY_PROBE_USER: &str = "\u{0}readyz";

/// Everything `serve` is told. [`ServeOptions::new`] gives the defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// A YAML configuration file (the CLI's format): its function groups are the MCP servers
    /// (stdio and sse ones without authorization, [`ServerConfig::servers_without_auth`]); the
    /// one `mcp_oauth2` provider of the streamable-HTTP groups gives the redirect URI, client
    /// identity, scopes, `server_policies`, the `private_key_file` signer and the token storage.
    pub config_file: Option<PathBuf>,
    /// MCP servers users may call, (name, URL), when there is no configuration file.
    pub servers: Vec<(String, String)>,
    /// The redirect URI registered with authorization servers (over the file's).
    pub redirect_uri: Option<String>,
    /// The address to listen on (module docs).
    pub host: Option<IpAddr>,
    /// The port to listen on (module docs); 0 picks a free one.
    pub port: Option<u16>,
    /// A reverse proxy on this host forwards the redirect URI's origin here (silences the
    /// listen warning).
    pub behind_proxy: bool,
    /// The URL browsers reach the server at behind a reverse proxy
    /// ([`ServerConfig::public_url`]).
    pub public_url: Option<String>,
    /// Signs session cookies (32 bytes or more; the same on every replica).
    pub session_secret: String,
    /// Accept `Authorization: Bearer` JWTs signed with this HS256 secret.
    pub jwt_hs256_secret: Option<String>,
    /// Accept RS256/ES256 bearer JWTs signed by a key of this JWKS.
    pub jwks_url: Option<String>,
    /// The `iss` bearer JWTs must have.
    pub jwt_issuer: Option<String>,
    /// The `aud` bearer JWTs must have.
    pub jwt_audience: Option<String>,
    /// Tokens and pending authorizations in Redis, when there is no configuration file.
    pub redis: Option<String>,
    /// The 32-byte key sealing a shared store's values (64 hex or 44 base64 characters).
    pub store_key: Option<String>,
    /// Keys being rotated out (same forms): they open values, never seal them; an entry read
    /// with one is re-sealed with [`ServeOptions::store_key`] ([`crate::store::SealingKeys`]).
    pub store_previous_keys: Vec<String>,
    /// Internal origins or networks the server may fetch from (egress allow-list).
    pub egress_allow: Vec<String>,
    /// How long a user has to consent.
    pub consent_timeout: Duration,
    /// How long a finished reply stays readable by any replica ([`ServerConfig::result_ttl`]).
    pub result_ttl: Duration,
    /// Consent links open only in a browser identified as the requesting user
    /// ([`ServerConfig::require_identified_consent`]).
    pub require_identified_consent: bool,
    /// Every user registers their own client ([`ServerConfig::registration_per_user`]).
    pub registration_per_user: bool,
    /// Serve the demo page at `/` and `POST /login`, which trusts any name it is given: for
    /// trying the server out, never for users.
    pub demo_login: bool,
    /// How long running requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// DPoP-bound tokens (RFC 9449), after the configuration file's `dpop`: `(None, mode)` for
    /// every MCP server, `(Some(name), mode)` for one ([`ServerConfig::with_server_dpop`]).
    pub dpop: Vec<(Option<String>, mcp_oauth_core::dpop::DpopMode)>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("config_file", &self.config_file)
            .field("servers", &self.servers)
            .field("redirect_uri", &self.redirect_uri)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("behind_proxy", &self.behind_proxy)
            .field("demo_login", &self.demo_login)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    /// Defaults around the session secret: 5 minutes to consent, 10 s to stop.
    pub fn new(session_secret: impl Into<String>) -> ServeOptions {
        ServeOptions {
            config_file: None,
            servers: Vec::new(),
            redirect_uri: None,
            host: None,
            port: None,
            behind_proxy: false,
            public_url: None,
            session_secret: session_secret.into(),
            jwt_hs256_secret: None,
            jwks_url: None,
            jwt_issuer: None,
            jwt_audience: None,
            redis: None,
            store_key: None,
            store_previous_keys: Vec::new(),
            egress_allow: Vec::new(),
            consent_timeout: Duration::from_secs(300),
            result_ttl: Duration::from_secs(300),
            require_identified_consent: false,
            registration_per_user: false,
            demo_login: false,
            shutdown_grace: Duration::from_secs(10),
            dpop: Vec::new(),
        }
    }
}

/// Reads `NAME=URL`, an MCP server of `--mcp`.
pub fn parse_server_arg(s: &str) -> Result<(String, String), String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=URL")?;
    if name.is_empty() || url.is_empty() {
        return Err("expected NAME=URL".into());
    }
    Ok((name.to_owned(), url.to_owned()))
}

/// Where to listen, and what may be wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenPlan {
    /// Bound together, on the first one's port (the others take the same port).
    pub addrs: Vec<SocketAddr>,
    /// Why browsers may not reach the callback, and what to change.
    pub warning: Option<String>,
}

/// Where to listen for `redirect_uri` and the `--host`/`--port` given (module docs).
pub fn listen_plan(
    redirect_uri: &str,
    host: Option<IpAddr>,
    port: Option<u16>,
    behind_proxy: bool,
) -> Result<ListenPlan, Error> {
    let url = mcp_oauth_core::url::Url::parse(redirect_uri)
        .map_err(|e| Error::Usage(format!("redirect URI {redirect_uri}: {e}")))?;
    let implied: Vec<SocketAddr> = mcp_oauth_core::url::RedirectUri::parse(redirect_uri)
        .map(|uri| uri.listen_addrs())
        .unwrap_or_default();
    let origin = match url.port() {
        Some(p) => format!("{}://{}:{p}", url.scheme(), url.host()),
        None => format!("{}://{}", url.scheme(), url.host()),
    };
    if implied.is_empty() {
        // Not loopback: a public URL, reached through a reverse proxy or directly.
        let ip = host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let addr = SocketAddr::new(ip, port.unwrap_or(mcp_oauth_core::url::DEFAULT_LOOPBACK_PORT));
        let warning = (ip.is_loopback() && !behind_proxy).then(|| {
            format!(
                "the redirect URI {redirect_uri} is not on this machine's loopback, yet the server \
                 listens on {addr} only: authorization servers send browsers to {origin}, so run \
                 a reverse proxy that forwards {origin} to {addr} (and pass --behind-proxy to \
                 say so), or listen where {origin} arrives with --host (e.g. 0.0.0.0) and --port"
            )
        });
        return Ok(ListenPlan { addrs: vec![addr], warning });
    }
    let uri_port = implied[0].port();
    let addrs = match host {
        Some(ip) => vec![SocketAddr::new(ip, port.unwrap_or(uri_port))],
        None => implied.iter().map(|a| SocketAddr::new(a.ip(), port.unwrap_or(uri_port))).collect(),
    };
    // The browser goes to the redirect URI's loopback address and port: does a listener get it?
    let reached = addrs.iter().any(|a| {
        a.port() == uri_port
            && (a.ip().is_unspecified() || implied.iter().any(|i| i.ip() == a.ip()))
    });
    let warning = (!reached && !behind_proxy).then(|| {
        let listening: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        format!(
            "the redirect URI {redirect_uri} sends browsers to {origin}, but the server listens \
             on {}: callbacks will not arrive unless something forwards them; leave out \
             --host/--port, or change the redirect URI to where the server listens",
            listening.join(" and ")
        )
    });
    Ok(ListenPlan { addrs, warning })
}

/// A prepared service: configuration read, stores connected, not yet listening.
pub struct Service {
    server: MultiUserServer,
    plan: ListenPlan,
    demo_login: bool,
    grace: Duration,
    storage: String,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("plan", &self.plan).finish_non_exhaustive()
    }
}

/// What the configuration file sets.
struct FromFile {
    servers: Vec<(String, String)>,
    /// The stdio and sse groups (no authorization).
    servers_without_auth: Vec<(String, McpTarget)>,
    /// `authentication.<name>` of the one `mcp_oauth2` provider, and the provider (none when
    /// every group is stdio or sse).
    provider: Option<(String, McpOAuth2)>,
    egress_allow: Vec<crate::egress::EgressAllow>,
}

fn from_file(path: &Path) -> Result<FromFile, Error> {
    let config = Config::load(path)?;
    let usage = |m: String| Error::Usage(format!("{}: {m}", path.display()));
    let mut servers = Vec::new();
    let mut servers_without_auth = Vec::new();
    let mut provider: Option<(String, McpOAuth2)> = None;
    for (name, group) in &config.function_groups {
        let where_ = format!("function_groups.{name}");
        if group.server.transport != Transport::StreamableHttp {
            // The loader refuses an auth_provider on these (config/load.rs).
            let target =
                McpTarget::of(&group.server).map_err(|e| usage(format!("{where_}.server: {e}")))?;
            servers_without_auth.push((name.clone(), target));
            continue;
        }
        let url = group
            .server
            .url
            .clone()
            .ok_or_else(|| usage(format!("{where_}.server.url: missing")))?;
        servers.push((name.clone(), url));
        let Some(p) = &group.server.auth_provider else { continue };
        let (_, auth) = config.group(name)?;
        match auth {
            Some(AuthProvider::OAuth2(o)) => match &provider {
                Some((first, f)) if f != o => {
                    return Err(usage(format!(
                        "{where_}.server.auth_provider: {p} differs from {first}; the multi-user \
                         server registers one client identity, so every group must use the same \
                         mcp_oauth2 provider"
                    )));
                }
                Some(_) => {}
                None => provider = Some((p.clone(), o.clone())),
            },
            Some(AuthProvider::ServiceAccount(_)) => {
                return Err(usage(format!(
                    "{where_}.server.auth_provider: {p} is an mcp_service_account; the \
                     multi-user server authorizes each user (mcp_oauth2)"
                )));
            }
            Some(AuthProvider::WorkloadIdentity(_)) => {
                return Err(usage(format!(
                    "{where_}.server.auth_provider: {p} is an mcp_workload_identity; the \
                     multi-user server authorizes each user (mcp_oauth2)"
                )));
            }
            None => {
                return Err(usage(format!("{where_}.server.auth_provider: {p} is not defined")))
            }
        }
    }
    if provider.is_none() && !servers.is_empty() {
        return Err(usage(
            "the configuration has no group with an mcp_oauth2 auth_provider".into(),
        ));
    }
    Ok(FromFile {
        servers,
        servers_without_auth,
        provider: provider.map(|(name, o)| (format!("authentication.{name}"), o)),
        egress_allow: config.egress_allow.clone(),
    })
}

/// The token and pending-authorization stores of `storage`, and a description of them for the
/// startup line (no credentials). `where_` names the setting for errors.
/// `previous_keys`: keys being rotated out ([`ServeOptions::store_previous_keys`]).
pub async fn open_stores(
    storage: &TokenStorage,
    store_key: Option<&str>,
    previous_keys: &[String],
    where_: &str,
) -> Result<(Arc<dyn TokenStore>, Arc<dyn PendingStore>, String), Error> {
    if !previous_keys.is_empty() && store_key.is_none() {
        return Err(Error::Usage(
            "--store-previous-keys (MCP_OAUTH_STORE_PREVIOUS_KEYS) needs --store-key (the key \
             that seals from now on)"
                .into(),
        ));
    }
    match storage {
        TokenStorage::Memory => {
            let store = Arc::new(MemoryStore::new());
            Ok((store.clone(), store, "memory (this process only)".into()))
        }
        TokenStorage::File { .. } => Err(Error::Usage(format!(
            "{where_}: the multi-user server keeps tokens in memory or in a store its replicas \
             share (redis, mysql, s3), not in files"
        ))),
        #[cfg(feature = "redis")]
        TokenStorage::Redis { url, key_prefix } => {
            let key = sealing_keys(store_key, previous_keys, "redis")?;
            let mut store = crate::store::RedisStore::connect(url, &key).await?;
            if !key_prefix.is_empty() {
                store = store.with_prefix(key_prefix.clone());
            }
            let described = format!("{store:?}, sealing keys {}", key.describe());
            let store = Arc::new(store);
            Ok((store.clone(), store, described))
        }
        #[cfg(not(feature = "redis"))]
        TokenStorage::Redis { .. } => {
            let _ = store_key;
            Err(Error::Usage(format!(
                "{where_}: this build has no Redis store (build mcp-oauth with feature `redis`)"
            )))
        }
        #[cfg(feature = "mysql")]
        TokenStorage::Mysql { url, table } => {
            let key = sealing_keys(store_key, previous_keys, "mysql")?;
            let store = crate::store::MysqlStore::connect(url, table, &key).await?;
            let described = format!("{store:?}, sealing keys {}", key.describe());
            let store = Arc::new(store);
            Ok((store.clone(), store, described))
        }
        #[cfg(not(feature = "mysql"))]
        TokenStorage::Mysql { .. } => Err(Error::Usage(format!(
            "{where_}: this build has no MySQL store (build mcp-oauth with feature `mysql`)"
        ))),
        #[cfg(feature = "s3")]
        TokenStorage::S3 { bucket, prefix, region, endpoint } => {
            let key = sealing_keys(store_key, previous_keys, "s3")?;
            let mut config = crate::store::S3Config::new(bucket.clone());
            config.prefix = prefix.clone();
            config.region = region.clone();
            config.endpoint = endpoint.clone();
            let config = config.with_env();
            let credentials = crate::store::S3Credentials::from_env()
                .map_err(|e| Error::Usage(format!("{where_}: {e}")))?;
            let store = crate::store::S3Store::connect(&config, credentials, &key).await?;
            let described = format!("{store:?}, sealing keys {}", key.describe());
            let store = Arc::new(store);
            Ok((store.clone(), store, described))
        }
        #[cfg(not(feature = "s3"))]
        TokenStorage::S3 { .. } => Err(Error::Usage(format!(
            "{where_}: this build has no S3 store (build mcp-oauth with feature `s3`)"
        ))),
    }
}

/// The store key from `--store-key` / `MCP_OAUTH_STORE_KEY`, required by shared stores, and
/// the keys being rotated out (`--store-previous-keys` / `MCP_OAUTH_STORE_PREVIOUS_KEYS`).
#[cfg_attr(not(any(feature = "redis", feature = "mysql", feature = "s3")), allow(dead_code))]
fn sealing_keys(
    store_key: Option<&str>,
    previous: &[String],
    backend: &str,
) -> Result<SealingKeys, Error> {
    let text = store_key.ok_or_else(|| {
        Error::Usage(format!(
            "a {backend} token store needs --store-key (or MCP_OAUTH_STORE_KEY): 32 bytes as 64 \
             hex or 44 base64 characters, the same on every replica"
        ))
    })?;
    let current = KeySource::parse_key_text(text)?;
    let mut keys = SealingKeys::new(current);
    for item in previous {
        let parsed = SealingKeys::parse_list(item, "--store-previous-keys")?;
        keys = keys.with_previous(parsed);
    }
    Ok(keys)
}

/// Reads the configuration, connects the stores and decides where to listen.
pub async fn prepare(opts: ServeOptions) -> Result<Service, Error> {
    let file = opts.config_file.as_deref().map(from_file).transpose()?;
    if file.is_some() && (!opts.servers.is_empty() || opts.redis.is_some()) {
        return Err(Error::Usage(
            "--config names the MCP servers and the token storage: leave out --mcp and --redis"
                .into(),
        ));
    }
    if file.is_none() && opts.servers.is_empty() {
        return Err(Error::Usage(
            "no MCP server to serve: pass --mcp NAME=URL (repeatable) or --config FILE".into(),
        ));
    }
    let (storage, where_) = match (&file.as_ref().map(|f| &f.provider), &opts.redis) {
        (Some(Some(p)), _) => (p.1.token_storage.clone(), format!("{}.token_storage", p.0)),
        (None, Some(url)) => {
            (TokenStorage::Redis { url: url.clone(), key_prefix: String::new() }, "--redis".into())
        }
        // No file, or a file of stdio and sse groups only: nothing to store across restarts.
        _ => (TokenStorage::Memory, "token storage".into()),
    };
    let (tokens, pending, described) =
        open_stores(&storage, opts.store_key.as_deref(), &opts.store_previous_keys, &where_)
            .await?;
    let mut config = ServerConfig::new(tokens, pending)?;
    config.consent_timeout = opts.consent_timeout;
    config.result_ttl = opts.result_ttl;
    config.require_identified_consent = opts.require_identified_consent;
    config.registration_per_user = opts.registration_per_user;
    config.public_url = opts.public_url.clone();
    match &file {
        Some(f) => {
            config.servers = f.servers.clone();
            config.servers_without_auth = f.servers_without_auth.clone();
            if let Some(p) = &f.provider {
                apply_provider(p, &mut config)?;
            }
            config.egress.allow.extend(f.egress_allow.iter().cloned());
        }
        None => config.servers = opts.servers.clone(),
    }
    if let Some(uri) = &opts.redirect_uri {
        config.redirect_uri = uri.clone();
    }
    for entry in &opts.egress_allow {
        config.egress = config.egress.allowing(entry)?;
    }
    for (name, mode) in &opts.dpop {
        match name {
            Some(name) if !config.servers.iter().any(|(n, _)| n == name) => {
                return Err(Error::Usage(format!(
                    "--dpop {name}=…: no MCP server is named {name}"
                )));
            }
            Some(name) => config = config.with_server_dpop(name.clone(), *mode),
            None => config.dpop = *mode,
        }
    }
    let key = match (&opts.jwt_hs256_secret, &opts.jwks_url) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "pass either --jwt-hs256-secret or --jwks-url, not both".into(),
            ))
        }
        (Some(s), None) => Some(JwtKey::Hs256(s.as_bytes().to_vec())),
        (None, Some(url)) => Some(JwtKey::Jwks { url: url.clone() }),
        (None, None) => None,
    };
    let jwt = key.map(|key| {
        let mut j = JwtConfig::new(key);
        j.issuer = opts.jwt_issuer.clone();
        j.audience = opts.jwt_audience.clone();
        j
    });
    let identity =
        Identity::new(opts.session_secret.as_bytes(), Duration::from_secs(12 * 3600), jwt)
            .map_err(|e| Error::Usage(e.to_string()))?;
    let server = MultiUserServer::new(config, identity)?;
    let plan = listen_plan(&server.config().redirect_uri, opts.host, opts.port, opts.behind_proxy)?;
    Ok(Service {
        server,
        plan,
        demo_login: opts.demo_login,
        grace: opts.shutdown_grace,
        storage: described,
    })
}

/// Applies the file's provider to `config` with the library's mapping, reading
/// `private_key_file` into the signer of `private_key_jwt`.
fn apply_provider(
    (path, provider): &(String, McpOAuth2),
    config: &mut ServerConfig,
) -> Result<(), Error> {
    provider.apply_to_server(path, config)?;
    let signer = provider
        .load_signer()
        .map_err(|e| Error::Usage(format!("{path}.private_key_file: {e}")))?;
    config.assertion_signer =
        signer.map(|s| s as Arc<dyn mcp_oauth_core::token::ClientAssertionSigner + Send + Sync>);
    Ok(())
}

/// A service bound to its addresses, ready to serve.
pub struct Bound {
    server: MultiUserServer,
    app: Router,
    listeners: Vec<tokio::net::TcpListener>,
    local: SocketAddr,
    grace: Duration,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Service {
    /// The multi-user server inside.
    pub fn server(&self) -> &MultiUserServer {
        &self.server
    }

    /// Where it will listen, and the warning about it.
    pub fn plan(&self) -> &ListenPlan {
        &self.plan
    }

    /// The token store, described without credentials.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// The routes: the server's, `/healthz`, `/readyz`, and with
    /// [`ServeOptions::demo_login`] the demo page (`/`) and `POST /login`.
    pub fn router(&self) -> Router {
        let mut app = Router::new()
            .route("/healthz", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
            .route("/readyz", get(readyz).with_state(self.server.clone()));
        if self.demo_login {
            app = app
                .route("/", get(|| async { Html(DEMO_PAGE) }))
                .route("/login", post(demo_login).with_state(self.server.clone()));
        }
        // The JSON error format for every route (server/json_errors.rs).
        app.merge(self.server.router())
            .layer(axum::middleware::map_response(super::json_errors::to_json))
    }

    /// Binds every address of the plan on one port: the first decides the port (0: a free
    /// one), the others must take the same or the service does not start (another program there
    /// would receive the authorization codes; RFC 8252 §8.3). A missing IPv6 loopback is
    /// skipped.
    pub async fn bind(self) -> Result<Bound, Error> {
        let first =
            *self.plan.addrs.first().ok_or_else(|| Error::Usage("nowhere to listen".into()))?;
        let listener = tokio::net::TcpListener::bind(first)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {first}: {e}")))?;
        let local = listener.local_addr().map_err(|e| Error::Usage(e.to_string()))?;
        let mut listeners = vec![listener];
        for extra in self.plan.addrs.iter().skip(1) {
            let extra = SocketAddr::new(extra.ip(), local.port());
            match tokio::net::TcpListener::bind(extra).await {
                Ok(l) => listeners.push(l),
                // No IPv6 loopback on this machine (EAFNOSUPPORT is 97 on Linux).
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrNotAvailable
                        || e.raw_os_error() == Some(97) => {}
                Err(e) => return Err(Error::Usage(format!("cannot listen on {extra}: {e}"))),
            }
        }
        let app = self.router();
        Ok(Bound { server: self.server, app, listeners, local, grace: self.grace })
    }
}

impl Bound {
    /// The first bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves until `shutdown` completes, then stops accepting and gives running requests the
    /// grace period. Returns how many connections were still open when it ended (0: all done).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<usize, Error> {
        let _sweeper = self.server.spawn_sweeper();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            let mut stopped = stopped.clone();
            let app = self.app.clone();
            tasks.spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
            });
        }
        tokio::select! {
            () = shutdown => {}
            // A listener failed on its own: stop the others too.
            Some(done) = tasks.join_next() => {
                let _ = stop.send(true);
                self.server.manager().stop_servers_without_auth().await;
                return match done {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(e)) => Err(Error::Usage(format!("the server stopped: {e}"))),
                    Err(e) => Err(Error::Usage(format!("the server stopped: {e}"))),
                };
            }
        }
        let _ = stop.send(true);
        let deadline = tokio::time::Instant::now() + self.grace;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let left = tasks.len();
        tasks.abort_all();
        self.server.manager().stop_servers_without_auth().await;
        Ok(left)
    }
}

/// Completes on SIGTERM or Ctrl-C, with the signal's name. The handlers are installed when this
/// is called (not when first polled): call it before announcing that the server listens, so a
/// SIGTERM that follows at once stops it gracefully rather than killing it.
pub fn shutdown_signal() -> impl Future<Output = &'static str> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// `GET /readyz`: 200 when the token store answers, 503 `store_unavailable` when it does not.
async fn readyz(State(server): State<MultiUserServer>) -> Response {
    match server.config().tokens.list(READY_PROBE_USER).await {
        Ok(_) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "type": "error",
                "code": super::messages::ChatCode::StoreUnavailable.code(),
                "message": e.to_string(),
            })),
        )
            .into_response(),
    }
}

/// `POST /login` of the demo page: trusts the name it is given.
async fn demo_login(
    State(server): State<MultiUserServer>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let Some(user) = body.get("user").and_then(|u| u.as_str()).filter(|u| !u.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "type": "error",
                "code": super::messages::ChatCode::BadRequest.code(),
                "message": "send {\"user\": \"<name>\"}",
            })),
        )
            .into_response();
    };
    match server.identity().create_session(user) {
        Ok(session) => (
            // `__Host-mcp_session; Secure` (plain `mcp_session` on an http loopback redirect URI).
            [(header::SET_COOKIE, server.identity().session_cookie(&session))],
            Json(serde_json::json!({ "user": user, "session": session })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({
                "type": "error",
                "code": super::messages::ChatCode::Internal.code(),
                "message": e,
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(plan: &ListenPlan) -> Vec<String> {
        plan.addrs.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_loopback_redirect_uri_decides_where_to_listen() {
        let plan = listen_plan("http://localhost/auth/redirect", None, None, false).unwrap();
        assert_eq!(addrs(&plan), ["127.0.0.1:8000", "[::1]:8000"]);
        assert_eq!(plan.warning, None);
        let plan = listen_plan("http://127.0.0.1:9000/cb", None, None, false).unwrap();
        assert_eq!(addrs(&plan), ["127.0.0.1:9000"]);
        assert_eq!(plan.warning, None);
        // --host 0.0.0.0 on the URI's port still receives the callback.
        let any = Some("0.0.0.0".parse().unwrap());
        let plan = listen_plan("http://127.0.0.1:9000/cb", any, None, false).unwrap();
        assert_eq!(addrs(&plan), ["0.0.0.0:9000"]);
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn a_port_the_browser_never_reaches_is_a_warning() {
        let plan = listen_plan("http://127.0.0.1:9000/cb", None, Some(9001), false).unwrap();
        assert_eq!(addrs(&plan), ["127.0.0.1:9001"]);
        let w = plan.warning.unwrap();
        assert!(w.contains("http://127.0.0.1:9000") && w.contains("127.0.0.1:9001"), "{w}");
        assert!(w.contains("leave out --host/--port"), "{w}");
        // Said to be forwarded: no warning.
        let plan = listen_plan("http://127.0.0.1:9000/cb", None, Some(9001), true).unwrap();
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn a_public_redirect_uri_listens_on_loopback_with_a_warning_unless_behind_a_proxy() {
        let uri = "https://mcp.example.com/auth/redirect";
        let plan = listen_plan(uri, None, None, false).unwrap();
        assert_eq!(addrs(&plan), ["127.0.0.1:8000"]);
        let w = plan.warning.unwrap();
        assert!(w.contains("https://mcp.example.com") && w.contains("--behind-proxy"), "{w}");
        assert!(w.contains("--host"), "{w}");
        let plan = listen_plan(uri, None, Some(8080), true).unwrap();
        assert_eq!(addrs(&plan), ["127.0.0.1:8080"]);
        assert_eq!(plan.warning, None);
        let plan = listen_plan(uri, Some("0.0.0.0".parse().unwrap()), Some(443), false).unwrap();
        assert_eq!(addrs(&plan), ["0.0.0.0:443"]);
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn a_redirect_uri_that_does_not_parse_is_named() {
        let e = listen_plan("not a url", None, None, false).unwrap_err();
        assert!(e.to_string().contains("not a url"), "{e}");
    }
}
