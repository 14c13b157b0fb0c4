//! RFC 8414 / OIDC Discovery metadata, regular and legacy: no panic; accepted metadata has the
//! expected issuer, secure endpoints and PKCE S256 (unless the policy assumes it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::server_metadata;
use mcp_oauth_core_fuzz::{issuer, metadata_url, response, Input, ISSUER};

const FIELDS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "code_challenge_methods_supported",
    "response_types_supported",
    "registration_endpoint",
    "revocation_endpoint",
    "scopes_supported",
    "token_endpoint_auth_methods_supported",
    "grant_types_supported",
    "authorization_response_iss_parameter_supported",
    "client_id_metadata_document_supported",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let policy = {
        let mut p = ServerPolicy::default();
        p.danger_assume_pkce_s256 = input.byte() & 1 == 1;
        p
    };
    let resp = response(&mut input, 200, FIELDS);
    let url = metadata_url();
    if let Ok(m) = server_metadata::process_metadata_response(&issuer(), &url, &resp, &policy) {
        assert_eq!(resp.status, 200);
        assert_eq!(m.issuer.as_str(), ISSUER);
        assert!(m.authorization_endpoint.url().require_secure().is_ok());
        assert!(m.token_endpoint.url().require_secure().is_ok());
        match &m.code_challenge_methods_supported {
            Some(ms) => assert!(ms.iter().any(|x| x == "S256")),
            None => assert!(policy.danger_assume_pkce_s256),
        }
    }
    if let Ok(m) = server_metadata::process_legacy_metadata_response(&url, &resp, &policy) {
        assert_eq!(resp.status, 200);
        assert!(m.issuer.url().require_secure().is_ok());
        let _ = server_metadata::candidate_urls(&m.issuer);
    }
});
