use super::*;
use crate::http::HttpResponse;

fn key() -> DpopKey {
    DpopKey {
        alg: "ES256".into(),
        jwk: PublicJwk::Ec {
            crv: "P-256".into(),
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        },
    }
}

/// base64url without padding (RFC 4648 §5), decoded independently of the code under test.
fn base64url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url character") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

fn decode_part(part: &str) -> serde_json::Value {
    serde_json::from_slice(&base64url_decode(part)).expect("JSON")
}

/// RFC 9449 §4.2: `htu` is the target URI without query and fragment.
#[test]
fn htu_drops_query_fragment_and_default_port() {
    let cases = [
        ("https://Server.Example.com/token?x=1#f", "https://server.example.com/token"),
        ("HTTPS://server.example.com:443/token", "https://server.example.com/token"),
        ("http://127.0.0.1:8080/mcp?session=a", "http://127.0.0.1:8080/mcp"),
        ("https://server.example.com:8443/a/b", "https://server.example.com:8443/a/b"),
        ("https://server.example.com", "https://server.example.com/"),
    ];
    for (input, want) in cases {
        assert_eq!(htu(input).unwrap(), want, "{input}");
    }
    assert!(htu("not a url").is_err());
}

/// `ath` is base64url(SHA-256(token)); SHA-256("abc") is the FIPS 180-2 test vector
/// ba7816bf…f20015ad.
#[test]
fn ath_is_the_base64url_sha256_of_the_token() {
    assert_eq!(ath("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

/// RFC 7638 §3.2–3.3: required members only, sorted, no whitespace.
#[test]
fn thumbprint_hashes_the_canonical_members() {
    let k = key();
    let canonical = k.jwk.to_json().to_text();
    assert_eq!(
        canonical,
        r#"{"crv":"P-256","kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}"#
    );
    let rsa = PublicJwk::Rsa { n: "n".into(), e: "AQAB".into() };
    assert_eq!(rsa.to_json().to_text(), r#"{"e":"AQAB","kty":"RSA","n":"n"}"#);
    let okp = PublicJwk::Okp { crv: "Ed25519".into(), x: "x".into() };
    assert_eq!(okp.to_json().to_text(), r#"{"crv":"Ed25519","kty":"OKP","x":"x"}"#);
    assert_eq!(k.jwk.thumbprint().len(), 43, "256 bits, base64url without padding");
    assert_ne!(k.jwk.thumbprint(), rsa.thumbprint());
}

/// RFC 9449 §4.2: the header has typ, alg and the public jwk; the claims jti, htm, htu, iat,
/// and ath/nonce when given.
#[test]
fn proof_header_and_claims() {
    let input = proof_signing_input(
        &key(),
        &ProofParams {
            method: "post",
            url: "https://as.example/token?ignored=1",
            now: UnixTime(1_700_000_000),
            jti_random: &[7; 16],
            access_token: None,
            nonce: None,
        },
    )
    .unwrap();
    let (h, c) = input.split_once('.').unwrap();
    let header = decode_part(h);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["kty"], "EC");
    assert!(header["jwk"].get("d").is_none(), "never a private member");
    let claims = decode_part(c);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], "https://as.example/token");
    assert_eq!(claims["iat"], 1_700_000_000u64);
    assert_eq!(claims["jti"], crate::encoding::base64url_nopad(&[7; 16]));
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());

    let input = proof_signing_input(
        &key(),
        &ProofParams {
            method: "GET",
            url: "https://mcp.example/mcp",
            now: UnixTime(1),
            jti_random: &[8; 16],
            access_token: Some("abc"),
            nonce: Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"),
        },
    )
    .unwrap();
    let claims = decode_part(input.split_once('.').unwrap().1);
    assert_eq!(claims["ath"], "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    assert_eq!(claims["nonce"], "eyJ7S_zG.eyJH0-Z.HX4w-7v");
    let jws = assemble(&input, &[1, 2, 3]);
    assert_eq!(jws.split('.').count(), 3);
    assert!(jws.ends_with(".AQID"));
}

#[test]
fn symmetric_algorithms_and_bad_methods_are_refused() {
    let p = ProofParams {
        method: "POST",
        url: "https://as.example/token",
        now: UnixTime(1),
        jti_random: &[0; 16],
        access_token: None,
        nonce: None,
    };
    for alg in ["HS256", "none", ""] {
        let k = DpopKey { alg: alg.into(), ..key() };
        let e = proof_signing_input(&k, &p).unwrap_err();
        assert_eq!(e.code(), "dpop_algorithm_invalid", "{alg}");
    }
    let e = proof_signing_input(&key(), &ProofParams { method: "PO ST", ..p }).unwrap_err();
    assert_eq!(e.code(), "dpop_method_invalid");
    let e = proof_signing_input(&key(), &ProofParams { url: "ftp://x/", ..p }).unwrap_err();
    assert_eq!(e.code(), "dpop_url_invalid");
}

/// RFC 9449 §5.1: the host's preference among what the server lists; absent list: any.
#[test]
fn algorithm_choice() {
    let list = vec!["RS256".to_owned(), "ES256".to_owned()];
    assert_eq!(choose_alg(Some(&list), &["EdDSA", "ES256"]), Ok("ES256"));
    assert_eq!(choose_alg(None, &["EdDSA", "ES256"]), Ok("EdDSA"));
    let e = choose_alg(Some(&list), &["EdDSA"]).unwrap_err();
    assert_eq!(e.code(), "dpop_no_common_algorithm");
    assert!(e.to_string().contains("RS256, ES256") && e.to_string().contains("EdDSA"), "{e}");
}

fn with_nonce(status: u16, body: &str, nonce: Option<&str>, www: Option<&str>) -> HttpResponse {
    let mut r = HttpResponse::json(status, body);
    if let Some(n) = nonce {
        r.headers.push(("DPoP-Nonce".into(), n.into()));
    }
    if let Some(w) = www {
        r.headers.push(("WWW-Authenticate".into(), w.into()));
    }
    r
}

/// RFC 9449 §8 (authorization server: 400 use_dpop_nonce) and §9 (resource server: 401 with a
/// DPoP challenge), each with the nonce to retry with; anything else is no nonce retry.
#[test]
fn use_dpop_nonce_answers() {
    let n = "eyJ7S_zG.eyJH0-Z.HX4w-7v";
    let as_answer = with_nonce(400, r#"{"error":"use_dpop_nonce"}"#, Some(n), None);
    assert_eq!(nonce_to_retry_with(&as_answer), Some(n));
    let rs_answer = with_nonce(
        401,
        "",
        Some(n),
        Some(
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
        ),
    );
    assert_eq!(nonce_to_retry_with(&rs_answer), Some(n));
    // Without the header there is nothing to retry with.
    let bare = with_nonce(400, r#"{"error":"use_dpop_nonce"}"#, None, None);
    assert_eq!(nonce_to_retry_with(&bare), None);
    // Other errors, a Bearer challenge, a nonce with a forbidden character.
    let other = with_nonce(400, r#"{"error":"invalid_dpop_proof"}"#, Some(n), None);
    assert_eq!(nonce_to_retry_with(&other), None);
    let bearer = with_nonce(401, "", Some(n), Some(r#"Bearer error="use_dpop_nonce""#));
    assert_eq!(nonce_to_retry_with(&bearer), None);
    let quoted = with_nonce(400, r#"{"error":"use_dpop_nonce"}"#, Some("a\"b"), None);
    assert_eq!(nonce_to_retry_with(&quoted), None);
    let long = "n".repeat(MAX_NONCE_LEN + 1);
    let too_long = with_nonce(400, r#"{"error":"use_dpop_nonce"}"#, Some(&long), None);
    assert_eq!(nonce_to_retry_with(&too_long), None);
}

/// RFC 9449 §8.2: the latest nonce per origin, for the next proof; bounded.
#[test]
fn nonce_cache_per_origin() {
    let mut cache = NonceCache::default();
    cache.remember("https://as.example/token", &with_nonce(200, "{}", Some("n1"), None));
    cache.remember("https://mcp.example/mcp", &with_nonce(200, "{}", Some("m1"), None));
    cache.remember("https://as.example/other", &with_nonce(200, "{}", Some("n2"), None));
    cache.remember("https://as.example/token", &with_nonce(200, "{}", None, None));
    assert_eq!(cache.nonce_for("https://as.example/token?x"), Some("n2"));
    assert_eq!(cache.nonce_for("https://mcp.example/other"), Some("m1"));
    assert_eq!(cache.nonce_for("https://elsewhere.example/"), None);
    for i in 0..(NONCE_CACHE_CAP + 5) {
        cache.remember(&format!("https://h{i}.example/"), &with_nonce(200, "{}", Some("x"), None));
    }
    assert_eq!(cache.nonce_for("https://as.example/token"), None, "the oldest went first");
    assert_eq!(cache.nonce_for(&format!("https://h{}.example/", NONCE_CACHE_CAP + 4)), Some("x"));
}
