//! The low-level API for hosts that send the requests themselves: the core's [`AuthFlow`] as
//! the JS class `Flow` (its `pollRequest`/`handleResponse` pairs are the request/process steps
//! of every RFC module, sequenced), and pure step functions. Same drain contract as the core:
//! after every input, drain `pollRequest()`, then `pollEvent()`, then read `pollTimeout()`.
//! Times are Unix seconds; `entropy` is a `Uint8Array` of 64 bytes the host drew with
//! `crypto.getRandomValues` (nothing here calls the platform).

use js_sys::{Array, Reflect, Uint8Array};
use mcp_oauth_core::flow::resource::operation_key;
use mcp_oauth_core::flow::{EntryKey, PersistedEntry};
use mcp_oauth_core::http::{HttpRequest, HttpResponse, Purpose, RequestId};
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{IssuerUrl, ResourceUrl};
use mcp_oauth_core::{resource_metadata, server_metadata, www_authenticate};
use mcp_oauth_core::{AuthFlow, FlowEvent, FlowStatus};
use mcp_oauth_core::{ResourceDecision, ResourceResponse};
use wasm_bindgen::prelude::*;

use crate::error::{core_error, error, IntoJs};
use crate::io::object;

/// The core state machine.
#[wasm_bindgen]
pub struct Flow {
    pub(crate) flow: AuthFlow,
}

pub(crate) fn time(now: f64) -> UnixTime {
    UnixTime(now.max(0.0) as u64)
}

fn challenge_response(status: u16, www_authenticate: Option<String>) -> HttpResponse {
    let headers = www_authenticate.map(|v| vec![("WWW-Authenticate".to_owned(), v)]);
    HttpResponse::new(status, headers.unwrap_or_default(), Vec::new())
}

pub(crate) fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::ResourceMetadata => "resource_metadata",
        Purpose::ServerMetadata => "server_metadata",
        Purpose::ClientRegistration => "client_registration",
        Purpose::CodeExchange => "code_exchange",
        Purpose::TokenRefresh => "token_refresh",
        Purpose::Revocation => "revocation",
        Purpose::ClientCredentials => "client_credentials",
        Purpose::JwtBearerGrant => "jwt_bearer",
        Purpose::IdentityAssertionExchange => "identity_assertion_exchange",
        _ => "other",
    }
}

/// A request as `{ id, purpose, method, url, headers: [[name, value]], body: Uint8Array }`.
pub(crate) fn request_to_js(req: &HttpRequest) -> JsValue {
    let headers = Array::new();
    for (k, v) in &req.headers {
        headers.push(&Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)));
    }
    object(&[
        ("id", JsValue::from_f64(req.id.0 as f64)),
        ("purpose", JsValue::from_str(purpose_name(req.purpose))),
        ("method", JsValue::from_str(req.method.as_str())),
        ("url", JsValue::from_str(&req.url)),
        ("headers", headers.into()),
        ("body", Uint8Array::from(req.body.as_slice()).into()),
    ])
}

/// Reads `{ status, headers: [[name, value]] | Headers-like object, body: string | Uint8Array }`.
pub(crate) fn response_from_js(response: &JsValue) -> Result<HttpResponse, JsValue> {
    let status = Reflect::get(response, &"status".into())?
        .as_f64()
        .ok_or_else(|| error("invalid_argument", "response.status must be a number", &[]))?
        as u16;
    let mut headers = Vec::new();
    let raw = Reflect::get(response, &"headers".into())?;
    let pairs = if Array::is_array(&raw) {
        Array::from(&raw)
    } else if raw.is_object() {
        js_sys::Object::entries(&js_sys::Object::from(raw))
    } else {
        Array::new()
    };
    for pair in pairs.iter() {
        let pair = Array::from(&pair);
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            headers.push((k, v));
        }
    }
    let body = Reflect::get(response, &"body".into())?;
    let body = match body.as_string() {
        Some(s) => s.into_bytes(),
        None if body.is_instance_of::<Uint8Array>() => Uint8Array::from(body).to_vec(),
        None => Vec::new(),
    };
    Ok(HttpResponse::new(status, headers, body))
}

impl Flow {
    fn key(&self, user: &str, issuer: &str) -> EntryKey {
        EntryKey {
            user: user.to_owned(),
            resource: self.flow.config().server_url.as_str().to_owned(),
            issuer: issuer.to_owned(),
        }
    }
}

pub(crate) fn str_or_null(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

#[wasm_bindgen]
impl Flow {
    /// A new flow. `options`: the core's configuration only: `serverUrl`, `redirectUri`
    /// (required), `clientName`, `clientId`, `clientSecret`, `clientMetadataUrl`, `scopes`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Flow, JsValue> {
        Ok(Flow { flow: AuthFlow::new(crate::options::parse(&options)?) })
    }

    /// The MCP server answered a request (`method`, and `body` when it is a string, name the
    /// operation: the core's `operation_key`) that carried the access token `used`: `true` means
    /// drain, complete the authorization the flow may wait for (`status().state` is
    /// `awaiting_user`), then send the request again with `accessToken()`; `false` means hand
    /// the response to the caller. Throws when no retry can help (core/src/flow/resource.rs).
    /// `dpopNonce`: the answer's `DPoP-Nonce` header (RFC 9449 §9).
    #[wasm_bindgen(js_name = handleResourceResponse)]
    #[allow(clippy::too_many_arguments)]
    pub fn handle_resource_response(
        &mut self,
        now: f64,
        status: u16,
        www_authenticate: Option<String>,
        used: Option<String>,
        method: &str,
        body: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] entropy: Option<Uint8Array>,
        dpop_nonce: Option<String>,
    ) -> Result<bool, JsValue> {
        let used = used.map(AccessToken::new);
        let operation = operation_key(method, body.unwrap_or_default().as_bytes());
        let response = ResourceResponse {
            status,
            www_authenticate: www_authenticate.as_deref(),
            token_used: used.as_ref(),
            operation: &operation,
            dpop_nonce: dpop_nonce.as_deref(),
        };
        let decision =
            self.flow.handle_resource_response(time(now), &response, crate::io::entropy(entropy)?);
        Ok(decision.js()? == ResourceDecision::Retry)
    }

    /// Starts an authorization whatever is held.
    #[wasm_bindgen(js_name = beginAuthorization)]
    pub fn begin_authorization(
        &mut self,
        now: f64,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] entropy: Option<Uint8Array>,
    ) -> Result<(), JsValue> {
        self.flow.begin_authorization(time(now), crate::io::entropy(entropy)?).js()
    }

    /// The next request to send: `{ id, purpose, method, url, headers: [[name, value]], body:
    /// Uint8Array }`, or `undefined`. Never follow redirects when sending it.
    #[wasm_bindgen(js_name = pollRequest)]
    pub fn poll_request(&mut self) -> JsValue {
        self.flow.poll_request().map_or(JsValue::UNDEFINED, |req| request_to_js(&req))
    }

    /// Answers request `id` with `{ status, headers: [[name, value]] | Headers-like object,
    /// body: string | Uint8Array }`.
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(&mut self, now: f64, id: f64, response: JsValue) -> Result<(), JsValue> {
        let resp = response_from_js(&response)?;
        self.flow.handle_response(time(now), RequestId(id as u64), resp).js()
    }

    /// Request `id` got no HTTP response (network, CORS, timeout).
    #[wasm_bindgen(js_name = handleTransportError)]
    pub fn handle_transport_error(
        &mut self,
        now: f64,
        id: f64,
        message: &str,
    ) -> Result<(), JsValue> {
        self.flow.handle_transport_error(time(now), RequestId(id as u64), message).js()
    }

    /// The browser came back to the redirect URI with this URL.
    #[wasm_bindgen(js_name = handleCallback)]
    pub fn handle_callback(&mut self, now: f64, url: &str) -> Result<(), JsValue> {
        self.flow.handle_callback(time(now), url).js()
    }

    /// Call once `pollTimeout()` has passed (proactive refresh, pending expiry).
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) -> Result<(), JsValue> {
        self.flow.handle_timeout(time(now)).js()
    }

    /// When to call `handleTimeout` (Unix seconds), or `undefined`.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.flow.poll_timeout().map(|t| t.0 as f64)
    }

    /// The next event: `{ type, ... }` with type `metadata_discovered`, `legacy_discovery`,
    /// `client_registered` (clientId), `authorization_pending`, `open_browser` (url),
    /// `tokens_updated` (issuer), `tokens_cleared`, `authorization_server_changed` (from, to:
    /// the resource names another authorization server; the tokens of `from` are dropped),
    /// `authorized`, `failed` (error); or `undefined`. Save `entry(user)` after
    /// `client_registered`, `tokens_updated` and `tokens_cleared`, and `pendingEntry(user)`
    /// after `authorization_pending`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> JsValue {
        let Some(event) = self.flow.poll_event() else { return JsValue::UNDEFINED };
        let t = |s: &str| ("type", JsValue::from_str(s));
        match event {
            FlowEvent::MetadataDiscovered(d) => object(&[
                t("metadata_discovered"),
                ("issuer", JsValue::from_str(d.server.issuer.as_str())),
            ]),
            FlowEvent::UsingLegacyDiscovery { .. } => object(&[t("legacy_discovery")]),
            FlowEvent::ClientRegistered(r) => {
                object(&[t("client_registered"), ("clientId", JsValue::from_str(&r.client_id))])
            }
            FlowEvent::AuthorizationPending(_) => object(&[t("authorization_pending")]),
            FlowEvent::OpenBrowser { url } => {
                object(&[t("open_browser"), ("url", JsValue::from_str(&url))])
            }
            FlowEvent::TokensUpdated { issuer, .. } => {
                object(&[t("tokens_updated"), ("issuer", JsValue::from_str(&issuer))])
            }
            FlowEvent::TokensCleared => object(&[t("tokens_cleared")]),
            FlowEvent::AuthorizationServerChanged { from, to } => object(&[
                t("authorization_server_changed"),
                ("from", JsValue::from_str(&from)),
                ("to", JsValue::from_str(&to)),
            ]),
            FlowEvent::Authorized => object(&[t("authorized")]),
            FlowEvent::Failed(e) => object(&[t("failed"), ("error", core_error(&e))]),
            _ => object(&[t("other")]),
        }
    }

    /// `Bearer <token>` (`DPoP <token>` for a DPoP-bound token) for a request to `url` when a
    /// fresh token is held; throws
    /// `token_for_other_resource` for a URL outside the token's resource.
    #[wasm_bindgen(js_name = authorizationHeader)]
    pub fn authorization_header(&self, now: f64, url: &str) -> Result<Option<String>, JsValue> {
        self.flow.authorization_header(time(now), url).js()
    }

    /// Revokes (when supported) and forgets the tokens.
    pub fn logout(&mut self, now: f64) -> Result<(), JsValue> {
        self.flow.logout(time(now)).js()
    }

    /// Drops what is in progress; tokens are kept.
    pub fn cancel(&mut self) {
        self.flow.cancel();
    }

    /// What a host keeps between runs for `user`: `{ issuer, entry }`, where `entry` is the
    /// core's persisted entry (core/src/codec/entry.rs; the same format the native stores
    /// write) for the issuer of the tokens (else of the discovered server), without the pending
    /// authorization; `undefined` when there is nothing to keep yet.
    pub fn entry(&self, user: &str) -> JsValue {
        match self.flow.entry_issuer() {
            Some(issuer) => {
                let entry = self.flow.entry(issuer).encode(&self.key(user, issuer));
                object(&[
                    ("issuer", JsValue::from_str(issuer)),
                    ("entry", JsValue::from_str(&entry)),
                ])
            }
            None => JsValue::UNDEFINED,
        }
    }

    /// What a page load needs to finish the pending authorization (an encoded entry): the
    /// pending authorization, discovery and registration, without the tokens, which such a
    /// record must not keep (it may outlive them). `undefined` when none is pending.
    #[wasm_bindgen(js_name = pendingEntry)]
    pub fn pending_entry(&self, user: &str) -> Option<String> {
        let (issuer, entry) = self.flow.pending_entry()?;
        Some(entry.encode(&self.key(user, &issuer)))
    }

    /// Loads an encoded entry of `user` (written by any host, or an older shape: see
    /// core/src/codec/entry.rs) into this flow. Refuses another user's, another server's, or
    /// one that does not read, naming what is wrong.
    #[wasm_bindgen(js_name = loadEntry)]
    pub fn load_entry(&mut self, text: &str, user: &str) -> Result<(), JsValue> {
        let (key, entry) = PersistedEntry::decode(text, Some(user)).js()?;
        if key.user != user {
            return Err(core_error(&mcp_oauth_core::Error::from(
                mcp_oauth_core::error::FlowError::Snapshot(format!(
                    "the entry belongs to user `{}`, not `{user}`",
                    key.user
                )),
            )));
        }
        self.flow.load_entry(&key, entry).js()
    }

    /// The `state` of the authorization waiting for its callback, if any.
    #[wasm_bindgen(js_name = pendingState)]
    pub fn pending_state(&self) -> Option<String> {
        self.flow.pending().map(|p| p.state.secret().to_owned())
    }

    /// The access token when fresh at `now`.
    #[wasm_bindgen(js_name = accessToken)]
    pub fn access_token(&self, now: f64) -> Option<String> {
        self.flow.access_token(time(now)).map(|t| t.secret().to_owned())
    }

    /// True when tokens are held (possibly expired).
    #[wasm_bindgen(js_name = hasTokens)]
    pub fn has_tokens(&self) -> bool {
        self.flow.tokens().is_some()
    }

    /// True when the discovered server has a revocation endpoint (RFC 7009).
    #[wasm_bindgen(js_name = canRevoke)]
    pub fn can_revoke(&self) -> bool {
        self.flow.discovery().is_some_and(|d| d.server.revocation_endpoint.is_some())
    }

    /// The MCP server's canonical URL (the resource the tokens are for).
    #[wasm_bindgen(getter, js_name = serverUrl)]
    pub fn server_url(&self) -> String {
        self.flow.config().server_url.as_str().to_owned()
    }

    /// The redirect URI.
    #[wasm_bindgen(getter, js_name = redirectUri)]
    pub fn redirect_uri(&self) -> String {
        self.flow.config().redirect_uri.as_str().to_owned()
    }

    /// `{ state, authorized, serverUrl, issuer, expiresAt, refreshable, scope, url, dpop }` at
    /// `now` (`dpop`: the tokens are DPoP-bound);
    /// `state` is `unauthorized`, `discovering`, `registering`, `awaiting_user` (with `url`),
    /// `exchanging_code`, `refreshing`, `logging_out` or `authorized`.
    pub fn status(&self, now: f64) -> JsValue {
        let flow = &self.flow;
        let now = time(now);
        let (state, url) = match flow.status(now) {
            FlowStatus::Unauthorized => ("unauthorized", None),
            FlowStatus::Discovering => ("discovering", None),
            FlowStatus::Registering => ("registering", None),
            FlowStatus::AwaitingUser { url } => ("awaiting_user", Some(url)),
            FlowStatus::ExchangingCode => ("exchanging_code", None),
            FlowStatus::Refreshing => ("refreshing", None),
            FlowStatus::LoggingOut => ("logging_out", None),
            FlowStatus::Authorized { .. } => ("authorized", None),
            _ => ("unknown", None),
        };
        let tokens = flow.tokens();
        object(&[
            ("state", JsValue::from_str(state)),
            ("authorized", JsValue::from_bool(flow.access_token(now).is_some())),
            ("serverUrl", JsValue::from_str(flow.config().server_url.as_str())),
            ("issuer", str_or_null(tokens.map(|(i, _)| i))),
            (
                "expiresAt",
                tokens
                    .and_then(|(_, t)| t.expires_at)
                    .map_or(JsValue::NULL, |t| JsValue::from_f64(t.0 as f64)),
            ),
            (
                "refreshable",
                JsValue::from_bool(tokens.is_some_and(|(_, t)| t.refresh_token.is_some())),
            ),
            ("scope", str_or_null(tokens.and_then(|(_, t)| t.scope.as_deref()))),
            ("url", str_or_null(url.as_deref())),
            ("dpop", JsValue::from_bool(tokens.is_some_and(|(_, t)| t.is_dpop_bound()))),
        ])
    }
}

/// The `state` parameter of a callback URL (`null` when it has none): the key of the pending
/// authorization it completes.
#[wasm_bindgen(js_name = callbackState)]
pub fn callback_state(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    mcp_oauth_core::__private::encoding::form_decode(query)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "state").then_some(v))
}

/// Reads the `Bearer` challenge of a 401/403 `WWW-Authenticate` value (RFC 6750 §3,
/// RFC 9728 §5.1): `{ resourceMetadata, scope, error, errorDescription }` or `null`.
#[wasm_bindgen(js_name = parseBearerChallenge)]
pub fn parse_bearer_challenge(www_authenticate: &str) -> Result<JsValue, JsValue> {
    let resp = challenge_response(401, Some(www_authenticate.to_owned()));
    let challenge = www_authenticate::bearer_challenge(&resp).map_err(|e| core_error(&e.into()))?;
    Ok(challenge.map_or(JsValue::NULL, |c| {
        object(&[
            ("resourceMetadata", str_or_null(c.resource_metadata.as_deref())),
            ("scope", str_or_null(c.scope.as_deref())),
            ("error", str_or_null(c.error.as_deref())),
            ("errorDescription", str_or_null(c.error_description.as_deref())),
        ])
    }))
}

/// The protected-resource metadata URLs to try, in order (RFC 9728 §3.1, MCP 2026-07-28).
#[wasm_bindgen(js_name = resourceMetadataUrls)]
pub fn resource_metadata_urls(
    server_url: &str,
    header_url: Option<String>,
) -> Result<Vec<String>, JsValue> {
    let mcp = ResourceUrl::parse(server_url).js()?;
    let urls = resource_metadata::candidate_urls(&mcp, header_url.as_deref())
        .map_err(|e| core_error(&e.into()))?;
    Ok(urls.iter().map(|u| u.as_str().to_owned()).collect())
}

/// The authorization-server metadata URLs to try, in order (RFC 8414 §3.1, OIDC Discovery §4).
#[wasm_bindgen(js_name = serverMetadataUrls)]
pub fn server_metadata_urls(issuer: &str) -> Result<Vec<String>, JsValue> {
    let issuer = IssuerUrl::parse(issuer).js()?;
    Ok(server_metadata::candidate_urls(&issuer)
        .iter()
        .map(|(u, _)| u.as_str().to_owned())
        .collect())
}

/// The core's error codes plus the binding's: the values `McpOAuthError.code` can take.
#[wasm_bindgen(js_name = bindingErrorCodes)]
pub fn binding_error_codes() -> Vec<String> {
    crate::error::BINDING_CODES.iter().map(|s| (*s).to_owned()).collect()
}
