//! The per-user manager: (user, MCP server) → that user's [`OAuthClient`] and MCP session,
//! created on first use. Memory stays bounded: sessions idle longer than the idle timeout are
//! dropped by [`UserManager::evict_idle`], and past `max_sessions` the least recently used go
//! first. Eviction only forgets memory; tokens stay in the store and are read again next time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mcp::McpSession;
use crate::{ClientOptions, Error, OAuthClient};

use super::servers_without_auth::{SessionWithoutAuth, SessionsWithoutAuth};
use super::ServerConfig;

/// One user's state for one MCP server.
pub struct UserSession {
    /// The user.
    pub user: String,
    /// The MCP server's name (shared by the sessions of that server).
    pub server: Arc<str>,
    /// The MCP server's URL (shared likewise).
    pub url: Arc<str>,
    /// The OAuth client (single-flight refresh inside).
    pub client: Arc<OAuthClient>,
    /// The MCP connection, opened on first use (boxed: most sessions are idle without one).
    pub mcp: tokio::sync::Mutex<Option<Box<McpSession>>>,
    /// The consent in progress, if any: (state, authorization URL, deadline). Held while a
    /// consent starts, so that concurrent requests of the user share one.
    pub consent: tokio::sync::Mutex<Option<Box<(String, String, Instant)>>>,
    last_used: AtomicU64,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession")
            .field("user", &self.user)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// What the sessions of one MCP server share: its name, URL and a client whose options and
/// validated configuration every user's client reuses ([`OAuthClient::for_user`]).
struct ServerTemplate {
    name: Arc<str>,
    url: Arc<str>,
    client: OAuthClient,
}

/// (user, server name) → [`UserSession`].
pub struct UserManager {
    sessions: Mutex<HashMap<(String, String), Arc<UserSession>>>,
    /// Built on first use of each server.
    templates: Mutex<Vec<ServerTemplate>>,
    epoch: Instant,
    config: Arc<ServerConfig>,
    /// The sessions of [`ServerConfig::servers_without_auth`].
    without_auth: SessionsWithoutAuth,
}

impl std::fmt::Debug for UserManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserManager").field("sessions", &self.len()).finish_non_exhaustive()
    }
}

impl UserManager {
    /// An empty manager.
    pub fn new(config: Arc<ServerConfig>) -> UserManager {
        UserManager {
            sessions: Mutex::default(),
            templates: Mutex::default(),
            epoch: Instant::now(),
            without_auth: SessionsWithoutAuth::new(Arc::clone(&config)),
            config,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<UserSession>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tick(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How many sessions are in memory.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// True when no session is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new client for `user` of the configured MCP server `server`, with its name and URL.
    fn new_client(
        &self,
        user: &str,
        server: &str,
    ) -> Result<(Arc<str>, Arc<str>, OAuthClient), Error> {
        let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = templates.iter().find(|t| &*t.name == server) {
            return Ok((Arc::clone(&t.name), Arc::clone(&t.url), t.client.for_user(user)));
        }
        let url = self
            .config
            .servers
            .iter()
            .find(|(name, _)| name == server)
            .map(|(_, url)| url.clone())
            .ok_or_else(|| Error::Usage(format!("unknown MCP server `{server}`")))?;
        // Built field by field: `ClientOptions::new` would make an HTTP client.
        let opts = ClientOptions {
            server_url: url.clone(),
            redirect_uri: self.config.redirect_uri.clone(),
            client: self.config.client.clone(),
            scopes: self.config.scopes.clone(),
            policies: self.config.policies.clone(),
            user: String::new(),
            browser: crate::BrowserMode::Print,
            timeout: self.config.consent_timeout,
            store: Arc::clone(&self.config.tokens),
            cache: Arc::clone(&self.config.cache),
            http: self.config.http.clone(),
            progress: None,
            browser_opener: None,
            clock: crate::Clock::system(),
            assertion_signer: self.config.assertion_signer.clone(),
            dpop: self.config.dpop_of(server),
            shared_registrations: (!self.config.registration_per_user)
                .then(|| super::SHARED_REGISTRATIONS_USER.to_owned()),
            any_port_redirect: None,
        };
        let template = ServerTemplate {
            name: server.into(),
            url: url.into(),
            client: OAuthClient::new(opts)?,
        };
        let made =
            (Arc::clone(&template.name), Arc::clone(&template.url), template.client.for_user(user));
        templates.push(template);
        Ok(made)
    }

    /// The session of `user` for MCP server `server` (a configured name), created on first use.
    pub fn get(&self, user: &str, server: &str) -> Result<Arc<UserSession>, Error> {
        let now = self.tick();
        let key = (user.to_owned(), server.to_owned());
        if let Some(s) = self.map().get(&key) {
            s.last_used.store(now, Ordering::Relaxed);
            return Ok(Arc::clone(s));
        }
        let (server, url, client) = self.new_client(user, server)?;
        let mut map = self.map();
        // Another task may have created it meanwhile: keep that one.
        if let Some(s) = map.get(&key) {
            s.last_used.store(now, Ordering::Relaxed);
            return Ok(Arc::clone(s));
        }
        let session = Arc::new(UserSession {
            user: user.to_owned(),
            server,
            url,
            client: Arc::new(client),
            mcp: tokio::sync::Mutex::new(None),
            consent: tokio::sync::Mutex::new(None),
            last_used: AtomicU64::new(now),
        });
        if map.len() >= self.config.max_sessions {
            evict_lru(&mut map, self.config.max_sessions.saturating_sub(1));
        }
        map.insert(key, Arc::clone(&session));
        Ok(session)
    }

    /// The session of `user` for `server` when it is one of
    /// [`ServerConfig::servers_without_auth`] (created on first use); `None` for other names.
    pub fn without_auth(&self, user: &str, server: &str) -> Option<Arc<SessionWithoutAuth>> {
        self.without_auth.get(user, server)
    }

    /// Stops every session of [`ServerConfig::servers_without_auth`] (their stdio processes
    /// included) and waits for them: the server is shutting down.
    pub async fn stop_servers_without_auth(&self) {
        self.without_auth.stop_all().await;
    }

    /// Drops sessions unused for longer than `idle` (and not in use right now); returns how
    /// many were dropped (those of [`ServerConfig::servers_without_auth`] included: a stdio
    /// server's process is stopped).
    pub fn evict_idle(&self, idle: Duration) -> usize {
        let plain = self.without_auth.evict_idle(idle);
        let cutoff =
            self.tick().saturating_sub(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX));
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, s| s.last_used.load(Ordering::Relaxed) > cutoff || Arc::strong_count(s) > 1);
        before - map.len() + plain
    }
}

/// Keeps the `keep` most recently used sessions.
fn evict_lru(map: &mut HashMap<(String, String), Arc<UserSession>>, keep: usize) {
    if map.len() <= keep {
        return;
    }
    let mut ages: Vec<u64> = map.values().map(|s| s.last_used.load(Ordering::Relaxed)).collect();
    ages.sort_unstable();
    let cutoff = ages[map.len() - keep - 1];
    map.retain(|_, s| s.last_used.load(Ordering::Relaxed) > cutoff);
}
