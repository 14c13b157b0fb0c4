//! Sequences of inputs to `AuthFlow`: 401s, correct and corrupted responses, transport
//! failures, real and forged callbacks, time passing, step-up, logout, cancel, and snapshot
//! round trips, in any order, against the core's in-memory demo servers.
//!
//! Invariants: no panic; `authorization_header` for the MCP URL never fails; a snapshot always
//! survives its JSON form unchanged; after two `handle_timeout(now)` calls in a row the next
//! timeout is not in the past (the sans-IO busy-loop trap); a token the flow offers while no
//! response was corrupted is one the server issued.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::demo::{DemoServer, MCP_URL};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::registration::ClientConfig;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::{AuthFlow, FlowConfig, FlowEvent, FlowSnapshot};
use mcp_oauth_core_fuzz::Input;

const REDIRECT: &str = "http://localhost:8000/auth/redirect";

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut server = DemoServer::new();
    let config = FlowConfig::new(MCP_URL, REDIRECT, ClientConfig::dynamic("fuzz")).expect("config");
    let mut flow = AuthFlow::new(config.clone());
    let mut now = UnixTime(1_800_000_000);
    let mut browser: Option<String> = None;
    let mut corrupted = false;
    for _ in 0..48 {
        let op = input.byte();
        let arg = input.byte();
        match op % 11 {
            0 => {
                let entropy = Entropy { verifier: [arg; 32], state: [arg ^ 0x55; 32] };
                let _ = flow.handle_unauthorized(now, &server.unauthorized(), entropy);
            }
            1 | 2 => {
                if let Some(req) = flow.poll_request() {
                    let resp = server.respond(&req);
                    let _ = flow.handle_response(now, req.id, resp);
                }
            }
            3 => {
                if let Some(req) = flow.poll_request() {
                    corrupted = true;
                    let len = usize::from(input.byte()) % 96;
                    let body: Vec<u8> = (0..len).map(|_| input.byte()).collect();
                    let status = [200, 201, 400, 401, 404, 500][usize::from(arg) % 6];
                    let resp = HttpResponse::new(
                        status,
                        vec![("content-type".into(), "application/json".into())],
                        body,
                    );
                    let _ = flow.handle_response(now, req.id, resp);
                }
            }
            4 => {
                if let Some(req) = flow.poll_request() {
                    let _ = flow.handle_transport_error(now, req.id, "network down");
                }
            }
            5 => {
                if let Some(url) = browser.take() {
                    let cb = server.approve(&url);
                    let _ = flow.handle_callback(now, &cb);
                }
            }
            6 => {
                let len = usize::from(arg) % 64;
                let bytes: Vec<u8> = (0..len).map(|_| input.byte()).collect();
                let tail = String::from_utf8_lossy(&bytes);
                let _ = flow.handle_callback(now, &format!("{REDIRECT}?{tail}"));
            }
            7 => {
                now = now.plus(u64::from(arg) * 97);
                let _ = flow.handle_timeout(now);
                let _ = flow.handle_timeout(now);
                if let Some(t) = flow.poll_timeout() {
                    assert!(t > now, "poll_timeout {t:?} is not after {now:?}: a busy loop");
                }
            }
            8 => {
                let header =
                    format!("Bearer error=\"insufficient_scope\", scope=\"tools:{}\"", arg % 4);
                let resp =
                    HttpResponse::new(403, vec![("WWW-Authenticate".into(), header)], Vec::new());
                let entropy = Entropy { verifier: [arg; 32], state: [!arg; 32] };
                let _ = flow.handle_forbidden(now, &resp, "op", entropy);
            }
            9 => {
                let snap = flow.snapshot();
                let text = snap.to_json();
                let back = FlowSnapshot::from_json(&text).expect("a snapshot reads back");
                assert_eq!(back, snap, "snapshot changed through JSON");
                if let Ok(restored) = AuthFlow::restore(config.clone(), back) {
                    flow = restored;
                }
            }
            _ => match arg % 3 {
                0 => {
                    let _ = flow.logout(now);
                }
                1 => flow.cancel(),
                _ => {
                    let entropy = Entropy { verifier: [arg; 32], state: [arg ^ 7; 32] };
                    let _ = flow.begin_authorization(now, entropy);
                }
            },
        }
        while let Some(event) = flow.poll_event() {
            if let FlowEvent::OpenBrowser { url } = event {
                browser = Some(url);
            }
        }
        let header = flow.authorization_header(now, MCP_URL).expect("the MCP URL is the resource");
        if let (Some(h), false) = (header, corrupted) {
            assert!(server.accepts(&h), "the flow offers a token the server never issued");
        }
    }
});
