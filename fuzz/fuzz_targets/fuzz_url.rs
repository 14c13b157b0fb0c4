//! `Url`, `IssuerUrl`, `ResourceUrl`, `RedirectUri` and `EndpointUrl` parsing: no panic, and
//! whatever is accepted re-parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, Url, MAX_URL_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };

    let url = Url::parse(s);
    if let Ok(u) = &url {
        assert!(s.len() <= MAX_URL_LEN);
        let printed = u.to_string();
        // Printing adds at most the `/` of an empty path, which can pass the length cap.
        if printed.len() <= MAX_URL_LEN {
            assert_eq!(Url::parse(&printed).as_ref(), Ok(u), "{s:?} printed as {printed:?}");
        } else {
            assert_eq!(Url::parse(&printed).map_err(|e| e.code()), Err("url_too_long"));
        }
        assert_eq!(u.host(), u.host().to_ascii_lowercase());
        assert!(u.path().starts_with('/'));
        assert!(Url::parse(&u.origin()).is_ok());
        let _ = u.query_pairs();
    }
    let secure = url.as_ref().is_ok_and(|u| u.require_secure().is_ok());
    let no_fragment = url.as_ref().is_ok_and(|u| u.fragment().is_none());
    let no_query = url.as_ref().is_ok_and(|u| u.query().is_none());

    let issuer = IssuerUrl::parse(s);
    assert_eq!(issuer.is_ok(), secure && no_fragment && no_query, "issuer {s:?}");
    if let Ok(i) = issuer {
        assert_eq!(i.as_str(), s);
    }
    let redirect = RedirectUri::parse(s);
    assert_eq!(redirect.is_ok(), secure && no_fragment, "redirect URI {s:?}");
    if let Ok(r) = redirect {
        assert_eq!(r.as_str(), s);
    }
    assert_eq!(EndpointUrl::parse(s).is_ok(), secure && no_fragment, "endpoint {s:?}");

    let resource = ResourceUrl::parse(s);
    assert_eq!(resource.is_ok(), secure && no_fragment, "resource {s:?}");
    if let Ok(r) = resource {
        if r.as_str().len() > MAX_URL_LEN {
            return;
        }
        let again = ResourceUrl::parse(r.as_str()).expect("the canonical form parses");
        assert_eq!(again.as_str(), r.as_str(), "canonical form of {s:?} is not a fixpoint");
        assert_eq!(again, r);
        assert!(r.covers(&r));
        assert!(r.covers_request(r.url()));
    }
});
