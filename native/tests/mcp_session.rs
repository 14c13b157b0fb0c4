//! A streamable-HTTP MCP session as plain requests (native/src/mcp/requests.rs) against the real
//! MCP SDK server of tests/peers/mcp.mjs with sessions (`MCP_STATEFUL=1`, SSE responses): the
//! server's ping in the middle of a tool call is answered and the call completes; a session the
//! server ended (404, streamable HTTP "Session Management") is initialized again and the request
//! sent once more; closing the session sends one DELETE with its id.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{count, get_json, post_json};
use mcp_oauth::mcp::{mcp_http_client, McpSession};
use serde_json::{json, Value};

fn text(result: &rmcp::model::CallToolResult) -> String {
    let value = serde_json::to_value(result).unwrap();
    value["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answers_pings_survives_an_ended_session_and_ends_with_delete() {
    mcp_oauth::http::install_crypto_provider();
    let peer =
        common::start("mcp.mjs", &[("MCP_NO_AUTH", "1".into()), ("MCP_STATEFUL", "1".into())]);
    let url = peer.info["url"].as_str().unwrap().to_owned();
    let origin = url.trim_end_matches("/mcp").to_owned();
    let session =
        McpSession::connect_over(&url, None, false, mcp_http_client().unwrap()).await.unwrap();
    assert_eq!(session.protocol_version().unwrap().as_str(), "2025-11-25");

    // The server sends `ping` on the call's response stream and waits for the answer.
    let result = session.call_tool("ping_client", None).await.unwrap();
    assert_eq!(text(&result), "the client answered the ping");

    // The server ends every session: the next request is refused with 404, and the session
    // initializes again and repeats the request once.
    let config = post_json(&format!("{origin}/__config"), json!({"forget_sessions": true})).await;
    assert!(config.get("error").is_none(), "{config}");
    let tools = session.list_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "whoami"), "{tools:?}");
    let echo = json!({"text": "again"}).as_object().cloned();
    assert_eq!(text(&session.call_tool("echo", echo).await.unwrap()), "again");

    session.close().await;
    let stats: Value = get_json(&format!("{origin}/__stats")).await;
    assert_eq!(count(&stats, "/methods/initialize"), 2, "{stats}");
    assert_eq!(count(&stats, "/methods/notifications~1initialized"), 2, "{stats}");
    assert_eq!(count(&stats, "/methods/tools~1list"), 2, "refused once, then repeated: {stats}");
    assert_eq!(count(&stats, "/http/DELETE"), 1, "{stats}");
    assert_eq!(count(&stats, "/http/GET"), 0, "no standing GET stream: {stats}");
}
