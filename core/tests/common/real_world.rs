//! Helpers of the `real_world_*` tests: the `fixture!` macro, reading captured HTTP
//! transcripts, and short forms of the public step functions.

use mcp_oauth_core::http::HttpResponse;
use mcp_oauth_core::policy::ServerPolicy;
use mcp_oauth_core::resource_metadata::{self, ResourceMetadata, ResourceMetadataError};
use mcp_oauth_core::server_metadata::{self, MetadataVariant, ServerMetadata, ServerMetadataError};
use mcp_oauth_core::time::UnixTime;
use mcp_oauth_core::url::{EndpointUrl, IssuerUrl, RedirectUri, ResourceUrl};

/// The text of a fixture under `tests/fixtures/real-world/`. `include_str!` resolves its path
/// against the file that invokes the macro, so this works from any test file in `tests/`.
#[allow(unused_macros)] // unused in the `proptest_*` crates, which include `common` too
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/real-world/", $name))
    };
}

#[allow(unused_imports)] // likewise
pub(crate) use fixture;

/// Reads a captured HTTP response out of a fixture transcript: annotation lines and curl
/// command lines before the status line are skipped; the status is the number after the first
/// `HTTP…` word; header lines follow until a blank line (a line starting with white space
/// continues the previous header, as in an obs-fold or a reporter's wrapping, and is joined with
/// one space); the rest is the body.
pub fn transcript_response(transcript: &str) -> HttpResponse {
    let mut lines = transcript.lines().skip_while(|l| !l.starts_with("HTTP"));
    let status_line = lines.next().expect("the transcript has an HTTP status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("the status line has a status code");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().expect("a continuation follows a header");
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line.split_once(':').expect("a header line has a colon");
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = lines.collect::<Vec<_>>().join("\n");
    HttpResponse::new(status, headers, body)
}

/// The `WWW-Authenticate` value of a transcript.
pub fn www_authenticate(transcript: &str) -> String {
    transcript_response(transcript)
        .header("www-authenticate")
        .expect("the transcript has a WWW-Authenticate header")
        .to_owned()
}

pub fn mcp(url: &str) -> ResourceUrl {
    ResourceUrl::parse(url).expect("valid MCP URL")
}

pub fn issuer(s: &str) -> IssuerUrl {
    IssuerUrl::parse(s).expect("valid issuer")
}

pub fn endpoint(s: &str) -> EndpointUrl {
    EndpointUrl::parse(s).expect("valid endpoint URL")
}

pub fn redirect(s: &str) -> RedirectUri {
    RedirectUri::parse(s).expect("valid redirect URI")
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub fn prm_candidates(mcp_url: &str, header_url: Option<&str>) -> Vec<String> {
    resource_metadata::candidate_urls(&mcp(mcp_url), header_url)
        .expect("candidate URLs")
        .into_iter()
        .map(|u| u.as_str().to_owned())
        .collect()
}

pub fn prm(
    fetched_from: &str,
    mcp_url: &str,
    resp: &HttpResponse,
) -> Result<ResourceMetadata, ResourceMetadataError> {
    resource_metadata::process_metadata_response(&endpoint(fetched_from), &mcp(mcp_url), resp)
}

pub fn as_candidates(issuer_str: &str) -> Vec<(String, MetadataVariant)> {
    server_metadata::candidate_urls(&issuer(issuer_str))
        .into_iter()
        .map(|(u, v)| (u.as_str().to_owned(), v))
        .collect()
}

/// Fetches `body` as if it came from candidate `index` of the issuer's candidate list.
pub fn as_metadata(
    issuer_str: &str,
    index: usize,
    body: &str,
    policy: &ServerPolicy,
) -> Result<ServerMetadata, ServerMetadataError> {
    let iss = issuer(issuer_str);
    let candidates = server_metadata::candidate_urls(&iss);
    let (url, _) = candidates.get(index).expect("candidate index in range");
    server_metadata::process_metadata_response(&iss, url, &HttpResponse::json(200, body), policy)
}

pub fn strict() -> ServerPolicy {
    ServerPolicy::default()
}

pub fn assume_pkce() -> ServerPolicy {
    let mut policy = ServerPolicy::default();
    policy.danger_assume_pkce_s256 = true;
    policy
}

pub fn ep(e: &Option<EndpointUrl>) -> Option<&str> {
    e.as_ref().map(EndpointUrl::as_str)
}

pub fn issuers(m: &ResourceMetadata) -> Vec<&str> {
    m.authorization_servers.iter().map(IssuerUrl::as_str).collect()
}

pub const LOOPBACK_REDIRECT: &str = "http://127.0.0.1:8765/callback";
pub const NOW: UnixTime = UnixTime(1_790_000_000);
