//! Property tests over the core's URL types (`Url` and the validated newtypes,
//! `ResourceUrl::covers`) and the form, percent and base64 encoders.
//!
//! Two kinds of properties:
//! - robustness: a parser never panics on arbitrary input, and whatever it accepts satisfies
//!   cheap invariants;
//! - round trips and laws on generated valid input: a rendered URL parses back to what was
//!   generated, canonical forms are fixpoints, `covers` is reflexive and transitive.
//!
//! Cases per property: proptest's default of 256, a few seconds in a debug build;
//! `PROPTEST_CASES=10000 cargo test -p mcp-oauth-core --test proptest_urls` for a longer run.
//! The cargo-fuzz targets in `fuzz/` cover the same parsers with coverage guidance.
//!
//! The other property tests are in `proptest_challenges.rs` and `proptest_processors.rs`; the
//! shared configuration and URL generators are in `common/strategies.rs`.

mod common;

use common::strategies::{config, gen_url, is_loopback_host, url_like, valid_or_url_like, GenUrl};
use mcp_oauth_core::__private::encoding::{
    base64_std, base64url_nopad, form_decode, form_encode, percent_decode, percent_encode_segment,
};
use mcp_oauth_core::url::{
    normalize_path, EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, Url, UrlProblem,
};
use proptest::prelude::*;
use proptest::sample::select;

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
    let segs = prop::collection::vec(
        select(vec!["mcp", "v1", "a", "ab", "a%2Fb", "", ".", "..", "%2e%2E", "%61"]),
        0..4,
    );
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
            // Paths compare in their RFC 3986 §6.2.2 / §5.2.4 normal form.
            let mine = normalize_path(a.url().path());
            let mine = mine.trim_end_matches('/');
            let theirs = normalize_path(b.url().path());
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
            let (pa, pb) = (normalize_path(a.url().path()), normalize_path(b.url().path()));
            prop_assert_eq!(pa.trim_end_matches('/'), pb.trim_end_matches('/'));
        }
    }

    /// A resource covers its sub-paths and not a sibling that merely shares a string prefix.
    #[test]
    fn covers_children_not_siblings(
        base in pooled_resource(),
        child in "[a-z0-9]{1,4}",
        sibling_suffix in "[a-z0-9]{1,4}",
    ) {
        // String-prefix siblings only mean something for paths already in normal form.
        prop_assume!(normalize_path(base.url().path()) == base.url().path());
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
        prop_assert_eq!(form_decode(&encoded).ok(), Some(pairs.clone()));
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
        if let Ok(pairs) = form_decode(&s) {
            prop_assert_eq!(form_decode(&form_encode(&refs(&pairs))).ok(), Some(pairs.clone()));
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
