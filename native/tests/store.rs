//! Token stores: the in-memory store and the encrypted file store.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use mcp_oauth::core::registration::{ClientRegistration, IdentitySource};
use mcp_oauth::core::secret::{AccessToken, ClientSecret, RefreshToken};
use mcp_oauth::core::time::UnixTime;
use mcp_oauth::core::token::{TokenEndpointAuth, TokenSet};
use mcp_oauth::core::Discovery;
use mcp_oauth::store::{
    FileStore, KeySource, MemoryStore, StoreError, StoreKey, StoredEntry, TokenStore,
};

const KEY: [u8; 32] = [7; 32];
const ACCESS: &str = "access-token-SECRET-a1b2c3";
const REFRESH: &str = "refresh-token-SECRET-d4e5f6";
const CLIENT_SECRET: &str = "client-secret-SECRET-g7h8i9";

fn key(user: &str, resource: &str, issuer: &str) -> StoreKey {
    StoreKey { user: user.into(), resource: resource.into(), issuer: issuer.into() }
}

fn alice() -> StoreKey {
    key("alice", "https://mcp.example.com/mcp", "https://auth.example.com")
}

fn entry(tag: &str) -> StoredEntry {
    StoredEntry {
        tokens: Some(TokenSet {
            access_token: AccessToken::new(format!("{ACCESS}{tag}")),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new(format!("{REFRESH}{tag}"))),
            expires_at: Some(UnixTime(123)),
            scope: Some("x".into()),
            id_token: None,
            received_at: UnixTime(100),
        }),
        registration: Some(ClientRegistration {
            issuer: "https://auth.example.com".into(),
            client_id: format!("client-{tag}"),
            client_secret: Some(ClientSecret::new(CLIENT_SECRET)),
            client_secret_expires_at: Some(UnixTime(999)),
            auth_method: TokenEndpointAuth::ClientSecretPost,
            redirect_uri: "http://127.0.0.1:8765/callback".into(),
            source: IdentitySource::Dynamic,
        }),
        discovery: Some(discovery()),
        ..Default::default()
    }
}

fn discovery() -> Discovery {
    Discovery::from_json(
        r#"{"server":{"issuer":"https://auth.example.com",
            "authorization_endpoint":"https://auth.example.com/authorize",
            "token_endpoint":"https://auth.example.com/token",
            "revocation_endpoint":"https://auth.example.com/revoke",
            "code_challenge_methods_supported":["S256"],
            "authorization_response_iss_parameter_supported":true,
            "client_id_metadata_document_supported":false},
          "legacy":false,"cache_until":4000}"#,
    )
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn private_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().permissions(fs::Permissions::from_mode(0o700)).tempdir().unwrap()
}

fn open(dir: &Path) -> FileStore {
    FileStore::open(dir, KeySource::Bytes(KEY)).unwrap()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn assert_undecryptable(result: Result<impl std::fmt::Debug, StoreError>, path: &Path) {
    match result {
        Err(StoreError::Undecryptable { path: p }) => assert_eq!(p, path.display().to_string()),
        other => panic!("expected Undecryptable for {}, got {other:?}", path.display()),
    }
}

/// The contract every store must meet, through `dyn TokenStore`.
async fn round_trip(store: &dyn TokenStore) {
    let a = alice();
    let a2 = key("alice", "https://other.example/mcp", "https://auth.example.com");
    let a3 = key("alice", "https://mcp.example.com/mcp", "https://other-as.example");
    let b = key("bob", "https://mcp.example.com/mcp", "https://auth.example.com");

    assert_eq!(store.load(&a).await.unwrap(), None);
    assert_eq!(store.list("alice").await.unwrap(), vec![]);

    store.save(&a, &entry("1")).await.unwrap();
    assert_eq!(store.load(&a).await.unwrap(), Some(entry("1")));
    // The secrets themselves survive (PartialEq on secrets compares the values).
    let loaded = store.load(&a).await.unwrap().unwrap();
    let tokens = loaded.tokens.unwrap();
    assert_eq!(tokens.access_token.secret(), format!("{ACCESS}1"));
    assert_eq!(tokens.refresh_token.unwrap().secret(), format!("{REFRESH}1"));
    assert_eq!(tokens.expires_at, Some(UnixTime(123)));
    assert_eq!(loaded.registration.unwrap().client_secret.unwrap().secret(), CLIENT_SECRET);
    assert_eq!(loaded.discovery, Some(discovery()));

    // Replacing.
    store.save(&a, &entry("2")).await.unwrap();
    assert_eq!(store.load(&a).await.unwrap(), Some(entry("2")));

    // Partial entries.
    let only_reg = StoredEntry { registration: entry("3").registration, ..Default::default() };
    store.save(&a2, &only_reg).await.unwrap();
    store.save(&a3, &StoredEntry::default()).await.unwrap();
    store.save(&b, &entry("b")).await.unwrap();
    assert_eq!(store.load(&a2).await.unwrap(), Some(only_reg));
    assert_eq!(store.load(&a3).await.unwrap(), Some(StoredEntry::default()));

    // Listing is per user.
    let mut alices = vec![a.clone(), a2.clone(), a3.clone()];
    alices.sort();
    assert_eq!(store.list("alice").await.unwrap(), alices);
    assert_eq!(store.list("bob").await.unwrap(), vec![b.clone()]);
    assert_eq!(store.list("carol").await.unwrap(), vec![]);
    assert_eq!(store.list("alic").await.unwrap(), vec![]);

    // Deleting, including what is absent.
    store.delete(&a).await.unwrap();
    assert_eq!(store.load(&a).await.unwrap(), None);
    store.delete(&a).await.unwrap();
    store.delete(&key("nobody", "https://x.example", "https://y.example")).await.unwrap();
    assert_eq!(store.list("alice").await.unwrap().len(), 2);
    assert_eq!(store.load(&b).await.unwrap(), Some(entry("b")));
}

#[tokio::test]
async fn memory_store_round_trip() {
    round_trip(&MemoryStore::new()).await;
}

#[tokio::test]
async fn file_store_round_trip_and_survives_reopen() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    round_trip(&open(&dir)).await;

    let reopened = open(&dir);
    assert_eq!(reopened.load(&alice()).await.unwrap(), None);
    let b = key("bob", "https://mcp.example.com/mcp", "https://auth.example.com");
    assert_eq!(reopened.load(&b).await.unwrap(), Some(entry("b")));
    assert_eq!(reopened.list("alice").await.unwrap().len(), 2);
    // One file per key, named as documented, nothing else.
    let names = file_names(&dir);
    assert_eq!(names.len(), 3, "{names:?}");
    for n in &names {
        assert!(n.ends_with(".entry") && n.len() == 16 + 1 + 32 + 6, "{n}");
    }
    assert!(names
        .contains(&reopened.entry_path(&b).file_name().unwrap().to_string_lossy().into_owned()));
}

#[tokio::test]
async fn file_modes_are_private() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("nested").join("store");
    let store = open(&dir);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    store.save(&alice(), &entry("1")).await.unwrap();
    let path = store.entry_path(&alice());
    assert_eq!(mode(&path), 0o600);

    // A replaced entry is private again even if someone loosened the old one.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    store.save(&alice(), &entry("2")).await.unwrap();
    assert_eq!(mode(&path), 0o600);

    let key_file = tmp.path().join("keys").join("store.key");
    FileStore::open(tmp.path().join("other"), KeySource::KeyFile(key_file.clone())).unwrap();
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(key_file.parent().unwrap()), 0o700);
}

#[tokio::test]
async fn default_key_source_uses_a_key_file_beside_the_directory_unless_the_env_is_set() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    let store = FileStore::open(&dir, KeySource::Default(dir.clone())).unwrap();
    store.save(&alice(), &entry("1")).await.unwrap();
    let key_file = tmp.path().join("store-key").join("store.key");
    assert_eq!(KeySource::default_key_file(&dir).unwrap(), key_file);
    assert!(!dir.join("store.key").exists(), "no key among the entries");
    if std::env::var_os(KeySource::ENV_VAR).is_some() {
        assert!(!key_file.exists());
    } else {
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(key_file.parent().unwrap()), 0o700);
        assert_eq!(store.list("alice").await.unwrap(), vec![alice()]);
        let same = FileStore::open(&dir, KeySource::KeyFile(key_file)).unwrap();
        assert_eq!(same.load(&alice()).await.unwrap(), Some(entry("1")));
    }
}

#[tokio::test]
async fn a_key_file_inside_the_store_is_moved_out_once_and_nothing_is_lost() {
    if std::env::var_os(KeySource::ENV_VAR).is_some() {
        return;
    }
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    // The layout of earlier versions: the key among the entries.
    let old_key = dir.join("store.key");
    let store = FileStore::open(&dir, KeySource::KeyFile(old_key.clone())).unwrap();
    store.save(&alice(), &entry("1")).await.unwrap();
    let reopened = FileStore::open(&dir, KeySource::Default(dir.clone())).unwrap();
    assert_eq!(reopened.load(&alice()).await.unwrap(), Some(entry("1")));
    assert!(!old_key.exists(), "moved out of the store directory");
    let new_key = KeySource::default_key_file(&dir).unwrap();
    assert_eq!(mode(&new_key), 0o600);
    // And again: nothing left to move, same key.
    let again = FileStore::open(&dir, KeySource::Default(dir.clone())).unwrap();
    assert_eq!(again.load(&alice()).await.unwrap(), Some(entry("1")));
}

#[tokio::test]
async fn secrets_are_not_stored_in_clear() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    store.save(&alice(), &entry("1")).await.unwrap();
    let bytes = fs::read(store.entry_path(&alice())).unwrap();
    assert!(bytes.starts_with(b"MCPOAUTH1"));
    let text = String::from_utf8_lossy(&bytes);
    for needle in [ACCESS, REFRESH, CLIENT_SECRET, "SECRET", "alice", "mcp.example.com", "Bearer"] {
        assert!(!text.contains(needle), "{needle} found in the file");
    }
    // Neither does the file name carry the key.
    let name = store.entry_path(&alice()).display().to_string();
    assert!(!name.contains("alice") && !name.contains("example"), "{name}");
    // Two saves of the same entry use fresh nonces.
    store.save(&alice(), &entry("1")).await.unwrap();
    assert_ne!(fs::read(store.entry_path(&alice())).unwrap(), bytes);
}

#[tokio::test]
async fn a_flipped_byte_is_undecryptable_and_left_untouched() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    store.save(&alice(), &entry("1")).await.unwrap();
    let path = store.entry_path(&alice());
    let original = fs::read(&path).unwrap();
    // Magic, nonce, ciphertext, tag.
    for i in [0, 9, 20, 21, 40, original.len() - 1] {
        let mut tampered = original.clone();
        tampered[i] ^= 0x01;
        fs::write(&path, &tampered).unwrap();
        assert_undecryptable(store.load(&alice()).await, &path);
        assert_undecryptable(store.list("alice").await, &path);
        assert_eq!(fs::read(&path).unwrap(), tampered, "byte {i}: file changed");
    }
    // Truncated files, down to empty.
    for len in [original.len() - 1, 9 + 12 + 16, 9 + 12, 9, 3, 0] {
        fs::write(&path, &original[..len]).unwrap();
        assert_undecryptable(store.load(&alice()).await, &path);
        assert_eq!(fs::read(&path).unwrap(), &original[..len]);
    }
    // Restoring the bytes restores the entry: nothing was replaced behind our back.
    fs::write(&path, &original).unwrap();
    assert_eq!(store.load(&alice()).await.unwrap(), Some(entry("1")));
}

#[tokio::test]
async fn an_entry_moved_onto_another_keys_name_is_undecryptable() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    let bob = key("bob", "https://mcp.example.com/mcp", "https://auth.example.com");
    let alice_other = key("alice", "https://mcp.example.com/mcp", "https://other.example");
    store.save(&alice(), &entry("alice")).await.unwrap();
    store.save(&bob, &entry("bob")).await.unwrap();

    // Another user's file renamed onto bob's name.
    fs::rename(store.entry_path(&alice()), store.entry_path(&bob)).unwrap();
    assert_undecryptable(store.load(&bob).await, &store.entry_path(&bob));
    assert_undecryptable(store.list("bob").await, &store.entry_path(&bob));
    assert_eq!(store.load(&alice()).await.unwrap(), None);

    // The same user's file copied onto another of their keys.
    store.save(&alice(), &entry("alice")).await.unwrap();
    fs::copy(store.entry_path(&alice()), store.entry_path(&alice_other)).unwrap();
    assert_undecryptable(store.load(&alice_other).await, &store.entry_path(&alice_other));
    assert_eq!(store.load(&alice()).await.unwrap(), Some(entry("alice")));
}

#[tokio::test]
async fn a_wrong_key_is_undecryptable_and_nothing_is_lost() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    store.save(&alice(), &entry("1")).await.unwrap();
    let path = store.entry_path(&alice());
    let before = fs::read(&path).unwrap();

    let wrong = FileStore::open(tmp.path(), KeySource::Bytes([8; 32])).unwrap();
    assert_undecryptable(wrong.load(&alice()).await, &path);
    assert_undecryptable(wrong.list("alice").await, &path);
    let message = wrong.load(&alice()).await.unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(store.load(&alice()).await.unwrap(), Some(entry("1")));
}

/// Writes a file that authenticates under `KEY` and the file name of `name_of`, holding `plain`.
fn forge(store: &FileStore, name_of: &StoreKey, plain: &[u8]) -> std::path::PathBuf {
    let path = store.entry_path(name_of);
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&KEY));
    let nonce = [3u8; 12];
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: name.as_bytes() })
        .unwrap();
    let mut bytes = b"MCPOAUTH1".to_vec();
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn decrypted_content_must_match_its_key() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    let bob = key("bob", "https://mcp.example.com/mcp", "https://auth.example.com");

    // A file that authenticates (the forger has the key) but holds bob's entry under alice's name.
    let path = forge(&store, &alice(), entry("b").encode(&bob).as_bytes());
    for result in [store.load(&alice()).await.map(|_| ()), store.list("alice").await.map(|_| ())] {
        match result {
            Err(StoreError::Corrupt { path: p, .. }) => assert_eq!(p, path.display().to_string()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    // The proper form of the same forgery is accepted, so the check above is the key check.
    forge(&store, &alice(), entry("a").encode(&alice()).as_bytes());
    assert_eq!(store.load(&alice()).await.unwrap(), Some(entry("a")));

    // Two keys whose file names collide (resource + "\n" + issuer): neither reads the other's.
    let one = key("carol", "https://r.example\nx", "https://i.example");
    let two = key("carol", "https://r.example", "x\nhttps://i.example");
    assert_eq!(store.entry_path(&one), store.entry_path(&two));
    store.save(&one, &entry("1")).await.unwrap();
    assert_eq!(store.load(&one).await.unwrap(), Some(entry("1")));
    assert!(matches!(store.load(&two).await, Err(StoreError::Corrupt { .. })));

    for plain in [&b"not json"[..], b"{}", &[0xff, 0xfe]] {
        forge(&store, &alice(), plain);
        assert!(matches!(store.load(&alice()).await, Err(StoreError::Corrupt { .. })));
        assert!(path.exists());
    }
}

#[test]
fn key_text_formats() {
    let bytes: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3));
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = mcp_oauth::core::__private::encoding::base64_std(&bytes);
    assert_eq!(b64.len(), 44);

    assert_eq!(KeySource::parse_key_text(&hex).unwrap(), bytes);
    assert_eq!(KeySource::parse_key_text(&hex.to_uppercase()).unwrap(), bytes);
    assert_eq!(KeySource::parse_key_text(&format!("  {hex}\n")).unwrap(), bytes);
    assert_eq!(KeySource::parse_key_text(&b64).unwrap(), bytes);
    assert_eq!(KeySource::parse_key_text(&format!("{b64}\n")).unwrap(), bytes);
    // A known vector: 32 zero bytes.
    assert_eq!(
        KeySource::parse_key_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap(),
        [0; 32]
    );
    assert_eq!(
        KeySource::parse_key_text("//////////////////////////////////////////8=").unwrap()[..31],
        [0xff; 31]
    );

    let short_b64 = mcp_oauth::core::__private::encoding::base64_std(&bytes[..31]);
    let bad = [
        String::new(),
        hex[..63].to_owned(),
        format!("{hex}0"),
        format!("{}g", &hex[..63]),
        format!("0x{}", &hex[..62]),
        short_b64,
        b64.trim_end_matches('=').to_owned(),
        b64.replace('=', "A"),
        mcp_oauth::core::__private::encoding::base64url_nopad(&[0xfb; 33]),
        "correct horse battery staple".to_owned(),
    ];
    for text in bad {
        match KeySource::parse_key_text(&text) {
            Err(StoreError::InvalidKey(m)) => {
                assert!(m.contains("64 hex") && m.contains("base64"), "{m}");
                assert!(text.is_empty() || !m.contains(&text), "the message echoes the key");
            }
            other => panic!("{text:?}: expected InvalidKey, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn key_files_in_every_form() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    open(&dir).save(&alice(), &entry("1")).await.unwrap();

    let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = mcp_oauth::core::__private::encoding::base64_std(&KEY);
    for (name, content) in
        [("raw", KEY.to_vec()), ("hex", format!("{hex}\n").into_bytes()), ("b64", b64.into_bytes())]
    {
        let key_file = tmp.path().join(name);
        fs::write(&key_file, &content).unwrap();
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
        let store = FileStore::open(&dir, KeySource::KeyFile(key_file.clone())).unwrap();
        assert_eq!(store.load(&alice()).await.unwrap(), Some(entry("1")), "{name}");
        assert_eq!(fs::read(&key_file).unwrap(), content, "{name}: key file rewritten");
    }

    for (name, content) in
        [("short", vec![7u8; 31]), ("long", vec![7u8; 33]), ("text", b"hunter2\n".to_vec())]
    {
        let key_file = tmp.path().join(name);
        fs::write(&key_file, &content).unwrap();
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
        match FileStore::open(&dir, KeySource::KeyFile(key_file.clone())) {
            Err(StoreError::InvalidKey(m)) => assert!(m.contains("64 hex"), "{m}"),
            other => panic!("{name}: expected InvalidKey, got {other:?}"),
        }
        assert_eq!(fs::read(&key_file).unwrap(), content, "{name}: key file replaced");
    }
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let tmp = private_tempdir();
    let key_file = tmp.path().join("store.key");
    fs::write(&key_file, KEY).unwrap();
    for loose in [0o644, 0o640, 0o604, 0o620, 0o660] {
        fs::set_permissions(&key_file, fs::Permissions::from_mode(loose)).unwrap();
        match FileStore::open(tmp.path().join("s"), KeySource::KeyFile(key_file.clone())) {
            Err(StoreError::InvalidKey(m)) => assert!(m.contains("chmod 600"), "{m}"),
            other => panic!("{loose:o}: expected InvalidKey, got {other:?}"),
        }
        assert_eq!(mode(&key_file), loose, "the mode was changed");
    }
    for ok in [0o600, 0o400] {
        fs::set_permissions(&key_file, fs::Permissions::from_mode(ok)).unwrap();
        FileStore::open(tmp.path().join("s"), KeySource::KeyFile(key_file.clone())).unwrap();
    }
}

#[tokio::test]
async fn a_generated_key_file_is_reused() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    let key_file = tmp.path().join("store.key");
    let store = FileStore::open(&dir, KeySource::KeyFile(key_file.clone())).unwrap();
    let generated = fs::read(&key_file).unwrap();
    assert_eq!(mode(&key_file), 0o600);
    let text = std::str::from_utf8(&generated).unwrap();
    let key = KeySource::parse_key_text(text).unwrap();
    assert_ne!(key, [0; 32]);
    store.save(&alice(), &entry("1")).await.unwrap();
    drop(store);

    let reopened = FileStore::open(&dir, KeySource::KeyFile(key_file.clone())).unwrap();
    assert_eq!(fs::read(&key_file).unwrap(), generated);
    assert_eq!(reopened.load(&alice()).await.unwrap(), Some(entry("1")));
    // The generated key is the one in the file.
    let by_bytes = FileStore::open(&dir, KeySource::Bytes(key)).unwrap();
    assert_eq!(by_bytes.load(&alice()).await.unwrap(), Some(entry("1")));

    // Another generated key file holds a different key.
    let other = FileStore::open(&dir, KeySource::KeyFile(tmp.path().join("other.key"))).unwrap();
    assert_undecryptable(other.load(&alice()).await, &reopened.entry_path(&alice()));
    // No temporary files were left behind by key generation.
    assert!(file_names(tmp.path()).iter().all(|n| !n.contains(".tmp-")));
}

#[tokio::test]
async fn concurrent_key_generation_agrees_on_one_key() {
    let tmp = private_tempdir();
    let dir = tmp.path().join("store");
    let key_file = tmp.path().join("store.key");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (dir, key_file) = (dir.clone(), key_file.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            let store = FileStore::open(&dir, KeySource::KeyFile(key_file)).unwrap();
            let k = key(&format!("user{i}"), "https://r.example", "https://i.example");
            (store, k)
        }));
    }
    let mut opened = Vec::new();
    for t in tasks {
        opened.push(t.await.unwrap());
    }
    for (store, k) in &opened {
        store.save(k, &entry("c")).await.unwrap();
    }
    let check = FileStore::open(&dir, KeySource::KeyFile(key_file)).unwrap();
    for (_, k) in &opened {
        assert_eq!(check.load(k).await.unwrap(), Some(entry("c")));
    }
    assert!(file_names(tmp.path()).iter().all(|n| !n.contains(".tmp-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_are_all_readable() {
    let tmp = private_tempdir();
    let store = Arc::new(open(tmp.path()));
    let keys: Vec<StoreKey> = (0..50)
        .map(|i| key(&format!("user{}", i % 5), &format!("https://r{i}.example/mcp"), "https://as"))
        .collect();
    let mut tasks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (store, k) = (Arc::clone(&store), k.clone());
        tasks.push(tokio::spawn(async move {
            // Several rounds, and everyone also hammers one shared key.
            for round in 0..3 {
                store.save(&k, &entry(&format!("{i}-{round}"))).await.unwrap();
                store.save(&alice(), &entry(&format!("shared-{i}"))).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(store.load(k).await.unwrap(), Some(entry(&format!("{i}-2"))));
    }
    let shared = store.load(&alice()).await.unwrap().unwrap();
    let tag = shared.registration.as_ref().unwrap().client_id.trim_start_matches("client-");
    assert_eq!(shared, entry(tag));
    for u in 0..5 {
        assert_eq!(store.list(&format!("user{u}")).await.unwrap().len(), 10);
    }
    let names = file_names(tmp.path());
    assert_eq!(names.len(), 51, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".entry") && !n.starts_with('.')), "{names:?}");
}

/// Files written before the core's entry format (version 0: the key members, then tokens,
/// registration and discovery, no `format`/`version`) are still read, and rewritten in the
/// current format on the next save.
#[tokio::test]
async fn version_0_files_are_read_and_rewritten_in_the_current_format() {
    let tmp = private_tempdir();
    let store = open(tmp.path());
    let e = entry("old");
    let v0 = format!(
        r#"{{"user":"alice","resource":"https://mcp.example.com/mcp","issuer":"https://auth.example.com","tokens":{},"registration":{},"discovery":{}}}"#,
        e.tokens.as_ref().unwrap().to_json().to_text(),
        e.registration.as_ref().unwrap().to_json().to_text(),
        e.discovery.as_ref().unwrap().to_json().to_text(),
    );
    forge(&store, &alice(), v0.as_bytes());
    assert_eq!(store.load(&alice()).await.unwrap(), Some(e.clone()));
    assert_eq!(store.list("alice").await.unwrap(), vec![alice()]);
    store.save(&alice(), &e).await.unwrap();
    assert_eq!(store.load(&alice()).await.unwrap(), Some(e.clone()));
    // The same text with a member it never had is refused, naming it.
    forge(&store, &alice(), v0.replacen(r#""user""#, r#""version":0,"user""#, 1).as_bytes());
    match store.load(&alice()).await {
        Err(StoreError::Corrupt { reason, .. }) => {
            assert!(reason.contains("entry.format: missing"), "{reason}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A pending authorization as the core writes it (holds the PKCE verifier and `state`).
fn pending_authorization() -> mcp_oauth::core::authorize::PendingAuthorization {
    let text = serde_json::json!({
        "state": "state-SECRET-j1k2",
        "verifier": "verifier-SECRET-l3m4-0123456789012345678901234567890123",
        "issuer": "https://as.example",
        "token_endpoint": "https://as.example/token",
        "iss_parameter_supported": true,
        "redirect_uri": "http://127.0.0.1:33418/callback",
        "resource": "https://mcp.example/mcp",
        "scope": "mcp:tools",
        "client_id": "client-1",
        "authorization_url": "https://as.example/authorize?x=1",
        "created_at": 1_700_000_000u64,
    })
    .to_string();
    mcp_oauth::core::authorize::PendingAuthorization::from_json(&text).unwrap()
}

#[tokio::test]
async fn the_flow_files_seal_the_pending_authorization_and_lock_across_handles() {
    let dir = private_tempdir();
    let store = open(dir.path());
    let (user, resource) = ("alice", "https://mcp.example/mcp");
    assert!(store.load_flow_pending(user, resource).await.unwrap().is_none());
    let pending = pending_authorization();
    store.save_flow_pending(user, resource, &pending).await.unwrap();
    let loaded = store.load_flow_pending(user, resource).await.unwrap().expect("stored");
    assert_eq!(loaded.to_json().to_text(), pending.to_json().to_text());
    // Another user, another server: nothing.
    assert!(store.load_flow_pending("bob", resource).await.unwrap().is_none());
    assert!(store.load_flow_pending(user, "https://other.example/").await.unwrap().is_none());

    let names = file_names(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    let path = dir.path().join(&names[0]);
    assert!(names[0].ends_with(".flow"), "{names:?}");
    assert_eq!(mode(&path), 0o600);
    let bytes = fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("SECRET"), "the verifier and state are sealed");

    // Copied onto another user's name: the name is the additional data, it does not open.
    let bob = {
        store.save_flow_pending("bob", resource, &pending).await.unwrap();
        let bob_name = file_names(dir.path()).into_iter().find(|n| n != &names[0]).unwrap();
        dir.path().join(bob_name)
    };
    fs::copy(&path, &bob).unwrap();
    assert_undecryptable(store.load_flow_pending("bob", resource).await, &bob);
    // A flipped byte: refused, and the file is left as it is.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    fs::write(&path, &flipped).unwrap();
    assert_undecryptable(store.load_flow_pending(user, resource).await, &path);
    assert_eq!(fs::read(&path).unwrap(), flipped);

    store.delete_flow_pending(user, resource).await.unwrap();
    store.delete_flow_pending(user, resource).await.unwrap();
    assert!(store.load_flow_pending(user, resource).await.unwrap().is_none());

    // The flow lock: one holder at a time across handles (processes use the same file).
    let other = open(dir.path());
    let wait = std::time::Duration::from_millis(100);
    let held = store.lock_flow(user, resource, wait).await.unwrap().expect("free");
    assert!(other.lock_flow(user, resource, wait).await.unwrap().is_none(), "taken");
    assert!(other.lock_flow("bob", resource, wait).await.unwrap().is_some(), "per user");
    drop(held);
    assert!(other.lock_flow(user, resource, wait).await.unwrap().is_some(), "released on drop");
}
