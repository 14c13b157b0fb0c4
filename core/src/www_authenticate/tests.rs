use super::*;

fn one(header: &str) -> Challenge {
    let mut v = parse(header).unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

#[test]
fn rfc6750_section3_example() {
    let ch = one(r#"Bearer realm="example""#);
    assert_eq!(ch.scheme, "Bearer");
    assert_eq!(ch.param("realm"), Some("example"));
    let ch = one(
        r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
    );
    assert_eq!(ch.param("error"), Some("invalid_token"));
    assert_eq!(ch.param("error_description"), Some("The access token expired"));
}

#[test]
fn rfc9728_section5_1_example() {
    let h = r#"Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource""#;
    let resp = HttpResponse::new(401, vec![("WWW-Authenticate".into(), h.into())], Vec::new());
    let b = bearer_challenge(&resp).unwrap().unwrap();
    assert_eq!(
        b.resource_metadata.as_deref(),
        Some("https://resource.example.com/.well-known/oauth-protected-resource")
    );
}

#[test]
fn several_challenges_in_one_header() {
    let v = parse(
        r#"Basic realm="x", DPoP algs="ES256 PS256", bearer scope="a b", error=insufficient_scope"#,
    )
    .unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].scheme, "Basic");
    assert_eq!(v[1].param("algs"), Some("ES256 PS256"));
    assert_eq!(v[2].scheme, "bearer");
    assert_eq!(v[2].param("scope"), Some("a b"));
    assert_eq!(v[2].param("error"), Some("insufficient_scope"));
}

#[test]
fn several_headers_and_case_rules() {
    let resp = HttpResponse::new(
        401,
        vec![
            ("www-authenticate".into(), "Negotiate".into()),
            (
                "WWW-Authenticate".into(),
                r#"BEARER Scope="files:read", ERROR="invalid_token""#.into(),
            ),
        ],
        Vec::new(),
    );
    let b = bearer_challenge(&resp).unwrap().unwrap();
    assert_eq!(b.scope.as_deref(), Some("files:read"));
    assert_eq!(b.error.as_deref(), Some("invalid_token"));
}

#[test]
fn token68_and_empty_schemes() {
    // `realm=` alone is a valid token68 (RFC 9110 §11.2), not a parameter without a value.
    assert_eq!(one("Bearer realm=").token68.as_deref(), Some("realm="));
    let v = parse("Negotiate abc123==, Bearer").unwrap();
    assert_eq!(v[0].token68.as_deref(), Some("abc123=="));
    assert_eq!(v[1].scheme, "Bearer");
    assert!(v[1].params.is_empty());
}

#[test]
fn quoted_pairs_and_spacing() {
    let ch = one(r#"Bearer  realm = "a \"quoted\" \\ value" ,error_description="x, y""#);
    assert_eq!(ch.param("realm"), Some(r#"a "quoted" \ value"#));
    assert_eq!(ch.param("error_description"), Some("x, y"));
}

#[test]
fn malformed_headers_name_the_problem() {
    for (h, reason) in [
        (r#"Bearer realm="open"#, "unterminated quoted string"),
        (r#"Bearer realm="a", error="#, "expected a token or quoted string"),
        ("=x", "expected an auth scheme"),
        (r#"Bearer realm="a" error="b""#, "expected `,` between parameters"),
        ("Bearer\"x\"", "expected a space after the auth scheme"),
    ] {
        match parse(h) {
            Err(ChallengeError::Malformed { reason: r, .. }) => assert_eq!(r, reason, "{h}"),
            other => panic!("{h}: {other:?}"),
        }
    }
    assert_eq!(
        parse(r#"Bearer error="a", Error="b""#),
        Err(ChallengeError::DuplicateParameter("error".into()))
    );
}

#[test]
fn no_bearer_challenge() {
    let resp = HttpResponse::new(
        401,
        vec![("WWW-Authenticate".into(), "Basic realm=\"x\"".into())],
        Vec::new(),
    );
    assert_eq!(bearer_challenge(&resp), Ok(None));
    assert_eq!(bearer_challenge(&HttpResponse::default()), Ok(None));
}

#[test]
fn unrelated_malformed_header_does_not_depend_on_order() {
    let bearer = ("WWW-Authenticate".to_string(), r#"Bearer scope="a""#.to_string());
    let broken = ("WWW-Authenticate".to_string(), "Digest realm=a=b".to_string());
    for headers in [vec![bearer.clone(), broken.clone()], vec![broken.clone(), bearer]] {
        let resp = HttpResponse::new(401, headers, Vec::new());
        assert_eq!(bearer_challenge(&resp).unwrap().unwrap().scope.as_deref(), Some("a"));
    }
    let only_broken = HttpResponse::new(401, vec![broken], Vec::new());
    assert_eq!(bearer_challenge(&only_broken).unwrap_err().code(), "challenge_malformed");
}

#[test]
fn caps_are_enforced_and_named() {
    let params = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("p{i}=v")).collect();
        format!("Bearer {}", list.join(", "))
    };
    assert_eq!(parse(&params(MAX_PARAMETERS)).unwrap()[0].params.len(), MAX_PARAMETERS);
    assert_eq!(
        parse(&params(MAX_PARAMETERS + 1)),
        Err(ChallengeError::TooManyParameters { max: MAX_PARAMETERS })
    );
    // The count is per header value, across its challenges.
    let two = format!("{}, Basic {}", params(40), &params(40)["Bearer ".len()..]);
    assert!(two.len() < MAX_HEADER_LEN);
    assert_eq!(parse(&two).unwrap_err().code(), "challenge_too_many_parameters");
    let long = format!("Bearer realm=\"{}\"", "a".repeat(MAX_HEADER_LEN));
    let e = parse(&long).unwrap_err();
    assert_eq!(e, ChallengeError::TooLong { length: long.len(), max: MAX_HEADER_LEN });
    assert!(e.to_string().contains("MAX_HEADER_LEN"));
    let fits = format!("Bearer realm=\"{}\"", "a".repeat(MAX_HEADER_LEN - 15));
    assert_eq!(fits.len(), MAX_HEADER_LEN);
    assert!(parse(&fits).is_ok());
}
