//! A process-wide cache of discovery results, shared by every [`crate::OAuthClient`] of the
//! process: a second user of the same MCP server makes no discovery requests. Entries live as
//! long as the metadata responses' `Cache-Control` allows (the core computes `cache_until`);
//! `no-store`/`max-age=0` responses are not cached; responses without `Cache-Control` are kept
//! for [`DEFAULT_TTL_SECS`].
//!
//! Cold misses are single-flight ([`MetadataCache::fetch_once`]): while one metadata request
//! for a URL is in flight, every other flow asking for the same URL waits for its response
//! instead of sending its own (50 users starting at once make one request per document, not
//! one each). A failure is shared only with the callers that joined its flight. A successful
//! response also serves callers arriving within [`FLIGHT_LINGER`] after it (bounded by its
//! `Cache-Control` as above: `no-store` or `max-age=0` responses are not reused): users whose
//! discovery started just before the first user's result reached this cache. A caller whose
//! fetch is cancelled (its task dropped) leaves the flight to the next waiter, which fetches
//! itself.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mcp_oauth_core::http::{HttpRequest, HttpResponse};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::Discovery;

use crate::http::TransportError;

/// How long discovery without `Cache-Control` is reused (5 minutes).
pub const DEFAULT_TTL_SECS: u64 = 300;

/// How long a successful metadata response serves later callers of the same request (module
/// docs).
pub const FLIGHT_LINGER: Duration = Duration::from_secs(5);

/// Discovery results by MCP server URL (canonical).
#[derive(Debug, Default)]
pub struct MetadataCache {
    entries: Mutex<HashMap<String, Arc<Discovery>>>,
    /// Metadata requests in flight, by [`flight_key`].
    flights: Mutex<HashMap<String, Arc<Flight>>>,
}

/// One metadata request in flight: its callers queue on the slot's lock; the first to hold it
/// fetches and leaves the result for the others.
#[derive(Debug, Default)]
struct Flight {
    slot: tokio::sync::Mutex<Option<FetchResult>>,
    /// Set when the flight ended with a reusable response: callers until then get it too.
    reusable_until: Mutex<Option<Instant>>,
}

impl Flight {
    fn ended(&self, now: Instant) -> bool {
        let until = self.reusable_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| now >= t)
    }
}

/// How long `result` may serve later callers: successes only, within their `Cache-Control`.
fn linger(result: &FetchResult) -> Option<Duration> {
    let resp = result.as_ref().ok().filter(|r| (200..300).contains(&r.status))?;
    let limit = match mcp_oauth_core::__private::json::cache_max_age(resp) {
        Some(secs) => FLIGHT_LINGER.min(Duration::from_secs(secs)),
        None => FLIGHT_LINGER,
    };
    (!limit.is_zero()).then_some(limit)
}

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
    /// fetching, and a success serves later callers for [`FLIGHT_LINGER`] at most (module
    /// docs). Then the flight ends; the next caller fetches anew. If the fetching caller is
    /// dropped before its fetch ends, the next waiter fetches.
    pub async fn fetch_once<F, Fut>(&self, key: &str, fetch: F) -> FetchResult
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = FetchResult>,
    {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if flights.get(key).is_none_or(|f| f.ended(now)) {
                flights.retain(|_, f| !f.ended(now));
                flights.insert(key.to_owned(), Arc::default());
            }
            Arc::clone(&flights[key])
        };
        let mut slot = flight.slot.lock().await;
        if let Some(result) = slot.as_ref() {
            return result.clone();
        }
        let result = fetch().await;
        *slot = Some(result.clone());
        match linger(&result) {
            Some(d) => {
                *flight.reusable_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + d);
            }
            None => {
                // The flight ends: later callers fetch again (a newer flight for `key` stays).
                let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
                if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                    flights.remove(key);
                }
            }
        }
        result
    }

    /// Metadata requests in flight or whose success still serves callers (tests).
    pub fn flights_in_progress(&self) -> usize {
        let now = Instant::now();
        let flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.values().filter(|f| !f.ended(now)).count()
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
