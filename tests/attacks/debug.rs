//! Attack tests: secrets printed by `Debug` (issue: "Debug prints secrets").
//!
//! The exploit is ordinary: a host logs a configuration or a request parameter with `{:?}` (an
//! error report, a `tracing` field, a panic message), and the secret lands in the log. On the
//! earlier main, `McpOAuth2`, `ServiceAccount` and `ExchangeParams` derived `Debug` and printed
//! `client_secret`, `service_token` and `subject_token` in clear.

use mcp_oauth::config::{AuthProvider, Config};
use mcp_oauth::core::token_exchange::{token_types, ExchangeParams};

const MARKER: &str = "S3CRET-MARKER-7f1c";

fn config_yaml() -> String {
    format!(
        r#"
function_groups:
  jira:
    _type: per_user_mcp_client
    server: {{ url: "https://mcp.example.com/mcp", auth_provider: oauth }}
  backend:
    _type: mcp_client
    server: {{ url: "https://backend.example.com/mcp", auth_provider: sa }}
authentication:
  oauth:
    _type: mcp_oauth2
    server_url: https://mcp.example.com/mcp
    client_id: app
    client_secret: {MARKER}
    token_storage: {{ type: redis, url: "redis://default:{MARKER}@redis.internal:6379/0", key_prefix: "mcp:" }}
  sa:
    _type: mcp_service_account
    token_url: https://as.example.com/token
    client_id: svc
    client_secret: {MARKER}
    service_token: {MARKER}
"#
    )
}

#[test]
fn configuration_debug_hides_secrets() {
    // The exploit: log the parsed configuration.
    let config: Config = Config::parse(&config_yaml()).expect("the config parses");
    let logged = format!("{config:?}");
    // It did not work: the secret is not in the log, but the log still says a secret is set.
    assert!(!logged.contains(MARKER), "a secret leaked through Debug: {logged}");
    assert!(logged.contains("<redacted>"), "{logged}");
    // The values are still there for the code that needs them.
    let providers: Vec<&AuthProvider> = config.authentication.iter().map(|(_, p)| p).collect();
    match providers[0] {
        AuthProvider::OAuth2(o) => assert_eq!(o.client_secret.as_deref(), Some(MARKER)),
        other => panic!("expected mcp_oauth2, got {other:?}"),
    }
    match providers[1] {
        AuthProvider::ServiceAccount(s) => assert_eq!(s.service_token.as_deref(), Some(MARKER)),
        other => panic!("expected mcp_service_account, got {other:?}"),
    }
}

#[test]
fn token_exchange_parameters_debug_hides_the_subject_token() {
    let params = ExchangeParams {
        subject_token: MARKER,
        subject_token_type: token_types::ID_TOKEN,
        requested_token_type: Some(token_types::ID_JAG),
        audience: Some("https://as.example.com"),
        resource: None,
        scope: None,
    };
    let logged = format!("{params:?}");
    assert!(!logged.contains(MARKER), "{logged}");
    assert!(logged.contains("id_token"), "{logged}");
}
