//! The warm call's overhead: a request to a local HTTP server with a valid stored token
//! (`OAuthClient::access_token` + the `Authorization` header) against the same request through
//! plain reqwest without a token. Run: `cargo bench -p mcp-oauth --bench hot_path`.

#[path = "support/server.rs"]
mod server;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use mcp_oauth::cache::MetadataCache;
use mcp_oauth::core::secret::{AccessToken, RefreshToken};
use mcp_oauth::core::time::UnixTime;
use mcp_oauth::core::token::TokenSet;
use mcp_oauth::store::{MemoryStore, StoreKey, StoredEntry, TokenStore};
use mcp_oauth::{ClientOptions, OAuthClient};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let url = rt.block_on(server::server());
    mcp_oauth::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let store = Arc::new(MemoryStore::new());
    let key = StoreKey {
        user: "bench".into(),
        resource: url.clone(),
        issuer: "http://127.0.0.1:1".into(),
    };
    let entry = StoredEntry {
        tokens: Some(TokenSet {
            access_token: AccessToken::new("bench-access-token"),
            token_type: "Bearer".into(),
            refresh_token: Some(RefreshToken::new("bench-refresh-token")),
            expires_at: Some(UnixTime(u64::MAX / 2)),
            scope: None,
            id_token: None,
            received_at: UnixTime(0),
        }),
        ..Default::default()
    };
    rt.block_on(store.save(&key, &entry)).expect("seed the store");
    let mut opts = ClientOptions::new(&url, store).expect("options");
    opts.user = "bench".into();
    opts.cache = Arc::new(MetadataCache::new());
    let client = OAuthClient::new(opts).expect("client");

    let mut group = c.benchmark_group("warm_request");
    group.bench_function("plain_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let r = http.get(&url).send().await.expect("send");
            r.bytes().await.expect("body")
        })
    });
    group.bench_function("with_oauth_token", |b| {
        b.to_async(&rt).iter(|| async {
            let token = client.access_token().await.expect("token");
            let r = http.get(&url).bearer_auth(token.secret()).send().await.expect("send");
            r.bytes().await.expect("body")
        })
    });
    group.bench_function("access_token_only", |b| {
        b.to_async(&rt).iter(|| async { client.access_token().await.expect("token") })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
