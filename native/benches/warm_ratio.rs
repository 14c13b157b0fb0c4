//! The warm request's overhead as a paired measurement, robust to a busy machine: rounds of
//! alternating batches (plain reqwest, then the same GET with `OAuthClient::access_token()` and
//! its `Authorization` header, then the same through the crate's own MCP HTTP client
//! (`mcp::mcp_http_client`: its settings, user agent and pool) with the token), each batch timed,
//! and the median of the per-round ratios printed. Both sides reuse one keep-alive connection to
//! a local hyper server. A constant `Authorization` header on plain reqwest is measured too: the
//! header's bytes cost the same whoever sets it, so the last line compares like with like.
//! Run: `cargo bench -p mcp-oauth --bench warm_ratio` (`WARM_ROUNDS`, `WARM_BATCH` change the
//! 41 rounds of 500 requests).

#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds = env("WARM_ROUNDS", 41);
    let batch = env("WARM_BATCH", 500);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let url = rt.block_on(server::server());
    mcp_oauth::http::install_crypto_provider();
    let plain = reqwest::Client::new();
    let ours = mcp_oauth::mcp::mcp_http_client().expect("the crate's MCP client");
    let client = server::seeded_client(&rt, &url, None);

    let time = |f: &dyn Fn() -> Duration| f();
    let plain_batch = || {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..batch {
                let r = plain.get(&url).send().await.expect("send");
                r.bytes().await.expect("body");
            }
            t.elapsed()
        })
    };
    let token_batch = |http: &reqwest::Client| {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..batch {
                let token = client.access_token().await.expect("token");
                let r = http.get(&url).bearer_auth(token.secret()).send().await.expect("send");
                r.bytes().await.expect("body");
            }
            t.elapsed()
        })
    };
    let header_batch = || {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..batch {
                let r =
                    plain.get(&url).bearer_auth("bench-access-token").send().await.expect("send");
                r.bytes().await.expect("body");
            }
            t.elapsed()
        })
    };
    let token_only = || {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..batch {
                std::hint::black_box(client.access_token().await.expect("token"));
            }
            t.elapsed()
        })
    };
    // Warm-up: connections open, allocator and caches settled.
    plain_batch();
    token_batch(&plain);
    token_batch(&ours);
    let (mut r_token, mut r_ours, mut t_plain) = (Vec::new(), Vec::new(), Vec::new());
    let (mut r_header, mut t_token) = (Vec::new(), Vec::new());
    let (mut r_token_h, mut r_ours_h) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let p = time(&plain_batch).as_secs_f64();
        let h = time(&header_batch).as_secs_f64();
        let t = time(&|| token_batch(&plain)).as_secs_f64();
        let o = time(&|| token_batch(&ours)).as_secs_f64();
        let a = time(&token_only).as_secs_f64();
        r_header.push(h / p);
        r_token_h.push(t / h);
        r_ours_h.push(o / h);
        r_token.push(t / p);
        r_ours.push(o / p);
        t_plain.push(p / batch as f64 * 1e6);
        t_token.push(a / batch as f64 * 1e9);
    }
    println!("warm_ratio: {rounds} rounds of {batch} requests each side");
    println!("warm_ratio: plain reqwest request, median {:.1} µs", median(t_plain));
    println!("warm_ratio: access_token() alone, median {:.0} ns", median(t_token));
    println!(
        "warm_ratio: + a constant Authorization header (same client), median ratio {:.3}",
        median(r_header)
    );
    println!(
        "warm_ratio: + access_token() and Authorization (same client), median ratio {:.3}",
        median(r_token)
    );
    println!(
        "warm_ratio: the same through the crate's MCP client (mcp_http_client), median ratio {:.3}",
        median(r_ours)
    );
    println!(
        "warm_ratio: against plain reqwest with the same header: access_token() {:.3}, the \
         crate's MCP client {:.3}",
        median(r_token_h),
        median(r_ours_h)
    );
}
