//! Sealing of stored values, shared by every store that seals (file, Redis, MySQL, S3): AES-256-GCM
//! (NIST SP 800-38D) with the value's name as additional authenticated data, so a value copied
//! onto another name does not open.
//!
//! Format (unchanged since the first version of the stores, so entries written before key
//! rotation existed still open): the magic bytes `MCPOAUTH1`, a 12-byte random nonce, then the
//! ciphertext and its 16-byte tag. There is no key id: [`Sealer::open`] tries the current key, then
//! each previous key; a wrong key fails the tag check (a false accept has probability 2^-128 per
//! key tried).
//!
//! Rotation ([`SealingKeys`]): values are always sealed with the current key; previous keys only
//! open. A value opened with a previous key is sealed with the current key the next time it is
//! written, and the stores' re-seal ([`super::ResealStore`]) rewrites every token entry.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};

use super::{KeySource, StoreError};

/// The first bytes of every sealed value (format version 1).
pub(crate) const MAGIC: &[u8] = b"MCPOAUTH1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The keys of a store: the current one seals and opens, the previous ones (older keys being
/// rotated out) only open.
#[derive(Clone)]
pub struct SealingKeys {
    current: [u8; 32],
    previous: Vec<[u8; 32]>,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKeys")
            .field("current", &fingerprint(&self.current))
            .field("previous", &self.previous.iter().map(fingerprint).collect::<Vec<_>>())
            .finish()
    }
}

impl From<[u8; 32]> for SealingKeys {
    fn from(current: [u8; 32]) -> SealingKeys {
        SealingKeys::new(current)
    }
}

impl From<&[u8; 32]> for SealingKeys {
    fn from(current: &[u8; 32]) -> SealingKeys {
        SealingKeys::new(*current)
    }
}

impl From<&SealingKeys> for SealingKeys {
    fn from(keys: &SealingKeys) -> SealingKeys {
        keys.clone()
    }
}

impl SealingKeys {
    /// The environment variable of the CLI's `--store-previous-keys`.
    pub const PREVIOUS_ENV_VAR: &'static str = "MCP_OAUTH_STORE_PREVIOUS_KEYS";

    /// One key, no previous ones.
    pub fn new(current: [u8; 32]) -> SealingKeys {
        SealingKeys { current, previous: Vec::new() }
    }

    /// Adds keys that open values but never seal them (a key equal to the current one or
    /// already present is left out).
    pub fn with_previous(mut self, previous: impl IntoIterator<Item = [u8; 32]>) -> SealingKeys {
        for key in previous {
            if key != self.current && !self.previous.contains(&key) {
                self.previous.push(key);
            }
        }
        self
    }

    /// Parses a comma-separated list of keys in the text form of
    /// [`KeySource::parse_key_text`] (empty items are ignored). `what` names the list in the
    /// error, which gives the item's position and never its text.
    pub fn parse_list(text: &str, what: &str) -> Result<Vec<[u8; 32]>, StoreError> {
        let items = text.split(',').map(str::trim).filter(|s| !s.is_empty());
        items
            .enumerate()
            .map(|(i, item)| {
                KeySource::parse_key_text(item).map_err(|e| {
                    let reason = match e {
                        StoreError::InvalidKey(r) => r,
                        other => other.to_string(),
                    };
                    StoreError::InvalidKey(format!("{what}, key {}: {reason}", i + 1))
                })
            })
            .collect()
    }

    /// The current key.
    pub fn current(&self) -> &[u8; 32] {
        &self.current
    }

    /// The previous keys, in the order they are tried.
    pub fn previous(&self) -> &[[u8; 32]] {
        &self.previous
    }

    /// `current ab12cd34ef56, previous 0f1e2d3c4b5a, …`: the keys' [`fingerprint`]s.
    pub fn describe(&self) -> String {
        let mut text = format!("current {}", fingerprint(&self.current));
        if !self.previous.is_empty() {
            let previous: Vec<String> = self.previous.iter().map(fingerprint).collect();
            text.push_str(&format!(", previous {}", previous.join(" ")));
        }
        text
    }
}

/// A short public name of a key, to tell keys apart in output and logs: the first 12 hex digits
/// of SHA-256 over a label and the key (the key cannot be recovered from it).
pub fn fingerprint(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"mcp-oauth store key fingerprint\n");
    h.update(key);
    let digest = h.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Which key opened a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenedWith {
    /// The current key: nothing to re-seal.
    Current,
    /// A previous key: the value should be re-sealed with the current one.
    Previous,
}

/// The ciphers of a [`SealingKeys`].
pub(crate) struct Sealer {
    current: Aes256Gcm,
    previous: Vec<Aes256Gcm>,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

impl Sealer {
    pub(crate) fn new(keys: &SealingKeys) -> Sealer {
        Sealer {
            current: cipher(&keys.current),
            previous: keys.previous.iter().map(cipher).collect(),
        }
    }

    /// [`MAGIC`], a random 12-byte nonce, then the AES-256-GCM ciphertext and tag of
    /// `plaintext` with `aad` authenticated, under the current key.
    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let sealed = self
            .current
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens [`Sealer::seal`]'s output with the current key, else each previous key; `None`
    /// when no key authenticates it (wrong keys, other name, tampered with, truncated).
    pub(crate) fn open(&self, aad: &[u8], bytes: &[u8]) -> Option<(Vec<u8>, OpenedWith)> {
        let rest = bytes.strip_prefix(MAGIC)?;
        if rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        let payload = || Payload { msg: sealed, aad };
        if let Ok(plain) = self.current.decrypt(nonce, payload()) {
            return Some((plain, OpenedWith::Current));
        }
        self.previous
            .iter()
            .find_map(|c| c.decrypt(nonce, payload()).ok())
            .map(|plain| (plain, OpenedWith::Previous))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A file store entry written before key rotation existed (tests/fixtures/store/README.md).
    const FIXTURE: &[u8] = include_bytes!(
        "../../tests/fixtures/store/2bd806c97f0e00af-9a3070f0675f13d0ddaf5ccd5df171f5.entry"
    );
    const FIXTURE_NAME: &str = "2bd806c97f0e00af-9a3070f0675f13d0ddaf5ccd5df171f5.entry";

    fn fixture_key() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn a_value_sealed_before_rotation_opens_with_its_key_as_current_or_previous() {
        let old = Sealer::new(&SealingKeys::new(fixture_key()));
        let (plain, with) = old.open(FIXTURE_NAME.as_bytes(), FIXTURE).unwrap();
        assert_eq!(with, OpenedWith::Current);
        assert!(String::from_utf8(plain.clone()).unwrap().contains("fixture-refresh"));
        let rotated =
            Sealer::new(&SealingKeys::new([9; 32]).with_previous([[8; 32], fixture_key()]));
        assert_eq!(
            rotated.open(FIXTURE_NAME.as_bytes(), FIXTURE),
            Some((plain, OpenedWith::Previous))
        );
        // Without the key, or under another name, it does not open.
        assert_eq!(
            Sealer::new(&SealingKeys::new([9; 32])).open(FIXTURE_NAME.as_bytes(), FIXTURE),
            None
        );
        assert_eq!(rotated.open(b"other.entry", FIXTURE), None);
    }

    #[test]
    fn seals_with_the_current_key_only() {
        let keys = SealingKeys::new([1; 32]).with_previous([[2; 32]]);
        let sealed = Sealer::new(&keys).seal(b"n", b"secret").unwrap();
        assert!(sealed.starts_with(MAGIC));
        let current_only = Sealer::new(&SealingKeys::new([1; 32]));
        assert_eq!(
            current_only.open(b"n", &sealed),
            Some((b"secret".to_vec(), OpenedWith::Current))
        );
        assert_eq!(Sealer::new(&SealingKeys::new([2; 32])).open(b"n", &sealed), None);
        // Truncated or without the magic bytes: not opened, no panic.
        assert_eq!(current_only.open(b"n", &sealed[..MAGIC.len() + 20]), None);
        assert_eq!(current_only.open(b"n", &sealed[1..]), None);
    }

    #[test]
    fn previous_key_lists_parse_and_errors_name_the_position_not_the_text() {
        let a = "00".repeat(32);
        let b = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let keys = SealingKeys::parse_list(&format!(" {a} ,{b},"), "--x").unwrap();
        assert_eq!(keys, vec![[0; 32], [1; 32]]);
        let err = SealingKeys::parse_list(&format!("{a},not-a-key-topsecret"), "--x").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--x, key 2") && !text.contains("topsecret"), "{text}");
        // The current key and duplicates are not kept as previous keys.
        let k = SealingKeys::new([0; 32]).with_previous(keys.clone()).with_previous(keys);
        assert_eq!(k.previous(), &[[1; 32]]);
        assert_eq!(fingerprint(&[0; 32]).len(), 12);
        assert_ne!(fingerprint(&[0; 32]), fingerprint(&[1; 32]));
        assert!(k.describe().starts_with(&format!("current {}", fingerprint(&[0; 32]))));
    }
}
