//! `application/x-www-form-urlencoded` and percent-decoding: no panic; decoded pairs encode and
//! decode back to themselves, and encoding any pairs decodes back to them unless the encoding
//! passes a cap (`MAX_FORM_LEN`, `MAX_FORM_PAIRS`), which is then the error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::__private::encoding::{
    form_decode, form_encode, percent_decode, percent_encode_segment, FormError, MAX_FORM_LEN,
    MAX_FORM_PAIRS,
};

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match form_decode(s) {
        Ok(pairs) => {
            assert!(s.len() <= MAX_FORM_LEN && pairs.len() <= MAX_FORM_PAIRS);
            let encoded = form_encode(&refs(&pairs));
            match form_decode(&encoded) {
                Ok(again) => assert_eq!(again, pairs),
                // Escaping can make the text longer than the cap.
                Err(e) => {
                    assert_eq!(e, FormError::TooLong { length: encoded.len(), max: MAX_FORM_LEN })
                }
            }
        }
        Err(FormError::TooLong { length, .. }) => assert!(length > MAX_FORM_LEN),
        Err(_) => {}
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
    let encoded = form_encode(&refs(&pairs));
    match form_decode(&encoded) {
        Ok(decoded) => assert_eq!(decoded, pairs),
        Err(FormError::TooLong { .. }) => assert!(encoded.len() > MAX_FORM_LEN),
        Err(FormError::TooManyPairs { .. }) => assert!(pairs.len() > MAX_FORM_PAIRS),
        Err(e) => panic!("{e:?} for encoded pairs"),
    }
});
