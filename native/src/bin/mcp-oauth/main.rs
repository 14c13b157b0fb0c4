//! `mcp-oauth`: list and call the tools of an MCP server, authorizing with OAuth when it asks.
//!
//! Progress goes to stderr, results to stdout (a table, or JSON with `--json`).

mod args;
mod logging;
mod output;
mod proxy;
mod reseal;
#[cfg(feature = "server")]
mod serve;
mod setup;

use std::process::ExitCode;

use clap::Parser;
use mcp_oauth::config::{self, Config};
use mcp_oauth::mcp::{check_transport, mcp_http_client, Authorizer, McpSession, McpTarget};
use mcp_oauth::Error;

use args::{Cli, Command, ConfigCommand, OptionalUrlArg, Opts, ToolsCommand};
use output::{print_headless, print_status, print_tools};
use setup::{usage, Setup};

fn exit_code(e: &Error) -> u8 {
    if token_rejected(e) {
        return 5;
    }
    match e {
        Error::Usage(_) | Error::SseNotSupported | Error::Config(_) | Error::PrivateKey(_) => 2,
        Error::AuthorizationRequired { .. } => 4,
        Error::Mcp { .. } => 5,
        Error::Transport { .. } | Error::McpCommand { .. } => 6,
        Error::Store(_) => 7,
        Error::Cancelled => 130,
        Error::Protocol(_) | Error::Redirect(_) | Error::Timeout { .. } => 3,
        _ => 1,
    }
}

/// The MCP server refused a token obtained in answer to its previous refusal.
fn token_rejected(e: &Error) -> bool {
    use mcp_oauth::core::error::FlowError;
    matches!(
        e,
        Error::Protocol(mcp_oauth::core::Error::Flow(FlowError::TokenRejectedByResource { .. }))
    )
}

/// What to do about an error, beyond its message.
fn hint(e: &Error) -> Option<String> {
    use mcp_oauth::core::server_metadata::ServerMetadataError as S;
    match e {
        Error::Protocol(mcp_oauth::core::Error::ServerMetadata(S::PkceSupportNotAdvertised {
            issuer,
        })) => Some(format!(
            "if you trust that {issuer} supports PKCE S256, pass --danger-assume-pkce-s256 {issuer}"
        )),
        Error::Protocol(mcp_oauth::core::Error::Registration(
            mcp_oauth::core::registration::RegistrationError::NoClientIdentity { .. }
            | mcp_oauth::core::registration::RegistrationError::Rejected { .. },
        )) => Some(
            "register a client with the authorization server and pass --client-id (with \
             --client-secret or --private-key), or set client_id in the config file"
                .into(),
        ),
        Error::Protocol(mcp_oauth::core::Error::Callback(
            mcp_oauth::core::authorize::CallbackError::AccessDenied { .. },
        )) => Some(
            "consent was denied at the authorization server; run the command again to retry".into(),
        ),
        Error::Transport { .. } => Some("check that the server is running and reachable".into()),
        // core/src/headless/dpop.rs: a DPoP-only server and `never`.
        _ if token_rejected(e) && e.to_string().contains("(dpop: never)") => {
            Some("the MCP server needs DPoP-bound tokens: pass --dpop auto (or dpop: auto)".into())
        }
        _ if token_rejected(e) => Some(
            "the authorization server issued a token the MCP server does not accept (audience, \
             scope or issuer); check the server's resource configuration"
                .into(),
        ),
        _ => None,
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    if let Command::Config { command } = &cli.command {
        return config_command(command, &cli.opts);
    }
    #[cfg(feature = "server")]
    if let Command::Serve(args) = cli.command {
        return serve::run(*args, &cli.opts).await;
    }
    if let Command::Store { command } = cli.command {
        return reseal::run(command, &cli.opts).await;
    }
    let setup = Setup::new(cli.opts)?;
    let opts = &setup.opts;
    match cli.command {
        Command::Config { .. } | Command::Store { .. } => {}
        Command::Proxy(args) => proxy::run(args, &setup).await?,
        #[cfg(feature = "server")]
        Command::Serve(_) => {}
        Command::Tools { command: ToolsCommand::List { url, auth } } => {
            let target = setup.target(&url)?;
            let session = connect(&setup, &target, auth).await?;
            let tools = session.list_tools().await;
            session.close().await;
            print_tools(&tools?, opts.json);
        }
        Command::Tools { command: ToolsCommand::Call { name, args, auth, url } } => {
            let target = setup.target(&url)?;
            let arguments = match args {
                None => None,
                Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(map)) => Some(map),
                    Ok(_) => return Err(usage("--args must be a JSON object")),
                    Err(e) => return Err(usage(format!("--args is not valid JSON: {e}"))),
                },
            };
            let session = connect(&setup, &target, auth).await?;
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
                return Err(Error::mcp(format!("the tool `{name}` reported an error")));
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
                    "not_revocable": report.not_revocable,
                });
                println!("{v}");
            } else if !report.had_tokens {
                println!("nothing stored for {url}");
            } else {
                match &report.revocation_error {
                    None if report.revoked && report.not_revocable => println!(
                        "logged out: tokens deleted; a token is not revocable by this server \
                         (unsupported_token_type): it stays valid until it expires"
                    ),
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
                    "unknown _type `{kind}`; expected mcp_oauth2, mcp_service_account or \
                     mcp_workload_identity (or server, for a function group's server)"
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

async fn connect(setup: &Setup, target: &McpTarget, auth: bool) -> Result<McpSession, Error> {
    let auth = auth || setup.implies_auth();
    let McpTarget::StreamableHttp { url } = target else {
        // stdio and sse take no authorization: asking for it is refused.
        check_transport(target.kind(), auth)?;
        return McpSession::connect_target(target, None, true, mcp_http_client()?).await;
    };
    let authorizer = if !auth {
        None
    } else if let Some(h) = setup.headless(url)? {
        Some(Authorizer::Headless(h))
    } else {
        Some(Authorizer::User(setup.client(url, setup.store()?)?))
    };
    // Without --auth, a protected server is Error::AuthorizationRequired (exit 4).
    McpSession::connect_with(url, authorizer, true).await
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs at info; the other commands only when RUST_LOG asks (logging.rs).
    let (format, default_filter) = match &cli.command {
        #[cfg(feature = "server")]
        Command::Serve(args) => (args.log_format, logging::SERVE_DEFAULT),
        _ => (logging::LogFormat::Text, "off"),
    };
    if let Err(e) = logging::init(format, default_filter) {
        eprintln!("mcp-oauth: error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-oauth: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // `serve` stops on SIGTERM and Ctrl-C itself, gracefully.
    #[cfg(feature = "server")]
    if matches!(cli.command, Command::Serve(_)) {
        return match runtime.block_on(run(cli)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                serve::say(format, serve::Level::Error, &format!("error: {e}"));
                ExitCode::from(exit_code(&e))
            }
        };
    }
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Cancelled),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The library's message names no command; the CLI's says which one to run, on one line.
        Err(Error::AuthorizationRequired { server }) => {
            eprintln!(
                "mcp-oauth: error: not authorized for {server}: run `mcp-oauth login --url \
                 {server}` (or pass --auth)"
            );
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("mcp-oauth: error: {e}");
            if let Some(h) = hint(&e) {
                eprintln!("mcp-oauth: hint: {h}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
