//! The multi-user example's checker: identifies as a user (session cookie from the example's
//! demo login, or a bearer JWT it signs with the server's HS256 secret), sends one input over
//! WebSocket or HTTP, and prints the result. When consent is needed it prints the URL on stderr
//! and waits; with `--follow` it plays the user's browser itself (for servers that approve
//! without a user, like the test peers), logging in as the user through `login_hint`.
//!
//! ```sh
//! multi-user-check --url http://localhost:8000 --protocol ws --user-id Alice --input tools
//! multi-user-check --url http://localhost:8000 --protocol http --user-id Hatter \
//!     --jwt-hs256-secret "$JWT_SECRET" --input 'call echo {"text":"hi"}'
//! ```
//! Input grammar: `tools` | `call <tool> [<json object of arguments>]`.
//! Exit status: 0 with a result, 1 with an error reply, 2 on bad usage or transport failure.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Protocol {
    Ws,
    Http,
}

/// Sends one input to the multi-user server as a user and prints the result.
/// The origin of the default redirect URI (`http://localhost:8000`).
fn default_server_url() -> String {
    mcp_oauth_core::url::RedirectUri::parse(mcp_oauth_core::url::DEFAULT_REDIRECT_URI)
        .map(|uri| uri.url().origin())
        .unwrap_or_default()
}

#[derive(Parser, Debug)]
#[command(name = "multi-user-check")]
struct Args {
    /// The server's base URL (by default where multi-user-server listens by default).
    #[arg(long, default_value_t = default_server_url())]
    url: String,
    /// WebSocket or HTTP.
    #[arg(long, value_enum, default_value = "ws")]
    protocol: Protocol,
    /// The user.
    #[arg(long)]
    user_id: String,
    /// `tools` or `call <tool> [<json>]`.
    #[arg(long)]
    input: String,
    /// The MCP server's name in the server's configuration.
    #[arg(long, default_value = "demo")]
    mcp_server: String,
    /// Identify with a bearer JWT signed with this HS256 secret (else: session cookie).
    #[arg(long, env = "MCP_OAUTH_JWT_SECRET", hide_env_values = true)]
    jwt_hs256_secret: Option<String>,
    /// `iss` of that JWT.
    #[arg(long)]
    jwt_issuer: Option<String>,
    /// `aud` of that JWT.
    #[arg(long)]
    jwt_audience: Option<String>,
    /// Play the browser: follow the authorization URL (with `login_hint=<user>`).
    #[arg(long)]
    follow: bool,
}

/// Parses the input grammar into a request.
fn parse_input(input: &str, server: &str) -> Result<Value, String> {
    let t = input.trim();
    if t == "tools" {
        return Ok(json!({ "id": "1", "server": server, "action": "list_tools" }));
    }
    let rest = t.strip_prefix("call ").ok_or("expected `tools` or `call <tool> [<json>]`")?.trim();
    let (tool, args) = match rest.split_once(char::is_whitespace) {
        Some((tool, args)) => (tool, Some(args.trim())),
        None => (rest, None),
    };
    let mut req = json!({ "id": "1", "server": server, "action": "call_tool", "tool": tool });
    if let Some(a) = args.filter(|a| !a.is_empty()) {
        let v: Value =
            serde_json::from_str(a).map_err(|e| format!("the arguments are not JSON: {e}"))?;
        if !v.is_object() {
            return Err("the arguments must be a JSON object".into());
        }
        req["arguments"] = v;
    }
    Ok(req)
}

enum Ident {
    Cookie(String),
    Bearer(String),
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(&args).await {
        Ok(reply) => {
            println!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
            std::process::exit(if reply["type"] == "result" { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("multi-user-check: {e}");
            std::process::exit(2);
        }
    }
}

async fn identify(args: &Args) -> Result<Ident, String> {
    if let Some(secret) = &args.jwt_hs256_secret {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let mut claims = json!({ "sub": args.user_id, "iat": now, "exp": now + 600 });
        if let Some(iss) = &args.jwt_issuer {
            claims["iss"] = json!(iss);
        }
        if let Some(aud) = &args.jwt_audience {
            claims["aud"] = json!(aud);
        }
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .map_err(|e| e.to_string())?;
        return Ok(Ident::Bearer(token));
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/login", args.url))
        .json(&json!({ "user": args.user_id }))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("login: HTTP {}", resp.status()));
    }
    let body: Value = resp.json().await.map_err(|e| format!("login: {e}"))?;
    body["session"]
        .as_str()
        .map(|s| Ident::Cookie(s.to_owned()))
        .ok_or_else(|| "login: no session".into())
}

fn with_ident(b: reqwest::RequestBuilder, ident: &Ident) -> reqwest::RequestBuilder {
    match ident {
        Ident::Cookie(s) => b.header("cookie", format!("mcp_session={s}")),
        Ident::Bearer(t) => b.bearer_auth(t),
    }
}

/// Shows the consent URL, or plays the browser with `--follow`.
async fn consent(args: &Args, url: &str) -> Result<(), String> {
    eprintln!("consent needed: open {url}");
    if !args.follow {
        return Ok(());
    }
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = |follow: bool| {
        let policy = if follow {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        };
        reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(policy)
            .build()
            .map_err(|e| e.to_string())
    };
    // The link is the server's /auth/start/{id}: it sets the cookie that binds this browser to
    // the authorization, then redirects to the authorization server.
    let start =
        browser(false)?.get(url).send().await.map_err(|e| format!("opening the link: {e}"))?;
    let location = start
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("the consent link answered HTTP {}", start.status()))?;
    let url = format!("{location}&login_hint={}", args.user_id);
    // The authorization server redirects to the redirect URI: the server's /auth/redirect.
    let resp = browser(true)?
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("following the authorization URL: {e}"))?;
    eprintln!("consent page: HTTP {}", resp.status());
    Ok(())
}

async fn run(args: &Args) -> Result<Value, String> {
    mcp_oauth::http::install_crypto_provider();
    let request = parse_input(&args.input, &args.mcp_server)?;
    let ident = identify(args).await?;
    match args.protocol {
        Protocol::Http => {
            let client = reqwest::Client::new();
            let resp = with_ident(client.post(format!("{}/v1/chat", args.url)), &ident)
                .json(&request)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let mut reply: Value = resp.json().await.map_err(|e| e.to_string())?;
            if reply["type"] == "oauth_required" {
                consent(args, reply["url"].as_str().unwrap_or_default()).await?;
                let id = reply["request_id"].as_str().unwrap_or_default().to_owned();
                loop {
                    let resp = with_ident(
                        client.get(format!("{}/v1/chat/{id}?wait=30", args.url)),
                        &ident,
                    )
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                    reply = resp.json().await.map_err(|e| e.to_string())?;
                    if reply["type"] != "pending" {
                        break;
                    }
                }
            }
            Ok(reply)
        }
        Protocol::Ws => {
            let mut req = format!("{}/ws", args.url.replacen("http", "ws", 1))
                .into_client_request()
                .map_err(|e| e.to_string())?;
            let value = match &ident {
                Ident::Cookie(s) => ("cookie", format!("mcp_session={s}")),
                Ident::Bearer(t) => ("authorization", format!("Bearer {t}")),
            };
            req.headers_mut().insert(value.0, value.1.parse().map_err(|_| "bad header")?);
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(|e| format!("websocket: {e}"))?;
            ws.send(Message::Text(request.to_string().into())).await.map_err(|e| e.to_string())?;
            loop {
                let msg = tokio::time::timeout(Duration::from_secs(600), ws.next())
                    .await
                    .map_err(|_| "no reply within 600 s")?;
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("the server closed the connection".into()),
                };
                let reply: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if reply["type"] == "oauth_required" {
                    consent(args, reply["url"].as_str().unwrap_or_default()).await?;
                    continue;
                }
                return Ok(reply);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_input;

    #[test]
    fn input_grammar() {
        assert_eq!(parse_input(" tools ", "demo").unwrap()["action"], "list_tools");
        let r = parse_input(r#"call echo {"text":"hi"}"#, "demo").unwrap();
        assert_eq!(r["tool"], "echo");
        assert_eq!(r["arguments"]["text"], "hi");
        assert!(parse_input("call whoami", "demo").unwrap().get("arguments").is_none());
        assert!(parse_input("call echo [1]", "demo").unwrap_err().contains("object"));
        assert!(parse_input("call echo {", "demo").unwrap_err().contains("not JSON"));
        assert!(parse_input("list", "demo").unwrap_err().contains("expected"));
    }
}
