//! Multi-user server mode (feature `server`): one process serves many users, each with an
//! isolated OAuth client and MCP session per MCP server, and asks each user — only that user —
//! for consent in their own browser when a tool call needs it.
//!
//! - [`UserManager`]: (user, MCP server) → [`OAuthClient`](crate::OAuthClient) + MCP session,
//!   created on first use, idle ones evicted; tokens in the store under (user, resource, issuer).
//! - [`MultiUserServer::router`]: axum routes to mount on the host's router:
//!   `GET /auth/start/{id}` (the one-time consent link a user gets: checks the caller, binds the
//!   browser to the `state`, redirects to the authorization server; see [`consent`]),
//!   `GET /auth/redirect` (the OAuth callback, completed by whichever replica receives it, only
//!   in the browser bound to the `state`: the pending authorization is found by `state` in the
//!   [`PendingStore`]),
//!   `GET /ws` (WebSocket), `POST /v1/chat` and `GET /v1/chat/{request_id}?wait=<s>`
//!   (HTTP with long-poll), `POST /v1/chat/{request_id}/cancel`. Messages: [`messages`].
//!   A request that waited for consent is answered by any replica ([`results`]).
//! - [`identity`]: session cookie, `?session=` on the WebSocket URL, or a verified bearer JWT.
//! - [`serve`]: the server as a service (`mcp-oauth serve`): options, stores, where to listen,
//!   `/healthz` and `/readyz`, a graceful stop.
//!
//! No protocol logic lives here: the core decides (through [`OAuthClient`](crate::OAuthClient)).

pub mod consent;
pub mod identity;
mod json_errors;
mod manager;
pub mod messages;
pub mod public_url;
pub mod results;
mod routes;
pub mod serve;
pub mod servers_without_auth;
mod waiting;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcp_oauth_core::dpop::DpopMode;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::ClientConfig;
use mcp_oauth_core::token::ClientAssertionSigner;
use tokio::sync::watch;

use crate::cache::MetadataCache;
use crate::egress::EgressPolicy;
use crate::http::HttpClient;
use crate::log::server as log;
use crate::mcp::McpSession;
use crate::store::{ConsentOutcome, PendingRecord, PendingStore, StoreError, TokenStore};
use crate::Error;

pub use consent::StartError;
pub use identity::{Identity, IdentityConfigError, IdentityError, JwtConfig, JwtKey};
pub use manager::{UserManager, UserSession};
use messages::{Action, ChatCode, ChatReply, ChatRequest};
use waiting::{publish, Watched};

/// The multi-user server's configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The redirect URI registered with authorization servers; its path is where
    /// [`MultiUserServer::router`] serves the callback (`/auth/redirect`). Default
    /// `http://localhost:8000/auth/redirect`; a loopback URI without a port means 8000.
    pub redirect_uri: String,
    /// The MCP servers users may reach: (name, URL).
    pub servers: Vec<(String, String)>,
    /// The MCP servers users may reach without authorization (stdio and sse groups of the
    /// configuration file): each user gets a connection of their own, a stdio server a process
    /// of their own ([`servers_without_auth`] says why): at most `max_sessions` of them, each
    /// stopped after `idle_timeout` unused.
    pub servers_without_auth: Vec<(String, crate::mcp::McpTarget)>,
    /// How the server identifies itself to authorization servers.
    pub client: ClientConfig,
    /// Scopes to request instead of each server's (space-delimited).
    pub scopes: Option<String>,
    /// Per-issuer quirk settings (`server_policies` of the configuration file).
    pub policies: Vec<(String, ServerPolicy)>,
    /// Signs `private_key_jwt` client assertions for a pre-registered client with that method
    /// (`private_key_file` of the configuration file).
    pub assertion_signer: Option<Arc<dyn ClientAssertionSigner + Send + Sync>>,
    /// Tokens and registrations, by (user, resource, issuer).
    pub tokens: Arc<dyn TokenStore>,
    /// Pending authorizations, by `state` (shared by replicas for any to finish a callback).
    pub pending: Arc<dyn PendingStore>,
    /// How long a user has to consent (default 5 minutes).
    pub consent_timeout: Duration,
    /// How long the reply of a request that waited for consent stays in the shared store for
    /// any replica to answer (default 5 minutes; [`results`]).
    pub result_ttl: Duration,
    /// Sessions unused this long are evicted from memory (default 15 minutes).
    pub idle_timeout: Duration,
    /// At most this many (user, server) sessions in memory (default 10 000).
    pub max_sessions: usize,
    /// Discovery results, shared by all users.
    pub cache: Arc<MetadataCache>,
    /// The HTTP client for authorization servers.
    pub http: HttpClient,
    /// The HTTP client for MCP servers, shared by every user's session (one connection pool per
    /// process; [`crate::mcp::mcp_http_client`]).
    pub mcp_http: reqwest::Client,
    /// At most this many requests of one user run at once (HTTP and WebSocket together,
    /// including those waiting for consent); past it: `too_many_requests` (default 16).
    pub max_requests_per_user: usize,
    /// At most this many requests run at once in this process (default 10 000).
    pub max_requests_total: usize,
    /// The largest request: WebSocket message or `POST /v1/chat` body, bytes (default 256 KiB).
    pub max_message_bytes: usize,
    /// Consent links open only in a browser identified as the requesting user (session cookie
    /// or bearer JWT); an unidentified browser gets a 403 page. Default `false`: a link also
    /// opens on its one-time secret alone, which lets HTTP-API users (whose browsers carry no
    /// session of this server) consent, but lets a user who forwards their link get another
    /// person's consent stored as theirs. Turn it on whenever users' browsers carry the session.
    pub require_identified_consent: bool,
    /// Every user registers a client of their own at each authorization server. Default
    /// `false`: one dynamic registration per authorization server, shared by all users (kept in
    /// the token store under [`SHARED_REGISTRATIONS_USER`]), as an application normally has one
    /// client per authorization server.
    pub registration_per_user: bool,
    /// Where [`ServerConfig::http`] may connect: by default internal addresses are refused
    /// ([`EgressPolicy::deny_internal`]), so that an MCP server's 401 or metadata cannot point
    /// this server at the internal network; add on-premise authorization servers to its
    /// allow-list. Applied to `http` by [`MultiUserServer::new`].
    pub egress: EgressPolicy,
    /// When tokens are DPoP-bound (RFC 9449; `dpop` of the configuration file's `mcp_oauth2`
    /// provider), for every MCP server without an entry in [`ServerConfig::server_dpop`].
    /// Default `Auto`. Unless `Never`, each user gets an ES256 key per MCP server, kept in their
    /// store entry with the tokens bound to it ([`crate::dpop`]), so that any replica and any
    /// restart proves possession with the same key.
    pub dpop: DpopMode,
    /// Per MCP server (by name): its DPoP mode instead of [`ServerConfig::dpop`].
    pub server_dpop: Vec<(String, DpopMode)>,
    /// The URL users' browsers reach this server at behind a reverse proxy
    /// ([`public_url::PublicUrl`]): consent links start with it and WebSockets from its origin
    /// are accepted. Default `None`: links start at the redirect URI's origin and a WebSocket's
    /// `Origin` must match its `Host`.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("redirect_uri", &self.redirect_uri)
            .field("servers", &self.servers)
            .field("servers_without_auth", &self.servers_without_auth)
            .field("dpop", &self.dpop)
            .field("server_dpop", &self.server_dpop)
            .field("consent_timeout", &self.consent_timeout)
            .field("result_ttl", &self.result_ttl)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_sessions", &self.max_sessions)
            .field("max_requests_per_user", &self.max_requests_per_user)
            .field("max_requests_total", &self.max_requests_total)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("require_identified_consent", &self.require_identified_consent)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Defaults around the two stores: dynamic registration as "mcp-oauth-server", the default
    /// redirect URI, 5 minutes to consent, 15 minutes idle, 10 000 sessions.
    pub fn new(
        tokens: Arc<dyn TokenStore>,
        pending: Arc<dyn PendingStore>,
    ) -> Result<ServerConfig, Error> {
        Ok(ServerConfig {
            redirect_uri: crate::client::DEFAULT_REDIRECT_URI.to_owned(),
            servers: Vec::new(),
            servers_without_auth: Vec::new(),
            client: ClientConfig::dynamic("mcp-oauth-server"),
            scopes: None,
            policies: Vec::new(),
            assertion_signer: None,
            tokens,
            pending,
            consent_timeout: Duration::from_secs(300),
            result_ttl: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(900),
            max_sessions: 10_000,
            cache: Arc::new(MetadataCache::new()),
            http: HttpClient::new()?.with_egress(EgressPolicy::deny_internal())?,
            mcp_http: crate::mcp::mcp_http_client()?,
            max_requests_per_user: 16,
            max_requests_total: 10_000,
            max_message_bytes: 256 * 1024,
            require_identified_consent: false,
            registration_per_user: false,
            egress: EgressPolicy::deny_internal(),
            dpop: DpopMode::Auto,
            server_dpop: Vec::new(),
            public_url: None,
        })
    }

    /// Sets the DPoP mode of the MCP server `name` ([`ServerConfig::server_dpop`]).
    pub fn with_server_dpop(mut self, name: impl Into<String>, mode: DpopMode) -> ServerConfig {
        let name = name.into();
        self.server_dpop.retain(|(n, _)| *n != name);
        self.server_dpop.push((name, mode));
        self
    }

    /// The DPoP mode of the MCP server `name`.
    pub fn dpop_of(&self, name: &str) -> DpopMode {
        self.server_dpop.iter().find(|(n, _)| n == name).map_or(self.dpop, |(_, m)| *m)
    }

    /// Adds an MCP server under `name`.
    pub fn server(mut self, name: impl Into<String>, url: impl Into<String>) -> ServerConfig {
        self.servers.push((name.into(), url.into()));
        self
    }

    /// The first of [`redirect_listen_addrs`](Self::redirect_listen_addrs) (`127.0.0.1` for
    /// `localhost`); `None` for other hosts (the host decides).
    pub fn redirect_listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.redirect_listen_addrs().first().copied()
    }

    /// Every socket address a loopback redirect URI implies, to be bound together:
    /// `127.0.0.1` and `[::1]` for `localhost`, the address itself for an IP literal, port 8000
    /// when the URI names none ([`RedirectUri::listen_addrs`]); empty for other hosts.
    ///
    /// [`RedirectUri::listen_addrs`]: mcp_oauth_core::url::RedirectUri::listen_addrs
    pub fn redirect_listen_addrs(&self) -> Vec<std::net::SocketAddr> {
        mcp_oauth_core::url::RedirectUri::parse(&self.redirect_uri)
            .map(|uri| uri.listen_addrs())
            .unwrap_or_default()
    }
}

/// The store user that holds the shared dynamic registrations
/// ([`ServerConfig::registration_per_user`]): its control character keeps it apart from every
/// identity ([`identity::valid_user`]).
pub const SHARED_REGISTRATIONS_USER: &str = "\u{0}registrations";

/// A pending HTTP request (after `oauth_required`), polled with `GET /v1/chat/{id}`.
struct PendingRequest {
    user: String,
    reply: watch::Receiver<Option<ChatReply>>,
    created: Instant,
}

/// The multi-user server: manager, identity, consent coordination. Cheap to clone.
#[derive(Clone)]
pub struct MultiUserServer {
    inner: Arc<Shared>,
}

struct Shared {
    config: Arc<ServerConfig>,
    manager: UserManager,
    identity: Arc<Identity>,
    /// The consents waited for in this process, by state: one store watcher wakes them all.
    watched: Mutex<Watched>,
    requests: Mutex<HashMap<String, PendingRequest>>,
    /// Requests running, by user, and in total.
    running: Mutex<(HashMap<String, usize>, usize)>,
    /// The redirect URI's origin, or the public URL: consent links start there.
    origin: String,
    /// The public URL's origin, accepted as a WebSocket's `Origin`.
    public_origin: Option<String>,
}

impl std::fmt::Debug for MultiUserServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiUserServer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// How a request ended, before it becomes a [`ChatReply`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// A library error (MCP, OAuth, store).
    Client(Error),
    /// The user refused consent, or the callback failed.
    Consent {
        /// [`ChatCode::OauthDenied`] or [`ChatCode::OauthFailed`].
        code: ChatCode,
        /// The message.
        message: String,
    },
    /// No consent in time.
    Timeout(Duration),
}

impl RunError {
    fn into_reply(self, id: Option<String>) -> ChatReply {
        match self {
            RunError::Client(Error::Store(e)) => {
                ChatReply::error(id, ChatCode::StoreUnavailable, e.to_string())
            }
            RunError::Client(Error::Usage(m)) if m.starts_with("unknown MCP server") => {
                ChatReply::error(id, ChatCode::UnknownServer, m)
            }
            RunError::Client(e @ Error::Mcp { .. }) => {
                ChatReply::error(id, ChatCode::McpFailed, e.to_string())
            }
            RunError::Client(e) => {
                ChatReply::error(id, ChatCode::McpFailed, format!("{} ({})", e, e.code()))
            }
            RunError::Consent { code, message } => ChatReply::error(id, code, message),
            RunError::Timeout(d) => ChatReply::error(
                id,
                ChatCode::OauthTimeout,
                format!(
                    "no consent within {} s; send the request again to get a new link",
                    d.as_secs()
                ),
            ),
        }
    }
}

/// The consent a request waits for.
#[derive(Clone, Debug)]
pub struct ConsentRequired {
    /// The MCP server's name.
    pub server: String,
    /// The user who must consent.
    pub user: String,
    /// The one-time consent link (`/auth/start/{id}` on the redirect URI's origin) to hand to
    /// this user only.
    pub url: String,
    /// Seconds left.
    pub expires_in: u64,
}

fn random_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Entropy(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl MultiUserServer {
    /// A server with `config`, identifying callers with `identity`.
    pub fn new(mut config: ServerConfig, mut identity: Identity) -> Result<MultiUserServer, Error> {
        // Resolve a loopback redirect URI without port once, so every client registers the same
        // (RFC 8252 §7.3); path and query are kept.
        if let Ok(uri) = mcp_oauth_core::url::RedirectUri::parse(&config.redirect_uri) {
            config.redirect_uri = uri.with_default_port().as_str().to_owned();
        }
        let redirect = mcp_oauth_core::url::Url::parse(&config.redirect_uri)
            .map_err(|e| Error::Usage(format!("redirect URI {}: {e}", config.redirect_uri)))?;
        // Browsers may drop `Secure` cookies of http://localhost: plain names there.
        identity.loopback = redirect.scheme() == "http" && redirect.is_loopback();
        let mut origin = match redirect.port() {
            Some(port) => format!("{}://{}:{port}", redirect.scheme(), redirect.host()),
            None => format!("{}://{}", redirect.scheme(), redirect.host()),
        };
        let public = config.public_url.as_deref().map(public_url::PublicUrl::parse).transpose()?;
        if let Some(p) = &public {
            origin = p.base.clone();
        }
        config.http = config.http.with_egress(config.egress.clone())?;
        let config = Arc::new(config);
        Ok(MultiUserServer {
            inner: Arc::new(Shared {
                manager: UserManager::new(Arc::clone(&config)),
                config,
                identity: Arc::new(identity),
                watched: Mutex::default(),
                requests: Mutex::default(),
                running: Mutex::default(),
                origin,
                public_origin: public.map(|p| p.origin),
            }),
        })
    }

    /// The configuration in use (redirect URI resolved).
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The origin of [`ServerConfig::public_url`], if set.
    pub fn public_origin(&self) -> Option<&str> {
        self.inner.public_origin.as_deref()
    }

    /// The per-user manager.
    pub fn manager(&self) -> &UserManager {
        &self.inner.manager
    }

    /// The identity verifier (to create session ids after the host's own login).
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// Spawns the sweeper that evicts idle sessions (every quarter of the idle timeout).
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let every = (self.inner.config.idle_timeout / 4).max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                inner.manager.evict_idle(inner.config.idle_timeout);
                let horizon = inner.config.consent_timeout * 2;
                inner
                    .requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|_, r| r.created.elapsed() < horizon);
            }
        })
    }

    /// Runs `request` for `user`. When consent is needed, `on_consent` is called once with the
    /// authorization URL and the request continues after the callback (or fails with
    /// `oauth_denied`/`oauth_timeout`).
    pub async fn run(
        &self,
        user: &str,
        request: &ChatRequest,
        on_consent: impl FnOnce(ConsentRequired),
    ) -> ChatReply {
        let id = request.id.clone();
        match self.run_inner(user, request, None, on_consent).await {
            Ok(result) => {
                log::request_done(user, &request.server);
                ChatReply::Result { id, result }
            }
            Err(e) => {
                if let RunError::Client(Error::Store(e)) = &e {
                    log::store_error(user, &request.server, "request", e);
                }
                let reply = e.into_reply(id);
                if let ChatReply::Error { code, .. } = &reply {
                    log::request_failed(user, &request.server, code);
                }
                reply
            }
        }
    }

    /// Runs `request`; with `tracked` (a request id), a consent is recorded in the shared store
    /// under that id before `on_consent` ([`results`]).
    async fn run_inner(
        &self,
        user: &str,
        request: &ChatRequest,
        tracked: Option<&str>,
        on_consent: impl FnOnce(ConsentRequired),
    ) -> Result<serde_json::Value, RunError> {
        let http = &self.inner.config.mcp_http;
        if let Some(session) = self.inner.manager.without_auth(user, &request.server) {
            return session.perform(&request.action, http).await.map_err(RunError::Client);
        }
        let session = self.inner.manager.get(user, &request.server).map_err(RunError::Client)?;
        match perform(&session, &request.action, http).await {
            Err(Error::AuthorizationRequired { .. }) => {}
            other => return other.map_err(RunError::Client),
        }
        let (state, consent) = self.consent(&session).await.map_err(RunError::Client)?;
        if let Some(request_id) = tracked {
            self.put_waiting(user, request_id, &state).await.map_err(RunError::Client)?;
        }
        on_consent(consent);
        let outcome = self.wait_outcome(&state).await;
        if let Err(RunError::Timeout(d)) = &outcome {
            log::consent_timed_out(user, &request.server, &state, d.as_secs());
        }
        // This consent is over, however it ended: the next request starts a new one (the
        // callback may have been served by another replica, which cleared only its own copy).
        {
            let mut current = session.consent.lock().await;
            if current.as_ref().is_some_and(|c| c.0 == state) {
                *current = None;
            }
        }
        outcome?;
        session.client.reload().await;
        *session.mcp.lock().await = None;
        perform(&session, &request.action, http).await.map_err(RunError::Client)
    }

    /// Starts (or joins) the consent of this session: the pending authorization is kept in the
    /// store by `state`.
    async fn consent(&self, session: &UserSession) -> Result<(String, ConsentRequired), Error> {
        let timeout = self.inner.config.consent_timeout;
        // Held until the consent is recorded: concurrent requests of the user share one.
        let mut current = session.consent.lock().await;
        if let Some((state, url, deadline)) = current.as_deref().cloned() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left > Duration::from_secs(5) {
                // A link opens once: each request that joins gets its own.
                let link = self.consent_link(&state, &session.user, &url, left).await?;
                let c = ConsentRequired {
                    server: session.server.to_string(),
                    user: session.user.clone(),
                    url: link,
                    expires_in: left.as_secs(),
                };
                return Ok((state, c));
            }
        }
        let pending = session.client.start_authorization().await?;
        let state = pending.state.secret().to_owned();
        let url = pending.authorization_url.clone();
        let record = PendingRecord {
            user: session.user.clone(),
            server: session.server.to_string(),
            pending,
        };
        self.inner.config.pending.put_pending(&record, timeout).await?;
        let (user, server) = (&session.user, &*session.server);
        log::consent_started(user, server, &record.pending.issuer, &state, timeout.as_secs());
        let link = self.consent_link(&state, &session.user, &url, timeout).await?;
        *current = Some(Box::new((state.clone(), url, Instant::now() + timeout)));
        let c = ConsentRequired {
            server: session.server.to_string(),
            user: session.user.clone(),
            url: link,
            expires_in: timeout.as_secs(),
        };
        Ok((state, c))
    }

    /// Handles the browser's return to the redirect URI (`raw_query` as received, `headers`
    /// with the browser's cookies): in the browser that opened the consent link only, finds the
    /// pending authorization by `state`, finishes it, and records the outcome for the waiting
    /// request. `Err` when the state is missing, unknown or expired, or the browser is not the
    /// one bound to it (nothing was changed).
    pub async fn complete_callback(
        &self,
        state: Option<&str>,
        raw_query: &str,
        headers: &axum::http::HeaderMap,
    ) -> Result<ConsentOutcome, CallbackPageError> {
        let result = self.callback_outcome(state, raw_query, headers).await;
        match &result {
            Err(CallbackPageError::Store(e)) => log::store_error_unattributed("callback", e),
            Err(e) => log::callback_refused(e.code()),
            Ok(_) => {}
        }
        result
    }

    async fn callback_outcome(
        &self,
        state: Option<&str>,
        raw_query: &str,
        headers: &axum::http::HeaderMap,
    ) -> Result<ConsentOutcome, CallbackPageError> {
        let state = state.filter(|s| !s.is_empty()).ok_or(CallbackPageError::MissingState)?;
        // RFC 6749 §10.12, RFC 9700 §4.7.1: the callback must come from the user agent that
        // started the authorization; checked before the store is touched.
        if !consent::bound(&self.inner.identity, headers, state) {
            return Err(CallbackPageError::OtherBrowser);
        }
        let record = self
            .inner
            .config
            .pending
            .take_pending(state)
            .await
            .map_err(CallbackPageError::Store)?
            .ok_or(CallbackPageError::UnknownState)?;
        let sep = if self.inner.config.redirect_uri.contains('?') { '&' } else { '?' };
        let callback_url = format!("{}{sep}{raw_query}", self.inner.config.redirect_uri);
        let outcome = match self.inner.manager.get(&record.user, &record.server) {
            Ok(session) => {
                let result =
                    session.client.complete_authorization(record.pending, &callback_url).await;
                session.consent.lock().await.take();
                *session.mcp.lock().await = None;
                match result {
                    Ok(()) => ConsentOutcome::Authorized,
                    Err(e) => failed(&e, raw_query),
                }
            }
            Err(e) => ConsentOutcome::Failed { code: e.code().to_owned(), message: e.to_string() },
        };
        log::consent_ended(&record.user, &record.server, state, &outcome);
        let ttl = self.inner.config.consent_timeout;
        let stored = self.inner.config.pending.put_outcome(state, &outcome, ttl).await;
        publish(&self.inner, state, outcome.clone());
        stored.map_err(CallbackPageError::Store)?;
        Ok(outcome)
    }

    fn register_request(&self, id: &str, user: &str, reply: watch::Receiver<Option<ChatReply>>) {
        let req = PendingRequest { user: user.to_owned(), reply, created: Instant::now() };
        self.inner.requests.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), req);
    }

    /// The HTTP interface: runs `request`; if consent is needed, answers `oauth_required` at
    /// once and lets the request continue in the background (poll it with
    /// [`MultiUserServer::poll`]).
    pub async fn chat(&self, user: &str, request: ChatRequest) -> ChatReply {
        let slot = match self.slot(user) {
            Ok(slot) => slot,
            Err(refused) => return (*refused).with_id(request.id),
        };
        let request_id = match random_id() {
            Ok(id) => id,
            Err(e) => return ChatReply::error(request.id, ChatCode::Internal, e.to_string()),
        };
        let (consent_tx, consent_rx) = tokio::sync::oneshot::channel();
        let (reply_tx, reply_rx) = watch::channel(None);
        let this = self.clone();
        let owner = user.to_owned();
        let req = request.clone();
        let tracked = request_id.clone();
        let task = tokio::spawn(async move {
            let _slot = slot;
            let reply = this
                .run_tracked(&owner, &req, &tracked, move |c| {
                    let _ = consent_tx.send(c);
                })
                .await;
            let _ = reply_tx.send(Some(reply.clone()));
            reply
        });
        let mut task = task;
        tokio::select! {
            done = &mut task => done.unwrap_or_else(|e| ChatReply::error(request.id.clone(), ChatCode::Internal, e.to_string())),
            consent = consent_rx => match consent {
                Ok(c) => {
                    self.register_request(&request_id, user, reply_rx);
                    ChatReply::OauthRequired {
                        id: request.id,
                        server: c.server,
                        user: c.user,
                        url: c.url,
                        request_id: Some(request_id),
                        expires_in: c.expires_in,
                    }
                }
                // The sender went away without consent: the task finished.
                Err(_) => task.await.unwrap_or_else(|e| ChatReply::error(request.id.clone(), ChatCode::Internal, e.to_string())),
            },
        }
    }

    /// The state of request `request_id` of `user`, waiting up to `wait` for it to finish: from
    /// this replica when it runs here, otherwise from the shared store ([`results`]).
    pub async fn poll(&self, user: &str, request_id: &str, wait: Duration) -> ChatReply {
        let rx = {
            let map = self.inner.requests.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(request_id) {
                // Another user's request is as unknown as a missing one.
                Some(r) if r.user == user => Some(r.reply.clone()),
                _ => None,
            }
        };
        let Some(mut rx) = rx else {
            return self.poll_shared(user, request_id, wait).await;
        };
        let finished = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match finished {
            Ok(Ok(reply)) => {
                let reply = reply
                    .clone()
                    .unwrap_or_else(|| ChatReply::error(None, ChatCode::Internal, "no reply"));
                self.inner.requests.lock().unwrap_or_else(|p| p.into_inner()).remove(request_id);
                reply
            }
            Ok(Err(_)) => ChatReply::error(None, ChatCode::Internal, "the request was dropped"),
            Err(_) => ChatReply::Pending { id: None, request_id: request_id.to_owned() },
        }
    }

    /// The axum routes: `/auth/redirect` (at the redirect URI's path), `/ws`, `/v1/chat`,
    /// `/v1/chat/{request_id}`, `/v1/chat/{request_id}/cancel`. Merge them into the host's
    /// router.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }
}

/// The outcome of a failed callback. The message never quotes the callback (its `code`): a URL
/// that does not parse gets a fixed text, and any message holding the query is replaced.
fn failed(e: &Error, raw_query: &str) -> ConsentOutcome {
    let code = e.code().to_owned();
    let mut message = e.to_string();
    let quotes = |m: &str| {
        !raw_query.is_empty() && m.contains(raw_query)
            || raw_query
                .split('&')
                .filter_map(|p| p.strip_prefix("code="))
                .any(|c| c.len() >= 4 && m.contains(c))
    };
    if code == "callback_url_invalid" || code == "callback_malformed_query" || quotes(&message) {
        message = "the callback URL the authorization server sent is malformed".to_owned();
    }
    ConsentOutcome::Failed { code, message }
}

/// Why the callback page shows an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackPageError {
    /// No `state` parameter.
    #[error("the callback has no `state` parameter")]
    MissingState,
    /// No pending authorization has this `state` (never issued, already used, or expired).
    #[error("unknown or expired authorization (no pending authorization has this state); nothing was changed — start again from the application")]
    UnknownState,
    /// The callback came to a browser that did not open this authorization's consent link.
    #[error("this authorization was started in another browser or by another user; nothing was changed — finish it in the window the application opened for you")]
    OtherBrowser,
    /// The store failed.
    #[error("the authorization store is unavailable: {0}")]
    Store(StoreError),
}

impl CallbackPageError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallbackPageError::MissingState => "state_missing",
            CallbackPageError::UnknownState => "state_unknown",
            CallbackPageError::OtherBrowser => "consent_other_browser",
            CallbackPageError::Store(_) => "store_unavailable",
        }
    }
}

/// Runs one MCP operation in the session, connecting first when needed. A broken cached
/// connection is dropped; `tools/list` is then tried once more on a new one, while a tool call
/// is never repeated (it may have run).
async fn perform(
    session: &UserSession,
    action: &Action,
    http: &reqwest::Client,
) -> Result<serde_json::Value, Error> {
    let url = session.url.clone();
    let mut mcp = session.mcp.lock().await;
    for attempt in 0..2 {
        let reused = mcp.is_some();
        let conn = match mcp.take() {
            Some(conn) => *conn,
            None => {
                let auth = Some(crate::mcp::Authorizer::User(Arc::clone(&session.client)));
                let conn = McpSession::connect_over(&url, auth, false, http.clone()).await?;
                log::mcp_session(&session.user, &session.server, true);
                conn
            }
        };
        let result = run_action(&conn, action).await;
        match result {
            Ok(value) => {
                *mcp = Some(Box::new(conn));
                return Ok(value);
            }
            Err(Error::Mcp { .. })
                if attempt == 0 && reused && matches!(action, Action::ListTools) =>
            {
                conn.close().await;
                log::mcp_session(&session.user, &session.server, false);
            }
            Err(e) => {
                conn.close().await;
                log::mcp_session(&session.user, &session.server, false);
                return Err(e);
            }
        }
    }
    Err(Error::mcp("the MCP connection failed twice".into()))
}

/// Runs `action` over an open MCP connection; the answer as JSON.
async fn run_action(conn: &McpSession, action: &Action) -> Result<serde_json::Value, Error> {
    match action {
        Action::ListTools => conn.list_tools().await.map(
            |tools| serde_json::json!({ "tools": serde_json::to_value(tools).unwrap_or_default() }),
        ),
        Action::CallTool { tool, arguments } => conn
            .call_tool(tool, arguments.clone())
            .await
            .map(|r| serde_json::to_value(r).unwrap_or_default()),
    }
}
