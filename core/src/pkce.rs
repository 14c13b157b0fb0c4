//! PKCE (RFC 7636) with the `S256` method only, and the `state` value (RFC 6749 §10.12).
//!
//! Both are made from random bytes the caller passes in (the core does no IO): 32 bytes give a
//! 43-character verifier (RFC 7636 §4.1: 256 bits of entropy) and a 43-character state.

use sha2::{Digest, Sha256};

use crate::encoding::base64url_nopad;
use crate::secret::{PkceVerifier, State};

/// The only challenge method this client sends (RFC 7636 §4.2; MCP requires S256).
pub const METHOD_S256: &str = "S256";

/// Random bytes for one authorization attempt: the PKCE verifier and the `state`.
#[derive(Clone, PartialEq, Eq)]
pub struct Entropy {
    /// Bytes for the PKCE verifier.
    pub verifier: [u8; 32],
    /// Bytes for `state`.
    pub state: [u8; 32],
}

impl Entropy {
    /// Splits 64 random bytes.
    pub fn from_bytes(bytes: &[u8; 64]) -> Entropy {
        let mut verifier = [0u8; 32];
        let mut state = [0u8; 32];
        verifier.copy_from_slice(&bytes[..32]);
        state.copy_from_slice(&bytes[32..]);
        Entropy { verifier, state }
    }
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy(<redacted>)")
    }
}

impl PkceVerifier {
    /// RFC 7636 §4.1: base64url(32 random octets).
    pub fn from_entropy(bytes: &[u8; 32]) -> PkceVerifier {
        PkceVerifier::new(base64url_nopad(bytes))
    }

    /// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
    pub fn challenge_s256(&self) -> String {
        base64url_nopad(&Sha256::digest(self.secret().as_bytes()))
    }
}

impl State {
    /// base64url(32 random octets).
    pub fn from_entropy(bytes: &[u8; 32]) -> State {
        State::new(base64url_nopad(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let v = PkceVerifier::from_entropy(&octets);
        assert_eq!(v.secret(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(v.challenge_s256(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifier_length_is_within_rfc_bounds() {
        let v = PkceVerifier::from_entropy(&[0xff; 32]);
        // RFC 7636 §4.1: 43..=128 characters of [A-Z a-z 0-9 - . _ ~].
        assert_eq!(v.secret().len(), 43);
        assert!(v.secret().bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
        let s = State::from_entropy(&[1; 32]);
        assert_eq!(s.secret().len(), 43);
    }

    #[test]
    fn entropy_split() {
        let mut bytes = [0u8; 64];
        bytes[0] = 1;
        bytes[32] = 2;
        let e = Entropy::from_bytes(&bytes);
        assert_eq!(e.verifier[0], 1);
        assert_eq!(e.state[0], 2);
        assert_eq!(format!("{e:?}"), "Entropy(<redacted>)");
    }
}
