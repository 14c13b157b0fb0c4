//! JSON forms of the values hosts persist: tokens, client registrations, pending
//! authorizations, discovery results, and the whole [`FlowSnapshot`]. One format for every
//! adapter (native stores, Redis, browser storage), written and read here only.
//!
//! Reading is strict: a missing or mistyped member is an error that names its path
//! (`tokens.expires_at: expected a number`), never a silent default. URL members are validated
//! again on the way in. Secrets are written in clear: the stores encrypt them at rest.

use crate::authorize::PendingAuthorization;
use crate::error::{Error, FlowError};
use crate::flow::{Discovery, FlowSnapshot, StoredTokens};
use crate::json::{self, Json, Object};
use crate::registration::{ClientRegistration, IdentitySource};
use crate::resource_metadata::ResourceMetadata;
use crate::secret::{AccessToken, ClientSecret, IdToken, PkceVerifier, RefreshToken, State};
use crate::server_metadata::ServerMetadata;
use crate::time::UnixTime;
use crate::token::{TokenEndpointAuth, TokenSet};
use crate::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl, UrlError};

/// Builds an object member by member; `None` members are left out.
#[derive(Default)]
struct Obj(Object);

impl Obj {
    fn s(mut self, name: &str, v: &str) -> Obj {
        self.0.push((name.to_owned(), Json::str(v)));
        self
    }
    fn opt_s(self, name: &str, v: Option<&str>) -> Obj {
        match v {
            Some(v) => self.s(name, v),
            None => self,
        }
    }
    fn n(mut self, name: &str, v: u64) -> Obj {
        self.0.push((name.to_owned(), Json::uint(v)));
        self
    }
    fn opt_n(self, name: &str, v: Option<u64>) -> Obj {
        match v {
            Some(v) => self.n(name, v),
            None => self,
        }
    }
    fn b(mut self, name: &str, v: bool) -> Obj {
        self.0.push((name.to_owned(), Json::Bool(v)));
        self
    }
    /// A boolean written only when true (members added later, read with `Fields::opt_b`).
    #[cfg(feature = "dpop")]
    fn opt_b(self, name: &str, v: bool) -> Obj {
        if v {
            self.b(name, v)
        } else {
            self
        }
    }
    fn v(mut self, name: &str, v: Json) -> Obj {
        self.0.push((name.to_owned(), v));
        self
    }
    fn opt_v(self, name: &str, v: Option<Json>) -> Obj {
        match v {
            Some(v) => self.v(name, v),
            None => self,
        }
    }
    fn opt_list(self, name: &str, v: Option<&[String]>) -> Obj {
        match v {
            Some(v) => self.v(name, Json::str_array(v)),
            None => self,
        }
    }
    fn done(self) -> Json {
        Json::Object(self.0)
    }
}

/// Reads an object's members, naming the path in errors.
struct Fields<'a> {
    obj: &'a Object,
    path: String,
}

type R<T> = Result<T, Error>;

fn bad(path: &str, name: &str, what: &str) -> Error {
    FlowError::Snapshot(format!("{path}.{name}: {what}")).into()
}

impl<'a> Fields<'a> {
    fn of(v: &'a Json, path: &str) -> R<Fields<'a>> {
        match v {
            Json::Object(obj) => Ok(Fields { obj, path: path.to_owned() }),
            _ => Err(FlowError::Snapshot(format!("{path}: expected an object")).into()),
        }
    }
    fn get(&self, name: &str) -> Option<&'a Json> {
        self.obj.iter().find(|(n, _)| n == name).map(|(_, v)| v).filter(|v| **v != Json::Null)
    }
    fn opt_s(&self, name: &str) -> R<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&self.path, name, "expected a string")),
        }
    }
    fn s(&self, name: &str) -> R<String> {
        self.opt_s(name)?.ok_or_else(|| bad(&self.path, name, "missing"))
    }
    fn opt_n(&self, name: &str) -> R<Option<u64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Json::Number(_)) => v
                .as_u64_lenient()
                .map(Some)
                .ok_or_else(|| bad(&self.path, name, "expected a number")),
            Some(_) => Err(bad(&self.path, name, "expected a number")),
        }
    }
    fn n(&self, name: &str) -> R<u64> {
        self.opt_n(name)?.ok_or_else(|| bad(&self.path, name, "missing"))
    }
    fn time(&self, name: &str) -> R<UnixTime> {
        self.n(name).map(UnixTime)
    }
    fn opt_time(&self, name: &str) -> R<Option<UnixTime>> {
        Ok(self.opt_n(name)?.map(UnixTime))
    }
    /// A boolean member that may be absent (false).
    #[cfg(feature = "dpop")]
    fn opt_b(&self, name: &str) -> R<bool> {
        if self.get(name).is_none() {
            return Ok(false);
        }
        self.b(name)
    }
    fn b(&self, name: &str) -> R<bool> {
        match self.get(name) {
            None => Err(bad(&self.path, name, "missing")),
            Some(Json::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(&self.path, name, "expected a boolean")),
        }
    }
    fn opt_list(&self, name: &str) -> R<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| bad(&self.path, name, "expected an array of strings")),
            Some(_) => Err(bad(&self.path, name, "expected an array of strings")),
        }
    }
    fn list(&self, name: &str) -> R<&'a [Json]> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            Some(_) => Err(bad(&self.path, name, "expected an array")),
        }
    }
    fn child(&self, name: &str) -> R<Option<Fields<'a>>> {
        self.get(name).map(|v| Fields::of(v, &format!("{}.{name}", self.path))).transpose()
    }
    fn url<T>(&self, name: &str, parse: fn(&str) -> Result<T, UrlError>) -> R<T> {
        parse(&self.s(name)?).map_err(|e| bad(&self.path, name, &e.to_string()))
    }
    fn opt_url<T>(&self, name: &str, parse: fn(&str) -> Result<T, UrlError>) -> R<Option<T>> {
        self.opt_s(name)?
            .map(|s| parse(&s).map_err(|e| bad(&self.path, name, &e.to_string())))
            .transpose()
    }
}

fn parse_text(text: &str, what: &str) -> R<Json> {
    json::parse(text.as_bytes()).map_err(|e| FlowError::Snapshot(format!("{what}: {e}")).into())
}

impl TokenSet {
    /// The JSON form (secrets in clear: encrypt at rest).
    pub fn to_json(&self) -> Json {
        Obj::default()
            .s("access_token", self.access_token.secret())
            .s("token_type", &self.token_type)
            .opt_s("refresh_token", self.refresh_token.as_ref().map(RefreshToken::secret))
            .opt_n("expires_at", self.expires_at.map(UnixTime::secs))
            .opt_s("scope", self.scope.as_deref())
            .opt_s("id_token", self.id_token.as_ref().map(IdToken::secret))
            .n("received_at", self.received_at.secs())
            .done()
    }

    fn read(f: &Fields<'_>) -> R<TokenSet> {
        Ok(TokenSet {
            access_token: AccessToken::new(f.s("access_token")?),
            token_type: f.s("token_type")?,
            refresh_token: f.opt_s("refresh_token")?.map(RefreshToken::new),
            expires_at: f.opt_time("expires_at")?,
            scope: f.opt_s("scope")?,
            id_token: f.opt_s("id_token")?.map(IdToken::new),
            received_at: f.time("received_at")?,
        })
    }

    /// Reads the JSON form written by [`TokenSet::to_json`].
    pub fn from_json(text: &str) -> R<TokenSet> {
        TokenSet::read(&Fields::of(&parse_text(text, "tokens")?, "tokens")?)
    }
}

fn source_name(s: IdentitySource) -> &'static str {
    match s {
        IdentitySource::PreRegistered => "pre_registered",
        IdentitySource::MetadataDocument => "metadata_document",
        IdentitySource::Dynamic => "dynamic",
    }
}

impl ClientRegistration {
    /// The JSON form (the secret in clear: encrypt at rest).
    pub fn to_json(&self) -> Json {
        Obj::default()
            .s("issuer", &self.issuer)
            .s("client_id", &self.client_id)
            .opt_s("client_secret", self.client_secret.as_ref().map(ClientSecret::secret))
            .opt_n("client_secret_expires_at", self.client_secret_expires_at.map(UnixTime::secs))
            .s("auth_method", self.auth_method.as_str())
            .s("redirect_uri", &self.redirect_uri)
            .s("source", source_name(self.source))
            .done()
    }

    fn read(f: &Fields<'_>) -> R<ClientRegistration> {
        let method = f.s("auth_method")?;
        let source = f.s("source")?;
        Ok(ClientRegistration {
            issuer: f.s("issuer")?,
            client_id: f.s("client_id")?,
            client_secret: f.opt_s("client_secret")?.map(ClientSecret::new),
            client_secret_expires_at: f.opt_time("client_secret_expires_at")?,
            auth_method: TokenEndpointAuth::from_name(&method).ok_or_else(|| {
                bad(&f.path, "auth_method", &format!("unknown method `{method}`"))
            })?,
            redirect_uri: f.s("redirect_uri")?,
            source: match source.as_str() {
                "pre_registered" => IdentitySource::PreRegistered,
                "metadata_document" => IdentitySource::MetadataDocument,
                "dynamic" => IdentitySource::Dynamic,
                _ => return Err(bad(&f.path, "source", &format!("unknown source `{source}`"))),
            },
        })
    }

    /// Reads the JSON form written by [`ClientRegistration::to_json`].
    pub fn from_json(text: &str) -> R<ClientRegistration> {
        ClientRegistration::read(&Fields::of(&parse_text(text, "registration")?, "registration")?)
    }
}

impl PendingAuthorization {
    /// The JSON form (holds the PKCE verifier and `state`: store it like a token).
    pub fn to_json(&self) -> Json {
        Obj::default()
            .s("state", self.state.secret())
            .s("verifier", self.verifier.secret())
            .s("issuer", &self.issuer)
            .opt_s("token_endpoint", self.token_endpoint.as_ref().map(EndpointUrl::as_str))
            .b("iss_parameter_supported", self.iss_parameter_supported)
            .s("redirect_uri", self.redirect_uri.as_str())
            .opt_s("resource", self.resource.as_ref().map(ResourceUrl::as_str))
            .opt_s("scope", self.scope.as_deref())
            .s("client_id", &self.client_id)
            .s("authorization_url", &self.authorization_url)
            .n("created_at", self.created_at.secs())
            .done()
    }

    fn read(f: &Fields<'_>) -> R<PendingAuthorization> {
        Ok(PendingAuthorization {
            state: State::new(f.s("state")?),
            verifier: PkceVerifier::new(f.s("verifier")?),
            issuer: f.s("issuer")?,
            token_endpoint: f.opt_url("token_endpoint", EndpointUrl::parse)?,
            iss_parameter_supported: f.b("iss_parameter_supported")?,
            redirect_uri: f.url("redirect_uri", RedirectUri::parse)?,
            resource: f.opt_url("resource", ResourceUrl::parse_published)?,
            scope: f.opt_s("scope")?,
            client_id: f.s("client_id")?,
            authorization_url: f.s("authorization_url")?,
            created_at: f.time("created_at")?,
        })
    }

    /// Reads the JSON form written by [`PendingAuthorization::to_json`].
    pub fn from_json(text: &str) -> R<PendingAuthorization> {
        PendingAuthorization::read(&Fields::of(&parse_text(text, "pending")?, "pending")?)
    }
}

fn resource_metadata_json(m: &ResourceMetadata) -> Json {
    let servers: Vec<&str> = m.authorization_servers.iter().map(IssuerUrl::as_str).collect();
    let obj = Obj::default()
        .s("url", &m.url)
        .s("resource", m.resource.as_str())
        .v("authorization_servers", Json::str_array(&servers))
        .opt_list("scopes_supported", m.scopes_supported.as_deref())
        .opt_s("resource_name", m.resource_name.as_deref());
    #[cfg(feature = "dpop")]
    let obj = obj
        .opt_b("dpop_bound_access_tokens_required", m.dpop_bound_access_tokens_required)
        .opt_list(
            "dpop_signing_alg_values_supported",
            m.dpop_signing_alg_values_supported.as_deref(),
        );
    obj.done()
}

fn read_resource_metadata(f: &Fields<'_>) -> R<ResourceMetadata> {
    let servers = f.opt_list("authorization_servers")?.unwrap_or_default();
    Ok(ResourceMetadata {
        url: f.s("url")?,
        resource: f.url("resource", ResourceUrl::parse_published)?,
        authorization_servers: servers
            .iter()
            .map(|s| {
                IssuerUrl::parse(s)
                    .map_err(|e| bad(&f.path, "authorization_servers", &e.to_string()))
            })
            .collect::<R<Vec<_>>>()?,
        scopes_supported: f.opt_list("scopes_supported")?,
        resource_name: f.opt_s("resource_name")?,
        // Absent in entries written before DPoP support: false and none, as in RFC 9728 §2.
        #[cfg(feature = "dpop")]
        dpop_bound_access_tokens_required: f.opt_b("dpop_bound_access_tokens_required")?,
        #[cfg(feature = "dpop")]
        dpop_signing_alg_values_supported: f.opt_list("dpop_signing_alg_values_supported")?,
    })
}

fn server_metadata_json(m: &ServerMetadata) -> Json {
    let obj = Obj::default()
        .s("issuer", m.issuer.as_str())
        .s("authorization_endpoint", m.authorization_endpoint.as_str())
        .s("token_endpoint", m.token_endpoint.as_str())
        .opt_s("registration_endpoint", m.registration_endpoint.as_ref().map(EndpointUrl::as_str))
        .opt_s("revocation_endpoint", m.revocation_endpoint.as_ref().map(EndpointUrl::as_str))
        .opt_list("scopes_supported", m.scopes_supported.as_deref())
        .opt_list(
            "token_endpoint_auth_methods_supported",
            m.token_endpoint_auth_methods_supported.as_deref(),
        )
        .opt_list("grant_types_supported", m.grant_types_supported.as_deref())
        .opt_list("code_challenge_methods_supported", m.code_challenge_methods_supported.as_deref())
        .b(
            "authorization_response_iss_parameter_supported",
            m.authorization_response_iss_parameter_supported,
        )
        .b("client_id_metadata_document_supported", m.client_id_metadata_document_supported);
    #[cfg(feature = "dpop")]
    let obj = obj.opt_list(
        "dpop_signing_alg_values_supported",
        m.dpop_signing_alg_values_supported.as_deref(),
    );
    obj.done()
}

fn read_server_metadata(f: &Fields<'_>) -> R<ServerMetadata> {
    Ok(ServerMetadata {
        issuer: f.url("issuer", IssuerUrl::parse)?,
        authorization_endpoint: f.url("authorization_endpoint", EndpointUrl::parse)?,
        token_endpoint: f.url("token_endpoint", EndpointUrl::parse)?,
        registration_endpoint: f.opt_url("registration_endpoint", EndpointUrl::parse)?,
        revocation_endpoint: f.opt_url("revocation_endpoint", EndpointUrl::parse)?,
        scopes_supported: f.opt_list("scopes_supported")?,
        token_endpoint_auth_methods_supported: f
            .opt_list("token_endpoint_auth_methods_supported")?,
        grant_types_supported: f.opt_list("grant_types_supported")?,
        code_challenge_methods_supported: f.opt_list("code_challenge_methods_supported")?,
        authorization_response_iss_parameter_supported: f
            .b("authorization_response_iss_parameter_supported")?,
        client_id_metadata_document_supported: f.b("client_id_metadata_document_supported")?,
        // Absent in entries written before DPoP support: the server advertised none.
        #[cfg(feature = "dpop")]
        dpop_signing_alg_values_supported: f.opt_list("dpop_signing_alg_values_supported")?,
    })
}

impl Discovery {
    /// The JSON form (public data: hosts may cache and share it).
    pub fn to_json(&self) -> Json {
        Obj::default()
            .opt_v("resource_metadata", self.resource_metadata.as_ref().map(resource_metadata_json))
            .v("server", server_metadata_json(&self.server))
            .b("legacy", self.legacy)
            .opt_s("header_url", self.header_url.as_deref())
            .opt_n("cache_until", self.cache_until.map(UnixTime::secs))
            .done()
    }

    fn read(f: &Fields<'_>) -> R<Discovery> {
        let server = f.child("server")?.ok_or_else(|| bad(&f.path, "server", "missing"))?;
        Ok(Discovery {
            resource_metadata: f
                .child("resource_metadata")?
                .map(|m| read_resource_metadata(&m))
                .transpose()?,
            server: read_server_metadata(&server)?,
            legacy: f.b("legacy")?,
            header_url: f.opt_s("header_url")?,
            cache_until: f.opt_time("cache_until")?,
        })
    }

    /// Reads the JSON form written by [`Discovery::to_json`].
    pub fn from_json(text: &str) -> R<Discovery> {
        Discovery::read(&Fields::of(&parse_text(text, "discovery")?, "discovery")?)
    }
}

impl FlowSnapshot {
    /// The JSON text of the snapshot (holds secrets: encrypt at rest).
    pub fn to_json(&self) -> String {
        Obj::default()
            .n("version", u64::from(self.version))
            .s("server_url", &self.server_url)
            .opt_v("discovery", self.discovery.as_ref().map(Discovery::to_json))
            .v(
                "registrations",
                Json::Array(self.registrations.iter().map(ClientRegistration::to_json).collect()),
            )
            .opt_v(
                "tokens",
                self.tokens.as_ref().map(|t| {
                    Obj::default().s("issuer", &t.issuer).v("tokens", t.tokens.to_json()).done()
                }),
            )
            .opt_v("pending", self.pending.as_ref().map(PendingAuthorization::to_json))
            .opt_s("last_requested_scope", self.last_requested_scope.as_deref())
            .done()
            .to_text()
    }

    /// Reads a snapshot written by [`FlowSnapshot::to_json`]. The version is checked by
    /// [`crate::AuthFlow::restore`]; a snapshot of an unknown version is still read as far as
    /// its shape allows, so the error can say which version it was.
    pub fn from_json(text: &str) -> R<FlowSnapshot> {
        let root = parse_text(text, "snapshot")?;
        let f = Fields::of(&root, "snapshot")?;
        let version = f.n("version")?;
        let version =
            u32::try_from(version).map_err(|_| bad("snapshot", "version", "out of range"))?;
        if version != crate::flow::SNAPSHOT_VERSION {
            return Err(FlowError::Snapshot(format!(
                "version {version} is not supported (this build reads version {})",
                crate::flow::SNAPSHOT_VERSION
            ))
            .into());
        }
        let tokens = match f.child("tokens")? {
            Some(t) => {
                let inner = t.child("tokens")?.ok_or_else(|| bad(&t.path, "tokens", "missing"))?;
                Some(StoredTokens { issuer: t.s("issuer")?, tokens: TokenSet::read(&inner)? })
            }
            None => None,
        };
        let registrations = f
            .list("registrations")?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ClientRegistration::read(&Fields::of(r, &format!("snapshot.registrations[{i}]"))?)
            })
            .collect::<R<Vec<_>>>()?;
        Ok(FlowSnapshot {
            version,
            server_url: f.s("server_url")?,
            discovery: f.child("discovery")?.map(|d| Discovery::read(&d)).transpose()?,
            registrations,
            tokens,
            pending: f.child("pending")?.map(|p| PendingAuthorization::read(&p)).transpose()?,
            last_requested_scope: f.opt_s("last_requested_scope")?,
        })
    }
}

mod entry;

#[cfg(test)]
mod tests;
