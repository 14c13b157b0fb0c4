//! Token endpoint responses: no panic; an accepted response is a 200 JSON Bearer token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::secret::RefreshToken;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::process_token_response;
use mcp_oauth_core_fuzz::{pick, response, Input};

const FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "error",
    "error_description",
    "error_uri",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.byte();
    let now = match flags >> 4 {
        0 => input.u64(),
        1 => u64::MAX,
        _ => pick(flags, &[0, 1_700_000_000]),
    };
    let previous = (flags & 1 == 1).then(|| RefreshToken::new("old"));
    let requested = (flags & 2 == 2).then_some("files:read");
    let resp = response(&mut input, 200, FIELDS);
    if let Ok(t) = process_token_response(&resp, UnixTime(now), previous.as_ref(), requested) {
        assert_eq!(resp.status, 200);
        assert!(resp.is_json());
        assert!(t.token_type.eq_ignore_ascii_case("bearer"));
        assert!(!t.access_token.secret().is_empty());
        assert!(t.expires_at.is_none_or(|e| e >= UnixTime(now)));
        assert!(t.refresh_token.is_some() || previous.is_none());
        assert!(t.scope.is_some() || requested.is_none());
    }
});
