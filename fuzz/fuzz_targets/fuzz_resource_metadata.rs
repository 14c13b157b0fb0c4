//! RFC 9728 protected-resource metadata: no panic; accepted metadata describes the MCP server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::resource_metadata;
use mcp_oauth_core::url::{EndpointUrl, ResourceUrl};
use mcp_oauth_core_fuzz::{pick, response, Input};

const FIELDS: &[&str] = &["resource", "authorization_servers", "scopes_supported", "resource_name"];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mcp = pick(
        input.byte(),
        &["https://mcp.example.com/mcp", "https://mcp.example.com", "http://localhost:3000/mcp/"],
    );
    let mcp_url = ResourceUrl::parse(mcp).expect("valid MCP URL");
    let url =
        EndpointUrl::parse("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
            .expect("valid URL");
    let resp = response(&mut input, 200, FIELDS);
    if let Ok(m) = resource_metadata::process_metadata_response(&url, &mcp_url, &resp) {
        assert_eq!(resp.status, 200);
        assert!(m.resource.covers(&mcp_url));
        assert!(!m.authorization_servers.is_empty());
    }
    for header_url in [None, std::str::from_utf8(data).ok()] {
        let _ = resource_metadata::candidate_urls(&mcp_url, header_url);
    }
});
