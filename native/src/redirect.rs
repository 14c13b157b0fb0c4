//! Getting the authorization response back from the browser.
//!
//! Three ways, one per `--browser` mode of the CLI:
//!
//! - [`LoopbackListener`]: a one-shot HTTP/1.1 server on the loopback redirect URI
//!   (RFC 8252 §7.3). It answers only the redirect URI's path, hands the callback URL to the host
//!   and keeps the browser waiting until the host says how the authorization ended, so the page
//!   the user sees tells the truth.
//! - [`open_browser`]: starts the user's browser (`BROWSER`, else the OS opener) on the
//!   authorization URL without waiting for it.
//! - [`follow`]: for authorization servers that approve without a user (test servers, some
//!   machine-to-machine setups), follows the redirects itself and returns the callback URL
//!   without ever requesting the redirect URI.
//!
//! Typical use (the CLI adds Ctrl-C through `tokio::select!`):
//!
//! ```no_run
//! # async fn run(authorization_url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_oauth::redirect::{open_browser, LoopbackListener};
//! use std::time::Duration;
//!
//! let mut listener = LoopbackListener::bind("http://localhost:0/auth/redirect").await?;
//! let redirect_uri = listener.redirect_uri(); // send this one to the server
//! # let _ = redirect_uri;
//! if let Err(e) = open_browser(authorization_url) {
//!     eprintln!("{e}\n{authorization_url}");
//! }
//! let callback = tokio::time::timeout(Duration::from_secs(300), listener.next_callback()).await??;
//! // Hand `callback.url` to the flow, then tell the browser how it went:
//! callback.responder.finish(Ok(()));
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mcp_oauth_core::url::{RedirectUri, Url as CoreUrl};
use reqwest::Url;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

mod browser;
mod follow;

pub use browser::{open_browser, open_browser_with};
pub use follow::follow;

/// The port the listener uses when the redirect URI names none (defined in the core).
pub use mcp_oauth_core::url::DEFAULT_LOOPBACK_PORT as DEFAULT_PORT;

/// How many redirects [`follow`] takes before giving up.
pub const MAX_REDIRECTS: usize = 20;

/// How long a browser connection may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Callbacks received but not yet taken by [`LoopbackListener::next_callback`]; further
/// browser requests wait for room.
const CALLBACK_QUEUE: usize = 8;

/// What went wrong while receiving the authorization response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// The redirect URI does not parse or cannot be served by the loopback listener.
    #[error("the redirect URI `{uri}` cannot be used: {reason}")]
    InvalidRedirectUri {
        /// The redirect URI as given.
        uri: String,
        /// What is wrong with it and what to use instead.
        reason: String,
    },
    /// The redirect URI's host is not a loopback address.
    #[error(
        "the redirect URI `{uri}` is not a loopback address: the built-in listener only serves \
         loopback redirect URIs (`http://localhost:<port>/…`, `http://127.0.0.1:<port>/…` or \
         `http://[::1]:<port>/…`); use one of those, or `--browser print` and finish by hand"
    )]
    NotLoopback {
        /// The redirect URI as given.
        uri: String,
    },
    /// The listening socket could not be opened (usually: the port is taken).
    #[error(
        "cannot listen on {addr} for the redirect URI: {source}; if another program uses that \
         port, pick another with `--redirect-uri http://localhost:<other-port>{path}`, or use \
         port 0 (`--redirect-uri http://localhost:0{path}`) for any free port"
    )]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The redirect URI's path, for the suggestion.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// Accepting browser connections failed for good (e.g. out of file descriptors).
    #[error(
        "the redirect listener cannot accept connections: {source}; start the authorization again"
    )]
    Accept {
        /// The operating system's error.
        source: io::Error,
    },
    /// A URL given to [`open_browser`] or [`follow`] is not usable.
    #[error("refusing the URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The browser could not be started.
    #[error("could not start `{program}` to open the browser: {source}; open the URL by hand (or set BROWSER to your browser's command)")]
    Spawn {
        /// The program that was tried (from `BROWSER` or the OS opener).
        program: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// No way to open a browser on this platform.
    #[error("no known way to open a browser on this platform; open the URL by hand (or set BROWSER to your browser's command)")]
    NoOpener,
    /// Follow mode would send plain `http` to a host that is not loopback.
    #[error(
        "follow mode refuses to request `{url}`: plain http is only allowed to loopback hosts; \
         the authorization server must use https"
    )]
    InsecureUrl {
        /// The URL that was not requested.
        url: String,
    },
    /// Follow mode went round more than [`MAX_REDIRECTS`] redirects.
    #[error(
        "the authorization server redirected more than {max} times (last to {url}) without \
         reaching the redirect URI; use `--browser open` or `--browser print` to finish in a browser"
    )]
    TooManyRedirects {
        /// The limit.
        max: usize,
        /// Where the last redirect pointed.
        url: String,
    },
    /// Follow mode got a page instead of a redirect: a login or consent form.
    #[error(
        "the authorization server wants user interaction (it answered {url} with a page, not a \
         redirect); follow mode only works with servers that approve without a user; use \
         `--browser open` or `--browser print`"
    )]
    InteractionRequired {
        /// The URL that answered with a page.
        url: String,
    },
    /// Follow mode got an HTTP error status.
    #[error("the authorization server answered HTTP {status} at {url}; check the authorization URL and the server's logs, or use `--browser open` to see the page")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The URL requested.
        url: String,
    },
    /// Follow mode got a redirect status without a usable `Location`.
    #[error("the authorization server answered HTTP {status} at {url} without a usable Location header: {reason}")]
    BadLocation {
        /// The status code.
        status: u16,
        /// The URL requested.
        url: String,
        /// What is wrong with the `Location` header.
        reason: String,
    },
    /// Follow mode did not reach the redirect URI in time.
    #[error("follow mode timed out after {after:?} (waiting for {url}); check that the authorization server is reachable, or use `--browser open`")]
    Timeout {
        /// The time limit.
        after: Duration,
        /// The URL being requested when time ran out.
        url: String,
    },
    /// Follow mode could not send a request (connection refused, TLS, DNS…).
    #[error("follow mode could not request {url}: {message}")]
    Request {
        /// The URL requested.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for follow mode: {0}")]
    Client(String),
}

impl RedirectError {
    /// Stable code, shared with the npm package: the loopback listener's failures are
    /// `redirect_failed`; follow mode's are `follow_failed`, and its deadline
    /// `authorization_timed_out` (the core's code for an authorization not completed in time).
    pub fn code(&self) -> &'static str {
        match self {
            RedirectError::Timeout { .. } => "authorization_timed_out",
            RedirectError::InsecureUrl { .. }
            | RedirectError::TooManyRedirects { .. }
            | RedirectError::InteractionRequired { .. }
            | RedirectError::HttpStatus { .. }
            | RedirectError::BadLocation { .. }
            | RedirectError::Request { .. }
            | RedirectError::Client(_) => "follow_failed",
            _ => "redirect_failed",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loopback listener
// ---------------------------------------------------------------------------------------------

/// A one-shot HTTP/1.1 server for a loopback redirect URI.
///
/// [`bind`](Self::bind) opens the socket; [`next_callback`](Self::next_callback) serves
/// browser connections until a `GET` on the redirect URI's path with a query arrives. Other
/// paths (`/favicon.ico`…) get 404 and are never taken as the callback. Each browser request on
/// the path stays open until the host finishes the [`Callback`]'s [`CallbackResponder`].
///
/// Dropping the listener (or the future of `next_callback`, e.g. on timeout or Ctrl-C) is
/// clean: dropping the listener closes the listening socket at once, so the port is free again;
/// connections still open are shut down gracefully (a browser waiting on a callback that the
/// host never took gets an error page).
pub struct LoopbackListener {
    /// One socket, or two for `localhost` (`127.0.0.1` and `[::1]`, the same port).
    listeners: Vec<TcpListener>,
    redirect_uri: String,
    ctx: Arc<ConnCtx>,
    callbacks: mpsc::Receiver<Callback>,
    /// Dropped with the listener: tells the connection tasks to shut down.
    _shutdown: watch::Sender<()>,
    /// The connection tasks, so that [`LoopbackListener::close`] can wait for their answers.
    tasks: tokio::task::JoinSet<()>,
    shutdown_rx: watch::Receiver<()>,
}

/// What every connection task needs.
struct ConnCtx {
    /// The redirect URI's path; the only one answered.
    path: String,
    /// `host[:port]` for requests without a `Host` header (HTTP/1.0).
    authority: String,
    callbacks: mpsc::Sender<Callback>,
}

impl Drop for LoopbackListener {
    /// Connections still being answered go on by themselves (a `JoinSet` would abort them).
    fn drop(&mut self) {
        self.tasks.detach_all();
    }
}

impl fmt::Debug for LoopbackListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackListener")
            .field("local_addr", &self.local_addr().ok())
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The sockets of a loopback redirect URI, bound but not yet served: [`LoopbackListener::reserve`]
/// binds them (no async runtime needed) so that the concrete redirect URI of port 0 can be
/// registered before the listener runs, with no window in which another program could take the
/// port; [`Reservation::listen`] turns them into the listener.
pub struct Reservation {
    sockets: Vec<std::net::TcpListener>,
    redirect_uri: String,
    path: String,
    authority: String,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<_> = self.sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
        f.debug_struct("Reservation")
            .field("local_addrs", &addrs)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl Reservation {
    /// The concrete redirect URI (the bound port filled in for port 0 or no port).
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Starts serving the reserved sockets. Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`RedirectError::Accept`] when a socket cannot be registered with the runtime.
    pub fn listen(self) -> Result<LoopbackListener, RedirectError> {
        let mut listeners = Vec::with_capacity(self.sockets.len());
        for socket in self.sockets {
            let listener = socket
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(socket))
                .map_err(|source| RedirectError::Accept { source })?;
            listeners.push(listener);
        }
        let (tx, rx) = mpsc::channel(CALLBACK_QUEUE);
        let (shutdown, shutdown_rx) = watch::channel(());
        Ok(LoopbackListener {
            listeners,
            redirect_uri: self.redirect_uri,
            ctx: Arc::new(ConnCtx { path: self.path, authority: self.authority, callbacks: tx }),
            callbacks: rx,
            _shutdown: shutdown,
            shutdown_rx,
            tasks: tokio::task::JoinSet::new(),
        })
    }
}

/// How often a free port is drawn again when its `[::1]` twin is taken (port 0 on `localhost`).
const DUAL_STACK_TRIES: usize = 8;

/// Whether a bind error means the address family or address does not exist here (no IPv6).
fn unavailable(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported)
        || e.raw_os_error() == Some(97) // EAFNOSUPPORT on Linux
}

/// Binds the addresses a redirect URI implies ([`RedirectUri::listen_addrs`]): the first, then
/// the others (`[::1]` for `localhost`, since a browser may resolve it to either) on the same
/// port where IPv6 loopback exists. Port 0 draws one free port for all.
fn bind_sockets(
    addrs: &[SocketAddr],
    path: &str,
) -> Result<Vec<std::net::TcpListener>, RedirectError> {
    let bind = |addr: SocketAddr| {
        std::net::TcpListener::bind(addr).map_err(|source| RedirectError::Bind {
            addr,
            path: path.to_owned(),
            source,
        })
    };
    let Some((&first, others)) = addrs.split_first() else {
        return Err(RedirectError::Accept { source: io::Error::from(io::ErrorKind::NotFound) });
    };
    let mut tries = 0;
    'draw: loop {
        let main = bind(first)?;
        let bound = main.local_addr().map_err(|source| RedirectError::Accept { source })?.port();
        let mut sockets = vec![main];
        for other in others {
            let addr = SocketAddr::new(other.ip(), bound);
            match std::net::TcpListener::bind(addr) {
                Ok(socket) => sockets.push(socket),
                Err(e) if unavailable(&e) => {}
                Err(e)
                    if first.port() == 0
                        && e.kind() == io::ErrorKind::AddrInUse
                        && tries < DUAL_STACK_TRIES =>
                {
                    tries += 1;
                    continue 'draw;
                }
                // Another program on [::1]:port would receive the browsers that resolve
                // `localhost` to IPv6, and with them the authorization code.
                Err(source) => {
                    return Err(RedirectError::Bind { addr, path: path.to_owned(), source })
                }
            }
        }
        return Ok(sockets);
    }
}

impl LoopbackListener {
    /// Opens the listening sockets for `redirect_uri` ([`LoopbackListener::reserve`], then
    /// [`Reservation::listen`]).
    ///
    /// The URI must be `http` on a loopback host: `localhost` (bound on `127.0.0.1` and, where
    /// IPv6 loopback exists, on `[::1]` with the same port), an address in `127.0.0.0/8`, or
    /// `[::1]`. With no port in the URI the listener takes port [`DEFAULT_PORT`] (8000) and
    /// [`redirect_uri`](Self::redirect_uri) names it, since the browser would otherwise go to
    /// port 80; port 0 takes any free port, and the redirect URI names the port actually bound.
    ///
    /// # Errors
    ///
    /// [`RedirectError::InvalidRedirectUri`] (unparsable, not `http`, has a fragment or user
    /// info), [`RedirectError::NotLoopback`], or [`RedirectError::Bind`] when the port is taken.
    pub async fn bind(redirect_uri: &str) -> Result<LoopbackListener, RedirectError> {
        LoopbackListener::reserve(redirect_uri)?.listen()
    }

    /// Binds the sockets for `redirect_uri` without serving them yet (see [`Reservation`]);
    /// the same rules and errors as [`LoopbackListener::bind`].
    pub fn reserve(redirect_uri: &str) -> Result<Reservation, RedirectError> {
        let invalid = |reason: &str| RedirectError::InvalidRedirectUri {
            uri: redirect_uri.to_owned(),
            reason: reason.to_owned(),
        };
        // One parser for redirect URIs: the core's (RFC 8252 §7.3 loopback rules).
        let url = CoreUrl::parse(redirect_uri).map_err(|e| invalid(&e.problem.to_string()))?;
        if !url.is_loopback() {
            return Err(RedirectError::NotLoopback { uri: redirect_uri.to_owned() });
        }
        if url.is_https() {
            return Err(invalid(
                "the loopback listener serves plain http (RFC 8252 §7.3); use `http://` with a \
                 loopback host, e.g. `http://localhost/auth/redirect`",
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid(
                "a redirect URI must not have a fragment (RFC 6749 §3.1.2); remove the `#…`",
            ));
        }
        let uri = RedirectUri::parse(redirect_uri).map_err(|e| invalid(&e.problem.to_string()))?;
        let addrs = uri.listen_addrs();
        let sockets = bind_sockets(&addrs, url.path())?;
        let bound = sockets
            .first()
            .map_or_else(|| Err(io::Error::from(io::ErrorKind::NotConnected)), |s| s.local_addr())
            .map_err(|source| RedirectError::Accept { source })?;

        // The concrete URI: as given when it names its port, else with the bound port written.
        let redirect_uri = match uri.explicit_port() {
            Some(port) if port != 0 => uri.as_str().to_owned(),
            _ => uri.with_port(bound.port()).as_str().to_owned(),
        };
        let host = url.host();
        let authority =
            if bound.port() == 80 { host.to_owned() } else { format!("{host}:{}", bound.port()) };
        Ok(Reservation { sockets, redirect_uri, path: url.path().to_owned(), authority })
    }

    /// The redirect URI to send to the authorization server: exactly the one given to
    /// [`bind`](Self::bind), except that the real port is filled in when it asked for port 0 or
    /// named none.
    pub fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The operating system's error, which should not happen on a bound socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.listeners.first() {
            Some(l) => l.local_addr(),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "no socket")),
        }
    }

    /// Every address the listener is bound to (`127.0.0.1` and `[::1]` for `localhost`).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Serves browser connections until a callback arrives: a `GET` on the redirect URI's path
    /// with a query (`?code=…&state=…` or `?error=…`).
    ///
    /// The browser's request stays open until [`Callback::responder`] is finished (or
    /// dropped). Call again for the next callback, e.g. after the flow rejected a forged one.
    ///
    /// Cancel safe: wrap it in `tokio::time::timeout` or `tokio::select!`; a callback that
    /// arrives while no call is pending is kept for the next call.
    ///
    /// # Errors
    ///
    /// [`RedirectError::Accept`] when the socket cannot accept connections any more.
    pub async fn next_callback(&mut self) -> Result<Callback, RedirectError> {
        loop {
            tokio::select! {
                biased;
                // Never `None`: `self.ctx` holds a sender.
                Some(callback) = self.callbacks.recv() => return Ok(callback),
                accepted = accept_any(&self.listeners) => match accepted {
                    Ok((stream, _peer)) => self.serve(stream),
                    Err(e) if is_connection_error(&e) => continue,
                    Err(source) => return Err(RedirectError::Accept { source }),
                },
            }
        }
    }

    /// Closes the listening socket and waits (up to `limit`) until every browser that is being
    /// answered has received its page. Call it after [`CallbackResponder::finish`] when the
    /// process is about to exit, so the page is not cut off.
    pub async fn close(mut self, limit: std::time::Duration) {
        let mut tasks = std::mem::take(&mut self.tasks);
        // Closes the socket and tells the connections to finish (see `Drop`).
        drop(self);
        let _ =
            tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} }).await;
    }

    /// Serves one browser connection in its own task (one request: no keep-alive).
    fn serve(&mut self, stream: TcpStream) {
        let ctx = Arc::clone(&self.ctx);
        let mut shutdown = self.shutdown_rx.clone();
        // Finished connections are reaped as new ones come, so the set stays small.
        while self.tasks.try_join_next().is_some() {}
        self.tasks.spawn(async move {
            let service = service_fn(move |req| {
                let ctx = Arc::clone(&ctx);
                async move { Ok::<_, Infallible>(handle(&ctx, req).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Only fires when the listener is dropped (nothing is ever sent).
                _ = shutdown.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// The next connection on any of the sockets (accept is cancel safe, so is this).
async fn accept_any(listeners: &[TcpListener]) -> io::Result<(TcpStream, SocketAddr)> {
    match listeners {
        [one] => one.accept().await,
        [a, b, ..] => tokio::select! {
            r = a.accept() => r,
            r = b.accept() => r,
        },
        [] => std::future::pending().await,
    }
}

/// Accept errors that concern one connection only; the listener keeps going.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// True when the host is loopback (follow mode allows plain http only there); the core's check.
fn is_loopback_url(url: &Url) -> bool {
    CoreUrl::parse(url.as_str()).is_ok_and(|u| u.is_loopback())
}

/// A callback: the URL the browser was redirected to, and the way to answer the browser.
pub struct Callback {
    /// The full absolute URL as the browser requested it
    /// (`http://localhost:8000/auth/redirect?code=…&state=…`), built from the `Host` header and
    /// the request target. Pass it to the flow's `handle_callback`, which checks it against the
    /// redirect URI.
    pub url: String,
    /// Answers the browser; until then its request stays open.
    pub responder: CallbackResponder,
}

impl fmt::Debug for Callback {
    /// Leaves out the query: it carries the code and `state`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let without_query = self.url.split(['?', '#']).next().unwrap_or_default();
        f.debug_struct("Callback")
            .field("url", &format_args!("{without_query}?…"))
            .finish_non_exhaustive()
    }
}

/// Answers the browser request that delivered a [`Callback`].
///
/// Dropping it without [`finish`](Self::finish) shows the browser a generic error page.
pub struct CallbackResponder {
    tx: oneshot::Sender<Result<(), String>>,
}

impl fmt::Debug for CallbackResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackResponder").finish_non_exhaustive()
    }
}

impl CallbackResponder {
    /// Shows the browser how the authorization ended: `Ok(())` gives the success page
    /// ("Authorized — you can close this window."), `Err(message)` an error page with the
    /// message (HTML-escaped; write it for the user, without secrets).
    ///
    /// Does nothing if the browser has gone away.
    pub fn finish(self, outcome: Result<(), String>) {
        let _ = self.tx.send(outcome);
    }
}

type Body = Full<Bytes>;

/// Answers one browser request.
async fn handle(ctx: &ConnCtx, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() != ctx.path {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        return resp;
    }
    let Some(query) = req.uri().query() else {
        return plain(
            StatusCode::BAD_REQUEST,
            "this address receives the authorization server's redirect (`?code=…&state=…`); \
             there is nothing to see here\n",
        );
    };
    let host = match req.headers().get(header::HOST) {
        None => ctx.authority.as_str(),
        Some(h) => match h.to_str() {
            Ok(h) if is_plausible_authority(h) => h,
            _ => return plain(StatusCode::BAD_REQUEST, "bad Host header\n"),
        },
    };
    let url = format!("http://{host}{}?{query}", req.uri().path());
    let (tx, rx) = oneshot::channel();
    let callback = Callback { url, responder: CallbackResponder { tx } };
    if ctx.callbacks.send(callback).await.is_err() {
        return html(&error_page(
            "The application is no longer waiting for this authorization. Return to it and \
             start again.",
        ));
    }
    match rx.await {
        Ok(Ok(())) => html(&success_page()),
        Ok(Err(message)) => html(&error_page(&message)),
        Err(_) => html(&error_page(
            "The application did not finish the authorization. Return to it for details.",
        )),
    }
}

/// A `Host` value that can stand in a URL's authority (no path, query or user info).
fn is_plausible_authority(h: &str) -> bool {
    !h.is_empty()
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

fn with_common_headers(mut resp: Response<Body>, content_type: &'static str) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page's URL carries the code: never leak it to other sites.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    with_common_headers(resp, "text/plain; charset=utf-8")
}

fn html(page: &str) -> Response<Body> {
    let resp = Response::new(Full::new(Bytes::from(page.to_owned())));
    with_common_headers(resp, "text/html; charset=utf-8")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;line-height:1.5}}</style>\n\
         </head>\n<body>\n{body}\n</body>\n</html>\n"
    )
}

fn success_page() -> String {
    page("Authorized", "<h1>Authorized — you can close this window.</h1>")
}

fn error_page(message: &str) -> String {
    page(
        "Authorization failed",
        &format!(
            "<h1>Authorization failed</h1>\n<p>{}</p>\n\
             <p>You can close this window and return to the application.</p>",
            escape_html(message)
        ),
    )
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
