use super::*;
use crate::policy::ServerPolicy;
use crate::url::IssuerUrl;

fn redirect() -> RedirectUri {
    RedirectUri::parse("http://localhost:8000/auth/redirect").unwrap()
}

fn metadata(extra: &str) -> ServerMetadata {
    let body = format!(
        r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a",
        "token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"]{extra}}}"#
    );
    crate::server_metadata::process_metadata_response(
        &IssuerUrl::parse("https://as.example").unwrap(),
        &EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server").unwrap(),
        &HttpResponse::json(200, &body),
        &ServerPolicy::default(),
    )
    .unwrap()
}

const RFC7591_EXAMPLE: &str = r#"{
  "client_id": "s6BhdRkqt3",
  "client_secret": "cf136dc3c1fc93f31185e5885805d",
  "client_id_issued_at": 2893256800,
  "client_secret_expires_at": 2893276800,
  "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/callback2"],
  "grant_types": ["authorization_code", "refresh_token"],
  "client_name": "My Example Client",
  "token_endpoint_auth_method": "client_secret_basic",
  "logo_uri": "https://client.example.org/logo.png",
  "jwks_uri": "https://client.example.org/my_public_keys.jwks",
  "example_extension_parameter": "example_value"
}"#;

#[test]
fn rfc7591_section3_2_1_example() {
    let r = process_registration_response(
        &HttpResponse::json(201, RFC7591_EXAMPLE),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap();
    assert_eq!(r.client_id, "s6BhdRkqt3");
    assert_eq!(r.client_secret.as_ref().unwrap().secret(), "cf136dc3c1fc93f31185e5885805d");
    assert_eq!(r.client_secret_expires_at, Some(UnixTime(2893276800)));
    assert_eq!(r.auth_method, TokenEndpointAuth::ClientSecretBasic);
    assert_eq!(r.issuer, "https://as.example");
    assert!(r.usable_for("https://as.example", redirect().as_str(), UnixTime(2893276799)));
    assert!(
        !r.usable_for("https://as.example", redirect().as_str(), UnixTime(2893276800)),
        "secret expired"
    );
    assert!(
        !r.usable_for("https://other.example", redirect().as_str(), UnixTime(1)),
        "other issuer"
    );
}

#[test]
fn rfc7591_section3_2_2_error() {
    let resp = HttpResponse::json(
        400,
        r#"{"error": "invalid_redirect_uri", "error_description": "The redirection URI http://sketchy.example.com is not allowed by this server."}"#,
    );
    let e = process_registration_response(&resp, "https://as.example", &redirect(), UnixTime(1))
        .unwrap_err();
    match e {
        RegistrationError::Rejected { status: 400, error } => {
            assert_eq!(error.error, "invalid_redirect_uri")
        }
        other => panic!("{other:?}"),
    }
}

/// RFC 7591 §3.2.1 says 201; a complete client information response with 200 is accepted
/// (real servers answer 200), any other success status is not.
#[test]
fn status_201_or_200_is_required() {
    let r = process_registration_response(
        &HttpResponse::json(200, RFC7591_EXAMPLE),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap();
    assert_eq!(r.client_id, "s6BhdRkqt3");
    let e = process_registration_response(
        &HttpResponse::json(202, RFC7591_EXAMPLE),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap_err();
    assert_eq!(e, RegistrationError::UnexpectedStatus { actual: 202 });
    let e = process_registration_response(
        &HttpResponse::json(500, "oops"),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap_err();
    assert_eq!(e, RegistrationError::UnexpectedStatus { actual: 500 });
}

#[test]
fn empty_secret_is_no_secret() {
    let body = r#"{"client_id":"abc","client_secret":"","token_endpoint_auth_method":"none"}"#;
    let r = process_registration_response(
        &HttpResponse::json(201, body),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap();
    assert_eq!(r.client_secret, None);
    assert_eq!(r.auth_method, TokenEndpointAuth::None);
    let body = r#"{"client_id":"abc","client_secret":""}"#;
    let r = process_registration_response(
        &HttpResponse::json(201, body),
        "https://as.example",
        &redirect(),
        UnixTime(1),
    )
    .unwrap();
    assert_eq!(r.auth_method, TokenEndpointAuth::None);
}

#[test]
fn response_problems() {
    let p = |body: &str| {
        process_registration_response(
            &HttpResponse::json(201, body),
            "https://as.example",
            &redirect(),
            UnixTime(100),
        )
    };
    assert_eq!(p(r#"{"client_secret":"x"}"#), Err(RegistrationError::MissingField("client_id")));
    assert_eq!(
        p(r#"{"client_id":"a","client_secret":"x","client_secret_expires_at":50}"#),
        Err(RegistrationError::SecretAlreadyExpired)
    );
    assert_eq!(
        p(r#"{"client_id":"a","token_endpoint_auth_method":"tls_client_auth"}"#),
        Err(RegistrationError::UnsupportedAuthMethod("tls_client_auth".into()))
    );
    assert_eq!(
        p(r#"{"client_id":"a","token_endpoint_auth_method":"client_secret_post"}"#),
        Err(RegistrationError::MissingSecret("client_secret_post"))
    );
    assert_eq!(
        p(r#"{"client_id":"a","client_secret_expires_at":0,"client_secret":"s"}"#)
            .unwrap()
            .client_secret_expires_at,
        None
    );
}

#[test]
fn request_shape() {
    let req = registration_request(
        RequestId(1),
        &RegistrationParams {
            endpoint: &EndpointUrl::parse("https://as.example/register").unwrap(),
            config: &ClientConfig::dynamic("CLI"),
            redirect_uri: &redirect(),
            auth_method: TokenEndpointAuth::None,
        },
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["application_type"], "native");
    assert_eq!(body["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
    assert_eq!(body["redirect_uris"][0], "http://localhost:8000/auth/redirect");
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert!(body.get("scope").is_none(), "scope is asked for at authorization, not registration");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let web = RedirectUri::parse("https://app.example/cb").unwrap();
    let req = registration_request(
        RequestId(1),
        &RegistrationParams {
            endpoint: &EndpointUrl::parse("https://as.example/register").unwrap(),
            config: &ClientConfig::dynamic("Web"),
            redirect_uri: &web,
            auth_method: TokenEndpointAuth::ClientSecretBasic,
        },
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["application_type"], "web");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert!(body.get("scope").is_none());
}

#[test]
fn identity_priority() {
    let reg_md = metadata(
        r#","registration_endpoint":"https://as.example/register","client_id_metadata_document_supported":true"#,
    );
    let mut config = ClientConfig::dynamic("x");
    // DCR when nothing else is configured.
    assert_eq!(
        choose_identity(&config, &reg_md, &redirect(), None, UnixTime(0)),
        Ok(IdentityChoice::Register(EndpointUrl::parse("https://as.example/register").unwrap()))
    );
    // CIMD beats DCR when the server supports it.
    config.metadata_document_url =
        Some(EndpointUrl::parse("https://client.example/meta.json").unwrap());
    match choose_identity(&config, &reg_md, &redirect(), None, UnixTime(0)).unwrap() {
        IdentityChoice::Ready(r) => {
            assert_eq!(r.client_id, "https://client.example/meta.json");
            assert_eq!(r.source, IdentitySource::MetadataDocument);
        }
        other => panic!("{other:?}"),
    }
    // ...but not when it does not.
    let no_cimd = metadata(r#","registration_endpoint":"https://as.example/register""#);
    assert!(matches!(
        choose_identity(&config, &no_cimd, &redirect(), None, UnixTime(0)),
        Ok(IdentityChoice::Register(_))
    ));
    // Pre-registered beats everything.
    config.pre_registered = Some(PreRegistered {
        client_id: "pre".into(),
        client_secret: Some(ClientSecret::new("s")),
        auth_method: None,
        issuers: Vec::new(),
    });
    match choose_identity(&config, &reg_md, &redirect(), None, UnixTime(0)).unwrap() {
        IdentityChoice::Ready(r) => {
            assert_eq!(r.client_id, "pre");
            assert_eq!(r.auth_method, TokenEndpointAuth::ClientSecretBasic);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stored_registration_reuse_is_per_issuer() {
    let md = metadata(r#","registration_endpoint":"https://as.example/register""#);
    let config = ClientConfig::dynamic("x");
    let stored = ClientRegistration {
        issuer: "https://as.example".into(),
        client_id: "dyn".into(),
        client_secret: None,
        client_secret_expires_at: None,
        auth_method: TokenEndpointAuth::None,
        redirect_uri: redirect().as_str().into(),
        source: IdentitySource::Dynamic,
    };
    assert_eq!(
        choose_identity(&config, &md, &redirect(), Some(&stored), UnixTime(0)),
        Ok(IdentityChoice::Ready(stored.clone()))
    );
    let other = ClientRegistration { issuer: "https://old-as.example".into(), ..stored };
    assert!(matches!(
        choose_identity(&config, &md, &redirect(), Some(&other), UnixTime(0)),
        Ok(IdentityChoice::Register(_))
    ));
}

#[test]
fn no_identity_is_a_clear_error() {
    let md = metadata("");
    assert_eq!(
        choose_identity(&ClientConfig::dynamic("x"), &md, &redirect(), None, UnixTime(0)),
        Err(RegistrationError::NoClientIdentity { issuer: "https://as.example".into() })
    );
    let only_jwt = metadata(r#","token_endpoint_auth_methods_supported":["private_key_jwt"]"#);
    let config = ClientConfig {
        pre_registered: Some(PreRegistered {
            client_id: "c".into(),
            client_secret: Some(ClientSecret::new("s")),
            auth_method: None,
            issuers: Vec::new(),
        }),
        ..ClientConfig::dynamic("x")
    };
    assert_eq!(
        choose_identity(&config, &only_jwt, &redirect(), None, UnixTime(0)),
        Err(RegistrationError::NoSupportedAuthMethod { supported: "private_key_jwt".into() })
    );
}

#[test]
fn secret_method_follows_the_metadata_with_basic_as_default() {
    let basic = TokenEndpointAuth::ClientSecretBasic;
    // RFC 8414 §2: an omitted list means client_secret_basic.
    assert_eq!(secret_method(&metadata("")), Ok(basic));
    let both =
        r#","token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"]"#;
    assert_eq!(secret_method(&metadata(both)), Ok(basic));
    let post =
        r#","token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_post"]"#;
    assert_eq!(secret_method(&metadata(post)), Ok(TokenEndpointAuth::ClientSecretPost));
    let none = r#","token_endpoint_auth_methods_supported":["none"]"#;
    assert_eq!(
        secret_method(&metadata(none)),
        Err(RegistrationError::NoSupportedAuthMethod { supported: "none".into() })
    );
}

#[test]
fn credentials_go_only_to_their_issuers() {
    let corp = vec!["https://corp.example".to_owned()];
    // Configured: only those issuers, whatever was pinned.
    assert_eq!(check_credential_issuer("c", &corp, &[], "https://corp.example"), Ok(()));
    assert_eq!(
        check_credential_issuer("c", &corp, &["https://evil.example"], "https://evil.example"),
        Err(RegistrationError::CredentialIssuerMismatch {
            client_id: "c".into(),
            allowed: corp.clone(),
            pinned: false,
            actual: "https://evil.example".into(),
        })
    );
    // RFC 8414 §3.3: string equality, so a trailing slash is another issuer.
    assert!(check_credential_issuer("c", &corp, &[], "https://corp.example/").is_err());
    // Not configured: any issuer on first use, then only the pinned ones.
    assert_eq!(check_credential_issuer("c", &[], &[], "https://any.example"), Ok(()));
    let err = check_credential_issuer("c", &[], &["https://corp.example"], "https://evil.example")
        .unwrap_err();
    assert_eq!(err.code(), "credential_issuer_mismatch");
    assert!(err.to_string().contains("pinned on first use"), "{err}");
}

/// The method asked for at registration follows the server's list: `none` only when listed
/// (or nothing is listed, RFC 8414 §2), else a secret method the server supports.
#[test]
fn registration_asks_for_a_method_the_server_lists() {
    let with = |list: Option<&[&str]>| {
        let mut m = metadata("");
        m.token_endpoint_auth_methods_supported =
            list.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        registration_auth_method(&m)
    };
    assert_eq!(with(None), TokenEndpointAuth::None);
    assert_eq!(with(Some(&["client_secret_basic", "none"])), TokenEndpointAuth::None);
    assert_eq!(
        with(Some(&["client_secret_post", "client_secret_basic"])),
        TokenEndpointAuth::ClientSecretBasic
    );
    assert_eq!(with(Some(&["client_secret_post"])), TokenEndpointAuth::ClientSecretPost);
    assert_eq!(with(Some(&["private_key_jwt"])), TokenEndpointAuth::None);
}

#[test]
fn a_port_zero_loopback_uri_reuses_the_registered_port_rfc8252_section7_3() {
    let reg = |uri: &str, source| ClientRegistration {
        issuer: "https://as.example".into(),
        client_id: "c1".into(),
        client_secret: None,
        client_secret_expires_at: None,
        auth_method: TokenEndpointAuth::None,
        redirect_uri: uri.into(),
        source,
    };
    let any = RedirectUri::parse("http://127.0.0.1:0/callback").unwrap();
    let dynamic = reg("http://127.0.0.1:54321/callback", IdentitySource::Dynamic);
    assert_eq!(
        loopback_redirect_to_reuse(&any, &dynamic).map(|u| u.as_str().to_owned()),
        Some("http://127.0.0.1:54321/callback".to_owned())
    );
    // Only the port may differ: host, path and query must be the same.
    for other in [
        "http://localhost:54321/callback",
        "http://127.0.0.1:54321/other",
        "http://127.0.0.1:54321/callback?x=1",
        "https://127.0.0.1:54321/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:0/callback",
    ] {
        assert_eq!(
            loopback_redirect_to_reuse(&any, &reg(other, IdentitySource::Dynamic)),
            None,
            "{other}"
        );
    }
    // A configured port is kept; only dynamic registrations are tied to a port this way.
    let fixed = RedirectUri::parse("http://127.0.0.1:8000/callback").unwrap();
    assert_eq!(loopback_redirect_to_reuse(&fixed, &dynamic), None);
    let pre = reg("http://127.0.0.1:54321/callback", IdentitySource::PreRegistered);
    assert_eq!(loopback_redirect_to_reuse(&any, &pre), None);
    // Not loopback: no listener of ours, nothing to reuse.
    let web = RedirectUri::parse("https://app.example:0/callback");
    if let Ok(web) = web {
        assert_eq!(loopback_redirect_to_reuse(&web, &dynamic), None);
    }
}
