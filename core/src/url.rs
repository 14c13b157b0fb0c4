//! URLs: a strict parser for the `http`/`https` URLs OAuth uses (RFC 3986), and the validated
//! newtypes built from it once, at the boundary: [`IssuerUrl`] (RFC 8414 §2), [`ResourceUrl`]
//! (RFC 8707 §2, MCP "canonical server URI") and [`RedirectUri`] (RFC 6749 §3.1.2, MCP: loopback
//! or https).
//!
//! Why not the `url` crate: its IDNA tables add about 70 KB gzipped to a wasm build, more than
//! the whole protocol. OAuth endpoints need none of that: hosts must be ASCII (an
//! internationalised name is given in its `xn--` form), and every other character outside
//! RFC 3986's sets must already be percent-encoded. Anything else is an error that names the
//! problem, never a silent fix.
//!
//! Identity checks (issuer, resource, redirect URI) compare the **original strings**
//! (RFC 8414 §3.3, RFC 9207 §2.4), which each newtype keeps next to the parsed form.
//!
//! Hostile input: parsing is linear, and a URL longer than [`MAX_URL_LEN`] (16 KiB, twice the
//! 8,000 octets RFC 9110 §4.1 asks recipients to support) is refused before it is read; its
//! error keeps only the first [`ERROR_INPUT_PREFIX`] bytes of the input.

use std::fmt;

use crate::encoding;

mod redirect;

pub use redirect::{DEFAULT_LOOPBACK_PORT, DEFAULT_REDIRECT_URI};

/// Longest URL [`Url::parse`] and the validated newtypes read, in bytes.
pub const MAX_URL_LEN: usize = 16 << 10;
/// How much of an over-long URL its [`UrlError`] keeps.
pub const ERROR_INPUT_PREFIX: usize = 100;

/// What was wrong with a URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// Empty string.
    #[error("it is empty")]
    Empty,
    /// No `scheme://`.
    #[error("it is not an absolute URL (no `scheme://`)")]
    NotAbsolute,
    /// A scheme other than http/https.
    #[error("the scheme `{0}` is not supported (only https, or http on a loopback host)")]
    UnsupportedScheme(String),
    /// `user:pass@` in the authority.
    #[error("it contains user information (`user@`), which is not allowed")]
    Userinfo,
    /// Empty host.
    #[error("the host is empty")]
    EmptyHost,
    /// A host with non-ASCII characters.
    #[error("the host `{0}` is not ASCII; give an internationalised name in its `xn--` form")]
    NonAsciiHost(String),
    /// A host with characters not allowed in a host name.
    #[error("the host `{0}` is not a valid host name or IP literal")]
    InvalidHost(String),
    /// A port that is not a number up to 65535.
    #[error("the port `{0}` is not a number from 0 to 65535")]
    InvalidPort(String),
    /// A character that must be percent-encoded.
    #[error("the character '{0}' must be percent-encoded")]
    InvalidCharacter(char),
    /// `%` not followed by two hex digits.
    #[error("it has a malformed percent-escape")]
    InvalidPercentEscape,
    /// `http` on a host that is not loopback.
    #[error("http is only allowed on a loopback host (localhost, 127.0.0.1, [::1]); use https")]
    InsecureScheme,
    /// A fragment where none is allowed.
    #[error("it has a fragment (`#…`), which is not allowed here")]
    Fragment,
    /// A query where none is allowed.
    #[error("it has a query (`?…`), which is not allowed here")]
    Query,
    /// An `https` URL with no path where a path is required (client ID metadata document).
    #[error("it has no path; a path is required here")]
    MissingPath,
    /// Longer than [`MAX_URL_LEN`].
    #[error("it is {length} bytes long, more than MAX_URL_LEN ({max})")]
    TooLong {
        /// Its length in bytes.
        length: usize,
        /// [`MAX_URL_LEN`].
        max: usize,
    },
}

impl UrlProblem {
    /// Stable code of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            UrlProblem::Empty => "url_empty",
            UrlProblem::NotAbsolute => "url_not_absolute",
            UrlProblem::UnsupportedScheme(_) => "url_unsupported_scheme",
            UrlProblem::Userinfo => "url_userinfo",
            UrlProblem::EmptyHost => "url_empty_host",
            UrlProblem::NonAsciiHost(_) => "url_non_ascii_host",
            UrlProblem::InvalidHost(_) => "url_invalid_host",
            UrlProblem::InvalidPort(_) => "url_invalid_port",
            UrlProblem::InvalidCharacter(_) => "url_invalid_character",
            UrlProblem::InvalidPercentEscape => "url_invalid_percent_escape",
            UrlProblem::InsecureScheme => "url_insecure_scheme",
            UrlProblem::Fragment => "url_fragment",
            UrlProblem::Query => "url_query",
            UrlProblem::MissingPath => "url_missing_path",
            UrlProblem::TooLong { .. } => "url_too_long",
        }
    }
}

/// A URL that failed validation, with the input and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: {problem}")]
pub struct UrlError {
    /// What the URL was for ("URL", "issuer", "redirect URI", ...).
    pub what: &'static str,
    /// The string as given.
    pub input: String,
    /// What was wrong.
    pub problem: UrlProblem,
}

impl UrlError {
    fn new(what: &'static str, input: &str, problem: UrlProblem) -> UrlError {
        let input = if input.len() > MAX_URL_LEN {
            let mut end = ERROR_INPUT_PREFIX;
            while !input.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &input[..end])
        } else {
            input.to_owned()
        };
        UrlError { what, input, problem }
    }

    /// Stable code (the problem's code).
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }
}

/// A parsed absolute `http`/`https` URL. Scheme and host are lowercased, a default port is
/// dropped, an empty path becomes `/`; everything else is kept as written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    https: bool,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

fn is_pchar_or_slash(b: u8) -> bool {
    // RFC 3986 §3.3 pchar = unreserved / pct-encoded / sub-delims / ":" / "@", plus "/".
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

fn is_query_char(b: u8) -> bool {
    // RFC 3986 §3.4 query = *( pchar / "/" / "?" )
    is_pchar_or_slash(b) || b == b'?'
}

fn check_chars(s: &str, allowed: fn(u8) -> bool) -> Result<(), UrlProblem> {
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        if !c.is_ascii() || !allowed(c as u8) {
            return Err(UrlProblem::InvalidCharacter(c));
        }
        if c == '%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UrlProblem::InvalidPercentEscape);
            }
        }
    }
    Ok(())
}

fn parse_host(host: &str) -> Result<String, UrlProblem> {
    if host.is_empty() {
        return Err(UrlProblem::EmptyHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        // RFC 3986 §3.2.2 IP-literal (IPv6 only; IPvFuture is not used by OAuth servers).
        let inner = inner.strip_suffix(']').ok_or_else(|| UrlProblem::InvalidHost(host.into()))?;
        let ok = inner.contains(':')
            && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        return if ok {
            Ok(host.to_ascii_lowercase())
        } else {
            Err(UrlProblem::InvalidHost(host.into()))
        };
    }
    if !host.is_ascii() {
        return Err(UrlProblem::NonAsciiHost(host.into()));
    }
    // RFC 1123 host names (letters, digits, hyphens in dot-separated labels); IPv4 dotted
    // decimal fits this shape too.
    let labels_ok = host.split('.').enumerate().all(|(i, label)| {
        let last = i == host.split('.').count() - 1;
        (!label.is_empty() || (last && i > 0))
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if !labels_ok || host.len() > 253 {
        return Err(UrlProblem::InvalidHost(host.into()));
    }
    Ok(host.to_ascii_lowercase())
}

impl Url {
    /// Parses an absolute `http` or `https` URL.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        Url::parse_inner(input).map_err(|p| UrlError::new("URL", input, p))
    }

    fn parse_inner(input: &str) -> Result<Url, UrlProblem> {
        if input.is_empty() {
            return Err(UrlProblem::Empty);
        }
        // RFC 9110 §4.1: recipients support at least 8,000 octets; this parser takes twice that.
        if input.len() > MAX_URL_LEN {
            return Err(UrlProblem::TooLong { length: input.len(), max: MAX_URL_LEN });
        }
        let (scheme, rest) = input.split_once("://").ok_or(UrlProblem::NotAbsolute)?;
        if scheme.is_empty()
            || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(UrlProblem::NotAbsolute);
        }
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            other => return Err(UrlProblem::UnsupportedScheme(other.to_owned())),
        };
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UrlProblem::Userinfo);
        }
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], Some(&authority[i + 1..]))
            }
            _ => (authority, None),
        };
        let host = parse_host(host)?;
        let port = match port {
            None => None,
            Some(p) => {
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(UrlProblem::InvalidPort(p.into()));
                }
                let n: u32 = p.parse().map_err(|_| UrlProblem::InvalidPort(p.into()))?;
                let n = u16::try_from(n).map_err(|_| UrlProblem::InvalidPort(p.into()))?;
                // RFC 3986 §6.2.3: a default port is the same as no port.
                if (https && n == 443) || (!https && n == 80) {
                    None
                } else {
                    Some(n)
                }
            }
        };
        check_chars(path, is_pchar_or_slash)?;
        if let Some(q) = query {
            check_chars(q, is_query_char)?;
        }
        if let Some(f) = fragment {
            check_chars(f, is_query_char)?;
        }
        Ok(Url {
            https,
            host,
            port,
            path: if path.is_empty() { "/".into() } else { path.into() },
            query: query.map(str::to_owned),
            fragment: fragment.map(str::to_owned),
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// True for `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, lowercased (IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, `None` when absent or the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// The path, at least `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The fragment without `#`.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{}", self.scheme(), self.host, p),
            None => format!("{}://{}", self.scheme(), self.host),
        }
    }

    /// True when the host is `localhost`, an IPv4 loopback address (`127.0.0.0/8`) or `[::1]`.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        h == "localhost"
            || h == "[::1]"
            || (h.starts_with("127.")
                && h.split('.').count() == 4
                && h.split('.').all(|o| o.parse::<u8>().is_ok()))
    }

    /// Rejects plain `http` unless the host is loopback (MCP 2026-07-28 authorization,
    /// communication security).
    pub fn require_secure(&self) -> Result<(), UrlProblem> {
        if self.https || self.is_loopback() {
            Ok(())
        } else {
            Err(UrlProblem::InsecureScheme)
        }
    }

    /// The same URL with another path, no query and no fragment.
    pub fn with_path(&self, path: &str) -> Url {
        Url { path: path.to_owned(), query: None, fragment: None, ..self.clone() }
    }

    /// The same URL with form-encoded pairs appended to its query.
    pub fn with_query_pairs(&self, pairs: &[(&str, &str)]) -> Url {
        let mut q = self.query.clone().unwrap_or_default();
        if !pairs.is_empty() {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&encoding::form_encode(pairs));
        }
        Url { query: if q.is_empty() { None } else { Some(q) }, ..self.clone() }
    }

    /// The query as decoded form pairs (`None` when an escape is malformed; the form caps
    /// cannot be reached, since [`MAX_URL_LEN`] is smaller).
    pub fn query_pairs(&self) -> Option<Vec<(String, String)>> {
        encoding::form_decode(self.query.as_deref().unwrap_or("")).ok()
    }

    /// The URL without its fragment.
    pub fn without_fragment(&self) -> Url {
        Url { fragment: None, ..self.clone() }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())?;
        f.write_str(&self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        if let Some(fr) = &self.fragment {
            write!(f, "#{fr}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({self})")
    }
}

macro_rules! validated_url {
    ($(#[$meta:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name {
            original: String,
            url: Url,
        }

        impl $name {
            /// Parses and validates.
            pub fn parse(input: &str) -> Result<Self, UrlError> {
                let url = Url::parse_inner(input).map_err(|p| UrlError::new($what, input, p))?;
                let check: fn(&Url) -> Result<(), UrlProblem> = $check;
                check(&url).map_err(|p| UrlError::new($what, input, p))?;
                Ok($name { original: input.to_owned(), url })
            }

            /// The string exactly as given (for identity comparisons).
            pub fn as_str(&self) -> &str {
                &self.original
            }

            /// The parsed URL.
            pub fn url(&self) -> &Url {
                &self.url
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.original)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.original)
            }
        }

    };
}

validated_url!(
    /// An authorization server's issuer identifier (RFC 8414 §2): `https` (or loopback `http`),
    /// no query, no fragment. Compared as the exact original string.
    IssuerUrl,
    "issuer",
    |u| {
        u.require_secure()?;
        if u.query.is_some() {
            return Err(UrlProblem::Query);
        }
        if u.fragment.is_some() {
            return Err(UrlProblem::Fragment);
        }
        Ok(())
    }
);

validated_url!(
    /// A redirect URI (RFC 6749 §3.1.2; MCP: `https`, or `http` on a loopback host): no
    /// fragment. Sent and compared as the exact original string.
    RedirectUri,
    "redirect URI",
    |u| {
        u.require_secure()?;
        if u.fragment.is_some() {
            return Err(UrlProblem::Fragment);
        }
        Ok(())
    }
);

validated_url!(
    /// An endpoint URL taken from metadata or configuration: `https`, or `http` on a loopback
    /// host (MCP 2026-07-28 authorization, communication security).
    EndpointUrl,
    "endpoint URL",
    |u| {
        u.require_secure()?;
        if u.fragment.is_some() {
            return Err(UrlProblem::Fragment);
        }
        Ok(())
    }
);

/// A resource identifier (RFC 8707 §2): absolute, https (or loopback http), no fragment.
///
/// [`ResourceUrl::parse`] gives the MCP "Canonical Server URI" of a configured server URL:
/// lowercase scheme and host, no default port, and no trailing slash on an empty path (a
/// trailing slash on a longer path is kept, as it may be significant).
/// [`ResourceUrl::parse_published`] keeps a protected-resource metadata `resource` exactly as
/// the server published it: that string is the resource's identifier at its authorization
/// server (Vercel publishes `https://mcp.vercel.com/`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceUrl {
    canonical: String,
    url: Url,
}

impl ResourceUrl {
    fn validate(input: &str) -> Result<Url, UrlError> {
        let url = Url::parse_inner(input).map_err(|p| UrlError::new("resource", input, p))?;
        if url.fragment.is_some() {
            // RFC 8707 §2: the resource "MUST NOT include a fragment component".
            return Err(UrlError::new("resource", input, UrlProblem::Fragment));
        }
        url.require_secure().map_err(|p| UrlError::new("resource", input, p))?;
        Ok(url)
    }

    /// Validates and canonicalises an MCP server URL.
    pub fn parse(input: &str) -> Result<ResourceUrl, UrlError> {
        let url = ResourceUrl::validate(input)?;
        let mut canonical = url.origin();
        if url.path != "/" {
            canonical.push_str(&url.path);
        }
        if let Some(q) = &url.query {
            canonical.push('?');
            canonical.push_str(q);
        }
        Ok(ResourceUrl { canonical, url })
    }

    /// Validates a published `resource` value and keeps it exactly as given.
    pub fn parse_published(input: &str) -> Result<ResourceUrl, UrlError> {
        let url = ResourceUrl::validate(input)?;
        Ok(ResourceUrl { canonical: input.to_owned(), url })
    }

    /// The identifier as sent in the `resource` parameter (canonical, or as published).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// True when `self` (a PRM `resource`) identifies `server`: the same origin, and this path
    /// a prefix of the server's path on a segment boundary (RFC 9728 §3.3 asks
    /// for equality, real servers publish the origin for a `/mcp` endpoint). Both paths are
    /// compared in their normal form ([`normalize_path`]); a server path whose part below this
    /// one holds an encoded `/` or `\` is not covered, since servers differ on whether it
    /// separates segments.
    pub fn covers(&self, server: &ResourceUrl) -> bool {
        if self.url.origin() != server.url.origin() {
            return false;
        }
        if self.url.query.is_some() && self.url.query != server.url.query {
            return false;
        }
        let mine = normalize_path(&self.url.path);
        let theirs = normalize_path(&server.url.path);
        let mine = mine.trim_end_matches('/');
        let rest = if mine.is_empty() { Some(theirs.as_str()) } else { theirs.strip_prefix(mine) };
        rest.is_some_and(|rest| {
            (rest.is_empty() || rest.starts_with('/')) && !has_encoded_separator(rest)
        })
    }

    /// True when a request to `request_url` may carry a token issued for this resource
    /// (MCP 2026-07-28 authorization: no token for another resource). The request's path is
    /// normalised
    /// first, so `/mcp/../admin` and `/mcp/%2e%2e/admin` are `/admin`, not under `/mcp`.
    pub fn covers_request(&self, request_url: &Url) -> bool {
        let Ok(target) = ResourceUrl::parse(&request_url.without_fragment().to_string()) else {
            return false;
        };
        // The query of the request does not change which resource it addresses.
        let target = ResourceUrl { url: Url { query: None, ..target.url.clone() }, ..target };
        let mine = ResourceUrl { url: Url { query: None, ..self.url.clone() }, ..self.clone() };
        mine.covers(&target)
    }
}

/// The normal form of a URL path for comparisons: percent-encoded unreserved characters decoded
/// and other escapes in upper case (RFC 3986 §6.2.2.1, §6.2.2.2), then dot segments removed
/// (RFC 3986 §5.2.4). `/mcp/%2E%2e/admin` becomes `/admin`.
pub fn normalize_path(path: &str) -> String {
    // RFC 3986 §6.2.2.2: "%2E" is ".", so decode unreserved characters before §5.2.4.
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        let escape = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match escape {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                decoded.push(b as char);
                i += 3;
            }
            Some(_) => {
                // RFC 3986 §6.2.2.1: hexadecimal digits of escapes are case-insensitive.
                decoded.push('%');
                decoded.push_str(&path[i + 1..i + 3].to_ascii_uppercase());
                i += 3;
            }
            None => {
                let c = path[i..].chars().next().unwrap_or('\u{fffd}');
                decoded.push(c);
                i += c.len_utf8();
            }
        }
    }
    remove_dot_segments(&decoded)
}

/// RFC 3986 §5.2.4 `remove_dot_segments`, on the segments of an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            // §5.2.4 B/C: "." is dropped and ".." drops the segment before it; a final dot
            // segment leaves the path ending in "/".
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut normal = String::with_capacity(path.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    normal
}

/// An encoded "/" or "\" left in a normalised path (RFC 3986 §7.3: such escapes are a known
/// way past path-based access checks).
fn has_encoded_separator(normal: &str) -> bool {
    normal.contains("%2F") || normal.contains("%5C")
}

impl fmt::Debug for ResourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceUrl({})", self.canonical)
    }
}

impl fmt::Display for ResourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

#[cfg(test)]
mod tests;
