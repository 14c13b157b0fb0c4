//! While a browser login waits for the user (issue 17 item 4), the client's `status()` and
//! `access_token()` answer at once with "authorization pending" instead of waiting for the
//! login's lock; the MCP transport's own requests still wait for the login and get its tokens.
//! Against the real peers, with the user played by `redirect::follow` and a GET of the callback.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Peers;
use mcp_oauth::{
    BrowserMode, ClientOptions, Error, MemoryStore, MetadataCache, OAuthClient, Progress,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_access_token_answer_while_the_browser_login_waits() {
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).unwrap();
    o.browser = BrowserMode::Print;
    o.redirect_uri = "http://127.0.0.1:0/callback".into();
    o.cache = Arc::new(MetadataCache::new());
    o.progress = Some(Arc::new(move |p| {
        if let Progress::VisitUrl { url } = p {
            let _ = tx.send(url);
        }
    }));
    let client = Arc::new(OAuthClient::new(o).unwrap());
    let redirect_uri = client.redirect_uri().to_owned();

    let login = tokio::spawn({
        let client = Arc::clone(&client);
        async move { client.authorize().await }
    });
    let url = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();

    // The login holds the client while it waits; these answer without waiting for it.
    let started = Instant::now();
    let quick = Duration::from_secs(5);
    let status =
        tokio::time::timeout(quick, client.status()).await.expect("status waited").unwrap();
    assert_eq!(status.authorization_pending.as_deref(), Some(url.as_str()));
    assert!(!status.authorized, "{status:?}");
    match tokio::time::timeout(quick, client.access_token()).await.expect("access_token waited") {
        Err(Error::AuthorizationPending { url: pending, .. }) => assert_eq!(pending, url),
        other => panic!("expected authorization_pending, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    assert_eq!(
        client.access_token().await.unwrap_err().code(),
        "authorization_pending",
        "the stable code"
    );

    // The user consents; the browser comes back to the loopback listener.
    let callback =
        mcp_oauth::redirect::follow(&url, &redirect_uri, Duration::from_secs(30)).await.unwrap();
    let page = reqwest::get(&callback).await.unwrap();
    assert!(page.status().is_success(), "{}", page.status());
    login.await.unwrap().unwrap();

    let status = client.status().await.unwrap();
    assert_eq!(status.authorization_pending, None, "{status:?}");
    assert!(status.authorized, "{status:?}");
    assert!(!client.access_token().await.unwrap().secret().is_empty());
}

/// `ClientOptions::browser_opener` shows the URL the application's way: here it plays the user
/// (in a task of its own, answering at once); the login then completes as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_browser_opener_gets_the_url() {
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    let opened = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).unwrap();
    o.browser = BrowserMode::Open;
    o.redirect_uri = "http://127.0.0.1:0/callback".into();
    o.cache = Arc::new(MetadataCache::new());
    o.browser_opener = Some(common::user_playing_opener(Arc::clone(&opened)));
    let progress = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&progress);
    o.progress = Some(Arc::new(move |p| log.lock().unwrap().push(format!("{p:?}"))));
    let client = OAuthClient::new(o).unwrap();
    tokio::time::timeout(Duration::from_secs(60), client.authorize()).await.unwrap().unwrap();
    assert!(client.status().await.unwrap().authorized);
    let opened = opened.lock().unwrap().clone();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0].contains("code_challenge="), "{opened:?}");
    let progress = progress.lock().unwrap().clone();
    assert!(progress.iter().any(|p| p.starts_with("BrowserOpened")), "{progress:?}");
}

/// A URL nobody would see (`Print` without a progress callback) fails at once, naming the fix,
/// instead of waiting five minutes for a user who cannot come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_nobody_would_see_fails_at_once() {
    mcp_oauth::http::install_crypto_provider();
    let peers = Peers::start();
    let mut o = ClientOptions::new(&peers.mcp_url, Arc::new(MemoryStore::new())).unwrap();
    o.browser = BrowserMode::Print;
    o.redirect_uri = "http://127.0.0.1:0/callback".into();
    o.cache = Arc::new(MetadataCache::new());
    let client = OAuthClient::new(o).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), client.authorize())
        .await
        .expect("it waited")
        .unwrap_err();
    assert!(err.to_string().contains("ClientOptions::progress"), "{err}");
    let status = client.status().await.unwrap();
    assert_eq!(status.authorization_pending, None);
    assert!(!status.authorized);
}
