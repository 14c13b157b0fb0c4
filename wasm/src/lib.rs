//! `mcp-oauth-wasm`: the WebAssembly build of mcp-oauth for browsers and Node.
//!
//! Today it holds the **size probe** of the core (issue: "Size, measured now"): one export,
//! [`size_probe`], that runs the whole flow — discovery, registration, authorization, callback,
//! code exchange, a snapshot round trip through JSON, and a proactive refresh — over the
//! in-memory servers of the core's `demo` feature. `scripts/size.sh` builds it with the
//! `release-wasm` profile, runs `wasm-bindgen` and `wasm-opt -Oz`, and reports the bytes. The JS
//! API (`McpOAuth`, storage, popup/redirect) comes with its own issue and replaces the probe.
//!
//! Design-card packages not used yet, and why: `web-sys`/`js-sys`/`gloo-net`/`getrandom`
//! arrive with the bindings that need the browser's `fetch`, storage and `crypto`; the probe
//! needs none of them. `serde-wasm-bindgen` likewise waits for the JS-facing types.
#![deny(missing_docs)]

use mcp_oauth_core::demo::{DemoServer, MCP_URL};
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::registration::ClientConfig;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::{AuthFlow, Error, FlowConfig, FlowEvent, FlowSnapshot};
use wasm_bindgen::prelude::wasm_bindgen;

pub use mcp_oauth_core as core;

fn drive(
    flow: &mut AuthFlow,
    server: &mut DemoServer,
    now: UnixTime,
) -> Result<Option<String>, Error> {
    let mut browser = None;
    while let Some(req) = flow.poll_request() {
        let resp = server.respond(&req);
        flow.handle_response(now, req.id, resp)?;
    }
    while let Some(ev) = flow.poll_event() {
        if let FlowEvent::OpenBrowser { url } = ev {
            browser = Some(url);
        }
    }
    Ok(browser)
}

fn run_probe() -> Result<String, Error> {
    let mut server = DemoServer::new();
    let config = FlowConfig::new(
        MCP_URL,
        "http://localhost:8000/auth/redirect",
        ClientConfig::dynamic("probe"),
    )?;
    let mut flow = AuthFlow::new(config.clone());
    let now = UnixTime(1_800_000_000);
    flow.handle_unauthorized(
        now,
        &server.unauthorized(),
        Entropy { verifier: [1; 32], state: [2; 32] },
    )?;
    let url = drive(&mut flow, &mut server, now)?
        .ok_or(mcp_oauth_core::error::FlowError::NoPendingAuthorization)?;
    // The redirect leaves the page: save, then complete from the saved state.
    let saved = flow.snapshot().to_json();
    let snapshot = FlowSnapshot::from_json(&saved)?;
    let mut flow = AuthFlow::restore(config, snapshot)?;
    flow.handle_callback(now, &server.approve(&url))?;
    drive(&mut flow, &mut server, now)?;
    // Proactive refresh at the deadline.
    let later = flow.poll_timeout().unwrap_or(now);
    flow.handle_timeout(later)?;
    drive(&mut flow, &mut server, later)?;
    let header = flow.authorization_header(later, MCP_URL)?.unwrap_or_default();
    Ok(format!("ok:{}:{}", server.requests, server.accepts(&header)))
}

/// Runs the whole flow over canned responses; returns `ok:<requests>:<token accepted>` or the
/// error code.
#[wasm_bindgen]
pub fn size_probe() -> String {
    match run_probe() {
        Ok(s) => s,
        Err(e) => format!("error:{}", e.code()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_runs_the_whole_flow() {
        // resource metadata, server metadata, registration, code exchange, refresh
        assert_eq!(super::size_probe(), "ok:5:true");
    }
}
