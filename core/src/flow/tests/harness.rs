//! A deterministic in-memory world for scenario tests: a fake MCP
//! server, a fake authorization server that really checks PKCE, `state`, `resource` and client
//! authentication, a fake browser that approves, and a fake clock.

use std::collections::HashMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::encoding::{base64url_nopad, form_decode};
use crate::http::{HttpRequest, HttpResponse, Method, Purpose};
use crate::pkce::Entropy;
use crate::time::UnixTime;
use crate::url::Url;
use crate::{AuthFlow, Error, FlowEvent};

/// How the fake authorization server answers the callback's `iss`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Iss {
    Correct,
    Missing,
    Wrong,
}

#[derive(Clone, Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: Option<String>,
    scope: Option<String>,
}

/// The fake world. Every field is a knob a scenario may turn.
pub struct World {
    pub now: UnixTime,
    pub issuer: String,
    /// URLs that serve the protected-resource metadata.
    pub prm_at: Vec<String>,
    pub prm: Value,
    /// URLs that serve the authorization-server metadata, with the document served.
    pub as_at: Vec<(String, Value)>,
    /// URLs answering 500.
    pub fail_at: Vec<String>,
    /// URLs answering 200 text/html.
    pub html_at: Vec<String>,
    /// URLs whose requests fail in transport (CORS, network).
    pub unreachable: Vec<String>,
    pub iss: Iss,
    pub deny: bool,
    pub rotate_refresh: bool,
    pub issue_refresh: bool,
    pub token_lifetime: Option<u64>,
    pub require_resource: bool,
    pub registration_status: u16,
    /// The token endpoint answers 503 while this is set.
    pub token_endpoint_down: bool,
    /// Client secrets of confidential clients.
    pub secrets: HashMap<String, String>,
    pub log: Vec<(Purpose, String)>,
    pub revoked: Vec<String>,
    /// The revocation endpoint answers `unsupported_token_type` for access tokens (a server
    /// whose access tokens are JWTs it cannot revoke, RFC 7009 §2.2.1).
    pub access_tokens_not_revocable: bool,
    codes: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, (String, Option<String>)>,
    pub access_tokens: HashMap<String, (String, Option<String>)>,
    counter: u64,
    pub registered: Vec<Value>,
    pub token_requests: Vec<Vec<(String, String)>>,
    /// Workload assertions (SEP-1933) the token endpoint trusts for the jwt-bearer grant.
    pub workload_assertions: Vec<String>,
    /// DPoP (RFC 9449): the token endpoint demands a proof with this nonce (§8), answering
    /// `use_dpop_nonce` until it gets one; a request with a proof gets a DPoP token.
    pub dpop_nonce: Option<String>,
    /// The `DPoP` header of every token request (`None`: no proof).
    pub dpop_proofs: Vec<Option<String>>,
}

pub const MCP: &str = "https://mcp.example.com/mcp";
pub const ISSUER: &str = "https://auth.example.com";
pub const REDIRECT: &str = "http://localhost:8000/auth/redirect";

pub fn as_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["files:read", "files:write", "offline_access"],
        "authorization_response_iss_parameter_supported": true,
    })
}

impl World {
    pub fn new() -> World {
        World {
            now: UnixTime(1_700_000_000),
            issuer: ISSUER.into(),
            prm_at: vec!["https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into()],
            prm: json!({
                "resource": MCP,
                "authorization_servers": [ISSUER],
                "scopes_supported": ["files:read"],
            }),
            as_at: vec![(
                "https://auth.example.com/.well-known/oauth-authorization-server".into(),
                as_document(ISSUER),
            )],
            fail_at: Vec::new(),
            html_at: Vec::new(),
            unreachable: Vec::new(),
            iss: Iss::Correct,
            deny: false,
            rotate_refresh: true,
            issue_refresh: true,
            token_lifetime: Some(3600),
            require_resource: true,
            registration_status: 201,
            token_endpoint_down: false,
            secrets: HashMap::new(),
            log: Vec::new(),
            revoked: Vec::new(),
            access_tokens_not_revocable: false,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            counter: 0,
            registered: Vec::new(),
            token_requests: Vec::new(),
            workload_assertions: Vec::new(),
            dpop_nonce: None,
            dpop_proofs: Vec::new(),
        }
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    /// The 401 the MCP server sends without a valid token.
    pub fn unauthorized(&self, header: Option<&str>) -> HttpResponse {
        let headers = header
            .map(|h| vec![("WWW-Authenticate".to_string(), h.to_string())])
            .unwrap_or_default();
        HttpResponse::new(401, headers, Vec::new())
    }

    pub fn challenge_401(&self) -> HttpResponse {
        self.unauthorized(Some(
            r#"Bearer realm="mcp", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        ))
    }

    pub fn count(&self, purpose: Purpose) -> usize {
        self.log.iter().filter(|(p, _)| *p == purpose).count()
    }

    /// Whether an MCP request with this `Authorization` value would be accepted.
    pub fn mcp_accepts(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
            return false;
        };
        self.access_tokens.contains_key(token)
    }

    pub fn handle(&mut self, req: &HttpRequest) -> Result<HttpResponse, String> {
        self.log.push((req.purpose, req.url.clone()));
        if self.unreachable.contains(&req.url) {
            return Err(format!("network error reaching {}", req.url));
        }
        if self.fail_at.contains(&req.url) {
            return Ok(HttpResponse::json(500, "{}"));
        }
        if self.html_at.contains(&req.url) {
            return Ok(HttpResponse::new(
                200,
                vec![("content-type".into(), "text/html".into())],
                "<html>",
            ));
        }
        if req.method == Method::Get {
            if self.prm_at.contains(&req.url) {
                return Ok(HttpResponse::json(200, &self.prm.to_string()));
            }
            if let Some((_, doc)) = self.as_at.iter().find(|(u, _)| *u == req.url) {
                return Ok(HttpResponse::json(200, &doc.to_string()));
            }
            return Ok(HttpResponse::json(404, r#"{"error":"not_found"}"#));
        }
        let path = Url::parse(&req.url).map_err(|e| e.to_string())?.path().to_owned();
        match path.as_str() {
            "/register" => Ok(self.register(req)),
            "/token" => Ok(self.token(req)),
            "/revoke" => {
                let form = form_decode(&req.body_text()).unwrap_or_default();
                if let Some((_, t)) = form.iter().find(|(k, _)| k == "token") {
                    if self.access_tokens_not_revocable && self.access_tokens.contains_key(t) {
                        return Ok(HttpResponse::json(
                            400,
                            r#"{"error":"unsupported_token_type"}"#,
                        ));
                    }
                    self.revoked.push(t.clone());
                    self.access_tokens.remove(t);
                    self.refresh_tokens.remove(t);
                }
                Ok(HttpResponse::json(200, ""))
            }
            _ => Ok(HttpResponse::json(404, "{}")),
        }
    }

    fn register(&mut self, req: &HttpRequest) -> HttpResponse {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        self.registered.push(body);
        if self.registration_status != 201 {
            return HttpResponse::json(self.registration_status, r#"{"client_id":"x"}"#);
        }
        let id = self.next("client");
        HttpResponse::json(
            201,
            &json!({"client_id": id, "token_endpoint_auth_method": "none"}).to_string(),
        )
    }

    fn client_of(
        &self,
        req: &HttpRequest,
        form: &[(String, String)],
    ) -> Result<String, HttpResponse> {
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        // private_key_jwt as signed by core/src/headless/tests.rs: `jws:<iss>:<aud>`.
        if let Some(assertion) = get("client_assertion").filter(|a| a.starts_with("jws:")) {
            let id = get("client_id").unwrap_or_default();
            let ok = get("client_assertion_type").as_deref()
                == Some(crate::jwt_bearer::CLIENT_ASSERTION_TYPE)
                && assertion.starts_with(&format!("jws:{id}:"));
            return if ok {
                Ok(id)
            } else {
                Err(HttpResponse::json(401, r#"{"error":"invalid_client"}"#))
            };
        }
        if let Some(basic) = req.header("authorization").and_then(|h| h.strip_prefix("Basic ")) {
            for (id, secret) in &self.secrets {
                let mut creds = String::new();
                crate::encoding::form_encode_component(id, &mut creds);
                creds.push(':');
                crate::encoding::form_encode_component(secret, &mut creds);
                if crate::encoding::base64_std(creds.as_bytes()) == basic {
                    return Ok(id.clone());
                }
            }
            return Err(HttpResponse::json(401, r#"{"error":"invalid_client"}"#));
        }
        let id = get("client_id")
            .ok_or_else(|| HttpResponse::json(401, r#"{"error":"invalid_client"}"#))?;
        if let Some(expected) = self.secrets.get(&id) {
            if get("client_secret").as_ref() != Some(expected) {
                return Err(HttpResponse::json(401, r#"{"error":"invalid_client"}"#));
            }
        }
        Ok(id)
    }

    fn token(&mut self, req: &HttpRequest) -> HttpResponse {
        if self.token_endpoint_down {
            return HttpResponse::json(503, "{}");
        }
        let form = form_decode(&req.body_text()).unwrap_or_default();
        self.token_requests.push(form.clone());
        let proof = req.header("dpop").map(str::to_owned);
        self.dpop_proofs.push(proof.clone());
        if let (Some(nonce), Some(p)) = (&self.dpop_nonce, &proof) {
            if !super::super::dpop::tests::proof_claims(p).get("nonce").is_some_and(|n| n == nonce)
            {
                return HttpResponse::new(
                    400,
                    vec![
                        ("content-type".into(), "application/json".into()),
                        ("DPoP-Nonce".into(), nonce.clone()),
                    ],
                    r#"{"error":"use_dpop_nonce"}"#,
                );
            }
        }
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let client = match self.client_of(req, &form) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        let resource = get("resource");
        if self.require_resource
            && resource.as_deref() != Some(self.prm["resource"].as_str().unwrap_or(MCP))
        {
            return HttpResponse::json(400, r#"{"error":"invalid_target"}"#);
        }
        let scope = match get("grant_type").as_deref() {
            Some("authorization_code") => {
                let Some(grant) = get("code").and_then(|c| self.codes.remove(&c)) else {
                    return HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
                };
                let verifier = get("code_verifier").unwrap_or_default();
                let ok = grant.client_id == client
                    && Some(grant.redirect_uri.clone()) == get("redirect_uri")
                    && base64url_nopad(&Sha256::digest(verifier.as_bytes())) == grant.challenge
                    && grant.resource == resource;
                if !ok {
                    return HttpResponse::json(
                        400,
                        r#"{"error":"invalid_grant","error_description":"PKCE, client, redirect or resource mismatch"}"#,
                    );
                }
                grant.scope
            }
            Some("refresh_token") => {
                let rt = get("refresh_token").unwrap_or_default();
                let Some((owner, scope)) = self.refresh_tokens.get(&rt).cloned() else {
                    return HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
                };
                if owner != client {
                    return HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
                }
                if self.rotate_refresh {
                    self.refresh_tokens.remove(&rt);
                }
                scope
            }
            Some("client_credentials") => get("scope"),
            // The identity provider of cross-app access (SEP-990): ID token → ID-JAG.
            Some(crate::token_exchange::GRANT_TYPE) => {
                if get("subject_token").as_deref() != Some("id-token") {
                    return HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
                }
                let jag = self.next("jag");
                let mut body = json!({"access_token": jag, "token_type": "N_A",
                    "issued_token_type": crate::token_exchange::token_types::ID_JAG});
                if let Some(s) = get("scope") {
                    body["scope"] = json!(s);
                }
                return HttpResponse::json(200, &body.to_string());
            }
            Some(crate::jwt_bearer::GRANT_TYPE) => {
                let trusted =
                    |a: &String| a.starts_with("jag-") || self.workload_assertions.contains(a);
                if !get("assertion").is_some_and(|a| trusted(&a)) {
                    return HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
                }
                get("scope")
            }
            _ => return HttpResponse::json(400, r#"{"error":"unsupported_grant_type"}"#),
        };
        let at = self.next("at");
        self.access_tokens.insert(at.clone(), (client.clone(), scope.clone()));
        let token_type = if proof.is_some() { "DPoP" } else { "Bearer" };
        let mut body = json!({"access_token": at, "token_type": token_type});
        if let Some(l) = self.token_lifetime {
            body["expires_in"] = json!(l);
        }
        if let Some(s) = &scope {
            body["scope"] = json!(s);
        }
        let new_refresh = self.issue_refresh
            && (get("grant_type").as_deref() == Some("authorization_code") || self.rotate_refresh);
        if new_refresh {
            let rt = self.next("rt");
            self.refresh_tokens.insert(rt.clone(), (client, scope));
            body["refresh_token"] = json!(rt);
        }
        HttpResponse::json(200, &body.to_string())
    }

    /// The fake browser + consent screen: returns the URL the authorization server redirects
    /// the browser to.
    pub fn approve(&mut self, authorization_url: &str) -> String {
        let url = Url::parse(authorization_url).unwrap();
        let q = url.query_pairs().unwrap();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("response_type").as_deref(), Some("code"));
        assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
        let redirect = get("redirect_uri").unwrap();
        let state = get("state").unwrap();
        let iss = match self.iss {
            Iss::Correct => {
                format!("&iss={}", crate::encoding::percent_encode_segment(&self.issuer))
            }
            Iss::Missing => String::new(),
            Iss::Wrong => "&iss=https%3A%2F%2Fevil.example".into(),
        };
        if self.deny {
            return format!("{redirect}?error=access_denied&error_description=The+user+said+no&state={state}{iss}");
        }
        let code = self.next("code");
        self.codes.insert(
            code.clone(),
            Grant {
                client_id: get("client_id").unwrap(),
                redirect_uri: redirect.clone(),
                challenge: get("code_challenge").unwrap(),
                resource: get("resource"),
                scope: get("scope"),
            },
        );
        format!("{redirect}?code={code}&state={state}{iss}")
    }
}

/// Fixed entropy, different per call site.
pub fn entropy(n: u8) -> Entropy {
    Entropy { verifier: [n; 32], state: [n.wrapping_add(100); 32] }
}

/// Drains requests (answering them from the world) and then events, per the drain contract.
/// Returns the events and the errors the flow returned while answering.
pub fn drain(flow: &mut AuthFlow, world: &mut World) -> (Vec<FlowEvent>, Vec<Error>) {
    let mut errors = Vec::new();
    while let Some(req) = flow.poll_request() {
        let result = match world.handle(&req) {
            Ok(resp) => flow.handle_response(world.now, req.id, resp),
            Err(msg) => flow.handle_transport_error(world.now, req.id, &msg),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let mut events = Vec::new();
    while let Some(ev) = flow.poll_event() {
        events.push(ev);
    }
    (events, errors)
}

/// The URL of the last `OpenBrowser` event.
pub fn browser_url(events: &[FlowEvent]) -> Option<String> {
    events.iter().rev().find_map(|e| match e {
        FlowEvent::OpenBrowser { url } => Some(url.clone()),
        _ => None,
    })
}

/// Runs a whole authorization after a 401: discovery, consent, callback, exchange.
pub fn authorize(flow: &mut AuthFlow, world: &mut World, seed: u8) -> Vec<FlowEvent> {
    let resp = world.challenge_401();
    flow.handle_unauthorized(world.now, &resp, entropy(seed)).unwrap();
    let (mut events, errors) = drain(flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    let url = browser_url(&events).expect("an OpenBrowser event");
    let callback = world.approve(&url);
    flow.handle_callback(world.now, &callback).unwrap();
    let (more, errors) = drain(flow, world);
    assert!(errors.is_empty(), "{errors:?}");
    events.extend(more);
    events
}

impl World {
    /// Revokes every refresh token (the user revoked the grant at the server).
    pub fn refresh_tokens_clear(&mut self) {
        self.refresh_tokens.clear();
    }
}
