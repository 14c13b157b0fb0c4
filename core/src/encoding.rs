//! Small encoders the protocol needs: `application/x-www-form-urlencoded` (RFC 6749 Appendix B,
//! WHATWG URL §5), percent-decoding, and base64 (RFC 4648 §4 with padding, §5 URL-safe without).
//!
//! Written here instead of pulling the `base64`/`form_urlencoded` crates: each is a few lines,
//! and the browser bundle pays for every dependency (see `BENCHMARKS.md`).
//!
//! Hostile input: decoding is linear. [`form_decode`] refuses a text longer than
//! [`MAX_FORM_LEN`] (64 KiB) before reading it, and one with more than [`MAX_FORM_PAIRS`]
//! (8,192) pairs. OAuth's form messages (RFC 6749 §4.1.2 callbacks, §4.1.3 token requests) are
//! a few hundred bytes; a callback URL is capped shorter still by `url::MAX_URL_LEN`.

/// Longest `application/x-www-form-urlencoded` text [`form_decode`] reads, in bytes.
pub const MAX_FORM_LEN: usize = 64 << 10;
/// Most pairs [`form_decode`] returns.
pub const MAX_FORM_PAIRS: usize = 8192;

/// Why a form-encoded text could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// A malformed `%` escape, or a name or value that is not UTF-8 once decoded.
    #[error("malformed percent-escape or invalid UTF-8 in a form-encoded text")]
    Malformed,
    /// Longer than [`MAX_FORM_LEN`].
    #[error("form-encoded text of {length} bytes is longer than MAX_FORM_LEN ({max})")]
    TooLong {
        /// Its length in bytes.
        length: usize,
        /// [`MAX_FORM_LEN`].
        max: usize,
    },
    /// More than [`MAX_FORM_PAIRS`] pairs.
    #[error("form-encoded text has more than MAX_FORM_PAIRS ({max}) pairs")]
    TooManyPairs {
        /// [`MAX_FORM_PAIRS`].
        max: usize,
    },
}

impl FormError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FormError::Malformed => "form_malformed",
            FormError::TooLong { .. } => "form_too_long",
            FormError::TooManyPairs { .. } => "form_too_many_pairs",
        }
    }
}

/// Bytes that `application/x-www-form-urlencoded` leaves as they are (WHATWG URL
/// "application/x-www-form-urlencoded percent-encode set" complement): ALPHA / DIGIT / `*-._`.
fn form_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

/// RFC 3986 §2.3 unreserved characters.
fn uri_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Encodes one name or value as `application/x-www-form-urlencoded` (space becomes `+`).
pub fn form_encode_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if form_unreserved(b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Encodes name/value pairs as an `application/x-www-form-urlencoded` body or query.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode_component(k, &mut out);
        out.push('=');
        form_encode_component(v, &mut out);
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a path segment).
pub fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if uri_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH` escapes (and `+` as space when `plus_is_space`). `None` when an escape is
/// malformed or the result is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex_val(*bytes.get(i + 1)?)?;
                let lo = hex_val(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses an `application/x-www-form-urlencoded` string into pairs (module docs for the caps).
pub fn form_decode(s: &str) -> Result<Vec<(String, String)>, FormError> {
    // RFC 6749 §4.1.2, §4.1.3: OAuth's form messages are short; longer ones are refused.
    if s.len() > MAX_FORM_LEN {
        return Err(FormError::TooLong { length: s.len(), max: MAX_FORM_LEN });
    }
    let mut out = Vec::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        if out.len() == MAX_FORM_PAIRS {
            return Err(FormError::TooManyPairs { max: MAX_FORM_PAIRS });
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode = |t| percent_decode(t, true).ok_or(FormError::Malformed);
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64_with(alphabet: &[u8; 64], data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 with padding (RFC 4648 §4), as HTTP Basic authentication uses it.
pub fn base64_std(data: &[u8]) -> String {
    base64_with(B64_STD, data, true)
}

/// Base64url without padding (RFC 4648 §5, RFC 7636 Appendix A).
pub fn base64url_nopad(data: &[u8]) -> String {
    base64_with(B64_URL, data, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_section10_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64_std(input.as_bytes()), expected);
            assert_eq!(base64url_nopad(input.as_bytes()), expected.trim_end_matches('='));
        }
        assert_eq!(base64url_nopad(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64_std(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn form_encoding_rfc6749_appendix_b() {
        // RFC 6749 Appendix B: the value " %&+£€" is encoded as "+%25%26%2B%C2%A3%E2%82%AC".
        let mut out = String::new();
        form_encode_component(" %&+£€", &mut out);
        assert_eq!(out, "+%25%26%2B%C2%A3%E2%82%AC");
        assert_eq!(form_encode(&[("a b", "c&d"), ("e", "")]), "a+b=c%26d&e=");
        assert_eq!(
            form_decode("+%25%26%2B%C2%A3%E2%82%AC=x&y").unwrap(),
            vec![(" %&+£€".to_string(), "x".to_string()), ("y".to_string(), String::new())]
        );
    }

    #[test]
    fn form_caps_are_enforced_and_named() {
        assert_eq!(form_decode(&"a&".repeat(MAX_FORM_PAIRS)).unwrap().len(), MAX_FORM_PAIRS);
        let many = "a&".repeat(MAX_FORM_PAIRS + 1);
        assert_eq!(form_decode(&many), Err(FormError::TooManyPairs { max: MAX_FORM_PAIRS }));
        let long = "a".repeat(MAX_FORM_LEN + 1);
        let e = form_decode(&long).unwrap_err();
        assert_eq!(e, FormError::TooLong { length: MAX_FORM_LEN + 1, max: MAX_FORM_LEN });
        assert!(e.to_string().contains("MAX_FORM_LEN"));
        assert_eq!(form_decode(&"a".repeat(MAX_FORM_LEN)).unwrap().len(), 1);
        assert_eq!(form_decode("a=%zz"), Err(FormError::Malformed));
        let mut codes: Vec<&str> =
            [many, long, "%".into()].iter().map(|t| form_decode(t).unwrap_err().code()).collect();
        codes.dedup();
        assert_eq!(codes, ["form_too_many_pairs", "form_too_long", "form_malformed"]);
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%ff", false), None, "invalid UTF-8");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
    }
}
