//! The loader: `${VAR}` interpolation and the walker that turns the YAML value into the model,
//! naming the YAML path of every error.

use std::path::PathBuf;

use serde_yaml_ng::Value;

use mcp_oauth_core::token::TokenEndpointAuth;

use super::*;
use crate::signer::SigningAlg;

mod server;

// ------------------------------------------------------------------------------------------
// Interpolation

/// Replaces `${VAR}` and `${VAR:-default}` in `text` (`$$` → `$`), looking variables up in
/// `env`. `path` names the value in errors.
pub fn interpolate(
    text: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            return Err(err(path, ConfigProblem::BadInterpolation(format!("${{{body_and_tail}"))));
        };
        let body = &body_and_tail[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(err(path, ConfigProblem::BadInterpolation(format!("${{{body}}}"))));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(err(path, ConfigProblem::MissingVariable { name: name.to_owned() }))
            }
        }
        rest = &body_and_tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// The typed walk

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

pub(super) struct Walker<'e> {
    pub(super) env: &'e dyn Fn(&str) -> Option<String>,
}

/// A mapping being read: remembers the keys read, so leftovers are unknown keys.
struct Obj<'a> {
    path: String,
    members: Vec<(String, &'a Value)>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Walker<'_> {
    fn obj<'a>(&self, v: &'a Value, path: &str) -> Result<Obj<'a>, ConfigError> {
        let Value::Mapping(m) = v else {
            return Err(err(
                path,
                ConfigProblem::WrongType { expected: "a mapping", found: type_name(v) },
            ));
        };
        let mut members = Vec::new();
        for (k, val) in m {
            let key = match k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(err(
                        path,
                        ConfigProblem::WrongType {
                            expected: "string keys",
                            found: type_name(other),
                        },
                    ))
                }
            };
            members.push((key, val));
        }
        Ok(Obj { path: path.to_owned(), members })
    }

    /// An interpolated string (numbers and booleans are accepted as their text).
    fn string(&self, v: &Value, path: &str) -> Result<String, ConfigError> {
        match v {
            Value::String(s) => interpolate(s, path, self.env),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(err(
                path,
                ConfigProblem::WrongType { expected: "a string", found: type_name(other) },
            )),
        }
    }

    fn bool(&self, v: &Value, path: &str) -> Result<bool, ConfigError> {
        match v {
            Value::Bool(b) => Ok(*b),
            // After interpolation (`${ENABLE:-true}`) a boolean arrives as text.
            Value::String(_) => match self.string(v, path)?.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(err(
                    path,
                    ConfigProblem::WrongType { expected: "a boolean", found: "a string" },
                )),
            },
            other => Err(err(
                path,
                ConfigProblem::WrongType { expected: "a boolean", found: type_name(other) },
            )),
        }
    }

    fn uint(&self, v: &Value, path: &str) -> Result<u64, ConfigError> {
        let wrong = |found| {
            err(path, ConfigProblem::WrongType { expected: "a non-negative integer", found })
        };
        match v {
            Value::Number(n) => n.as_u64().ok_or_else(|| wrong("a number")),
            Value::String(_) => self.string(v, path)?.parse().map_err(|_| wrong("a string")),
            other => Err(wrong(type_name(other))),
        }
    }

    /// A list of strings, or one space-separated string.
    fn string_list(&self, v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
        match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
                .collect(),
            Value::String(_) => {
                Ok(self.string(v, path)?.split_whitespace().map(str::to_owned).collect())
            }
            other => Err(err(
                path,
                ConfigProblem::WrongType { expected: "a list of strings", found: type_name(other) },
            )),
        }
    }
}

impl<'a> Obj<'a> {
    fn take(&mut self, key: &str) -> Option<&'a Value> {
        let i = self.members.iter().position(|(k, _)| k == key)?;
        let (_, v) = self.members.remove(i);
        // An explicit `key: null` (or `key:`) is the same as leaving it out.
        (!v.is_null()).then_some(v)
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn require(&mut self, key: &str) -> Result<&'a Value, ConfigError> {
        self.take(key).ok_or_else(|| err(&self.path(key), ConfigProblem::Missing))
    }

    /// Fails on the first key not read.
    fn finish(self, allowed: &[&str]) -> Result<(), ConfigError> {
        match self.members.first() {
            Some((k, _)) => Err(err(
                &join(&self.path, k),
                ConfigProblem::UnknownKey { allowed: allowed.join(", ") },
            )),
            None => Ok(()),
        }
    }
}

fn names(docs: &[OptionDoc]) -> Vec<&'static str> {
    docs.iter().map(|o| o.name).collect()
}

fn invalid(path: &str, msg: impl Into<String>) -> ConfigError {
    err(path, ConfigProblem::InvalidValue(msg.into()))
}

fn check_url(url: &str, path: &str) -> Result<(), ConfigError> {
    mcp_oauth_core::url::Url::parse(url).map(|_| ()).map_err(|e| invalid(path, e.to_string()))
}

impl Walker<'_> {
    pub(super) fn config(&self, root: &Value) -> Result<Config, ConfigError> {
        if root.is_null() {
            return Ok(Config::default());
        }
        let mut top = self.obj(root, "")?;
        let mut config = Config::default();
        if let Some(auth) = top.take("authentication") {
            for (name, v) in self.obj(auth, "authentication")?.members {
                let path = join("authentication", &name);
                config.authentication.push((name, self.provider(v, &path)?));
            }
        }
        if let Some(groups) = top.take("function_groups") {
            for (name, v) in self.obj(groups, "function_groups")?.members {
                let path = join("function_groups", &name);
                config.function_groups.push((name, self.group(v, &path, &config)?));
            }
        }
        if let Some(egress) = top.take("egress") {
            config.egress_allow = self.egress(egress)?;
        }
        top.finish(&["function_groups", "authentication", "egress"])?;
        Ok(config)
    }

    /// `egress: { allow: [...] }`.
    fn egress(&self, v: &Value) -> Result<Vec<crate::egress::EgressAllow>, ConfigError> {
        let mut o = self.obj(v, "egress")?;
        let mut allow = Vec::new();
        if let Some(list) = o.take("allow") {
            let path = o.path("allow");
            for (i, entry) in self.string_list(list, &path)?.iter().enumerate() {
                let entry = crate::egress::EgressAllow::parse(entry)
                    .map_err(|e| invalid(&format!("{path}[{i}]"), e.to_string()))?;
                allow.push(entry);
            }
        }
        o.finish(&["allow"])?;
        Ok(allow)
    }

    fn provider(&self, v: &Value, path: &str) -> Result<AuthProvider, ConfigError> {
        let o = self.obj(v, path)?;
        let type_path = join(path, "_type");
        let kind = match o.members.iter().find(|(k, _)| k == "_type") {
            Some((_, t)) => self.string(t, &type_path)?,
            None => return Err(err(&type_path, ConfigProblem::Missing)),
        };
        match kind.as_str() {
            "mcp_oauth2" => self.oauth2(o).map(AuthProvider::OAuth2),
            "mcp_service_account" => self.service_account(o).map(AuthProvider::ServiceAccount),
            "mcp_workload_identity" => self.workload(o).map(AuthProvider::WorkloadIdentity),
            other => Err(invalid(
                &type_path,
                format!(
                    "unknown _type `{other}`; expected mcp_oauth2, mcp_service_account or \
                     mcp_workload_identity"
                ),
            )),
        }
    }

    fn opt_string(&self, o: &mut Obj<'_>, key: &str) -> Result<Option<String>, ConfigError> {
        let path = o.path(key);
        o.take(key).map(|v| self.string(v, &path)).transpose()
    }

    fn opt_bool(&self, o: &mut Obj<'_>, key: &str, default: bool) -> Result<bool, ConfigError> {
        let path = o.path(key);
        Ok(o.take(key).map(|v| self.bool(v, &path)).transpose()?.unwrap_or(default))
    }

    /// `dpop: auto | always | never` (default auto).
    fn dpop(&self, o: &mut Obj<'_>) -> Result<mcp_oauth_core::dpop::DpopMode, ConfigError> {
        let dpop_path = o.path("dpop");
        Ok(match self.opt_string(o, "dpop")? {
            None => mcp_oauth_core::dpop::DpopMode::Auto,
            Some(name) => mcp_oauth_core::dpop::DpopMode::from_name(&name).ok_or_else(|| {
                invalid(&dpop_path, format!("`{name}` is not auto, always or never"))
            })?,
        })
    }

    fn opt_list(&self, o: &mut Obj<'_>, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let path = o.path(key);
        o.take(key).map(|v| self.string_list(v, &path)).transpose()
    }

    fn auth_method(
        &self,
        o: &mut Obj<'_>,
        allowed: &[TokenEndpointAuth],
    ) -> Result<Option<TokenEndpointAuth>, ConfigError> {
        let path = o.path("token_endpoint_auth_method");
        let Some(name) = self.opt_string(o, "token_endpoint_auth_method")? else { return Ok(None) };
        match TokenEndpointAuth::from_name(&name).filter(|m| allowed.contains(m)) {
            Some(m) => Ok(Some(m)),
            None => {
                let names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                Err(invalid(&path, format!("`{name}` is not one of {}", names.join(", "))))
            }
        }
    }

    fn oauth2(&self, mut o: Obj<'_>) -> Result<McpOAuth2, ConfigError> {
        o.take("_type");
        let server_url_path = o.path("server_url");
        let server_url = self.string(o.require("server_url")?, &server_url_path)?;
        check_url(&server_url, &server_url_path)?;
        let redirect_uri = self
            .opt_string(&mut o, "redirect_uri")?
            .unwrap_or_else(|| crate::client::DEFAULT_REDIRECT_URI.to_owned());
        check_url(&redirect_uri, &o.path("redirect_uri"))?;
        let client_id = self.opt_string(&mut o, "client_id")?;
        let client_secret = self.opt_string(&mut o, "client_secret")?;
        if client_secret.is_some() && client_id.is_none() {
            return Err(invalid(&o.path("client_secret"), "client_secret needs client_id"));
        }
        let issuer_path = o.path("client_issuer");
        let client_issuer = self.opt_list(&mut o, "client_issuer")?.unwrap_or_default();
        if !client_issuer.is_empty() && client_id.is_none() {
            return Err(invalid(&issuer_path, "client_issuer needs client_id"));
        }
        for i in &client_issuer {
            mcp_oauth_core::url::IssuerUrl::parse(i)
                .map_err(|e| invalid(&issuer_path, e.to_string()))?;
        }
        let enable_dynamic_registration =
            self.opt_bool(&mut o, "enable_dynamic_registration", true)?;
        let client_name =
            self.opt_string(&mut o, "client_name")?.unwrap_or_else(|| "mcp-oauth".to_owned());
        let method_path = o.path("token_endpoint_auth_method");
        let mut token_endpoint_auth_method = self.auth_method(
            &mut o,
            &[
                TokenEndpointAuth::None,
                TokenEndpointAuth::ClientSecretBasic,
                TokenEndpointAuth::ClientSecretPost,
                TokenEndpointAuth::PrivateKeyJwt,
            ],
        )?;
        let key_path = o.path("private_key_file");
        let private_key_file = self.opt_string(&mut o, "private_key_file")?.map(PathBuf::from);
        match (&private_key_file, token_endpoint_auth_method) {
            (Some(_), None) => token_endpoint_auth_method = Some(TokenEndpointAuth::PrivateKeyJwt),
            (Some(_), Some(m)) if m != TokenEndpointAuth::PrivateKeyJwt => {
                return Err(invalid(&method_path, "private_key_file needs private_key_jwt"))
            }
            (None, Some(TokenEndpointAuth::PrivateKeyJwt)) => {
                return Err(err(&key_path, ConfigProblem::Missing))
            }
            _ => {}
        }
        if private_key_file.is_some() && client_id.is_none() {
            return Err(invalid(&key_path, "private_key_file needs client_id"));
        }
        let alg_path = o.path("signing_alg");
        let signing_alg = match self.opt_string(&mut o, "signing_alg")? {
            None => SigningAlg::Es256,
            Some(name) => SigningAlg::from_name(&name)
                .ok_or_else(|| invalid(&alg_path, format!("`{name}` is not ES256 or RS256")))?,
        };
        let scopes = self.opt_list(&mut o, "scopes")?;
        let dpop = self.dpop(&mut o)?;
        let pkce_path = o.path("use_pkce");
        if !self.opt_bool(&mut o, "use_pkce", true)? {
            return Err(err(&pkce_path, ConfigProblem::PkceRequired));
        }
        let default_user_id = self.opt_string(&mut o, "default_user_id")?;
        let storage_path = o.path("token_storage");
        let token_storage = match o.take("token_storage") {
            None => TokenStorage::File { dir: None },
            Some(v) => self.storage(v, &storage_path)?,
        };
        let client_metadata_url = self.opt_string(&mut o, "client_metadata_url")?;
        if let Some(u) = &client_metadata_url {
            mcp_oauth_core::url::EndpointUrl::parse(u)
                .map_err(|e| invalid(&o.path("client_metadata_url"), e.to_string()))?;
        }
        let policies_path = o.path("server_policies");
        let server_policies = match o.take("server_policies") {
            None => Vec::new(),
            Some(v) => self.policies(v, &policies_path)?,
        };
        o.finish(&names(MCP_OAUTH2_OPTIONS))?;
        Ok(McpOAuth2 {
            server_url,
            redirect_uri,
            client_id,
            client_secret,
            enable_dynamic_registration,
            client_name,
            token_endpoint_auth_method,
            client_issuer,
            private_key_file,
            signing_alg,
            scopes,
            dpop,
            default_user_id,
            token_storage,
            client_metadata_url,
            server_policies,
        })
    }

    fn storage(&self, v: &Value, path: &str) -> Result<TokenStorage, ConfigError> {
        let kinds = "memory, file, redis, mysql, s3";
        let (kind, mut o) = match v {
            Value::String(_) => (self.string(v, path)?, None),
            Value::Mapping(_) => {
                let mut o = self.obj(v, path)?;
                let type_path = o.path("type");
                (self.string(o.require("type")?, &type_path)?, Some(o))
            }
            other => {
                return Err(err(
                    path,
                    ConfigProblem::WrongType {
                        expected: "memory | file | redis | mysql, or a mapping with `type`",
                        found: type_name(other),
                    },
                ))
            }
        };
        let storage = match kind.as_str() {
            "memory" => TokenStorage::Memory,
            "file" => {
                let dir = match o.as_mut() {
                    Some(o) => self.opt_string(o, "dir")?.map(PathBuf::from),
                    None => None,
                };
                TokenStorage::File { dir }
            }
            "redis" => {
                let Some(o) = o.as_mut() else {
                    return Err(invalid(
                        path,
                        "redis needs settings: {type: redis, url: redis://HOST:6379}",
                    ));
                };
                let url_path = o.path("url");
                let url = self.string(o.require("url")?, &url_path)?;
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    return Err(invalid(&url_path, "must be a redis:// or rediss:// URL"));
                }
                let key_prefix =
                    self.opt_string(o, "key_prefix")?.unwrap_or_else(|| "mcp-oauth".to_owned());
                TokenStorage::Redis { url, key_prefix }
            }
            "mysql" => {
                let Some(o) = o.as_mut() else {
                    return Err(invalid(
                        path,
                        "mysql needs settings: {type: mysql, url: mysql://USER:PASSWORD@HOST:3306/DB, \
                         table: NAME}",
                    ));
                };
                let url_path = o.path("url");
                let url = self.string(o.require("url")?, &url_path)?;
                let db = url.strip_prefix("mysql://").and_then(|rest| {
                    let path = &rest[rest.find('/')? + 1..];
                    Some(path.split(['?', '#']).next().unwrap_or_default())
                });
                if !url.starts_with("mysql://") {
                    return Err(invalid(&url_path, "must be a mysql:// URL"));
                }
                if db.is_none_or(str::is_empty) {
                    return Err(invalid(
                        &url_path,
                        "names no database: mysql://USER:PASSWORD@HOST:3306/DATABASE",
                    ));
                }
                let table_path = o.path("table");
                let table =
                    self.opt_string(o, "table")?.unwrap_or_else(|| "mcp_oauth_tokens".to_owned());
                // Written into the statements (src/store/mysql.rs): a plain identifier only.
                if !((1..=64).contains(&table.len())
                    && table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
                    && !table.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(invalid(
                        &table_path,
                        "must be a plain table name: letters, digits, _ and $, at most 64",
                    ));
                }
                TokenStorage::Mysql { url, table }
            }
            "s3" => self.s3_storage(o.as_mut(), path)?,
            other => {
                let p = if o.is_some() { join(path, "type") } else { path.to_owned() };
                return Err(invalid(
                    &p,
                    format!("unknown token storage `{other}`; expected {kinds}"),
                ));
            }
        };
        if let Some(o) = o {
            let allowed: &[&str] = match storage {
                TokenStorage::Memory => &["type"],
                TokenStorage::File { .. } => &["type", "dir"],
                TokenStorage::Redis { .. } => &["type", "url", "key_prefix"],
                TokenStorage::Mysql { .. } => &["type", "url", "table"],
                TokenStorage::S3 { .. } => &["type", "bucket", "prefix", "region", "endpoint"],
            };
            o.finish(allowed)?;
        }
        Ok(storage)
    }

    /// `{type: s3, bucket, prefix, region, endpoint}`.
    fn s3_storage(&self, o: Option<&mut Obj<'_>>, path: &str) -> Result<TokenStorage, ConfigError> {
        let Some(o) = o else {
            return Err(invalid(path, "s3 needs settings: {type: s3, bucket: NAME}"));
        };
        let bucket_path = o.path("bucket");
        let bucket = self.string(o.require("bucket")?, &bucket_path)?;
        let prefix = self.opt_string(o, "prefix")?.unwrap_or_else(|| "mcp-oauth/".to_owned());
        let region = self.opt_string(o, "region")?;
        let endpoint = self.opt_string(o, "endpoint")?;
        if let Some((field, why)) =
            super::s3::problem(&bucket, &prefix, region.as_deref(), endpoint.as_deref())
        {
            return Err(invalid(&o.path(field), why));
        }
        Ok(TokenStorage::S3 { bucket, prefix, region, endpoint })
    }

    fn policies(
        &self,
        v: &Value,
        path: &str,
    ) -> Result<Vec<(String, ServerPolicyConfig)>, ConfigError> {
        let mut out = Vec::new();
        for (issuer, pv) in self.obj(v, path)?.members {
            let p_path = join(path, &issuer);
            check_url(&issuer, &p_path)?;
            let mut o = self.obj(pv, &p_path)?;
            let mut policy = ServerPolicyConfig {
                danger_assume_pkce_s256: self.opt_bool(&mut o, "danger_assume_pkce_s256", false)?,
                danger_omit_resource: self.opt_bool(&mut o, "danger_omit_resource", false)?,
                authorization_params: Vec::new(),
            };
            let params_path = o.path("authorization_params");
            if let Some(params) = o.take("authorization_params") {
                for (k, val) in self.obj(params, &params_path)?.members {
                    let value = self.string(val, &join(&params_path, &k))?;
                    policy.authorization_params.push((k, value));
                }
            }
            o.finish(&["danger_assume_pkce_s256", "danger_omit_resource", "authorization_params"])?;
            out.push((issuer, policy));
        }
        Ok(out)
    }

    fn workload(&self, mut o: Obj<'_>) -> Result<WorkloadIdentity, ConfigError> {
        o.take("_type");
        let file_path = o.path("assertion_file");
        let assertion_file = self.opt_string(&mut o, "assertion_file")?.map(PathBuf::from);
        let env_path = o.path("assertion_env");
        let assertion_env = self.opt_string(&mut o, "assertion_env")?;
        match (&assertion_file, &assertion_env) {
            (None, None) => return Err(err(&file_path, ConfigProblem::Missing)),
            (Some(_), Some(_)) => {
                return Err(invalid(&env_path, "give assertion_file or assertion_env, not both"))
            }
            (None, Some(v)) if v.is_empty() || v.contains('=') || v.contains('\0') => {
                return Err(invalid(&env_path, "not an environment variable name"))
            }
            _ => {}
        }
        let id_path = o.path("client_id");
        let client_id = self.string(o.require("client_id")?, &id_path)?;
        let client_secret = self.opt_string(&mut o, "client_secret")?;
        let key_path = o.path("private_key_file");
        let private_key_file = self.opt_string(&mut o, "private_key_file")?.map(PathBuf::from);
        let method_path = o.path("token_endpoint_auth_method");
        let method = self.auth_method(
            &mut o,
            &[
                TokenEndpointAuth::None,
                TokenEndpointAuth::ClientSecretBasic,
                TokenEndpointAuth::ClientSecretPost,
                TokenEndpointAuth::PrivateKeyJwt,
            ],
        )?;
        let method = method.or(private_key_file.as_ref().map(|_| TokenEndpointAuth::PrivateKeyJwt));
        match method {
            Some(TokenEndpointAuth::PrivateKeyJwt) if private_key_file.is_none() => {
                return Err(err(&key_path, ConfigProblem::Missing))
            }
            Some(
                m @ (TokenEndpointAuth::ClientSecretBasic | TokenEndpointAuth::ClientSecretPost),
            ) if client_secret.is_none() => {
                return Err(invalid(
                    &o.path("client_secret"),
                    format!("required by {}", m.as_str()),
                ))
            }
            Some(TokenEndpointAuth::None) if client_secret.is_some() => {
                return Err(invalid(&method_path, "client_secret needs a client_secret_* method"))
            }
            Some(m) if private_key_file.is_some() && m != TokenEndpointAuth::PrivateKeyJwt => {
                return Err(invalid(&method_path, "private_key_file needs private_key_jwt"))
            }
            _ => {}
        }
        let alg_path = o.path("signing_alg");
        let signing_alg = match self.opt_string(&mut o, "signing_alg")? {
            None => SigningAlg::Es256,
            Some(name) => SigningAlg::from_name(&name)
                .ok_or_else(|| invalid(&alg_path, format!("`{name}` is not ES256 or RS256")))?,
        };
        let token_url_path = o.path("token_url");
        let token_url = self.opt_string(&mut o, "token_url")?;
        if let Some(u) = &token_url {
            mcp_oauth_core::url::EndpointUrl::parse(u)
                .map_err(|e| invalid(&token_url_path, e.to_string()))?;
        }
        let issuer_path = o.path("issuer");
        let issuer = self.opt_string(&mut o, "issuer")?;
        if let Some(i) = &issuer {
            check_url(i, &issuer_path)?;
            if token_url.is_none() {
                return Err(invalid(
                    &issuer_path,
                    "issuer is for token_url (otherwise discovered)",
                ));
            }
        }
        let scopes = self.opt_list(&mut o, "scopes")?;
        let buffer_path = o.path("token_cache_buffer_seconds");
        let token_cache_buffer_seconds = o
            .take("token_cache_buffer_seconds")
            .map(|v| self.uint(v, &buffer_path))
            .transpose()?
            .unwrap_or(60);
        let dpop = self.dpop(&mut o)?;
        o.finish(&names(MCP_WORKLOAD_IDENTITY_OPTIONS))?;
        Ok(WorkloadIdentity {
            assertion_file,
            assertion_env,
            client_id,
            client_secret,
            token_endpoint_auth_method: method,
            private_key_file,
            signing_alg,
            token_url,
            issuer,
            scopes,
            token_cache_buffer_seconds,
            dpop,
        })
    }

    fn service_account(&self, mut o: Obj<'_>) -> Result<ServiceAccount, ConfigError> {
        o.take("_type");
        let token_url_path = o.path("token_url");
        let token_url = self.string(o.require("token_url")?, &token_url_path)?;
        mcp_oauth_core::url::EndpointUrl::parse(&token_url)
            .map_err(|e| invalid(&token_url_path, e.to_string()))?;
        let id_path = o.path("client_id");
        let client_id = self.string(o.require("client_id")?, &id_path)?;
        let client_secret = self.opt_string(&mut o, "client_secret")?;
        let key_path = o.path("private_key_file");
        let private_key_file = self.opt_string(&mut o, "private_key_file")?.map(PathBuf::from);
        let method_path = o.path("token_endpoint_auth_method");
        let method = self.auth_method(
            &mut o,
            &[
                TokenEndpointAuth::ClientSecretBasic,
                TokenEndpointAuth::ClientSecretPost,
                TokenEndpointAuth::PrivateKeyJwt,
            ],
        )?;
        let token_endpoint_auth_method = method.unwrap_or(if private_key_file.is_some() {
            TokenEndpointAuth::PrivateKeyJwt
        } else {
            TokenEndpointAuth::ClientSecretBasic
        });
        match token_endpoint_auth_method {
            TokenEndpointAuth::PrivateKeyJwt if private_key_file.is_none() => {
                return Err(err(&key_path, ConfigProblem::Missing))
            }
            TokenEndpointAuth::ClientSecretBasic | TokenEndpointAuth::ClientSecretPost
                if client_secret.is_none() =>
            {
                return Err(invalid(
                    &o.path("client_secret"),
                    format!("required by {}", token_endpoint_auth_method.as_str()),
                ))
            }
            _ => {}
        }
        if private_key_file.is_some()
            && token_endpoint_auth_method != TokenEndpointAuth::PrivateKeyJwt
        {
            return Err(invalid(&method_path, "private_key_file needs private_key_jwt"));
        }
        let alg_path = o.path("signing_alg");
        let signing_alg = match self.opt_string(&mut o, "signing_alg")? {
            None => SigningAlg::Es256,
            Some(name) => SigningAlg::from_name(&name)
                .ok_or_else(|| invalid(&alg_path, format!("`{name}` is not ES256 or RS256")))?,
        };
        let issuer = self.opt_string(&mut o, "issuer")?;
        if let Some(i) = &issuer {
            check_url(i, &o.path("issuer"))?;
        }
        let scopes = self.opt_list(&mut o, "scopes")?;
        let buffer_path = o.path("token_cache_buffer_seconds");
        let token_cache_buffer_seconds = o
            .take("token_cache_buffer_seconds")
            .map(|v| self.uint(v, &buffer_path))
            .transpose()?
            .unwrap_or(60);
        let service_token = self.opt_string(&mut o, "service_token")?;
        let header_path = o.path("service_token_header");
        let service_token_header = self
            .opt_string(&mut o, "service_token_header")?
            .unwrap_or_else(|| "X-Service-Token".to_owned());
        let valid_header = !service_token_header.is_empty()
            && service_token_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !service_token_header.eq_ignore_ascii_case("authorization");
        if !valid_header {
            return Err(invalid(
                &header_path,
                "must be an HTTP header name other than Authorization",
            ));
        }
        let send_resource = self.opt_bool(&mut o, "send_resource", true)?;
        let dpop = self.dpop(&mut o)?;
        o.finish(&names(MCP_SERVICE_ACCOUNT_OPTIONS))?;
        Ok(ServiceAccount {
            token_url,
            client_id,
            client_secret,
            token_endpoint_auth_method,
            private_key_file,
            signing_alg,
            issuer,
            scopes,
            token_cache_buffer_seconds,
            service_token,
            service_token_header,
            send_resource,
            dpop,
        })
    }
}
