//! Configuration file vectors: the shape of the system this replaces, interpolation, and every
//! error case, each naming its YAML path.

use mcp_oauth::config::{
    self, interpolate, AuthProvider, Config, ConfigProblem, GroupKind, TokenStorage, Transport,
};
use mcp_oauth::core::token::TokenEndpointAuth;
use mcp_oauth::signer::SigningAlg;

const EXAMPLE: &str = r#"
function_groups:
  mcp_jira:
    _type: per_user_mcp_client        # or mcp_client
    server:
      transport: streamable-http      # or sse, stdio
      url: ${CORPORATE_MCP_JIRA_URL}
      auth_provider: mcp_oauth2_jira
authentication:
  mcp_oauth2_jira:
    _type: mcp_oauth2
    server_url: ${CORPORATE_MCP_JIRA_URL}
    redirect_uri: ${MCP_OAUTH_REDIRECT_URI:-http://localhost:8000/auth/redirect}
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "CORPORATE_MCP_JIRA_URL" => Some("https://jira-mcp.corp.example/mcp".into()),
        "EMPTY" => Some(String::new()),
        "SECRET" => Some("s3cret".into()),
        "TRUE" => Some("true".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, config::ConfigError> {
    Config::parse_with_env(text, &env)
}

/// Parses, expecting an error at `path` with `code`; returns its message.
fn fails(text: &str, path: &str, code: &str) -> String {
    let e = parse(text).expect_err("must fail");
    assert_eq!((e.path.as_str(), e.problem.code()), (path, code), "{e}");
    e.to_string()
}

fn oauth2(body: &str) -> String {
    format!("authentication:\n  p:\n    _type: mcp_oauth2\n    server_url: https://mcp.example.com/mcp\n{body}")
}

fn workload(body: &str) -> String {
    format!("authentication:\n  w:\n    _type: mcp_workload_identity\n    client_id: wl\n{body}")
}

#[test]
fn workload_identity_provider() {
    let c = parse(&workload(
        "    assertion_file: /var/run/secrets/tokens/mcp\n    scopes: [mcp:tools]\n    token_url: https://as.example.com/token\n    issuer: https://as.example.com\n",
    ))
    .expect("valid");
    let AuthProvider::WorkloadIdentity(w) = &c.authentication[0].1 else { panic!() };
    assert_eq!(
        w.assertion_file.as_deref(),
        Some(std::path::Path::new("/var/run/secrets/tokens/mcp"))
    );
    assert_eq!(w.client_id, "wl");
    assert_eq!(w.token_endpoint_auth_method, None, "a public client");
    assert_eq!(w.scopes.as_deref(), Some(&["mcp:tools".to_owned()][..]));
    assert_eq!(w.token_cache_buffer_seconds, 60);
    let c =
        parse(&workload("    assertion_env: MCP_OAUTH_ASSERTION\n    private_key_file: /k.pem\n"))
            .expect("valid");
    let AuthProvider::WorkloadIdentity(w) = &c.authentication[0].1 else { panic!() };
    assert_eq!(w.assertion_env.as_deref(), Some("MCP_OAUTH_ASSERTION"));
    assert_eq!(w.token_endpoint_auth_method, Some(TokenEndpointAuth::PrivateKeyJwt));
    // Errors name the YAML path.
    fails(&workload(""), "authentication.w.assertion_file", "config_missing");
    fails(
        &workload("    assertion_file: /t\n    assertion_env: X\n"),
        "authentication.w.assertion_env",
        "config_invalid_value",
    );
    fails(
        &workload("    assertion_file: /t\n    token_endpoint_auth_method: client_secret_post\n"),
        "authentication.w.client_secret",
        "config_invalid_value",
    );
    fails(
        &workload("    assertion_file: /t\n    issuer: https://as.example.com\n"),
        "authentication.w.issuer",
        "config_invalid_value",
    );
    fails(
        &workload("    assertion_file: /t\n    assertion: eyJ\n"),
        "authentication.w.assertion",
        "config_unknown_key",
    );
    fails(
        "authentication:\n  w:\n    _type: mcp_workload_identity\n    assertion_file: /t\n",
        "authentication.w.client_id",
        "config_missing",
    );
}

fn service(body: &str) -> String {
    format!(
        "authentication:\n  sa:\n    _type: mcp_service_account\n    token_url: https://as.example.com/token\n    client_id: svc\n{body}"
    )
}

#[test]
fn the_example_of_the_system_this_replaces() {
    let c = parse(EXAMPLE).expect("valid");
    let (group, provider) = c.group("mcp_jira").expect("group");
    assert_eq!(group.kind, GroupKind::PerUser);
    assert_eq!(group.server.transport, Transport::StreamableHttp);
    assert_eq!(group.server.url.as_deref(), Some("https://jira-mcp.corp.example/mcp"));
    assert_eq!(group.server.auth_provider.as_deref(), Some("mcp_oauth2_jira"));
    let Some(AuthProvider::OAuth2(o)) = provider else { panic!("mcp_oauth2 expected") };
    assert_eq!(o.server_url, "https://jira-mcp.corp.example/mcp");
    assert_eq!(o.redirect_uri, "http://localhost:8000/auth/redirect", "the default applies");
    // Defaults of the options left out.
    assert!(o.enable_dynamic_registration);
    assert_eq!(o.client_name, "mcp-oauth");
    assert_eq!(o.token_storage, TokenStorage::File { dir: None });
    assert_eq!((o.client_id.as_deref(), o.scopes.as_deref()), (None, None));
}

#[test]
fn every_mcp_oauth2_option() {
    let c = parse(&oauth2(
        r#"    redirect_uri: http://127.0.0.1:0/cb
    client_id: jira-agent
    client_secret: ${SECRET}
    client_issuer: https://auth.atlassian.com
    enable_dynamic_registration: ${TRUE}
    client_name: Jira agent
    token_endpoint_auth_method: client_secret_post
    scopes: [read:jira-work, "write:jira-work"]
    use_pkce: true
    default_user_id: alice
    token_storage: {type: redis, url: "redis://cache:6379/0", key_prefix: agents}
    client_metadata_url: https://agent.example.com/client.json
    server_policies:
      https://login.microsoftonline.com/t/v2.0:
        danger_assume_pkce_s256: true
        danger_omit_resource: true
        authorization_params: {prompt: consent, domain_hint: corp.example}
"#,
    ))
    .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(o.client_secret.as_deref(), Some("s3cret"));
    assert_eq!(o.client_issuer, vec!["https://auth.atlassian.com".to_owned()]);
    let client = o.client_config("authentication.p").expect("valid");
    assert_eq!(
        client.pre_registered.map(|p| p.issuers),
        Some(vec!["https://auth.atlassian.com".to_owned()])
    );
    assert_eq!(o.token_endpoint_auth_method, Some(TokenEndpointAuth::ClientSecretPost));
    assert_eq!(o.scopes, Some(vec!["read:jira-work".into(), "write:jira-work".into()]));
    assert_eq!(o.default_user_id.as_deref(), Some("alice"));
    assert_eq!(
        o.token_storage,
        TokenStorage::Redis { url: "redis://cache:6379/0".into(), key_prefix: "agents".into() }
    );
    let (issuer, p) = &o.server_policies[0];
    assert_eq!(issuer, "https://login.microsoftonline.com/t/v2.0");
    assert!(p.danger_assume_pkce_s256 && p.danger_omit_resource);
    assert_eq!(
        p.authorization_params,
        [("prompt".into(), "consent".into()), ("domain_hint".into(), "corp.example".into())]
    );
    // Scopes as one space-separated string; storage as a word.
    let c = parse(&oauth2("    scopes: a b\n    token_storage: memory\n")).expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(o.scopes, Some(vec!["a".into(), "b".into()]));
    assert_eq!(o.token_storage, TokenStorage::Memory);
    assert_eq!(o.dpop, mcp_oauth::core::dpop::DpopMode::Auto, "the default");
}

#[test]
fn dpop_option() {
    for (name, mode) in [
        ("auto", mcp_oauth::core::dpop::DpopMode::Auto),
        ("always", mcp_oauth::core::dpop::DpopMode::Always),
        ("never", mcp_oauth::core::dpop::DpopMode::Never),
    ] {
        let c = parse(&oauth2(&format!("    dpop: {name}\n"))).expect("valid");
        let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
        assert_eq!(o.dpop, mode);
        let store = std::sync::Arc::new(mcp_oauth::store::MemoryStore::new());
        let opts = o.client_options("authentication.p", "https://mcp.example.com/mcp", store);
        assert_eq!(opts.expect("options").dpop, mode);
    }
    let e =
        fails(&oauth2("    dpop: sometimes\n"), "authentication.p.dpop", "config_invalid_value");
    assert!(e.contains("`sometimes` is not auto, always or never"), "{e}");
}

#[test]
fn dpop_option_of_the_headless_providers() {
    use mcp_oauth::core::dpop::DpopMode;
    let url = "https://mcp.example.com/mcp";
    for (name, mode) in
        [("auto", DpopMode::Auto), ("always", DpopMode::Always), ("never", DpopMode::Never)]
    {
        let c = parse(&service(&format!("    client_secret: s\n    dpop: {name}\n"))).unwrap();
        let AuthProvider::ServiceAccount(sa) = &c.authentication[0].1 else { panic!() };
        assert_eq!(sa.dpop, mode);
        let client = sa.load_credentials("authentication.sa").expect("credentials");
        let o = sa.headless_options("authentication.sa", url, client).expect("options");
        assert_eq!(o.dpop, mode);
        let c = parse(&workload(&format!("    assertion_file: /t\n    dpop: {name}\n"))).unwrap();
        let AuthProvider::WorkloadIdentity(w) = &c.authentication[0].1 else { panic!() };
        assert_eq!(w.headless_options("authentication.w", url).expect("options").dpop, mode);
    }
    let c = parse(&service("    client_secret: s\n")).unwrap();
    let AuthProvider::ServiceAccount(sa) = &c.authentication[0].1 else { panic!() };
    assert_eq!(sa.dpop, DpopMode::Auto, "the default");
    fails(
        &service("    client_secret: s\n    dpop: yes\n"),
        "authentication.sa.dpop",
        "config_invalid_value",
    );
    fails(
        &workload("    assertion_file: /t\n    dpop: 1\n"),
        "authentication.w.dpop",
        "config_invalid_value",
    );
}

#[test]
fn every_service_account_option() {
    let c = parse(&service(
        r#"    client_secret: ${SECRET}
    token_endpoint_auth_method: client_secret_post
    issuer: https://as.example.com
    scopes: mcp:tools
    token_cache_buffer_seconds: 120
    service_token: ${SERVICE_TOKEN:-fallback}
    service_token_header: X-Backend-Token
    send_resource: false
"#,
    ))
    .expect("valid");
    let AuthProvider::ServiceAccount(s) = &c.authentication[0].1 else { panic!() };
    assert_eq!(s.client_secret.as_deref(), Some("s3cret"));
    assert_eq!(s.token_endpoint_auth_method, TokenEndpointAuth::ClientSecretPost);
    assert_eq!(s.token_cache_buffer_seconds, 120);
    assert_eq!(s.service_token.as_deref(), Some("fallback"));
    assert_eq!(s.service_token_header, "X-Backend-Token");
    assert!(!s.send_resource);
    // private_key_jwt is implied by a key file.
    let c = parse(&service("    private_key_file: /keys/sa.pem\n    signing_alg: RS256\n"))
        .expect("valid");
    let AuthProvider::ServiceAccount(s) = &c.authentication[0].1 else { panic!() };
    assert_eq!(s.token_endpoint_auth_method, TokenEndpointAuth::PrivateKeyJwt);
    assert_eq!(s.signing_alg, SigningAlg::Rs256);
    assert_eq!(s.service_token_header, "X-Service-Token");
}

#[test]
fn interpolation_rules() {
    let i = |t: &str| interpolate(t, "x", &env);
    assert_eq!(i("${SECRET}").unwrap(), "s3cret");
    assert_eq!(i("a-${SECRET}-b").unwrap(), "a-s3cret-b");
    assert_eq!(i("${UNSET:-d}").unwrap(), "d");
    assert_eq!(i("${UNSET:-}").unwrap(), "");
    assert_eq!(i("${EMPTY:-used}").unwrap(), "used", "an empty variable takes the default");
    assert_eq!(i("${SECRET:-unused}").unwrap(), "s3cret");
    assert_eq!(i("$$HOME $5 ${UNSET:-a:-b}").unwrap(), "$HOME $5 a:-b");
    assert_eq!(i("no variables").unwrap(), "no variables");
    assert_eq!(i("${UNSET}").unwrap_err().problem.code(), "config_missing_variable");
    assert_eq!(i("${EMPTY}").unwrap_err().problem.code(), "config_missing_variable");
    for bad in ["${}", "${1X}", "${A B}", "${OPEN"] {
        assert_eq!(i(bad).unwrap_err().problem.code(), "config_bad_interpolation", "{bad}");
    }
    // A variable cannot inject YAML structure: its value stays one string.
    let c = Config::parse_with_env(&oauth2("    client_name: ${INJECT}\n"), &|n| {
        (n == "INJECT").then(|| "x\n    use_pkce: false".to_owned())
    })
    .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(o.client_name, "x\n    use_pkce: false");
}

#[test]
fn unknown_keys_name_their_path() {
    let m =
        fails(&oauth2("    use_pcke: true\n"), "authentication.p.use_pcke", "config_unknown_key");
    assert!(m.contains("use_pkce"), "the allowed keys are listed: {m}");
    fails("function_groups: {}\nextra: 1\n", "extra", "config_unknown_key");
    fails(
        "function_groups:\n  g:\n    _type: mcp_client\n    server: {url: 'https://x.example/mcp', tls: true}\n",
        "function_groups.g.server.tls",
        "config_unknown_key",
    );
    fails(
        "function_groups:\n  g:\n    _type: mcp_client\n    server: {url: 'https://x.example/mcp'}\n    name: x\n",
        "function_groups.g.name",
        "config_unknown_key",
    );
    fails(
        &service("    client_secret: s\n    token_urll: x\n"),
        "authentication.sa.token_urll",
        "config_unknown_key",
    );
    fails(
        &oauth2("    token_storage: {type: file, dir: /tmp, url: x}\n"),
        "authentication.p.token_storage.url",
        "config_unknown_key",
    );
    fails(
        &oauth2("    server_policies:\n      https://as.example.com:\n        danger_skip_everything: true\n"),
        "authentication.p.server_policies.https://as.example.com.danger_skip_everything",
        "config_unknown_key",
    );
}

#[test]
fn wrong_types_name_their_path() {
    let m = fails(
        &oauth2("    use_pkce: yes please\n"),
        "authentication.p.use_pkce",
        "config_wrong_type",
    );
    assert!(m.contains("expected a boolean, found a string"), "{m}");
    fails(
        &oauth2("    enable_dynamic_registration: [true]\n"),
        "authentication.p.enable_dynamic_registration",
        "config_wrong_type",
    );
    fails(&oauth2("    scopes: {a: b}\n"), "authentication.p.scopes", "config_wrong_type");
    fails(&oauth2("    scopes: [a, [b]]\n"), "authentication.p.scopes[1]", "config_wrong_type");
    fails(&oauth2("    client_id: [x]\n"), "authentication.p.client_id", "config_wrong_type");
    fails(&oauth2("    token_storage: 5\n"), "authentication.p.token_storage", "config_wrong_type");
    fails(
        &service("    client_secret: s\n    token_cache_buffer_seconds: -1\n"),
        "authentication.sa.token_cache_buffer_seconds",
        "config_wrong_type",
    );
    fails("authentication: [1]\n", "authentication", "config_wrong_type");
    fails("function_groups:\n  g: 3\n", "function_groups.g", "config_wrong_type");
}

#[test]
fn missing_variables_name_their_path() {
    let m = fails(
        &EXAMPLE.replace("${CORPORATE_MCP_JIRA_URL}", "${UNSET_JIRA_URL}"),
        "authentication.mcp_oauth2_jira.server_url",
        "config_missing_variable",
    );
    assert!(m.contains("UNSET_JIRA_URL") && m.contains(":-default"), "{m}");
    fails(
        "function_groups:\n  g:\n    _type: mcp_client\n    server: {url: '${NOPE}'}\n",
        "function_groups.g.server.url",
        "config_missing_variable",
    );
}

#[test]
fn sse_with_an_auth_provider_is_refused() {
    let text = EXAMPLE.replace("transport: streamable-http", "transport: sse");
    let m = fails(&text, "function_groups.mcp_jira.server.auth_provider", "config_sse_with_auth");
    assert!(m.contains("SSE does not support authentication; use streamable-http"), "{m}");
    // SSE without authentication is fine.
    let ok = "function_groups:\n  g:\n    _type: mcp_client\n    server: {transport: sse, url: 'https://x.example/sse'}\n";
    assert_eq!(parse(ok).expect("valid").function_groups[0].1.server.transport, Transport::Sse);
}

#[test]
fn an_unknown_auth_provider_is_refused() {
    let text =
        EXAMPLE.replace("auth_provider: mcp_oauth2_jira", "auth_provider: mcp_oauth2_confluence");
    let m = fails(
        &text,
        "function_groups.mcp_jira.server.auth_provider",
        "config_unknown_auth_provider",
    );
    assert!(m.contains("mcp_oauth2_confluence") && m.contains("defined: mcp_oauth2_jira"), "{m}");
}

#[test]
fn pkce_cannot_be_disabled() {
    let m = fails(
        &oauth2("    use_pkce: false\n"),
        "authentication.p.use_pkce",
        "config_pkce_required",
    );
    assert!(m.contains("requires PKCE") && m.contains("danger_assume_pkce_s256"), "{m}");
}

#[test]
fn other_invalid_values() {
    fails(
        &oauth2("    token_endpoint_auth_method: private_key_jwt\n"),
        "authentication.p.private_key_file",
        "config_missing",
    );
    fails(
        &oauth2("    token_endpoint_auth_method: client_secret_jwt\n"),
        "authentication.p.token_endpoint_auth_method",
        "config_invalid_value",
    );
    fails(
        &oauth2("    private_key_file: /k.pem\n"),
        "authentication.p.private_key_file",
        "config_invalid_value",
    );
    fails(
        &oauth2("    client_id: c\n    client_secret: s\n    token_endpoint_auth_method: client_secret_post\n    private_key_file: /k.pem\n"),
        "authentication.p.token_endpoint_auth_method",
        "config_invalid_value",
    );
    fails(
        &oauth2("    token_storage: postgres\n"),
        "authentication.p.token_storage",
        "config_invalid_value",
    );
    fails(
        &oauth2("    token_storage: redis\n"),
        "authentication.p.token_storage",
        "config_invalid_value",
    );
    fails(
        &oauth2("    token_storage: {type: redis, url: 'http://cache'}\n"),
        "authentication.p.token_storage.url",
        "config_invalid_value",
    );
    fails(
        &oauth2("    token_storage: {type: redis}\n"),
        "authentication.p.token_storage.url",
        "config_missing",
    );
    fails(
        &oauth2("    client_secret: s\n"),
        "authentication.p.client_secret",
        "config_invalid_value",
    );
    fails(
        &oauth2("    client_issuer: https://as.example\n"),
        "authentication.p.client_issuer",
        "config_invalid_value",
    );
    fails(
        &oauth2("    client_id: c\n    client_issuer: [http://as.example]\n"),
        "authentication.p.client_issuer",
        "config_invalid_value",
    );
    fails(
        &oauth2("    client_metadata_url: http://agent.example.com/c.json\n"),
        "authentication.p.client_metadata_url",
        "config_invalid_value",
    );
    fails(
        &oauth2("    redirect_uri: not a url\n"),
        "authentication.p.redirect_uri",
        "config_invalid_value",
    );
    fails(
        "authentication:\n  p:\n    _type: mcp_oauth2\n",
        "authentication.p.server_url",
        "config_missing",
    );
    fails("authentication:\n  p:\n    server_url: x\n", "authentication.p._type", "config_missing");
    fails(
        "authentication:\n  p:\n    _type: api_key\n",
        "authentication.p._type",
        "config_invalid_value",
    );
    fails(&service(""), "authentication.sa.client_secret", "config_invalid_value");
    fails(
        &service("    token_endpoint_auth_method: private_key_jwt\n"),
        "authentication.sa.private_key_file",
        "config_missing",
    );
    fails(
        &service("    client_secret: s\n    signing_alg: HS256\n"),
        "authentication.sa.signing_alg",
        "config_invalid_value",
    );
    fails(
        &service("    client_secret: s\n    service_token_header: Authorization\n"),
        "authentication.sa.service_token_header",
        "config_invalid_value",
    );
    fails(
        "authentication:\n  sa:\n    _type: mcp_service_account\n    token_url: ftp://as.example.com/token\n    client_id: svc\n    client_secret: s\n",
        "authentication.sa.token_url",
        "config_invalid_value",
    );
    fails(
        "function_groups:\n  g:\n    _type: agent\n    server: {url: 'https://x.example'}\n",
        "function_groups.g._type",
        "config_invalid_value",
    );
    fails("function_groups:\n  g:\n    _type: mcp_client\n    server: {transport: websocket, url: 'https://x.example'}\n", "function_groups.g.server.transport", "config_invalid_value");
    fails(
        "function_groups:\n  g:\n    _type: mcp_client\n    server: {transport: stdio}\n",
        "function_groups.g.server.command",
        "config_missing",
    );
    fails(
        "function_groups:\n  g:\n    _type: mcp_client\n    server: {}\n",
        "function_groups.g.server.url",
        "config_missing",
    );
    let m = fails("a: [", "(file)", "config_yaml");
    assert!(m.contains("not valid YAML"), "{m}");
}

#[test]
fn groups_and_stdio() {
    let c = parse(
        "function_groups:\n  local:\n    _type: mcp_client\n    server: {transport: stdio, command: mcp-fs, args: [--root, /data]}\n",
    )
    .expect("valid");
    let (g, p) = c.group("local").expect("group");
    assert_eq!(g.kind, GroupKind::Shared);
    assert_eq!(g.server.args, ["--root", "/data"]);
    assert!(p.is_none());
    let e = c.group("remote").unwrap_err();
    assert!(matches!(e.problem, ConfigProblem::UnknownGroup { .. }));
    assert!(parse("").expect("empty file").function_groups.is_empty());
}

#[test]
fn the_schema_lists_every_option_the_loader_accepts() {
    for (kind, minimal) in [
        ("mcp_oauth2", oauth2("")),
        ("mcp_service_account", service("    client_secret: s\n")),
        ("mcp_workload_identity", workload("    assertion_file: /t\n")),
    ] {
        let docs = config::schema(kind).expect("schema");
        let text = config::schema_text(kind).expect("text");
        for o in docs {
            assert!(text.contains(o.name) && text.contains(o.default) && text.contains(o.meaning));
            assert!(!o.ty.is_empty() && !o.meaning.is_empty());
        }
        // Every documented key is accepted (no unknown-key error), every other key refused.
        for o in docs.iter().filter(|o| !minimal.contains(&format!(" {}:", o.name))) {
            let text = format!("{minimal}    {}: ~\n", o.name);
            assert!(parse(&text).is_ok(), "{kind}.{} is documented but refused", o.name);
        }
    }
    assert!(config::schema("mcp_api_key").is_none());
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_OAUTH_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mcp-oauth")
}

#[test]
fn cli_scope_flag_is_checked_by_the_core() {
    let out = cli(&["login", "--url", "http://127.0.0.1:9/mcp", "--scope", "ok a\"b"], &[]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--scope") && err.contains("`a\"b`") && err.contains("RFC 6749"), "{err}");
}

#[test]
fn cli_config_schema_and_check() {
    let out = cli(&["config", "schema", "mcp_oauth2"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for o in config::MCP_OAUTH2_OPTIONS {
        assert!(text.contains(&format!("  {}\n", o.name)), "{} missing:\n{text}", o.name);
    }
    assert!(text.contains("default: true") && text.contains("PKCE"), "{text}");
    let out = cli(&["config", "schema", "mcp_service_account"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("service_token_header"));
    let out = cli(&["config", "schema", "api_key"], &[]);
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, EXAMPLE).expect("write");
    let path = file.to_str().expect("path");
    let out = cli(
        &["config", "check", "--config", path],
        &[("CORPORATE_MCP_JIRA_URL", "https://j.example/mcp")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("mcp_jira: https://j.example/mcp  auth: mcp_oauth2_jira"));
    let out = cli(&["config", "check", "--config", path], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication.mcp_oauth2_jira.server_url")
            && err.contains("CORPORATE_MCP_JIRA_URL"),
        "{err}"
    );
    std::fs::write(&file, EXAMPLE.replace("streamable-http ", "sse ")).expect("write");
    let out = cli(
        &["config", "check", "--config", path],
        &[("CORPORATE_MCP_JIRA_URL", "https://j.example/mcp")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("function_groups.mcp_jira.server.auth_provider: SSE does not support authentication; use streamable-http"), "{err}");
    // A redis store chosen for the CLI: a clear error.
    std::fs::write(
        &file,
        format!("{EXAMPLE}    token_storage: {{type: redis, url: 'redis://localhost'}}\n"),
    )
    .expect("write");
    let out = cli(
        &["login", "--config", path, "--group", "mcp_jira"],
        &[("CORPORATE_MCP_JIRA_URL", "http://127.0.0.1:9/mcp")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("redis needs the multi-user server"));
}

#[test]
fn egress_allow_list() {
    let c =
        Config::parse("egress:\n  allow: ['https://AS.corp.example:8443', 10.1.0.0/16]\n").unwrap();
    assert_eq!(
        c.egress_allow,
        vec![
            mcp_oauth::egress::EgressAllow::parse("https://as.corp.example:8443").unwrap(),
            mcp_oauth::egress::EgressAllow::parse("10.1.0.0/16").unwrap(),
        ]
    );
    let m = fails("egress:\n  allow: [10.0.0.0/40]\n", "egress.allow[0]", "config_invalid_value");
    assert!(m.contains("prefix length"), "{m}");
    fails("egress:\n  deny: []\n", "egress.deny", "config_unknown_key");
}

// ------------------------------------------------------------------------------------------
// The mapping to client options (`mcp_oauth::config` owns it; the CLI layers its flags on top)

fn keys() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

#[test]
fn the_example_maps_to_client_options() {
    let c = parse(EXAMPLE).expect("valid");
    let (_, provider) = c.group("mcp_jira").expect("group");
    let Some(AuthProvider::OAuth2(o)) = provider else { panic!("mcp_oauth2 expected") };
    let store = std::sync::Arc::new(mcp_oauth::store::MemoryStore::new());
    let opts =
        o.client_options("authentication.mcp_oauth2_jira", &o.server_url, store).expect("options");
    assert_eq!(opts.server_url, "https://jira-mcp.corp.example/mcp");
    assert_eq!(opts.redirect_uri, "http://localhost:8000/auth/redirect");
    assert_eq!(opts.client.client_name, "mcp-oauth");
    assert!(opts.client.dynamic_registration && opts.client.pre_registered.is_none());
    assert_eq!((opts.scopes.as_deref(), opts.policies.len()), (None, 0));
    assert_eq!(opts.user, "default");
    assert!(opts.assertion_signer.is_none());
    assert!(o.load_signer().expect("no key file").is_none());
}

/// A configured scope outside RFC 6749 §3.3's scope-token is refused by the core's check, named
/// by its path, for the client, the headless client and the server alike.
#[test]
fn a_scope_that_is_no_scope_token_is_refused_with_its_path() {
    let c = parse(&oauth2("    scopes: [mcp:read, 'say \"hi\"']\n    token_storage: memory\n"))
        .expect("valid YAML");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    let store = std::sync::Arc::new(mcp_oauth::store::MemoryStore::new());
    let e = o
        .client_options("authentication.p", "https://mcp.example.com/mcp", store)
        .expect_err("an invalid scope");
    let text = e.to_string();
    assert!(text.contains("authentication.p.scopes") && text.contains(r#"`say "hi"`"#), "{text}");
    let c = parse(&service("    client_secret: s\n    scopes: [ok, 'a\\\\b']\n")).expect("valid");
    let AuthProvider::ServiceAccount(sa) = &c.authentication[0].1 else { panic!() };
    let client = sa.load_credentials("authentication.sa").expect("secret client");
    let e = sa
        .headless_options("authentication.sa", "https://mcp.example.com/mcp", client)
        .expect_err("an invalid scope");
    assert!(e.to_string().contains("authentication.sa.scopes"), "{e}");
}

#[test]
fn every_mcp_oauth2_option_maps_to_client_options() {
    let key = keys().join("es256.pem");
    let c = parse(&oauth2(&format!(
        r#"    redirect_uri: http://127.0.0.1:0/cb
    client_id: jira-agent
    client_issuer: https://auth.atlassian.com
    enable_dynamic_registration: false
    client_name: Jira agent
    private_key_file: {}
    signing_alg: ES256
    scopes: [read:jira-work, "write:jira-work"]
    default_user_id: alice
    token_storage: memory
    client_metadata_url: https://agent.example.com/client.json
    server_policies:
      https://login.microsoftonline.com/t/v2.0:
        danger_assume_pkce_s256: true
        authorization_params: {{prompt: consent}}
"#,
        key.display()
    )))
    .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    let store = std::sync::Arc::new(mcp_oauth::store::MemoryStore::new());
    let opts =
        o.client_options("authentication.p", "https://mcp.example.com/mcp", store).expect("ok");
    assert_eq!(opts.redirect_uri, "http://127.0.0.1:0/cb");
    assert_eq!(opts.client.client_name, "Jira agent");
    assert!(!opts.client.dynamic_registration);
    let pre = opts.client.pre_registered.as_ref().expect("pre-registered");
    assert_eq!(pre.client_id, "jira-agent");
    // A key file without a method: the file's documented default is private_key_jwt.
    assert_eq!(pre.auth_method, Some(TokenEndpointAuth::PrivateKeyJwt));
    assert_eq!(pre.issuers, vec!["https://auth.atlassian.com".to_owned()]);
    assert_eq!(
        opts.client.metadata_document_url.as_ref().map(|u| u.as_str()),
        Some("https://agent.example.com/client.json")
    );
    assert_eq!(opts.scopes.as_deref(), Some("read:jira-work write:jira-work"));
    assert_eq!(opts.user, "alice");
    let (issuer, p) = &opts.policies[0];
    assert_eq!(issuer, "https://login.microsoftonline.com/t/v2.0");
    assert!(p.danger_assume_pkce_s256 && !p.danger_omit_resource);
    assert_eq!(p.extra_authorization_params, [("prompt".into(), "consent".into())]);
    // Building the options read no file: the key is read by the explicit `load_signer`.
    assert!(opts.assertion_signer.is_none());
    assert!(o.load_signer().expect("the fixture key").is_some());
}

#[test]
fn a_service_account_maps_to_headless_options() {
    let c = parse(&service(
        "    client_secret: ${SECRET}\n    issuer: https://as.example.com\n    scopes: mcp:tools\n    token_cache_buffer_seconds: 120\n    service_token: st\n    service_token_header: X-Backend-Token\n    send_resource: false\n",
    ))
    .expect("valid");
    let AuthProvider::ServiceAccount(sa) = &c.authentication[0].1 else { panic!() };
    let client = sa.load_credentials("authentication.sa").expect("secret client");
    let o = sa
        .headless_options("authentication.sa", "https://mcp.example.com/mcp", client)
        .expect("options");
    assert_eq!(o.token_url.as_deref(), Some("https://as.example.com/token"));
    assert_eq!(o.issuer.as_deref(), Some("https://as.example.com"));
    assert_eq!(o.scopes.as_deref(), Some("mcp:tools"));
    assert_eq!(o.refresh_buffer, std::time::Duration::from_secs(120));
    assert_eq!(o.extra_headers, [("X-Backend-Token".to_owned(), "st".to_owned())]);
    assert_eq!(o.policies.len(), 1);
    assert_eq!(o.policies[0].0, "https://as.example.com");
    assert!(o.policies[0].1.danger_omit_resource);
}

#[test]
fn cli_flags_win_over_the_mapping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("c.yaml");
    let absent = dir.path().join("absent.pem");
    std::fs::write(
        &file,
        format!(
            "function_groups:\n  g:\n    _type: per_user_mcp_client\n    server:\n      url: https://mcp.example.com/mcp\n      auth_provider: p\n{}",
            oauth2(&format!(
                "    client_id: c\n    private_key_file: {}\n    token_storage: {{type: redis, url: \"redis://127.0.0.1:1/\"}}\n",
                absent.display()
            ))
        ),
    )
    .expect("write");
    let path = file.to_str().expect("path");
    let base = ["status", "--url", "https://mcp.example.com/mcp", "--config", path, "--group", "g"];
    // The file's redis storage: the CLI refuses it.
    let out = cli(&base, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token_storage redis"));
    // --token-store wins; then the file's key (absent) is read and named.
    let out = cli(&[&base[..], &["--token-store", "memory"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.pem"));
    // --private-key wins over private_key_file: the absent file is not read.
    let key = keys().join("es256.pem");
    let key = key.to_str().expect("path");
    let out = cli(
        &[&base[..], &["--token-store", "memory", "--private-key", key, "--json"]].concat(),
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"authorized\":false"));
}

/// `token_storage: {type: mysql, url, table}`: the URL must be `mysql://` with a database, the
/// table a plain identifier (default `mcp_oauth_tokens`); each error names its YAML path, and
/// `Debug` hides the password.
#[test]
fn mysql_token_storage() {
    let c = parse(&oauth2(
        "    token_storage: {type: mysql, url: 'mysql://app:s3cret@db:3306/mcp', table: tokens_1}\n",
    ))
    .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(
        o.token_storage,
        TokenStorage::Mysql {
            url: "mysql://app:s3cret@db:3306/mcp".into(),
            table: "tokens_1".into()
        }
    );
    let debug = format!("{:?}", o.token_storage);
    assert!(!debug.contains("s3cret") && debug.contains("tokens_1"), "{debug}");
    let c = parse(&oauth2("    token_storage: {type: mysql, url: 'mysql://db/mcp?pool_max=8'}\n"))
        .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert!(
        matches!(&o.token_storage, TokenStorage::Mysql { table, .. } if table == "mcp_oauth_tokens")
    );

    let p = "authentication.p.token_storage";
    let m = fails(&oauth2("    token_storage: mysql\n"), p, "config_invalid_value");
    assert!(m.contains("mysql needs settings"), "{m}");
    fails(&oauth2("    token_storage: {type: mysql}\n"), &format!("{p}.url"), "config_missing");
    let m = fails(
        &oauth2("    token_storage: {type: mysql, url: 'postgres://db/mcp'}\n"),
        &format!("{p}.url"),
        "config_invalid_value",
    );
    assert!(m.contains("must be a mysql:// URL"), "{m}");
    for url in ["mysql://db", "mysql://db/", "mysql://db/?pool_max=3"] {
        let m = fails(
            &oauth2(&format!("    token_storage: {{type: mysql, url: '{url}'}}\n")),
            &format!("{p}.url"),
            "config_invalid_value",
        );
        assert!(m.contains("names no database"), "{url}: {m}");
    }
    for table in ["'a b'", "'t`x'", "'db.t'", "'123'", "''"] {
        let m = fails(
            &oauth2(&format!(
                "    token_storage: {{type: mysql, url: 'mysql://db/mcp', table: {table}}}\n"
            )),
            &format!("{p}.table"),
            "config_invalid_value",
        );
        assert!(m.contains("plain table name"), "{table}: {m}");
    }
    fails(
        &oauth2("    token_storage: {type: mysql, url: 'mysql://db/mcp', key_prefix: x}\n"),
        &format!("{p}.key_prefix"),
        "config_unknown_key",
    );
}

/// `token_storage: {type: s3, …}`: the settings, their defaults, and each bad value refused with
/// its YAML path.
#[test]
fn s3_token_storage() {
    let c = parse(&oauth2(
        "    token_storage: {type: s3, bucket: mcp-tokens, prefix: team-a/, region: eu-west-1, endpoint: 'http://127.0.0.1:9000'}\n",
    ))
    .expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(
        o.token_storage,
        TokenStorage::S3 {
            bucket: "mcp-tokens".into(),
            prefix: "team-a/".into(),
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
        }
    );
    let c = parse(&oauth2("    token_storage: {type: s3, bucket: mcp-tokens}\n")).expect("valid");
    let AuthProvider::OAuth2(o) = &c.authentication[0].1 else { panic!() };
    assert_eq!(
        o.token_storage,
        TokenStorage::S3 {
            bucket: "mcp-tokens".into(),
            prefix: "mcp-oauth/".into(),
            region: None,
            endpoint: None,
        }
    );
    let p = "authentication.p.token_storage";
    fails(&oauth2("    token_storage: s3\n"), p, "config_invalid_value");
    fails(&oauth2("    token_storage: {type: s3}\n"), &format!("{p}.bucket"), "config_missing");
    for (settings, field) in [
        ("bucket: Bad_Bucket", "bucket"),
        ("bucket: ab", "bucket"),
        ("bucket: ok-bucket, prefix: 'a b/'", "prefix"),
        ("bucket: ok-bucket, region: 'eu west'", "region"),
        ("bucket: ok-bucket, endpoint: 'ftp://x'", "endpoint"),
        ("bucket: ok-bucket, endpoint: 'http://key:secret@x'", "endpoint"),
    ] {
        let text = oauth2(&format!("    token_storage: {{type: s3, {settings}}}\n"));
        let message = fails(&text, &format!("{p}.{field}"), "config_invalid_value");
        assert!(!message.contains("secret@"), "{message}");
    }
    fails(
        &oauth2("    token_storage: {type: s3, bucket: ok-bucket, url: x}\n"),
        &format!("{p}.url"),
        "config_unknown_key",
    );
}
