//! `mcp-oauth proxy`: MCP over stdio to the host, streamable HTTP with OAuth to the server
//! ([`mcp_oauth::proxy`]). stdout carries MCP messages only; everything else goes to stderr.

use std::time::Duration;

use clap::Args;
use mcp_oauth::mcp::McpTarget;
use mcp_oauth::proxy::{ProxyAuth, ProxyOptions, ProxyTransport, ToolFilter, UserAuth};
use mcp_oauth::{BrowserMode, Error};

use crate::args::{Browser, UrlArg};
use crate::setup::{usage, Setup};

#[derive(Args, Debug)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    pub(crate) url: UrlArg,
    /// A header on every request to the server, `NAME: VALUE` (repeatable); `${VAR}` in the
    /// value is replaced with the environment variable VAR (which must be set).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// Hide tools whose name matches PATTERN (`*` matches any run of characters) from the host:
    /// left out of `tools/list`, calls refused (repeatable).
    #[arg(long = "ignore-tool", value_name = "PATTERN")]
    pub(crate) ignore_tools: Vec<String>,
    /// How to reach --url: streamable HTTP, or the deprecated HTTP+SSE transport of MCP
    /// 2024-11-05 (no authorization) [default: streamable-http, or the --group's transport].
    #[arg(long, value_enum, value_name = "TRANSPORT")]
    pub(crate) transport: Option<TransportArg>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TransportArg {
    /// Streamable HTTP (MCP 2025-03-26 and later), with OAuth authorization.
    StreamableHttp,
    /// HTTP+SSE (MCP 2024-11-05), without authorization.
    Sse,
}

/// `NAME: VALUE` with `${VAR}` expanded.
fn parse_header(text: &str) -> Result<(String, String), Error> {
    parse_header_with(text, &|var| std::env::var(var).ok())
}

fn parse_header_with(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), Error> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| usage(format!("--header `{text}`: expected `NAME: VALUE`")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(usage(format!("--header `{text}`: the name is empty")));
    }
    Ok((name.to_owned(), expand(value.trim(), name, env)?))
}

/// `${VAR}` → the environment variable's value; a missing variable is an error, never "".
fn expand(
    value: &str,
    header: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| usage(format!("--header {header}: `${{` without its closing `}}`")))?;
        let var = &after[..end];
        let v = env(var).ok_or_else(|| {
            usage(format!("--header {header}: the environment variable {var} is not set"))
        })?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(crate) async fn run(args: ProxyArgs, setup: &Setup) -> Result<(), Error> {
    let (url, sse) = match (setup.target(&args.url)?, args.transport) {
        (McpTarget::StreamableHttp { url }, Some(TransportArg::Sse)) => (url, true),
        (McpTarget::StreamableHttp { url }, _) => (url, false),
        (McpTarget::Sse { url }, None | Some(TransportArg::Sse)) => (url, true),
        (McpTarget::Sse { url }, Some(TransportArg::StreamableHttp)) => (url, false),
        (other, _) => {
            return Err(usage(format!(
                "the group's server uses the {:?} transport: the host can run it directly, \
                 without the proxy",
                other.kind()
            )))
        }
    };
    let mut opts = ProxyOptions::new(url.clone());
    for h in &args.headers {
        opts.headers.push(parse_header(h)?);
    }
    opts.filter = ToolFilter::new(args.ignore_tools);
    if sse {
        // MCP authorization applies to HTTP-based transports from 2025-03-26 on; the HTTP+SSE
        // transport has none.
        if setup.implies_auth() {
            return Err(Error::SseNotSupported);
        }
        opts.transport = ProxyTransport::Sse;
        eprintln!("mcp-oauth: proxy: forwarding stdio to {url} (HTTP+SSE, no authorization)");
        return mcp_oauth::proxy::run(opts, tokio::io::stdin(), tokio::io::stdout()).await;
    }
    if let Some(h) = setup.headless(&url)? {
        opts.headers.extend(h.extra_headers().iter().cloned());
        opts.auth = Some(ProxyAuth::Headless(h));
    } else {
        if let Some(r) = &setup.opts.redirect_uri {
            if mcp_oauth::core::url::RedirectUri::parse(r).is_ok_and(|u| u.listen_port() == Some(0))
            {
                return Err(usage(
                    "the proxy needs a redirect URI with a fixed port (its instances share one \
                     client registration, and with it one redirect URI): pass e.g. \
                     --redirect-uri http://127.0.0.1:33418/callback",
                ));
            }
        }
        let (store, file) = setup.store_and_file()?;
        let client = setup.client(&url, store)?;
        let browser = match setup.opts.browser {
            Browser::Open => BrowserMode::Open,
            Browser::Print => BrowserMode::Print,
            Browser::Follow => BrowserMode::Follow,
        };
        opts.auth = Some(ProxyAuth::User(std::sync::Arc::new(UserAuth {
            client,
            store: file,
            browser,
            timeout: Duration::from_secs(setup.opts.timeout),
        })));
    }
    eprintln!("mcp-oauth: proxy: forwarding stdio to {url}");
    mcp_oauth::proxy::run(opts, tokio::io::stdin(), tokio::io::stdout()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_expand_the_environment() {
        let env = |v: &str| (v == "TOKEN").then(|| "s3cret".to_owned());
        let (n, v) = parse_header_with("Authorization: Bearer ${TOKEN}!", &env).unwrap();
        assert_eq!((n.as_str(), v.as_str()), ("Authorization", "Bearer s3cret!"));
        let e = parse_header_with("X-Key: ${UNSET}", &env).unwrap_err();
        assert!(e.to_string().contains("UNSET is not set"), "{e}");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("X: ${OPEN").unwrap_err().to_string().contains("closing"));
    }
}
