//! Step functions of the headless grants, for hosts without a user (Node scripts, CI):
//! client credentials (RFC 6749 §4.4), the RFC 8693 exchange of an ID token for an ID-JAG at the
//! identity provider and the RFC 7523 jwt-bearer grant (MCP SEP-990 cross-app access), the token
//! responses, and the claims of `private_key_jwt` client assertions (RFC 7523 §3).
//!
//! Thin conversions of plain JS objects to the core's step functions (`client_credentials`,
//! `token_exchange`, `jwt_bearer`, `token`); the requests come back in the shape of
//! `Flow.pollRequest()` and are answered in the shape of `Flow.handleResponse()`. Signing the
//! assertion is the host's job (`pkg/src/headless.js` uses WebCrypto).
//!
//! The client fields shared by the request functions: `clientId` (required), `clientSecret`,
//! `clientAssertion` (a signed JWT), `authMethod` (`none`, `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt`; default: `private_key_jwt` with an assertion,
//! `client_secret_basic` with a secret, else `none`).

use js_sys::{Array, Reflect, Uint8Array};
use mcp_oauth_core::http::{HttpRequest, RequestId};
use mcp_oauth_core::secret::{ClientSecret, GrantAssertion, IdToken};
use mcp_oauth_core::token::{self, ClientAuth, TokenEndpointAuth, TokenError};
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, ResourceUrl, UrlError};
use mcp_oauth_core::{client_credentials, jwt_bearer, registration, scope, token_exchange};
use wasm_bindgen::prelude::*;

use crate::error::{core_error, error, IntoJs};
use crate::io::object;
use crate::steps::{request_to_js, response_from_js, str_or_null, time, Flow};

/// `invalid_argument` naming the field.
fn invalid(name: &str, problem: &str) -> JsValue {
    error("invalid_argument", &[name, problem].concat(), &[])
}

/// The string fields `names` of `params` (absent, `undefined` and `null` are `None`).
fn fields<const N: usize>(
    params: &JsValue,
    names: [&str; N],
) -> Result<[Option<String>; N], JsValue> {
    if !params.is_object() {
        return Err(invalid("params", " must be an object"));
    }
    let mut out = [const { None }; N];
    for (slot, name) in out.iter_mut().zip(names) {
        let v = Reflect::get(params, &JsValue::from_str(name))?;
        if !v.is_undefined() && !v.is_null() {
            *slot = Some(v.as_string().ok_or_else(|| invalid(name, " must be a string"))?);
        }
    }
    Ok(out)
}

fn required(v: Option<String>, name: &str) -> Result<String, JsValue> {
    v.ok_or_else(|| invalid(name, " is required"))
}

fn token_error(e: TokenError) -> JsValue {
    core_error(&e.into())
}

fn url_error(e: UrlError) -> JsValue {
    core_error(&e.into())
}

/// The client's identity and authentication, read from the shared client fields.
struct Client {
    id: String,
    secret: Option<ClientSecret>,
    assertion: Option<String>,
    method: TokenEndpointAuth,
}

impl Client {
    fn auth(&self) -> ClientAuth<'_> {
        ClientAuth {
            client_id: &self.id,
            client_secret: self.secret.as_ref(),
            method: self.method,
            assertion: self.assertion.as_deref(),
        }
    }
}

/// The fields of the request functions (each uses the ones of its grant).
struct Common {
    endpoint: EndpointUrl,
    client: Client,
    scope: Option<String>,
    resource: Option<ResourceUrl>,
    /// `assertion` (jwt-bearer).
    grant_assertion: Option<String>,
    /// `idToken` and `audience` (ID-JAG exchange).
    id_token: Option<String>,
    audience: Option<String>,
}

fn common(params: &JsValue) -> Result<Common, JsValue> {
    let [endpoint, id, secret, assertion, method, scope, resource, grant_assertion, id_token, audience] =
        fields(
            params,
            [
                "tokenEndpoint",
                "clientId",
                "clientSecret",
                "clientAssertion",
                "authMethod",
                "scope",
                "resource",
                "assertion",
                "idToken",
                "audience",
            ],
        )?;
    let method = match method {
        Some(name) => TokenEndpointAuth::from_name(&name).ok_or_else(|| {
            invalid(
                "authMethod",
                " must be none, client_secret_basic, client_secret_post or private_key_jwt",
            )
        })?,
        None if assertion.is_some() => TokenEndpointAuth::PrivateKeyJwt,
        None if secret.is_some() => TokenEndpointAuth::ClientSecretBasic,
        None => TokenEndpointAuth::None,
    };
    Ok(Common {
        endpoint: EndpointUrl::parse(&required(endpoint, "tokenEndpoint")?).map_err(url_error)?,
        client: Client {
            id: required(id, "clientId")?,
            secret: secret.map(ClientSecret::new),
            assertion,
            method,
        },
        scope,
        resource: resource.as_deref().map(ResourceUrl::parse).transpose().map_err(url_error)?,
        grant_assertion,
        id_token,
        audience,
    })
}

fn out(req: Result<HttpRequest, TokenError>) -> Result<JsValue, JsValue> {
    req.map(|r| request_to_js(&r)).map_err(token_error)
}

/// The RFC 6749 §4.4.2 client credentials request: `{ tokenEndpoint, clientId, clientSecret?,
/// clientAssertion?, authMethod?, scope?, resource? }`. A public client (`none`) is refused
/// (`client_authentication_required`).
#[wasm_bindgen(js_name = clientCredentialsRequest)]
pub fn client_credentials_request(params: JsValue) -> Result<JsValue, JsValue> {
    let c = common(&params)?;
    out(client_credentials::client_credentials_request(
        RequestId(0),
        &c.endpoint,
        &c.client.auth(),
        c.scope.as_deref(),
        c.resource.as_ref(),
    ))
}

/// The RFC 7523 §2.1 jwt-bearer grant request: `{ tokenEndpoint, assertion, clientId, …client
/// fields, scope?, resource? }`.
#[wasm_bindgen(js_name = jwtBearerRequest)]
pub fn jwt_bearer_request(params: JsValue) -> Result<JsValue, JsValue> {
    let c = common(&params)?;
    let assertion = GrantAssertion::new(required(c.grant_assertion.clone(), "assertion")?);
    out(jwt_bearer::jwt_bearer_request(
        RequestId(0),
        &c.endpoint,
        &c.client.auth(),
        &assertion,
        c.scope.as_deref(),
        c.resource.as_ref(),
    ))
}

/// The RFC 8693 exchange of the user's ID token for an ID-JAG at the identity provider (SEP-990
/// §4): `{ tokenEndpoint (the IdP's), idToken, audience (the authorization server's issuer),
/// clientId, …client fields, resource?, scope? }`.
#[wasm_bindgen(js_name = idJagRequest)]
pub fn id_jag_request(params: JsValue) -> Result<JsValue, JsValue> {
    let c = common(&params)?;
    let id_token = IdToken::new(required(c.id_token.clone(), "idToken")?);
    let audience =
        IssuerUrl::parse(&required(c.audience.clone(), "audience")?).map_err(url_error)?;
    out(token_exchange::id_jag_request(
        RequestId(0),
        &token_exchange::IdJagParams {
            idp_token_endpoint: &c.endpoint,
            client: &c.client.auth(),
            id_token: &id_token,
            audience: &audience,
            resource: c.resource.as_ref(),
            scope: c.scope.as_deref(),
        },
    ))
}

fn seconds_or_null(t: Option<mcp_oauth_core::time::UnixTime>) -> JsValue {
    t.map_or(JsValue::NULL, |t| JsValue::from_f64(t.0 as f64))
}

/// Reads a token response (RFC 6749 §5.1/§5.2; client credentials and jwt-bearer grants) into
/// `{ accessToken, tokenType, expiresAt (Unix seconds or null), scope (granted, else
/// `requestedScope`, or null), refreshToken (only when sent) }`.
#[wasm_bindgen(js_name = processTokenResponse)]
pub fn process_token_response(
    now: f64,
    response: JsValue,
    requested_scope: Option<String>,
) -> Result<JsValue, JsValue> {
    let resp = response_from_js(&response)?;
    let t = token::process_token_response(&resp, time(now), None, requested_scope.as_deref())
        .map_err(token_error)?;
    let o = object(&[
        ("accessToken", JsValue::from_str(t.access_token.secret())),
        ("tokenType", JsValue::from_str(&t.token_type)),
        ("expiresAt", seconds_or_null(t.expires_at)),
        ("scope", str_or_null(t.scope.as_deref())),
    ]);
    if let Some(r) = &t.refresh_token {
        Reflect::set(&o, &"refreshToken".into(), &JsValue::from_str(r.secret()))?;
    }
    Ok(o)
}

/// Reads an RFC 8693 token exchange response into `{ token, issuedTokenType, tokenType,
/// expiresAt, scope }`; `requestedTokenType` (e.g. `urn:ietf:params:oauth:token-type:id-jag`)
/// must be the issued type when given.
#[wasm_bindgen(js_name = processTokenExchangeResponse)]
pub fn process_token_exchange_response(
    now: f64,
    response: JsValue,
    requested_token_type: Option<String>,
) -> Result<JsValue, JsValue> {
    let resp = response_from_js(&response)?;
    let t = token_exchange::process_token_exchange_response(
        &resp,
        time(now),
        requested_token_type.as_deref(),
    )
    .map_err(|e| core_error(&e.into()))?;
    Ok(object(&[
        ("token", JsValue::from_str(t.token.secret())),
        ("issuedTokenType", JsValue::from_str(&t.issued_token_type)),
        ("tokenType", JsValue::from_str(&t.token_type)),
        ("expiresAt", seconds_or_null(t.expires_at)),
        ("scope", str_or_null(t.scope.as_deref())),
    ]))
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

#[wasm_bindgen]
impl Flow {
    /// Runs discovery only (protected-resource metadata, then authorization-server metadata), for
    /// the headless grants; cached discovery is used while fresh. Drain `pollRequest()`, then read
    /// `discovery()`.
    #[wasm_bindgen(js_name = beginDiscovery)]
    pub fn begin_discovery(&mut self, now: f64) -> Result<(), JsValue> {
        self.flow.begin_discovery(time(now)).js()
    }

    /// What the headless grants need from the discovery in use, or `undefined` before it: `{
    /// issuer, tokenEndpoint, tokenEndpointAuthMethods (array or null), secretAuthMethod (the
    /// method for a client secret the server supports, or null), resource, scope (the
    /// configured scopes, else the protected-resource metadata's scopes_supported, or null) }`.
    pub fn discovery(&self) -> JsValue {
        let Some(d) = self.flow.discovery() else { return JsValue::UNDEFINED };
        let m = &d.server;
        let prm_scopes = d.resource_metadata.as_ref().and_then(|r| r.scopes_supported.as_deref());
        let scope =
            scope::select(self.flow.config().scopes.as_deref(), None, prm_scopes, None, false);
        let methods = m.token_endpoint_auth_methods_supported.as_ref().map_or(JsValue::NULL, |l| {
            l.iter().map(|s| JsValue::from_str(s)).collect::<Array>().into()
        });
        let secret = registration::secret_method(m).ok().map(|a| a.as_str());
        object(&[
            ("issuer", JsValue::from_str(m.issuer.as_str())),
            ("tokenEndpoint", JsValue::from_str(m.token_endpoint.as_str())),
            ("tokenEndpointAuthMethods", methods),
            ("secretAuthMethod", str_or_null(secret)),
            ("resource", JsValue::from_str(self.flow.resource().as_str())),
            ("scope", str_or_null(scope.as_deref())),
        ])
    }
}
