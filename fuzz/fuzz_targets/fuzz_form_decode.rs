//! `application/x-www-form-urlencoded` and percent-decoding: no panic; decoded pairs encode and
//! decode back to themselves, and encoding any pairs decodes back to them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::encoding::{form_decode, form_encode, percent_decode, percent_encode_segment};

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Some(pairs) = form_decode(s) {
        assert_eq!(form_decode(&form_encode(&refs(&pairs))), Some(pairs));
    }
    let _ = percent_decode(s, false);
    let _ = percent_decode(s, true);
    assert_eq!(percent_decode(&percent_encode_segment(s), false).as_deref(), Some(s));
    // The input as pairs: lines, each split at its first tab.
    let pairs: Vec<(String, String)> = s
        .split('\n')
        .map(|line| {
            let (k, v) = line.split_once('\t').unwrap_or((line, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(form_decode(&form_encode(&refs(&pairs))), Some(pairs));
});
