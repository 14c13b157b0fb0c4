//! The multi-user server example: many users, each asked for OAuth consent in their own
//! browser popup when a tool call needs it; tokens per user in memory or in Redis.
//!
//! ```sh
//! cargo run -p mcp-oauth-examples --bin multi-user-server -- \
//!     --mcp demo=http://127.0.0.1:3001/mcp \
//!     --session-secret "$(head -c 32 /dev/urandom | base64)" \
//!     [--redis redis://127.0.0.1:6379/ --store-key <64 hex>] [--jwt-hs256-secret "$JWT_SECRET"] \
//!     [--egress-allow 127.0.0.0/8]
//! ```
//! (`JWT_SECRET`: 32 bytes or more, e.g. `head -c 32 /dev/urandom | base64`; shorter is refused.)
//! The server refuses to fetch metadata or call endpoints at internal addresses (loopback,
//! private, link-local); `--egress-allow` (or `egress.allow` in the configuration file) names the
//! origins and networks of on-premise authorization servers — here, loopback for local peers.
//! Then open <http://localhost:8000/> (the page: log in as a name, send `tools` or
//! `call echo {"text":"hi"}`), or use `multi-user-check`.
//!
//! Routes: `/` (the page), `POST /login` (demo login: `{"user":"Alice"}` → session cookie; a
//! real host has its own login), and the library's `/auth/start/{id}` (the consent link),
//! `/auth/redirect`, `/ws`, `/v1/chat`, `/v1/chat/{request_id}`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use mcp_oauth::server::{Identity, JwtConfig, JwtKey, MultiUserServer, ServerConfig};
use mcp_oauth::store::{KeySource, MemoryStore, PendingStore, RedisStore, TokenStore};

const PAGE: &str = include_str!("index.html");

/// The multi-user MCP OAuth server example.
#[derive(Parser, Debug)]
#[command(name = "multi-user-server")]
struct Args {
    /// An MCP server users may call: NAME=URL (repeat for more).
    #[arg(long = "mcp", required_unless_present = "config", value_parser = parse_mcp)]
    mcp: Vec<(String, String)>,
    /// A YAML configuration file (the CLI's format, `mcp-oauth config schema mcp_oauth2`): its
    /// streamable-HTTP function groups become the MCP servers, their `mcp_oauth2` provider gives
    /// the redirect URI, the client identity, scopes, `server_policies`, the `private_key_file`
    /// signer and the token storage (memory or redis), through `mcp_oauth::config`'s mapping.
    #[arg(long, conflicts_with_all = ["mcp", "redis"])]
    config: Option<std::path::PathBuf>,
    /// The redirect URI registered with authorization servers (its path serves the callback).
    #[arg(long, default_value = mcp_oauth::client::DEFAULT_REDIRECT_URI)]
    redirect_uri: String,
    /// Where to listen (default: the redirect URI's loopback addresses, port 8000 when it names
    /// none).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The secret that signs session cookies (32 bytes or more; the same on every replica).
    #[arg(long, env = "MCP_OAUTH_SESSION_SECRET", hide_env_values = true)]
    session_secret: String,
    /// Accept `Authorization: Bearer` JWTs signed with this HS256 secret.
    #[arg(long, env = "MCP_OAUTH_JWT_SECRET", hide_env_values = true)]
    jwt_hs256_secret: Option<String>,
    /// Accept RS256/ES256 bearer JWTs signed by a key of this JWKS.
    #[arg(long, conflicts_with = "jwt_hs256_secret")]
    jwks_url: Option<String>,
    /// The `iss` bearer JWTs must have.
    #[arg(long)]
    jwt_issuer: Option<String>,
    /// The `aud` bearer JWTs must have.
    #[arg(long)]
    jwt_audience: Option<String>,
    /// Keep tokens and pending authorizations in Redis (shared by replicas).
    #[arg(long)]
    redis: Option<String>,
    /// The 32-byte key sealing Redis values (64 hex or 44 base64 characters).
    #[arg(long, env = "MCP_OAUTH_STORE_KEY", hide_env_values = true)]
    store_key: Option<String>,
    /// An internal origin (`https://as.corp.example:8443`) or network (`10.1.0.0/16`) the server
    /// may fetch from although its egress policy refuses internal addresses (repeat, or separate
    /// with commas; adds to the configuration file's `egress.allow`).
    #[arg(long, env = "MCP_OAUTH_EGRESS_ALLOW", value_delimiter = ',')]
    egress_allow: Vec<String>,
    /// Seconds a user has to consent.
    #[arg(long, default_value_t = 300)]
    consent_timeout: u64,
}

fn parse_mcp(s: &str) -> Result<(String, String), String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=URL")?;
    if name.is_empty() || url.is_empty() {
        return Err("expected NAME=URL".into());
    }
    Ok((name.to_owned(), url.to_owned()))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("multi-user-server: {e}");
        std::process::exit(1);
    }
}

/// What the configuration file sets.
struct FromFile {
    servers: Vec<(String, String)>,
    /// `authentication.<name>` of the one `mcp_oauth2` provider, and the provider.
    provider: (String, mcp_oauth::config::McpOAuth2),
    redis: Option<(String, String)>,
    /// `token_storage: {type: s3, …}`.
    s3: Option<mcp_oauth::store::S3Config>,
    egress_allow: Vec<mcp_oauth::egress::EgressAllow>,
}

fn from_file(path: &std::path::Path) -> Result<FromFile, String> {
    use mcp_oauth::config::{AuthProvider, Config, TokenStorage, Transport};
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let mut servers = Vec::new();
    let mut provider: Option<(String, mcp_oauth::config::McpOAuth2)> = None;
    for (name, group) in &config.function_groups {
        let where_ = format!("function_groups.{name}");
        if group.server.transport != Transport::StreamableHttp {
            return Err(format!("{where_}.server.transport: the multi-user server connects over streamable-http only"));
        }
        let url = group.server.url.clone().ok_or(format!("{where_}.server.url: missing"))?;
        servers.push((name.clone(), url));
        let Some(p) = &group.server.auth_provider else { continue };
        let (_, auth) = config.group(name).map_err(|e| e.to_string())?;
        match auth {
            Some(AuthProvider::OAuth2(o)) => match &provider {
                Some((first, f)) if f != o => {
                    return Err(format!("{where_}.server.auth_provider: {p} differs from {first}; the multi-user server registers one client identity, so every group must use the same mcp_oauth2 provider"));
                }
                Some(_) => {}
                None => provider = Some((p.clone(), o.clone())),
            },
            Some(AuthProvider::ServiceAccount(_)) => {
                return Err(format!("{where_}.server.auth_provider: {p} is an mcp_service_account; the multi-user server authorizes each user (mcp_oauth2)"));
            }
            Some(AuthProvider::WorkloadIdentity(_)) => {
                return Err(format!("{where_}.server.auth_provider: {p} is an mcp_workload_identity; the multi-user server authorizes each user (mcp_oauth2)"));
            }
            None => return Err(format!("{where_}.server.auth_provider: {p} is not defined")),
        }
    }
    let (name, o) =
        provider.ok_or("the configuration has no group with an mcp_oauth2 auth_provider")?;
    let redis = match &o.token_storage {
        TokenStorage::Redis { url, key_prefix } => Some((url.clone(), key_prefix.clone())),
        // `file` is refused by `apply_to_server` with its YAML path.
        _ => None,
    };
    let s3 = match &o.token_storage {
        TokenStorage::S3 { bucket, prefix, region, endpoint } => {
            let mut c = mcp_oauth::store::S3Config::new(bucket.clone());
            c.prefix = prefix.clone();
            c.region = region.clone();
            c.endpoint = endpoint.clone();
            Some(c.with_env())
        }
        _ => None,
    };
    Ok(FromFile {
        servers,
        provider: (format!("authentication.{name}"), o),
        redis,
        s3,
        egress_allow: config.egress_allow.clone(),
    })
}

/// Applies the file's provider to `config` with the library's mapping, reading
/// `private_key_file` into the signer of `private_key_jwt`.
fn apply_provider(
    (path, provider): &(String, mcp_oauth::config::McpOAuth2),
    config: &mut ServerConfig,
) -> Result<(), String> {
    provider.apply_to_server(path, config).map_err(|e| e.to_string())?;
    let signer = provider.load_signer().map_err(|e| format!("{path}.private_key_file: {e}"))?;
    config.assertion_signer =
        signer.map(|s| s as Arc<dyn mcp_oauth::core::token::ClientAssertionSigner + Send + Sync>);
    Ok(())
}

/// The S3 store of `token_storage: {type: s3, …}`: credentials from the AWS environment, the
/// sealing key from `--store-key`.
async fn open_s3(
    config: &mcp_oauth::store::S3Config,
    store_key: Option<&str>,
) -> Result<mcp_oauth::store::S3Store, String> {
    let key = store_key.ok_or("token_storage s3 needs --store-key (or MCP_OAUTH_STORE_KEY)")?;
    let key = KeySource::parse_key_text(key).map_err(|e| e.to_string())?;
    let credentials = mcp_oauth::store::S3Credentials::from_env()
        .map_err(|e| format!("token_storage s3: {e}"))?;
    mcp_oauth::store::S3Store::connect(config, credentials, &key).await.map_err(|e| e.to_string())
}

async fn run(mut args: Args) -> Result<(), String> {
    let file = match &args.config {
        Some(path) => Some(from_file(path)?),
        None => None,
    };
    let redis = match &file {
        Some(f) => f.redis.clone(),
        None => args.redis.clone().map(|url| (url, String::new())),
    };
    if let Some(f) = &file {
        args.mcp = f.servers.clone();
        args.redirect_uri = f.provider.1.redirect_uri.clone();
    }
    let s3 = match file.as_ref().and_then(|f| f.s3.as_ref()) {
        Some(c) => Some(Arc::new(open_s3(c, args.store_key.as_deref()).await?)),
        None => None,
    };
    let (tokens, pending): (Arc<dyn TokenStore>, Arc<dyn PendingStore>) = match (&redis, s3) {
        (_, Some(store)) => (store.clone(), store),
        (Some((url, prefix)), None) => {
            let key = args
                .store_key
                .as_deref()
                .ok_or("--redis needs --store-key (or MCP_OAUTH_STORE_KEY)")?;
            let key = KeySource::parse_key_text(key).map_err(|e| e.to_string())?;
            let mut store = RedisStore::connect(url, &key).await.map_err(|e| e.to_string())?;
            if !prefix.is_empty() {
                store = store.with_prefix(prefix.clone());
            }
            let store = Arc::new(store);
            (store.clone(), store)
        }
        (None, None) => {
            let store = Arc::new(MemoryStore::new());
            (store.clone(), store)
        }
    };
    let mut config = ServerConfig::new(tokens, pending).map_err(|e| e.to_string())?;
    config.servers = args.mcp.clone();
    config.redirect_uri = args.redirect_uri.clone();
    config.consent_timeout = Duration::from_secs(args.consent_timeout);
    for entry in &args.egress_allow {
        config.egress = config.egress.allowing(entry).map_err(|e| e.to_string())?;
    }
    if let Some(f) = file {
        apply_provider(&f.provider, &mut config)?;
        config.egress.allow.extend(f.egress_allow);
    }
    let key = match (&args.jwt_hs256_secret, &args.jwks_url) {
        (Some(s), _) => Some(JwtKey::Hs256(s.as_bytes().to_vec())),
        (None, Some(url)) => Some(JwtKey::Jwks { url: url.clone() }),
        (None, None) => None,
    };
    let jwt = key.map(|key| {
        let mut j = JwtConfig::new(key);
        j.issuer = args.jwt_issuer.clone();
        j.audience = args.jwt_audience.clone();
        j
    });
    let identity =
        Identity::new(args.session_secret.as_bytes(), Duration::from_secs(12 * 3600), jwt)
            .map_err(|e| e.to_string())?;
    let server = MultiUserServer::new(config, identity).map_err(|e| e.to_string())?;
    let addrs = match args.listen {
        Some(listen) => vec![listen],
        None => server.config().redirect_listen_addrs(),
    };
    let listen = *addrs.first().ok_or("the redirect URI is not loopback: pass --listen")?;
    let _sweeper = server.spawn_sweeper();
    let login_server = server.clone();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/login",
            post(move |body: Json<serde_json::Value>| login(login_server.clone(), body)),
        )
        .merge(server.router());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // A browser may resolve `localhost` to `[::1]`: listen there too, on the same port, or do not
    // start (another program there would receive the authorization codes; RFC 8252 §8.3).
    let mut more = Vec::new();
    for extra in addrs.iter().skip(1) {
        let extra = std::net::SocketAddr::new(extra.ip(), addr.port());
        match tokio::net::TcpListener::bind(extra).await {
            Ok(l) => more.push(l),
            // No IPv6 loopback on this machine (EAFNOSUPPORT is 97 on Linux).
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrNotAvailable
                    || e.raw_os_error() == Some(97) => {}
            Err(e) => return Err(format!("cannot listen on {extra}: {e}")),
        }
    }
    // One line on stdout, for scripts and tests.
    println!(
        "{}",
        serde_json::json!({ "url": format!("http://{addr}"), "redirect_uri": server.config().redirect_uri })
    );
    for l in more {
        let app = app.clone();
        tokio::spawn(async move { axum::serve(l, app).await });
    }
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}

/// Demo login: trusts the name it is given. A real host authenticates the user first.
async fn login(server: MultiUserServer, Json(body): Json<serde_json::Value>) -> Response {
    let Some(user) = body.get("user").and_then(|u| u.as_str()).filter(|u| !u.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "send {\"user\": \"<name>\"}"})),
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
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
