//! A process-wide cache of discovery results, shared by every [`crate::OAuthClient`] of the
//! process: a second user of the same MCP server makes no discovery requests. Entries live as
//! long as the metadata responses' `Cache-Control` allows (the core computes `cache_until`);
//! `no-store`/`max-age=0` responses are not cached; responses without `Cache-Control` are kept
//! for [`DEFAULT_TTL_SECS`].
//!
//! Cold misses are single-flight ([`MetadataCache::fetch_once`]): while one metadata request
//! for a URL is in flight, every other flow asking for the same URL waits for its response
//! instead of sending its own (50 users starting at once make one request per document, not
//! one each). A response, success or failure, is shared only with the callers that joined its
//! flight; nothing is kept beyond the rules above. A caller whose fetch is cancelled (its task
//! dropped) leaves the flight to the next waiter, which fetches itself.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use mcp_oauth_core::http::{HttpRequest, HttpResponse};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::Discovery;

use crate::http::TransportError;

/// How long discovery without `Cache-Control` is reused (5 minutes).
pub const DEFAULT_TTL_SECS: u64 = 300;

/// Discovery results by MCP server URL (canonical).
#[derive(Debug, Default)]
pub struct MetadataCache {
    entries: Mutex<HashMap<String, Arc<Discovery>>>,
    /// Metadata requests in flight, by [`flight_key`].
    flights: Mutex<HashMap<String, Arc<Flight>>>,
}

/// One metadata request in flight: its callers queue on the slot's lock; the first to hold it
/// fetches and leaves the result for the others.
type Flight = tokio::sync::Mutex<Option<FetchResult>>;

/// What a metadata fetch gave.
type FetchResult = Result<HttpResponse, TransportError>;

/// The identity of a metadata request: method, URL and headers (a request with other headers
/// might be answered differently).
pub fn flight_key(req: &HttpRequest) -> String {
    let mut key = format!("{} {}", req.method.as_str(), req.url);
    for (name, value) in &req.headers {
        key.push('\n');
        key.push_str(&name.to_ascii_lowercase());
        key.push_str(": ");
        key.push_str(value);
    }
    key
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
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Runs `fetch` for the request named `key` ([`flight_key`]) single-flight: callers that
    /// arrive while a fetch for `key` is in flight get its result (a failure too) instead of
    /// fetching. Once a flight has its result it ends; the next caller fetches anew. If the
    /// fetching caller is dropped before its fetch ends, the next waiter fetches.
    pub async fn fetch_once<F, Fut>(&self, key: &str, fetch: F) -> FetchResult
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = FetchResult>,
    {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(flights.entry(key.to_owned()).or_default())
        };
        let mut slot = flight.lock().await;
        if let Some(result) = slot.as_ref() {
            return result.clone();
        }
        let result = fetch().await;
        *slot = Some(result.clone());
        // The flight ends: later callers fetch again (a newer flight for `key` stays).
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(key);
        }
        result
    }

    /// Metadata requests in flight (tests).
    pub fn flights_in_progress(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
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
