//! An in-memory MCP server and authorization server for examples, documentation and the size
//! probe (feature `demo`, off by default). It answers the core's requests from memory, checks
//! PKCE, `state` round-trip, `resource` and the redirect URI like a real server would, and plays
//! the browser that approves the consent screen. Not for production; tests use a richer harness.

use sha2::{Digest, Sha256};

use crate::encoding::{base64url_nopad, form_decode, percent_encode_segment};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::url::Url;

/// The demo MCP server URL.
pub const MCP_URL: &str = "https://mcp.example.com/mcp";
/// The demo authorization server's issuer.
pub const ISSUER: &str = "https://auth.example.com";

/// The in-memory servers.
#[derive(Debug, Default)]
pub struct DemoServer {
    codes: Vec<(String, String, String)>,
    access_tokens: Vec<String>,
    refresh_tokens: Vec<String>,
    counter: u32,
    /// How many requests the core made.
    pub requests: u32,
}

impl DemoServer {
    /// A fresh pair of servers.
    pub fn new() -> DemoServer {
        DemoServer::default()
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    /// What the MCP server answers a request without a valid token.
    pub fn unauthorized(&self) -> HttpResponse {
        let header = "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", \
                      scope=\"tools:read\""
            .to_string();
        HttpResponse::new(401, vec![("WWW-Authenticate".into(), header)], Vec::new())
    }

    /// True when the MCP server would accept this `Authorization` header value.
    pub fn accepts(&self, authorization: &str) -> bool {
        authorization
            .strip_prefix("Bearer ")
            .is_some_and(|t| self.access_tokens.iter().any(|a| a == t))
    }

    /// Answers one request of the core.
    pub fn respond(&mut self, req: &HttpRequest) -> HttpResponse {
        self.requests += 1;
        let json = |status, body: String| HttpResponse::json(status, &body);
        match (req.method, req.url.as_str()) {
            (Method::Get, "https://mcp.example.com/.well-known/oauth-protected-resource/mcp") => {
                json(
                    200,
                    format!(
                        r#"{{"resource":"{MCP_URL}","authorization_servers":["{ISSUER}"],"scopes_supported":["tools:read"]}}"#
                    ),
                )
            }
            (Method::Get, "https://auth.example.com/.well-known/oauth-authorization-server") => {
                json(
                    200,
                    format!(
                        r#"{{"issuer":"{ISSUER}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{ISSUER}/token",
                    "registration_endpoint":"{ISSUER}/register","response_types_supported":["code"],
                    "code_challenge_methods_supported":["S256"],"authorization_response_iss_parameter_supported":true}}"#
                    ),
                )
            }
            (Method::Post, "https://auth.example.com/register") => {
                let id = self.next("client");
                json(201, format!(r#"{{"client_id":"{id}","token_endpoint_auth_method":"none"}}"#))
            }
            (Method::Post, "https://auth.example.com/token") => self.token(req),
            _ => json(404, r#"{"error":"not_found"}"#.into()),
        }
    }

    fn token(&mut self, req: &HttpRequest) -> HttpResponse {
        let form = form_decode(&req.body_text()).unwrap_or_default();
        let get =
            |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
        let error = |e: &str| HttpResponse::json(400, &format!(r#"{{"error":"{e}"}}"#));
        if get("resource") != MCP_URL {
            return error("invalid_target");
        }
        match get("grant_type") {
            "authorization_code" => {
                let Some(pos) = self.codes.iter().position(|(c, _, _)| c == get("code")) else {
                    return error("invalid_grant");
                };
                let (_, challenge, redirect) = self.codes.remove(pos);
                let computed = base64url_nopad(&Sha256::digest(get("code_verifier").as_bytes()));
                if computed != challenge || redirect != get("redirect_uri") {
                    return error("invalid_grant");
                }
            }
            "refresh_token" => {
                let Some(pos) = self.refresh_tokens.iter().position(|r| r == get("refresh_token"))
                else {
                    return error("invalid_grant");
                };
                self.refresh_tokens.remove(pos);
            }
            _ => return error("unsupported_grant_type"),
        }
        let access = self.next("access");
        let refresh = self.next("refresh");
        self.access_tokens.push(access.clone());
        self.refresh_tokens.push(refresh.clone());
        HttpResponse::json(
            200,
            &format!(
                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600,"refresh_token":"{refresh}","scope":"tools:read"}}"#
            ),
        )
    }

    /// The user's browser: opens the authorization URL, approves, and returns the URL the
    /// authorization server redirects back to (with `code`, `state` and `iss`).
    pub fn approve(&mut self, authorization_url: &str) -> String {
        let pairs =
            Url::parse(authorization_url).ok().and_then(|u| u.query_pairs()).unwrap_or_default();
        let get = |k: &str| {
            pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        let code = self.next("code");
        let redirect = get("redirect_uri");
        self.codes.push((code.clone(), get("code_challenge"), redirect.clone()));
        format!(
            "{redirect}?code={code}&state={}&iss={}",
            percent_encode_segment(&get("state")),
            percent_encode_segment(ISSUER)
        )
    }
}
