//! Sends the core's [`HttpRequest`] values with reqwest and returns [`HttpResponse`] values.
//!
//! Redirects are never followed (the core decides what a 3xx means), connect and total
//! timeouts apply, response bodies are capped so a hostile server cannot exhaust memory, and an
//! optional egress policy ([`crate::egress`]) keeps requests away from internal addresses.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::http::{HttpRequest, HttpResponse, Method};

use crate::egress::{EgressError, EgressPolicy, PolicyResolver, Verdict};

/// Largest response body accepted (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Installs the crate's rustls crypto provider (ring, or aws-lc-rs with only feature
/// `rustls-aws-lc`) as the process default, for an application's (or a test's) own reqwest
/// clients built without one. This crate never calls it: its clients carry their provider in
/// their own TLS configuration ([`reqwest_builder`] starts from it), so the process default
/// stays the application's choice. Does nothing when one is installed already, or with
/// `native-tls` alone.
pub fn install_crypto_provider() {
    if let Some(provider) = crypto_provider() {
        let _ = provider.install_default();
    }
}

/// The rustls provider of this crate's clients, by feature (`rustls-ring` first).
fn crypto_provider() -> Option<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "rustls-ring")]
    return Some(rustls::crypto::ring::default_provider());
    #[cfg(all(not(feature = "rustls-ring"), feature = "rustls-aws-lc"))]
    return Some(rustls::crypto::aws_lc_rs::default_provider());
    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
    None
}

/// Which TLS the clients this crate builds use: `"rustls/ring"`, `"rustls/aws-lc-rs"` or
/// `"native-tls"` (features `rustls-ring`, `rustls-aws-lc`, `native-tls`, in that order).
pub fn tls_backend() -> &'static str {
    if cfg!(feature = "rustls-ring") {
        "rustls/ring"
    } else if cfg!(feature = "rustls-aws-lc") {
        "rustls/aws-lc-rs"
    } else if cfg!(feature = "native-tls") {
        "native-tls"
    } else {
        "none"
    }
}

/// The TLS configuration of every client this crate builds with rustls: the provider of the
/// features (ring by default, or aws-lc-rs) passed in (not installed process-wide), the platform's certificate verification as reqwest
/// itself sets it up (`rustls-platform-verifier`: the system's roots), TLS 1.2 and 1.3, HTTP/1.1.
/// Made once per process.
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
fn tls_config() -> Result<rustls::ClientConfig, String> {
    static CONFIG: std::sync::OnceLock<Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(crypto_provider().ok_or_else(|| {
                "no TLS backend: build mcp-oauth with feature rustls-ring, rustls-aws-lc or \
                 native-tls"
                    .to_owned()
            })?);
            let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| format!("the platform's certificate verifier: {e}"))?;
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS versions: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
}

/// The HTTP client for authorization requests.
#[derive(Clone, Debug)]
pub struct HttpClient {
    /// Connects wherever DNS says (policy off, or an allow-listed origin).
    open: reqwest::Client,
    /// Connects only to addresses the policy permits (`None` when the policy is off).
    filtered: Option<reqwest::Client>,
    policy: Arc<EgressPolicy>,
    timeouts: (Duration, Duration),
    /// The application's own client ([`HttpClient::from_reqwest`]): its settings are its own, so
    /// no filtered twin can be made from it.
    custom: bool,
    /// The application's own transport ([`HttpClient::from_transport`]), used instead of reqwest.
    transport: Option<Arc<dyn HttpTransport>>,
}

/// What [`HttpTransport::send`] returns.
pub type TransportFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>,
>;

/// An HTTP transport of the application's own for authorization requests
/// ([`HttpClient::from_transport`]): another HTTP stack, a recording proxy, or an in-memory
/// server in tests and examples. It sends the core's request as it is (method, URL, headers,
/// body) and returns the response without following redirects (the core decides what a 3xx
/// means); the body cap ([`MAX_BODY`]) is checked on what it returns.
///
/// The core's in-memory demo servers (`mcp_oauth_core` feature `demo`) as a transport, as in
/// the crate's quick-starts:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mcp_oauth::core::demo::DemoServer;
/// use mcp_oauth::core::http::{HttpRequest, HttpResponse};
/// use mcp_oauth::http::{HttpTransport, TransportFuture};
///
/// struct Demo(Arc<Mutex<DemoServer>>);
/// impl HttpTransport for Demo {
///     fn send<'a>(&'a self, req: &'a HttpRequest) -> TransportFuture<'a> {
///         let answer: HttpResponse = self.0.lock().unwrap().respond(req);
///         Box::pin(async move { Ok(answer) })
///     }
/// }
/// let http = mcp_oauth::HttpClient::from_transport(Arc::new(Demo(Arc::default())));
/// # let _ = http;
/// ```
pub trait HttpTransport: Send + Sync {
    /// Sends one request and returns the response (or why there is none).
    fn send<'a>(&'a self, req: &'a HttpRequest) -> TransportFuture<'a>;
}

impl std::fmt::Debug for dyn HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpTransport")
    }
}

/// Why a request failed in transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
    /// Set when the egress policy refused the request (nothing was sent).
    pub egress: Option<EgressError>,
}

impl HttpClient {
    /// A client with a 10 s connect timeout and a 30 s total timeout per request.
    pub fn new() -> Result<HttpClient, crate::Error> {
        HttpClient::with_timeouts(Duration::from_secs(10), Duration::from_secs(30))
    }

    /// A client with explicit timeouts (egress policy off).
    pub fn with_timeouts(connect: Duration, total: Duration) -> Result<HttpClient, crate::Error> {
        HttpClient::with_policy(connect, total, EgressPolicy::allow_all())
    }

    /// A client with explicit timeouts and egress policy.
    pub fn with_policy(
        connect: Duration,
        total: Duration,
        policy: EgressPolicy,
    ) -> Result<HttpClient, crate::Error> {
        let policy = Arc::new(policy);
        let open = builder(connect, total)?.build().map_err(build_error)?;
        let filtered = if policy.deny_internal {
            let resolver = Arc::new(PolicyResolver { policy: Arc::clone(&policy) });
            // A proxy would resolve the target's name where the resolver cannot check it.
            Some(
                builder(connect, total)?
                    .no_proxy()
                    .dns_resolver(resolver)
                    .build()
                    .map_err(build_error)?,
            )
        } else {
            None
        };
        Ok(HttpClient {
            open,
            filtered,
            policy,
            timeouts: (connect, total),
            custom: false,
            transport: None,
        })
    }

    /// Authorization requests over the application's own reqwest client: its TLS roots, client
    /// certificate (mTLS), proxy, timeouts and crypto provider. Start it from
    /// [`reqwest_builder`] to keep this crate's settings, or build it yourself with
    /// `redirect(reqwest::redirect::Policy::none())`: a response that arrives from another URL
    /// than the request's (the client followed a redirect) fails the request, since the core
    /// alone decides what a 3xx means and a code or token must not follow one. The response
    /// body cap ([`MAX_BODY`]) applies as usual. The egress policy stays off
    /// ([`HttpClient::with_egress`] refuses one that denies internal addresses: it needs the
    /// crate's own resolver).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // e.g. .add_root_certificate(..), .identity(..), .proxy(..)
    /// let mine = mcp_oauth::http::reqwest_builder()?.build()?;
    /// let http = mcp_oauth::http::HttpClient::from_reqwest(mine);
    /// # let _ = http;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_reqwest(client: reqwest::Client) -> HttpClient {
        HttpClient {
            open: client,
            filtered: None,
            policy: Arc::new(EgressPolicy::allow_all()),
            timeouts: (Duration::from_secs(10), Duration::from_secs(30)),
            custom: true,
            transport: None,
        }
    }

    /// Authorization requests through the application's own [`HttpTransport`] instead of
    /// reqwest (no egress policy: [`HttpClient::with_egress`] refuses one that denies internal
    /// addresses, as for [`HttpClient::from_reqwest`]). Fails only when the crate's idle
    /// reqwest client, kept for the type's other uses, cannot be made.
    pub fn from_transport(transport: Arc<dyn HttpTransport>) -> Result<HttpClient, crate::Error> {
        let mut client = HttpClient::from_reqwest(reqwest_builder()?.build().map_err(build_error)?);
        client.transport = Some(transport);
        Ok(client)
    }

    /// This client's timeouts with another egress policy. On a client from
    /// [`HttpClient::from_reqwest`], a policy that denies internal addresses is refused (it
    /// needs the crate's own DNS resolver); one that allows all keeps the application's client.
    pub fn with_egress(&self, policy: EgressPolicy) -> Result<HttpClient, crate::Error> {
        if self.custom {
            if policy.deny_internal {
                return Err(crate::Error::Usage(
                    "an egress policy that denies internal addresses needs this crate's own HTTP \
                     clients (they resolve names through the policy); it cannot be applied to a \
                     client passed to HttpClient::from_reqwest"
                        .to_owned(),
                ));
            }
            return Ok(self.clone());
        }
        HttpClient::with_policy(self.timeouts.0, self.timeouts.1, policy)
    }

    /// The egress policy in force.
    pub fn egress(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The client that may carry a request to `url`, or the policy's refusal.
    fn client_for(&self, url: &str) -> Result<&reqwest::Client, EgressError> {
        let Some(filtered) = &self.filtered else { return Ok(&self.open) };
        // An unparsable URL fails in reqwest with its own message; nothing is sent either way.
        let Ok(parsed) = reqwest::Url::parse(url) else { return Ok(filtered) };
        match self.policy.check_url(&parsed)? {
            Verdict::Open => Ok(&self.open),
            Verdict::Filtered => Ok(filtered),
        }
    }
}

fn build_error(e: reqwest::Error) -> crate::Error {
    crate::Error::transport_from(String::new(), e)
}

/// The one place reqwest clients start from: this crate's TLS configuration ([`tls_config`]: no
/// process-wide crypto provider needed or installed), redirects never followed (a token or code
/// must not travel to a URL nobody checked), and the crate's user agent. Callers add timeouts,
/// cookies or the egress resolver. Fails only when the TLS configuration cannot be made.
pub(crate) fn client_builder() -> Result<reqwest::ClientBuilder, String> {
    Ok(tls_builder()?
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mcp-oauth/", env!("CARGO_PKG_VERSION"))))
}

/// A builder with the TLS of the features (`tls_backend`).
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
fn tls_builder() -> Result<reqwest::ClientBuilder, String> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config()?))
}

#[cfg(all(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")), feature = "native-tls"))]
fn tls_builder() -> Result<reqwest::ClientBuilder, String> {
    Ok(reqwest::Client::builder().tls_backend_native())
}

#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc", feature = "native-tls")))]
fn tls_builder() -> Result<reqwest::ClientBuilder, String> {
    Err("no TLS backend: build mcp-oauth with feature rustls-ring, rustls-aws-lc or native-tls"
        .to_owned())
}

/// A reqwest client builder with this crate's settings, for an application that needs its own
/// (custom CA roots, a client certificate, a proxy) and passes the built client to
/// [`HttpClient::from_reqwest`] (authorization requests) and `mcp::AuthorizedHttpClient::with_http`
/// or `mcp::McpSession::connect_over` (MCP requests, feature `rmcp`): rustls with the ring provider and the platform's certificate verification,
/// set on this builder only (no process-wide crypto provider is installed), redirects never
/// followed, the crate's user agent.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, crate::Error> {
    client_builder().map_err(|message| crate::Error::transport(String::new(), message))
}

fn builder(connect: Duration, total: Duration) -> Result<reqwest::ClientBuilder, crate::Error> {
    let builder =
        client_builder().map_err(|message| crate::Error::transport(String::new(), message))?;
    Ok(builder
        .connect_timeout(connect)
        .timeout(total)
        // A fresh connection per request. Authorization requests are rare (discovery,
        // registration, one refresh per token lifetime), and a pooled keep-alive connection
        // that the server closes just as a token request goes out on it fails with
        // "connection closed before message completed": for a rotating refresh token the
        // client cannot know whether the server used it, so it must not be retried. Seen
        // once in the 200-user test (native/tests/server.rs) before this setting.
        .pool_max_idle_per_host(0))
}

impl HttpClient {
    /// Sends one request. With the egress policy on, a refused target fails with
    /// [`TransportError::egress`] set and nothing is sent.
    pub async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        if let Some(transport) = &self.transport {
            let response = transport.send(req).await?;
            if response.body.len() > MAX_BODY {
                return Err(TransportError {
                    url: req.url.clone(),
                    message: format!("the response body exceeds {MAX_BODY} bytes"),
                    egress: None,
                });
            }
            return Ok(response);
        }
        let fail = |e: &dyn std::fmt::Display| TransportError {
            url: req.url.clone(),
            message: e.to_string(),
            egress: None,
        };
        let refused = |e: EgressError| TransportError {
            url: req.url.clone(),
            message: e.to_string(),
            egress: Some(e),
        };
        let client = self.client_for(&req.url).map_err(refused)?;
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = client.request(method, &req.url);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body.clone());
        }
        let mut resp = builder.send().await.map_err(|e| match egress_refusal(&e) {
            Some(denied) => refused(denied),
            None => fail(&describe(&e)),
        })?;
        // A client that followed a redirect (an application's own, HttpClient::from_reqwest)
        // sent the request on to a URL the core never checked: refuse what came back.
        if reqwest::Url::parse(&req.url).ok().as_ref() != Some(resp.url()) {
            return Err(fail(&format!(
                "the HTTP client followed a redirect to {}: build it with \
                 redirect::Policy::none() (mcp_oauth::http::reqwest_builder does); the core \
                 decides what a redirect means",
                resp.url()
            )));
        }
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

/// The policy's refusal inside a reqwest error (raised by the resolver).
fn egress_refusal(e: &reqwest::Error) -> Option<EgressError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(denied) = s.downcast_ref::<EgressError>() {
            return Some(denied.clone());
        }
        source = s.source();
    }
    None
}

/// reqwest's messages hide the cause behind "error sending request"; add the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = crate::error::error_chain(e);
    if e.is_timeout() {
        msg.push_str(" (timed out)");
    }
    msg
}
