//! The client's `tracing` events (native/src/log.rs): a whole authorization against the core's
//! in-memory demo servers reports `client registered`, `authorization started`, `tokens stored`
//! and `authorized` with user, resource and issuer, inside `oauth` spans naming the operation,
//! and no event or span field carries a secret (the
//! access and refresh tokens, the code, the PKCE verifier, `state`, the authorization URL).
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use mcp_oauth::core::demo::{DemoServer, MCP_URL};
use mcp_oauth::{ClientOptions, HttpClient, MemoryStore, OAuthClient};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event as (message, [(field, value)]).
type Events = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

struct Recorder(Events);

struct Fields(Vec<(String, String)>);
impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("mcp_oauth")
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        self.0.lock().unwrap().push((format!("span {}", attrs.metadata().name()), fields.0));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let message = fields
            .0
            .iter()
            .find(|(k, _)| k == "message")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.0.lock().unwrap().push((message, fields.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_whole_authorization_is_traced_without_secrets() {
    let events: Events = Arc::default();
    let _guard = tracing::subscriber::set_default(Recorder(Arc::clone(&events)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (url, token) = runtime.block_on(async {
        let demo = Arc::new(Mutex::new(DemoServer::new()));
        let mut o = ClientOptions::new(MCP_URL, Arc::new(MemoryStore::new())).unwrap();
        o.user = "alice".into();
        o.http =
            HttpClient::from_transport(Arc::new(common::DemoTransport(Arc::clone(&demo)))).unwrap();
        let client = OAuthClient::new(o).unwrap();
        let pending = client.start_authorization().await.unwrap();
        let callback = demo.lock().unwrap().approve(&pending.authorization_url);
        client.complete_authorization(pending.clone(), &callback).await.unwrap();
        let token = client.access_token().await.unwrap();
        (pending, token)
    });
    let events = events.lock().unwrap().clone();
    let messages: Vec<&str> = events.iter().map(|(m, _)| m.as_str()).collect();
    for wanted in ["client registered", "authorization started", "tokens stored", "authorized"] {
        let (_, fields) = events
            .iter()
            .find(|(m, _)| m == wanted)
            .unwrap_or_else(|| panic!("no `{wanted}` event in {messages:?}"));
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("user"), Some("alice"), "{wanted}: {fields:?}");
        assert_eq!(get("resource"), Some(MCP_URL), "{wanted}: {fields:?}");
        assert_eq!(get("issuer"), Some(mcp_oauth::core::demo::ISSUER), "{wanted}: {fields:?}");
    }
    // Each operation runs in an `oauth` span naming it, the user and the server.
    for operation in ["start_authorization", "complete_authorization"] {
        let found = events.iter().any(|(m, f)| {
            m == "span oauth"
                && f.contains(&("operation".to_owned(), operation.to_owned()))
                && f.contains(&("user".to_owned(), "alice".to_owned()))
                && f.contains(&("resource".to_owned(), MCP_URL.to_owned()))
        });
        assert!(found, "no `oauth` span for {operation}: {messages:?}");
    }
    let secrets = [
        token.secret().to_owned(),
        url.state.secret().to_owned(),
        url.verifier.secret().to_owned(),
        url.authorization_url.clone(),
    ];
    for (message, fields) in &events {
        for (name, value) in fields {
            for secret in &secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "`{message}` field {name} carries a secret"
                );
            }
            assert!(
                !value.contains("refresh-") && !value.contains("code-"),
                "`{message}` {name}={value}"
            );
        }
    }
}
