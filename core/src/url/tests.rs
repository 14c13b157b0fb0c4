use super::*;

fn problem(input: &str) -> UrlProblem {
    Url::parse(input).unwrap_err().problem
}

#[test]
fn parses_and_normalises() {
    let u = Url::parse("HTTPS://Auth.Example.COM:443/Tenant1/?a=b#frag").unwrap();
    assert_eq!(u.scheme(), "https");
    assert_eq!(u.host(), "auth.example.com");
    assert_eq!(u.port(), None);
    assert_eq!(u.path(), "/Tenant1/");
    assert_eq!(u.query(), Some("a=b"));
    assert_eq!(u.fragment(), Some("frag"));
    assert_eq!(u.to_string(), "https://auth.example.com/Tenant1/?a=b#frag");
    let u = Url::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(u.path(), "/");
    assert_eq!(u.port(), Some(8080));
    assert_eq!(u.origin(), "http://127.0.0.1:8080");
    let u = Url::parse("http://[::1]:9/x").unwrap();
    assert_eq!(u.host(), "[::1]");
    assert_eq!(u.port(), Some(9));
    assert!(u.is_loopback());
}

#[test]
fn rejects_bad_urls_with_the_reason() {
    assert_eq!(problem(""), UrlProblem::Empty);
    assert_eq!(problem("mcp.example.com"), UrlProblem::NotAbsolute);
    assert_eq!(problem("ftp://x.example"), UrlProblem::UnsupportedScheme("ftp".into()));
    assert_eq!(problem("https://user:pw@x.example/"), UrlProblem::Userinfo);
    assert_eq!(problem("https:///path"), UrlProblem::EmptyHost);
    assert_eq!(
        problem("https://bücher.example/"),
        UrlProblem::NonAsciiHost("bücher.example".into())
    );
    assert_eq!(problem("https://a b.example/"), UrlProblem::InvalidHost("a b.example".into()));
    assert_eq!(problem("https://-a.example/"), UrlProblem::InvalidHost("-a.example".into()));
    assert_eq!(problem("https://x.example:99999/"), UrlProblem::InvalidPort("99999".into()));
    assert_eq!(problem("https://x.example:/"), UrlProblem::InvalidPort("".into()));
    assert_eq!(problem("https://x.example/a b"), UrlProblem::InvalidCharacter(' '));
    assert_eq!(problem("https://x.example/ä"), UrlProblem::InvalidCharacter('ä'));
    assert_eq!(problem("https://x.example/%zz"), UrlProblem::InvalidPercentEscape);
    assert_eq!(problem("https://x.example/\\"), UrlProblem::InvalidCharacter('\\'));
    assert_eq!(problem("https://[zz]/"), UrlProblem::InvalidHost("[zz]".into()));
}

#[test]
fn loopback_detection() {
    for ok in ["http://localhost/", "http://127.0.0.1/", "http://127.1.2.3:5/", "http://[::1]/"] {
        assert!(Url::parse(ok).unwrap().is_loopback(), "{ok}");
    }
    for no in
        ["http://localhost.evil.example/", "http://127.0.0.1.evil.example/", "http://10.0.0.1/"]
    {
        assert!(!Url::parse(no).unwrap().is_loopback(), "{no}");
    }
}

#[test]
fn issuer_rules() {
    assert!(IssuerUrl::parse("https://auth.example.com/tenant1").is_ok());
    assert!(IssuerUrl::parse("http://localhost:9000").is_ok());
    let e = IssuerUrl::parse("http://auth.example.com").unwrap_err();
    assert_eq!(e.problem, UrlProblem::InsecureScheme);
    assert_eq!(e.what, "issuer");
    assert_eq!(IssuerUrl::parse("https://a.example/?x=1").unwrap_err().problem, UrlProblem::Query);
    assert_eq!(IssuerUrl::parse("https://a.example/#x").unwrap_err().problem, UrlProblem::Fragment);
    // The original string is kept for exact comparisons (Auth0's trailing slash).
    assert_eq!(
        IssuerUrl::parse("https://tenant.auth0.com/").unwrap().as_str(),
        "https://tenant.auth0.com/"
    );
}

#[test]
fn redirect_uri_rules() {
    assert!(RedirectUri::parse("http://localhost:8000/auth/redirect").is_ok());
    assert!(RedirectUri::parse("http://127.0.0.1/cb").is_ok());
    assert!(RedirectUri::parse("https://app.example/cb").is_ok());
    assert_eq!(
        RedirectUri::parse("http://app.example/cb").unwrap_err().problem,
        UrlProblem::InsecureScheme
    );
    assert_eq!(
        RedirectUri::parse("https://app.example/cb#x").unwrap_err().problem,
        UrlProblem::Fragment
    );
}

#[test]
fn resource_canonical_form() {
    let cases = [
        ("https://MCP.Example.com/mcp", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/", "https://mcp.example.com"),
        ("https://mcp.example.com", "https://mcp.example.com"),
        ("https://mcp.example.com:443/mcp", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com:8443", "https://mcp.example.com:8443"),
        ("https://mcp.example.com/server/mcp/", "https://mcp.example.com/server/mcp/"),
    ];
    for (input, canonical) in cases {
        assert_eq!(ResourceUrl::parse(input).unwrap().as_str(), canonical, "{input}");
    }
    assert_eq!(
        ResourceUrl::parse("https://mcp.example.com#fragment").unwrap_err().problem,
        UrlProblem::Fragment
    );
    assert_eq!(ResourceUrl::parse("mcp.example.com").unwrap_err().problem, UrlProblem::NotAbsolute);
}

#[test]
fn resource_covers_on_segment_boundary() {
    let server = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
    let covers = |prm: &str| ResourceUrl::parse(prm).unwrap().covers(&server);
    assert!(covers("https://mcp.example.com"));
    assert!(covers("https://mcp.example.com/"));
    assert!(covers("https://mcp.example.com/mcp"));
    assert!(covers("https://mcp.example.com/mcp/"));
    assert!(!covers("https://mcp.example.com/mc"));
    assert!(!covers("https://mcp.example.com/mcp2"));
    assert!(!covers("https://mcp.example.com/mcp/x"));
    assert!(!covers("https://other.example.com/mcp"));
    assert!(!covers("https://mcp.example.com:8443/mcp"));
}

#[test]
fn covers_request_for_token_use() {
    let res = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
    assert!(res.covers_request(&Url::parse("https://mcp.example.com/mcp?session=1").unwrap()));
    assert!(res.covers_request(&Url::parse("https://mcp.example.com/mcp/sub").unwrap()));
    assert!(!res.covers_request(&Url::parse("https://mcp.example.com/other").unwrap()));
    assert!(!res.covers_request(&Url::parse("https://evil.example/mcp").unwrap()));
}

#[test]
fn query_pairs_roundtrip() {
    let u = Url::parse("https://as.example/authorize?x=1").unwrap();
    let u = u.with_query_pairs(&[("scope", "a b"), ("redirect_uri", "http://localhost/cb")]);
    assert_eq!(u.query(), Some("x=1&scope=a+b&redirect_uri=http%3A%2F%2Flocalhost%2Fcb"));
    let pairs = u.query_pairs().unwrap();
    assert_eq!(pairs[1], ("scope".to_string(), "a b".to_string()));
    assert_eq!(pairs[2].1, "http://localhost/cb");
}

#[test]
fn published_resource_is_kept_verbatim() {
    let r = ResourceUrl::parse_published("https://mcp.vercel.com/").unwrap();
    assert_eq!(r.as_str(), "https://mcp.vercel.com/");
    assert!(r.covers(&ResourceUrl::parse("https://mcp.vercel.com").unwrap()));
    assert_eq!(
        ResourceUrl::parse_published("https://x.example/#f").unwrap_err().problem,
        UrlProblem::Fragment
    );
    assert_eq!(
        ResourceUrl::parse_published("http://x.example/").unwrap_err().problem,
        UrlProblem::InsecureScheme
    );
}

#[test]
fn normalize_path_decodes_unreserved_then_removes_dot_segments() {
    // RFC 3986 §5.2.4 examples ("/a/b/c/./../../g" → "/a/g", "mid/content=5/../6").
    assert_eq!(normalize_path("/a/b/c/./../../g"), "/a/g");
    assert_eq!(normalize_path("/mid/content=5/../6"), "/mid/6");
    // RFC 3986 §6.2.2.2: %2E is "."; §6.2.2.1: other escapes in upper case.
    assert_eq!(normalize_path("/mcp/%2e%2E/admin"), "/admin");
    assert_eq!(normalize_path("/mcp/.%2e/admin"), "/admin");
    assert_eq!(normalize_path("/%6Dcp/a%2fb"), "/mcp/a%2Fb");
    assert_eq!(normalize_path("/mcp/.."), "/");
    assert_eq!(normalize_path("/mcp/."), "/mcp/");
    assert_eq!(normalize_path("/../../x"), "/x");
    assert_eq!(normalize_path("/"), "/");
    assert_eq!(normalize_path("/mcp/"), "/mcp/");
}

#[test]
fn covers_request_refuses_paths_that_leave_the_resource() {
    let res = ResourceUrl::parse("https://mcp.example.com/mcp").unwrap();
    let covers = |u: &str| res.covers_request(&Url::parse(u).unwrap());
    for leaving in [
        "https://mcp.example.com/mcp/../admin",
        "https://mcp.example.com/mcp/%2e%2e/admin",
        "https://mcp.example.com/mcp/%2E%2E/admin",
        "https://mcp.example.com/mcp/x/../../admin",
        "https://mcp.example.com/mcp/..",
        "https://mcp.example.com/mcp/%2e%2e%2fadmin",
        "https://mcp.example.com/mcp/..%5cadmin",
    ] {
        assert!(!covers(leaving), "{leaving}");
    }
    assert!(covers("https://mcp.example.com/mcp/a/../b"));
    assert!(covers("https://mcp.example.com/%6dcp/tools"));
    assert!(covers("https://mcp.example.com/mcp/./tools"));
    let root = ResourceUrl::parse("https://mcp.example.com").unwrap();
    assert!(root.covers_request(&Url::parse("https://mcp.example.com/a/../..").unwrap()));
}

#[test]
fn length_cap_is_enforced_and_the_error_keeps_a_prefix() {
    let at_cap = format!("https://a.example/{}", "p".repeat(MAX_URL_LEN - 18));
    assert_eq!(at_cap.len(), MAX_URL_LEN);
    assert!(Url::parse(&at_cap).is_ok());
    let over = format!("https://a.example/{}", "é".repeat(MAX_URL_LEN));
    let e = IssuerUrl::parse(&over).unwrap_err();
    assert_eq!(e.problem, UrlProblem::TooLong { length: over.len(), max: MAX_URL_LEN });
    assert_eq!(e.code(), "url_too_long");
    assert!(e.input.len() <= ERROR_INPUT_PREFIX + 3 && e.input.ends_with('…'), "{}", e.input);
    assert_eq!(Url::parse(&over).unwrap_err().code(), "url_too_long");
}
