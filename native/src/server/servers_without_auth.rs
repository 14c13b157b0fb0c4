//! The MCP servers users reach without authorization: the configuration file's `stdio` and
//! `sse` groups ([`ServerConfig::servers_without_auth`]).
//!
//! One session per (user, server), never shared between users: a stdio server is a process
//! that may keep state between calls (open files, caches, a login of its own), and an SSE
//! session may too, so one user's calls must not reach what another user's calls left there.
//! Each user's stdio server is a process of its own ([`crate::mcp::stdio`]); the price is one
//! process per active (user, stdio server), bounded like every session: at most `max_sessions`
//! (the least recently used go first) and stopped after `idle_timeout` without a call, and all
//! stopped when the server shuts down (`SessionsWithoutAuth::stop_all`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mcp::{McpSession, McpTarget};
use crate::Error;

use super::messages::Action;
use super::ServerConfig;

/// One user's session with one server of [`ServerConfig::servers_without_auth`].
pub struct SessionWithoutAuth {
    /// The user.
    pub user: String,
    /// The server's name.
    pub server: String,
    target: McpTarget,
    mcp: tokio::sync::Mutex<Option<Box<McpSession>>>,
    last_used: AtomicU64,
}

impl std::fmt::Debug for SessionWithoutAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWithoutAuth")
            .field("user", &self.user)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SessionWithoutAuth {
    /// Runs one MCP operation, connecting (or starting the stdio server) first when needed. A
    /// broken cached connection is dropped; `tools/list` is then tried once more on a new one,
    /// while a tool call is never repeated (it may have run).
    pub async fn perform(
        &self,
        action: &Action,
        http: &reqwest::Client,
    ) -> Result<serde_json::Value, Error> {
        let mut mcp = self.mcp.lock().await;
        for attempt in 0..2 {
            let reused = mcp.is_some();
            let conn = match mcp.take() {
                Some(conn) => *conn,
                None => McpSession::connect_target(&self.target, None, false, http.clone()).await?,
            };
            let result = super::run_action(&conn, action).await;
            match result {
                Ok(value) => {
                    *mcp = Some(Box::new(conn));
                    return Ok(value);
                }
                Err(Error::Mcp { .. } | Error::McpCommand { .. })
                    if attempt == 0 && reused && matches!(action, Action::ListTools) =>
                {
                    conn.close().await;
                }
                Err(e) => {
                    conn.close().await;
                    return Err(e);
                }
            }
        }
        Err(Error::mcp("the MCP connection failed twice".into()))
    }

    /// The process id of this user's stdio server, while it runs.
    pub async fn process_id(&self) -> Option<u32> {
        self.mcp.lock().await.as_ref().and_then(|m| m.process_id())
    }

    /// Ends the connection (stops a stdio server and waits for it).
    async fn close(&self) {
        let conn = self.mcp.lock().await.take();
        if let Some(conn) = conn {
            conn.close().await;
        }
    }
}

type Map = HashMap<(String, String), Arc<SessionWithoutAuth>>;

/// (user, server name) → [`SessionWithoutAuth`].
pub(super) struct SessionsWithoutAuth {
    sessions: Mutex<Map>,
    epoch: Instant,
    config: Arc<ServerConfig>,
}

impl SessionsWithoutAuth {
    pub(super) fn new(config: Arc<ServerConfig>) -> SessionsWithoutAuth {
        SessionsWithoutAuth { sessions: Mutex::default(), epoch: Instant::now(), config }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Map> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tick(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The session of `user` for `server`, created on first use; `None` when `server` is not
    /// one of [`ServerConfig::servers_without_auth`].
    pub(super) fn get(&self, user: &str, server: &str) -> Option<Arc<SessionWithoutAuth>> {
        let (name, target) = self.config.servers_without_auth.iter().find(|(n, _)| n == server)?;
        let now = self.tick();
        let key = (user.to_owned(), server.to_owned());
        let mut map = self.map();
        if let Some(s) = map.get(&key) {
            s.last_used.store(now, Ordering::Relaxed);
            return Some(Arc::clone(s));
        }
        let session = Arc::new(SessionWithoutAuth {
            user: user.to_owned(),
            server: name.clone(),
            target: target.clone(),
            mcp: tokio::sync::Mutex::new(None),
            last_used: AtomicU64::new(now),
        });
        let cap = self.config.max_sessions.max(1);
        if map.len() >= cap {
            let evicted = evict_lru(&mut map, cap - 1);
            close_in_background(evicted);
        }
        map.insert(key, Arc::clone(&session));
        Some(session)
    }

    /// Drops the sessions unused for longer than `idle` and not in use, stopping their
    /// connections in the background; returns how many.
    pub(super) fn evict_idle(&self, idle: Duration) -> usize {
        let cutoff =
            self.tick().saturating_sub(u64::try_from(idle.as_millis()).unwrap_or(u64::MAX));
        let mut map = self.map();
        let idle: Vec<_> = map
            .iter()
            .filter(|(_, s)| s.last_used.load(Ordering::Relaxed) <= cutoff)
            .filter(|(_, s)| Arc::strong_count(s) == 1)
            .map(|(k, _)| k.clone())
            .collect();
        let evicted: Vec<_> = idle.iter().filter_map(|k| map.remove(k)).collect();
        drop(map);
        let n = evicted.len();
        close_in_background(evicted);
        n
    }

    /// Stops every session and waits for them (stdio servers exit or are killed within
    /// twice [`crate::mcp::stdio::STOP_GRACE`]).
    pub(super) async fn stop_all(&self) {
        let all: Vec<_> = self.map().drain().map(|(_, s)| s).collect();
        let mut stopping = tokio::task::JoinSet::new();
        for s in all {
            stopping.spawn(async move { s.close().await });
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Keeps the `keep` most recently used sessions; returns the others.
fn evict_lru(map: &mut Map, keep: usize) -> Vec<Arc<SessionWithoutAuth>> {
    if map.len() <= keep {
        return Vec::new();
    }
    let mut ages: Vec<(u64, (String, String))> =
        map.iter().map(|(k, s)| (s.last_used.load(Ordering::Relaxed), k.clone())).collect();
    ages.sort_unstable();
    let excess = map.len() - keep;
    ages.into_iter().take(excess).filter_map(|(_, k)| map.remove(&k)).collect()
}

/// Closes evicted sessions without holding up the caller. Without a runtime they are dropped,
/// which kills a stdio server ([`crate::mcp::stdio::Child`]).
fn close_in_background(sessions: Vec<Arc<SessionWithoutAuth>>) {
    if sessions.is_empty() {
        return;
    }
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            for s in sessions {
                s.close().await;
            }
        });
    }
}
