//! `mcp-oauth store reseal`: re-seals every token entry of a store with the current key
//! (`mcp_oauth::store::reseal_all`), after a key rotation.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use mcp_oauth::config::{AuthProvider, Config, TokenStorage};
use mcp_oauth::store::{
    reseal_all, FileStore, KeySource, ResealReport, ResealStore, SealingKeys, StoreError,
};
use mcp_oauth::Error;

use crate::args::{Opts, StoreKind};
use crate::setup::usage;

#[derive(Subcommand, Debug)]
pub(crate) enum StoreCommand {
    /// Re-seal every token entry of every user with --store-key (after a key rotation): entries
    /// that open with one of --store-previous-keys are rewritten; entries no key opens are listed
    /// (by their hashed names) and left untouched, and the exit code is 7. The store is
    /// --config's token_storage (--group's provider when several differ), else the file store
    /// of --store-dir. Pending consents are not walked: they expire within the consent timeout.
    Reseal(ResealArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ResealArgs {
    /// The key that seals from now on (64 hex or 44 base64 characters) [file store default:
    /// MCP_OAUTH_STORE_KEY or the store's key file].
    #[arg(long, env = "MCP_OAUTH_STORE_KEY", hide_env_values = true)]
    store_key: Option<String>,
    /// Keys being rotated out, comma-separated: they open entries, never seal them.
    #[arg(
        long,
        env = "MCP_OAUTH_STORE_PREVIOUS_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    store_previous_keys: Option<String>,
}

/// The storage `store reseal` works on.
fn storage(opts: &Opts) -> Result<TokenStorage, Error> {
    if matches!(opts.token_store, Some(StoreKind::Memory)) {
        return Err(usage("--token-store memory keeps nothing to re-seal"));
    }
    let Some(path) = &opts.config else {
        return Ok(TokenStorage::File { dir: None });
    };
    let config = Config::load(path)?;
    let mut found: Vec<TokenStorage> = Vec::new();
    let mut consider = |provider: Option<&AuthProvider>| {
        if let Some(AuthProvider::OAuth2(o)) = provider {
            if !found.contains(&o.token_storage) {
                found.push(o.token_storage.clone());
            }
        }
    };
    match &opts.group {
        Some(group) => {
            consider(config.group(group)?.1);
        }
        None => {
            for (_, provider) in &config.authentication {
                consider(Some(provider));
            }
        }
    }
    match found.len() {
        0 => Err(usage(format!(
            "{}: no mcp_oauth2 provider{}, so no token storage to re-seal",
            path.display(),
            opts.group.as_deref().map(|g| format!(" for group {g}")).unwrap_or_default()
        ))),
        1 => Ok(found.remove(0)),
        _ => Err(usage(format!(
            "{}: the mcp_oauth2 providers use {} different token storages; pass --group to pick \
             one",
            path.display(),
            found.len()
        ))),
    }
}

/// The previous keys of `--store-previous-keys`.
fn previous(args: &ResealArgs) -> Result<Vec<[u8; 32]>, Error> {
    match &args.store_previous_keys {
        None => Ok(Vec::new()),
        Some(text) => Ok(SealingKeys::parse_list(text, "--store-previous-keys")?),
    }
}

/// The current key of a shared store (required).
#[cfg_attr(not(any(feature = "redis", feature = "mysql", feature = "s3")), allow(dead_code))]
fn shared_keys(args: &ResealArgs, backend: &str) -> Result<SealingKeys, Error> {
    let text = args.store_key.as_deref().ok_or_else(|| {
        usage(format!("a {backend} token store needs --store-key (or MCP_OAUTH_STORE_KEY)"))
    })?;
    Ok(SealingKeys::new(KeySource::parse_key_text(text)?).with_previous(previous(args)?))
}

async fn open(
    storage: &TokenStorage,
    args: &ResealArgs,
    opts: &Opts,
) -> Result<(Arc<dyn ResealStore>, String), Error> {
    match storage {
        TokenStorage::Memory => Err(usage("token_storage memory keeps nothing to re-seal")),
        TokenStorage::File { dir } => {
            let dir: PathBuf = opts
                .store_dir
                .clone()
                .or(dir.clone())
                .unwrap_or_else(crate::setup::default_store_dir);
            let source = match &args.store_key {
                Some(text) => KeySource::Bytes(KeySource::parse_key_text(text)?),
                None => KeySource::Default(dir.clone()),
            };
            let current = source.resolve()?;
            let previous = previous(args)?;
            let keys = SealingKeys::new(current).with_previous(previous.iter().copied());
            let store =
                FileStore::open_with_previous_keys(&dir, KeySource::Bytes(current), &previous)?;
            Ok((
                Arc::new(store),
                format!("file store {}, sealing keys {}", dir.display(), keys.describe()),
            ))
        }
        #[cfg(feature = "redis")]
        TokenStorage::Redis { url, key_prefix } => {
            let keys = shared_keys(args, "redis")?;
            let mut store = mcp_oauth::store::RedisStore::connect(url, &keys).await?;
            if !key_prefix.is_empty() {
                store = store.with_prefix(key_prefix.clone());
            }
            Ok((Arc::new(store.clone()), format!("{store:?}, sealing keys {}", keys.describe())))
        }
        #[cfg(feature = "mysql")]
        TokenStorage::Mysql { url, table } => {
            let keys = shared_keys(args, "mysql")?;
            let store = mcp_oauth::store::MysqlStore::connect(url, table, &keys).await?;
            Ok((Arc::new(store.clone()), format!("{store:?}, sealing keys {}", keys.describe())))
        }
        #[cfg(feature = "s3")]
        TokenStorage::S3 { bucket, prefix, region, endpoint } => {
            let keys = shared_keys(args, "s3")?;
            let mut config = mcp_oauth::store::S3Config::new(bucket.clone());
            config.prefix = prefix.clone();
            config.region = region.clone();
            config.endpoint = endpoint.clone();
            let credentials = mcp_oauth::store::S3Credentials::from_env().map_err(usage)?;
            let store =
                mcp_oauth::store::S3Store::connect(&config.with_env(), credentials, &keys).await?;
            Ok((Arc::new(store.clone()), format!("{store:?}, sealing keys {}", keys.describe())))
        }
        #[allow(unreachable_patterns)]
        _ => Err(usage("this build has no support for this token_storage")),
    }
}

fn print(report: &ResealReport, described: &str, json: bool) {
    if json {
        let failed: Vec<serde_json::Value> = report
            .failed
            .iter()
            .map(|(name, error)| serde_json::json!({ "name": name, "error": error }))
            .collect();
        let v = serde_json::json!({
            "store": described,
            "resealed": report.resealed,
            "already_current": report.already_current,
            "gone": report.gone,
            "unreadable": report.unreadable,
            "failed": failed,
        });
        println!("{v}");
        return;
    }
    println!("store: {described}");
    println!("re-sealed with the current key: {}", report.resealed);
    println!("already sealed with the current key: {}", report.already_current);
    if report.gone > 0 {
        println!("deleted while re-sealing: {}", report.gone);
    }
    println!("unreadable with every key (left untouched): {}", report.unreadable.len());
    for name in &report.unreadable {
        println!("  {name}");
    }
    if !report.failed.is_empty() {
        println!("failed (left untouched): {}", report.failed.len());
        for (name, error) in &report.failed {
            println!("  {name}: {error}");
        }
    }
}

pub(crate) async fn run(command: StoreCommand, opts: &Opts) -> Result<(), Error> {
    let StoreCommand::Reseal(args) = command;
    let storage = match (storage(opts)?, opts.token_store) {
        // --token-store file wins over a shared store of the configuration, as in the other
        // commands.
        (TokenStorage::File { dir }, _) => TokenStorage::File { dir },
        (_, Some(StoreKind::File)) => TokenStorage::File { dir: None },
        (storage, _) => storage,
    };
    let (store, described) = open(&storage, &args, opts).await?;
    let report = reseal_all(store.as_ref()).await?;
    print(&report, &described, opts.json);
    if report.complete() {
        Ok(())
    } else {
        Err(Error::Store(StoreError::NotResealed {
            count: report.unreadable.len() + report.failed.len(),
        }))
    }
}
