//! The multi-user server example: `mcp-oauth serve` with its demo page and demo login switched
//! on (the library's `mcp_oauth::server::serve`). Many users, each asked for OAuth consent in
//! their own browser popup when a tool call needs it; tokens per user in memory or in Redis.
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
//! real host has its own login), `/healthz`, `/readyz`, and the library's `/auth/start/{id}`
//! (the consent link), `/auth/redirect`, `/ws`, `/v1/chat`, `/v1/chat/{request_id}`,
//! `/v1/chat/{request_id}/cancel`.

use std::time::Duration;

use clap::Parser;
use mcp_oauth::core::dpop::DpopMode;
use mcp_oauth::server::serve::{self, ServeOptions};

/// The multi-user MCP OAuth server example.
#[derive(Parser, Debug)]
#[command(name = "multi-user-server")]
struct Args {
    /// An MCP server users may call: NAME=URL (repeat for more).
    #[arg(long = "mcp", required_unless_present = "config", value_parser = serve::parse_server_arg)]
    mcp: Vec<(String, String)>,
    /// A YAML configuration file (the CLI's format, `mcp-oauth config schema mcp_oauth2`): its
    /// streamable-HTTP function groups become the MCP servers, their `mcp_oauth2` provider gives
    /// the redirect URI, the client identity, scopes, `server_policies`, the `private_key_file`
    /// signer and the token storage (memory or redis), through `mcp_oauth::config`'s mapping.
    #[arg(long, conflicts_with_all = ["mcp", "redis"])]
    config: Option<std::path::PathBuf>,
    /// The redirect URI registered with authorization servers (its path serves the callback).
    #[arg(long)]
    redirect_uri: Option<String>,
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
    /// DPoP-bound tokens (RFC 9449): MODE (auto, always, never) for every MCP server, or
    /// NAME=MODE for one (repeat); after the configuration file's `dpop`. Each user's key is kept
    /// in their store entry with the tokens bound to it.
    #[arg(long, value_parser = parse_dpop)]
    dpop: Vec<(Option<String>, DpopMode)>,
}

fn parse_dpop(s: &str) -> Result<(Option<String>, DpopMode), String> {
    let (name, mode) = match s.split_once('=') {
        Some((name, mode)) if !name.is_empty() => (Some(name.to_owned()), mode),
        Some(_) => return Err("expected MODE or NAME=MODE".into()),
        None => (None, s),
    };
    let mode = DpopMode::from_name(mode)
        .ok_or_else(|| format!("`{mode}` is not auto, always or never"))?;
    Ok((name, mode))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("multi-user-server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), mcp_oauth::Error> {
    let mut o = ServeOptions::new(args.session_secret);
    o.config_file = args.config;
    o.servers = args.mcp;
    o.redirect_uri = args.redirect_uri;
    o.host = args.listen.map(|l| l.ip());
    o.port = args.listen.map(|l| l.port());
    // The example listens where it is told; a reverse proxy is the operator's business.
    o.behind_proxy = args.listen.is_some();
    o.jwt_hs256_secret = args.jwt_hs256_secret;
    o.jwks_url = args.jwks_url;
    o.jwt_issuer = args.jwt_issuer;
    o.jwt_audience = args.jwt_audience;
    o.redis = args.redis;
    o.store_key = args.store_key;
    o.egress_allow = args.egress_allow;
    o.consent_timeout = Duration::from_secs(args.consent_timeout);
    o.dpop = args.dpop;
    o.demo_login = true;
    let service = serve::prepare(o).await?;
    if let Some(w) = &service.plan().warning {
        eprintln!("multi-user-server: warning: {w}");
    }
    let redirect_uri = service.server().config().redirect_uri.clone();
    let bound = service.bind().await?;
    let signal = serve::shutdown_signal();
    // One line on stdout, for scripts and tests.
    println!(
        "{}",
        serde_json::json!({ "url": format!("http://{}", bound.local_addr()), "redirect_uri": redirect_uri })
    );
    bound
        .serve(async {
            signal.await;
        })
        .await?;
    Ok(())
}
