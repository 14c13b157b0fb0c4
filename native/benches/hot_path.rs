//! The warm call's overhead: a request to a local HTTP server with a valid stored token
//! (`OAuthClient::access_token` + the `Authorization` header) against the same request through
//! plain reqwest without a token. Run: `cargo bench -p mcp-oauth --bench hot_path`.

#[path = "support/server.rs"]
mod server;

use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let url = rt.block_on(server::server());
    mcp_oauth::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let client = server::seeded_client(&rt, &url, Some("bench-refresh-token"));

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
