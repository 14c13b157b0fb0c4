//! Tests shared by the Node run (`tests/node.rs`) and the Chromium run (`tests/browser.rs`): the
//! bindings alone, as any JS host sees them: `Flow` over the core's options, its errors (JS
//! `Error`s named `McpOAuthError` with a code), entropy passed in, and the whole authorization
//! driven through `Flow` against the core's `DemoServer`. The package's JS host (`pkg/src/`) is
//! tested by `pkg/test/` (Node) and `examples/browser-chat/test/` (Chromium).

use js_sys::{Array, Reflect, Uint8Array};
use mcp_oauth_core::demo::{DemoServer, ISSUER, MCP_URL};
use mcp_oauth_core::http::{HttpRequest, Method, Purpose, RequestId};
use mcp_oauth_wasm::Flow;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

pub const REDIRECT: &str = "http://localhost:8000/auth/redirect";

pub fn obj(entries: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in entries {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

/// 64 bytes, as a host draws them with `crypto.getRandomValues`.
pub fn entropy(seed: u8) -> Option<Uint8Array> {
    let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)).collect();
    Some(Uint8Array::from(bytes.as_slice()))
}

/// Asserts that `e` is what the bindings throw: an `Error` named `McpOAuthError` with `code`.
pub fn assert_error(e: &JsValue, code: &str) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    assert_eq!(get(e, "name"), "McpOAuthError");
    assert_eq!(get(e, "code"), code, "{:?}", get(e, "message"));
    get(e, "message").as_string().unwrap()
}

/// Answers a request object of `pollRequest()` / the step functions at the core's demo server.
pub fn demo_answer(server: &mut DemoServer, req: &JsValue) -> JsValue {
    let post = get(req, "method").as_string().unwrap() == "POST";
    let headers = Array::from(&get(req, "headers"))
        .iter()
        .map(|p| {
            let p = Array::from(&p);
            (p.get(0).as_string().unwrap(), p.get(1).as_string().unwrap())
        })
        .collect();
    let resp = server.respond(&HttpRequest {
        id: RequestId(0),
        purpose: Purpose::ResourceMetadata,
        method: if post { Method::Post } else { Method::Get },
        url: get(req, "url").as_string().unwrap(),
        headers,
        body: Uint8Array::from(get(req, "body")).to_vec(),
    });
    let h = Array::new();
    for (k, v) in &resp.headers {
        h.push(&Array::of2(&k.into(), &v.into()));
    }
    obj(&[
        ("status", resp.status.into()),
        ("headers", h.into()),
        ("body", Uint8Array::from(resp.body.as_slice()).into()),
    ])
}

/// The drain contract: every request answered by `server`, then the events' types (and the
/// browser URL of `open_browser`, if any).
fn drain(flow: &mut Flow, server: &mut DemoServer, now: f64) -> (Vec<String>, Option<String>) {
    loop {
        let req = flow.poll_request();
        if req.is_undefined() {
            break;
        }
        let id = get(&req, "id").as_f64().unwrap();
        flow.handle_response(now, id, demo_answer(server, &req)).unwrap();
    }
    let (mut types, mut url) = (Vec::new(), None);
    loop {
        let ev = flow.poll_event();
        if ev.is_undefined() {
            break;
        }
        let t = get(&ev, "type").as_string().unwrap();
        if t == "open_browser" {
            url = get(&ev, "url").as_string();
        }
        types.push(t);
    }
    (types, url)
}

fn options() -> JsValue {
    obj(&[("serverUrl", MCP_URL.into()), ("redirectUri", REDIRECT.into())])
}

// ---------------------------------------------------------------------------------- tests

#[wasm_bindgen_test]
fn whole_authorization_through_flow_against_the_demo_server() {
    let mut server = DemoServer::new();
    let mut flow = Flow::new(options()).unwrap();
    flow.begin_authorization(1000.0, entropy(1)).unwrap();
    let (events, url) = drain(&mut flow, &mut server, 1000.0);
    assert!(events.contains(&"client_registered".to_owned()), "{events:?}");
    let url = url.expect("open_browser");
    assert!(url.starts_with(&format!("{ISSUER}/authorize?")), "{url}");
    assert_eq!(get(&flow.status(1000.0), "state"), "awaiting_user");
    let state = flow.pending_state().expect("a pending authorization");
    let callback = server.approve(&url);
    assert_eq!(mcp_oauth_wasm::steps::callback_state(&callback), Some(state));
    flow.handle_callback(1001.0, &callback).unwrap();
    let (events, _) = drain(&mut flow, &mut server, 1001.0);
    assert!(events.contains(&"tokens_updated".to_owned()), "{events:?}");
    assert!(events.contains(&"authorized".to_owned()), "{events:?}");
    // resource metadata, server metadata, registration, code exchange
    assert_eq!(server.requests, 4);
    let status = flow.status(1001.0);
    assert_eq!(get(&status, "authorized"), JsValue::TRUE);
    assert_eq!(get(&status, "issuer"), ISSUER);
    let header = flow.authorization_header(1001.0, MCP_URL).unwrap().unwrap();
    assert!(server.accepts(&header), "{header}");
    let kept = flow.entry("alice");
    assert_eq!(get(&kept, "issuer"), ISSUER);
    // A flow that loads the entry holds the tokens: no request needed.
    let entry = get(&kept, "entry").as_string().unwrap();
    let mut again = Flow::new(options()).unwrap();
    again.load_entry(&entry, "alice").unwrap();
    assert_eq!(again.access_token(1002.0), flow.access_token(1002.0));
    // Another user's entry is refused.
    assert_error(
        &Flow::new(options()).unwrap().load_entry(&entry, "bob").unwrap_err(),
        "snapshot_invalid",
    );
    assert!(flow.pending_state().is_none());
}

#[wasm_bindgen_test]
fn entropy_is_the_callers_and_is_checked() {
    let mut flow = Flow::new(options()).unwrap();
    let e = flow.begin_authorization(1000.0, None).unwrap_err();
    assert!(assert_error(&e, "invalid_argument").contains("64 bytes"));
    let short = Some(Uint8Array::from([7u8; 63].as_slice()));
    assert_error(&flow.begin_authorization(1000.0, short).unwrap_err(), "invalid_argument");
    assert!(flow.poll_request().is_undefined(), "nothing started");
    // The same bytes give the same PKCE challenge and state: nothing else is drawn.
    let mut server = DemoServer::new();
    let urls: Vec<String> = (0..2)
        .map(|_| {
            let mut f = Flow::new(options()).unwrap();
            f.begin_authorization(1000.0, entropy(9)).unwrap();
            drain(&mut f, &mut server, 1000.0).1.unwrap()
        })
        .collect();
    let state = |u: &str| mcp_oauth_wasm::steps::callback_state(u).unwrap();
    assert_eq!(state(&urls[0]), state(&urls[1]));
}

#[wasm_bindgen_test]
fn flow_options_are_the_cores_with_errors_naming_them() {
    let cases: Vec<(JsValue, &str, &str)> = vec![
        (JsValue::NULL, "invalid_option", "Flow needs an options object"),
        (
            obj(&[("redirectUri", REDIRECT.into())]),
            "invalid_option",
            "options.serverUrl: is required",
        ),
        (
            obj(&[
                ("serverUrl", MCP_URL.into()),
                ("redirectUri", REDIRECT.into()),
                ("fetch", 1.into()),
            ]),
            "invalid_option",
            "options.fetch: unknown option",
        ),
        (
            obj(&[
                ("serverUrl", MCP_URL.into()),
                ("redirectUri", REDIRECT.into()),
                ("scopes", 3.into()),
            ]),
            "invalid_option",
            "scopes",
        ),
        (
            obj(&[
                ("serverUrl", MCP_URL.into()),
                ("redirectUri", REDIRECT.into()),
                ("clientSecret", "s".into()),
            ]),
            "invalid_option",
            "clientSecret",
        ),
        (
            obj(&[
                ("serverUrl", "http://example.com/mcp".into()),
                ("redirectUri", REDIRECT.into()),
            ]),
            "url_insecure_scheme",
            "https",
        ),
    ];
    for (opts, want_code, want_in_message) in cases {
        let e = Flow::new(opts).err().expect("refused");
        let message = assert_error(&e, want_code);
        assert!(message.contains(want_in_message), "{message}");
        if want_code == "invalid_option" {
            assert!(get(&e, "option").is_string(), "{message}");
        }
    }
    let codes = mcp_oauth_wasm::error::BINDING_CODES;
    let mut sorted = codes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), codes.len());
    assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
}

#[wasm_bindgen_test]
fn flow_needs_no_global_fetch() {
    let global = js_sys::global();
    let fetch = get(&global, "fetch");
    Reflect::delete_property(&global, &"fetch".into()).unwrap();
    let made = Flow::new(options());
    Reflect::set(&global, &"fetch".into(), &fetch).unwrap();
    let mut flow = made.unwrap();
    flow.begin_authorization(1000.0, entropy(2)).unwrap();
    assert_eq!(get(&flow.poll_request(), "purpose"), "resource_metadata");
}

#[wasm_bindgen_test]
fn transport_failures_end_in_a_failed_event_with_the_message() {
    let mut flow = Flow::new(options()).unwrap();
    flow.begin_authorization(1000.0, entropy(3)).unwrap();
    let mut first = None;
    loop {
        let req = flow.poll_request();
        if req.is_undefined() {
            break;
        }
        let id = get(&req, "id").as_f64().unwrap();
        if let Err(e) = flow.handle_transport_error(1000.0, id, "no response (test)") {
            first.get_or_insert(e);
        }
    }
    if let Some(e) = first {
        assert_eq!(get(&e, "name"), "McpOAuthError");
    }
    let failed = std::iter::from_fn(|| Some(flow.poll_event()).filter(|e| !e.is_undefined()))
        .find(|e| get(e, "type") == "failed")
        .expect("a failed event");
    let e = get(&failed, "error");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&e, "name"), "McpOAuthError");
    let message = get(&e, "message").as_string().unwrap();
    assert!(message.contains("no response (test)"), "{message}");
    assert!(get(&e, "code").as_string().is_some_and(|c| !c.is_empty()), "{message}");
}

/// The global allocator (src/lib.rs) under a mixed load: blocks of many sizes and alignments,
/// freed out of order, grown and shrunk; every block keeps its own bytes.
#[wasm_bindgen_test]
fn the_allocator_keeps_every_block_intact_under_a_mixed_load() {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        // xorshift32
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut live: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut wide: Vec<Vec<u128>> = Vec::new();
    for round in 0..20_000u32 {
        let r = next();
        match r % 5 {
            0 | 1 => {
                let size = (next() % if r % 97 == 0 { 200_000 } else { 300 }) as usize;
                let tag = (round % 251) as u8;
                live.push((tag, vec![tag; size]));
            }
            2 if !live.is_empty() => {
                let i = next() as usize % live.len();
                let (tag, v) = live.swap_remove(i);
                assert!(v.iter().all(|b| *b == tag), "block {i} was overwritten");
            }
            3 if !live.is_empty() => {
                let i = next() as usize % live.len();
                let (tag, v) = &mut live[i];
                let new_len = (next() % 600) as usize;
                v.resize(new_len, *tag);
                v.shrink_to_fit();
            }
            _ => {
                if wide.len() > 50 {
                    let v = wide.swap_remove(next() as usize % wide.len());
                    assert!(v.iter().enumerate().all(|(i, x)| *x == i as u128 * 3));
                }
                let n = (next() % 40) as usize;
                let v: Vec<u128> = (0..n).map(|i| i as u128 * 3).collect();
                assert_eq!(v.as_ptr() as usize % std::mem::align_of::<u128>(), 0);
                wide.push(v);
            }
        }
    }
    for (tag, v) in &live {
        assert!(v.iter().all(|b| b == tag));
    }
    for v in &wide {
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u128 * 3));
    }
}
