//! [`OAuthClient`]: one user's authorization for one MCP server, with real IO.
//!
//! It owns a core [`AuthFlow`] behind an async mutex. The mutex makes refresh single-flight:
//! any number of tasks asking for a token while it is expired wait for the one refresh the
//! first of them starts. State is loaded from the [`TokenStore`](crate::store::TokenStore) on first use and written back
//! on every `ClientRegistered`, `CredentialPinned`, `TokensUpdated` and `TokensCleared` event;
//! discovery results go to the shared [`MetadataCache`](crate::cache::MetadataCache).
//!
//! Across processes (server replicas sharing a store such as `store::RedisStore`) refresh is
//! single-flight through the store's lock ([`TokenStore::lock`](crate::store::TokenStore::lock)): take it, re-read the entry and
//! use another replica's newer tokens when there are some, otherwise refresh and save under the
//! lock (compare-and-set), then release. A rotated refresh token is thus used once, and a
//! process that lost the race never overwrites or deletes the winner's tokens.
//!
//! A server completes authorizations on behalf of its users without a browser of its own:
//! [`OAuthClient::start_authorization`] returns the pending authorization (to keep by `state`),
//! [`OAuthClient::complete_authorization`] finishes it from the callback URL, in any replica.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::authorize::PendingAuthorization;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::url::ResourceUrl;
use mcp_oauth_core::ResourceDecision;
use mcp_oauth_core::{AuthFlow, Discovery, FlowConfig, FlowEvent, FlowStatus};
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::redirect::{self, LoopbackListener, Reservation};
use crate::store::{StoreKey, StoreLock, StoredEntry};
use crate::{entropy, Error};

mod options;
mod report;
mod resource;
mod sharing;
pub use options::{BrowserMode, BrowserOpener, ClientOptions};
pub use report::{LogoutReport, Progress, ResourceAnswer, Status};

/// The default redirect URI of native hosts (defined in the core).
pub use mcp_oauth_core::url::DEFAULT_REDIRECT_URI;

struct Inner {
    flow: Option<AuthFlow>,
}

/// One user's authorization for one MCP server.
pub struct OAuthClient {
    /// Shared with the clients made by [`OAuthClient::for_user`]; `opts.user` is not used
    /// (`user` is).
    opts: Arc<ClientOptions>,
    /// Shared likewise, and with the flow.
    config: Arc<FlowConfig>,
    user: String,
    inner: Mutex<Inner>,
    /// The store lock held during a refresh (only touched while `inner` is locked).
    /// Boxed: absent in an idle client (memory per idle session).
    held_lock: std::sync::Mutex<Option<Box<StoreLock>>>,
    /// The loopback sockets bound for a port-0 redirect URI, until the first browser step.
    reserved: Arc<std::sync::Mutex<Option<Reservation>>>,
    /// The last logout met a token the server does not revoke (RFC 7009 §2.2.1).
    not_revocable: std::sync::atomic::AtomicBool,
    /// While a browser login waits for the user (with `inner` locked): what `status()` answers
    /// meanwhile. Boxed: absent in an idle client.
    awaiting: std::sync::Mutex<Option<Box<Status>>>,
    /// Shared with the clients made by [`OAuthClient::for_user`]
    /// ([`ClientOptions::shared_registrations`]).
    sharing: Arc<SharingState>,
}

/// How the users of one [`ClientOptions`] share registrations in this process: until a shared
/// registration is known, whatever may register runs one user at a time (`gate`), so that
/// users arriving together register once.
#[derive(Default)]
struct SharingState {
    gate: Mutex<()>,
    known: std::sync::atomic::AtomicBool,
}

/// What [`OAuthClient::handle_resource_answer_handoff`] decided.
#[derive(Debug)]
pub enum Handoff {
    /// The core's decision ([`OAuthClient::handle_resource_answer`]); nothing waits for the user.
    Decision(ResourceDecision),
    /// An authorization waits for the user: open its `authorization_url` and finish it with the
    /// callback ([`OAuthClient::complete_authorization`]); then send the request again.
    Authorize(Box<PendingAuthorization>),
}

/// What happens when the core's decision waits for the user.
#[derive(Clone, Copy)]
enum Pending {
    /// The browser step here.
    Browser,
    /// [`Error::AuthorizationRequired`].
    Refuse,
    /// [`Handoff::Authorize`].
    Handoff,
}

/// How long a cross-process refresh lock lives at most (a crashed holder frees it by then).
pub const REFRESH_LOCK_TTL: Duration = Duration::from_secs(15);

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("server_url", &self.opts.server_url)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The port a loopback redirect URI without one listens on (defined in the core).
pub use mcp_oauth_core::url::DEFAULT_LOOPBACK_PORT as DEFAULT_REDIRECT_PORT;

/// Makes a loopback redirect URI concrete before it is registered and listened on: no port
/// means [`DEFAULT_REDIRECT_PORT`] (RFC 8252 §7.3, [`RedirectUri::with_default_port`]); port 0
/// binds the listener's sockets now and keeps them (the port cannot be taken by another program
/// before the browser comes back). Other URIs are returned as given; the flow validates them.
///
/// [`RedirectUri::with_default_port`]: mcp_oauth_core::url::RedirectUri::with_default_port
fn resolve_redirect_port(uri: &str) -> Result<(String, Option<Reservation>), Error> {
    let Ok(parsed) = mcp_oauth_core::url::RedirectUri::parse(uri) else {
        return Ok((uri.to_owned(), None));
    };
    if parsed.listen_port() == Some(0) {
        let reservation = LoopbackListener::reserve(uri)?;
        return Ok((reservation.redirect_uri().to_owned(), Some(reservation)));
    }
    Ok((parsed.with_default_port().as_str().to_owned(), None))
}

impl OAuthClient {
    /// Validates the options (server URL, redirect URI, client name).
    pub fn new(mut opts: ClientOptions) -> Result<OAuthClient, Error> {
        opts.any_port_redirect = mcp_oauth_core::url::RedirectUri::parse(&opts.redirect_uri)
            .ok()
            .filter(|u| u.is_loopback_http() && u.explicit_port() == Some(0));
        let (redirect_uri, reservation) = resolve_redirect_port(&opts.redirect_uri)?;
        opts.redirect_uri = redirect_uri;
        let mut config =
            FlowConfig::new(&opts.server_url, &opts.redirect_uri, opts.client.clone())?;
        config.scopes = opts.scopes.clone();
        config.policies = opts.policies.clone();
        config.dpop = opts.dpop;
        Ok(OAuthClient {
            user: opts.user.clone(),
            opts: Arc::new(opts),
            config: Arc::new(config),
            inner: Mutex::new(Inner { flow: None }),
            held_lock: std::sync::Mutex::new(None),
            reserved: Arc::new(std::sync::Mutex::new(reservation)),
            not_revocable: Default::default(),
            awaiting: std::sync::Mutex::new(None),
            sharing: Arc::default(),
        })
    }

    /// A client for `user` with the same options, nothing loaded yet. The options and the
    /// validated configuration are shared, not copied: a server keeps one client per MCP
    /// server and derives each user's from it.
    pub fn for_user(&self, user: impl Into<String>) -> OAuthClient {
        OAuthClient {
            opts: Arc::clone(&self.opts),
            config: Arc::clone(&self.config),
            user: user.into(),
            inner: Mutex::new(Inner { flow: None }),
            held_lock: std::sync::Mutex::new(None),
            reserved: Arc::clone(&self.reserved),
            not_revocable: Default::default(),
            awaiting: std::sync::Mutex::new(None),
            sharing: Arc::clone(&self.sharing),
        }
    }

    /// The user the tokens belong to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The MCP server's canonical URL (the store's resource key).
    pub fn resource(&self) -> &ResourceUrl {
        &self.config.server_url
    }

    /// The redirect URI in use (port 0 resolved at construction). A flow that reuses a stored
    /// registration's loopback port listens there instead (RFC 8252 §7.3).
    pub fn redirect_uri(&self) -> &str {
        &self.opts.redirect_uri
    }

    fn now(&self) -> mcp_oauth_core::time::UnixTime {
        self.opts.clock.now()
    }

    /// The span of one operation of this client (crate::log): user and MCP server, no secret.
    fn span(&self, operation: &'static str) -> tracing::Span {
        tracing::info_span!(
            target: crate::log::TARGET,
            "oauth",
            operation,
            user = self.user.as_str(),
            resource = self.config.server_url.as_str()
        )
    }

    /// How long `pending` stays valid by this client's clock (the core's `pending_ttl_secs`
    /// from its `created_at`); zero once it has expired.
    pub fn pending_time_left(&self, pending: &PendingAuthorization) -> Duration {
        let expires = pending.created_at.plus(self.config.pending_ttl_secs);
        Duration::from_secs(expires.secs().saturating_sub(self.now().secs()))
    }

    fn progress(&self, p: Progress) {
        if let Some(f) = &self.opts.progress {
            f(p);
        }
    }

    fn key(&self, issuer: &str) -> StoreKey {
        StoreKey {
            user: self.user.clone(),
            resource: self.config.server_url.as_str().to_owned(),
            issuer: issuer.to_owned(),
        }
    }

    /// The entries of this user for this server.
    async fn stored_entries(&self) -> Result<Vec<(StoreKey, StoredEntry)>, Error> {
        let mut out = Vec::new();
        for key in self.opts.store.list(&self.user).await? {
            if key.resource == self.config.server_url.as_str() {
                if let Some(entry) = self.opts.store.load(&key).await? {
                    out.push((key, entry));
                }
            }
        }
        Ok(out)
    }

    /// A new flow with the options' assertion signer (a flow without it could not
    /// authenticate a `private_key_jwt` client).
    fn new_flow(&self) -> AuthFlow {
        self.new_flow_with(Arc::clone(&self.config))
    }

    fn new_flow_with(&self, config: Arc<FlowConfig>) -> AuthFlow {
        let mut flow = AuthFlow::new(config);
        if let Some(signer) = &self.opts.assertion_signer {
            flow.set_assertion_signer(signer.clone());
        }
        flow
    }

    /// With a port-0 loopback redirect URI: the configuration of this client's flow on the port
    /// a stored dynamic registration used, when that port can be taken again (RFC 8252 §7.3:
    /// loopback ports may vary, and reusing the port reuses the registration instead of
    /// registering a new client on every run). The port is reserved now for the browser step;
    /// the port reserved at construction is released. `None`: keep the configured URI (a taken
    /// port means a new registration).
    fn registered_loopback_port(
        &self,
        entries: &[(StoreKey, StoredEntry)],
    ) -> Option<Arc<FlowConfig>> {
        let any_port = self.opts.any_port_redirect.as_ref()?;
        for (_, entry) in entries {
            let Some(reg) = &entry.registration else { continue };
            let Some(uri) = mcp_oauth_core::registration::loopback_redirect_to_reuse(any_port, reg)
            else {
                continue;
            };
            if uri.as_str() == self.config.redirect_uri.as_str() {
                return None;
            }
            match LoopbackListener::reserve(uri.as_str()) {
                Ok(reservation) => {
                    *self.reserved.lock().unwrap_or_else(|p| p.into_inner()) = Some(reservation);
                    let mut config = (*self.config).clone();
                    config.redirect_uri = uri;
                    return Some(Arc::new(config));
                }
                Err(e) => {
                    let message = format!(
                        "the port of the stored client registration ({uri}) is taken ({e}): \
                         registering a new client for {}",
                        self.config.redirect_uri.as_str()
                    );
                    self.progress(Progress::Notice { message });
                }
            }
        }
        None
    }

    /// Loads the flow from the store on first use: every stored entry of this user and server
    /// (core/src/flow/entry.rs), the one with tokens last so that its discovery result wins.
    async fn flow<'a>(&self, inner: &'a mut Inner) -> Result<&'a mut AuthFlow, Error> {
        if inner.flow.is_none() {
            let mut entries = self.stored_entries().await?;
            // The first entry with tokens (in key order) holds them, and is loaded last; the
            // registrations of the others are loaded too.
            if let Some(i) = entries.iter().position(|(_, e)| e.tokens.is_some()) {
                let with_tokens = entries.remove(i);
                for (_, e) in &mut entries {
                    e.tokens = None;
                }
                entries.push(with_tokens);
            }
            let now = self.now();
            // The cache's entry is shared by every flow of this server, not copied.
            let cached = self.opts.cache.get_shared(self.config.server_url.as_str(), now);
            let mut flow = match self.registered_loopback_port(&entries) {
                Some(config) => self.new_flow_with(config),
                None => self.new_flow(),
            };
            for (key, mut entry) in entries {
                // This client finishes authorizations in the process that started them, or
                // through a PendingStore (start/complete_authorization): a pending
                // authorization in a token store entry is not resumed.
                entry.pending = None;
                flow.load_entry(&key, entry)?;
            }
            if let Some(d) = cached {
                flow.use_discovery(d);
            }
            self.adopt_shared_registrations(&mut flow).await?;
            self.set_dpop_key(&mut flow)?;
            inner.flow = Some(flow);
        } else if let Some(flow) = inner.flow.as_mut().filter(|f| f.discovery().is_none()) {
            // Loaded before another user of this server discovered: that result, not a fetch.
            if let Some(d) = self.opts.cache.get_shared(self.config.server_url.as_str(), self.now())
            {
                flow.use_discovery(d);
            }
        }
        inner.flow.as_mut().ok_or_else(|| Error::Usage("flow not loaded".into()))
    }

    /// The DPoP key of this (user, server): the one stored in the entry; else one is made when
    /// a proof first needs it ([`crate::drive::OnDemandKey`], kept in the entry with the tokens
    /// bound to it), so that a session of a server without DPoP holds no key. Nothing with
    /// `DpopMode::Never`.
    /// The flow, with the registrations other processes shared taken in when this process holds
    /// the registration gate (`gate`, from [`OAuthClient::registration_gate`]).
    async fn flow_sharing<'a>(
        &self,
        inner: &'a mut Inner,
        gate: bool,
    ) -> Result<&'a mut AuthFlow, Error> {
        let flow = self.flow(inner).await?;
        if gate {
            self.adopt_shared_registrations(flow).await?;
        }
        Ok(flow)
    }

    fn set_dpop_key(&self, flow: &mut AuthFlow) -> Result<(), Error> {
        if self.opts.dpop == mcp_oauth_core::dpop::DpopMode::Never {
            return Ok(());
        }
        match flow.dpop_key_material() {
            Some(material) => {
                let signer = crate::dpop::RingDpopSigner::from_material(material)?;
                flow.set_dpop_signer(Arc::new(signer));
            }
            None => flow.use_host_dpop_signing(crate::dpop::ALG),
        }
        Ok(())
    }

    /// The headers of a request to the MCP server (`method`, `url`): `Authorization` with the
    /// token held, and for a DPoP-bound token a fresh `DPoP` proof (RFC 9449 §7.1). Empty when
    /// no fresh token is held.
    pub async fn resource_request_headers(
        &self,
        method: &str,
        url: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut inner = self.inner.lock().await;
        let flow = self.flow(&mut inner).await?;
        Ok(flow.resource_request_headers(self.now(), method, url)?)
    }

    /// Sends every request the flow asks for, persists what its events say, and returns the
    /// authorization URL when the flow wants the browser.
    async fn drive(&self, flow: &mut AuthFlow) -> Result<Option<String>, Error> {
        let mut key = crate::drive::OnDemandKey::default();
        let wants_key = self.opts.dpop != mcp_oauth_core::dpop::DpopMode::Never
            && flow.dpop_key_material().is_none();
        let drained = crate::drive::drain(
            flow,
            &self.opts.http,
            (&*self.opts.cache, self.config.server_url.as_str()),
            &crate::drive::no_signer,
            wants_key.then_some(&mut key),
            &self.opts.clock,
        )
        .await;
        // Before the events are persisted: the entry stores the key the tokens are bound to.
        key.keep_in(flow);
        let mut browser = None;
        let issuer = flow.discovery().map(|d| d.server.issuer.as_str());
        let resource = self.config.server_url.as_str();
        crate::log::refreshes(&self.user, resource, issuer.unwrap_or_default(), &drained.refreshes);
        for event in drained.events {
            crate::log::flow_event(&self.user, resource, issuer.unwrap_or_default(), &event);
            match event {
                // In the cache already (crate::drive::drain).
                FlowEvent::ClientRegistered(reg) => {
                    self.progress(Progress::Registered { client_id: reg.client_id.clone() });
                    self.persist(flow, &reg.issuer).await?;
                    self.share_registration(&reg).await?;
                }
                FlowEvent::TokensUpdated { issuer, .. } => self.persist(flow, &issuer).await?,
                // The pin of configured credentials lives with the registration for `issuer`.
                FlowEvent::CredentialPinned { issuer, .. } => self.persist(flow, &issuer).await?,
                FlowEvent::TokensCleared => {
                    if let Some(issuer) = flow.discovery().map(|d| d.server.issuer.to_string()) {
                        self.persist(flow, &issuer).await?;
                    }
                }
                FlowEvent::OpenBrowser { url } => browser = Some(url),
                FlowEvent::Authorized => self.progress(Progress::Authorized),
                FlowEvent::Notice { message } => self.progress(Progress::Notice { message }),
                // MCP SEP-2352: the old issuer's entry keeps its registration, loses its tokens.
                FlowEvent::AuthorizationServerChanged { from, to } => {
                    let message = format!(
                        "the server now names the authorization server {to} (was {from}): \
                         authorizing there"
                    );
                    self.progress(Progress::Notice { message });
                    self.persist(flow, &from).await?;
                }
                FlowEvent::TokenNotRevocable { .. } => {
                    self.not_revocable.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                _ => {}
            }
        }
        match drained.error {
            Some(e) => Err(e),
            None => Ok(browser),
        }
    }

    /// Writes the entry for `issuer` from the flow's current state.
    async fn persist(&self, flow: &AuthFlow, issuer: &str) -> Result<(), Error> {
        let entry: StoredEntry = flow.entry(issuer);
        let key = self.key(issuer);
        let lock = self.held_lock.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match lock {
            Some(lock) if lock.key == key => {
                self.opts.store.save_locked(&key, &entry, &lock).await?
            }
            _ => self.opts.store.save(&key, &entry).await?,
        }
        Ok(())
    }

    /// Runs `refresh` (which may refresh the tokens held) single-flight across processes: under
    /// the store's lock for the entry, after adopting newer tokens another process stored. With
    /// a store that has no lock (memory, files) it just runs `refresh`. `refresh` gets the flow
    /// and whether tokens changed through adoption.
    async fn with_refresh_lock<T>(
        &self,
        flow: &mut AuthFlow,
        refresh: impl AsyncFnOnce(&Self, &mut AuthFlow, bool) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(issuer) = flow.tokens().map(|(i, _)| i.to_owned()) else {
            return refresh(self, flow, false).await;
        };
        let key = self.key(&issuer);
        let Some(lock) = self.opts.store.lock(&key, REFRESH_LOCK_TTL).await? else {
            return refresh(self, flow, false).await;
        };
        *self.held_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(lock.clone()));
        let result = async {
            let adopted = self.adopt_stored_tokens(flow, &key).await?;
            refresh(self, flow, adopted).await
        }
        .await;
        *self.held_lock.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let released = self.opts.store.unlock(&lock).await;
        let value = result?;
        released?;
        Ok(value)
    }

    /// Replaces the flow's tokens with the stored ones when another process changed them.
    async fn adopt_stored_tokens(
        &self,
        flow: &mut AuthFlow,
        key: &StoreKey,
    ) -> Result<bool, Error> {
        let Some(entry) = self.opts.store.load(key).await? else { return Ok(false) };
        let held = flow.tokens().map(|(_, t)| t.clone());
        let Some(stored) = entry.tokens else { return Ok(false) };
        if held.as_ref() == Some(&stored) {
            return Ok(false);
        }
        flow.cancel();
        // Tokens another process bound to its key (RFC 9449 §6) are used with that key.
        if let Some(material) = entry.dpop_key {
            if flow.dpop_key_material() != Some(&material) {
                let signer = crate::dpop::RingDpopSigner::from_material(&material)?;
                flow.set_dpop_key_material(Some(material));
                flow.set_dpop_signer(Arc::new(signer));
            }
        }
        flow.set_tokens(&key.issuer, stored);
        Ok(true)
    }

    /// Takes the user through the browser step for `url` and completes the flow.
    async fn interact(&self, flow: &mut AuthFlow, url: String) -> Result<(), Error> {
        if self.opts.browser == BrowserMode::Follow {
            self.progress(Progress::Following);
            let cb = redirect::follow(&url, &self.opts.redirect_uri, self.opts.timeout).await?;
            flow.handle_callback(self.now(), &cb)?;
            return self.drive(flow).await.map(|_| ());
        }
        let reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut listener = match reserved {
            Some(reservation) => reservation.listen()?,
            // The flow's URI: the configured one, or the port a stored registration used.
            None => LoopbackListener::bind(flow.config().redirect_uri.as_str()).await?,
        };
        // `inner` stays locked until the user is back; meanwhile status() and access_token()
        // answer from here instead of waiting for the lock. Set before anyone sees the URL.
        let mut waiting = self.status_of(flow);
        waiting.authorization_pending = Some(url.clone());
        let _awaiting = report::Awaiting::set(&self.awaiting, waiting);
        let opened = match (self.opts.browser, &self.opts.browser_opener) {
            (BrowserMode::Open, Some(open)) => open(url.clone()).await.is_ok(),
            (BrowserMode::Open, None) => redirect::open_browser(&url).is_ok(),
            _ => false,
        };
        if opened {
            self.progress(Progress::BrowserOpened { url: url.clone() });
        } else if self.opts.progress.is_some() {
            self.progress(Progress::VisitUrl { url: url.clone() });
        } else {
            // Nobody would see the URL: fail now rather than wait for a user who cannot come.
            flow.cancel();
            return Err(Error::Usage(
                "the authorization URL cannot be shown: the browser was not opened and \
                 ClientOptions::progress is not set to pass it on (set it, or a browser_opener)"
                    .into(),
            ));
        }
        self.progress(Progress::Waiting {
            redirect_uri: listener.redirect_uri(),
            timeout_secs: self.opts.timeout.as_secs(),
        });
        let deadline = tokio::time::Instant::now() + self.opts.timeout;
        let outcome = loop {
            let callback = match tokio::time::timeout_at(deadline, listener.next_callback()).await {
                Ok(cb) => cb?,
                Err(_) => {
                    flow.cancel();
                    return Err(Error::Timeout { secs: self.opts.timeout.as_secs() });
                }
            };
            let outcome = match flow.handle_callback(self.now(), &callback.url) {
                Ok(()) => self.drive(flow).await.map(|_| ()),
                Err(e) => Err(Error::Protocol(e)),
            };
            callback.responder.finish(outcome.as_ref().map(|_| ()).map_err(ToString::to_string));
            // A stray or forged request that the core refused before checking `state` leaves the
            // authorization pending: keep waiting for the real callback.
            let still_pending = matches!(flow.status(self.now()), FlowStatus::AwaitingUser { .. });
            if outcome.is_ok() || !still_pending {
                break outcome;
            }
        };
        listener.close(Duration::from_secs(2)).await;
        outcome
    }

    /// Runs a whole authorization now (the `login` command), whatever tokens are held.
    pub async fn authorize(&self) -> Result<(), Error> {
        async {
            let gate = self.registration_gate().await;
            let mut inner = self.inner.lock().await;
            let flow = self.flow_sharing(&mut inner, gate.is_some()).await?;
            self.progress(Progress::Authorizing);
            flow.begin_authorization(self.now(), entropy()?)?;
            match self.drive(flow).await? {
                Some(url) => self.interact(flow, url).await,
                None => Ok(()),
            }
        }
        .instrument(self.span("authorize"))
        .await
    }

    /// A usable access token: the one held, refreshed first when due. Never starts an
    /// interactive authorization: without tokens it answers [`Error::AuthorizationRequired`].
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        let mut inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(_) => match self.awaiting_status() {
                Some(Status { authorization_pending: Some(url), .. }) => {
                    return Err(Error::AuthorizationPending {
                        server: self.opts.server_url.clone(),
                        url,
                    });
                }
                _ => self.inner.lock().await,
            },
        };
        self.access_token_in(&mut inner).await
    }

    /// Like [`OAuthClient::access_token`], but a browser login in progress is waited for (its
    /// tokens are the answer): the MCP transport's requests queue behind the login one of them
    /// started.
    #[cfg(feature = "rmcp")]
    pub(crate) async fn access_token_after_login(&self) -> Result<AccessToken, Error> {
        let mut inner = self.inner.lock().await;
        self.access_token_in(&mut inner).await
    }

    async fn access_token_in(&self, inner: &mut Inner) -> Result<AccessToken, Error> {
        let flow = self.flow(inner).await?;
        let mut refresh_error = None;
        if flow.poll_timeout().is_some_and(|t| t <= self.now()) {
            let result = self
                .with_refresh_lock(flow, async |this, flow, _| {
                    // Another process may have refreshed while this one waited for the lock.
                    let now = self.now();
                    if flow.poll_timeout().is_none_or(|t| t > now) {
                        return Ok(());
                    }
                    flow.handle_timeout(now)?;
                    this.drive(flow).await.map(|_| ())
                })
                .await;
            refresh_error = result.err();
        }
        match flow.access_token(crate::now()) {
            Some(t) => Ok(t.clone()),
            None => match refresh_error {
                // The refresh failed but the tokens are kept (a transient failure): say why.
                Some(e) if flow.tokens().is_some() => Err(e),
                // No tokens (never had any, or the core dropped a rejected refresh token): the
                // request goes without one and the server's 401 starts an authorization.
                _ => Err(Error::AuthorizationRequired { server: self.opts.server_url.clone() }),
            },
        }
    }

    /// Starts an authorization for a user who is not here (a server's user, in their own
    /// browser): discovery and registration run now, and the pending authorization comes back
    /// for the host to keep by `state` ([`crate::store::PendingStore`]) and to send its
    /// `authorization_url` to the user. This client does not wait for the callback; any
    /// process with the same configuration finishes it with
    /// [`OAuthClient::complete_authorization`].
    pub async fn start_authorization(&self) -> Result<PendingAuthorization, Error> {
        async {
            let gate = self.registration_gate().await;
            let mut inner = self.inner.lock().await;
            let flow = self.flow_sharing(&mut inner, gate.is_some()).await?;
            flow.begin_authorization(self.now(), entropy()?)?;
            self.drive(flow).await?;
            let pending = flow.pending().cloned();
            flow.cancel();
            pending.ok_or_else(|| {
                Error::Usage("the authorization did not reach the browser step".into())
            })
        }
        .instrument(self.span("start_authorization"))
        .await
    }

    /// Finishes an authorization started by [`OAuthClient::start_authorization`] (here or in
    /// another process) with the URL the browser came back to; the tokens are stored.
    pub async fn complete_authorization(
        &self,
        pending: PendingAuthorization,
        callback_url: &str,
    ) -> Result<(), Error> {
        async {
            let mut inner = self.inner.lock().await;
            // Start from what the store holds now (another replica may have written since).
            inner.flow = None;
            let flow = self.flow(&mut inner).await?;
            // The process that started it may have had the discovery in its cache and stored none
            // for this user, while this one's cache is cold: discover first (the callback is
            // checked against the discovery, core/src/flow/authorization.rs).
            if flow.discovery().is_none() {
                flow.begin_discovery(self.now())?;
                self.drive(flow).await?;
            }
            flow.resume_pending(pending)?;
            let result = match flow.handle_callback(self.now(), callback_url) {
                Ok(()) => self.drive(flow).await.map(|_| ()),
                Err(e) => Err(Error::Protocol(e)),
            };
            flow.cancel();
            result
        }
        .instrument(self.span("complete_authorization"))
        .await
    }

    /// Forgets the in-memory state; the next use reads the store again (after another process
    /// completed an authorization for this user, for example).
    pub async fn reload(&self) {
        self.inner.lock().await.flow = None;
    }

    /// Revokes the tokens when the server supports it (RFC 7009) and deletes this user's local
    /// state for this server.
    pub async fn logout(&self) -> Result<LogoutReport, Error> {
        async {
            let mut inner = self.inner.lock().await;
            let flow = self.flow(&mut inner).await?;
            let had_tokens = flow.tokens().is_some();
            let revocation_endpoint =
                flow.discovery().and_then(|d| d.server.revocation_endpoint.clone());
            flow.logout(self.now())?;
            self.not_revocable.store(false, std::sync::atomic::Ordering::Relaxed);
            let revocation = self.drive(flow).await;
            for (key, _) in self.stored_entries().await? {
                self.opts.store.delete(&key).await?;
            }
            inner.flow = None;
            Ok(LogoutReport {
                had_tokens,
                revoked: had_tokens && revocation_endpoint.is_some() && revocation.is_ok(),
                revocation_error: revocation.err().map(|e| e.to_string()),
                not_revocable: self.not_revocable.load(std::sync::atomic::Ordering::Relaxed),
            })
        }
        .instrument(self.span("logout"))
        .await
    }

    /// The discovery result in use, if any (shared through the cache).
    pub async fn discovery(&self) -> Option<Discovery> {
        let mut inner = self.inner.lock().await;
        self.flow(&mut inner).await.ok().and_then(|f| f.discovery().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_port_resolution() {
        let uri = |u: &str| resolve_redirect_port(u).unwrap().0;
        assert_eq!(uri("http://localhost/auth/redirect"), "http://localhost:8000/auth/redirect");
        assert_eq!(uri("http://localhost:8123/cb?x=1"), "http://localhost:8123/cb?x=1");
        let (free, reserved) = resolve_redirect_port("http://127.0.0.1:0/cb").unwrap();
        assert!(
            free.starts_with("http://127.0.0.1:") && free.ends_with("/cb") && !free.contains(":0/"),
            "{free}"
        );
        // The port stays bound until the listener serves it.
        let port: u16 = free["http://127.0.0.1:".len()..free.len() - 3].parse().unwrap();
        assert!(reserved.is_some());
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err(), "port {port} is held");
        assert_eq!(uri("https://app.example/cb"), "https://app.example/cb");
    }
}
