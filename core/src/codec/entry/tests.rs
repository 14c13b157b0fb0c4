use super::*;
use crate::flow::tests::harness::{authorize, drain, entropy, World, ISSUER, MCP, REDIRECT};
use crate::flow::tests_support::full_snapshot;
use crate::http::Purpose;
use crate::registration::ClientConfig;
use crate::{AuthFlow, FlowConfig};

fn config() -> FlowConfig {
    FlowConfig::new(MCP, REDIRECT, ClientConfig::dynamic("t")).unwrap()
}

fn key() -> EntryKey {
    EntryKey { user: "alice".into(), resource: MCP.into(), issuer: ISSUER.into() }
}

/// An entry with every member set.
fn full_entry() -> PersistedEntry {
    let s = full_snapshot();
    PersistedEntry {
        tokens: s.tokens.map(|t| t.tokens),
        registration: s.registrations.into_iter().next(),
        discovery: s.discovery,
        pending: s.pending,
        last_requested_scope: s.last_requested_scope,
        dpop_key: Some(crate::secret::DpopPrivateKey::new("pkcs8-key")),
    }
}

fn decode(text: &str) -> R<(EntryKey, PersistedEntry)> {
    PersistedEntry::decode(text, None)
}

fn err(text: &str) -> String {
    decode(text).unwrap_err().to_string()
}

#[test]
fn round_trips_every_member_with_stable_text() {
    let entry = full_entry();
    assert!(entry.tokens.is_some() && entry.registration.is_some());
    assert!(entry.discovery.is_some() && entry.pending.is_some());
    let text = entry.encode(&key());
    assert!(
        text.starts_with(r#"{"format":"mcp-oauth/entry","version":1,"user":"alice""#),
        "{text}"
    );
    let (k, back) = decode(&text).unwrap();
    assert_eq!((k, &back), (key(), &entry));
    assert_eq!(back.encode(&key()), text);
    let empty = PersistedEntry::default();
    assert!(empty.is_empty());
    assert_eq!(decode(&empty.encode(&key())).unwrap().1, empty);
}

#[test]
fn a_flow_exported_and_loaded_elsewhere_needs_no_requests() {
    let mut world = World::new();
    let mut flow = AuthFlow::new(config());
    authorize(&mut flow, &mut world, 1);
    let issuer = flow.entry_issuer().unwrap().to_owned();
    assert_eq!(issuer, ISSUER);
    let entry = flow.entry(&issuer);
    assert!(entry.pending.is_none());
    let text = entry.encode(&EntryKey { issuer: issuer.clone(), ..key() });

    // Another process (or host) loads it.
    let (k, loaded) = decode(&text).unwrap();
    let mut other = AuthFlow::new(config());
    other.load_entry(&k, loaded).unwrap();
    let header = other.authorization_header(world.now, MCP).unwrap().unwrap();
    assert!(world.mcp_accepts(Some(&header)));
    assert_eq!(other.entry(&issuer), flow.entry(&issuer));
    let requests_before = world.log.len();
    // A 401 for that token refreshes with the stored registration and discovery: the resource
    // metadata is read again (a 401 makes it stale, MCP SEP-2352), the server metadata is
    // reused, no registration.
    other.handle_unauthorized(world.now, &world.challenge_401(), entropy(5)).unwrap();
    drain(&mut other, &mut world);
    let purposes: Vec<_> = world.log[requests_before..].iter().map(|(p, _)| *p).collect();
    assert_eq!(purposes, [Purpose::ResourceMetadata, Purpose::TokenRefresh]);
}

#[test]
fn a_pending_entry_is_finished_by_another_flow() {
    let mut world = World::new();
    let mut flow = AuthFlow::new(config());
    assert!(flow.pending_entry().is_none());
    flow.begin_authorization(world.now, entropy(1)).unwrap();
    let (events, _) = drain(&mut flow, &mut world);
    let url = crate::flow::tests::harness::browser_url(&events).unwrap();
    let (issuer, entry) = flow.pending_entry().unwrap();
    assert!(entry.tokens.is_none() && entry.pending.is_some() && entry.registration.is_some());
    let text = entry.encode(&EntryKey { issuer, ..key() });

    let (k, loaded) = decode(&text).unwrap();
    let mut other = AuthFlow::new(config());
    other.load_entry(&k, loaded.clone()).unwrap();
    assert_eq!(other.pending(), flow.pending());
    // A second pending authorization is not loaded over the first.
    let e = other.load_entry(&k, loaded).unwrap_err();
    assert!(e.to_string().contains("while a flow is in progress"), "{e}");
    other.handle_callback(world.now, &world.approve(&url)).unwrap();
    let (_, errors) = drain(&mut other, &mut world);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(other.access_token(world.now).is_some());
}

#[test]
fn load_refuses_what_is_not_this_flows() {
    let entry = full_entry();
    let mut flow = AuthFlow::new(config());
    let other_server = EntryKey { resource: "https://other.example.com/mcp".into(), ..key() };
    let e = flow.load_entry(&other_server, entry.clone()).unwrap_err();
    assert_eq!(e.code(), "snapshot_invalid");
    assert!(e.to_string().contains("belongs to https://other.example.com/mcp"), "{e}");
    let other_issuer = EntryKey { issuer: "https://evil.example".into(), ..key() };
    let e = flow.load_entry(&other_issuer, entry.clone()).unwrap_err();
    assert!(
        e.to_string().contains("entry.registration: issuer https://auth.example.com is not"),
        "{e}"
    );
    let other_redirect =
        FlowConfig::new(MCP, "http://localhost:9999/cb", ClientConfig::dynamic("t")).unwrap();
    let e = AuthFlow::new(other_redirect).load_entry(&key(), entry.clone()).unwrap_err();
    assert!(e.to_string().contains("redirect URI"), "{e}");
    let e = AuthFlow::new(config())
        .resume_pending(PendingAuthorization {
            redirect_uri: crate::url::RedirectUri::parse("http://localhost:9999/cb").unwrap(),
            ..entry.pending.clone().unwrap()
        })
        .unwrap_err();
    assert!(e.to_string().contains("redirect URI"), "{e}");
    // Nothing was changed by the refusals.
    assert!(flow.tokens().is_none() && flow.entry_issuer().is_none());
}

#[test]
fn decode_errors_name_what_is_wrong() {
    let text = full_entry().encode(&key());
    let with = |from: &str, to: &str| {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1)
    };
    assert_eq!(decode("{").unwrap_err().code(), "snapshot_invalid");
    assert!(err("[]").contains("entry: expected an object"));
    assert!(err(r#"{"user":"a","version":1}"#).contains("entry.format: missing"));
    let e = err(&with(r#""version":1"#, r#""version":2"#));
    assert!(e.contains("entry.version: 2 was written by a newer mcp-oauth"), "{e}");
    let e = err(&with(r#""version":1"#, r#""version":0"#));
    assert!(e.contains("entry.version: 0 is not a version of this format"), "{e}");
    let e = err(&with(r#""version":1"#, r#""version":"1""#));
    assert!(e.contains("entry.version: expected a number"), "{e}");
    let e = err(&with("mcp-oauth/entry", "other/thing"));
    assert!(e.contains("entry.format: `other/thing` is not `mcp-oauth/entry`"), "{e}");
    let e = err(&with(r#""user":"alice""#, r#""user":"alice","extra":true"#));
    assert!(e.contains("entry.extra: unknown member"), "{e}");
    let e = err(&with(r#""user":"alice","#, ""));
    assert!(e.contains("entry.user: missing"), "{e}");
    let e = err(&with(r#""token_type":"Bearer""#, r#""token_type":7"#));
    assert!(e.contains("entry.tokens.token_type: expected a string"), "{e}");
    let e = err(&with(r#""verifier":"#, r#""verifierX":"#));
    assert!(e.contains("entry.pending.verifier: missing"), "{e}");
}

#[test]
fn older_shapes_are_migrated_on_read() {
    let full = full_entry();
    // Version 0: what the native stores wrote before this format (key members, no version).
    let v0 = format!(
        r#"{{"user":"alice","resource":"{MCP}","issuer":"{ISSUER}","tokens":{},"registration":{},"discovery":{}}}"#,
        full.tokens.as_ref().unwrap().to_json().to_text(),
        full.registration.as_ref().unwrap().to_json().to_text(),
        full.discovery.as_ref().unwrap().to_json().to_text(),
    );
    let (k, e) = decode(&v0).unwrap();
    assert_eq!(k, key());
    let v0_entry = PersistedEntry {
        pending: None,
        last_requested_scope: None,
        dpop_key: None,
        ..full.clone()
    };
    assert_eq!(e, v0_entry);
    let e = err(&v0.replacen(r#""user""#, r#""pending":{},"user""#, 1));
    assert!(e.contains("entry.pending: unknown member (in a version-0 entry)"), "{e}");

    // A version-1 flow snapshot, as the npm package stored it (no pending, no user).
    let mut snapshot = full_snapshot();
    snapshot.pending = None;
    let text = snapshot.to_json();
    let e = decode(&text).unwrap_err();
    assert!(e.to_string().contains("a flow snapshot names no user"), "{e}");
    let (k, e) = PersistedEntry::decode(&text, Some("alice")).unwrap();
    assert_eq!(k, key());
    assert_eq!(e, PersistedEntry { pending: None, dpop_key: None, ..full.clone() });
    // The npm package's pending records held a snapshot with the pending authorization.
    let mut pending_record = full_snapshot();
    pending_record.tokens = None;
    let (k, e) = PersistedEntry::decode(&pending_record.to_json(), Some("alice")).unwrap();
    assert_eq!(k, key());
    assert_eq!(e, PersistedEntry { tokens: None, dpop_key: None, ..full.clone() });
    // A newer snapshot version is refused by name.
    let e =
        PersistedEntry::decode(&text.replacen(r#""version":1"#, r#""version":9"#, 1), Some("a"))
            .unwrap_err();
    assert!(e.to_string().contains("a flow snapshot of version 9 is not supported"), "{e}");
}

#[test]
fn a_snapshot_is_read_strictly_and_only_for_its_issuer() {
    let mut snapshot = full_snapshot();
    snapshot.pending = None;
    let mut other = snapshot.registrations[0].clone();
    other.issuer = "https://other-as.example".into();
    other.client_id = "other-client".into();
    snapshot.registrations.insert(0, other);
    let text = snapshot.to_json();
    let (k, e) = PersistedEntry::decode(&text, Some("alice")).unwrap();
    assert_eq!(k.issuer, ISSUER);
    assert_eq!(
        e.registration.unwrap().issuer,
        ISSUER,
        "the other issuer's registration is left out"
    );
    let e = PersistedEntry::decode(
        &text.replacen(r#""version":1"#, r#""version":1,"x":2"#, 1),
        Some("a"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("entry.x: unknown member (in a flow snapshot)"), "{e}");
    let e = PersistedEntry::decode(
        r#"{"version":1,"server_url":"https://mcp.example.com/mcp"}"#,
        Some("a"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("holds no tokens, discovery or pending authorization"), "{e}");
}
