//! A small S3 client on the crate's reqwest: the five requests [`super::S3Store`] makes
//! (GetObject, HeadObject, PutObject with `If-Match` / `If-None-Match`, DeleteObject,
//! ListObjectsV2), signed with AWS Signature Version 4 in the `Authorization` header (AWS S3
//! API reference, "Authenticating Requests: Using the Authorization Header (AWS Signature
//! Version 4)": canonical request, string to sign, signing key, signature; payload hash in
//! `x-amz-content-sha256`).
//!
//! Addressing: a custom endpoint (S3-compatible servers, `AWS_ENDPOINT_URL`) is path-style,
//! `{endpoint}/{bucket}/{key}`; AWS itself is virtual-hosted-style,
//! `https://{bucket}.s3.{region}.amazonaws.com/{key}`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;

use super::super::file::sha256_hex;

/// Largest object or listing page read back (entries are a few KB; a page of 1,000 keys is
/// about 300 KB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// AWS credentials: an access key, its secret, and for temporary credentials a session token.
/// `Debug` shows the access key id only.
#[derive(Clone)]
pub struct S3Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl S3Credentials {
    /// Credentials given explicitly.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> S3Credentials {
        S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set, `AWS_SESSION_TOKEN` (the
    /// variables every AWS SDK reads). Profiles, web identity and instance metadata are not
    /// read: export the variables (e.g. `aws configure export-credentials --format env`).
    pub fn from_env() -> Result<S3Credentials, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                Ok(S3Credentials::new(id, secret, var("AWS_SESSION_TOKEN")))
            }
            (None, _) => Err("AWS_ACCESS_KEY_ID is not set".into()),
            (_, None) => Err("AWS_SECRET_ACCESS_KEY is not set".into()),
        }
    }
}

/// What one request is, for [`sign`].
pub(crate) struct SignInput<'a> {
    pub method: &'a str,
    /// `host` or `host:port`, exactly as sent in the `Host` header.
    pub host: &'a str,
    /// The canonical URI: the path, each segment URI-encoded.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Further headers to sign and send (lower-case names).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
    pub region: &'a str,
}

/// The `Authorization` header value of a request: SigV4 over `host`, `x-amz-content-sha256`,
/// `x-amz-date`, `x-amz-security-token` (when there is a session token) and `input.headers`.
pub(crate) fn sign(input: &SignInput<'_>, creds: &S3Credentials) -> String {
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), input.host.into()),
        ("x-amz-content-sha256".into(), input.payload_hash.into()),
        ("x-amz-date".into(), input.amz_date.into()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    for (name, value) in input.headers {
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    headers.sort();
    let signed_headers = headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        input.method,
        input.path,
        canonical_query(input.query),
        input.payload_hash
    );
    let date = &input.amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", input.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        input.amz_date,
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = format!("AWS4{}", creds.secret_access_key).into_bytes();
    for part in [date, input.region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
        creds.access_key_id
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex);
/// `/` kept when `keep_slash` (object key paths).
pub(crate) fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b'/' && keep_slash {
            out.push('/');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parameters sorted by encoded name, each `name=value` encoded (the canonical query string,
/// which is also the query sent).
fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC).
pub(crate) fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (400-year eras of 146,097
/// days; March-based years so that the leap day ends a year).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A write's precondition (S3 conditional writes: RFC 9110 §13.1.1 `If-Match`, §13.1.2
/// `If-None-Match: *`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Condition<'a> {
    /// Unconditional.
    None,
    /// Only if no object has this name.
    Absent,
    /// Only if the object still has this ETag.
    Matches(&'a str),
}

/// How a request ended, short of a transport failure.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    Done(T),
    /// 404.
    NotFound,
    /// 412, or 409 (AWS: a concurrent conditional write to the same key won).
    PreconditionFailed,
}

/// Where the bucket is, and how to sign for it.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    creds: S3Credentials,
    region: String,
    scheme: String,
    host: String,
    /// The path before the key: `/{base}/{bucket}` (path-style) or empty (virtual-hosted).
    root: String,
}

impl Client {
    /// `endpoint`: `None` for AWS (virtual-hosted-style), or an S3-compatible server's URL
    /// (path-style). Errors say what is wrong with the endpoint.
    pub(crate) fn new(
        bucket: &str,
        region: &str,
        endpoint: Option<&str>,
        creds: S3Credentials,
    ) -> Result<Client, String> {
        let (scheme, host, root) = match endpoint {
            None => {
                ("https".to_owned(), format!("{bucket}.s3.{region}.amazonaws.com"), String::new())
            }
            Some(e) => {
                // Messages do not quote the endpoint: its user info could hold a credential.
                let url = url::Url::parse(e).map_err(|err| format!("endpoint: {err}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err("endpoint: must be an http:// or https:// URL".into());
                }
                if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
                    return Err("endpoint: no query or user info allowed".into());
                }
                let host = match (url.host_str(), url.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    (None, _) => return Err("endpoint: no host".into()),
                };
                let base = url.path().trim_end_matches('/');
                (url.scheme().to_owned(), host, format!("{base}/{bucket}"))
            }
        };
        let http = crate::http::client_builder()
            .map_err(|e| format!("HTTP client: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            // Below the idle timeouts of S3 and common proxies, so a pooled connection is not
            // closed by the server just as a conditional write goes out on it.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Client { http, creds, region: region.to_owned(), scheme, host, root })
    }

    /// `scheme://host` for messages.
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// Sends a request, again after 50 ms and 250 ms when S3 answers 500, 502, 503 or 504 or
    /// the connection fails (S3 asks clients to retry these: "Error responses", 500
    /// InternalError, 503 SlowDown). Every request here may be repeated: reads, deletes and
    /// whole-object writes are idempotent, and a conditional write that was applied the first
    /// time answers 412 the second time (its object is then as the first attempt left it).
    async fn send(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), String> {
        let mut last = String::new();
        for (attempt, pause) in [0u64, 50, 250].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match self.send_once(method, key, query, headers, body.clone()).await {
                Ok((status, _, resp)) if matches!(status, 500 | 502 | 503 | 504) && attempt < 2 => {
                    last = format!("HTTP {status}: {}", String::from_utf8_lossy(&resp));
                }
                Err(e) if attempt < 2 => last = e,
                done => return done,
            }
        }
        Err(last)
    }

    async fn send_once(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), String> {
        let path = match key {
            Some(k) => format!("{}/{}", self.root, uri_encode(k, true)),
            None if self.root.is_empty() => "/".to_owned(),
            None => self.root.clone(),
        };
        let payload_hash = sha256_hex(&body);
        let date = amz_date(SystemTime::now());
        let authorization = sign(
            &SignInput {
                method,
                host: &self.host,
                path: &path,
                query,
                headers,
                payload_hash: &payload_hash,
                amz_date: &date,
                region: &self.region,
            },
            &self.creds,
        );
        let mut url = format!("{}://{}{path}", self.scheme, self.host);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&canonical_query(query));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .request(method, &url)
            .header("authorization", authorization)
            .header("x-amz-content-sha256", payload_hash)
            .header("x-amz-date", date);
        if let Some(token) = &self.creds.session_token {
            req = req.header("x-amz-security-token", token);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let mut resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
            if out.len() + chunk.len() > MAX_BODY {
                return Err(format!("response larger than {MAX_BODY} bytes"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok((status, headers, out))
    }

    /// An object's bytes and ETag.
    pub(crate) async fn get(&self, key: &str) -> Result<Outcome<(Vec<u8>, String)>, String> {
        let (status, headers, body) = self.send("GET", Some(key), &[], &[], Vec::new()).await?;
        match status {
            200 => Ok(Outcome::Done((body, etag(&headers)?))),
            _ => classify(status, &body),
        }
    }

    /// An object's ETag.
    pub(crate) async fn head(&self, key: &str) -> Result<Outcome<String>, String> {
        let (status, headers, body) = self.send("HEAD", Some(key), &[], &[], Vec::new()).await?;
        match status {
            200 => Ok(Outcome::Done(etag(&headers)?)),
            _ => classify(status, &body),
        }
    }

    /// Writes an object; its new ETag.
    pub(crate) async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: Condition<'_>,
    ) -> Result<Outcome<String>, String> {
        let mut headers = vec![("content-type", "application/octet-stream")];
        match condition {
            Condition::None => {}
            Condition::Absent => headers.push(("if-none-match", "*")),
            Condition::Matches(tag) => headers.push(("if-match", tag)),
        }
        let (status, resp_headers, resp) = self.send("PUT", Some(key), &[], &headers, body).await?;
        match status {
            200 => Ok(Outcome::Done(etag(&resp_headers)?)),
            _ => classify(status, &resp),
        }
    }

    /// Deletes an object; with an ETag, only that version (`If-Match` on DeleteObject; a
    /// server that ignores the header deletes unconditionally).
    pub(crate) async fn delete(
        &self,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<Outcome<()>, String> {
        let headers: Vec<(&str, &str)> = if_match.map(|t| ("if-match", t)).into_iter().collect();
        let (status, _, body) = self.send("DELETE", Some(key), &[], &headers, Vec::new()).await?;
        match status {
            200 | 204 => Ok(Outcome::Done(())),
            _ => classify(status, &body),
        }
    }

    /// Whether the bucket exists and these credentials may use it (HeadBucket).
    pub(crate) async fn head_bucket(&self) -> Result<(), String> {
        let (status, _, body) = self.send("HEAD", None, &[], &[], Vec::new()).await?;
        match status {
            200 => Ok(()),
            // HEAD answers carry no error document: say what the status means.
            404 => Err("HTTP 404: no such bucket".into()),
            _ => {
                Err(classify::<()>(status, &body).err().unwrap_or_else(|| format!("HTTP {status}")))
            }
        }
    }

    /// Every key under `prefix` (ListObjectsV2, following continuation tokens).
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        // 1,000 pages of 1,000 keys: far more than one user's entries.
        for _ in 0..1000 {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let (status, _, body) = self.send("GET", None, &query, &[], Vec::new()).await?;
            if status != 200 {
                return match classify::<()>(status, &body)? {
                    Outcome::NotFound => Err("bucket not found (404 NoSuchBucket)".into()),
                    _ => Err(format!("ListObjectsV2 answered {status}")),
                };
            }
            let text = String::from_utf8(body).map_err(|_| "ListObjectsV2: not UTF-8")?;
            let page = parse_list(&text)?;
            keys.extend(page.keys);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
        Err("ListObjectsV2: more than 1000 pages".into())
    }
}

fn etag(headers: &reqwest::header::HeaderMap) -> Result<String, String> {
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "the response has no ETag".to_owned())
}

/// 404, 409/412, or an error naming the status and S3's error code and message.
fn classify<T>(status: u16, body: &[u8]) -> Result<Outcome<T>, String> {
    match status {
        404 => Ok(Outcome::NotFound),
        409 | 412 => Ok(Outcome::PreconditionFailed),
        _ => {
            let text = String::from_utf8_lossy(body);
            let code = element(&text, "Code").unwrap_or_default();
            let message = element(&text, "Message").unwrap_or_default();
            let mut out = format!("HTTP {status} {code}");
            if !message.is_empty() {
                out.push_str(": ");
                out.extend(message.chars().take(200));
            }
            if status == 403 {
                out.push_str(" (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the region)");
            }
            Err(out)
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// One ListObjectsV2 page: its keys and the continuation token when truncated.
#[derive(Debug, PartialEq)]
pub(crate) struct ListPage {
    pub keys: Vec<String>,
    pub next: Option<String>,
}

/// Reads a ListObjectsV2 result: `<Contents><Key>` elements, `<IsTruncated>` and
/// `<NextContinuationToken>`. Linear in the text; entities are decoded.
pub(crate) fn parse_list(xml: &str) -> Result<ListPage, String> {
    if !xml.contains("<ListBucketResult") {
        return Err("ListObjectsV2: not a ListBucketResult".into());
    }
    let mut keys = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Key>") {
        let after = &rest[start + 5..];
        let end = after.find("</Key>").ok_or("ListObjectsV2: unterminated <Key>")?;
        keys.push(unescape(&after[..end])?);
        rest = &after[end + 6..];
    }
    let truncated = element(xml, "IsTruncated").as_deref() == Some("true");
    let next = match (truncated, element(xml, "NextContinuationToken")) {
        (false, _) => None,
        (true, Some(t)) if !t.is_empty() => Some(unescape(&t)?),
        (true, _) => return Err("ListObjectsV2: truncated without a continuation token".into()),
    };
    Ok(ListPage { keys, next })
}

/// The text of the first `<name>…</name>`, not decoded.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + end].to_owned())
}

/// XML 1.0 §4.6 predefined entities and character references.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').filter(|&i| i <= 10).ok_or("XML: bad entity")?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = entity.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = entity.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("XML: bad entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
