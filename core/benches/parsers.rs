//! The core's parsers on 1 MiB adversarial inputs (issue 12, item 3): JSON with unique member
//! names, JSON of long strings that every cap admits (the accepted path), a `WWW-Authenticate`
//! value with ~95,000 parameters, a form body and a callback URL with ~116,000 pairs, a 1 MiB
//! URL, 100,000 unique scopes to join, and the largest input each cap still admits. Before the
//! caps, the duplicate checks made several of these take seconds; now each is refused at its
//! cap or parsed in linear time.
//!
//! Run: `cargo bench -p mcp-oauth-core --bench parsers`. On code where one input takes seconds,
//! Criterion's minimum of 10 samples takes many minutes; `PARSERS_ONCE=1` instead times each
//! input once and prints the result (how the "before" column in `BENCHMARKS.md` was measured).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use mcp_oauth_core::__private::encoding::form_decode;
use mcp_oauth_core::__private::{encoding, json};
use mcp_oauth_core::authorize::{authorization_request, process_callback, AuthorizationParams};
use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::pkce::Entropy;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, Url};
use mcp_oauth_core::{scope, server_metadata, url, www_authenticate};

const MIB: usize = 1 << 20;

/// Repeats `item(i)` while the text, with `suffix`, stays within `len` bytes.
fn fill(prefix: &str, len: usize, suffix: &str, item: impl Fn(&mut String, usize)) -> String {
    let mut s = String::from(prefix);
    for i in 0.. {
        let before = s.len();
        item(&mut s, i);
        if s.len() + suffix.len() > len {
            s.truncate(before);
            break;
        }
    }
    s.push_str(suffix);
    s
}

fn metadata(extra: &str) -> String {
    format!(
        r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"]{extra}}}"#
    )
}

type Case = (&'static str, Box<dyn Fn()>);

fn cases() -> Vec<Case> {
    let members =
        fill("{", MIB, "}", |s, i| write!(s, r#""m{i:06}":"abc","#).expect("writing to a String"))
            .replace(",}", "}");
    let strings = fill(r#"{"a":["#, MIB, r#""z"]}"#, |s, _| {
        s.push('"');
        s.push_str(&"x".repeat(300));
        s.push_str("\",");
    });
    assert!(json::parse(strings.as_bytes()).is_ok(), "under every cap: parsed");
    let challenge = fill(r#"Bearer realm="mcp""#, MIB, "", |s, i| {
        write!(s, ", a{i:06}=b").expect("writing to a String")
    });
    let form = fill("", MIB, "", |s, i| write!(s, "p{i:06}=&").expect("writing to a String"));
    let url = format!("https://as.example/{}", "a".repeat(MIB));
    let callback = fill("http://127.0.0.1:8765/cb?", MIB, "", |s, i| {
        write!(s, "p{i:06}=&").expect("writing to a String")
    });
    // The largest inputs each cap admits: the worst case that is still parsed.
    let members_at_cap = format!(
        "{{{}}}",
        (0..json::MAX_MEMBERS).map(|i| format!(r#""m{i:06}":"abc""#)).collect::<Vec<_>>().join(",")
    );
    let value =
        "v".repeat(www_authenticate::MAX_HEADER_LEN / www_authenticate::MAX_PARAMETERS - 12);
    let challenge_at_cap = format!(
        "Bearer {}",
        (0..www_authenticate::MAX_PARAMETERS - 1)
            .map(|i| format!("a{i:02}=\"{value}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let form_at_cap = fill("", encoding::MAX_FORM_LEN, "", |s, i| {
        write!(s, "p{i:05}=&").expect("writing to a String")
    });
    let callback_at_cap = fill("http://127.0.0.1:8765/cb?", url::MAX_URL_LEN, "", |s, i| {
        write!(s, "p{i:05}=&").expect("writing to a String")
    });
    assert!(json::parse(members_at_cap.as_bytes()).is_ok());
    assert!(www_authenticate::parse(&challenge_at_cap).is_ok());
    assert!(form_decode(&form_at_cap).is_ok());
    let scopes: Vec<String> = (0..100_000).map(|i| format!("s{i:06}")).collect();
    let issuer = IssuerUrl::parse("https://as.example").expect("valid");
    let md_url = EndpointUrl::parse("https://as.example/.well-known/oauth-authorization-server")
        .expect("valid");
    let md = server_metadata::process_metadata_response(
        &issuer,
        &md_url,
        &HttpResponse::json(200, &metadata("")),
        &ServerPolicy::default(),
    )
    .expect("valid");
    let redirect = RedirectUri::parse("http://127.0.0.1:8765/cb").expect("valid");
    let pending = authorization_request(
        AuthorizationParams {
            metadata: &md,
            client_id: "c",
            redirect_uri: &redirect,
            resource: None,
            scope: None,
            extra_params: &[],
        },
        &Entropy { verifier: [1; 32], state: [2; 32] },
        UnixTime(1_700_000_000),
    )
    .expect("valid");
    let pending2 = pending.clone();
    vec![
        (
            "json_1mib_unique_members",
            Box::new(move || drop(black_box(json::parse(members.as_bytes())))),
        ),
        (
            "json_1mib_long_strings",
            Box::new(move || drop(black_box(json::parse(strings.as_bytes())))),
        ),
        (
            "www_authenticate_1mib_params",
            Box::new(move || drop(black_box(www_authenticate::parse(&challenge)))),
        ),
        ("form_1mib_pairs", Box::new(move || drop(black_box(form_decode(&form))))),
        ("url_1mib", Box::new(move || drop(black_box(Url::parse(&url))))),
        (
            "callback_1mib_params",
            Box::new(move || drop(black_box(process_callback(&pending, &callback)))),
        ),
        (
            "at_cap_json_1024_members",
            Box::new(move || drop(black_box(json::parse(members_at_cap.as_bytes())))),
        ),
        (
            "at_cap_www_authenticate_16kib_63_params",
            Box::new(move || drop(black_box(www_authenticate::parse(&challenge_at_cap)))),
        ),
        (
            "at_cap_form_64kib_8k_pairs",
            Box::new(move || drop(black_box(form_decode(&form_at_cap)))),
        ),
        (
            "at_cap_callback_16kib_2k_params",
            Box::new(move || drop(black_box(process_callback(&pending2, &callback_at_cap)))),
        ),
        (
            "scope_join_100k_unique",
            Box::new(move || {
                drop(black_box(scope::select(None, None, Some(&scopes), None, false)))
            }),
        ),
    ]
}

fn parsers(c: &mut Criterion) {
    let mut g = c.benchmark_group("parsers");
    g.sample_size(20).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, run) in cases() {
        g.bench_function(name, |b| b.iter(&run));
    }
    g.finish();
}

criterion_group!(benches, parsers);

// A benchmark reads the wall clock; the core itself never does (clippy.toml).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    use std::time::Instant;
    if std::env::var_os("PARSERS_ONCE").is_some() {
        for (name, run) in cases() {
            let start = Instant::now();
            run();
            println!("{name}: {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
