//! The crate's errors keep their causes (issue 17 item 4): an MCP request that cannot reach the
//! server is `Error::Transport` whose `source()` is reqwest's error, and the message still names
//! the URL and the cause. (`Error::Mcp` keeps rmcp's error likewise: native/src/error.rs.)
#![allow(clippy::unwrap_used, clippy::panic)]

use mcp_oauth::mcp::{mcp_http_client, McpSession};
use mcp_oauth::Error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_and_mcp_errors_keep_their_sources() {
    mcp_oauth::http::install_crypto_provider();
    // Nothing listens here.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let Err(err) = McpSession::connect_over(&url, None, false, mcp_http_client().unwrap()).await
    else {
        panic!("connected to a closed port")
    };
    match &err {
        Error::Transport { url: u, message, .. } => {
            assert_eq!(u, &url);
            assert!(message.contains("onnect"), "{message}");
        }
        other => panic!("expected Error::Transport, got {other:?}"),
    }
    let source = std::error::Error::source(&err).expect("the transport error's source");
    assert!(source.downcast_ref::<reqwest::Error>().is_some(), "{source:?}");
}
