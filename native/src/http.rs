//! Sends the core's [`HttpRequest`] values with reqwest and returns [`HttpResponse`] values.
//!
//! Redirects are never followed (the core decides what a 3xx means), connect and total
//! timeouts apply, and response bodies are capped so a hostile server cannot exhaust memory.

use std::time::Duration;

use mcp_oauth_core::http::{HttpRequest, HttpResponse, Method};

/// Largest response body accepted (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Installs rustls' ring crypto provider once per process (reqwest is built without a default
/// provider to avoid the aws-lc C build).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client for authorization requests.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
}

/// Why a request failed in transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

impl HttpClient {
    /// A client with a 10 s connect timeout and a 30 s total timeout per request.
    pub fn new() -> Result<HttpClient, crate::Error> {
        HttpClient::with_timeouts(Duration::from_secs(10), Duration::from_secs(30))
    }

    /// A client with explicit timeouts.
    pub fn with_timeouts(connect: Duration, total: Duration) -> Result<HttpClient, crate::Error> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect)
            .timeout(total)
            .user_agent(concat!("mcp-oauth/", env!("CARGO_PKG_VERSION")))
            // A fresh connection per request. Authorization requests are rare (discovery,
            // registration, one refresh per token lifetime), and a pooled keep-alive connection
            // that the server closes just as a token request goes out on it fails with
            // "connection closed before message completed": for a rotating refresh token the
            // client cannot know whether the server used it, so it must not be retried. Seen
            // once in the 200-user test (native/tests/server.rs) before this setting.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| crate::Error::Transport { url: String::new(), message: e.to_string() })?;
        Ok(HttpClient { client })
    }

    /// Sends one request.
    pub async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let fail = |e: &dyn std::fmt::Display| TransportError {
            url: req.url.clone(),
            message: e.to_string(),
        };
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, &req.url);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body.clone());
        }
        let mut resp = builder.send().await.map_err(|e| fail(&describe(&e)))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&describe(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(fail(&format!("the response body exceeds {MAX_BODY} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body })
    }
}

/// reqwest's messages hide the cause behind "error sending request"; add the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        msg.push_str(" (timed out)");
    }
    msg
}
