//! The persisted forms of `codec` (what stores write: a flow snapshot, tokens, a client
//! registration, a pending authorization, a discovery result): no panic; whatever is read is
//! written back to a text that reads to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::authorize::PendingAuthorization;
use mcp_oauth_core::registration::ClientRegistration;
use mcp_oauth_core::token::TokenSet;
use mcp_oauth_core::{Discovery, FlowSnapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(v) = FlowSnapshot::from_json(s) {
        assert_eq!(FlowSnapshot::from_json(&v.to_json()).as_ref(), Ok(&v));
    }
    if let Ok(v) = TokenSet::from_json(s) {
        assert_eq!(TokenSet::from_json(&v.to_json().to_text()).as_ref(), Ok(&v));
    }
    if let Ok(v) = ClientRegistration::from_json(s) {
        assert_eq!(ClientRegistration::from_json(&v.to_json().to_text()).as_ref(), Ok(&v));
    }
    if let Ok(v) = PendingAuthorization::from_json(s) {
        assert!(PendingAuthorization::from_json(&v.to_json().to_text()) == Ok(v));
    }
    if let Ok(v) = Discovery::from_json(s) {
        assert_eq!(Discovery::from_json(&v.to_json().to_text()).as_ref(), Ok(&v));
    }
});
