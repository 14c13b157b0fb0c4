//! An application with rustls on aws-lc-rs (reqwest's and rustls' own default) and this crate in
//! one process (issue 17 item 1): the application installs aws-lc-rs as the process default and
//! builds its own reqwest client; the crate's clients (their provider in their own TLS
//! configuration) are built and used beside it; nothing panics, and the process default is
//! still the application's aws-lc-rs afterwards. Its own binary: the process default is global.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use rustls::crypto::CryptoProvider;
use rustls::NamedGroup;

/// aws-lc-rs offers the post-quantum hybrid key exchange first; ring does not have it.
fn is_aws_lc(p: &CryptoProvider) -> bool {
    p.kx_groups.iter().any(|g| g.name() == NamedGroup::X25519MLKEM768)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aws_lc_application_and_the_crate_share_a_process() {
    assert!(CryptoProvider::get_default().is_none(), "set before the test");
    // The application's choice, made first, as reqwest's own documentation has it.
    rustls::crypto::aws_lc_rs::default_provider().install_default().unwrap();
    let url = common::answer_json(4);
    let mine = reqwest::Client::builder().build().unwrap();
    assert_eq!(mine.get(&url).send().await.unwrap().status(), 200);

    // The crate's clients, each with its own provider (ring, feature rustls-ring).
    assert_eq!(mcp_oauth::http::tls_backend(), "rustls/ring");
    let http = mcp_oauth::http::HttpClient::new().unwrap();
    let request = common::metadata_get(&url);
    assert_eq!(http.send(&request).await.unwrap().status, 200);
    let mcp = mcp_oauth::mcp::mcp_http_client().unwrap();
    assert_eq!(mcp.get(&url).send().await.unwrap().status(), 200);
    // The application's client passed to the crate works the same.
    let theirs = mcp_oauth::http::HttpClient::from_reqwest(mine.clone());
    assert_eq!(theirs.send(&request).await.unwrap().status, 200);

    // Still the application's provider; the crate's helper does not replace it either.
    assert!(is_aws_lc(CryptoProvider::get_default().unwrap()));
    mcp_oauth::http::install_crypto_provider();
    assert!(is_aws_lc(CryptoProvider::get_default().unwrap()));
    // And a client the application builds now still gets it, without a panic.
    reqwest::Client::builder().build().unwrap();
}
