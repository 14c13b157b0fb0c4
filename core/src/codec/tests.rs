use super::*;
use crate::flow::tests_support::full_snapshot;

#[test]
fn snapshot_round_trips_every_member() {
    let snap = full_snapshot();
    let text = snap.to_json();
    let back = FlowSnapshot::from_json(&text).unwrap();
    assert_eq!(back, snap);
    // Stable text: writing the read value gives the same bytes.
    assert_eq!(back.to_json(), text);
}

#[test]
fn parts_round_trip() {
    let snap = full_snapshot();
    let tokens = &snap.tokens.as_ref().unwrap().tokens;
    assert_eq!(&TokenSet::from_json(&tokens.to_json().to_text()).unwrap(), tokens);
    let reg = &snap.registrations[0];
    assert_eq!(&ClientRegistration::from_json(&reg.to_json().to_text()).unwrap(), reg);
    let pending = snap.pending.as_ref().unwrap();
    assert_eq!(&PendingAuthorization::from_json(&pending.to_json().to_text()).unwrap(), pending);
    let d = snap.discovery.as_ref().unwrap();
    assert_eq!(&Discovery::from_json(&d.to_json().to_text()).unwrap(), d);
}

#[test]
fn errors_name_the_path() {
    let e = TokenSet::from_json(
        r#"{"access_token":"a","token_type":"Bearer","expires_at":"soon","received_at":1}"#,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "cannot restore the snapshot: tokens.expires_at: expected a number");
    let e = TokenSet::from_json(r#"{"token_type":"Bearer","received_at":1}"#).unwrap_err();
    assert_eq!(e.to_string(), "cannot restore the snapshot: tokens.access_token: missing");
    let e = ClientRegistration::from_json(
        r#"{"issuer":"i","client_id":"c","auth_method":"magic","redirect_uri":"r","source":"dynamic"}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("registration.auth_method: unknown method `magic`"), "{e}");
    let e = FlowSnapshot::from_json("{").unwrap_err();
    assert_eq!(e.code(), "snapshot_invalid");
    let e = FlowSnapshot::from_json(r#"{"version":2,"server_url":"x"}"#).unwrap_err();
    assert!(e.to_string().contains("version 2 is not supported"), "{e}");
    let mut text = full_snapshot().to_json();
    text = text.replace("https://auth.example.com/token", "http://auth.example.com/token");
    let e = FlowSnapshot::from_json(&text).unwrap_err();
    assert!(e.to_string().contains("snapshot.discovery.server.token_endpoint"), "{e}");
    let e = FlowSnapshot::from_json(r#"{"version":1,"server_url":"x","registrations":[{}]}"#)
        .unwrap_err();
    assert!(e.to_string().contains("snapshot.registrations[0].auth_method: missing"), "{e}");
}
