//! [`FileStore`]: one AES-256-GCM encrypted file per key; [`KeySource`]: where its key comes from.
//!
//! Layout of the store directory (mode 0700 when the store creates it):
//!
//! - `<hex(sha256(user))[..16]>-<hex(sha256(resource + "\n" + issuer))[..32]>.entry`, mode 0600:
//!   the magic bytes `MCPOAUTH1`, a 12-byte random nonce, then the AES-256-GCM ciphertext (with
//!   its tag) of [`StoredEntry::encode`] (the core's entry format). The file name is the additional authenticated data, so
//!   an entry copied or renamed onto another key's name does not authenticate.
//! - `.<name>.tmp-<random>`: a write in progress, renamed over `<name>` once complete and synced.
//! - `<entry name>.lock`, mode 0600, empty: the refresh lock of an entry ([`TokenStore::lock`]),
//!   an advisory lock on the open file (`flock`), so it is held across processes and released
//!   by the OS when its holder exits or crashes. Two CLI runs refreshing the same entry thus take
//!   turns: the second re-reads the tokens the first stored instead of using the rotated-away
//!   refresh token (which the server would answer with `invalid_grant`, RFC 6749 §5.2). Lock
//!   files are never removed: removing one while another process waits on it would let two
//!   holders lock different files.
//!
//! - `<hex(sha256(user))[..16]>-<hex(sha256(resource))[..32]>.flow` and `.flow.lock`: one
//!   authorization at a time per (user, MCP server) across processes, and the one waiting for
//!   the browser (the `proxy` command; module `flow`).
//!
//! The key of [`KeySource::Default`] is not in the store directory (a copy or backup of the
//! entries then carries no key): it is `<dir>-key/store.key` beside it (directory 0700, file
//! 0600). A `store.key` left inside the directory by an earlier version is moved there once.
//! An existing store directory that its group or others can access (not 0700), and a key file
//! they can read (not 0600), are refused with an error naming the path and its mode.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file_io::{
    check_private_dir, ensure_dir, sync_dir, take_flock, write_atomic, write_temp,
};
use super::reseal::{ResealStore, Resealed};
use super::seal::{OpenedWith, Sealer, SealingKeys};
use super::{StoreError, StoreFuture, StoreKey, StoreLock, StoredEntry, TokenStore};

mod flow;
pub use flow::FlowLock;

const ENTRY_SUFFIX: &str = ".entry";
const KEY_FILE_NAME: &str = "store.key";
const KEY_FORMAT: &str =
    "expected a 32-byte key written as 64 hex characters or as 44 characters of standard base64";

/// Where a [`FileStore`]'s 32-byte AES-256 key comes from.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// The key itself.
    Bytes([u8; 32]),
    /// The environment variable `MCP_OAUTH_STORE_KEY` ([`KeySource::ENV_VAR`]): 64 hex characters
    /// or standard base64 (44 characters, padded) of 32 bytes.
    Env,
    /// A key file: 32 raw bytes, or their hex or base64 text form (surrounding whitespace
    /// ignored). It must not be accessible to group or others (mode 0600). When it does not
    /// exist, a random key is generated and written to it (hex text, mode 0600); an existing file
    /// is never replaced.
    KeyFile(PathBuf),
    /// [`KeySource::Env`] when `MCP_OAUTH_STORE_KEY` is set, otherwise the key file
    /// [`KeySource::default_key_file`] of the given store directory (a `store.key` inside the
    /// store directory, from an earlier version, is moved there first).
    Default(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(_) => f.write_str("Bytes(<redacted>)"),
            Self::Env => f.write_str("Env"),
            Self::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            Self::Default(d) => f.debug_tuple("Default").field(d).finish(),
        }
    }
}

impl KeySource {
    /// The environment variable [`KeySource::Env`] reads.
    pub const ENV_VAR: &'static str = "MCP_OAUTH_STORE_KEY";

    /// Parses the text form of a key, as in `MCP_OAUTH_STORE_KEY` or a text key file: 64 hex
    /// characters (either case) or standard base64 with padding (44 characters) of 32 bytes.
    /// Surrounding whitespace is ignored. The error never contains the text.
    pub fn parse_key_text(text: &str) -> Result<[u8; 32], StoreError> {
        parse_key(text).ok_or_else(|| StoreError::InvalidKey(KEY_FORMAT.to_owned()))
    }

    /// The key bytes: reads the environment or the key file, generating the key file if absent.
    pub fn resolve(&self) -> Result<[u8; 32], StoreError> {
        match self {
            Self::Bytes(k) => Ok(*k),
            Self::Env => key_from_env(),
            Self::KeyFile(path) => read_or_create_key_file(path),
            Self::Default(dir) => {
                if std::env::var_os(Self::ENV_VAR).is_some() {
                    key_from_env()
                } else {
                    let path = Self::default_key_file(dir)?;
                    migrate_key_file(&dir.join(KEY_FILE_NAME), &path)?;
                    read_or_create_key_file(&path)
                }
            }
        }
    }

    /// Where [`KeySource::Default`] keeps the key of store directory `dir`: `store.key` in the
    /// sibling directory `<dir>-key`, outside the entries' directory.
    pub fn default_key_file(dir: &Path) -> Result<PathBuf, StoreError> {
        let name = dir.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty() && *n != "..");
        let Some(name) = name else {
            return Err(StoreError::InvalidKey(format!(
                "the store directory {} has no name to put its key beside; pass a key file or set                  {}",
                dir.display(),
                Self::ENV_VAR
            )));
        };
        Ok(dir.with_file_name(format!("{name}-key")).join(KEY_FILE_NAME))
    }
}

/// Moves a key file from `old` (inside the store directory) to `new`, never losing it: the key
/// is published at `new` before `old` is removed, and when both exist they must hold one key.
fn migrate_key_file(old: &Path, new: &Path) -> Result<(), StoreError> {
    let meta = match fs::metadata(old) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(old, e)),
    };
    let key = read_key_file(old, &meta)?;
    let published = match fs::metadata(new) {
        Ok(meta) => read_key_file(new, &meta)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => publish_key_file(new, &key)?,
        Err(e) => return Err(io_error(new, e)),
    };
    if published != key {
        return Err(StoreError::InvalidKey(format!(
            "two different keys: {} and {}; keep the one that decrypts the entries and remove              the other",
            old.display(),
            new.display()
        )));
    }
    fs::remove_file(old).map_err(|e| io_error(old, e))?;
    let (dir, _) = split_path(old)?;
    sync_dir(&dir)
}

fn key_from_env() -> Result<[u8; 32], StoreError> {
    let var = KeySource::ENV_VAR;
    let value = std::env::var(var).map_err(|e| match e {
        std::env::VarError::NotPresent => StoreError::InvalidKey(format!("{var} is not set")),
        std::env::VarError::NotUnicode(_) => {
            StoreError::InvalidKey(format!("{var} is not valid text: {KEY_FORMAT}"))
        }
    })?;
    parse_key(&value).ok_or_else(|| StoreError::InvalidKey(format!("{var}: {KEY_FORMAT}")))
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = match text.len() {
        64 => decode_hex(text)?,
        44 => decode_base64_std(text)?,
        _ => return None,
    };
    bytes.try_into().ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?)).collect()
}

/// Standard base64 (RFC 4648 §4) with padding; only the canonical encoding is accepted.
fn decode_base64_std(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Rejects wrong padding and non-zero trailing bits: one text per key.
    (mcp_oauth_core::__private::encoding::base64_std(&out) == text).then_some(out)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

pub(super) fn random_bytes<const N: usize>(path: &Path) -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| io_error(path, io::Error::other(e.to_string())))?;
    Ok(buf)
}

pub(super) fn io_error(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), source }
}

fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], StoreError> {
    match fs::metadata(path) {
        Ok(meta) => read_key_file(path, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_key_file(path),
        Err(e) => Err(io_error(path, e)),
    }
}

fn read_key_file(path: &Path, meta: &fs::Metadata) -> Result<[u8; 32], StoreError> {
    let shown = path.display();
    if !meta.is_file() {
        return Err(StoreError::InvalidKey(format!("key file {shown} is not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::InvalidKey(format!(
                "key file {shown} has mode {mode:03o}, so others than its owner may read it; \
                 run `chmod 600 {shown}` (and consider replacing the key if it leaked)"
            )));
        }
    }
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    std::str::from_utf8(&bytes).ok().and_then(parse_key).ok_or_else(|| {
        StoreError::InvalidKey(format!("key file {shown}: {KEY_FORMAT}, or 32 raw bytes"))
    })
}

/// Generates a key and publishes it at `path` without ever replacing an existing file: if another
/// process created the key file first, its key is used.
fn create_key_file(path: &Path) -> Result<[u8; 32], StoreError> {
    publish_key_file(path, &random_bytes(path)?)
}

/// Writes `key` at `path` unless a key file is already there; returns the key at `path`.
fn publish_key_file(path: &Path, key: &[u8; 32]) -> Result<[u8; 32], StoreError> {
    let key = *key;
    let (dir, name) = split_path(path)?;
    ensure_dir(&dir)?;
    let text = format!("{}\n", hex(&key));
    let tmp = write_temp(&dir, &name, text.as_bytes())?;
    // A hard link publishes the complete file atomically and fails if the name is taken.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(&dir)?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::metadata(path).map_err(|e| io_error(path, e))?;
            read_key_file(path, &meta)
        }
        Err(e) => Err(io_error(path, e)),
    }
}

fn split_path(path: &Path) -> Result<(PathBuf, String), StoreError> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io_error(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

/// A [`TokenStore`] keeping one encrypted file per key in a directory. Cloning is cheap and the
/// clones share the directory and key. Safe for concurrent use by many tasks; writes are atomic.
/// Unreadable entries are reported (naming the file) and never replaced or removed by reads.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    sealer: Sealer,
    /// The refresh locks this handle holds: lock token → the locked file (unlocked on drop).
    locks: std::sync::Mutex<std::collections::HashMap<String, File>>,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory (mode 0700) if missing, and obtains the
    /// key from `key` (which may generate a key file). An existing directory that its group or
    /// others can access is refused ([`StoreError::InsecurePermissions`]). Blocks on the file
    /// system.
    pub fn open(dir: impl Into<PathBuf>, key: KeySource) -> Result<FileStore, StoreError> {
        FileStore::open_with_previous_keys(dir, key, &[])
    }

    /// [`FileStore::open`], also opening entries sealed with one of the `previous` keys (key
    /// rotation: entries are always sealed with `key`, and an entry read with a previous key is
    /// re-sealed with `key` when it is next written or read).
    pub fn open_with_previous_keys(
        dir: impl Into<PathBuf>,
        key: KeySource,
        previous: &[[u8; 32]],
    ) -> Result<FileStore, StoreError> {
        let dir = dir.into();
        ensure_dir(&dir)?;
        check_private_dir(&dir)?;
        let keys = SealingKeys::new(key.resolve()?).with_previous(previous.iter().copied());
        let sealer = Sealer::new(&keys);
        Ok(FileStore { inner: Arc::new(Inner { dir, sealer, locks: Default::default() }) })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file that holds (or would hold) the entry under `key`.
    pub fn entry_path(&self, key: &StoreKey) -> PathBuf {
        self.inner.dir.join(entry_file_name(key))
    }

    /// Runs `f` on the blocking pool.
    fn blocking<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let dir = inner.dir.display().to_string();
            match tokio::task::spawn_blocking(move || f(&inner)).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(StoreError::Io { path: dir, source: io::Error::other(e) }),
            }
        })
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn user_prefix(user: &str) -> String {
    let mut h = sha256_hex(user.as_bytes());
    h.truncate(16);
    h.push('-');
    h
}

fn entry_file_name(key: &StoreKey) -> String {
    let mut rest = Sha256::new();
    rest.update(key.resource.as_bytes());
    rest.update(b"\n");
    rest.update(key.issuer.as_bytes());
    let rest = hex(&rest.finalize());
    format!("{}{}{ENTRY_SUFFIX}", user_prefix(&key.user), &rest[..32])
}

impl Inner {
    fn encrypt(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let path = self.dir.join(name);
        self.sealer
            .seal(name.as_bytes(), plaintext)
            .map_err(|e| io_error(&path, io::Error::other(e)))
    }

    /// The bytes of file `name`, `None` when there is no such file.
    fn read_raw(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// The entry in file `name` with the key it names, `None` when there is no such file.
    fn read_entry(&self, name: &str) -> Result<Option<(StoreKey, StoredEntry)>, StoreError> {
        Ok(self.read_opened(name)?.map(|(key, entry, _)| (key, entry)))
    }

    /// [`Inner::read_entry`], and which key opened it.
    #[allow(clippy::type_complexity)]
    fn read_opened(
        &self,
        name: &str,
    ) -> Result<Option<(StoreKey, StoredEntry, OpenedWith)>, StoreError> {
        let path = self.dir.join(name);
        let Some(bytes) = self.read_raw(name)? else { return Ok(None) };
        let (plain, with) = self
            .sealer
            .open(name.as_bytes(), &bytes)
            .ok_or_else(|| StoreError::Undecryptable { path: path.display().to_string() })?;
        let corrupt =
            |reason: String| StoreError::Corrupt { path: path.display().to_string(), reason };
        let text = String::from_utf8(plain).map_err(|_| corrupt("not UTF-8 text".to_owned()))?;
        let (key, entry) = StoredEntry::decode(&text, None).map_err(|e| corrupt(e.to_string()))?;
        if entry_file_name(&key) != name {
            return Err(corrupt("the entry names a key that does not match its file name".into()));
        }
        Ok(Some((key, entry, with)))
    }

    fn load(&self, key: &StoreKey) -> Result<Option<StoredEntry>, StoreError> {
        let name = entry_file_name(key);
        match self.read_opened(&name)? {
            None => Ok(None),
            Some((found, entry, with)) if found == *key => {
                if with == OpenedWith::Previous {
                    // Re-sealed with the current key now, unless a refresh holds the entry's
                    // lock (it writes the entry itself, sealed with the current key). Best
                    // effort: the entry read fine.
                    let _ = self.reseal(&name, Duration::ZERO);
                }
                Ok(Some(entry))
            }
            Some(_) => Err(StoreError::Corrupt {
                path: self.dir.join(&name).display().to_string(),
                reason: "the entry belongs to another key with the same file name".to_owned(),
            }),
        }
    }

    fn save(&self, key: &StoreKey, entry: &StoredEntry) -> Result<(), StoreError> {
        let name = entry_file_name(key);
        let sealed = self.encrypt(&name, entry.encode(key).as_bytes())?;
        write_atomic(&self.dir, &name, &sealed)
    }

    fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let path = self.dir.join(entry_file_name(key));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// Takes the advisory lock of `key`'s lock file, waiting at most `wait` for another holder.
    fn lock(&self, key: &StoreKey, wait: Duration) -> Result<StoreLock, StoreError> {
        let path = self.dir.join(format!("{}.lock", entry_file_name(key)));
        let Some(file) = take_flock(&path, wait)? else {
            return Err(StoreError::LockTimeout {
                key: format!("({}, {}, {})", key.user, key.resource, key.issuer),
                secs: wait.as_secs(),
            });
        };
        let token = hex(&random_bytes::<16>(&path)?);
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), file);
        Ok(StoreLock { key: key.clone(), token })
    }

    /// Re-seals entry file `name` with the current key when it opens with a previous one only,
    /// holding the entry's lock (waiting at most `wait` for a refresh that holds it: `None`
    /// when it stays taken), so that it never replaces tokens a refresh writes meanwhile; a
    /// write without the lock between the read and the rename is seen by comparing the bytes
    /// again just before the rename (then the entry is examined again).
    fn reseal(&self, name: &str, wait: Duration) -> Result<Option<Resealed>, StoreError> {
        let lock_path = self.dir.join(format!("{name}.lock"));
        let Some(_held) = take_flock(&lock_path, wait)? else { return Ok(None) };
        for _ in 0..3 {
            let Some(bytes) = self.read_raw(name)? else { return Ok(Some(Resealed::Gone)) };
            let Some((plain, with)) = self.sealer.open(name.as_bytes(), &bytes) else {
                return Ok(Some(Resealed::Unreadable));
            };
            if with == OpenedWith::Current {
                return Ok(Some(Resealed::AlreadyCurrent));
            }
            let sealed = self.encrypt(name, &plain)?;
            let tmp = write_temp(&self.dir, name, &sealed)?;
            let target = self.dir.join(name);
            if self.read_raw(name)?.as_deref() != Some(&bytes[..]) {
                let _ = fs::remove_file(&tmp);
                continue;
            }
            if let Err(e) = fs::rename(&tmp, &target) {
                let _ = fs::remove_file(&tmp);
                return Err(io_error(&target, e));
            }
            sync_dir(&self.dir)?;
            return Ok(Some(Resealed::Resealed));
        }
        Err(StoreError::LockLost { key: format!("entry file {name} (changed while re-sealing)") })
    }

    /// The names of every entry file.
    fn entry_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for dirent in fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let dirent = dirent.map_err(|e| io_error(&self.dir, e))?;
            if let Some(name) = dirent.file_name().to_str() {
                if name.ends_with(ENTRY_SUFFIX) && !name.starts_with('.') {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn holds(&self, lock: &StoreLock) -> bool {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&lock.token)
    }

    fn list(&self, user: &str) -> Result<Vec<StoreKey>, StoreError> {
        let prefix = user_prefix(user);
        let mut keys = Vec::new();
        for dirent in fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let dirent = dirent.map_err(|e| io_error(&self.dir, e))?;
            let file_name = dirent.file_name();
            let Some(name) = file_name.to_str() else { continue };
            if !name.starts_with(&prefix) || !name.ends_with(ENTRY_SUFFIX) {
                continue;
            }
            // `None`: deleted since the directory was read. Another user whose hash shares the
            // 16-digit prefix is skipped by the user comparison.
            if let Some((key, _)) = self.read_entry(name)? {
                if key.user == user {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

impl TokenStore for FileStore {
    fn load<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, Option<StoredEntry>> {
        let key = key.clone();
        self.blocking(move |inner| inner.load(&key))
    }

    fn save<'a>(&'a self, key: &'a StoreKey, entry: &'a StoredEntry) -> StoreFuture<'a, ()> {
        let (key, entry) = (key.clone(), entry.clone());
        self.blocking(move |inner| inner.save(&key, &entry))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> StoreFuture<'a, ()> {
        let key = key.clone();
        self.blocking(move |inner| inner.delete(&key))
    }

    fn list<'a>(&'a self, user: &'a str) -> StoreFuture<'a, Vec<StoreKey>> {
        let user = user.to_owned();
        self.blocking(move |inner| inner.list(&user))
    }

    /// An advisory lock on `<entry>.lock`, held until [`TokenStore::unlock`] or the process
    /// ends; waits at most `ttl` plus 2 s for another holder (a refresh is bounded by the HTTP
    /// timeout).
    fn lock<'a>(&'a self, key: &'a StoreKey, ttl: Duration) -> StoreFuture<'a, Option<StoreLock>> {
        let key = key.clone();
        self.blocking(move |inner| inner.lock(&key, ttl + Duration::from_secs(2)).map(Some))
    }

    fn save_locked<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: &'a StoredEntry,
        lock: &'a StoreLock,
    ) -> StoreFuture<'a, ()> {
        let (key, entry, lock) = (key.clone(), entry.clone(), lock.clone());
        self.blocking(move |inner| {
            if !inner.holds(&lock) {
                return Err(StoreError::LockLost {
                    key: format!("({}, {}, {})", key.user, key.resource, key.issuer),
                });
            }
            inner.save(&key, &entry)
        })
    }

    fn unlock<'a>(&'a self, lock: &'a StoreLock) -> StoreFuture<'a, ()> {
        // Closing the file releases the lock.
        drop(self.inner.locks.lock().unwrap_or_else(|p| p.into_inner()).remove(&lock.token));
        Box::pin(async { Ok(()) })
    }
}

impl ResealStore for FileStore {
    fn entry_names(&self) -> StoreFuture<'_, Vec<String>> {
        self.blocking(|inner| inner.entry_names())
    }

    /// Waits for a refresh holding the entry's lock as long as [`TokenStore::lock`] would.
    fn reseal_entry<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Resealed> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let wait = Duration::from_secs(32);
            inner.reseal(&name, wait)?.ok_or_else(|| StoreError::LockTimeout {
                key: format!("entry file {name}"),
                secs: wait.as_secs(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decoding_matches_the_core_encoder() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37).wrapping_add(len)).collect();
            let text = mcp_oauth_core::__private::encoding::base64_std(&data);
            assert_eq!(decode_base64_std(&text), Some(data), "{text}");
        }
        // Non-canonical: trailing bits set, missing or extra padding, bad characters.
        for bad in ["QR==", "QQ", "QQ=", "QQ===", "Q===", "QQ=A", "QQ-_", "Q Q="] {
            assert_eq!(decode_base64_std(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_round_trip() {
        let data: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode_hex(&hex(&data)), Some(data.clone()));
        assert_eq!(decode_hex(&hex(&data).to_uppercase()), Some(data));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
    }

    #[test]
    fn entry_names_follow_the_documented_layout() {
        let key = StoreKey {
            user: "alice".into(),
            resource: "https://mcp.example/".into(),
            issuer: "https://as.example".into(),
        };
        let name = entry_file_name(&key);
        let user = sha256_hex(b"alice");
        let rest = sha256_hex(b"https://mcp.example/\nhttps://as.example");
        assert_eq!(name, format!("{}-{}.entry", &user[..16], &rest[..32]));
        assert!(name.starts_with(&user_prefix("alice")));
        assert!(!name.starts_with(&user_prefix("bob")));
    }
}
