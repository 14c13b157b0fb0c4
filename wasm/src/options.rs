//! `Flow`'s options: the core's configuration (server, redirect URI, client, scopes, DPoP mode), read from a
//! plain JS object with a clear error per option. The JS host's own options (storage, fetch,
//! onAuthorizationRequired, userId, timeoutMs) are checked in `pkg/src/client.js`, which passes
//! only these on.

use js_sys::{Array, Reflect};
use mcp_oauth_core::registration::{ClientConfig, PreRegistered};
use mcp_oauth_core::secret::ClientSecret;
use mcp_oauth_core::url::EndpointUrl;
use mcp_oauth_core::FlowConfig;
use wasm_bindgen::JsValue;

use crate::error::{invalid_option, IntoJs};

const KNOWN: &[&str] = &[
    "serverUrl",
    "redirectUri",
    "clientName",
    "clientId",
    "clientSecret",
    "clientMetadataUrl",
    "scopes",
    "dpop",
];

fn get(obj: &JsValue, name: &str) -> Result<Option<JsValue>, JsValue> {
    let v = Reflect::get(obj, &JsValue::from_str(name))?;
    Ok(if v.is_undefined() || v.is_null() { None } else { Some(v) })
}

fn string(obj: &JsValue, name: &str) -> Result<Option<String>, JsValue> {
    match get(obj, name)? {
        None => Ok(None),
        Some(v) => match v.as_string() {
            Some(s) => Ok(Some(s)),
            None => Err(invalid_option(name, &format!("expected a string, got {}", type_of(&v)))),
        },
    }
}

fn required(obj: &JsValue, name: &str) -> Result<String, JsValue> {
    string(obj, name)?.ok_or_else(|| invalid_option(name, "is required"))
}

fn type_of(v: &JsValue) -> String {
    v.js_typeof().as_string().unwrap_or_else(|| "unknown".into())
}

/// Reads and checks the options object.
pub(crate) fn parse(options: &JsValue) -> Result<FlowConfig, JsValue> {
    if !options.is_object() {
        return Err(invalid_option(
            "(all)",
            "Flow needs an options object with at least serverUrl and redirectUri",
        ));
    }
    for key in js_sys::Object::keys(&js_sys::Object::from(options.clone())).iter() {
        let key = key.as_string().unwrap_or_default();
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid_option(
                &key,
                &format!("unknown option (known: {})", KNOWN.join(", ")),
            ));
        }
    }
    let server_url = required(options, "serverUrl")?;
    let redirect_uri = required(options, "redirectUri")?;
    let mut client = ClientConfig::dynamic(
        string(options, "clientName")?.unwrap_or_else(|| "mcp-oauth".to_owned()),
    );
    match (string(options, "clientId")?, string(options, "clientSecret")?) {
        (Some(client_id), secret) => {
            client.pre_registered = Some(PreRegistered {
                client_id,
                client_secret: secret.map(ClientSecret::new),
                auth_method: None,
                issuers: Vec::new(),
            })
        }
        (None, Some(_)) => return Err(invalid_option("clientSecret", "needs clientId")),
        (None, None) => {}
    }
    if let Some(url) = string(options, "clientMetadataUrl")? {
        client.metadata_document_url = Some(
            EndpointUrl::parse(&url)
                .map_err(|e| invalid_option("clientMetadataUrl", &e.to_string()))?,
        );
    }
    let mut config = FlowConfig::new(&server_url, &redirect_uri, client).js()?;
    config.scopes = scopes(options)?;
    if let Some(mode) = string(options, "dpop")? {
        config.dpop = mcp_oauth_core::dpop::DpopMode::from_name(&mode).ok_or_else(|| {
            invalid_option(
                "dpop",
                &format!("expected \"auto\", \"always\" or \"never\", got \"{mode}\""),
            )
        })?;
    }
    Ok(config)
}

/// The `scopes` option (of `Flow` and `HeadlessFlow`): a space-separated string or an array of
/// scope tokens; the core checks each (RFC 6749 §3.3) and joins them.
pub(crate) fn scopes(options: &JsValue) -> Result<Option<String>, JsValue> {
    let scopes: Vec<String> =
        match get(options, "scopes")? {
            None => Vec::new(),
            Some(v) if v.is_string() => {
                mcp_oauth_core::scope::split(&v.as_string().unwrap_or_default())
                    .map(str::to_owned)
                    .collect()
            }
            Some(v) if Array::is_array(&v) => {
                let mut scopes = Vec::new();
                for s in Array::from(&v).iter() {
                    scopes.push(s.as_string().ok_or_else(|| {
                        invalid_option("scopes", "every element must be a string")
                    })?);
                }
                scopes
            }
            Some(v) => {
                return Err(invalid_option(
                    "scopes",
                    &format!("expected a string or an array of strings, got {}", type_of(&v)),
                ))
            }
        };
    mcp_oauth_core::scope::from_list(&scopes).map_err(|e| invalid_option("scopes", &e.to_string()))
}
