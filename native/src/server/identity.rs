//! Who is calling: a session cookie, `?session=<id>` on the WebSocket URL, or
//! `Authorization: Bearer <JWT>` whose signature is verified (HS256 with a shared secret, or
//! RS256/ES256 with keys from a JWKS URL) together with `exp`, `nbf`, `iss` and `aud`.
//!
//! Sessions are themselves short JWTs signed with the server's session secret (HS256): any
//! replica with the same secret accepts them, and nothing is kept per session. Never is a JWT's
//! payload used without its signature verified (the weakness of the system this replaces).

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    decode, decode_header, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use tokio::sync::RwLock;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "mcp_session";

/// Why a caller was not identified (HTTP 401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Neither a session nor a bearer token.
    #[error(
        "no identity: send a session cookie `mcp_session`, `?session=<id>` (WebSocket), or \
         `Authorization: Bearer <JWT>`"
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
}

impl IdentityError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Missing => "identity_missing",
            IdentityError::BadSession(_) => "session_invalid",
            IdentityError::BadToken(_) => "token_invalid",
            IdentityError::JwtNotConfigured => "bearer_not_accepted",
        }
    }
}

/// Where the keys that verify bearer JWTs come from.
#[derive(Clone)]
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

/// Identifies callers ([`Identity::from_parts`]) and issues session ids.
pub struct Identity {
    session_key: EncodingKey,
    session_check: DecodingKey,
    session_ttl: Duration,
    jwt: Option<JwtConfig>,
    jwks: RwLock<Option<(JwkSet, std::time::Instant)>>,
    http: reqwest::Client,
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
    ) -> Result<Identity, String> {
        if session_secret.len() < 32 {
            return Err(format!(
                "the session secret must have at least 32 bytes, it has {}",
                session_secret.len()
            ));
        }
        crate::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Identity {
            session_key: EncodingKey::from_secret(session_secret),
            session_check: DecodingKey::from_secret(session_secret),
            session_ttl,
            jwt,
            jwks: RwLock::new(None),
            http,
        })
    }

    /// A new session id for `user` (the host calls this after its own login).
    pub fn create_session(&self, user: &str) -> Result<String, String> {
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
        let fresh = cached.as_ref().is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(30));
        if !fresh {
            let set = self.fetch_jwks(url).await?;
            *cached = Some((set, std::time::Instant::now()));
        }
        cached.as_ref().and_then(|(set, _)| find(set)).ok_or_else(|| {
            IdentityError::BadToken(format!("no key {kid:?} for {alg:?} in the JWKS at {url}"))
        })
    }

    async fn fetch_jwks(&self, url: &str) -> Result<JwkSet, IdentityError> {
        let fail =
            |e: String| IdentityError::BadToken(format!("cannot read the JWKS at {url}: {e}"));
        let resp = self.http.get(url).send().await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        resp.json::<JwkSet>().await.map_err(|e| fail(e.to_string()))
    }

    /// Identifies the caller of a request: `Authorization: Bearer` first, then the session
    /// cookie, then (when `query_session` is allowed: WebSocket upgrades) `?session=`.
    pub async fn identify(
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
        if let Some(session) = cookie(headers, SESSION_COOKIE) {
            return self.session_user(&session);
        }
        match query_session {
            Some(s) => self.session_user(s),
            None => Err(IdentityError::Missing),
        }
    }
}

/// The value of cookie `name`.
fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
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
