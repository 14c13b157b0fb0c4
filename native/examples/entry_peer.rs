//! The native side of the cross-host persistence test (pkg/test/entry.test.mjs): writes or reads
//! the core's persisted entry (core/src/codec/entry.rs), the format the npm package stores too.
//!
//! ```text
//! entry_peer authorize <mcp_url> <user> <out_file>
//!     authorizes against the MCP server (BrowserMode::Follow: servers that approve without a
//!     user), calls the `whoami` tool, writes the encoded entry (tokens, registration,
//!     discovery) to <out_file> (mode 0600, in clear: it is the test's hand-over file)
//! entry_peer call <mcp_url> <entry_file>
//!     loads the entry into a memory store and calls `whoami` without authorizing
//!     (non-interactive: a needed authorization is an error)
//! entry_peer start <mcp_url> <user> <redirect_uri> <out_file>
//!     starts an authorization for a user who is not here (discovery, registration), writes
//!     the pending entry (pending authorization, registration, discovery; no tokens), and
//!     prints `{"url"}`: the authorization URL
//! entry_peer finish <mcp_url> <redirect_uri> <entry_file> <callback_url>
//!     finishes the pending authorization of a pending entry with the callback URL, then calls
//!     `whoami` without authorizing again
//! ```
//!
//! `authorize`, `call` and `finish` print one JSON line: `{"user","issuer","token","whoami"}`
//! where `token` is the access token the calls used.

use std::sync::Arc;

use mcp_oauth::cache::MetadataCache;
use mcp_oauth::mcp::McpSession;
use mcp_oauth::store::{MemoryStore, StoreKey, StoredEntry, TokenStore};
use mcp_oauth::{BrowserMode, ClientOptions, Error, OAuthClient};

fn usage() -> Error {
    Error::Usage(
        "usage: entry_peer authorize <mcp_url> <user> <out_file> | call <mcp_url> <entry_file> \
         | start <mcp_url> <user> <redirect_uri> <out_file> | finish <mcp_url> <redirect_uri> \
         <entry_file> <callback_url>"
            .into(),
    )
}

fn client(
    mcp_url: &str,
    user: &str,
    store: Arc<dyn TokenStore>,
    browser: BrowserMode,
    redirect_uri: Option<&str>,
) -> Result<Arc<OAuthClient>, Error> {
    let mut o = ClientOptions::new(mcp_url, store)?;
    o.browser = browser;
    if let Some(r) = redirect_uri {
        o.redirect_uri = r.to_owned();
    }
    o.user = user.to_owned();
    o.cache = Arc::new(MetadataCache::new());
    Ok(Arc::new(OAuthClient::new(o)?))
}

/// Calls `whoami` (authorizing first only when `interactive`) and reports the token used.
async fn whoami(c: &Arc<OAuthClient>, mcp_url: &str, interactive: bool) -> Result<String, Error> {
    let session = McpSession::connect(mcp_url, Some(c.clone()), interactive).await?;
    let result = session.call_tool("whoami", None).await?;
    session.close().await;
    let token = c.access_token().await?;
    let status = c.status().await?;
    Ok(serde_json::json!({
        "user": c.user(),
        "issuer": status.issuer,
        "token": token.secret(),
        "whoami": serde_json::to_value(&result).map_err(|e| Error::Usage(e.to_string()))?,
    })
    .to_string())
}

async fn run(args: &[String]) -> Result<String, Error> {
    match args {
        [cmd, mcp_url, user, out] if cmd == "authorize" => {
            let store = Arc::new(MemoryStore::new());
            let c = client(mcp_url, user, store.clone(), BrowserMode::Follow, None)?;
            let report = whoami(&c, mcp_url, true).await?;
            let mut written = false;
            for key in store.list(user).await? {
                let Some(entry) = store.load(&key).await? else { continue };
                if key.resource == c.resource().as_str() && entry.tokens.is_some() {
                    write_private(out, &entry.encode(&key))?;
                    written = true;
                }
            }
            if !written {
                return Err(Error::Usage("the store holds no entry with tokens".into()));
            }
            Ok(report)
        }
        [cmd, mcp_url, file] if cmd == "call" => {
            let (key, entry) = read_entry(file)?;
            let store = Arc::new(MemoryStore::new());
            store.save(&key, &entry).await?;
            let c = client(mcp_url, &key.user, store, BrowserMode::Print, None)?;
            whoami(&c, mcp_url, false).await
        }
        [cmd, mcp_url, user, redirect_uri, out] if cmd == "start" => {
            let store = Arc::new(MemoryStore::new());
            let c = client(mcp_url, user, store.clone(), BrowserMode::Print, Some(redirect_uri))?;
            let pending = c.start_authorization().await?;
            let key = StoreKey {
                user: user.clone(),
                resource: c.resource().as_str().to_owned(),
                issuer: pending.issuer.clone(),
            };
            // What the store holds for the issuer (registration, discovery), with the pending
            // authorization: the entry another process needs to finish it.
            let stored = store.load(&key).await?.unwrap_or_default();
            let url = pending.authorization_url.clone();
            let entry = StoredEntry { tokens: None, pending: Some(pending), ..stored };
            write_private(out, &entry.encode(&key))?;
            Ok(serde_json::json!({ "url": url }).to_string())
        }
        [cmd, mcp_url, redirect_uri, file, callback] if cmd == "finish" => {
            let (key, mut entry) = read_entry(file)?;
            let pending = entry
                .pending
                .take()
                .ok_or_else(|| Error::Usage(format!("{file} holds no pending authorization")))?;
            let store = Arc::new(MemoryStore::new());
            store.save(&key, &entry).await?;
            let c = client(mcp_url, &key.user, store, BrowserMode::Print, Some(redirect_uri))?;
            c.complete_authorization(pending, callback).await?;
            whoami(&c, mcp_url, false).await
        }
        _ => Err(usage()),
    }
}

fn read_entry(file: &str) -> Result<(StoreKey, StoredEntry), Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Usage(format!("cannot read {file}: {e}")))?;
    Ok(StoredEntry::decode(&text, None)?)
}

fn write_private(path: &str, text: &str) -> Result<(), Error> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| Error::Usage(format!("cannot write {path}: {e}")))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("entry_peer: {e}");
            std::process::exit(1);
        }
    }
}
