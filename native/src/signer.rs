//! `private_key_jwt` client assertions (RFC 7523 §2.2 and §3) signed with ES256 or RS256 keys
//! read from PEM: the [`ClientAssertionSigner`] of the native adapter.
//!
//! The core computes the claims ([`mcp_oauth_core::jwt_bearer::client_assertion_claims`]); this
//! module adds the JWS framing (RFC 7515 §7.1 compact serialization: base64url header and payload
//! joined by a dot, then the signature) and signs with `ring`, which the process already carries
//! for TLS (rustls uses it). `rustls-pki-types` reads the PEM. Choosing these over `jsonwebtoken`
//! avoids a second crypto stack (jsonwebtoken 10 brings either aws-lc-rs or the RustCrypto `rsa`
//! and `p256` trees) for what is one signature call: no signature math is written here.
//!
//! Keys: PKCS#8 (`BEGIN PRIVATE KEY`) for both algorithms, and PKCS#1 (`BEGIN RSA PRIVATE KEY`)
//! for RS256. SEC1 EC keys (`BEGIN EC PRIVATE KEY`) are refused with the command converting them.

use std::path::Path;

use mcp_oauth_core::__private::encoding::base64url_nopad;
use mcp_oauth_core::token::{AssertionClaims, ClientAssertionSigner};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// The JWS algorithm of the client assertions (RFC 7518 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningAlg {
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl SigningAlg {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
        }
    }

    /// Reads `ES256` / `RS256` (case-insensitive).
    pub fn from_name(name: &str) -> Option<SigningAlg> {
        match name.to_ascii_uppercase().as_str() {
            "ES256" => Some(SigningAlg::Es256),
            "RS256" => Some(SigningAlg::Rs256),
            _ => None,
        }
    }
}

/// Why a key could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("private key {source_name}: {reason}")]
pub struct KeyError {
    /// The file, or "(inline)".
    pub source_name: String,
    /// What is wrong.
    pub reason: String,
}

enum Key {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// Signs client assertions with one private key.
pub struct PrivateKeySigner {
    alg: SigningAlg,
    key: Key,
    kid: Option<String>,
    rng: SystemRandom,
}

impl std::fmt::Debug for PrivateKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKeySigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PrivateKeySigner {
    /// Reads a PEM key for `alg`.
    pub fn from_pem(pem: &[u8], alg: SigningAlg) -> Result<PrivateKeySigner, KeyError> {
        Self::read(pem, alg, "(inline)")
    }

    /// Reads a PEM key file for `alg`.
    pub fn from_pem_file(path: &Path, alg: SigningAlg) -> Result<PrivateKeySigner, KeyError> {
        let name = path.display().to_string();
        let pem = std::fs::read(path)
            .map_err(|e| KeyError { source_name: name.clone(), reason: e.to_string() })?;
        Self::read(&pem, alg, &name)
    }

    fn read(pem: &[u8], alg: SigningAlg, name: &str) -> Result<PrivateKeySigner, KeyError> {
        let fail = |reason: String| KeyError { source_name: name.to_owned(), reason };
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| fail(format!("no PEM private key found ({e})")))?;
        let rng = SystemRandom::new();
        let key = match (alg, &der) {
            (SigningAlg::Es256, PrivateKeyDer::Pkcs8(k)) => Key::Ec(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    k.secret_pkcs8_der(),
                    &rng,
                )
                .map_err(|e| fail(format!("not a P-256 key usable for ES256 ({e})")))?,
            ),
            (SigningAlg::Es256, PrivateKeyDer::Sec1(_)) => {
                return Err(fail(
                    "a SEC1 EC key (BEGIN EC PRIVATE KEY); convert it to PKCS#8 with \
                     `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem`"
                        .into(),
                ))
            }
            (SigningAlg::Rs256, PrivateKeyDer::Pkcs8(k)) => Key::Rsa(
                RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
                    .map_err(|e| fail(format!("not an RSA key usable for RS256 ({e})")))?,
            ),
            (SigningAlg::Rs256, PrivateKeyDer::Pkcs1(k)) => Key::Rsa(
                RsaKeyPair::from_der(k.secret_pkcs1_der())
                    .map_err(|e| fail(format!("not an RSA key usable for RS256 ({e})")))?,
            ),
            (alg, _) => {
                return Err(fail(format!(
                    "the key type does not match --signing-alg {}",
                    alg.as_str()
                )))
            }
        };
        Ok(PrivateKeySigner { alg, key, kid: None, rng })
    }

    /// Sets the `kid` header (when the server holds several keys for the client).
    pub fn with_key_id(mut self, kid: impl Into<String>) -> PrivateKeySigner {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// Signs a JWT with these claims (JSON text) as a compact JWS (RFC 7515 §7.1).
    pub fn sign_payload(&self, payload_json: &str) -> Result<String, String> {
        let mut header = serde_json::json!({ "alg": self.alg.as_str(), "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let mut input = base64url_nopad(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&base64url_nopad(payload_json.as_bytes()));
        let sig = match &self.key {
            // RFC 7518 §3.4: the ES256 signature is R || S, 64 bytes (ring's FIXED encoding).
            Key::Ec(k) => k
                .sign(&self.rng, input.as_bytes())
                .map_err(|_| "ECDSA signing failed".to_owned())?
                .as_ref()
                .to_vec(),
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
                    .map_err(|_| "RSA signing failed".to_owned())?;
                sig
            }
        };
        input.push('.');
        input.push_str(&base64url_nopad(&sig));
        Ok(input)
    }
}

impl ClientAssertionSigner for PrivateKeySigner {
    fn sign(&self, claims: &AssertionClaims) -> Result<String, String> {
        // The authorization-code flow leaves `jti` to the signer: 128 random bits.
        let mut random = [0u8; 16];
        if claims.jti.is_none() {
            getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        }
        let jti = mcp_oauth_core::jwt_bearer::jti_from_entropy(&random);
        self.sign_payload(&claims.to_json(&jti))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_mismatched_keys_are_refused_with_the_reason() {
        let e = PrivateKeySigner::from_pem(b"not a key", SigningAlg::Es256).unwrap_err();
        assert!(e.reason.contains("no PEM private key"), "{e}");
        let sec1 = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
        let e = PrivateKeySigner::from_pem(sec1, SigningAlg::Es256).unwrap_err();
        assert!(e.reason.contains("openssl pkcs8"), "{e}");
        assert_eq!(SigningAlg::from_name("es256"), Some(SigningAlg::Es256));
        assert_eq!(SigningAlg::from_name("HS256"), None);
    }
}
