//! A process-wide cache of discovery results, shared by every [`crate::OAuthClient`] of the
//! process: a second user of the same MCP server makes no discovery requests. Entries live as
//! long as the metadata responses' `Cache-Control` allows (the core computes `cache_until`);
//! `no-store`/`max-age=0` responses are not cached; responses without `Cache-Control` are kept
//! for [`DEFAULT_TTL_SECS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::Discovery;

/// How long discovery without `Cache-Control` is reused (5 minutes).
pub const DEFAULT_TTL_SECS: u64 = 300;

/// Discovery results by MCP server URL (canonical).
#[derive(Debug, Default)]
pub struct MetadataCache {
    entries: Mutex<HashMap<String, Arc<Discovery>>>,
}

impl MetadataCache {
    /// An empty cache (tests; hosts normally use [`MetadataCache::global`]).
    pub fn new() -> MetadataCache {
        MetadataCache::default()
    }

    /// The cache shared by the whole process.
    pub fn global() -> Arc<MetadataCache> {
        static GLOBAL: OnceLock<Arc<MetadataCache>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(MetadataCache::new())).clone()
    }

    /// A fresh entry for `server`, if any.
    pub fn get(&self, server: &str, now: UnixTime) -> Option<Discovery> {
        self.get_shared(server, now).map(|d| Discovery::clone(&d))
    }

    /// A fresh entry for `server`, if any, shared rather than copied: the flows of every user
    /// of the server hold this one ([`mcp_oauth_core::AuthFlow::use_discovery`]).
    pub fn get_shared(&self, server: &str, now: UnixTime) -> Option<Arc<Discovery>> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(server) {
            Some(d) if d.cache_until.is_some_and(|t| now < t) => Some(Arc::clone(d)),
            Some(_) => {
                map.remove(server);
                None
            }
            None => None,
        }
    }

    /// Stores a discovery result, unless its responses forbade caching.
    pub fn put(&self, server: &str, mut discovery: Discovery, now: UnixTime) {
        match discovery.cache_until {
            Some(t) if t <= now => return,
            Some(_) => {}
            None => discovery.cache_until = Some(now.plus(DEFAULT_TTL_SECS)),
        }
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(server.to_owned(), Arc::new(discovery));
    }

    /// Forgets everything (tests, or after a server changed its configuration).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_oauth_core::server_metadata::legacy_default_metadata;
    use mcp_oauth_core::url::ResourceUrl;

    fn discovery(cache_until: Option<UnixTime>) -> Discovery {
        let server = ResourceUrl::parse("https://mcp.example.com/mcp").expect("url");
        Discovery {
            resource_metadata: None,
            server: legacy_default_metadata(&server).expect("metadata"),
            legacy: true,
            header_url: None,
            cache_until,
        }
    }

    #[test]
    fn honours_cache_control() {
        let cache = MetadataCache::new();
        let now = UnixTime(1000);
        // max-age=60 → until 1060.
        cache.put("a", discovery(Some(UnixTime(1060))), now);
        assert!(cache.get("a", UnixTime(1059)).is_some());
        assert!(cache.get("a", UnixTime(1060)).is_none(), "stale at max-age");
        // no-store / max-age=0 → the core says "until now": not cached.
        cache.put("b", discovery(Some(now)), now);
        assert!(cache.get("b", now).is_none());
        // No Cache-Control → the default TTL.
        cache.put("c", discovery(None), now);
        assert!(cache.get("c", now.plus(DEFAULT_TTL_SECS - 1)).is_some());
        assert!(cache.get("c", now.plus(DEFAULT_TTL_SECS)).is_none());
    }
}
