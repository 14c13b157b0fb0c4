//! `WWW-Authenticate` parsing: no panic; accepted headers have lowercase, unique parameter
//! names, at most `MAX_PARAMETERS` of them, and re-render to a header that parses to the same
//! challenges (or, past `MAX_HEADER_LEN`, is refused as too long).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::www_authenticate::{self, Challenge, ChallengeError, MAX_HEADER_LEN};

fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' || c.is_ascii_control() {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn render(chs: &[Challenge]) -> String {
    let mut parts = Vec::new();
    for ch in chs {
        let mut s = ch.scheme.clone();
        if let Some(t) = &ch.token68 {
            s.push(' ');
            s.push_str(t);
        } else if !ch.params.is_empty() {
            s.push(' ');
            let params: Vec<String> =
                ch.params.iter().map(|(n, v)| format!("{n}={}", quote(v))).collect();
            s.push_str(&params.join(", "));
        }
        parts.push(s);
    }
    parts.join(", ")
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(chs) = www_authenticate::parse(s) {
        assert!(s.len() <= MAX_HEADER_LEN);
        let params: usize = chs.iter().map(|c| c.params.len()).sum();
        assert!(params <= www_authenticate::MAX_PARAMETERS);
        for ch in &chs {
            assert!(!ch.scheme.is_empty());
            assert!(ch.token68.is_none() || ch.params.is_empty());
            for (i, (n, _)) in ch.params.iter().enumerate() {
                assert_eq!(*n, n.to_ascii_lowercase());
                assert!(!ch.params[..i].iter().any(|(m, _)| m == n), "duplicate {n}");
            }
        }
        let rendered = render(&chs);
        // Quoting every value can take a value near the cap past it; then the cap is the error.
        let expected = if rendered.len() > MAX_HEADER_LEN {
            Err(ChallengeError::TooLong { length: rendered.len(), max: MAX_HEADER_LEN })
        } else {
            Ok(chs)
        };
        assert_eq!(
            www_authenticate::parse(&rendered),
            expected,
            "{s:?} re-rendered as {rendered:?}"
        );
    }
    // Several header lines, as a response may carry them.
    let headers = s.split('\n').map(|l| ("WWW-Authenticate".to_owned(), l.to_owned())).collect();
    let _ = www_authenticate::bearer_challenge(&HttpResponse::new(401, headers, Vec::new()));
});
