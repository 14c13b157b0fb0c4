//! The native DPoP key (RFC 9449): an ES256 key pair made and used with `ring` (already linked
//! for rustls), the [`DpopSigner`] the core asks for proofs.
//!
//! One key per (user, MCP server): [`OAuthClient`](crate::OAuthClient) makes one with the
//! system's CSPRNG when a proof first needs it and the stored entry has none
//! (native/src/drive.rs `OnDemandKey`), and the core persists it in the entry with
//! the tokens bound to it (`dpop_key`, PKCS#8 in hex). The file and Redis stores encrypt the
//! whole entry, so the key is as protected as the refresh token it guards; whoever can read
//! the store's key can use both (the binding protects tokens that leak on the way, in logs or
//! at the resource server, not a compromised store).

use mcp_oauth_core::__private::encoding::base64url_nopad;
use mcp_oauth_core::dpop::{DpopKey, DpopSigner, PublicJwk};
use mcp_oauth_core::secret::DpopPrivateKey;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::Error;

/// The algorithm of the keys made here (RFC 7518 §3.4).
pub const ALG: &str = "ES256";

/// An ES256 DPoP key held in memory.
pub struct RingDpopSigner {
    pair: EcdsaKeyPair,
    key: DpopKey,
    material: DpopPrivateKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for RingDpopSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingDpopSigner").field("key", &self.key).finish_non_exhaustive()
    }
}

fn key_error(message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("the stored DPoP key cannot be used: {message}"))
}

impl RingDpopSigner {
    /// A new key pair from the system's CSPRNG.
    pub fn generate() -> Result<RingDpopSigner, Error> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Error::Entropy("generating the DPoP key failed".into()))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// The key stored in an entry ([`RingDpopSigner::material`]).
    pub fn from_material(material: &DpopPrivateKey) -> Result<RingDpopSigner, Error> {
        let hex = material.secret();
        // The npm package's browser DPoP build stores a reference to a non-extractable key
        // that stays in that browser (pkg/src/dpop-browser.js), not the key.
        if let Some(rest) = hex.strip_prefix("webcrypto:") {
            let version = rest.split(':').next().unwrap_or_default();
            return Err(key_error(format!(
                "a browser's non-extractable WebCrypto key (webcrypto:{version}:…), which only that browser holds"
            )));
        }
        if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(key_error("not hexadecimal PKCS#8"));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(key_error))
            .collect::<Result<Vec<u8>, Error>>()?;
        Self::from_pkcs8(&bytes)
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<RingDpopSigner, Error> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| key_error(format!("not a P-256 PKCS#8 key ({e})")))?;
        // SEC 1 §2.3.3 uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(key_error("unexpected public key encoding"));
        }
        let jwk = PublicJwk::Ec {
            crv: "P-256".into(),
            x: base64url_nopad(&point[1..33]),
            y: base64url_nopad(&point[33..65]),
        };
        let material: String = pkcs8.iter().map(|b| format!("{b:02x}")).collect();
        Ok(RingDpopSigner {
            pair,
            key: DpopKey { alg: ALG.into(), jwk },
            material: DpopPrivateKey::new(material),
            rng,
        })
    }

    /// The private key as the entry stores it (PKCS#8, hex).
    pub fn material(&self) -> &DpopPrivateKey {
        &self.material
    }
}

impl DpopSigner for RingDpopSigner {
    fn key(&self) -> &DpopKey {
        &self.key
    }

    fn jti_random(&self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        // SystemRandom fails only when the OS has no randomness: then every jti would be the
        // same, and the server's replay check refuses the second proof (no silent reuse).
        let _ = self.rng.fill(&mut bytes);
        bytes
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, String> {
        // ECDSA_P256_SHA256_FIXED_SIGNING: the 64-byte R || S of RFC 7518 §3.4.
        self.pair
            .sign(&self.rng, signing_input)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| "ES256 signing failed".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn a_proof_verifies_with_the_jwk_and_the_key_survives_the_entry() {
        let signer = RingDpopSigner::generate().unwrap();
        let proof = mcp_oauth_core::dpop::sign_proof(
            &signer,
            "POST",
            "https://as.example/token",
            mcp_oauth_core::time::UnixTime(1),
            None,
            None,
        )
        .unwrap();
        let (input, sig) = proof.rsplit_once('.').unwrap();
        let mut point = vec![4u8];
        let PublicJwk::Ec { x, y, .. } = &signer.key().jwk else { panic!("EC") };
        let decode = base64url_decode;
        point.extend(decode(x));
        point.extend(decode(y));
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
        public.verify(input.as_bytes(), &decode(sig)).expect("the signature verifies");

        let again = RingDpopSigner::from_material(signer.material()).unwrap();
        assert_eq!(again.key(), signer.key());
        assert_ne!(signer.jti_random(), signer.jti_random());
        let e = RingDpopSigner::from_material(&DpopPrivateKey::new("zz")).unwrap_err();
        assert!(e.to_string().contains("not hexadecimal"), "{e}");
        let e = RingDpopSigner::from_material(&DpopPrivateKey::new("00")).unwrap_err();
        assert!(e.to_string().contains("not a P-256 PKCS#8 key"), "{e}");
        // The browser DPoP build's reference (pkg/src/dpop-browser.js) is refused by name.
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let e = RingDpopSigner::from_material(&DpopPrivateKey::new(format!("webcrypto:v1:{jkt}")))
            .unwrap_err();
        assert!(e.to_string().contains("non-extractable WebCrypto key (webcrypto:v1:…)"), "{e}");
        assert!(!e.to_string().contains(jkt), "{e}");
    }

    fn base64url_decode(s: &str) -> Vec<u8> {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
        for c in s.bytes() {
            bits = (bits << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        out
    }
}
