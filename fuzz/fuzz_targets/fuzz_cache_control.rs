//! `Cache-Control` (`cache_max_age`, RFC 9111 §5.2): no panic; several field lines mean the same
//! as one line joined with commas (RFC 9110 §5.3); a positive age comes from a `max-age`
//! directive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::cache_max_age;
use mcp_oauth_core::http::HttpResponse;

fn response(lines: &[&str]) -> HttpResponse {
    let headers = lines.iter().map(|l| ("Cache-Control".to_owned(), (*l).to_owned())).collect();
    HttpResponse::new(200, headers, Vec::new())
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let lines: Vec<&str> = s.split('\n').collect();
    let age = cache_max_age(&response(&lines));
    assert_eq!(age, cache_max_age(&response(&[&lines.join(", ")])), "{s:?}");
    if age.is_some_and(|a| a > 0) {
        assert!(s.to_ascii_lowercase().contains("max-age"), "{s:?}");
    }
});
