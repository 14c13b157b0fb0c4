//! `mcp-oauth serve`: the multi-user server as a service (the library's
//! `mcp_oauth::server::serve`). Every option has an `MCP_OAUTH_*` variable.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use mcp_oauth::server::serve::{self, ServeOptions};
use mcp_oauth::Error;

use crate::args::Opts;
use crate::logging::LogFormat;

/// The target of the service's own events (the library's: `mcp_oauth`).
const TARGET: &str = "mcp_oauth::serve";

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// An MCP server users may call: NAME=URL (repeatable, or comma-separated in the variable);
    /// with --config, its function groups are the servers instead (stdio ones run one process
    /// per user and server, stopped when idle).
    #[arg(long = "mcp", env = "MCP_OAUTH_MCP", value_delimiter = ',', value_parser = serve::parse_server_arg, value_name = "NAME=URL")]
    mcp: Vec<(String, String)>,
    /// The address to listen on [default: the redirect URI's loopback addresses, else
    /// 127.0.0.1].
    #[arg(long, env = "MCP_OAUTH_HOST")]
    host: Option<IpAddr>,
    /// The port to listen on; 0 picks a free one [default: the redirect URI's, else 8000].
    #[arg(long, env = "MCP_OAUTH_PORT")]
    port: Option<u16>,
    /// A reverse proxy on this host forwards the redirect URI's public origin to --host/--port
    /// (silences the startup warning about it).
    #[arg(long, env = "MCP_OAUTH_BEHIND_PROXY")]
    behind_proxy: bool,
    /// The URL browsers reach this server at behind a reverse proxy (https://chat.example.com):
    /// consent links start with it and WebSockets from its origin are accepted [default: the
    /// redirect URI's origin for links; a WebSocket's Origin must match its Host].
    #[arg(long, env = "MCP_OAUTH_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// How log lines on stderr look: text, or one JSON object per line (RUST_LOG sets the
    /// filter; default `warn,mcp_oauth=info`).
    #[arg(long, env = "MCP_OAUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// The secret that signs session cookies (32 bytes or more; the same on every replica).
    #[arg(long, env = "MCP_OAUTH_SESSION_SECRET", hide_env_values = true)]
    session_secret: String,
    /// Accept `Authorization: Bearer` JWTs signed with this HS256 secret (32 bytes or more).
    #[arg(long, env = "MCP_OAUTH_JWT_SECRET", hide_env_values = true)]
    jwt_hs256_secret: Option<String>,
    /// Accept RS256/ES256 bearer JWTs signed by a key of this JWKS.
    #[arg(long, env = "MCP_OAUTH_JWKS_URL", conflicts_with = "jwt_hs256_secret")]
    jwks_url: Option<String>,
    /// The `iss` bearer JWTs must have.
    #[arg(long, env = "MCP_OAUTH_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// The `aud` bearer JWTs must have.
    #[arg(long, env = "MCP_OAUTH_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Keep tokens and pending authorizations in Redis, shared by replicas (without --config;
    /// with it, the provider's token_storage).
    #[arg(long, env = "MCP_OAUTH_REDIS_URL", value_name = "URL")]
    redis: Option<String>,
    /// The 32-byte key sealing a shared store's values (64 hex or 44 base64 characters; the
    /// same on every replica).
    #[arg(long, env = "MCP_OAUTH_STORE_KEY", hide_env_values = true)]
    store_key: Option<String>,
    /// Keys being rotated out, comma-separated (same forms as --store-key): they open stored
    /// values, never seal them; an entry read with one is re-sealed with --store-key (see
    /// `mcp-oauth store reseal`).
    #[arg(
        long,
        env = "MCP_OAUTH_STORE_PREVIOUS_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    store_previous_keys: Option<String>,
    /// An internal origin (`https://as.corp.example:8443`) or network (`10.1.0.0/16`) the server
    /// may fetch from although its egress policy refuses internal addresses (repeat, or separate
    /// with commas; adds to the configuration file's `egress.allow`).
    #[arg(long, env = "MCP_OAUTH_EGRESS_ALLOW", value_delimiter = ',')]
    egress_allow: Vec<String>,
    /// Seconds a user has to consent.
    #[arg(long, env = "MCP_OAUTH_CONSENT_TIMEOUT", default_value_t = 300)]
    consent_timeout: u64,
    /// Seconds a finished request's reply stays in the shared store after it waited for
    /// consent, for any replica to answer `GET /v1/chat/{id}` or a WebSocket `resume`.
    #[arg(long, env = "MCP_OAUTH_RESULT_TTL", default_value_t = 300)]
    result_ttl: u64,
    /// Open consent links only in a browser identified as the requesting user (session cookie or
    /// bearer JWT).
    #[arg(long, env = "MCP_OAUTH_REQUIRE_IDENTIFIED_CONSENT")]
    require_identified_consent: bool,
    /// Register a client per user at each authorization server [default: one registration per
    /// authorization server, shared by all users].
    #[arg(long, env = "MCP_OAUTH_REGISTRATION_PER_USER")]
    registration_per_user: bool,
    /// Serve a demo page at / with a login that trusts any name: for trying the server out,
    /// never for real users.
    #[arg(long, env = "MCP_OAUTH_DEMO_LOGIN")]
    demo_login: bool,
    /// Seconds running requests get to finish after SIGTERM.
    #[arg(long, env = "MCP_OAUTH_SHUTDOWN_GRACE", default_value_t = 10)]
    shutdown_grace: u64,
}

/// The global options `serve` does not use: set, they are an error rather than ignored (the
/// client identity, scopes and storage of the server come from --config's provider).
fn unused_globals(opts: &Opts) -> Vec<&'static str> {
    let mut unused = Vec::new();
    let mut check = |set: bool, name: &'static str| {
        if set {
            unused.push(name);
        }
    };
    check(opts.group.is_some(), "--group");
    check(opts.client_id.is_some(), "--client-id");
    check(opts.client_secret.is_some(), "--client-secret");
    check(!opts.client_issuer.is_empty(), "--client-issuer");
    check(opts.token_endpoint_auth_method.is_some(), "--token-endpoint-auth-method");
    check(opts.private_key.is_some(), "--private-key");
    check(opts.idp_token_endpoint.is_some(), "--idp-token-endpoint");
    check(opts.id_token.is_some(), "--id-token");
    check(opts.idp_client_id.is_some(), "--idp-client-id");
    check(opts.idp_client_secret.is_some(), "--idp-client-secret");
    check(opts.assertion_file.is_some(), "--assertion-file");
    check(opts.client_metadata_url.is_some(), "--client-metadata-url");
    check(opts.scope.is_some(), "--scope");
    check(opts.token_store.is_some(), "--token-store");
    check(opts.store_dir.is_some(), "--store-dir");
    check(opts.user.is_some(), "--user");
    check(!opts.danger_assume_pkce_s256.is_empty(), "--danger-assume-pkce-s256");
    check(!opts.danger_omit_resource.is_empty(), "--danger-omit-resource");
    unused
}

/// Runs the service until SIGTERM or Ctrl-C.
pub(crate) async fn run(args: ServeArgs, opts: &Opts) -> Result<(), Error> {
    let unused = unused_globals(opts);
    if !unused.is_empty() {
        return Err(Error::Usage(format!(
            "serve does not use {}: the server's client identity, scopes, policies and token \
             storage come from --config (an mcp_oauth2 provider; see `mcp-oauth config schema \
             mcp_oauth2`)",
            unused.join(", ")
        )));
    }
    let mut o = ServeOptions::new(args.session_secret);
    o.config_file = opts.config.clone();
    o.servers = args.mcp;
    o.redirect_uri = opts.redirect_uri.clone();
    o.host = args.host;
    o.port = args.port;
    o.behind_proxy = args.behind_proxy;
    o.public_url = args.public_url;
    o.jwt_hs256_secret = args.jwt_hs256_secret;
    o.jwks_url = args.jwks_url;
    o.jwt_issuer = args.jwt_issuer;
    o.jwt_audience = args.jwt_audience;
    o.redis = args.redis;
    o.store_key = args.store_key;
    o.store_previous_keys = args.store_previous_keys.into_iter().collect();
    o.egress_allow = args.egress_allow;
    o.consent_timeout = Duration::from_secs(args.consent_timeout);
    o.result_ttl = Duration::from_secs(args.result_ttl);
    o.require_identified_consent = args.require_identified_consent;
    o.registration_per_user = args.registration_per_user;
    o.demo_login = args.demo_login;
    o.shutdown_grace = Duration::from_secs(args.shutdown_grace);
    // The global --dpop: every MCP server (the configuration file's `dpop` otherwise).
    if let Some(mode) = opts.dpop {
        o.dpop.push((None, crate::setup::dpop_mode(mode)));
    }
    let format = args.log_format;
    let service = serve::prepare(o).await?;
    if let Some(w) = &service.plan().warning {
        say(format, Level::Warn, &format!("warning: {w}"));
    }
    if args.demo_login {
        say(
            format,
            Level::Warn,
            "warning: --demo-login trusts any name at POST /login; never use it for real users",
        );
    }
    let servers: Vec<String> = service
        .server()
        .config()
        .servers
        .iter()
        .map(|(name, url)| format!("{name}={url}"))
        .collect();
    let redirect_uri = service.server().config().redirect_uri.clone();
    let storage = service.storage().to_owned();
    let kept = if storage.starts_with("memory") {
        "pending consents end with this process (memory store)"
    } else {
        "pending consents stay in the store for any replica to complete"
    };
    let bound = service.bind().await?;
    let signal = serve::shutdown_signal();
    let url = format!("http://{}", bound.local_addr());
    let servers = servers.join(", ");
    match format {
        LogFormat::Text => eprintln!(
            "mcp-oauth serve: listening on {url}; redirect URI {redirect_uri}; MCP servers: \
             {servers}; tokens: {storage}"
        ),
        LogFormat::Json => {
            tracing::info!(target: TARGET, url, redirect_uri, servers, storage, "listening")
        }
    }
    // One line on stdout, for scripts and tests.
    println!("{}", serde_json::json!({ "url": url, "redirect_uri": redirect_uri }));
    let left = bound
        .serve(async {
            let signal = signal.await;
            match format {
                LogFormat::Text => eprintln!("mcp-oauth serve: {signal}: stopping; {kept}"),
                LogFormat::Json => tracing::info!(target: TARGET, signal, kept, "stopping"),
            }
        })
        .await?;
    match format {
        LogFormat::Text if left > 0 => eprintln!(
            "mcp-oauth serve: stopped with {left} connection(s) still open after the grace period"
        ),
        LogFormat::Text => eprintln!("mcp-oauth serve: stopped"),
        LogFormat::Json => tracing::info!(target: TARGET, open_connections = left, "stopped"),
    }
    Ok(())
}

/// The level of a line [`say`] writes.
pub(crate) enum Level {
    Warn,
    Error,
}

/// A line of the service's own: with `--log-format text` as `mcp-oauth serve: …` (as before
/// logs existed), with `json` as a log event, so that stderr holds JSON lines only.
pub(crate) fn say(format: LogFormat, level: Level, message: &str) {
    match (format, level) {
        (LogFormat::Text, Level::Warn) => eprintln!("mcp-oauth serve: {message}"),
        (LogFormat::Text, Level::Error) => eprintln!("mcp-oauth: {message}"),
        (LogFormat::Json, Level::Warn) => tracing::warn!(target: TARGET, "{message}"),
        (LogFormat::Json, Level::Error) => tracing::error!(target: TARGET, "{message}"),
    }
}
