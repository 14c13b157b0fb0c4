#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use super::client::{amz_date, parse_list, sign, uri_encode, ListPage, SignInput};
use super::{S3Config, S3Credentials};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The worked example "GET Object" of AWS's S3 SigV4 documentation ("Authenticating Requests:
/// Using the Authorization Header", examples of signature calculations): bucket
/// `examplebucket`, object `test.txt`, `Range: bytes=0-9`, 2013-05-24T00:00:00Z, us-east-1,
/// the documentation's example key pair.
#[test]
fn sigv4_matches_the_documented_get_object_example() {
    let creds = S3Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    );
    let auth = sign(
        &SignInput {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[("range", "bytes=0-9")],
            payload_hash: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
            region: "us-east-1",
        },
        &creds,
    );
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    // Any change to what is signed changes the signature.
    let other = sign(
        &SignInput {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[("range", "bytes=0-8")],
            payload_hash: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
            region: "us-east-1",
        },
        &creds,
    );
    assert_ne!(auth, other);
}

/// A session token is signed (`x-amz-security-token` among the signed headers), and a query
/// is canonicalised sorted by name with every reserved byte encoded.
#[test]
fn sigv4_signs_the_session_token_and_a_sorted_encoded_query() {
    let creds = S3Credentials::new("AKID", "secret", Some("the-session-token".into()));
    let input = |query| SignInput {
        method: "GET",
        host: "127.0.0.1:9000",
        path: "/bucket",
        query,
        headers: &[],
        payload_hash: EMPTY_SHA256,
        amz_date: "20260101T000000Z",
        region: "eu-west-1",
    };
    let a = sign(&input(&[("prefix", "a b/c"), ("list-type", "2")]), &creds);
    let b = sign(&input(&[("list-type", "2"), ("prefix", "a b/c")]), &creds);
    assert_eq!(a, b, "the order of the parameters does not matter");
    assert!(
        a.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
        "{a}"
    );
    assert!(a.contains("/20260101/eu-west-1/s3/aws4_request,"), "{a}");
    assert_eq!(uri_encode("a b/c~*", false), "a%20b%2Fc~%2A");
    assert_eq!(uri_encode("mcp-oauth/tok/ab", true), "mcp-oauth/tok/ab");
    // Debug never shows the secret or the session token.
    let debug = format!("{creds:?}");
    assert!(!debug.contains("secret") && !debug.contains("the-session-token"), "{debug}");
}

#[test]
fn amz_dates_are_utc_calendar_dates() {
    let at = |s: u64| amz_date(UNIX_EPOCH + Duration::from_secs(s));
    assert_eq!(at(0), "19700101T000000Z");
    assert_eq!(at(1_369_353_600), "20130524T000000Z");
    // 2024-02-29 (a leap day) 23:59:59, and the next second.
    assert_eq!(at(1_709_251_199), "20240229T235959Z");
    assert_eq!(at(1_709_251_200), "20240301T000000Z");
    assert_eq!(at(4_102_444_800), "21000101T000000Z");
}

#[test]
fn list_pages_read_keys_tokens_and_entities() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>1a&amp;b==</NextContinuationToken>
<Contents><Key>p/one</Key><ETag>&quot;x&quot;</ETag></Contents><Contents><Key>p/a&lt;b&#x41;</Key></Contents></ListBucketResult>"#;
    assert_eq!(
        parse_list(xml).unwrap(),
        ListPage { keys: vec!["p/one".into(), "p/a<bA".into()], next: Some("1a&b==".into()) }
    );
    let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    assert_eq!(parse_list(last).unwrap(), ListPage { keys: vec![], next: None });
    // Malformed answers are errors, not empty listings.
    assert!(parse_list("<Error><Code>AccessDenied</Code></Error>").is_err());
    assert!(parse_list("<ListBucketResult><Key>unterminated").is_err());
    assert!(
        parse_list("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").is_err()
    );
    assert!(parse_list("<ListBucketResult><Key>a&bogus;</Key></ListBucketResult>").is_err());
}

#[test]
fn config_checks_name_the_setting() {
    let ok = S3Config::new("mcp-tokens");
    assert_eq!(ok.check(), Ok(()));
    for bad in ["ab", "Upper", "-start", "under_score", &"x".repeat(64)] {
        let err = S3Config::new(bad).check().unwrap_err();
        assert!(err.starts_with("bucket"), "{bad}: {err}");
    }
    let mut c = S3Config::new("mcp-tokens");
    c.prefix = "a b/".into();
    assert!(c.check().unwrap_err().starts_with("prefix"));
    c.prefix = "/abs/".into();
    assert!(c.check().unwrap_err().starts_with("prefix"));
    c.prefix = "team-a/".into();
    c.region = Some("eu west".into());
    assert!(c.check().unwrap_err().starts_with("region"));
}
