//! Tests shared by the Node run (`tests/node.rs`) and the Chromium run (`tests/browser.rs`):
//! the JS client (`js/client.js`) over the wasm `Flow`, entropy, storage adapters, error codes,
//! and the whole flow against an in-page fake server (the core's `DemoServer` behind a `fetch`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use mcp_oauth_core::demo::{DemoServer, MCP_URL};
use mcp_oauth_core::http::{HttpRequest, Method, Purpose, RequestId};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    pub type McpOAuth;
    #[wasm_bindgen(static_method_of = McpOAuth, js_name = create)]
    pub fn create_js(options: &JsValue) -> Promise;
    #[wasm_bindgen(method, getter)]
    pub fn fetch(this: &McpOAuth) -> Function;
    #[wasm_bindgen(method)]
    pub fn authorize(this: &McpOAuth, options: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = handleRedirect)]
    pub fn handle_redirect(this: &McpOAuth, url: &str) -> Promise;
    #[wasm_bindgen(method, js_name = accessToken)]
    pub fn access_token(this: &McpOAuth) -> Promise;
    #[wasm_bindgen(method)]
    pub fn status(this: &McpOAuth) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn logout(this: &McpOAuth) -> Promise;
    #[wasm_bindgen(method)]
    pub fn on(this: &McpOAuth, kind: &str, listener: &Function) -> Function;
}

#[wasm_bindgen(module = "/js/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = randomBytes)]
    pub fn random_bytes(n: u32) -> Uint8Array;
    #[wasm_bindgen(js_name = makeStorage, catch)]
    pub fn make_storage(spec: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = storageGet)]
    pub fn storage_get(storage: &JsValue, key: &str) -> Promise;
    #[wasm_bindgen(js_name = storageSet)]
    pub fn storage_set(storage: &JsValue, key: &str, value: &str) -> Promise;
    #[wasm_bindgen(js_name = storageDelete)]
    pub fn storage_delete(storage: &JsValue, key: &str) -> Promise;
}

#[wasm_bindgen(module = "/tests/helpers.js")]
extern "C" {
    #[wasm_bindgen(js_name = asyncStorage)]
    pub fn async_storage() -> JsValue;
    #[wasm_bindgen(js_name = brokenStorage)]
    pub fn broken_storage() -> JsValue;
    #[wasm_bindgen(js_name = fakeFetch)]
    pub fn fake_fetch(handler: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = objectWith)]
    pub fn object_with(entries: Array) -> JsValue;
    #[wasm_bindgen(js_name = rejectionOf)]
    pub fn rejection_of(promise: &Promise) -> Promise;
    #[wasm_bindgen(js_name = errorInfo)]
    pub fn error_info(e: &JsValue) -> JsValue;
}

/// `McpOAuth.create`, after registering the flow factory (a test binary has no start hook).
pub fn create(options: &JsValue) -> Promise {
    mcp_oauth_wasm::steps::start();
    McpOAuth::create_js(options)
}

pub const REDIRECT: &str = "http://localhost:8000/auth/redirect";

pub fn obj(entries: &[(&str, JsValue)]) -> JsValue {
    let a = Array::new();
    for (k, v) in entries {
        a.push(&Array::of2(&JsValue::from_str(k), v));
    }
    object_with(a)
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

pub async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// The rejection of `p` as `(code, message)`, asserting it is an `McpOAuthError`.
pub async fn rejection(p: Promise) -> (String, String) {
    let e = wait(rejection_of(&p)).await.unwrap();
    assert!(!e.is_null(), "expected a rejection");
    let info = error_info(&e);
    assert_eq!(get(&info, "isMcpOAuthError"), JsValue::TRUE, "not an McpOAuthError: {e:?}");
    (
        get(&info, "code").as_string().unwrap_or_default(),
        get(&info, "message").as_string().unwrap_or_default(),
    )
}

/// The in-page fake server: the core's `DemoServer` for discovery, registration and tokens,
/// plus the MCP endpoint itself (401 without an accepted token).
pub struct Fake {
    pub server: Rc<RefCell<DemoServer>>,
    pub mcp_requests: Rc<RefCell<Vec<Option<String>>>>,
    pub fetch: JsValue,
    _handler: Closure<dyn FnMut(String, String, Array, String) -> JsValue>,
}

pub fn fake() -> Fake {
    let server = Rc::new(RefCell::new(DemoServer::new()));
    let mcp_requests = Rc::new(RefCell::new(Vec::new()));
    let (s, m) = (server.clone(), mcp_requests.clone());
    let handler = Closure::<dyn FnMut(String, String, Array, String) -> JsValue>::new(
        move |method: String, url: String, headers: Array, body: String| {
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|p| {
                    let p = Array::from(&p);
                    (p.get(0).as_string().unwrap(), p.get(1).as_string().unwrap())
                })
                .collect();
            let auth = headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone());
            let (status, out_headers, out_body) = if url == MCP_URL {
                m.borrow_mut().push(auth.clone());
                if auth.as_deref().is_some_and(|a| s.borrow().accepts(a)) {
                    (
                        200,
                        vec![("content-type".to_owned(), "application/json".to_owned())],
                        r#"{"ok":true}"#.to_owned(),
                    )
                } else {
                    let r = s.borrow().unauthorized();
                    (401, r.headers.clone(), String::new())
                }
            } else {
                let req = HttpRequest {
                    id: RequestId(0),
                    purpose: Purpose::ResourceMetadata,
                    method: if method == "POST" { Method::Post } else { Method::Get },
                    url,
                    headers,
                    body: body.into_bytes(),
                };
                let r = s.borrow_mut().respond(&req);
                (r.status, r.headers.clone(), String::from_utf8_lossy(&r.body).into_owned())
            };
            let h = Array::new();
            for (k, v) in out_headers {
                h.push(&Array::of2(&k.into(), &v.into()));
            }
            Array::of3(&JsValue::from(status), &object_with(h), &out_body.into()).into()
        },
    );
    let fetch = fake_fetch(handler.as_ref());
    Fake { server, mcp_requests, fetch, _handler: handler }
}

/// `onAuthorizationRequired` that approves at the fake server.
pub fn approver(server: Rc<RefCell<DemoServer>>) -> JsValue {
    Closure::<dyn FnMut(String) -> JsValue>::new(move |url: String| {
        JsValue::from_str(&server.borrow_mut().approve(&url))
    })
    .into_js_value()
}

pub fn options(fake: &Fake, extra: &[(&str, JsValue)]) -> JsValue {
    let mut all = vec![
        ("serverUrl", JsValue::from_str(MCP_URL)),
        ("redirectUri", JsValue::from_str(REDIRECT)),
        ("fetch", fake.fetch.clone()),
    ];
    all.extend(extra.iter().cloned());
    obj(&all)
}

pub async fn mcp_post(auth: &McpOAuth) -> JsValue {
    let init = obj(&[("method", "POST".into()), ("body", "{}".into())]);
    let p: Promise = auth.fetch().call2(&JsValue::NULL, &MCP_URL.into(), &init).unwrap().into();
    wait(p).await.unwrap()
}

// ---------------------------------------------------------------------------------- tests

#[wasm_bindgen_test]
fn entropy_comes_from_crypto_and_differs() {
    let a = random_bytes(64).to_vec();
    let b = random_bytes(64).to_vec();
    assert_eq!(a.len(), 64);
    assert_ne!(a, b);
    assert!(a.iter().any(|x| *x != 0));
}

#[wasm_bindgen_test]
async fn memory_and_custom_async_storage_round_trip() {
    for spec in [JsValue::from_str("memory"), JsValue::UNDEFINED, async_storage()] {
        let s = make_storage(&spec).unwrap();
        assert!(wait(storage_get(&s, "k")).await.unwrap().is_null());
        wait(storage_set(&s, "k", "v1")).await.unwrap();
        assert_eq!(wait(storage_get(&s, "k")).await.unwrap(), "v1");
        wait(storage_delete(&s, "k")).await.unwrap();
        assert!(wait(storage_get(&s, "k")).await.unwrap().is_null());
    }
}

#[wasm_bindgen_test]
async fn storage_failures_name_the_operation_and_key() {
    let s = make_storage(&broken_storage()).unwrap();
    let (code, message) = rejection(storage_set(&s, "the-key", "v")).await;
    assert_eq!(code, "storage_failed");
    assert!(
        message.contains("set") && message.contains("the-key") && message.contains("disk on fire"),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn bad_storage_options_are_refused() {
    let bad = make_storage(&JsValue::from_str("cookies")).unwrap_err();
    assert_eq!(get(&bad, "code"), "invalid_option");
    let missing = make_storage(&obj(&[("get", async_storage())])).unwrap_err();
    assert!(get(&missing, "message").as_string().unwrap().contains("set, delete"));
}

#[wasm_bindgen_test]
async fn whole_flow_against_the_in_page_fake_server() {
    let f = fake();
    let storage = async_storage();
    let opts = options(
        &f,
        &[("storage", storage.clone()), ("onAuthorizationRequired", approver(f.server.clone()))],
    );
    let auth: McpOAuth = wait(create(&opts)).await.unwrap().into();
    let events = Rc::new(RefCell::new(Vec::<String>::new()));
    let ev = events.clone();
    let listener = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        ev.borrow_mut().push(get(&e, "type").as_string().unwrap());
    });
    let _off = auth.on("*", listener.as_ref().unchecked_ref());
    let response = mcp_post(&auth).await;
    assert_eq!(get(&response, "status"), 200);
    // resource metadata, server metadata, registration, code exchange
    assert_eq!(f.server.borrow().requests, 4);
    let mcp = f.mcp_requests.borrow().clone();
    assert_eq!(mcp.len(), 2, "{mcp:?}");
    assert_eq!(mcp[0], None);
    assert!(mcp[1].as_deref().is_some_and(|h| h.starts_with("Bearer ")));
    let status = auth.status();
    assert_eq!(get(&status, "state"), "authorized");
    assert_eq!(get(&status, "authorized"), JsValue::TRUE);
    let seen = events.borrow().clone();
    for want in ["registered", "authorization_required", "tokens", "authorized", "status"] {
        assert!(seen.iter().any(|e| e == want), "no {want} in {seen:?}");
    }
    // A second client on the same storage: authorized at once, no request to the servers.
    let again: McpOAuth = wait(create(&options(&f, &[("storage", storage)]))).await.unwrap().into();
    let token = wait(again.access_token()).await.unwrap();
    assert!(token.as_string().is_some_and(|t| !t.is_empty()));
    assert_eq!(f.server.borrow().requests, 4);
}

#[wasm_bindgen_test]
async fn manual_mode_then_callback_and_replay_refused() {
    let f = fake();
    let storage = async_storage();
    let auth: McpOAuth =
        wait(create(&options(&f, &[("storage", storage.clone())]))).await.unwrap().into();
    let pending = wait(auth.authorize(&obj(&[("mode", "manual".into())]))).await.unwrap();
    assert_eq!(get(&pending, "state"), "awaiting_user");
    let url = get(&pending, "url").as_string().unwrap();
    let callback = f.server.borrow_mut().approve(&url);
    // Another instance (a reloaded page) finishes it from storage.
    let reloaded: McpOAuth =
        wait(create(&options(&f, &[("storage", storage.clone())]))).await.unwrap().into();
    assert_eq!(wait(reloaded.handle_redirect(&callback)).await.unwrap(), JsValue::TRUE);
    assert_eq!(get(&reloaded.status(), "authorized"), JsValue::TRUE);
    let (code, _) = rejection(reloaded.handle_redirect(&callback)).await;
    assert_eq!(code, "unknown_state");
    // A forged state is refused and changes nothing.
    let (code, _) =
        rejection(reloaded.handle_redirect(&format!("{REDIRECT}?code=x&state=forged"))).await;
    assert_eq!(code, "unknown_state");
    assert_eq!(get(&reloaded.status(), "authorized"), JsValue::TRUE);
    // Not a callback at all.
    assert_eq!(wait(reloaded.handle_redirect(REDIRECT)).await.unwrap(), JsValue::FALSE);
}

#[wasm_bindgen_test]
async fn fetch_without_a_way_to_ask_rejects_with_the_url() {
    let f = fake();
    let auth: McpOAuth = wait(create(&options(&f, &[]))).await.unwrap().into();
    let init = obj(&[("method", "POST".into())]);
    let p: Promise = auth.fetch().call2(&JsValue::NULL, &MCP_URL.into(), &init).unwrap().into();
    let e = wait(rejection_of(&p)).await.unwrap();
    assert_eq!(get(&e, "code"), "authorization_required");
    assert!(get(&e, "url").as_string().unwrap().starts_with("https://auth.example.com/authorize?"));
}

#[wasm_bindgen_test]
async fn logout_clears_storage_and_status() {
    let f = fake();
    let storage = async_storage();
    let opts = options(
        &f,
        &[("storage", storage.clone()), ("onAuthorizationRequired", approver(f.server.clone()))],
    );
    let auth: McpOAuth = wait(create(&opts)).await.unwrap().into();
    mcp_post(&auth).await;
    let report = wait(auth.logout()).await.unwrap();
    assert_eq!(get(&report, "hadTokens"), JsValue::TRUE);
    // The demo server has no revocation endpoint.
    assert_eq!(get(&report, "revoked"), JsValue::FALSE);
    assert_eq!(get(&auth.status(), "state"), "unauthorized");
    let map = get(&storage, "map");
    assert_eq!(get(&map, "size"), 0);
}

#[wasm_bindgen_test]
async fn options_errors_carry_stable_codes() {
    let f = fake();
    let cases: Vec<(JsValue, &str, &str)> = vec![
        (obj(&[]), "invalid_option", "serverUrl"),
        (options(&f, &[("scopes", JsValue::from(3))]), "invalid_option", "scopes"),
        (
            options(&f, &[("onAuthorizationRequired", "sure".into())]),
            "invalid_option",
            "onAuthorizationRequired",
        ),
        (options(&f, &[("userId", "".into())]), "invalid_option", "userId"),
        (options(&f, &[("clientSecret", "s".into())]), "invalid_option", "clientSecret"),
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
        let (code, message) = rejection(create(&opts)).await;
        assert_eq!(code, want_code, "{message}");
        assert!(message.contains(want_in_message), "{message}");
    }
    let codes = mcp_oauth_wasm::error::BINDING_CODES;
    let mut sorted = codes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), codes.len());
    assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
}
