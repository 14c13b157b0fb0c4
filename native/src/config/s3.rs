//! The settings of `token_storage: {type: s3, bucket, prefix, region, endpoint}`, checked the
//! same way by the loader (which names the YAML path) and by `store::S3Config::check`.

/// What is wrong with S3 settings: the setting's name and why, or `None`.
pub(crate) fn problem(
    bucket: &str,
    prefix: &str,
    region: Option<&str>,
    endpoint: Option<&str>,
) -> Option<(&'static str, String)> {
    // S3 bucket naming rules: 3–63 characters, lower-case letters, digits, `.` and `-`,
    // starting and ending with a letter or digit.
    let b = bucket.as_bytes();
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let chars = b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(c));
    if !(3..=63).contains(&b.len()) || !chars || !edge(b.first()) || !edge(b.last()) {
        return Some((
            "bucket",
            format!(
                "bucket {bucket:?}: 3-63 lower-case letters, digits, `.` or `-`, starting and \
                 ending with a letter or digit"
            ),
        ));
    }
    if !prefix.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_./".contains(&c))
        || prefix.starts_with('/')
        || prefix.len() > 512
    {
        return Some((
            "prefix",
            format!("prefix {prefix:?}: letters, digits, `-`, `_`, `.` and `/` only, not starting with `/`"),
        ));
    }
    if let Some(r) = region {
        if r.is_empty() || !r.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return Some(("region", format!("region {r:?}: like `eu-west-1`")));
        }
    }
    if let Some(e) = endpoint {
        let ok = url::Url::parse(e).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        });
        if !ok {
            return Some((
                "endpoint",
                // The value is not quoted: its user info may hold a credential.
                "endpoint: must be an http:// or https:// URL without user info or query"
                    .to_owned(),
            ));
        }
    }
    None
}
