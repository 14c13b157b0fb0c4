//! DPoP, Demonstrating Proof of Possession (RFC 9449): the sans-IO parts of the client.
//!
//! The core has no keys and no signature code: the host holds the key pair (ring natively,
//! a non-extractable WebCrypto key in the browser) and gives the core its public half as a
//! [`PublicJwk`] with the JWS `alg`. For each request the core builds the proof's signing input
//! ([`proof_signing_input`]: the JOSE header with `typ`, `alg` and `jwk`, and the claims `jti`,
//! `htm`, `htu`, `iat`, and `ath`/`nonce` when they apply), the host signs those bytes and
//! [`assemble`] makes the compact JWS sent in the `DPoP` header.
//!
//! - [`htu`]: the target URI without query and fragment (RFC 9449 §4.2), scheme and host in
//!   lower case, the default port dropped (RFC 3986 §6.2.2–§6.2.3), so that it compares equal
//!   at the server.
//! - [`ath`]: base64url(SHA-256(access token)) for proofs sent with a token (§4.2, §7.1).
//! - [`PublicJwk::thumbprint`]: the RFC 7638 JWK thumbprint (`dpop_jkt`, §10).
//! - Nonces (§8 at the authorization server, §9 at the resource server): [`nonce_to_retry_with`]
//!   reads a `use_dpop_nonce` answer (400 at the token endpoint, 401 with a `DPoP` challenge at
//!   the resource server) and the `DPoP-Nonce` header it carries; [`NonceCache`] keeps the last
//!   nonce each origin sent, for the next proof to that origin.
//! - [`choose_alg`]: an algorithm both the host's key and the server
//!   (`dpop_signing_alg_values_supported`, §5.1) accept.

use sha2::{Digest, Sha256};

use crate::encoding;
use crate::http::HttpResponse;
use crate::json::{self, Json};
use crate::time::UnixTime;
use crate::url::{Url, UrlError};

/// The request header carrying the proof (RFC 9449 §4.1).
pub const DPOP_HEADER: &str = "DPoP";
/// The response header carrying a server-provided nonce (RFC 9449 §8, §9).
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// The `typ` of a proof's JOSE header (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";
/// The `token_type` of a DPoP-bound access token (RFC 9449 §5) and the `Authorization`
/// scheme it is sent with (§7.1).
pub const TOKEN_TYPE: &str = "DPoP";
/// How many origins a [`NonceCache`] remembers (a client talks to a few servers).
pub const NONCE_CACHE_CAP: usize = 32;
/// The longest nonce accepted from a server.
pub const MAX_NONCE_LEN: usize = 1024;

/// The public half of the host's key (RFC 7517 §4, RFC 7518 §6): only public members, never
/// `d` or other private parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicJwk {
    /// `kty: EC` (ES256: `crv: P-256`): the base64url coordinates.
    Ec {
        /// The curve (`P-256`, `P-384`).
        crv: String,
        /// `x`.
        x: String,
        /// `y`.
        y: String,
    },
    /// `kty: OKP` (EdDSA: `crv: Ed25519`, RFC 8037).
    Okp {
        /// The curve.
        crv: String,
        /// `x`.
        x: String,
    },
    /// `kty: RSA`: modulus and exponent, base64url.
    Rsa {
        /// `n`.
        n: String,
        /// `e`.
        e: String,
    },
}

impl PublicJwk {
    /// The required members in lexicographic order (RFC 7638 §3.2, §3.3).
    fn members(&self) -> Vec<(&'static str, &str)> {
        match self {
            PublicJwk::Ec { crv, x, y } => vec![("crv", crv), ("kty", "EC"), ("x", x), ("y", y)],
            PublicJwk::Okp { crv, x } => vec![("crv", crv), ("kty", "OKP"), ("x", x)],
            PublicJwk::Rsa { n, e } => vec![("e", e), ("kty", "RSA"), ("n", n)],
        }
    }

    /// The JWK as a JSON object (for the proof's `jwk` header member).
    pub fn to_json(&self) -> Json {
        Json::Object(
            self.members().into_iter().map(|(k, v)| (k.to_owned(), Json::str(v))).collect(),
        )
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(the required members, sorted, no
    /// whitespace)). It is `dpop_jkt` (RFC 9449 §10) and the `jkt` of the token's `cnf`.
    pub fn thumbprint(&self) -> String {
        let canonical = self.to_json().to_text();
        encoding::base64url_nopad(&Sha256::digest(canonical.as_bytes()))
    }
}

/// The host's DPoP key as the core sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopKey {
    /// The JWS algorithm the host signs with (`ES256`, `EdDSA`, `RS256`, …; RFC 7518).
    pub alg: String,
    /// Its public key.
    pub jwk: PublicJwk,
}

/// What a DPoP step refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof's target is not a URL this client may use.
    #[error("the DPoP proof's target URL is invalid: {0}")]
    Url(#[from] UrlError),
    /// The HTTP method is not a token (RFC 9110 §9.1).
    #[error("the DPoP proof's HTTP method `{0}` is not a method name")]
    Method(String),
    /// The algorithm is symmetric or `none` (RFC 9449 §4.2: asymmetric only).
    #[error("DPoP needs an asymmetric signature algorithm, not `{0}` (RFC 9449 §4.2)")]
    Algorithm(String),
    /// No algorithm of the host's key is one the server accepts.
    #[error(
        "the server accepts DPoP proofs signed with {supported}, and this client's key signs \
         with {offered} (RFC 9449 §5.1)"
    )]
    NoCommonAlgorithm {
        /// What the server lists.
        supported: String,
        /// What the host can do.
        offered: String,
    },
    /// DPoP is required (`--dpop always`, or the resource accepts only DPoP-bound tokens, or
    /// the token held is DPoP-bound) and the host gave the flow no [`DpopSigner`].
    #[error("DPoP is required here, and no DPoP key is configured (RFC 9449)")]
    SignerMissing,
    /// The host's signer failed.
    #[error("signing the DPoP proof failed: {0}")]
    SigningFailed(String),
}

impl DpopError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::Url(_) => "dpop_url_invalid",
            DpopError::Method(_) => "dpop_method_invalid",
            DpopError::Algorithm(_) => "dpop_algorithm_invalid",
            DpopError::NoCommonAlgorithm { .. } => "dpop_no_common_algorithm",
            DpopError::SignerMissing => "dpop_signer_missing",
            DpopError::SigningFailed(_) => "dpop_signing_failed",
        }
    }
}

/// When the flow binds tokens to the host's key (`--dpop`, `dpop:` in YAML, `dpop` in JS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopMode {
    /// DPoP when the authorization server advertises it
    /// (`dpop_signing_alg_values_supported`, RFC 9449 §5.1) and the resource needs it
    /// (RFC 9728 §2 `dpop_bound_access_tokens_required`, or a `DPoP` challenge, RFC 9449 §7.1),
    /// and the host has a key. The default.
    #[default]
    Auto,
    /// Every token request carries a proof (an error without a key).
    Always,
    /// Never: plain Bearer tokens.
    Never,
}

impl DpopMode {
    /// Reads `auto`, `always` or `never`.
    pub fn from_name(name: &str) -> Option<DpopMode> {
        Some(match name {
            "auto" => DpopMode::Auto,
            "always" => DpopMode::Always,
            "never" => DpopMode::Never,
            _ => return None,
        })
    }

    /// The name [`DpopMode::from_name`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopMode::Auto => "auto",
            DpopMode::Always => "always",
            DpopMode::Never => "never",
        }
    }
}

/// How many `use_dpop_nonce` refusals of a resource server in a row a flow answers with a
/// retry before it gives up (§9: one retry with the new nonce per request; concurrent requests
/// may each meet one).
pub const MAX_RESOURCE_NONCE_RETRIES: u32 = 2;

/// Whether token requests carry a proof ([`DpopMode`]'s rule, for every flow): `Never` no,
/// `Always` yes, `Auto` when the authorization server advertises DPoP (§5.1) and the resource
/// needs it (RFC 9728 §2 `dpop_bound_access_tokens_required`, or a `DPoP` challenge, §7.1).
pub fn proof_wanted(mode: DpopMode, server_advertises: bool, resource_needs: bool) -> bool {
    match mode {
        DpopMode::Never => false,
        DpopMode::Always => true,
        DpopMode::Auto => server_advertises && resource_needs,
    }
}

/// Whether a `WWW-Authenticate` value has a `DPoP` challenge (§7.1: the resource wants
/// DPoP-bound tokens). An unparsable value has none.
pub fn has_dpop_challenge(www_authenticate: Option<&str>) -> bool {
    has_challenge(www_authenticate, TOKEN_TYPE)
}

/// Whether a `WWW-Authenticate` value has a challenge of `scheme` (case-insensitive, RFC 9110
/// §11.1).
pub(crate) fn has_challenge(www_authenticate: Option<&str>, scheme: &str) -> bool {
    let challenges =
        www_authenticate.and_then(|h| crate::www_authenticate::parse(h).ok()).unwrap_or_default();
    challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case(scheme))
}

/// The host's DPoP key: the flow asks it for randomness and signatures while it builds a
/// request (token requests in [`crate::AuthFlow`], resource requests in
/// [`crate::AuthFlow::resource_request_headers`]).
///
/// Synchronous, like [`crate::token::ClientAssertionSigner`]: native hosts sign with ring in
/// microseconds. A WebCrypto key signs asynchronously: such a host gives the flow only the
/// public key and signs each [`ProofRequest`] the flow asks for (core/src/flow/dpop/host.rs).
pub trait DpopSigner {
    /// The public key and algorithm.
    fn key(&self) -> &DpopKey;
    /// 16 fresh random bytes for a proof's `jti`.
    fn jti_random(&self) -> [u8; 16];
    /// Signs the JWS signing input (for ES256: the 64-byte `R || S`, RFC 7518 §3.4).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, String>;
}

/// A proof the host signs asynchronously (a WebCrypto key): the flow built the signing input
/// and waits for the signature ([`crate::Machine::poll_proof`],
/// [`crate::Machine::provide_proof_signature`]); [`assemble`] makes the proof from both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofRequest {
    /// Answers name it.
    pub id: u64,
    /// What to sign, `base64url(header) "." base64url(claims)` ([`proof_signing_input`]).
    pub signing_input: String,
}

/// A complete proof for one request: the value of the `DPoP` header (RFC 9449 §4.1).
pub fn sign_proof(
    signer: &dyn DpopSigner,
    method: &str,
    url: &str,
    now: UnixTime,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, DpopError> {
    let jti_random = signer.jti_random();
    let params = ProofParams { method, url, now, jti_random: &jti_random, access_token, nonce };
    let input = proof_signing_input(signer.key(), &params)?;
    let signature = signer.sign(input.as_bytes()).map_err(DpopError::SigningFailed)?;
    Ok(assemble(&input, &signature))
}

/// The `htu` of a proof for `url` (RFC 9449 §4.2: "without query and fragment parts"):
/// lower-case scheme and host, no default port (RFC 3986 §6.2.2, §6.2.3).
pub fn htu(url: &str) -> Result<String, UrlError> {
    let u = Url::parse(url)?;
    let mut out = format!("{}://{}", u.scheme(), u.host().to_ascii_lowercase());
    if let Some(port) = u.port() {
        let default = if u.is_https() { 443 } else { 80 };
        if port != default {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    out.push_str(if u.path().is_empty() { "/" } else { u.path() });
    Ok(out)
}

/// The `ath` claim: base64url(SHA-256(the ASCII access token)) (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    encoding::base64url_nopad(&Sha256::digest(access_token.as_bytes()))
}

/// What one proof is for.
#[derive(Clone, Copy, Debug)]
pub struct ProofParams<'a> {
    /// The request's method (`POST` for the token endpoint).
    pub method: &'a str,
    /// The request's URL (query and fragment are dropped: [`htu`]).
    pub url: &'a str,
    /// The host's clock.
    pub now: UnixTime,
    /// 16 random bytes from the host, made into the `jti` (RFC 9449 §4.2: unique per proof).
    pub jti_random: &'a [u8; 16],
    /// The access token the request carries (resource requests; adds `ath`).
    pub access_token: Option<&'a str>,
    /// The latest nonce of the server the request goes to (§8, §9).
    pub nonce: Option<&'a str>,
}

/// The proof's signing input, `base64url(header) "." base64url(claims)` (RFC 7515 §5.1): the
/// host signs these bytes with the key of `key` and passes the signature to [`assemble`].
pub fn proof_signing_input(key: &DpopKey, p: &ProofParams<'_>) -> Result<String, DpopError> {
    let alg = key.alg.as_str();
    if alg.is_empty() || alg == "none" || alg.starts_with("HS") {
        return Err(DpopError::Algorithm(alg.to_owned()));
    }
    if p.method.is_empty() || !p.method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(DpopError::Method(p.method.to_owned()));
    }
    let header = Json::Object(vec![
        ("typ".to_owned(), Json::str(PROOF_TYP)),
        ("alg".to_owned(), Json::str(alg)),
        ("jwk".to_owned(), key.jwk.to_json()),
    ]);
    let mut claims = vec![
        ("jti".to_owned(), Json::str(encoding::base64url_nopad(p.jti_random))),
        ("htm".to_owned(), Json::str(p.method.to_ascii_uppercase())),
        ("htu".to_owned(), Json::str(htu(p.url)?)),
        ("iat".to_owned(), Json::uint(p.now.secs())),
    ];
    if let Some(token) = p.access_token {
        claims.push(("ath".to_owned(), Json::str(ath(token))));
    }
    if let Some(nonce) = p.nonce {
        claims.push(("nonce".to_owned(), Json::str(nonce)));
    }
    let mut out = encoding::base64url_nopad(header.to_text().as_bytes());
    out.push('.');
    out.push_str(&encoding::base64url_nopad(Json::Object(claims).to_text().as_bytes()));
    Ok(out)
}

/// The compact JWS: the signing input and the host's signature (RFC 7515 §7.1). For ES256 the
/// signature is the 64-byte `R || S` (RFC 7518 §3.4), which WebCrypto and ring produce.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", encoding::base64url_nopad(signature))
}

/// An algorithm of `offered` (the host's, in its order of preference) that the server accepts
/// (`dpop_signing_alg_values_supported`, RFC 9449 §5.1; absent: any).
pub fn choose_alg<'a>(
    supported: Option<&[String]>,
    offered: &[&'a str],
) -> Result<&'a str, DpopError> {
    let found = offered.iter().find(|a| supported.is_none_or(|s| s.iter().any(|x| x == *a)));
    found.copied().ok_or_else(|| DpopError::NoCommonAlgorithm {
        supported: supported.map(|s| s.join(", ")).unwrap_or_default(),
        offered: offered.join(", "),
    })
}

/// The `DPoP-Nonce` header's value when it is a valid nonce (RFC 9449 §8.1:
/// `1*NQCHAR`, i.e. printable ASCII without `"` and `\`, and not overly long).
pub fn response_nonce(resp: &HttpResponse) -> Option<&str> {
    resp.header(NONCE_HEADER).filter(|n| {
        !n.is_empty()
            && n.len() <= MAX_NONCE_LEN
            && n.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
    })
}

/// When the server refused the request for want of a (fresh) nonce, the nonce to retry with:
/// a 400 `{"error": "use_dpop_nonce"}` from the authorization server (RFC 9449 §8), or a 401
/// whose `WWW-Authenticate` has a `DPoP` challenge with `error="use_dpop_nonce"` from the
/// resource server (§9). `None` for anything else, or when the answer carries no valid
/// `DPoP-Nonce` (retrying without one cannot succeed).
pub fn nonce_to_retry_with(resp: &HttpResponse) -> Option<&str> {
    let asks = match resp.status {
        400 => json::object_any_type(resp).ok().is_some_and(|obj| {
            json::opt_str(&obj, "error").ok().flatten() == Some("use_dpop_nonce")
        }),
        401 => resp.header("www-authenticate").is_some_and(|h| {
            crate::www_authenticate::parse(h).is_ok_and(|challenges| {
                challenges.iter().any(|c| {
                    c.scheme.eq_ignore_ascii_case("DPoP")
                        && c.param("error") == Some("use_dpop_nonce")
                })
            })
        }),
        _ => false,
    };
    if asks {
        response_nonce(resp)
    } else {
        None
    }
}

/// The last nonce each origin sent (RFC 9449 §8.2: a server may send a new nonce on any
/// response; the next proof to that server carries it). Bounded: the oldest origin goes first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonceCache {
    entries: Vec<(String, String)>,
}

impl NonceCache {
    /// Remembers the nonce of `resp`, when it has one, for the origin of `url`.
    pub fn remember(&mut self, url: &str, resp: &HttpResponse) {
        let (Some(nonce), Ok(u)) = (response_nonce(resp), Url::parse(url)) else { return };
        let origin = u.origin();
        self.entries.retain(|(o, _)| *o != origin);
        if self.entries.len() >= NONCE_CACHE_CAP {
            self.entries.remove(0);
        }
        self.entries.push((origin, nonce.to_owned()));
    }

    /// The nonce to put in a proof for `url`.
    pub fn nonce_for(&self, url: &str) -> Option<&str> {
        let origin = Url::parse(url).ok()?.origin();
        self.entries.iter().find(|(o, _)| *o == origin).map(|(_, n)| n.as_str())
    }
}

#[cfg(test)]
mod tests;
