//! The core's [`mcp_oauth_core::headless::HeadlessFlow`] for JS hosts without a user (Node
//! scripts, CI): client credentials with a secret or `private_key_jwt`, cross-app access
//! (MCP SEP-990: ID token → ID-JAG → jwt-bearer), workload identity (MCP SEP-1933: the
//! platform's JWT → jwt-bearer; the host supplies the JWT for every token request) and the
//! service-account mode. Every protocol
//! decision (discovery, scope, client authentication method, resource, credential binding,
//! the order of the requests) is the core's; `js/headless.js` only runs the drain loop, signs
//! with WebCrypto and fetches.
//!
//! Also [`client_assertion_claims`], the RFC 7523 §3 claims step function.

use js_sys::{Reflect, Uint8Array};
use mcp_oauth_core::headless::{
    AssertionFor, CrossAppConfig, FixedTokenEndpoint, HeadlessAuth, HeadlessConfig,
    HeadlessCredentials, HeadlessFlow as CoreFlow,
};
use mcp_oauth_core::jwt_bearer;
use mcp_oauth_core::secret::{AccessToken, ClientSecret, IdToken};
use mcp_oauth_core::token::TokenEndpointAuth;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl};
use wasm_bindgen::prelude::*;

use crate::error::{core_error, invalid_option, IntoJs};
use crate::io::object;
use crate::steps::{request_to_js, response_from_js, str_or_null, time};

/// The string member `name` of `obj` (absent, `undefined` and `null` are `None`).
fn string(obj: &JsValue, path: &str, name: &str) -> Result<Option<String>, JsValue> {
    let v = Reflect::get(obj, &JsValue::from_str(name))?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| invalid_option(&[path, name].concat(), "expected a string"))
}

fn required(obj: &JsValue, path: &str, name: &str) -> Result<String, JsValue> {
    string(obj, path, name)?.ok_or_else(|| invalid_option(&[path, name].concat(), "is required"))
}

/// `{ clientId, clientSecret?, authMethod?, privateKeyJwt? }` (at `path`, for the errors).
fn credentials(obj: &JsValue, path: &str) -> Result<HeadlessCredentials, JsValue> {
    let id = required(obj, path, "clientId")?;
    let method = match string(obj, path, "authMethod")? {
        None => None,
        Some(name) => Some(TokenEndpointAuth::from_name(&name).ok_or_else(|| {
            invalid_option(
                &[path, "authMethod"].concat(),
                "must be none, client_secret_basic, client_secret_post or private_key_jwt",
            )
        })?),
    };
    let key = Reflect::get(obj, &"privateKeyJwt".into())?.as_bool() == Some(true);
    let auth = match (string(obj, path, "clientSecret")?, method, key) {
        (_, Some(TokenEndpointAuth::PrivateKeyJwt), _) | (None, None, true) => {
            HeadlessAuth::PrivateKeyJwt
        }
        (Some(secret), method, _) => {
            HeadlessAuth::Secret { secret: ClientSecret::new(secret), method }
        }
        (None, Some(TokenEndpointAuth::None) | None, _) => HeadlessAuth::None,
        (None, Some(_), _) => {
            return Err(invalid_option(
                &[path, "clientSecret"].concat(),
                "is required by authMethod",
            ))
        }
    };
    let mut c = HeadlessCredentials::public(id);
    c.auth = auth;
    Ok(c)
}

fn parse_config(options: &JsValue) -> Result<HeadlessConfig, JsValue> {
    if !options.is_object() {
        return Err(invalid_option("(all)", "needs an options object"));
    }
    let client = credentials(options, "")?;
    let mut config = HeadlessConfig::new(&required(options, "", "serverUrl")?, client).js()?;
    config.scopes = crate::options::scopes(options)?;
    if let Some(url) = string(options, "", "tokenUrl")? {
        config.token_endpoint = Some(FixedTokenEndpoint {
            token_endpoint: EndpointUrl::parse(&url)
                .map_err(|e| invalid_option("tokenUrl", &e.to_string()))?,
            issuer: string(options, "", "issuer")?,
        });
    }
    let idp = Reflect::get(options, &"idp".into())?;
    if idp.is_object() {
        let endpoint = string(&idp, "idp.", "tokenEndpoint")?
            .map(|u| {
                EndpointUrl::parse(&u)
                    .map_err(|e| invalid_option("idp.tokenEndpoint", &e.to_string()))
            })
            .transpose()?;
        let issuer = string(&idp, "idp.", "issuer")?
            .map(|u| IssuerUrl::parse(&u).map_err(|e| invalid_option("idp.issuer", &e.to_string())))
            .transpose()?;
        if endpoint.is_none() && issuer.is_none() {
            return Err(invalid_option("idp.tokenEndpoint", "is required (or idp.issuer)"));
        }
        config.cross_app = Some(CrossAppConfig {
            idp_issuer: issuer,
            idp_token_endpoint: endpoint,
            idp_client: credentials(&idp, "idp.")?,
            id_token: IdToken::new(required(&idp, "idp.", "idToken")?),
        });
    }
    config.workload_identity = Reflect::get(options, &"workloadIdentity".into())?.is_truthy();
    if let Some(n) = Reflect::get(options, &"refreshBufferSeconds".into())?.as_f64() {
        if !(n >= 0.0 && n.is_finite()) {
            return Err(invalid_option(
                "refreshBufferSeconds",
                "expected a number of seconds, 0 or more",
            ));
        }
        config.refresh_skew_secs = n as u64;
    }
    Ok(config)
}

/// The core's headless flow (module docs). Options: `serverUrl`, `clientId` (required),
/// `clientSecret`, `authMethod` (default: the core's choice from the server's metadata),
/// `privateKeyJwt` (true: the host signs), `scopes` (a string or an array; default: the core's
/// rule), `tokenUrl` + `issuer` (service account: no discovery), `idp` (cross-app: `{
/// tokenEndpoint | issuer, clientId, clientSecret?, authMethod?, privateKeyJwt?, idToken }`),
/// `workloadIdentity` (true: the jwt-bearer grant with the host's platform JWT, asked for with
/// `pollSignature` as signer `workload`), `refreshBufferSeconds` (60).
#[wasm_bindgen]
pub struct HeadlessFlow {
    flow: CoreFlow,
}

#[wasm_bindgen]
impl HeadlessFlow {
    /// Checks the options (each error names its option).
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<HeadlessFlow, JsValue> {
        Ok(HeadlessFlow { flow: CoreFlow::new(parse_config(&options)?) })
    }

    /// Obtains a token (absorbed while one is being obtained). Then drain.
    pub fn begin(&mut self, now: f64) -> Result<(), JsValue> {
        self.flow.begin(time(now)).js()
    }

    /// The MCP server answered `status` (with `wwwAuthenticate`) to a request carrying `used`:
    /// `true` means drain (a new token is on its way unless the 401 was stale) and send again
    /// with `accessToken()`; `false` means hand the response to the caller. Throws
    /// `token_rejected_by_resource` when no new token can help (a new token refused again, or a
    /// 403 `insufficient_scope`: a headless grant cannot step up).
    #[wasm_bindgen(js_name = handleResourceResponse)]
    pub fn handle_resource_response(
        &mut self,
        now: f64,
        status: u16,
        www_authenticate: Option<String>,
        used: Option<String>,
    ) -> Result<bool, JsValue> {
        let used = used.map(AccessToken::new);
        let response = mcp_oauth_core::ResourceResponse {
            status,
            www_authenticate: www_authenticate.as_deref(),
            token_used: used.as_ref(),
            operation: "",
            dpop_nonce: None,
        };
        let decision = self.flow.handle_resource_response(time(now), &response).js()?;
        Ok(decision == mcp_oauth_core::ResourceDecision::Retry)
    }

    /// The next request (`{ id, purpose, method, url, headers, body }`) or `undefined`.
    #[wasm_bindgen(js_name = pollRequest)]
    pub fn poll_request(&mut self) -> JsValue {
        self.flow.poll_request().map_or(JsValue::UNDEFINED, |r| request_to_js(&r))
    }

    /// Answers request `id` with `{ status, headers, body }`.
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(&mut self, now: f64, id: f64, response: JsValue) -> Result<(), JsValue> {
        let resp = response_from_js(&response)?;
        self.flow.handle_response(time(now), mcp_oauth_core::http::RequestId(id as u64), resp).js()
    }

    /// Request `id` failed in transport.
    #[wasm_bindgen(js_name = handleTransportError)]
    pub fn handle_transport_error(
        &mut self,
        now: f64,
        id: f64,
        message: &str,
    ) -> Result<(), JsValue> {
        let id = mcp_oauth_core::http::RequestId(id as u64);
        self.flow.handle_transport_error(time(now), id, message).js()
    }

    /// The next JWT to sign, or `undefined`: `{ id, signer: "authorization_server" |
    /// "identity_provider", payload }`; `payload` is the JWS payload (the core's RFC 7523 §3
    /// claims, `jti` from `jtiRandom`: 16 bytes the host drew with `crypto.getRandomValues`).
    /// `{ id, signer: "workload", audience }` asks for the workload's platform JWT as it is now
    /// (not a signature; `audience`: the authorization server it is for).
    #[wasm_bindgen(js_name = pollSignature)]
    pub fn poll_signature(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] jti_random: Option<Uint8Array>,
    ) -> Result<JsValue, JsValue> {
        let random = crate::io::bytes::<16>(jti_random, "jtiRandom")?;
        let Some(s) = self.flow.poll_signature() else { return Ok(JsValue::UNDEFINED) };
        let signer = match s.signer {
            AssertionFor::AuthorizationServer => "authorization_server",
            AssertionFor::Workload => {
                return Ok(object(&[
                    ("id", JsValue::from_f64(s.id as f64)),
                    ("signer", JsValue::from_str("workload")),
                    ("audience", JsValue::from_str(&s.claims.aud)),
                ]))
            }
            _ => "identity_provider",
        };
        Ok(object(&[
            ("id", JsValue::from_f64(s.id as f64)),
            ("signer", JsValue::from_str(signer)),
            (
                "payload",
                JsValue::from_str(&s.claims.to_json(&jwt_bearer::jti_from_entropy(&random))),
            ),
        ]))
    }

    /// The signed JWT (compact JWS) for signature `id`.
    #[wasm_bindgen(js_name = provideAssertion)]
    pub fn provide_assertion(&mut self, now: f64, id: f64, jwt: &str) -> Result<(), JsValue> {
        self.flow.provide_assertion(time(now), id as u64, jwt).js()
    }

    /// Signing `id` failed.
    #[wasm_bindgen(js_name = handleSigningError)]
    pub fn handle_signing_error(&mut self, id: f64, message: &str) -> Result<(), JsValue> {
        self.flow.handle_signing_error(id as u64, message).js()
    }

    /// The next event (`{ type }`: `metadata_discovered`, `credential_pinned`,
    /// `tokens_updated`, `tokens_cleared`, `failed` with `error`, ...) or `undefined`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> JsValue {
        use mcp_oauth_core::FlowEvent as E;
        let Some(event) = self.flow.poll_event() else { return JsValue::UNDEFINED };
        let name = match &event {
            E::MetadataDiscovered(_) => "metadata_discovered",
            E::UsingLegacyDiscovery { .. } => "legacy_discovery",
            E::CredentialPinned { .. } => "credential_pinned",
            E::TokensUpdated { .. } => "tokens_updated",
            E::TokensCleared => "tokens_cleared",
            E::Failed(e) => return object(&[("type", "failed".into()), ("error", core_error(e))]),
            _ => "other",
        };
        object(&[("type", JsValue::from_str(name))])
    }

    /// The access token while it has `refreshBufferSeconds` to live, else `undefined`.
    #[wasm_bindgen(js_name = accessToken)]
    pub fn access_token(&self, now: f64) -> Option<String> {
        self.flow.access_token(time(now)).map(|t| t.secret().to_owned())
    }

    /// The last token obtained (possibly inside the buffer or expired), else `undefined`.
    #[wasm_bindgen(js_name = lastToken)]
    pub fn last_token(&self) -> Option<String> {
        self.flow.tokens().map(|(_, t)| t.access_token.secret().to_owned())
    }

    /// True while a token is being obtained.
    #[wasm_bindgen(getter)]
    pub fn busy(&self) -> bool {
        self.flow.is_busy()
    }

    /// `Bearer <token>` for `url` when a usable token is held; throws `token_for_other_resource`
    /// for a URL outside the token's resource.
    #[wasm_bindgen(js_name = authorizationHeader)]
    pub fn authorization_header(&self, now: f64, url: &str) -> Result<Option<String>, JsValue> {
        self.flow.authorization_header(time(now), url).js()
    }

    /// The MCP server URL (canonical).
    #[wasm_bindgen(getter = serverUrl)]
    pub fn server_url(&self) -> String {
        self.flow.config().server_url.as_str().to_owned()
    }

    /// `{ serverUrl, issuer, authorized, expiresAt, scope }` at `now` (no secrets).
    pub fn status(&self, now: f64) -> JsValue {
        let tokens = self.flow.tokens();
        object(&[
            ("serverUrl", JsValue::from_str(self.flow.config().server_url.as_str())),
            ("issuer", str_or_null(tokens.map(|(i, _)| i))),
            (
                "authorized",
                JsValue::from_bool(tokens.is_some_and(|(_, t)| t.is_fresh(time(now), 0))),
            ),
            (
                "expiresAt",
                tokens
                    .and_then(|(_, t)| t.expires_at)
                    .map_or(JsValue::NULL, |t| JsValue::from_f64(t.0 as f64)),
            ),
            ("scope", str_or_null(tokens.and_then(|(_, t)| t.scope.as_deref()))),
        ])
    }
}

/// The RFC 7523 §3 claims of a `private_key_jwt` client assertion for `clientId` at the server
/// `audience` (its issuer): `{ iss, sub, aud, iat, exp, jti }`, `jti` from `jtiRandom` (16
/// bytes from `crypto.getRandomValues`; the package's `clientAssertionClaims` draws them when not
/// given). The JWS payload is `JSON.stringify` of it.
#[wasm_bindgen(js_name = clientAssertionClaims)]
pub fn client_assertion_claims(
    client_id: &str,
    audience: &str,
    now: f64,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] jti_random: Option<Uint8Array>,
) -> Result<JsValue, JsValue> {
    let jti = crate::io::bytes::<16>(jti_random, "jtiRandom")?;
    let c = jwt_bearer::client_assertion_claims(client_id, audience, time(now), &jti);
    Ok(object(&[
        ("iss", JsValue::from_str(&c.iss)),
        ("sub", JsValue::from_str(&c.sub)),
        ("aud", JsValue::from_str(&c.aud)),
        ("iat", JsValue::from_f64(c.iat as f64)),
        ("exp", JsValue::from_f64(c.exp as f64)),
        ("jti", str_or_null(c.jti.as_deref())),
    ]))
}
