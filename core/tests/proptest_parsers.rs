//! Property tests over the core's parsers: the URL types, `WWW-Authenticate`, the form and
//! base64 encoders, the redirect-URI callback and the four JSON response processors.
//!
//! Two kinds of properties:
//! - robustness: a parser never panics on arbitrary input (strings, bytes, statuses, content
//!   types, JSON documents), and whatever it accepts satisfies cheap invariants;
//! - round trips and laws on generated valid input: a rendered URL or challenge parses back to
//!   what was generated, canonical forms are fixpoints, `covers` is reflexive and transitive.
//!
//! Cases per property: proptest's default of 256 (512 for the JSON processors), a few seconds
//! in a debug build; `PROPTEST_CASES=10000 cargo test -p mcp-oauth-core --test
//! proptest_parsers` for a longer run. The cargo-fuzz targets in `fuzz/` cover the same parsers
//! with coverage guidance.

use mcp_oauth_core::authorize::{
    authorization_request, process_callback, AuthorizationParams, CallbackError,
    PendingAuthorization,
};
use mcp_oauth_core::encoding::{
    base64_std, base64url_nopad, form_decode, form_encode, percent_decode, percent_encode_segment,
};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::registration::process_registration_response;
use mcp_oauth_core::resource_metadata;
use mcp_oauth_core::secret::RefreshToken;
use mcp_oauth_core::server_metadata::{self, ServerMetadata};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{process_token_response, TokenEndpointAuth};
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, Url, UrlProblem};
use mcp_oauth_core::www_authenticate::{self, Challenge};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value};

/// proptest's defaults (256 cases; `PROPTEST_CASES` overrides) times `factor`, with failing
/// cases saved next to this file (`proptest_parsers.proptest-regressions`): an integration test
/// has no `lib.rs` for the default location.
fn config(factor: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: default.cases.saturating_mul(factor),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..default
    }
}

// ---------------------------------------------------------------------------------------------
// Generators: URLs
// ---------------------------------------------------------------------------------------------

/// One RFC 3986 `pchar`: unreserved, sub-delims, `:`, `@`, or a percent-escape (either case).
fn pchar() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9._~!$&'()*+,;=:@-]",
        1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
        1 => any::<u8>().prop_map(|b| format!("%{b:02x}")),
    ]
}

/// A path: zero or more `/segment`s (the empty path is allowed and becomes `/`).
fn path() -> impl Strategy<Value = String> {
    let segment = prop::collection::vec(pchar(), 0..6).prop_map(|cs| cs.concat());
    prop::collection::vec(segment, 0..4)
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>())
}

/// A query or fragment body: pchars, `/` and `?`.
fn query_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![6 => pchar(), 1 => Just("/".to_owned()), 1 => Just("?".to_owned())],
        0..10,
    )
    .prop_map(|cs| cs.concat())
}

/// An RFC 1123 label, mixed case.
fn label() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(label(), 1..4).prop_map(|ls| ls.join(".")),
        1 => select(vec!["localhost", "LocalHost", "[::1]", "[::A:b]", "127.0.0.1"])
            .prop_map(String::from),
        1 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        1 => any::<[u8; 3]>().prop_map(|[a, b, c]| format!("127.{a}.{b}.{c}")),
        1 => "\\[[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){1,7}\\]",
    ]
}

/// A generated valid URL, with its parts as written.
#[derive(Clone, Debug)]
struct GenUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
    fragment: Option<String>,
}

impl GenUrl {
    fn render(&self) -> String {
        let mut s = format!("{}://{}", self.scheme, self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(&self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        if let Some(f) = &self.fragment {
            s.push('#');
            s.push_str(f);
        }
        s
    }

    fn https(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("https")
    }
}

fn gen_url() -> impl Strategy<Value = GenUrl> {
    let port = prop_oneof![
        3 => Just(None),
        1 => select(vec![80u16, 443, 0, 8080, 65535]).prop_map(Some),
        2 => any::<u16>().prop_map(Some),
    ];
    (
        "[hH][tT][tT][pP][sS]?",
        host(),
        port,
        path(),
        prop::option::weighted(0.3, query_text()),
        prop::option::weighted(0.2, query_text()),
    )
        .prop_map(|(scheme, host, port, path, query, fragment)| GenUrl {
            scheme,
            host,
            port,
            path,
            query,
            fragment,
        })
}

/// Strings close to URLs: a scheme-ish prefix and characters from the sets the parser
/// distinguishes, so that most branches of `Url::parse` are reached.
fn url_like() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "(https?|HTTPS|ftp|h)?(://|:/|:)?[a-zA-Z0-9.:@%/?#\\[\\]_~!$&'()*+,;= -]{0,24}",
        1 => gen_url().prop_map(|g| g.render()),
        3 => (gen_url(), "[\\x00-\\x7f]|.", any::<prop::sample::Index>()).prop_map(|(u, c, at)| {
            // A valid URL with one character inserted somewhere.
            let mut s = u.render();
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            s.insert_str(i, &c);
            s
        }),
        1 => any::<String>(),
    ]
}

/// Valid URLs and strings close to them, half and half.
fn valid_or_url_like() -> impl Strategy<Value = String> {
    prop_oneof![gen_url().prop_map(|g| g.render()), url_like()]
}

fn is_loopback_host(h: &str) -> bool {
    let h = h.to_ascii_lowercase();
    h == "localhost"
        || h == "[::1]"
        || (h.starts_with("127.")
            && h.split('.').count() == 4
            && h.split('.').all(|o| o.parse::<u8>().is_ok()))
}

// ---------------------------------------------------------------------------------------------
// Properties: URLs
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn url_parse_never_panics(s in url_like()) {
        let _ = Url::parse(&s);
        let _ = IssuerUrl::parse(&s);
        let _ = ResourceUrl::parse(&s);
        let _ = RedirectUri::parse(&s);
        let _ = EndpointUrl::parse(&s);
    }

    /// Whatever `Url::parse` accepts prints to a string that parses back to the same URL, and
    /// that string is a fixpoint.
    #[test]
    fn accepted_urls_round_trip(s in url_like()) {
        if let Ok(u) = Url::parse(&s) {
            let printed = u.to_string();
            let again = Url::parse(&printed);
            prop_assert_eq!(again.as_ref(), Ok(&u), "printed as {}", printed);
            prop_assert_eq!(again.map(|a| a.to_string()), Ok(printed.clone()));
            prop_assert_eq!(u.host(), u.host().to_ascii_lowercase());
            prop_assert!(!u.host().is_empty());
            prop_assert!(u.path().starts_with('/'));
        }
    }

    /// Generated valid URLs parse, keep their parts, and round-trip.
    #[test]
    fn generated_urls_parse_and_round_trip(g in gen_url()) {
        let input = g.render();
        let u = Url::parse(&input).map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        prop_assert_eq!(u.is_https(), g.https());
        prop_assert_eq!(u.scheme(), if g.https() { "https" } else { "http" });
        prop_assert_eq!(u.host(), g.host.to_ascii_lowercase());
        prop_assert!(!u.host().bytes().any(|b| b.is_ascii_uppercase()));
        let default = if g.https() { 443 } else { 80 };
        prop_assert_eq!(u.port(), g.port.filter(|p| *p != default));
        prop_assert_eq!(u.port_or_default(), g.port.unwrap_or(default));
        prop_assert_eq!(u.path(), if g.path.is_empty() { "/" } else { g.path.as_str() });
        prop_assert_eq!(u.query(), g.query.as_deref());
        prop_assert_eq!(u.fragment(), g.fragment.as_deref());
        prop_assert_eq!(u.is_loopback(), is_loopback_host(&g.host));
        let printed = u.to_string();
        prop_assert_eq!(Url::parse(&printed), Ok(u.clone()), "printed as {}", printed);
        // The origin alone is a URL with path `/` and the same scheme, host and port.
        let origin = Url::parse(&u.origin()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(origin.host(), u.host());
        prop_assert_eq!(origin.port_or_default(), u.port_or_default());
        prop_assert_eq!(origin.path(), "/");
    }

    /// The validated newtypes accept exactly the URLs their rules describe, and keep the input.
    #[test]
    fn validated_types_match_their_rules(s in valid_or_url_like()) {
        let url = Url::parse(&s);
        let secure = url.as_ref().is_ok_and(|u| u.require_secure().is_ok());
        let no_fragment = url.as_ref().is_ok_and(|u| u.fragment().is_none());
        let no_query = url.as_ref().is_ok_and(|u| u.query().is_none());

        let issuer = IssuerUrl::parse(&s);
        prop_assert_eq!(issuer.is_ok(), secure && no_fragment && no_query, "issuer {:?}", issuer);
        if let Ok(i) = &issuer {
            prop_assert_eq!(i.as_str(), s.as_str());
            prop_assert_eq!(url.as_ref().ok(), Some(i.url()));
        }
        let redirect = RedirectUri::parse(&s);
        prop_assert_eq!(redirect.is_ok(), secure && no_fragment, "redirect {:?}", redirect);
        if let Ok(r) = &redirect {
            prop_assert_eq!(r.as_str(), s.as_str());
            prop_assert_eq!(r.is_loopback(), r.url().is_loopback());
        }
        let endpoint = EndpointUrl::parse(&s);
        prop_assert_eq!(endpoint.is_ok(), secure && no_fragment);
        let resource = ResourceUrl::parse(&s);
        prop_assert_eq!(resource.is_ok(), secure && no_fragment, "resource {:?}", resource);
        if let Ok(u) = &url {
            if !secure {
                prop_assert_eq!(
                    IssuerUrl::parse(&s).map_err(|e| e.problem),
                    Err(UrlProblem::InsecureScheme)
                );
            }
            prop_assert!(secure == (u.is_https() || u.is_loopback()));
        }
    }

    /// `ResourceUrl`'s canonical form is a fixpoint and depends only on the parsed URL (so two
    /// spellings of one URL share it).
    #[test]
    fn resource_canonical_form_is_idempotent(s in valid_or_url_like()) {
        if let Ok(r) = ResourceUrl::parse(&s) {
            let canonical = r.as_str().to_owned();
            let again = ResourceUrl::parse(&canonical)
                .map_err(|e| TestCaseError::fail(format!("canonical {canonical} rejected: {e}")))?;
            prop_assert_eq!(again.as_str(), canonical.as_str());
            prop_assert_eq!(again.url(), r.url());
            prop_assert_eq!(&again, &r);
            let from_printed = ResourceUrl::parse(&r.url().to_string())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(from_printed.as_str(), canonical.as_str());
            prop_assert!(r.covers(&r), "not reflexive: {}", canonical);
            prop_assert!(r.covers_request(r.url()), "covers_request not reflexive: {}", canonical);
            // Canonical: no default port, lowercase scheme and host, no lone `/` path.
            prop_assert!(!canonical.ends_with("://"));
            prop_assert!(canonical.starts_with(&r.url().origin()));
            prop_assert!(!canonical.contains('#'));
            if r.url().query().is_none() && r.url().path() == "/" {
                prop_assert_eq!(&canonical, &r.url().origin());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: ResourceUrl::covers
// ---------------------------------------------------------------------------------------------

/// A small pool of origins and path segments, so that pairs often share an origin or a prefix.
fn pooled_resource() -> impl Strategy<Value = ResourceUrl> {
    let origin = select(vec![
        "https://a.example",
        "HTTPS://A.EXAMPLE:443",
        "https://a.example:8443",
        "https://b.example",
        "https://a.example.",
        "http://localhost:3000",
        "http://LOCALHOST:3000",
        "http://127.0.0.1",
        "http://[::1]:80",
    ]);
    let segs = prop::collection::vec(select(vec!["mcp", "v1", "a", "ab", "a%2Fb", ""]), 0..4);
    let trailing = any::<bool>();
    let query = prop::option::weighted(0.2, select(vec!["", "x=1", "x=2"]));
    (origin, segs, trailing, query).prop_map(|(o, segs, trailing, q)| {
        let mut s = o.to_owned();
        for seg in segs {
            s.push('/');
            s.push_str(seg);
        }
        if trailing {
            s.push('/');
        }
        if let Some(q) = q {
            s.push('?');
            s.push_str(q);
        }
        ResourceUrl::parse(&s).expect("pooled resource URLs are valid")
    })
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_default() == b.port_or_default()
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn covers_is_reflexive(g in gen_url()) {
        let g = GenUrl { fragment: None, ..g };
        if let Ok(r) = ResourceUrl::parse(&g.render()) {
            prop_assert!(r.covers(&r));
            prop_assert!(g.https() || is_loopback_host(&g.host));
        } else {
            let secure = g.https() || is_loopback_host(&g.host);
            prop_assert!(!secure, "valid resource rejected: {}", g.render());
        }
    }

    /// `covers` never crosses origins, only descends on segment boundaries, and is transitive.
    #[test]
    fn covers_respects_origin_and_segments(
        a in pooled_resource(),
        b in pooled_resource(),
        c in pooled_resource(),
    ) {
        if a.covers(&b) {
            prop_assert!(same_origin(a.url(), b.url()), "{} covers {} across origins", a, b);
            let mine = a.url().path().trim_end_matches('/');
            let theirs = b.url().path();
            prop_assert!(
                mine.is_empty() || theirs == mine || theirs.starts_with(&format!("{mine}/")),
                "{} covers {} off a segment boundary", a, b
            );
            if let Some(q) = a.url().query() {
                prop_assert_eq!(b.url().query(), Some(q));
            }
            if b.covers(&c) {
                prop_assert!(a.covers(&c), "{} covers {} covers {}, but not {}", a, b, c, c);
            }
        }
        if !same_origin(a.url(), b.url()) {
            prop_assert!(!a.covers(&b));
            prop_assert!(!b.covers(&a));
            prop_assert!(!a.covers_request(b.url()));
        }
        if a.covers(&b) && b.covers(&a) {
            prop_assert_eq!(
                a.url().path().trim_end_matches('/'),
                b.url().path().trim_end_matches('/')
            );
        }
    }

    /// A resource covers its sub-paths and not a sibling that merely shares a string prefix.
    #[test]
    fn covers_children_not_siblings(
        base in pooled_resource(),
        child in "[a-z0-9]{1,4}",
        sibling_suffix in "[a-z0-9]{1,4}",
    ) {
        // Without the query: a resource with a query covers only URLs with that query.
        let without_query = base.url().with_path(base.url().path()).to_string();
        let base = ResourceUrl::parse(&without_query).unwrap();
        let origin = base.url().origin();
        let path = base.url().path().trim_end_matches('/');
        let child_url = ResourceUrl::parse(&format!("{origin}{path}/{child}")).unwrap();
        prop_assert!(base.covers(&child_url), "{} should cover {}", base, child_url);
        prop_assert!(base.covers_request(child_url.url()));
        if !path.is_empty() {
            let sibling = ResourceUrl::parse(&format!("{origin}{path}{sibling_suffix}")).unwrap();
            prop_assert!(!base.covers(&sibling), "{} must not cover {}", base, sibling);
            prop_assert!(!base.covers_request(sibling.url()));
            prop_assert!(!child_url.covers(&base), "{} must not cover parent {}", child_url, base);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: encoders
// ---------------------------------------------------------------------------------------------

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let text = prop_oneof![any::<String>(), "[ =&+%a-z]{0,6}", "%[0-9a-fA-F]{2}"];
    prop::collection::vec((text.clone(), text), 0..8)
}

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Reference base64 decoder (either alphabet, with or without padding).
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn form_encoding_round_trips(pairs in pairs()) {
        let refs = refs(&pairs);
        let encoded = form_encode(&refs);
        prop_assert!(
            encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-._+%=&".contains(&b)),
            "unexpected byte in {}", encoded
        );
        prop_assert_eq!(form_decode(&encoded), Some(pairs.clone()));
        // The encoded pairs also survive a trip through a URL's query.
        let base = Url::parse("https://as.example/authorize").unwrap();
        let with = base.with_query_pairs(&refs);
        prop_assert_eq!(with.query_pairs(), Some(pairs.clone()));
        prop_assert_eq!(Url::parse(&with.to_string()), Ok(with.clone()));
        // Appending to an existing query keeps the existing pair first.
        let base = Url::parse("https://as.example/authorize?tenant=t1").unwrap();
        let mut expected = vec![("tenant".to_owned(), "t1".to_owned())];
        expected.extend(pairs.iter().cloned());
        prop_assert_eq!(base.with_query_pairs(&refs).query_pairs(), Some(expected));
    }

    #[test]
    fn decoders_never_panic(s in prop_oneof![any::<String>(), "[%+=&a-fA-F0-9 ]{0,16}"]) {
        if let Some(pairs) = form_decode(&s) {
            prop_assert_eq!(form_decode(&form_encode(&refs(&pairs))), Some(pairs.clone()));
        }
        if let Some(d) = percent_decode(&s, false) {
            prop_assert!(d.len() <= s.len());
            if !s.contains('%') {
                prop_assert_eq!(d, s.clone());
            }
        }
        if !s.contains('%') {
            prop_assert_eq!(percent_decode(&s, true), Some(s.replace('+', " ")));
        }
    }

    #[test]
    fn percent_encode_segment_round_trips(s in any::<String>()) {
        let e = percent_encode_segment(&s);
        prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        prop_assert_eq!(percent_decode(&e, false), Some(s.clone()));
        prop_assert_eq!(percent_decode(&e, true), Some(s));
    }

    #[test]
    fn base64_length_alphabet_and_decoding(data in prop::collection::vec(any::<u8>(), 0..80)) {
        let url = base64url_nopad(&data);
        prop_assert_eq!(url.len(), (data.len() * 4).div_ceil(3));
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        prop_assert!(url.bytes().all(url_safe), "{}", url);
        let std = base64_std(&data);
        prop_assert_eq!(std.len(), data.len().div_ceil(3) * 4);
        prop_assert!(std.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        prop_assert!(!std.trim_end_matches('=').contains('='));
        prop_assert_eq!(std.trim_end_matches('=').replace('+', "-").replace('/', "_"), url.clone());
        prop_assert_eq!(b64_decode(&url), Some(data.clone()));
        prop_assert_eq!(b64_decode(&std), Some(data));
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: WWW-Authenticate
// ---------------------------------------------------------------------------------------------

const TCHARS: &str = "[!#$%&'*+.^_`|~0-9A-Za-z-]";

fn token() -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("{TCHARS}{{1,10}}")).expect("valid regex")
}

#[derive(Clone, Debug)]
enum ParamValue {
    Token(String),
    /// A quoted-string, and whether to escape every printable ASCII character (as quoted-pairs)
    /// rather than only `"` and `\`.
    Quoted(String, bool),
}

impl ParamValue {
    fn value(&self) -> &str {
        match self {
            ParamValue::Token(s) | ParamValue::Quoted(s, _) => s,
        }
    }

    fn render(&self) -> String {
        match self {
            ParamValue::Token(t) => t.clone(),
            ParamValue::Quoted(s, escape_more) => {
                let mut out = String::from("\"");
                for c in s.chars() {
                    if c == '"' || c == '\\' || (*escape_more && c.is_ascii_graphic()) {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                out
            }
        }
    }
}

#[derive(Clone, Debug)]
enum ChallengeBody {
    Nothing,
    Token68(String),
    Params(Vec<(String, ParamValue)>),
}

#[derive(Clone, Debug)]
struct GenChallenge {
    scheme: String,
    body: ChallengeBody,
}

fn param_value() -> impl Strategy<Value = ParamValue> {
    // Quoted-string content: anything but controls (HTAB allowed), with `"` and `\` frequent.
    let qtext = prop_oneof![
        "[^\\x00-\\x08\\x0a-\\x1f\\x7f]{0,12}",
        prop::collection::vec(
            select(vec!["\"", "\\", "a", " ", "\t", ",", "=", "é", "€", "😀"]),
            0..8
        )
        .prop_map(|v| v.concat()),
    ];
    prop_oneof![
        token().prop_map(ParamValue::Token),
        (qtext, any::<bool>()).prop_map(|(s, e)| ParamValue::Quoted(s, e)),
    ]
}

fn gen_challenge() -> impl Strategy<Value = GenChallenge> {
    let params = prop::collection::vec((token(), param_value()), 1..5).prop_map(|ps| {
        // RFC 9110 §11.2: names are unique (case-insensitively) within a challenge.
        let mut seen = Vec::new();
        ps.into_iter()
            .filter(|(n, _)| {
                let l = n.to_ascii_lowercase();
                let fresh = !seen.contains(&l);
                seen.push(l);
                fresh
            })
            .collect::<Vec<_>>()
    });
    let body = prop_oneof![
        1 => Just(ChallengeBody::Nothing),
        1 => "[A-Za-z0-9._~+/-]{1,12}={0,2}".prop_map(ChallengeBody::Token68),
        4 => params.prop_map(ChallengeBody::Params),
    ];
    (token(), body).prop_map(|(scheme, body)| GenChallenge { scheme, body })
}

/// Optional whitespace.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// Renders challenges with random (grammatical) whitespace and empty list elements.
fn render_challenges(chs: &[GenChallenge], ws: &[(String, String, String, bool)]) -> String {
    let mut out = String::new();
    let mut w = ws.iter().cycle();
    let mut next_ws = || w.next().cloned().unwrap_or_default();
    for (i, ch) in chs.iter().enumerate() {
        let (a, b, c, extra_comma) = next_ws();
        if i > 0 {
            out.push_str(&a);
            out.push(',');
            if extra_comma {
                out.push_str(" ,");
            }
            out.push_str(&b);
        }
        out.push_str(&ch.scheme);
        match &ch.body {
            ChallengeBody::Nothing => {}
            ChallengeBody::Token68(t) => {
                out.push(' ');
                out.push_str(&c);
                out.push_str(t);
            }
            ChallengeBody::Params(ps) => {
                out.push(' ');
                for (j, (name, value)) in ps.iter().enumerate() {
                    let (a, b, c, extra_comma) = next_ws();
                    if j > 0 {
                        out.push_str(&a);
                        out.push(',');
                        if extra_comma {
                            out.push(',');
                        }
                        out.push_str(&b);
                    }
                    out.push_str(name);
                    out.push_str(&c);
                    out.push('=');
                    out.push_str(&b);
                    out.push_str(&value.render());
                }
            }
        }
    }
    out
}

fn expected_challenge(g: &GenChallenge) -> Challenge {
    let (token68, params) = match &g.body {
        ChallengeBody::Nothing => (None, Vec::new()),
        ChallengeBody::Token68(t) => (Some(t.clone()), Vec::new()),
        ChallengeBody::Params(ps) => {
            (None, ps.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.value().to_owned())).collect())
        }
    };
    Challenge { scheme: g.scheme.clone(), token68, params }
}

/// Renders parsed challenges back into a header, every parameter value as a quoted-string.
fn render_parsed(chs: &[Challenge]) -> String {
    let quote = |v: &str| {
        let mut out = String::from("\"");
        for c in v.chars() {
            if c == '"' || c == '\\' || c.is_ascii_control() {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    };
    let rendered: Vec<String> = chs
        .iter()
        .map(|ch| match (&ch.token68, ch.params.is_empty()) {
            (Some(t), _) => format!("{} {t}", ch.scheme),
            (None, true) => ch.scheme.clone(),
            (None, false) => {
                let ps: Vec<String> =
                    ch.params.iter().map(|(n, v)| format!("{n}={}", quote(v))).collect();
                format!("{} {}", ch.scheme, ps.join(", "))
            }
        })
        .collect();
    rendered.join(", ")
}

fn header_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9 \t,=\"\\\\/+._~-]{0,30}",
        "(Bearer|Basic|DPoP)( [a-z_]{1,8} ?= ?(\"[^\"]{0,6}\"?|[a-z0-9]{0,4}) ?,?){0,4}",
    ]
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn www_authenticate_never_panics(s in header_like()) {
        if let Ok(chs) = www_authenticate::parse(&s) {
            for ch in &chs {
                prop_assert!(!ch.scheme.is_empty());
                prop_assert!(ch.token68.is_none() || ch.params.is_empty());
                for (i, (n, _)) in ch.params.iter().enumerate() {
                    prop_assert_eq!(n.clone(), n.to_ascii_lowercase());
                    prop_assert!(!ch.params[..i].iter().any(|(m, _)| m == n), "duplicate {}", n);
                }
            }
            // Whatever is accepted renders back to a header with the same meaning.
            let rendered = render_parsed(&chs);
            let again = www_authenticate::parse(&rendered);
            prop_assert_eq!(again, Ok(chs), "re-rendered as {:?}", rendered);
        }
        let headers = vec![
            ("WWW-Authenticate".to_owned(), s.clone()),
            ("www-authenticate".to_owned(), "Bearer".to_owned()),
        ];
        let resp = HttpResponse::new(401, headers, Vec::new());
        let _ = www_authenticate::bearer_challenge(&resp);
    }

    /// Rendered challenges parse back to the same schemes, token68 values and parameters.
    #[test]
    fn www_authenticate_round_trips(
        chs in prop::collection::vec(gen_challenge(), 1..4),
        ws in prop::collection::vec((ows(), ows(), ows(), any::<bool>()), 1..8),
        leading in ows(),
        trailing in ows(),
    ) {
        let header = format!("{leading}{}{trailing}", render_challenges(&chs, &ws));
        let parsed = www_authenticate::parse(&header)
            .map_err(|e| TestCaseError::fail(format!("{header:?}: {e}")))?;
        let expected: Vec<Challenge> = chs.iter().map(expected_challenge).collect();
        prop_assert_eq!(parsed, expected, "header {:?}", header);
    }

    /// The Bearer view finds the first Bearer challenge's parameters, whatever the case.
    #[test]
    fn bearer_challenge_reads_the_first_bearer(
        before in prop::collection::vec(gen_challenge(), 0..3),
        scheme in select(vec!["Bearer", "bearer", "BEARER"]),
        rm in param_value(),
        scope in param_value(),
    ) {
        prop_assume!(before.iter().all(|c| !c.scheme.eq_ignore_ascii_case("bearer")));
        let mut chs = before;
        chs.push(GenChallenge {
            scheme: scheme.to_owned(),
            body: ChallengeBody::Params(vec![
                ("Resource_Metadata".into(), rm.clone()),
                ("scope".into(), scope.clone()),
            ]),
        });
        let header = render_challenges(&chs, &[(String::new(), " ".into(), String::new(), false)]);
        let headers = vec![("www-authenticate".to_owned(), header.clone())];
        let resp = HttpResponse::new(401, headers, Vec::new());
        let b = www_authenticate::bearer_challenge(&resp)
            .map_err(|e| TestCaseError::fail(format!("{header:?}: {e}")))?
            .ok_or_else(|| TestCaseError::fail(format!("no bearer in {header:?}")))?;
        prop_assert_eq!(b.resource_metadata.as_deref(), Some(rm.value()));
        prop_assert_eq!(b.scope.as_deref(), Some(scope.value()));
        prop_assert_eq!(b.error, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: the authorization callback
// ---------------------------------------------------------------------------------------------

const ISSUER: &str = "https://as.example/tenant";

fn server_metadata(iss_supported: bool) -> ServerMetadata {
    let body = serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": iss_supported,
    });
    server_metadata::process_metadata_response(
        &IssuerUrl::parse(ISSUER).expect("valid issuer"),
        &EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server/tenant")
            .expect("valid URL"),
        &HttpResponse::json(200, &body.to_string()),
        &ServerPolicy::default(),
    )
    .expect("valid metadata")
}

/// The redirect URIs the callback properties use: one with a query of its own.
const REDIRECTS: [&str; 3] =
    ["http://127.0.0.1:8765/cb", "https://app.example/oauth/callback?x=1", "http://localhost/"];

fn pending(redirect: &str, iss_supported: bool) -> PendingAuthorization {
    let md = server_metadata(iss_supported);
    let redirect = RedirectUri::parse(redirect).expect("valid redirect URI");
    let resource = ResourceUrl::parse("https://mcp.example.com/mcp").expect("valid resource");
    authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "client-1",
            redirect_uri: &redirect,
            resource: Some(&resource),
            scope: Some("files:read"),
            extra_params: &[],
        },
        &Entropy { verifier: [1; 32], state: [2; 32] },
        UnixTime(1_700_000_000),
    )
    .expect("valid authorization request")
}

/// How a generated callback value relates to the pending authorization.
#[derive(Clone, Debug)]
enum Val {
    /// The pending state (or the recorded issuer, for `iss`).
    Right,
    /// The right value with one character changed.
    Mutated(prop::sample::Index, char),
    /// The right value truncated.
    Truncated(prop::sample::Index),
    /// Anything.
    Other(String),
}

impl Val {
    fn resolve(&self, right: &str) -> String {
        match self {
            Val::Right => right.to_owned(),
            Val::Mutated(i, c) => {
                let mut chars: Vec<char> = right.chars().collect();
                if !chars.is_empty() {
                    let i = i.index(chars.len());
                    chars[i] = *c;
                }
                chars.into_iter().collect()
            }
            Val::Truncated(i) => {
                right.chars().take(i.index(right.chars().count().max(1))).collect()
            }
            Val::Other(s) => s.clone(),
        }
    }
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        4 => Just(Val::Right),
        1 => (any::<prop::sample::Index>(), any::<char>()).prop_map(|(i, c)| Val::Mutated(i, c)),
        1 => any::<prop::sample::Index>().prop_map(Val::Truncated),
        1 => prop_oneof![any::<String>(), "[a-zA-Z0-9_-]{0,44}"].prop_map(Val::Other),
    ]
}

#[derive(Clone, Debug)]
struct GenCallback {
    redirect: usize,
    iss_supported: bool,
    /// Replaces the redirect URI's origin and path when set.
    other_base: Option<String>,
    params: Vec<(String, Val)>,
    /// Percent-encode every byte of the values, not just the reserved ones.
    encode_all: bool,
    fragment: Option<String>,
}

fn gen_callback() -> impl Strategy<Value = GenCallback> {
    let other_base = prop::option::weighted(
        0.15,
        select(vec![
            "http://127.0.0.1:8766/cb",
            "http://127.0.0.1:8765/cb/",
            "http://127.0.0.2:8765/cb",
            "https://127.0.0.1:8765/cb",
            "https://app.example/oauth/callback/x",
            "https://APP.example:443/oauth/callback",
            "http://localhost:80",
        ])
        .prop_map(String::from),
    );
    let code = prop_oneof![
        4 => "[A-Za-z0-9._~-]{1,24}",
        1 => Just(String::new()),
        1 => any::<String>(),
    ]
    .prop_map(Val::Other);
    let extra_name = select(vec![
        "state",
        "code",
        "iss",
        "error",
        "error_description",
        "x",
        "STATE",
        "session_state",
    ]);
    let error = select(vec!["access_denied", "invalid_scope", "server_error"]);
    // Usually one each of state, code and iss, sometimes missing, plus rarer extras (which may
    // repeat a name), in any order.
    let params = (
        prop::option::weighted(0.9, val()),
        prop::option::weighted(0.9, code),
        prop::option::weighted(0.7, val()),
        prop::option::weighted(0.1, error),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec((extra_name, val()), 1..3),
        ],
    )
        .prop_map(|(state, code, iss, error, extras)| {
            let mut ps = Vec::new();
            ps.extend(state.map(|v| ("state".to_owned(), v)));
            ps.extend(code.map(|v| ("code".to_owned(), v)));
            ps.extend(iss.map(|v| ("iss".to_owned(), v)));
            ps.extend(error.map(|e| ("error".to_owned(), Val::Other(e.to_owned()))));
            ps.extend(extras.into_iter().map(|(k, v)| (k.to_owned(), v)));
            ps
        })
        .prop_shuffle();
    (
        0..REDIRECTS.len(),
        any::<bool>(),
        other_base,
        params,
        any::<bool>(),
        prop::option::weighted(0.1, "[a-z=&]{0,6}"),
    )
        .prop_map(|(redirect, iss_supported, other_base, params, encode_all, fragment)| {
            GenCallback { redirect, iss_supported, other_base, params, encode_all, fragment }
        })
}

fn render_callback(g: &GenCallback, p: &PendingAuthorization) -> String {
    let redirect = p.redirect_uri.url();
    let mut url = match &g.other_base {
        Some(b) => b.clone(),
        None => redirect.with_path(redirect.path()).to_string(),
    };
    let mut pairs: Vec<(String, String)> = redirect.query_pairs().unwrap_or_default();
    for (k, v) in &g.params {
        let right = if k == "iss" { p.issuer.as_str() } else { p.state.secret() };
        pairs.push((k.clone(), v.resolve(right)));
    }
    let mut query = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            query.push('&');
        }
        if g.encode_all {
            let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
            query.push_str(&enc(k));
            query.push('=');
            query.push_str(&enc(v));
        } else {
            query.push_str(&form_encode(&[(k, v)]));
        }
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    if let Some(f) = &g.fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn callback_never_panics(
        s in prop_oneof![
            any::<String>(),
            url_like(),
            query_text().prop_map(|q| format!("http://127.0.0.1:8765/cb?{q}")),
        ],
        redirect in 0..REDIRECTS.len(),
        iss_supported in any::<bool>(),
    ) {
        let p = pending(REDIRECTS[redirect], iss_supported);
        if let Ok(code) = process_callback(&p, &s) {
            let url = Url::parse(&s).unwrap();
            let pairs = url.query_pairs().unwrap();
            prop_assert!(pairs.iter().any(|(k, v)| k == "state" && v == p.state.secret()));
            prop_assert!(pairs.iter().any(|(k, v)| k == "code" && v == code.secret()));
        }
    }

    /// `process_callback` returns a code only for this authorization's state and issuer, at the
    /// redirect URI, with no error and no repeated parameter; and it does return one then.
    #[test]
    fn callback_accepts_only_the_pending_state(g in gen_callback()) {
        let p = pending(REDIRECTS[g.redirect], g.iss_supported);
        let url = render_callback(&g, &p);
        let result = process_callback(&p, &url);

        // The model: the server's parameters as decoded, without the redirect URI's own.
        let redirect = p.redirect_uri.url();
        let own = redirect.query_pairs().unwrap_or_default();
        let params: Vec<(String, String)> = g
            .params
            .iter()
            .map(|(k, v)| {
                let right = if k == "iss" { p.issuer.as_str() } else { p.state.secret() };
                (k.clone(), v.resolve(right))
            })
            .filter(|(k, v)| !own.iter().any(|(ok, ov)| ok == k && ov == v))
            .collect();
        let count = |name: &str| params.iter().filter(|(k, _)| k == name).count();
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let parsed = Url::parse(&url).ok();
        let right_place = parsed.as_ref().is_some_and(|u| {
            u.origin() == redirect.origin() && u.path() == redirect.path()
        });
        let state_ok = count("state") == 1 && get("state") == Some(p.state.secret());
        let iss_ok = match get("iss") {
            Some(iss) => count("iss") == 1 && iss == p.issuer,
            None => !p.iss_parameter_supported,
        };
        let no_duplicates =
            params.iter().enumerate().all(|(i, (k, _))| params[..i].iter().all(|(m, _)| m != k));

        match &result {
            Ok(code) => {
                prop_assert!(right_place, "accepted at the wrong URL {}", url);
                prop_assert!(state_ok, "accepted state {:?} for {}", get("state"), url);
                prop_assert!(iss_ok, "accepted iss {:?} for {}", get("iss"), url);
                prop_assert!(no_duplicates, "accepted repeated parameters in {}", url);
                prop_assert_eq!(count("error"), 0);
                prop_assert_eq!(Some(code.secret()), get("code"));
                prop_assert!(!code.secret().is_empty());
            }
            Err(e) => {
                let expect_ok = right_place
                    && no_duplicates
                    && state_ok
                    && iss_ok
                    && count("error") == 0
                    && get("code").is_some_and(|c| !c.is_empty());
                prop_assert!(!expect_ok, "rejected a valid callback {} with {:?}", url, e);
                if right_place && no_duplicates && !state_ok {
                    prop_assert!(
                        matches!(e, CallbackError::MissingState | CallbackError::StateMismatch),
                        "a wrong state must be reported as such, got {:?} for {}", e, url
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties: JSON response processors
// ---------------------------------------------------------------------------------------------

/// Strings that matter to the processors: URLs they compare against, enum values, and junk.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            ISSUER,
            "https://as.example",
            "https://as.example/authorize",
            "http://as.example/token",
            "http://localhost:9000/token",
            "https://mcp.example.com",
            "https://mcp.example.com/",
            "https://mcp.example.com/mcp",
            "https://MCP.example.com:443/mcp/sub",
            "https://mcp.example.com/mcpx",
            "https://evil.example/mcp",
            "Bearer", "bearer", "DPoP", "S256", "plain", "code", "token", "none",
            "client_secret_basic", "client_secret_post", "private_key_jwt",
            "invalid_grant", "invalid_client", "3600", " 42 ", "-1", "1e3", "",
        ]).prop_map(String::from),
        1 => any::<String>(),
        1 => url_like(),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => select(vec![0u64, 1, 3600, u64::MAX]).prop_map(Value::from),
        1 => any::<f64>()
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        1 => select(vec![3600.0f64, -0.0, 1.5, 1e15, 1e300]).prop_map(Value::from),
        5 => interesting_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "error",
    "error_description",
    "error_uri",
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "revocation_endpoint",
    "scopes_supported",
    "response_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "grant_types_supported",
    "authorization_response_iss_parameter_supported",
    "client_id_metadata_document_supported",
    "resource",
    "authorization_servers",
    "resource_name",
    "client_id",
    "client_secret",
    "client_secret_expires_at",
    "token_endpoint_auth_method",
];

/// A JSON object whose members are mostly the ones the processors read.
fn json_document() -> impl Strategy<Value = Value> {
    let member = (
        prop_oneof![9 => select(FIELDS.to_vec()).prop_map(String::from), 1 => "[a-z_]{1,8}"],
        prop_oneof![
            3 => json_leaf(),
            1 => prop::collection::vec(json_leaf(), 0..4).prop_map(Value::Array),
            1 => json_value(),
        ],
    );
    prop::collection::vec(member, 0..14)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// What to do with one member of a valid document.
#[derive(Clone, Debug)]
enum Edit {
    Keep,
    Remove,
    Replace(Value),
}

/// A valid document with some members removed or replaced and a few members added, so that
/// both the success path and every member's checks are reached.
fn perturbed(valid: Value) -> impl Strategy<Value = Value> {
    let valid = match valid {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let edit = prop_oneof![
        12 => Just(Edit::Keep),
        1 => Just(Edit::Remove),
        1 => json_leaf().prop_map(Edit::Replace),
        1 => json_value().prop_map(Edit::Replace),
    ];
    let extra = (select(FIELDS.to_vec()).prop_map(String::from), json_leaf());
    (prop::collection::vec(edit, valid.len()), prop::collection::vec(extra, 0..2)).prop_map(
        move |(edits, extras)| {
            let mut m = Map::new();
            for ((k, v), e) in valid.iter().zip(edits) {
                match e {
                    Edit::Keep => drop(m.insert(k.clone(), v.clone())),
                    Edit::Remove => {}
                    Edit::Replace(r) => drop(m.insert(k.clone(), r)),
                }
            }
            for (k, v) in extras {
                m.insert(k, v);
            }
            Value::Object(m)
        },
    )
}

/// A response for a processor whose success status is `ok_status` and whose valid document is
/// `valid`: status, content type and body drawn from plausible and arbitrary values.
fn response(ok_status: u16, valid: Value) -> impl Strategy<Value = HttpResponse> {
    let status = prop_oneof![
        6 => Just(ok_status),
        3 => select(vec![200u16, 201, 400, 401, 404, 429, 500, 503, 302]),
        1 => any::<u16>(),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/json".to_owned())),
        4 => select(vec![
            "Application/JSON; charset=utf-8",
            "application/jwk-set+json",
            "text/html",
            "",
            "json",
        ])
        .prop_map(|s| Some(s.to_owned())),
        1 => Just(None),
        1 => any::<String>().prop_map(Some),
    ];
    let header_name = select(vec!["content-type", "Content-Type", "CONTENT-TYPE"]);
    let body = prop_oneof![
        8 => perturbed(valid.clone()).prop_map(|v| v.to_string().into_bytes()),
        2 => json_document().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => (perturbed(valid), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            // Truncated JSON (possibly inside a multi-byte character).
            let mut b = v.to_string().into_bytes();
            let n = i.index(b.len() + 1);
            b.truncate(n);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..48),
    ];
    (status, content_type, header_name, body).prop_map(|(status, ct, name, body)| {
        let headers = ct.map(|ct| vec![(name.to_owned(), ct)]).unwrap_or_default();
        HttpResponse::new(status, headers, body)
    })
}

fn valid_token() -> Value {
    serde_json::json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "rt-1", "scope": "files:read", "id_token": "eyJ.x.y",
    })
}

fn valid_server_metadata() -> Value {
    serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://as.example/authorize",
        "token_endpoint": "https://as.example/token",
        "registration_endpoint": "https://as.example/register",
        "revocation_endpoint": "http://localhost:9000/revoke",
        "scopes_supported": ["files:read", "offline_access"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": false,
    })
}

fn valid_resource_metadata() -> Value {
    serde_json::json!({
        "resource": "https://mcp.example.com",
        "authorization_servers": [ISSUER, "https://as.example"],
        "scopes_supported": ["files:read"],
        "resource_name": "Example MCP",
    })
}

fn valid_registration() -> Value {
    serde_json::json!({
        "client_id": "client-1", "client_secret": "s3cret", "client_secret_expires_at": 0,
        "token_endpoint_auth_method": "client_secret_post",
    })
}

proptest! {
    #![proptest_config(config(2))]

    #[test]
    fn token_response_never_panics(
        resp in response(200, valid_token()),
        now in prop_oneof![any::<u64>(), Just(u64::MAX), Just(1_700_000_000)],
        previous in prop::option::of("[a-z]{1,8}"),
        requested in prop::option::of("[a-z: ]{0,12}"),
    ) {
        let previous = previous.map(RefreshToken::new);
        let out =
            process_token_response(&resp, UnixTime(now), previous.as_ref(), requested.as_deref());
        if let Ok(t) = out {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(resp.is_json());
            prop_assert!(t.token_type.eq_ignore_ascii_case("bearer"));
            prop_assert!(!t.access_token.secret().is_empty());
            prop_assert_eq!(t.received_at, UnixTime(now));
            prop_assert!(t.expires_at.is_none_or(|e| e >= UnixTime(now)));
            if t.refresh_token.is_none() {
                prop_assert!(previous.is_none());
            }
            if t.scope.is_none() {
                prop_assert!(requested.is_none());
            }
        }
    }

    #[test]
    fn server_metadata_never_panics(
        resp in response(200, valid_server_metadata()),
        assume_pkce in any::<bool>(),
    ) {
        let issuer = IssuerUrl::parse(ISSUER).unwrap();
        let url = EndpointUrl::parse(
            "https://as.example/.well-known/oauth-authorization-server/tenant",
        )
        .unwrap();
        let policy =
            ServerPolicy { danger_assume_pkce_s256: assume_pkce, ..ServerPolicy::default() };
        if let Ok(m) = server_metadata::process_metadata_response(&issuer, &url, &resp, &policy) {
            prop_assert_eq!(resp.status, 200);
            prop_assert_eq!(m.issuer.as_str(), ISSUER);
            match &m.code_challenge_methods_supported {
                Some(ms) => prop_assert!(ms.iter().any(|x| x == "S256")),
                None => prop_assert!(assume_pkce),
            }
            prop_assert!(m.authorization_endpoint.url().require_secure().is_ok());
            prop_assert!(m.token_endpoint.url().require_secure().is_ok());
        }
        if let Ok(m) = server_metadata::process_legacy_metadata_response(&url, &resp, &policy) {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(m.issuer.url().require_secure().is_ok());
        }
    }

    #[test]
    fn resource_metadata_never_panics(
        resp in response(200, valid_resource_metadata()),
        mcp in select(vec![
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "http://localhost:3000/mcp",
        ]),
    ) {
        let mcp_url = ResourceUrl::parse(mcp).unwrap();
        let url = EndpointUrl::parse(
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        )
        .unwrap();
        if let Ok(m) = resource_metadata::process_metadata_response(&url, &mcp_url, &resp) {
            prop_assert_eq!(resp.status, 200);
            prop_assert!(m.resource.covers(&mcp_url));
            prop_assert!(!m.authorization_servers.is_empty());
            prop_assert_eq!(m.url.as_str(), url.as_str());
        }
    }

    #[test]
    fn registration_response_never_panics(
        resp in response(201, valid_registration()),
        now in prop_oneof![any::<u64>(), Just(0), Just(1_700_000_000)],
    ) {
        let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").unwrap();
        if let Ok(r) = process_registration_response(&resp, ISSUER, &redirect, UnixTime(now)) {
            prop_assert_eq!(resp.status, 201);
            prop_assert!(!r.client_id.is_empty());
            prop_assert_eq!(r.issuer.as_str(), ISSUER);
            prop_assert!(r.auth_method != TokenEndpointAuth::PrivateKeyJwt);
            match r.auth_method {
                TokenEndpointAuth::None => prop_assert!(r.client_secret.is_none()),
                _ => prop_assert!(r.client_secret.is_some()),
            }
            if r.client_secret.is_some() {
                prop_assert!(r.client_secret_expires_at.is_none_or(|t| t > UnixTime(now)));
            }
            // A registration just received is usable at once (see `registration_ok_is_usable`).
            prop_assert!(r.usable_for(ISSUER, redirect.as_str(), UnixTime(now)));
        }
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// A well-formed token response is accepted whatever its values, with saturating expiry.
    #[test]
    fn valid_token_responses_are_accepted(
        access in "[!-~]{1,40}",
        token_type in "[bB][eE][aA][rR][eE][rR]",
        expires_in in prop::option::of(any::<u64>()),
        as_string in any::<bool>(),
        now in any::<u64>(),
        refresh in prop::option::of("[a-z0-9]{0,8}"),
        ct in select(vec![
            "application/json",
            "application/json;charset=UTF-8",
            "APPLICATION/JSON",
        ]),
    ) {
        let mut body = serde_json::json!({ "access_token": access, "token_type": token_type });
        if let Some(e) = expires_in {
            body["expires_in"] =
                if as_string { Value::from(e.to_string()) } else { Value::from(e) };
        }
        if let Some(r) = &refresh {
            body["refresh_token"] = Value::from(r.as_str());
        }
        let headers = vec![("Content-Type".to_owned(), ct.to_owned())];
        let resp = HttpResponse::new(200, headers, body.to_string());
        let previous = RefreshToken::new("old");
        let t = process_token_response(&resp, UnixTime(now), Some(&previous), Some("a b"))
            .map_err(|e| TestCaseError::fail(format!("{body}: {e}")))?;
        prop_assert_eq!(t.access_token.secret(), access.as_str());
        prop_assert_eq!(t.expires_at, expires_in.map(|e| UnixTime(now).plus(e)));
        let expected_refresh = refresh.filter(|r| !r.is_empty()).unwrap_or_else(|| "old".into());
        let refresh_token = t.refresh_token.as_ref().map(|r| r.secret());
        prop_assert_eq!(refresh_token, Some(expected_refresh.as_str()));
        prop_assert_eq!(t.scope.as_deref(), Some("a b"));
    }
}

/// Regression (found by fuzz_registration_response): a 201 without a client secret but with a
/// past `client_secret_expires_at` gave a registration that was not `usable_for` its own issuer
/// and redirect URI at the same instant, so the client registered again on every authorization.
#[test]
fn registration_ok_is_usable() {
    let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").unwrap();
    let now = UnixTime(1_700_000_000);
    let resp = HttpResponse::json(201, r#"{"client_id":"c1","client_secret_expires_at":5}"#);
    let r = process_registration_response(&resp, ISSUER, &redirect, now).unwrap();
    assert_eq!(r.auth_method, TokenEndpointAuth::None);
    assert!(r.usable_for(ISSUER, redirect.as_str(), now), "fresh registration unusable: {r:?}");
}
