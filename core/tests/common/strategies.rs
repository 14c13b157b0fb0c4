//! Shared parts of the `proptest_*` tests: the proptest configuration, the URL generators (used
//! by the URL properties and, for near-URL junk, by the callback and JSON-processor properties)
//! and the issuer the callback and JSON-processor properties share.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

/// proptest's defaults (256 cases; `PROPTEST_CASES` overrides) times `factor`, with failing
/// cases saved next to the test file that ran the property (`proptest_urls.rs` saves to
/// `proptest_urls.proptest-regressions`): an integration test has no `lib.rs` for the default
/// location.
pub fn config(factor: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: default.cases.saturating_mul(factor),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..default
    }
}

/// The issuer of the authorization server in the callback and JSON-processor properties.
pub const ISSUER: &str = "https://as.example/tenant";

// ---------------------------------------------------------------------------------------------
// Generators: URLs
// ---------------------------------------------------------------------------------------------

/// One RFC 3986 `pchar`: unreserved, sub-delims, `:`, `@`, or a percent-escape (either case).
pub fn pchar() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9._~!$&'()*+,;=:@-]",
        1 => any::<u8>().prop_map(|b| format!("%{b:02X}")),
        1 => any::<u8>().prop_map(|b| format!("%{b:02x}")),
    ]
}

/// A path: zero or more `/segment`s (the empty path is allowed and becomes `/`).
pub fn path() -> impl Strategy<Value = String> {
    let segment = prop::collection::vec(pchar(), 0..6).prop_map(|cs| cs.concat());
    prop::collection::vec(segment, 0..4)
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>())
}

/// A query or fragment body: pchars, `/` and `?`.
pub fn query_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![6 => pchar(), 1 => Just("/".to_owned()), 1 => Just("?".to_owned())],
        0..10,
    )
    .prop_map(|cs| cs.concat())
}

/// An RFC 1123 label, mixed case.
pub fn label() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?"
}

pub fn host() -> impl Strategy<Value = String> {
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
pub struct GenUrl {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

impl GenUrl {
    pub fn render(&self) -> String {
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

    pub fn https(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("https")
    }
}

pub fn gen_url() -> impl Strategy<Value = GenUrl> {
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
pub fn url_like() -> impl Strategy<Value = String> {
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
pub fn valid_or_url_like() -> impl Strategy<Value = String> {
    prop_oneof![gen_url().prop_map(|g| g.render()), url_like()]
}

pub fn is_loopback_host(h: &str) -> bool {
    let h = h.to_ascii_lowercase();
    h == "localhost"
        || h == "[::1]"
        || (h.starts_with("127.")
            && h.split('.').count() == 4
            && h.split('.').all(|o| o.parse::<u8>().is_ok()))
}
