//! RFC 7591 registration responses: no panic; an accepted registration is usable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::registration::process_registration_response;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::TokenEndpointAuth;
use mcp_oauth_core::url::RedirectUri;
use mcp_oauth_core_fuzz::{response, Input, ISSUER};

const FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_secret_expires_at",
    "token_endpoint_auth_method",
    "error",
    "error_description",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let now = if input.byte() & 1 == 1 { input.u64() } else { 1_700_000_000 };
    let resp = response(&mut input, 201, FIELDS);
    let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").expect("valid redirect URI");
    if let Ok(r) = process_registration_response(&resp, ISSUER, &redirect, UnixTime(now)) {
        // RFC 7591 §3.2.1 says 201; a complete answer with 200 is accepted (real servers).
        assert!(resp.status == 201 || resp.status == 200, "status {}", resp.status);
        assert!(!r.client_id.is_empty());
        assert_ne!(r.auth_method, TokenEndpointAuth::PrivateKeyJwt);
        assert_eq!(r.client_secret.is_some(), r.auth_method != TokenEndpointAuth::None);
        if r.client_secret.is_some() {
            assert!(r.client_secret_expires_at.is_none_or(|t| t > UnixTime(now)));
        }
        // A registration just received is usable at once (this found a bug once: an expiry
        // kept without a secret; see `registration_ok_is_usable` in core/tests).
        assert!(r.usable_for(ISSUER, redirect.as_str(), UnixTime(now)));
    }
});
