//! Who is calling: a session cookie, `?session=<id>` on the WebSocket URL, or
//! `Authorization: Bearer <JWT>` whose signature is verified (HS256 with a shared secret, or
//! RS256/ES256 with keys from a JWKS URL) together with `exp`, `nbf`, `iss` and `aud`.
//!
//! Sessions are themselves short JWTs signed with the server's session secret (HS256): any
//! replica with the same secret accepts them, and nothing is kept per session. Never is a JWT's
//! payload used without its signature verified (the weakness of the system this replaces).
//!
//! The session cookie is `__Host-mcp_session` (RFC 6265bis §4.1.3.2: `Secure`, `Path=/`, no
//! `Domain`, so a sibling subdomain cannot plant one). Browsers do not all keep `Secure` cookies
//! of `http://localhost`, so when the redirect URI is http loopback the name is `mcp_session`
//! without `Secure` ([`Identity::session_cookie`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    decode, decode_header, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "__Host-mcp_session";
/// Its name when the redirect URI is http loopback (no `Secure`, so no `__Host-`).
pub const LOOPBACK_SESSION_COOKIE: &str = "mcp_session";
/// The least HS256 secret: 256 bits, the hash's size (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;
/// The largest JWKS body read (a key set is a few KiB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// After a failed JWKS fetch, requests are refused at once for this long before the next try.
pub const JWKS_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why an [`Identity`] cannot be built from its configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityConfigError {
    /// The session secret is shorter than 32 bytes.
    #[error("the session secret must have at least {min} bytes, it has {len}")]
    SessionSecretTooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The HS256 secret for bearer JWTs is shorter than 32 bytes (RFC 7518 §3.2).
    #[error("the HS256 secret must have at least {min} bytes (RFC 7518 §3.2), it has {len}")]
    Hs256SecretTooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A JWKS without a required `iss`: tokens of any issuer sharing the keys would pass.
    #[error("bearer JWTs verified with a JWKS need a required `iss` (JwtConfig::issuer)")]
    JwksIssuerRequired,
    /// A JWKS without a required `aud`: tokens minted for other applications would pass
    /// (RFC 7519 §4.1.3).
    #[error("bearer JWTs verified with a JWKS need a required `aud` (JwtConfig::audience)")]
    JwksAudienceRequired,
    /// The HTTP client for the JWKS could not be built.
    #[error("cannot build the JWKS HTTP client: {0}")]
    HttpClient(String),
}

impl IdentityConfigError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityConfigError::SessionSecretTooShort { .. } => "session_secret_too_short",
            IdentityConfigError::Hs256SecretTooShort { .. } => "hs256_secret_too_short",
            IdentityConfigError::JwksIssuerRequired => "jwks_issuer_required",
            IdentityConfigError::JwksAudienceRequired => "jwks_audience_required",
            IdentityConfigError::HttpClient(_) => "http_client",
        }
    }
}

/// Why a caller was not identified (HTTP 401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Neither a session nor a bearer token.
    #[error(
        "no identity: send the session cookie `__Host-mcp_session` (`mcp_session` on http \
         loopback), `?session=<id>` (WebSocket), or `Authorization: Bearer <JWT>`"
    )]
    Missing,
    /// The session id does not verify or has expired.
    #[error("the session is invalid or expired: {0}")]
    BadSession(String),
    /// The bearer JWT was refused.
    #[error("the bearer token was refused: {0}")]
    BadToken(String),
    /// Bearer tokens are not accepted by this server.
    #[error("this server accepts no bearer tokens (no JWT verification is configured)")]
    JwtNotConfigured,
    /// The identity names no usable user: empty, longer than 256 bytes, or with control
    /// characters (store keys and the server's own reserved names use those).
    #[error("the identity's user id is empty, longer than 256 bytes or has control characters")]
    BadUser,
}

impl IdentityError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Missing => "identity_missing",
            IdentityError::BadSession(_) => "session_invalid",
            IdentityError::BadToken(_) => "token_invalid",
            IdentityError::JwtNotConfigured => "bearer_not_accepted",
            IdentityError::BadUser => "user_invalid",
        }
    }
}

/// Where the keys that verify bearer JWTs come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Hs256(Vec<u8>),
    /// RS256 or ES256 with the keys of a JWK Set (fetched on first use and again when a `kid`
    /// is unknown, at most every 30 s).
    Jwks {
        /// The JWKS URL.
        url: String,
    },
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Hs256(_) => f.write_str("Hs256(<redacted>)"),
            JwtKey::Jwks { url } => f.debug_struct("Jwks").field("url", url).finish(),
        }
    }
}

/// How bearer JWTs are verified.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The verification key(s).
    pub key: JwtKey,
    /// The required `iss` (none: not checked).
    pub issuer: Option<String>,
    /// The required `aud` (none: not checked).
    pub audience: Option<String>,
    /// The claim naming the user (`sub` by default).
    pub user_claim: String,
    /// Clock leeway for `exp`/`nbf`, seconds (30 by default).
    pub leeway: u64,
}

impl JwtConfig {
    /// Verification with `key`, `sub` as the user, no `iss`/`aud` requirement, 30 s leeway.
    pub fn new(key: JwtKey) -> JwtConfig {
        JwtConfig { key, issuer: None, audience: None, user_claim: "sub".into(), leeway: 30 }
    }
}

/// Identifies callers (the JWT or cookie of each request) and issues session ids.
pub struct Identity {
    session_key: EncodingKey,
    session_check: DecodingKey,
    session_ttl: Duration,
    jwt: Option<JwtConfig>,
    jwks: RwLock<Option<(JwkSet, Instant)>>,
    /// The last failed JWKS fetch: when, and why (refused at once until it is old enough).
    jwks_failed: std::sync::Mutex<Option<(Instant, IdentityError)>>,
    http: reqwest::Client,
    /// Keys the consent-binding cookies (derived from the session secret: every replica has it).
    binding_key: [u8; 32],
    /// The redirect URI is http loopback: cookies without `Secure`/`__Host-`.
    pub(crate) loopback: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("jwt", &self.jwt).finish_non_exhaustive()
    }
}

const SESSION_ISSUER: &str = "mcp-oauth-session";

#[derive(serde::Serialize, serde::Deserialize)]
struct SessionClaims {
    sub: String,
    iss: String,
    exp: u64,
}

impl Identity {
    /// Sessions signed with `session_secret` (at least 32 bytes; shared by all replicas) and
    /// valid for `session_ttl`; bearer JWTs verified per `jwt` (none: refused).
    pub fn new(
        session_secret: &[u8],
        session_ttl: Duration,
        jwt: Option<JwtConfig>,
    ) -> Result<Identity, IdentityConfigError> {
        if session_secret.len() < 32 {
            return Err(IdentityConfigError::SessionSecretTooShort {
                len: session_secret.len(),
                min: 32,
            });
        }
        match jwt.as_ref().map(|j| (&j.key, j)) {
            // RFC 7518 §3.2: a key of at least the hash's size.
            Some((JwtKey::Hs256(secret), _)) if secret.len() < MIN_HS256_SECRET => {
                return Err(IdentityConfigError::Hs256SecretTooShort {
                    len: secret.len(),
                    min: MIN_HS256_SECRET,
                });
            }
            // RFC 7519 §4.1.1, §4.1.3: keys shared by an issuer's applications need both.
            Some((JwtKey::Jwks { .. }, j)) if j.issuer.as_deref().is_none_or(str::is_empty) => {
                return Err(IdentityConfigError::JwksIssuerRequired);
            }
            Some((JwtKey::Jwks { .. }, j)) if j.audience.as_deref().is_none_or(str::is_empty) => {
                return Err(IdentityConfigError::JwksAudienceRequired);
            }
            _ => {}
        }
        let http = crate::http::client_builder()
            .map_err(IdentityConfigError::HttpClient)?
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| IdentityConfigError::HttpClient(e.to_string()))?;
        Ok(Identity {
            session_key: EncodingKey::from_secret(session_secret),
            session_check: DecodingKey::from_secret(session_secret),
            session_ttl,
            jwt,
            jwks: RwLock::new(None),
            jwks_failed: std::sync::Mutex::new(None),
            http,
            binding_key: hmac_sha256(session_secret, b"mcp-oauth consent binding v1"),
            loopback: false,
        })
    }

    /// The `Set-Cookie` value that stores `session` in the browser: `__Host-mcp_session` with
    /// `Secure` (or `mcp_session` without, when the redirect URI is http loopback), `HttpOnly`,
    /// `SameSite=Lax`, `Path=/`.
    pub fn session_cookie(&self, session: &str) -> String {
        let (name, secure) = if self.loopback {
            (LOOPBACK_SESSION_COOKIE, "")
        } else {
            (SESSION_COOKIE, "; Secure")
        };
        format!(
            "{name}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.session_ttl.as_secs()
        )
    }

    /// The value of the consent-binding cookie of `state`: HMAC-SHA256 under a key derived
    /// from the session secret, hex.
    pub(crate) fn consent_binding(&self, state: &str) -> String {
        hex(&hmac_sha256(&self.binding_key, state.as_bytes()))
    }

    /// A new session id for `user` (the host calls this after its own login).
    pub fn create_session(&self, user: &str) -> Result<String, String> {
        if !valid_user(user) {
            return Err(IdentityError::BadUser.to_string());
        }
        let exp = crate::now().0 + self.session_ttl.as_secs();
        let claims = SessionClaims { sub: user.to_owned(), iss: SESSION_ISSUER.into(), exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.session_key)
            .map_err(|e| e.to_string())
    }

    /// The user of a session id.
    pub fn session_user(&self, session: &str) -> Result<String, IdentityError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[SESSION_ISSUER]);
        v.leeway = 0;
        decode::<SessionClaims>(session, &self.session_check, &v)
            .map(|d| d.claims.sub)
            .map_err(|e| IdentityError::BadSession(e.to_string()))
    }

    /// The user named by a bearer JWT, after verifying signature, `exp`, `nbf`, `iss`, `aud`.
    pub async fn bearer_user(&self, token: &str) -> Result<String, IdentityError> {
        let Some(cfg) = &self.jwt else { return Err(IdentityError::JwtNotConfigured) };
        let bad = |e: String| IdentityError::BadToken(e);
        let header = decode_header(token).map_err(|e| bad(format!("malformed JWT: {e}")))?;
        let (key, alg) = match &cfg.key {
            JwtKey::Hs256(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            JwtKey::Jwks { url } => {
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(bad(format!(
                        "algorithm {:?} is not accepted (RS256, ES256)",
                        header.alg
                    )));
                }
                (self.jwks_key(url, header.kid.as_deref(), header.alg).await?, header.alg)
            }
        };
        let mut v = Validation::new(alg);
        v.leeway = cfg.leeway;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp"]);
        if let Some(iss) = &cfg.issuer {
            v.set_issuer(&[iss]);
        }
        match &cfg.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        let data = decode::<serde_json::Value>(token, &key, &v).map_err(|e| bad(e.to_string()))?;
        data.claims
            .get(&cfg.user_claim)
            .and_then(|u| u.as_str())
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("the `{}` claim is missing", cfg.user_claim)))
    }

    async fn jwks_key(
        &self,
        url: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, IdentityError> {
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(kid) => set.find(kid)?,
                None if set.keys.len() == 1 => set.keys.first()?,
                None => return None,
            };
            // The key's own algorithm, when it names one, must be the token's.
            if jwk.common.key_algorithm.is_some_and(|a| format!("{a:?}") != format!("{alg:?}")) {
                return None;
            }
            DecodingKey::from_jwk(jwk).ok()
        };
        if let Some((set, _)) = &*self.jwks.read().await {
            if let Some(key) = find(set) {
                return Ok(key);
            }
        }
        let mut cached = self.jwks.write().await;
        let fresh = cached.as_ref().is_some_and(|(_, at)| at.elapsed() < JWKS_RETRY_AFTER);
        if !fresh {
            // A failed fetch is not repeated for every request: refused at once for a while.
            let failed = self.jwks_failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some((at, e)) = failed.filter(|(at, _)| at.elapsed() < JWKS_RETRY_AFTER) {
                let left = JWKS_RETRY_AFTER.saturating_sub(at.elapsed()).as_secs();
                return Err(IdentityError::BadToken(format!("{e} (next try in {left} s)")));
            }
            match self.fetch_jwks(url).await {
                Ok(set) => *cached = Some((set, Instant::now())),
                Err(e) => {
                    *self.jwks_failed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((Instant::now(), e.clone()));
                    return Err(e);
                }
            }
        }
        cached.as_ref().and_then(|(set, _)| find(set)).ok_or_else(|| {
            IdentityError::BadToken(format!("no key {kid:?} for {alg:?} in the JWKS at {url}"))
        })
    }

    async fn fetch_jwks(&self, url: &str) -> Result<JwkSet, IdentityError> {
        let fail =
            |e: String| IdentityError::BadToken(format!("cannot read the JWKS at {url}: {e}"));
        let mut resp = self.http.get(url).send().await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let too_big = || fail(format!("the body is larger than {MAX_JWKS_BYTES} bytes"));
        if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| fail(e.to_string()))
    }

    /// Identifies the caller of a request: `Authorization: Bearer` first, then the session
    /// cookie, then (when `query_session` is allowed: WebSocket upgrades) `?session=`. The user
    /// id must be usable ([`valid_user`]).
    pub async fn identify(
        &self,
        headers: &axum::http::HeaderMap,
        query_session: Option<&str>,
    ) -> Result<String, IdentityError> {
        let user = self.identify_any(headers, query_session).await?;
        if !valid_user(&user) {
            return Err(IdentityError::BadUser);
        }
        Ok(user)
    }

    async fn identify_any(
        &self,
        headers: &axum::http::HeaderMap,
        query_session: Option<&str>,
    ) -> Result<String, IdentityError> {
        if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
            let auth = auth.to_str().map_err(|_| IdentityError::BadToken("not ASCII".into()))?;
            let token =
                auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).ok_or_else(
                    || IdentityError::BadToken("the Authorization scheme is not Bearer".into()),
                )?;
            return self.bearer_user(token.trim()).await;
        }
        let plain = if self.loopback { cookie(headers, LOOPBACK_SESSION_COOKIE) } else { None };
        if let Some(session) = cookie(headers, SESSION_COOKIE).or(plain) {
            return self.session_user(&session);
        }
        match query_session {
            Some(s) => self.session_user(s),
            None => Err(IdentityError::Missing),
        }
    }
}

/// A user id the server accepts: 1 to 256 bytes, no control characters (so no identity can
/// name the server's reserved store users, such as the owner of shared registrations).
pub fn valid_user(user: &str) -> bool {
    !user.is_empty() && user.len() <= 256 && !user.chars().any(char::is_control)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality in time independent of where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(
        |h| {
            h.split(';').find_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k == name).then(|| v.to_owned())
            })
        },
    )
}

/// A shared handle.
pub type SharedIdentity = Arc<Identity>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn config_errors_have_codes() {
        let short = Identity::new(b"short", Duration::from_secs(1), None).err();
        assert_eq!(short.map(|e| e.code()), Some("session_secret_too_short"));
        let jwt = JwtConfig::new(JwtKey::Hs256(vec![1; 31]));
        let err = Identity::new(&[0; 32], Duration::from_secs(1), Some(jwt)).err();
        assert_eq!(err.map(|e| e.code()), Some("hs256_secret_too_short"));
        let mut jwks = JwtConfig::new(JwtKey::Jwks { url: "https://idp.test/jwks".into() });
        jwks.issuer = Some("https://idp.test".into());
        let err = Identity::new(&[0; 32], Duration::from_secs(1), Some(jwks)).err();
        assert_eq!(err.map(|e| e.code()), Some("jwks_audience_required"));
    }

    #[test]
    fn session_cookie_is_host_prefixed_and_secure_off_loopback() {
        let mut id = Identity::new(&[0; 32], Duration::from_secs(60), None).unwrap();
        let c = id.session_cookie("s");
        assert!(c.starts_with("__Host-mcp_session=s; Path=/; HttpOnly; SameSite=Lax"), "{c}");
        assert!(c.ends_with("; Secure"), "{c}");
        id.loopback = true;
        assert!(id.session_cookie("s").starts_with("mcp_session=s;"));
        assert!(!id.session_cookie("s").contains("Secure"));
    }
}
