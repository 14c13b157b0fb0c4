//! How the proxy authorizes its requests to the MCP server, and how the instances of one
//! (user, server) share one authorization.
//!
//! Every refusal (401, 403 with a challenge) goes to the core's decision
//! ([`OAuthClient::handle_resource_answer_handoff`]); this module only runs what it asks for.
//! With a [`FileStore`] the decision is taken under the store's flow lock of (user, server)
//! ([`FileStore::lock_flow`]), so that of the instances a host starts together one registers and
//! one opens the browser, and the others wait for the lock, then find the tokens in the store:
//!
//! 1. take the flow lock (waiting while another instance holds it; the OS frees it when that
//!    instance dies);
//! 2. read the store again: tokens newer than the refused ones (another instance authorized or
//!    refreshed) → send again with them;
//! 3. an authorization waiting for the browser in the store ([`FileStore::load_flow_pending`]),
//!    left by an instance that died → serve its callback on the same redirect URI, no new tab;
//! 4. otherwise the core decides: a refresh (single-flight across processes through the entry's
//!    refresh lock, [`OAuthClient`]), or an authorization, whose pending state is stored before
//!    the browser opens and removed when its callback was handled.
//!
//! The callback port is bound (never probed) by the lock holder only, for the redirect URI the
//! registration was made with, so instances do not fight over it.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_core::authorize::PendingAuthorization;
use mcp_oauth_core::secret::AccessToken;
use mcp_oauth_core::ResourceDecision;

use crate::client::{Handoff, ResourceAnswer};
use crate::redirect::{self, LoopbackListener};
use crate::store::FileStore;
use crate::{BrowserMode, Error, HeadlessClient, OAuthClient};

/// What authorizes the proxy's requests.
#[derive(Clone)]
pub enum ProxyAuth {
    /// A user's authorization (authorization code with PKCE, refresh, step-up).
    User(Arc<UserAuth>),
    /// A headless grant (client credentials, cross-app access, workload identity).
    Headless(Arc<HeadlessClient>),
}

impl std::fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyAuth::User(u) => f.debug_tuple("User").field(&u.client).finish(),
            ProxyAuth::Headless(h) => f.debug_tuple("Headless").field(h).finish(),
        }
    }
}

/// A user's authorization for the proxy, shared with the other instances through `store`.
pub struct UserAuth {
    /// The user's client.
    pub client: Arc<OAuthClient>,
    /// The file store the client's tokens live in, for the flow lock and the waiting
    /// authorization; `None` (memory store): this process alone.
    pub store: Option<FileStore>,
    /// How the browser step happens.
    pub browser: BrowserMode,
    /// How long to wait for the user in the browser.
    pub timeout: Duration,
}

impl ProxyAuth {
    /// A usable token, refreshed first when due; `None` when none is held yet.
    pub(super) async fn access_token(&self) -> Result<Option<AccessToken>, Error> {
        let token = match self {
            ProxyAuth::User(u) => u.client.access_token().await,
            ProxyAuth::Headless(h) => h.access_token().await,
        };
        match token {
            Ok(t) => Ok(Some(t)),
            Err(Error::AuthorizationRequired { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `Authorization` (and `DPoP`) for a request with the token held.
    pub(super) async fn request_headers(
        &self,
        method: &str,
        url: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        match self {
            ProxyAuth::User(u) => u.client.resource_request_headers(method, url).await,
            ProxyAuth::Headless(h) => h.resource_request_headers(method, url).await,
        }
    }

    /// Acts on a refusal of a request that carried `used` (see the module docs).
    pub(super) async fn on_refusal(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
    ) -> Result<ResourceDecision, Error> {
        match self {
            ProxyAuth::Headless(h) => h.handle_resource_answer(answer, used).await,
            ProxyAuth::User(u) => u.on_refusal(answer, used, operation).await,
        }
    }
}

impl UserAuth {
    fn user(&self) -> &str {
        self.client.user()
    }

    fn resource(&self) -> &str {
        self.client.resource().as_str()
    }

    async fn on_refusal(
        &self,
        answer: ResourceAnswer<'_>,
        used: Option<&AccessToken>,
        operation: &str,
    ) -> Result<ResourceDecision, Error> {
        let _lock = match &self.store {
            Some(store) => {
                // The holder may be waiting for the user: as long as its browser step may last.
                let wait = self.timeout + Duration::from_secs(30);
                let lock = store.lock_flow(self.user(), self.resource(), wait).await?;
                if lock.is_none() {
                    return Err(Error::Timeout { secs: wait.as_secs() });
                }
                lock
            }
            None => None,
        };
        if let Some(store) = &self.store {
            // Another instance may have authorized or refreshed while this one waited.
            self.client.reload().await;
            match self.client.access_token().await {
                Ok(t) if Some(&t) != used => return Ok(ResourceDecision::Retry),
                Ok(_) | Err(Error::AuthorizationRequired { .. }) => {}
                Err(e) => return Err(e),
            }
            if let Some(pending) = store.load_flow_pending(self.user(), self.resource()).await? {
                let live = !self.client.pending_time_left(&pending).is_zero();
                if live && pending.redirect_uri.as_str() == self.client.redirect_uri() {
                    eprintln!(
                        "mcp-oauth: continuing the authorization another instance started; \
                         waiting for the browser at {} (if its tab is gone, open:\n  {})",
                        pending.redirect_uri.as_str(),
                        pending.authorization_url
                    );
                    self.browser_step(pending, false).await?;
                    return Ok(ResourceDecision::Retry);
                }
                store.delete_flow_pending(self.user(), self.resource()).await?;
            }
        }
        match self.client.handle_resource_answer_handoff(answer, used, operation).await? {
            Handoff::Decision(d) => Ok(d),
            Handoff::Authorize(pending) => {
                if let Some(store) = &self.store {
                    store.save_flow_pending(self.user(), self.resource(), &pending).await?;
                }
                self.browser_step(*pending, true).await?;
                Ok(ResourceDecision::Retry)
            }
        }
    }

    /// Takes the user through `pending`'s browser step (opening the browser when `open`, else
    /// only serving the callback of the tab another instance opened) and completes it.
    async fn browser_step(&self, pending: PendingAuthorization, open: bool) -> Result<(), Error> {
        let result = self.run_browser_step(&pending, open).await;
        if let Some(store) = &self.store {
            // Handled (or failed for good): the next instance starts afresh.
            store.delete_flow_pending(self.user(), self.resource()).await?;
        }
        result
    }

    async fn run_browser_step(
        &self,
        pending: &PendingAuthorization,
        open: bool,
    ) -> Result<(), Error> {
        let url = pending.authorization_url.clone();
        let redirect_uri = pending.redirect_uri.as_str().to_owned();
        if self.browser == BrowserMode::Follow {
            eprintln!("mcp-oauth: following the authorization server's redirects…");
            let callback = redirect::follow(&url, &redirect_uri, self.timeout).await?;
            return self.client.complete_authorization(pending.clone(), &callback).await;
        }
        let mut listener = LoopbackListener::bind(&redirect_uri).await?;
        if open {
            if self.browser == BrowserMode::Open && redirect::open_browser(&url).is_ok() {
                eprintln!("mcp-oauth: opened the browser at\n  {url}");
            } else {
                eprintln!("mcp-oauth: open this URL to authorize:\n  {url}");
            }
        }
        // Until the pending authorization expires, at most the configured timeout.
        let wait = self.timeout.min(self.client.pending_time_left(pending));
        eprintln!(
            "mcp-oauth: waiting for the authorization at {redirect_uri} (up to {} s)…",
            wait.as_secs()
        );
        let deadline = tokio::time::Instant::now() + wait;
        let outcome = loop {
            let callback = match tokio::time::timeout_at(deadline, listener.next_callback()).await {
                Ok(cb) => cb?,
                Err(_) => break Err(Error::Timeout { secs: wait.as_secs() }),
            };
            let outcome = self.client.complete_authorization(pending.clone(), &callback.url).await;
            callback.responder.finish(outcome.as_ref().map(|_| ()).map_err(ToString::to_string));
            match outcome {
                // A stray or forged request for another `state`: keep waiting for this one.
                Err(e) if e.code() == "state_mismatch" => continue,
                other => break other,
            }
        };
        listener.close(Duration::from_secs(2)).await;
        if outcome.is_ok() {
            eprintln!("mcp-oauth: authorized");
        }
        outcome
    }
}
