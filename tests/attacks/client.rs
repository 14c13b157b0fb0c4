//! Attack tests: the client's protocol edges (issue 12). Each test plays the attacker's server
//! against the core's flow, then asserts that no secret, assertion, code or token reached it.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use mcp_oauth_core::authorize::PendingAuthorization;
use mcp_oauth_core::http::{HttpRequest, HttpResponse};
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::registration::{ClientConfig, ClientRegistration, IdentitySource};
use mcp_oauth_core::secret::{AccessToken, ClientSecret};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::token::{AssertionClaims, ClientAssertionSigner, TokenEndpointAuth, TokenSet};
use mcp_oauth_core::url::Url;
use mcp_oauth_core::{AuthFlow, Error, FlowConfig, FlowEvent, FlowSnapshot};
use serde_json::{json, Value};

const NOW: UnixTime = UnixTime(1_700_000_000);
const REDIRECT: &str = "http://localhost:8000/auth/redirect";
const CORP: &str = "https://corp.example";
const SECRET: &str = "corp-s3cret";

fn entropy(n: u8) -> Entropy {
    Entropy { verifier: [n; 32], state: [n.wrapping_add(100); 32] }
}

fn as_document(issuer: &str, endpoints_at: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{endpoints_at}/authorize"),
        "token_endpoint": format!("{endpoints_at}/token"),
        "registration_endpoint": format!("{endpoints_at}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
    })
}

/// A scripted network: the first rule whose URL prefix matches answers; everything is logged.
struct Net {
    rules: Vec<(String, u16, Value)>,
    sent: Vec<HttpRequest>,
}

impl Net {
    fn new(rules: &[(&str, u16, Value)]) -> Net {
        Net {
            rules: rules.iter().map(|(u, s, v)| ((*u).to_owned(), *s, v.clone())).collect(),
            sent: Vec::new(),
        }
    }

    fn answer(&self, req: &HttpRequest) -> HttpResponse {
        for (prefix, status, body) in &self.rules {
            if req.url.starts_with(prefix.as_str()) {
                return HttpResponse::json(*status, &body.to_string());
            }
        }
        HttpResponse::json(404, "{}")
    }

    /// Sends every request the flow queued; returns the events and errors.
    fn drain(&mut self, flow: &mut AuthFlow) -> (Vec<FlowEvent>, Vec<Error>) {
        let mut errors = Vec::new();
        while let Some(req) = flow.poll_request() {
            let resp = self.answer(&req);
            self.sent.push(req.clone());
            if let Err(e) = flow.handle_response(NOW, req.id, resp) {
                errors.push(e);
            }
        }
        let mut events = Vec::new();
        while let Some(e) = flow.poll_event() {
            events.push(e);
        }
        (events, errors)
    }

    /// Requests to `host` that carry the client secret, an assertion, or the code.
    fn leaked_to(&self, host: &str, needle: &str) -> Vec<String> {
        self.sent
            .iter()
            .filter(|r| Url::parse(&r.url).is_ok_and(|u| u.host() == host))
            .filter(|r| {
                let body = String::from_utf8_lossy(&r.body);
                body.contains(needle)
                    || body.contains("client_assertion")
                    || r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            })
            .map(|r| format!("{:?} {}", r.purpose, r.url))
            .collect()
    }
}

/// A `private_key_jwt` signer that records every audience it signed for.
#[derive(Default)]
struct RecordingSigner(Mutex<Vec<String>>);

impl ClientAssertionSigner for RecordingSigner {
    fn sign(&self, claims: &AssertionClaims) -> Result<String, String> {
        self.0.lock().unwrap().push(claims.aud.clone());
        Ok(format!("eyJ.signed-for-{}.sig", claims.aud))
    }
}

fn pre_registered(method: Option<TokenEndpointAuth>, issuers: &[&str]) -> ClientConfig {
    let mut client = ClientConfig::dynamic("corp-cli");
    let mut pre = mcp_oauth_core::registration::PreRegistered::new(
        "corp-client",
        Some(ClientSecret::new(SECRET)),
    );
    pre.auth_method = method;
    pre.issuers = issuers.iter().map(|s| (*s).to_owned()).collect();
    client.pre_registered = Some(pre);
    client
}

/// Plays the browser: takes `state` from the authorization URL and comes back with `code`.
fn callback(events: &[FlowEvent], code: &str, iss: Option<&str>) -> Option<String> {
    let url = events.iter().find_map(|e| match e {
        FlowEvent::OpenBrowser { url } => Some(url.clone()),
        _ => None,
    })?;
    let pairs = Url::parse(&url).ok()?.query_pairs()?;
    let state = pairs.iter().find(|(k, _)| k == "state")?.1.clone();
    let iss = iss.map(|i| format!("&iss={i}")).unwrap_or_default();
    Some(format!("{REDIRECT}?code={code}&state={state}{iss}"))
}

fn codes(errors: &[Error]) -> Vec<&'static str> {
    errors.iter().map(Error::code).collect()
}

/// Issue 12 item 4 (legacy path): an evil MCP server 404s its protected-resource metadata and
/// serves, at its own origin, legacy metadata that claims the corporate issuer with its own token
/// endpoint. The client's `private_key_jwt` assertion (aud = the corporate issuer) must never be
/// signed for it or sent there.
#[test]
fn legacy_metadata_claiming_another_issuer_gets_no_assertion() {
    // The exploit: the evil server's legacy metadata names the corporate issuer.
    let mut net = Net::new(&[
        ("https://evil.example/.well-known/oauth-protected-resource", 404, json!({})),
        ("https://evil.example/.well-known/", 200, as_document(CORP, "https://evil.example")),
        ("https://evil.example/token", 200, json!({"access_token": "x", "token_type": "Bearer"})),
    ]);
    let config = FlowConfig::new(
        "https://evil.example/mcp",
        REDIRECT,
        pre_registered(Some(TokenEndpointAuth::PrivateKeyJwt), &[]),
    )
    .unwrap();
    let signer = Arc::new(RecordingSigner::default());
    let mut flow = AuthFlow::new(config);
    flow.set_assertion_signer(signer.clone());
    flow.begin_authorization(NOW, entropy(1)).unwrap();
    let (events, mut errors) = net.drain(&mut flow);
    if let Some(cb) = callback(&events, "evil-code", None) {
        if let Err(e) = flow.handle_callback(NOW, &cb) {
            errors.push(e);
        }
        errors.extend(net.drain(&mut flow).1);
    }
    // It failed: nothing signed for the corporate audience, nothing sent to the evil host,
    // and the flow named the broken rule.
    let signed_for = signer.0.lock().unwrap().clone();
    assert_eq!(signed_for, Vec::<String>::new(), "assertions signed for these audiences");
    assert_eq!(net.leaked_to("evil.example", SECRET), Vec::<String>::new());
    assert_eq!(codes(&errors), vec!["legacy_issuer_origin_mismatch"]);
}

/// Issue 12 item 4: credentials configured for the corporate issuer; the MCP server's
/// protected-resource metadata points at the attacker's authorization server (valid metadata of
/// its own). The client secret must not be sent to the attacker's token endpoint.
#[test]
fn configured_credential_is_not_sent_to_another_issuer() {
    // The exploit: the resource lists the attacker's authorization server.
    let mut net = Net::new(&[
        (
            "https://mcp.example/.well-known/oauth-protected-resource",
            200,
            json!({"resource": "https://mcp.example/mcp", "authorization_servers": ["https://evil-as.example"]}),
        ),
        (
            "https://evil-as.example/.well-known/",
            200,
            as_document("https://evil-as.example", "https://evil-as.example"),
        ),
        (
            "https://evil-as.example/token",
            200,
            json!({"access_token": "x", "token_type": "Bearer"}),
        ),
    ]);
    let config =
        FlowConfig::new("https://mcp.example/mcp", REDIRECT, pre_registered(None, &[CORP]))
            .unwrap();
    let mut flow = AuthFlow::new(config);
    flow.begin_authorization(NOW, entropy(1)).unwrap();
    let (events, mut errors) = net.drain(&mut flow);
    if let Some(cb) = callback(&events, "evil-code", None) {
        if let Err(e) = flow.handle_callback(NOW, &cb) {
            errors.push(e);
        }
        errors.extend(net.drain(&mut flow).1);
    }
    // It failed: the secret never reached the attacker, with a named error.
    assert_eq!(net.leaked_to("evil-as.example", SECRET), Vec::<String>::new());
    assert_eq!(codes(&errors), vec!["credential_issuer_mismatch"]);
}

/// Issue 12 item 4, pinned on first use: no issuer configured; the credential is used once with
/// the corporate issuer (pinned, and the pin survives a restart through the snapshot), then the
/// resource's metadata is changed to list the attacker's server.
#[test]
fn credential_pinned_on_first_use_is_not_sent_to_a_new_issuer() {
    let prm = |issuer: &str| json!({"resource": "https://mcp.example/mcp", "authorization_servers": [issuer]});
    let token = json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600});
    let mut net = Net::new(&[
        ("https://mcp.example/.well-known/oauth-protected-resource", 200, prm(CORP)),
        ("https://corp.example/.well-known/", 200, as_document(CORP, CORP)),
        ("https://corp.example/token", 200, token.clone()),
    ]);
    let config = Arc::new(
        FlowConfig::new("https://mcp.example/mcp", REDIRECT, pre_registered(None, &[])).unwrap(),
    );
    let mut flow = AuthFlow::new(config.clone());
    flow.begin_authorization(NOW, entropy(1)).unwrap();
    let (events, errors) = net.drain(&mut flow);
    assert_eq!(codes(&errors), Vec::<&str>::new());
    let cb = callback(&events, "good-code", None).unwrap();
    flow.handle_callback(NOW, &cb).unwrap();
    assert_eq!(codes(&net.drain(&mut flow).1), Vec::<&str>::new());
    assert!(flow.access_token(NOW).is_some(), "the first use at the corporate issuer works");
    // A restart: the host keeps the snapshot (registrations hold the pin), not the discovery.
    let mut snap = flow.snapshot();
    snap.discovery = None;
    snap.tokens = None;
    let mut flow = AuthFlow::restore(config, snap).unwrap();

    // The exploit: the resource now lists the attacker's authorization server.
    let mut net = Net::new(&[
        (
            "https://mcp.example/.well-known/oauth-protected-resource",
            200,
            prm("https://evil-as.example"),
        ),
        (
            "https://evil-as.example/.well-known/",
            200,
            as_document("https://evil-as.example", "https://evil-as.example"),
        ),
        ("https://evil-as.example/token", 200, token),
    ]);
    flow.begin_authorization(NOW, entropy(2)).unwrap();
    let (events, mut errors) = net.drain(&mut flow);
    if let Some(cb) = callback(&events, "evil-code", None) {
        if let Err(e) = flow.handle_callback(NOW, &cb) {
            errors.push(e);
        }
        errors.extend(net.drain(&mut flow).1);
    }
    // It failed: the secret never reached the attacker, with a named error.
    assert_eq!(net.leaked_to("evil-as.example", SECRET), Vec::<String>::new());
    assert_eq!(codes(&errors), vec!["credential_issuer_mismatch"]);
}

/// Issue 12 "(low) Mix-up" (RFC 9700 §4.4): an authorization is started at the honest server;
/// before the callback (completed in another process, from the stored snapshot) discovery has
/// changed to the attacker's server, where the client also holds a registration. The honest
/// server's code must not be sent to the attacker's token endpoint.
#[test]
fn code_is_not_sent_to_the_token_endpoint_of_a_changed_discovery() {
    let honest = "https://as.example";
    let evil = "https://evil-as.example";
    let prm = |issuer: &str| json!({"resource": "https://mcp.example/mcp", "authorization_servers": [issuer]});
    let reg = json!({"client_id": "dyn-1", "token_endpoint_auth_method": "none"});
    let mut net = Net::new(&[
        ("https://mcp.example/.well-known/oauth-protected-resource", 200, prm(honest)),
        ("https://as.example/.well-known/", 200, as_document(honest, honest)),
        ("https://as.example/register", 201, reg.clone()),
    ]);
    let config = Arc::new(
        FlowConfig::new("https://mcp.example/mcp", REDIRECT, ClientConfig::dynamic("t")).unwrap(),
    );
    let mut flow = AuthFlow::new(config.clone());
    flow.begin_authorization(NOW, entropy(1)).unwrap();
    let (events, errors) = net.drain(&mut flow);
    assert_eq!(codes(&errors), Vec::<&str>::new());
    let cb = callback(&events, "honest-code", Some(honest)).unwrap();
    let pending: PendingAuthorization = flow.snapshot().pending.unwrap();
    assert_eq!(pending.issuer, honest);

    // The exploit: meanwhile discovery (the resource's metadata) moved to the attacker, and the
    // client registered there too; the callback is handled from the stored state.
    let mut other = AuthFlow::new(config.clone());
    let mut evil_net = Net::new(&[
        ("https://mcp.example/.well-known/oauth-protected-resource", 200, prm(evil)),
        ("https://evil-as.example/.well-known/", 200, as_document(evil, evil)),
        ("https://evil-as.example/register", 201, reg),
    ]);
    other.begin_authorization(NOW, entropy(9)).unwrap();
    evil_net.drain(&mut other);
    let evil_state: FlowSnapshot = other.snapshot();
    let mut snap = flow.snapshot();
    snap.discovery = evil_state.discovery;
    snap.registrations.extend(evil_state.registrations);
    let mut flow = AuthFlow::restore(config, snap).unwrap();
    let mut net = Net::new(&[(
        "https://evil-as.example/token",
        200,
        json!({"access_token": "x", "token_type": "Bearer"}),
    )]);
    let mut errors = Vec::new();
    if let Err(e) = flow.handle_callback(NOW, &cb) {
        errors.push(e);
    }
    errors.extend(net.drain(&mut flow).1);
    // It failed: the honest server's code never reached the attacker, with a named error.
    assert_eq!(net.leaked_to("evil-as.example", "honest-code"), Vec::<String>::new());
    assert!(net.sent.iter().all(|r| !String::from_utf8_lossy(&r.body).contains("honest-code")));
    assert_eq!(codes(&errors), vec!["pending_server_mismatch"]);
}

/// Issue 12 "(low)": a token for `https://mcp.example/mcp` must not be attached to a request
/// whose path leaves the resource through dot segments, plain or percent-encoded
/// (RFC 3986 §5.2.4, §6.2.2.2).
#[test]
fn token_is_not_sent_outside_its_resource_through_dot_segments() {
    let config = Arc::new(
        FlowConfig::new("https://mcp.example/mcp", REDIRECT, ClientConfig::dynamic("t")).unwrap(),
    );
    let tokens = TokenSet {
        access_token: AccessToken::new("at-mcp"),
        token_type: "Bearer".into(),
        refresh_token: None,
        expires_at: None,
        scope: None,
        id_token: None,
        received_at: NOW,
    };
    let snap = FlowSnapshot {
        version: mcp_oauth_core::flow::SNAPSHOT_VERSION,
        server_url: "https://mcp.example/mcp".into(),
        discovery: None,
        registrations: vec![ClientRegistration {
            issuer: CORP.into(),
            client_id: "c".into(),
            client_secret: None,
            client_secret_expires_at: None,
            auth_method: TokenEndpointAuth::None,
            redirect_uri: REDIRECT.into(),
            source: IdentitySource::Dynamic,
        }],
        tokens: Some(mcp_oauth_core::flow::StoredTokens { issuer: CORP.into(), tokens }),
        pending: None,
        last_requested_scope: None,
    };
    let flow = AuthFlow::restore(config, snap).unwrap();
    assert!(flow.authorization_header(NOW, "https://mcp.example/mcp/tools").unwrap().is_some());
    // The exploit: request URLs that a server resolves to /admin.
    let attempts = [
        "https://mcp.example/mcp/../admin",
        "https://mcp.example/mcp/%2e%2e/admin",
        "https://mcp.example/mcp/%2E%2E/admin",
        "https://mcp.example/mcp/.%2e/admin",
        "https://mcp.example/mcp/./../admin",
        "https://mcp.example/mcp/x/../../admin",
        "https://mcp.example/mcp/..",
        "https://mcp.example/mcp/%2e%2e%2fadmin",
    ];
    let got_token: Vec<&str> = attempts
        .into_iter()
        .filter(|url| flow.authorization_header(NOW, url).is_ok_and(|h| h.is_some()))
        .collect();
    // It failed: no token for any of them, and each is refused with the named error.
    assert_eq!(got_token, Vec::<&str>::new());
    for url in attempts {
        let refused = flow.authorization_header(NOW, url).map_err(|e| e.code());
        assert_eq!(refused, Err("token_for_other_resource"), "{url}");
    }
    // Paths that stay inside the resource keep working.
    for url in ["https://mcp.example/mcp/a/../b", "https://mcp.example/%6dcp/tools"] {
        assert!(flow.authorization_header(NOW, url).unwrap().is_some(), "{url}");
    }
}

// ---------------------------------------------------------------------------------------------
// The native client against an evil HTTP server on 127.0.0.1.

mod evil {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// One request as the evil server saw it: request line, headers, body.
    pub type Seen = Arc<Mutex<Vec<String>>>;

    /// Serves `routes` (path prefix → status, JSON body; `{base}` replaced by the server's own
    /// URL) on a free loopback port; records every request. Returns the base URL.
    pub async fn serve(routes: Vec<(&'static str, u16, String)>) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen: Seen = Arc::default();
        let (b, s) = (base.clone(), seen.clone());
        tokio::spawn(async move {
            // Bounded: the tests make a handful of requests.
            for _ in 0..64 {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let text = loop {
                    let Ok(n) = sock.read(&mut chunk).await else { break None };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let t = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = t.find("\r\n\r\n") {
                        let len = t[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0usize);
                        if buf.len() >= end + 4 + len {
                            break Some(t);
                        }
                    }
                    if buf.len() > 1 << 20 {
                        break None;
                    }
                };
                let Some(text) = text else { continue };
                s.lock().unwrap().push(text.clone());
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = routes
                    .iter()
                    .find(|(p, _, _)| path.starts_with(p))
                    .map(|(_, st, body)| (*st, body.replace("{base}", &b)))
                    .unwrap_or((404, "{}".to_owned()));
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (base, seen)
    }
}

/// Requests the evil server received that carry client authentication (a Basic header, a
/// `client_secret` or a `client_assertion`).
fn carrying_credentials(seen: &evil::Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|r| {
            let lower = r.to_ascii_lowercase();
            lower.contains("\r\nauthorization:")
                || lower.contains("client_secret")
                || lower.contains("client_assertion")
        })
        .map(|r| r.lines().next().unwrap_or_default().to_owned())
        .collect()
}

/// Issue 12 item 4 through the native client: the evil MCP server 404s its PRM and serves legacy
/// metadata that claims the corporate issuer; the configured client secret must never arrive.
#[tokio::test]
async fn native_client_sends_no_secret_to_a_legacy_server_claiming_another_issuer() {
    use mcp_oauth::store::MemoryStore;
    use mcp_oauth::{ClientOptions, OAuthClient};

    // The exploit: legacy metadata at the evil origin naming the corporate issuer.
    let doc = json!({
        "issuer": CORP,
        "authorization_endpoint": "{base}/authorize",
        "token_endpoint": "{base}/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    })
    .to_string();
    let token = json!({"access_token": "x", "token_type": "Bearer"}).to_string();
    let (base, seen) = evil::serve(vec![
        ("/.well-known/oauth-protected-resource", 404, "{}".into()),
        ("/.well-known/oauth-authorization-server", 200, doc),
        ("/token", 200, token),
    ])
    .await;
    let mut opts = ClientOptions::new(format!("{base}/mcp"), Arc::new(MemoryStore::new())).unwrap();
    opts.client = pre_registered(None, &[]);
    opts.cache = Arc::new(mcp_oauth::cache::MetadataCache::new());
    let client = OAuthClient::new(opts).unwrap();
    let outcome = match client.start_authorization().await {
        Ok(pending) => {
            let url = Url::parse(&pending.authorization_url).unwrap();
            let state =
                url.query_pairs().unwrap().into_iter().find(|(k, _)| k == "state").unwrap().1;
            let cb = format!("{}?code=evil-code&state={state}", client.redirect_uri());
            client.complete_authorization(pending, &cb).await.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    // It failed: no request carrying the secret reached the evil server, with a named error.
    assert_eq!(carrying_credentials(&seen), Vec::<String>::new());
    let err = outcome.unwrap_err();
    assert!(err.contains("names issuer `https://corp.example` at another origin"), "{err}");
}

/// An evil server on 127.0.0.1 that is its own authorization server: its PRM names itself,
/// its metadata is valid, and its token endpoint answers any grant.
async fn evil_authorization_server() -> (String, evil::Seen) {
    let prm = json!({"resource": "{base}/mcp", "authorization_servers": ["{base}"]}).to_string();
    let doc = json!({
        "issuer": "{base}",
        "authorization_endpoint": "{base}/authorize",
        "token_endpoint": "{base}/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    })
    .to_string();
    let token = json!({"access_token": "x", "token_type": "Bearer"}).to_string();
    let (base, seen) = evil::serve(vec![
        ("/.well-known/oauth-protected-resource", 200, prm),
        ("/.well-known/oauth-authorization-server", 200, doc),
        ("/token", 200, token),
    ])
    .await;
    (base, seen)
}

/// Issue 12 item 4, headless: client credentials configured for the corporate issuer; the MCP
/// server's PRM names the evil server as its authorization server. The secret must not arrive.
#[tokio::test]
async fn headless_client_credentials_are_not_sent_to_another_issuer() {
    use mcp_oauth::headless::ClientCredentials;
    use mcp_oauth::{HeadlessClient, HeadlessGrant, HeadlessOptions};

    // The exploit: PRM lists the evil server (valid metadata of its own).
    let (base, seen) = evil_authorization_server().await;
    let client =
        ClientCredentials::secret("corp-client", SECRET, TokenEndpointAuth::ClientSecretBasic)
            .with_issuers(vec![CORP.to_owned()]);
    let mut opts =
        HeadlessOptions::new(format!("{base}/mcp"), HeadlessGrant::ClientCredentials { client })
            .unwrap();
    opts.cache = Arc::new(mcp_oauth::cache::MetadataCache::new());
    let headless = HeadlessClient::new(opts).unwrap();
    let outcome = headless.access_token().await;
    // It failed: the secret never arrived, with a named error.
    assert_eq!(carrying_credentials(&seen), Vec::<String>::new());
    match outcome {
        Err(mcp_oauth::Error::Protocol(e)) => assert_eq!(e.code(), "credential_issuer_mismatch"),
        other => panic!("expected credential_issuer_mismatch, got {other:?}"),
    }
}

/// Issue 11 item 3: the multi-user server now takes `private_key_file` from the YAML file
/// (through `McpOAuth2::client_options` and `load_signer`). An evil MCP server's PRM names the
/// evil server as its authorization server; the key configured for the corporate issuer
/// (`client_issuer`) must sign no assertion for it.
#[tokio::test]
async fn yaml_private_key_jwt_client_signs_no_assertion_for_another_issuer() {
    use mcp_oauth::config::{AuthProvider, Config};
    use mcp_oauth::store::MemoryStore;
    use mcp_oauth::OAuthClient;

    // The exploit: PRM lists the evil server, which has valid metadata of its own.
    let (base, seen) = evil_authorization_server().await;
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/../../native/tests/fixtures/keys/es256.pem");
    let yaml = format!(
        "authentication:\n  p:\n    _type: mcp_oauth2\n    server_url: {base}/mcp\n    \
         client_id: corp-client\n    client_issuer: {CORP}\n    enable_dynamic_registration: false\n    \
         private_key_file: {key}\n    token_storage: memory\n"
    );
    let config = Config::parse(&yaml).unwrap();
    let AuthProvider::OAuth2(o) = &config.authentication[0].1 else { panic!("mcp_oauth2") };
    let mut opts = o
        .client_options("authentication.p", &format!("{base}/mcp"), Arc::new(MemoryStore::new()))
        .unwrap();
    opts.assertion_signer = o.load_signer().unwrap().map(|s| s as Arc<_>);
    opts.cache = Arc::new(mcp_oauth::cache::MetadataCache::new());
    let client = OAuthClient::new(opts).unwrap();
    let outcome = match client.start_authorization().await {
        Ok(pending) => {
            let url = Url::parse(&pending.authorization_url).unwrap();
            let state =
                url.query_pairs().unwrap().into_iter().find(|(k, _)| k == "state").unwrap().1;
            let cb = format!("{}?code=evil-code&state={state}&iss={base}", client.redirect_uri());
            client.complete_authorization(pending, &cb).await
        }
        Err(e) => Err(e),
    };
    // It failed: no assertion reached the evil server, with a named error.
    assert_eq!(carrying_credentials(&seen), Vec::<String>::new());
    match outcome {
        Err(mcp_oauth::Error::Protocol(e)) => assert_eq!(e.code(), "credential_issuer_mismatch"),
        other => panic!("expected credential_issuer_mismatch, got {other:?}"),
    }
}
