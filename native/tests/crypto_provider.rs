//! The library leaves the process-wide rustls crypto provider to the application (issue 17):
//! building every kind of client it makes, and sending requests with them, installs none, and
//! the application's own `install_default()` afterwards succeeds. One test in its own binary:
//! the process default is global state, which another test could set first.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_installs_no_process_wide_crypto_provider() {
    use rustls::crypto::CryptoProvider;
    assert!(CryptoProvider::get_default().is_none(), "set before the test");

    let url = common::answer_json(3);
    let http = mcp_oauth::http::HttpClient::new().unwrap();
    let request = common::metadata_get(&url);
    let response = http.send(&request).await.unwrap();
    assert_eq!(response.status, 200);
    // The MCP client, and the authorization client with the egress policy's filtered half.
    let mcp = mcp_oauth::mcp::mcp_http_client().unwrap();
    assert_eq!(mcp.get(&url).send().await.unwrap().status(), 200);
    let policy = mcp_oauth::egress::EgressPolicy::deny_internal().allowing("127.0.0.0/8").unwrap();
    let filtered = mcp_oauth::http::HttpClient::new().unwrap().with_egress(policy).unwrap();
    assert_eq!(filtered.send(&request).await.unwrap().status, 200);

    assert!(CryptoProvider::get_default().is_none(), "the library installed a provider");
    // The application's own choice is still open.
    assert!(rustls::crypto::ring::default_provider().install_default().is_ok());
}
