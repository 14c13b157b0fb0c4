//! DPoP (RFC 9449) for the JS host: `Flow`'s side of the core's asynchronous proof channel
//! (core/src/flow/dpop/host.rs). The key pair is the host's (a WebCrypto ECDSA P-256 key,
//! `pkg/src/dpop.js`); the core builds every proof's signing input (`htm`, `htu`, `iat`, `jti`,
//! `ath`, the server's nonce), the host signs it, the core assembles the proof.

use js_sys::Uint8Array;
use mcp_oauth_core::dpop::{self, DpopKey, PublicJwk};
use mcp_oauth_core::secret::DpopPrivateKey;
use wasm_bindgen::prelude::*;

use crate::error::IntoJs;
use crate::io::{bytes, object};
use crate::steps::{time, Flow};

#[wasm_bindgen]
impl Flow {
    /// The host signs DPoP proofs with an ES256 key it makes when `dpopKeyWanted()` says so.
    #[wasm_bindgen(js_name = useHostDpopSigning)]
    pub fn use_host_dpop_signing(&mut self) {
        self.flow.use_host_dpop_signing("ES256");
    }

    /// The public half of the host's ES256 key (P-256 coordinates `x`, `y`, base64url);
    /// returns its RFC 7638 thumbprint (`jkt`).
    #[wasm_bindgen(js_name = setDpopKey)]
    pub fn set_dpop_key(&mut self, x: String, y: String) -> String {
        let jwk = PublicJwk::Ec { crv: "P-256".into(), x, y };
        self.flow.set_dpop_key(DpopKey { alg: "ES256".into(), jwk })
    }

    /// True when a proof waits for the key: make or load it, then `setDpopKey`.
    #[wasm_bindgen(js_name = dpopKeyWanted)]
    pub fn dpop_key_wanted(&self) -> bool {
        self.flow.dpop_key_wanted()
    }

    /// The next proof to sign, `{ id, signingInput }`, or `undefined`; `jtiRandom`: 16 bytes
    /// from `crypto.getRandomValues`.
    #[wasm_bindgen(js_name = pollProof)]
    pub fn poll_proof(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] jti_random: Option<Uint8Array>,
    ) -> Result<JsValue, JsValue> {
        let jti = bytes::<16>(jti_random, "jtiRandom")?;
        Ok(self.flow.poll_proof(&jti).map_or(JsValue::UNDEFINED, |p| {
            object(&[
                ("id", JsValue::from_f64(p.id as f64)),
                ("signingInput", JsValue::from_str(&p.signing_input)),
            ])
        }))
    }

    /// The signature (ES256: 64 bytes `R || S`, what WebCrypto's ECDSA `sign` returns) of proof
    /// `id`: its token request goes out.
    #[wasm_bindgen(js_name = provideProofSignature)]
    pub fn provide_proof_signature(&mut self, id: f64, signature: &[u8]) -> Result<(), JsValue> {
        self.flow.provide_proof_signature(id as u64, signature).js()
    }

    /// Proof `id` could not be signed: its token request fails with `message`.
    #[wasm_bindgen(js_name = handleProofSigningError)]
    pub fn handle_proof_signing_error(&mut self, id: f64, message: &str) -> Result<(), JsValue> {
        self.flow.handle_proof_signing_error(id as u64, message).js()
    }

    /// For a request to the MCP server with the DPoP-bound token held: the signing input of its
    /// proof (with `ath` and the server's nonce); `undefined` for a Bearer token or none.
    #[wasm_bindgen(js_name = resourceProofInput)]
    pub fn resource_proof_input(
        &self,
        now: f64,
        method: &str,
        url: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] jti_random: Option<Uint8Array>,
    ) -> Result<Option<String>, JsValue> {
        let jti = bytes::<16>(jti_random, "jtiRandom")?;
        self.flow.resource_proof_signing_input(time(now), method, url, &jti).js()
    }

    /// The host's reference to its private key, persisted in the entry (`dpop_key`) with the
    /// tokens bound to it; `null` to forget it.
    #[wasm_bindgen(js_name = setDpopKeyMaterial)]
    pub fn set_dpop_key_material(&mut self, material: Option<String>) {
        self.flow.set_dpop_key_material(material.map(DpopPrivateKey::new));
    }

    /// The stored reference to the private key (from a loaded entry), if any.
    #[wasm_bindgen(js_name = dpopKeyMaterial)]
    pub fn dpop_key_material(&self) -> Option<String> {
        self.flow.dpop_key_material().map(|k| k.secret().to_owned())
    }
}

/// The compact JWS of a proof: its signing input and the signature (RFC 7515 §7.1).
#[wasm_bindgen(js_name = assembleDpopProof)]
pub fn assemble_dpop_proof(signing_input: &str, signature: &[u8]) -> String {
    dpop::assemble(signing_input, signature)
}
