//! RFC 8693 token exchange responses: no panic; an accepted response is a 200 JSON object with
//! the three required members and, when a type was requested, that type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token_exchange::{process_token_exchange_response, token_types};
use mcp_oauth_core_fuzz::{pick, response, Input};

const FIELDS: &[&str] = &[
    "access_token",
    "issued_token_type",
    "token_type",
    "expires_in",
    "scope",
    "error",
    "error_description",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let flags = input.byte();
    let now = match flags >> 4 {
        0 => input.u64(),
        1 => u64::MAX,
        _ => pick(flags, &[0, 1_700_000_000]),
    };
    let requested = (flags & 1 == 1).then_some(token_types::ID_JAG);
    let resp = response(&mut input, 200, FIELDS);
    if let Ok(t) = process_token_exchange_response(&resp, UnixTime(now), requested) {
        assert_eq!(resp.status, 200);
        assert!(resp.is_json());
        assert!(!t.token.secret().is_empty() && !t.token_type.is_empty());
        assert!(requested.is_none_or(|r| t.issued_token_type == r));
        assert!(t.expires_at.is_none_or(|e| e >= UnixTime(now)));
    }
});
