//! Plain HTTP values: what the core asks hosts to send and what they hand back.
//!
//! The core never performs IO. It describes each request it wants sent as an [`HttpRequest`] and
//! reads the answer from an [`HttpResponse`] that the adapter builds. Both map 1:1 onto JS
//! `fetch` and reqwest. Adapters must not follow redirects automatically (reqwest
//! `redirect::Policy::none()`, JS `redirect: 'manual'`): the core decides what a 3xx means.
//!
//! `Debug` prints the method, URL, header names and the body's length, never a body or a header
//! value, so that tokens, secrets and codes cannot leak through logs.

use std::fmt;

/// Identifies one request the core asked for, so that the adapter's answer finds its way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Why the core wants a request sent. Adapters may use it for logging, metrics or per-purpose
/// timeouts; browsers treat a network failure of a discovery request like a 4xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// RFC 9728 protected-resource metadata.
    ResourceMetadata,
    /// RFC 8414 / OpenID Connect Discovery authorization-server metadata.
    ServerMetadata,
    /// RFC 7591 dynamic client registration.
    ClientRegistration,
    /// RFC 6749 §4.1.3 authorization-code exchange (not RFC 8693 token exchange, which is
    /// [`Purpose::IdentityAssertionExchange`]).
    CodeExchange,
    /// RFC 6749 §6 refresh.
    TokenRefresh,
    /// RFC 7009 token revocation.
    Revocation,
    /// RFC 6749 §4.4 client credentials grant.
    ClientCredentials,
    /// RFC 8693 token exchange at an identity provider (an ID token for an ID-JAG).
    IdentityAssertionExchange,
    /// RFC 7523 §2.1 JWT bearer grant (an ID-JAG for an access token).
    JwtBearerGrant,
}

impl Purpose {
    /// True for the discovery requests whose failure means "try the next candidate".
    pub fn is_discovery(self) -> bool {
        matches!(self, Purpose::ResourceMetadata | Purpose::ServerMetadata)
    }
}

/// HTTP method. The protocol needs only these two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request the core wants sent.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Echo this back in [`crate::AuthFlow::handle_response`].
    pub id: RequestId,
    /// Why the request is made.
    pub purpose: Purpose,
    /// GET or POST.
    pub method: Method,
    /// Absolute URL (always `https`, or `http` on a loopback host).
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, empty for GET.
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub(crate) fn get(id: RequestId, purpose: Purpose, url: &str) -> HttpRequest {
        HttpRequest {
            id,
            purpose,
            method: Method::Get,
            url: url.to_owned(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        }
    }

    pub(crate) fn post_form(
        id: RequestId,
        purpose: Purpose,
        url: &str,
        form: &[(&str, &str)],
    ) -> HttpRequest {
        HttpRequest {
            id,
            purpose,
            method: Method::Post,
            url: url.to_owned(),
            headers: vec![
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: crate::encoding::form_encode(form).into_bytes(),
        }
    }

    pub(crate) fn post_json(
        id: RequestId,
        purpose: Purpose,
        url: &str,
        json: &crate::json::Json,
    ) -> HttpRequest {
        HttpRequest {
            id,
            purpose,
            method: Method::Post,
            url: url.to_owned(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: json.to_text().into_bytes(),
        }
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text (lossy), for tests and logs of public data only.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A response as the adapter received it (redirects not followed).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values, in order; a header that came several times appears several
    /// times.
    pub headers: Vec<(String, String)>,
    /// The body (adapters cap its size).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status, headers and body.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers, body: body.into() }
    }

    /// A `200` JSON response; handy for tests and hosts that build responses by hand.
    pub fn json(status: u16, body: &str) -> Self {
        HttpResponse::new(
            status,
            vec![("content-type".into(), "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of a header, in order, matched case-insensitively.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the `Content-Type` media type is `application/json` or `+json`
    /// (parameters such as `charset` ignored, case-insensitive).
    pub fn is_json(&self) -> bool {
        let Some(ct) = self.header("content-type") else { return false };
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

struct HeaderNames<'a>(&'a [(String, String)]);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(n, _)| n)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_bodies_or_header_values() {
        let req = HttpRequest {
            id: RequestId(7),
            purpose: Purpose::CodeExchange,
            method: Method::Post,
            url: "https://as.example/token".into(),
            headers: vec![("Authorization".into(), "Basic c2VjcmV0".into())],
            body: b"code=SECRETCODE".to_vec(),
        };
        let dbg = format!("{req:?}");
        assert!(dbg.contains("Authorization"));
        assert!(!dbg.contains("c2VjcmV0"));
        assert!(!dbg.contains("SECRETCODE"));
        assert!(dbg.contains("body_len: 15"));
        let resp = HttpResponse::json(200, r#"{"access_token":"TOPSECRET"}"#);
        assert!(!format!("{resp:?}").contains("TOPSECRET"));
    }

    #[test]
    fn json_content_type_detection() {
        let mut r = HttpResponse::json(200, "{}");
        assert!(r.is_json());
        r.headers = vec![("Content-Type".into(), "application/json; charset=utf-8".into())];
        assert!(r.is_json());
        r.headers = vec![("Content-Type".into(), "application/jwk-set+json".into())];
        assert!(r.is_json());
        r.headers = vec![("Content-Type".into(), "text/html".into())];
        assert!(!r.is_json());
        r.headers.clear();
        assert!(!r.is_json());
    }
}
