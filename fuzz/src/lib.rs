//! Helpers shared by the fuzz targets: reading a fuzzer input as a few control bytes plus a
//! payload, building HTTP responses from it, and the fixed pending authorization the callback
//! target checks against.

use std::sync::OnceLock;

use mcp_oauth_core::authorize::{authorization_request, AuthorizationParams, PendingAuthorization};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::server_metadata::{self, ServerMetadata};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl};

/// The issuer every target uses.
pub const ISSUER: &str = "https://as.example/tenant";

/// A cursor over the fuzzer's bytes: control values from the front, the rest as payload.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzzer's input.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte, 0 when the input is exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next two bytes as a big-endian number.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// The next eight bytes as a big-endian number.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_be_bytes(b)
    }

    /// Everything not yet read.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Picks one of `options` with a byte.
pub fn pick<T: Copy>(b: u8, options: &[T]) -> T {
    options[usize::from(b) % options.len()]
}

/// A status: mostly `ok` or a common one, sometimes any number.
pub fn status(input: &mut Input<'_>, ok: u16) -> u16 {
    let b = input.byte();
    if b >= 0xF0 {
        input.u16()
    } else {
        pick(b, &[ok, ok, ok, ok, 200, 201, 400, 401, 404, 429, 500, 503, 302])
    }
}

/// The `Content-Type` header: mostly JSON, sometimes something else or nothing.
pub fn content_type(b: u8) -> Vec<(String, String)> {
    let ct = pick(
        b,
        &[
            Some("application/json"),
            Some("application/json"),
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some("application/jwk-set+json"),
            Some("text/html"),
            Some(""),
            None,
        ],
    );
    ct.map(|ct| vec![("Content-Type".to_owned(), ct.to_owned())]).unwrap_or_default()
}

/// The body: the payload as it is, or (to get past the JSON parser more often) a JSON object
/// whose members `fields` take their values from the payload's pieces, split at `0xFF`. A piece
/// that starts with `#` is inserted as raw JSON text, any other piece as a JSON string; an empty
/// piece leaves its member out.
pub fn body(mode: u8, fields: &[&str], payload: &[u8]) -> Vec<u8> {
    if mode & 3 == 0 {
        return payload.to_vec();
    }
    let mut out = b"{".to_vec();
    let mut first = true;
    for (field, piece) in fields.iter().zip(payload.split(|b| *b == 0xFF)) {
        if piece.is_empty() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(serde_json::Value::from(*field).to_string().as_bytes());
        out.push(b':');
        match piece.strip_prefix(b"#") {
            Some(raw) => out.extend_from_slice(raw),
            None => out.extend_from_slice(
                serde_json::Value::from(String::from_utf8_lossy(piece).into_owned())
                    .to_string()
                    .as_bytes(),
            ),
        }
    }
    out.push(b'}');
    out
}

/// A response from the input: status, content type, then the body.
pub fn response(input: &mut Input<'_>, ok: u16, fields: &[&str]) -> HttpResponse {
    let status = status(input, ok);
    let headers = content_type(input.byte());
    let mode = input.byte();
    let payload = std::mem::replace(input, Input::new(&[])).rest();
    HttpResponse::new(status, headers, body(mode, fields, payload))
}

/// The issuer, parsed.
pub fn issuer() -> IssuerUrl {
    IssuerUrl::parse(ISSUER).expect("valid issuer")
}

/// A metadata URL for `issuer()`.
pub fn metadata_url() -> EndpointUrl {
    EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server/tenant")
        .expect("valid URL")
}

/// The redirect URIs of the two pending authorizations: one with a query of its own.
pub const REDIRECTS: [&str; 2] =
    ["http://127.0.0.1:8765/cb", "https://app.example/oauth/callback?x=1"];

fn server_metadata(iss_supported: bool) -> ServerMetadata {
    let body = serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": iss_supported,
    });
    server_metadata::process_metadata_response(
        &issuer(),
        &metadata_url(),
        &HttpResponse::json(200, &body.to_string()),
        &ServerPolicy::default(),
    )
    .expect("valid metadata")
}

fn make_pending(i: usize) -> PendingAuthorization {
    let md = server_metadata(i == 0);
    let redirect = RedirectUri::parse(REDIRECTS[i]).expect("valid redirect URI");
    let resource = ResourceUrl::parse("https://mcp.example.com/mcp").expect("valid resource");
    authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "client-1",
            redirect_uri: &redirect,
            resource: Some(&resource),
            scope: Some("files:read"),
            extra_params: &[],
        },
        &Entropy { verifier: [1; 32], state: [2; 32] },
        UnixTime(1_700_000_000),
    )
    .expect("valid authorization request")
}

/// Two fixed pending authorizations built through `authorization_request`: the first at a
/// loopback redirect URI with `iss` promised, the second at an https one with a query and
/// without.
pub fn pending() -> &'static [PendingAuthorization; 2] {
    static PENDING: OnceLock<[PendingAuthorization; 2]> = OnceLock::new();
    PENDING.get_or_init(|| [make_pending(0), make_pending(1)])
}
