//! `--public-url`: the origin users' browsers see when the server runs behind a reverse proxy.
//! Consent links start with it, and a WebSocket handshake whose `Origin` (RFC 6454 §7) is its
//! origin is accepted even when the proxy rewrote `Host`.

use crate::Error;

/// A validated public URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]` (RFC 6454 §6.1 serialization: default port left out).
    pub origin: String,
    /// The URL without a trailing `/`: links are `{base}/auth/start/{id}`.
    pub base: String,
}

impl PublicUrl {
    /// Parses an absolute `http`/`https` URL without user info, query or fragment.
    pub fn parse(text: &str) -> Result<PublicUrl, Error> {
        let bad = |why: &str| Error::Usage(format!("--public-url {text}: {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(&format!("not an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info is not allowed"));
        }
        if url.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        if url.fragment().is_some() {
            return Err(bad("a fragment is not allowed"));
        }
        let origin = url.origin().ascii_serialization();
        let base = format!("{origin}{}", url.path().trim_end_matches('/'));
        Ok(PublicUrl { origin, base })
    }
}

#[cfg(test)]
mod tests {
    use super::PublicUrl;

    #[test]
    fn origin_and_base() {
        let p = PublicUrl::parse("https://Chat.Example.com/").expect("ok");
        assert_eq!(p.origin, "https://chat.example.com");
        assert_eq!(p.base, "https://chat.example.com");
        let p = PublicUrl::parse("https://chat.example.com:443/oauth/").expect("ok");
        assert_eq!(p.origin, "https://chat.example.com");
        assert_eq!(p.base, "https://chat.example.com/oauth");
        let p = PublicUrl::parse("http://10.0.0.5:8443").expect("ok");
        assert_eq!(p.origin, "http://10.0.0.5:8443");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (text, why) in [
            ("chat.example.com", "not an absolute URL"),
            ("ftp://chat.example.com", "scheme must be http or https"),
            ("https://u:p@chat.example.com", "user info"),
            ("https://chat.example.com/?a=1", "query"),
            ("https://chat.example.com/#x", "fragment"),
        ] {
            let e = PublicUrl::parse(text).expect_err(text).to_string();
            assert!(e.contains(why) && e.contains(text), "{text}: {e}");
        }
    }
}
