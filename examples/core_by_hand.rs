//! Drives the sans-IO core by hand through a whole MCP authorization against the in-memory demo
//! servers, printing every request, response status and event: the shape every adapter has.
//!
//! `cargo run -p mcp-oauth-examples --bin core-by-hand`

use mcp_oauth_core::demo::{DemoServer, MCP_URL};
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::registration::ClientConfig;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::{AuthFlow, Error, FlowConfig, FlowEvent};

/// Not random: this example is deterministic. Real hosts use their OS's CSPRNG.
fn entropy(seed: u8) -> Entropy {
    Entropy { verifier: [seed; 32], state: [seed ^ 0x5a; 32] }
}

fn drain(
    flow: &mut AuthFlow,
    server: &mut DemoServer,
    now: UnixTime,
) -> Result<Option<String>, Error> {
    let mut browser = None;
    while let Some(req) = flow.poll_request() {
        let resp = server.respond(&req);
        println!(
            "  -> {} {} ({:?})  <- {}",
            req.method.as_str(),
            req.url,
            req.purpose,
            resp.status
        );
        flow.handle_response(now, req.id, resp)?;
    }
    while let Some(event) = flow.poll_event() {
        match &event {
            FlowEvent::OpenBrowser { url } => {
                println!("  event: OpenBrowser {}…", &url[..url.len().min(80)]);
                browser = Some(url.clone());
            }
            FlowEvent::TokensUpdated { issuer, resource, tokens } => println!(
                "  event: TokensUpdated issuer={issuer} resource={resource} expires_at={:?} scope={:?}",
                tokens.expires_at, tokens.scope
            ),
            FlowEvent::MetadataDiscovered(d) => println!(
                "  event: MetadataDiscovered issuer={} legacy={}",
                d.server.issuer, d.legacy
            ),
            FlowEvent::ClientRegistered(r) => {
                println!("  event: ClientRegistered client_id={} ({:?})", r.client_id, r.auth_method)
            }
            FlowEvent::AuthorizationPending(p) => {
                println!("  event: AuthorizationPending (save the snapshot) issuer={}", p.issuer)
            }
            other => println!("  event: {other:?}"),
        }
    }
    Ok(browser)
}

fn main() -> Result<(), Error> {
    let mut server = DemoServer::new();
    let config = FlowConfig::new(
        MCP_URL,
        mcp_oauth_core::url::DEFAULT_REDIRECT_URI,
        ClientConfig::dynamic("core-by-hand"),
    )?;
    let mut flow = AuthFlow::new(config);
    let mut now = UnixTime(1_800_000_000);

    println!("1. The MCP server answers 401; the flow discovers, registers and asks for consent:");
    flow.handle_unauthorized(now, &server.unauthorized(), entropy(1))?;
    let url = drain(&mut flow, &mut server, now)?.expect("an authorization URL");

    println!("2. The user approves; the browser comes back to the redirect URI:");
    let callback = server.approve(&url);
    println!("  callback: {}…", &callback[..callback.len().min(80)]);
    flow.handle_callback(now, &callback)?;
    drain(&mut flow, &mut server, now)?;
    let header = flow.authorization_header(now, MCP_URL)?.expect("a token");
    println!("  MCP server accepts the token: {}", server.accepts(&header));

    println!("3. Time passes; the proactive refresh is due at {:?}:", flow.poll_timeout());
    now = flow.poll_timeout().expect("a refresh deadline");
    flow.handle_timeout(now)?;
    drain(&mut flow, &mut server, now)?;
    let header = flow.authorization_header(now, MCP_URL)?.expect("a token");
    println!("  MCP server accepts the refreshed token: {}", server.accepts(&header));
    println!("{} requests in all.", server.requests);
    Ok(())
}
