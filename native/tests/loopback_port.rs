//! A redirect URI with port 0 (any free port) reuses the client registration of an earlier run
//! (issue 17 item 4; RFC 8252 §7.3: loopback ports may vary): the next run listens on the port
//! the registration used, so the authorization server sees one registration, not one per run;
//! when that port is taken, a new registration follows and the login still works. Against the
//! real peers; the user is played by the application's browser opener.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{count, redirect_uri_of, Peers};
use mcp_oauth::{BrowserMode, ClientOptions, MemoryStore, MetadataCache, OAuthClient, Progress};

/// Options whose browser opener plays the user and records every authorization URL and notice.
fn options(
    peers: &Peers,
    store: Arc<MemoryStore>,
    urls: Arc<Mutex<Vec<String>>>,
    notices: Arc<Mutex<Vec<String>>>,
) -> ClientOptions {
    let mut o = ClientOptions::new(&peers.mcp_url, store).unwrap();
    o.browser = BrowserMode::Open;
    o.redirect_uri = "http://127.0.0.1:0/callback".into();
    o.cache = Arc::new(MetadataCache::new());
    o.browser_opener = Some(common::user_playing_opener(urls));
    o.progress = Some(Arc::new(move |p| {
        if let Progress::Notice { message } = p {
            notices.lock().unwrap().push(message);
        }
    }));
    o
}

async fn login(o: &ClientOptions) {
    let client = OAuthClient::new(o.clone()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), client.authorize()).await.unwrap().unwrap();
    assert!(client.status().await.unwrap().authorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_zero_redirect_uri_reuses_the_registration_of_the_last_run() {
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    let store = Arc::new(MemoryStore::new());
    let urls = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
    let o = options(&peers, store, Arc::clone(&urls), Arc::clone(&notices));

    // Run 1 registers on some free port; run 2 (a new process's client: nothing in memory but
    // the store) takes that port again instead of registering.
    login(&o).await;
    login(&o).await;
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/register"), 1, "one registration for two runs: {stats}");
    let seen: Vec<String> = urls.lock().unwrap().iter().map(|u| redirect_uri_of(u)).collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1], "the second run listened on the registered port");
    assert!(notices.lock().unwrap().is_empty(), "{:?}", notices.lock().unwrap());

    // The registered port is taken by another program: a new registration, and the login works.
    let port = url::Url::parse(&seen[0]).unwrap().port().unwrap();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    login(&o).await;
    drop(squatter);
    let stats = peers.as_stats().await;
    assert_eq!(count(&stats, "/register"), 2, "{stats}");
    let third = redirect_uri_of(urls.lock().unwrap().last().unwrap());
    assert_ne!(third, seen[0]);
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices.iter().any(|n| n.contains("is taken") && n.contains(&seen[0])),
        "the notice names the taken port: {notices:?}"
    );
}
