//! A local hyper server answering every request with a small JSON body, and a client whose store
//! holds a fresh token for it, for the warm-request benches (`hot_path`, `warm_ratio`):
//! `#[path = "support/server.rs"] mod server;`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Starts it on a free loopback port (inside a tokio runtime); its `/mcp` URL.
pub async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"{\"ok\":true}",
                    ))))
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    format!("http://{addr}/mcp")
}

/// A client of user `bench` for `url` whose store holds a token that never expires (with
/// `refresh_token`, if given), so every `access_token()` is a warm one.
pub fn seeded_client(
    rt: &tokio::runtime::Runtime,
    url: &str,
    refresh_token: Option<&str>,
) -> mcp_oauth::OAuthClient {
    use std::sync::Arc;

    use mcp_oauth::core::secret::{AccessToken, RefreshToken};
    use mcp_oauth::core::time::UnixTime;
    use mcp_oauth::core::token::TokenSet;
    use mcp_oauth::store::{MemoryStore, StoreKey, StoredEntry, TokenStore};

    let store = Arc::new(MemoryStore::new());
    let key = StoreKey {
        user: "bench".into(),
        resource: url.to_owned(),
        issuer: "http://127.0.0.1:1".into(),
    };
    let entry = StoredEntry {
        tokens: Some(TokenSet {
            access_token: AccessToken::new("bench-access-token"),
            token_type: "Bearer".into(),
            refresh_token: refresh_token.map(RefreshToken::new),
            expires_at: Some(UnixTime(u64::MAX / 2)),
            scope: None,
            id_token: None,
            received_at: UnixTime(0),
        }),
        ..Default::default()
    };
    rt.block_on(store.save(&key, &entry)).expect("seed the store");
    let mut opts = mcp_oauth::ClientOptions::new(url, store).expect("options");
    opts.user = "bench".into();
    opts.cache = Arc::new(mcp_oauth::MetadataCache::new());
    mcp_oauth::OAuthClient::new(opts).expect("client")
}
