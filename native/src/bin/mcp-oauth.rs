//! `mcp-oauth`: list and call the tools of an MCP server, authorizing with OAuth when it asks.
//!
//! Progress goes to stderr, results to stdout (a table, or JSON with `--json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_oauth::client::{Progress, DEFAULT_REDIRECT_URI};
use mcp_oauth::core::policy::ServerPolicy;
use mcp_oauth::core::registration::{ClientConfig, PreRegistered};
use mcp_oauth::core::secret::ClientSecret;
use mcp_oauth::core::url::EndpointUrl;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::{FileStore, KeySource, MemoryStore, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, Error, OAuthClient};

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
    /// The redirect URI (a loopback URI without a port listens on 8000; port 0 picks a free one).
    #[arg(long, global = true, env = "MCP_OAUTH_REDIRECT_URI", default_value = DEFAULT_REDIRECT_URI)]
    redirect_uri: String,
    /// A client id issued by the authorization server (skips registration).
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_ID")]
    client_id: Option<String>,
    /// The client secret of --client-id.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A Client ID Metadata Document URL, used when the server supports it.
    #[arg(long, global = true, env = "MCP_OAUTH_CLIENT_METADATA_URL")]
    client_metadata_url: Option<String>,
    /// Scopes to request (space-separated), instead of the server's.
    #[arg(long, global = true, env = "MCP_OAUTH_SCOPE")]
    scope: Option<String>,
    /// How to get the user's consent.
    #[arg(long, global = true, env = "MCP_OAUTH_BROWSER", value_enum, default_value_t = Browser::Open)]
    browser: Browser,
    /// Where tokens are kept.
    #[arg(long, global = true, env = "MCP_OAUTH_TOKEN_STORE", value_enum, default_value_t = StoreKind::File)]
    token_store: StoreKind,
    /// The directory of the file store (default: $XDG_DATA_HOME/mcp-oauth or ~/.local/share/mcp-oauth).
    #[arg(long, global = true, env = "MCP_OAUTH_STORE_DIR")]
    store_dir: Option<PathBuf>,
    /// The user the tokens belong to.
    #[arg(long, global = true, env = "MCP_OAUTH_USER", default_value = "default")]
    user: String,
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
    /// The MCP server's URL (streamable HTTP).
    #[arg(long, env = "MCP_OAUTH_URL")]
    url: String,
}

#[derive(Args, Debug)]
struct OptionalUrlArg {
    /// The MCP server's URL.
    #[arg(long, env = "MCP_OAUTH_URL")]
    url: Option<String>,
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Usage(_) | Error::SseNotSupported => 2,
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

fn store(opts: &Opts) -> Result<Arc<dyn TokenStore>, Error> {
    Ok(match opts.token_store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::File => {
            let dir = opts.store_dir.clone().unwrap_or_else(default_store_dir);
            Arc::new(FileStore::open(dir.clone(), KeySource::Default(dir))?)
        }
    })
}

fn client(opts: &Opts, url: &str, store: Arc<dyn TokenStore>) -> Result<Arc<OAuthClient>, Error> {
    let mut o = ClientOptions::new(url, store)?;
    o.redirect_uri = opts.redirect_uri.clone();
    o.user = opts.user.clone();
    o.scopes = opts.scope.clone();
    o.timeout = Duration::from_secs(opts.timeout);
    o.browser = match opts.browser {
        Browser::Open => BrowserMode::Open,
        Browser::Print => BrowserMode::Print,
        Browser::Follow => BrowserMode::Follow,
    };
    o.client = ClientConfig::dynamic("mcp-oauth CLI");
    if let Some(id) = &opts.client_id {
        o.client.pre_registered = Some(PreRegistered {
            client_id: id.clone(),
            client_secret: opts.client_secret.clone().map(ClientSecret::new),
            auth_method: None,
        });
    } else if opts.client_secret.is_some() {
        return Err(Error::Usage("--client-secret needs --client-id".into()));
    }
    if let Some(u) = &opts.client_metadata_url {
        o.client.metadata_document_url = Some(
            EndpointUrl::parse(u)
                .map_err(|e| Error::Usage(format!("--client-metadata-url: {e}")))?,
        );
    }
    let mut policies: Vec<(String, ServerPolicy)> = Vec::new();
    for issuer in &opts.danger_assume_pkce_s256 {
        policies.push((
            issuer.clone(),
            ServerPolicy { danger_assume_pkce_s256: true, ..ServerPolicy::default() },
        ));
    }
    for issuer in &opts.danger_omit_resource {
        match policies.iter_mut().find(|(i, _)| i == issuer) {
            Some((_, p)) => p.danger_omit_resource = true,
            None => policies.push((
                issuer.clone(),
                ServerPolicy { danger_omit_resource: true, ..ServerPolicy::default() },
            )),
        }
    }
    o.policies = policies;
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

async fn run(cli: Cli) -> Result<(), Error> {
    let opts = cli.opts;
    match cli.command {
        Command::Tools { command: ToolsCommand::List { url, auth } } => {
            let session = connect(&opts, &url.url, auth).await?;
            let tools = session.list_tools().await;
            session.close().await;
            print_tools(&tools?, opts.json);
        }
        Command::Tools { command: ToolsCommand::Call { name, args, auth, url } } => {
            let arguments = match args {
                None => None,
                Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(map)) => Some(map),
                    Ok(_) => return Err(Error::Usage("--args must be a JSON object".into())),
                    Err(e) => return Err(Error::Usage(format!("--args is not valid JSON: {e}"))),
                },
            };
            let session = connect(&opts, &url.url, auth).await?;
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
            let store = store(&opts)?;
            let c = client(&opts, &url.url, store)?;
            c.authorize().await?;
            print_status(&c.status().await?, opts.json);
        }
        Command::Status(OptionalUrlArg { url: Some(url) }) => {
            let store = store(&opts)?;
            let c = client(&opts, &url, store)?;
            print_status(&c.status().await?, opts.json);
        }
        Command::Status(OptionalUrlArg { url: None }) => {
            let store = store(&opts)?;
            let keys = store.list(&opts.user).await?;
            if keys.is_empty() && !opts.json {
                println!("no stored authorizations for user {}", opts.user);
            }
            for key in keys {
                let c = client(&opts, &key.resource, store.clone())?;
                print_status(&c.status().await?, opts.json);
            }
        }
        Command::Logout(url) => {
            let store = store(&opts)?;
            let c = client(&opts, &url.url, store)?;
            let report = c.logout().await?;
            if opts.json {
                let v = serde_json::json!({
                    "had_tokens": report.had_tokens,
                    "revoked": report.revoked,
                    "revocation_error": report.revocation_error,
                });
                println!("{v}");
            } else if !report.had_tokens {
                println!("nothing stored for {}", url.url);
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

async fn connect(opts: &Opts, url: &str, auth: bool) -> Result<McpSession, Error> {
    let auth_client = if auth { Some(client(opts, url, store(opts)?)?) } else { None };
    McpSession::connect(url, auth_client, true).await.map_err(|e| match e {
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
        let left = t.secs() as i64 - mcp_oauth::now().secs() as i64;
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
