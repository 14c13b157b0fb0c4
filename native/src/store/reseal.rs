//! Re-sealing a whole store with its current key (key rotation, [`super::SealingKeys`]): every
//! token entry of every user that opens only with a previous key is written again, sealed with
//! the current key, so that the previous keys can be dropped.
//!
//! Only token entries are walked (`tok:` / `tok/` / `*.entry`): pending authorizations, consent
//! links and outcomes live minutes (the consent timeout) and simply expire; they open with a
//! previous key meanwhile.
//!
//! An entry that opens with no key is reported by its (hashed) name and left untouched, never
//! deleted. Each rewrite is a compare-and-set on the value read (Redis script, MySQL `UPDATE …
//! WHERE value = ?`, S3 `If-Match` under the entry's refresh lock, file: under the entry's lock,
//! bytes compared before the rename), so a refresh that writes new tokens meanwhile is never
//! overwritten with the old ones.
//!
//! Order of a rotation: (1) every process learns the new key as a previous key; (2) every process
//! takes the new key as current and the old one as previous; (3) `mcp-oauth store reseal` with
//! the same keys; (4) the old key is dropped. Entries written during (2) are sealed with the new
//! key, which every process can open since (1).

#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
use std::future::Future;

#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
use super::seal::OpenedWith;
use super::{StoreError, StoreFuture, TokenStore};

/// What re-sealing one entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resealed {
    /// It opened with a previous key and is now sealed with the current one.
    Resealed,
    /// It was sealed with the current key already.
    AlreadyCurrent,
    /// No key opens it (wrong keys, or tampered with): left untouched.
    Unreadable,
    /// It was deleted meanwhile.
    Gone,
}

/// A store whose token entries are sealed, which can list and re-seal all of them.
pub trait ResealStore: TokenStore {
    /// The names of every token entry of every user, as the store names them (file names,
    /// Redis keys, row names, object names: hashes, never a user name).
    fn entry_names(&self) -> StoreFuture<'_, Vec<String>>;

    /// Re-seals entry `name` (as [`ResealStore::entry_names`] gives it) with the current key if
    /// it opens only with a previous one.
    fn reseal_entry<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Resealed>;
}

/// What [`reseal_all`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResealReport {
    /// Entries re-sealed with the current key.
    pub resealed: usize,
    /// Entries already sealed with the current key.
    pub already_current: usize,
    /// Entries deleted while the walk ran.
    pub gone: usize,
    /// The names of entries no key opens (left untouched).
    pub unreadable: Vec<String>,
    /// Entries that failed otherwise (corrupt content, lock held too long): name and error.
    pub failed: Vec<(String, String)>,
}

impl ResealReport {
    /// True when every entry is now sealed with the current key.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty() && self.failed.is_empty()
    }
}

/// Re-seals every token entry of `store`. A store that becomes unreachable ends the walk with
/// its error; any other failure is recorded for its entry and the walk goes on.
pub async fn reseal_all(store: &dyn ResealStore) -> Result<ResealReport, StoreError> {
    let mut report = ResealReport::default();
    for name in store.entry_names().await? {
        match store.reseal_entry(&name).await {
            Ok(Resealed::Resealed) => report.resealed += 1,
            Ok(Resealed::AlreadyCurrent) => report.already_current += 1,
            Ok(Resealed::Gone) => report.gone += 1,
            Ok(Resealed::Unreadable) => report.unreadable.push(name),
            Err(e @ StoreError::Unavailable { .. }) => return Err(e),
            Err(e) => report.failed.push((name, e.to_string())),
        }
    }
    Ok(report)
}

/// What re-sealing an entry comes to, given how it opened: `Ok(text)` when it opened only with
/// a previous key (its text, to seal again), `Err(Unreadable)` when no key opens it,
/// `Err(AlreadyCurrent)` when the current key does; any other failure is returned.
#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
pub(crate) fn stale_text(
    opened: Result<(String, OpenedWith), StoreError>,
) -> Result<Result<String, Resealed>, StoreError> {
    match opened {
        Ok((text, OpenedWith::Previous)) => Ok(Ok(text)),
        Ok((_, OpenedWith::Current)) => Ok(Err(Resealed::AlreadyCurrent)),
        Err(StoreError::Undecryptable { .. }) => Ok(Err(Resealed::Unreadable)),
        Err(e) => Err(e),
    }
}

/// Re-seals entry `name` by compare-and-set, looking again when it was written meanwhile (three
/// times at most): `read` gives its bytes and version (`None`: it is gone), `open` opens bytes,
/// `replace` writes the text sealed with the current key if the entry still holds the version
/// read (`false`: it did not). An entry that keeps changing is [`StoreError::LockLost`] naming
/// `what` (`redis key <name>` ...).
#[cfg(any(feature = "redis", feature = "mysql", feature = "s3"))]
pub(crate) async fn reseal_if_same<V, R, W>(
    what: String,
    mut read: impl FnMut() -> R,
    open: impl Fn(&[u8]) -> Result<(String, OpenedWith), StoreError>,
    mut replace: impl FnMut(Vec<u8>, V, String) -> W,
) -> Result<Resealed, StoreError>
where
    R: Future<Output = Result<Option<(Vec<u8>, V)>, StoreError>>,
    W: Future<Output = Result<bool, StoreError>>,
{
    for _ in 0..3 {
        let Some((bytes, version)) = read().await? else { return Ok(Resealed::Gone) };
        let text = match stale_text(open(&bytes))? {
            Ok(text) => text,
            Err(done) => return Ok(done),
        };
        if replace(bytes, version, text).await? {
            return Ok(Resealed::Resealed);
        }
        // Written meanwhile: look again.
    }
    Err(StoreError::LockLost { key: format!("{what} (changed while re-sealing)") })
}
