//! Follow mode ([`follow`]): the authorization server's redirects followed without a browser.

use std::time::Duration;

use reqwest::Url;

use super::{is_loopback_url, RedirectError, MAX_REDIRECTS};

/// Follows the authorization server's redirects without a browser and returns the callback URL.
///
/// For servers that approve without a user. Requests `authorization_url` with a cookie store
/// and automatic redirects off; while the answer is a redirect, resolves `Location` against the
/// current URL and requests that, up to [`MAX_REDIRECTS`] redirects. When a `Location` points at
/// `redirect_uri` (same scheme, host, port and path) it is returned as an absolute URL, with the
/// server's `code`/`state`/`iss` or `error`, and is **not** requested. Plain `http` is only
/// requested from loopback hosts. The whole walk must finish within `timeout`.
///
/// # Errors
///
/// [`RedirectError::InteractionRequired`] when a page answers instead of a redirect (a login
/// or consent form), [`RedirectError::HttpStatus`] on 4xx/5xx,
/// [`RedirectError::TooManyRedirects`], [`RedirectError::InsecureUrl`],
/// [`RedirectError::BadLocation`], [`RedirectError::Timeout`], [`RedirectError::Request`],
/// [`RedirectError::InvalidUrl`] / [`RedirectError::InvalidRedirectUri`] for unparsable input.
pub async fn follow(
    authorization_url: &str,
    redirect_uri: &str,
    timeout: Duration,
) -> Result<String, RedirectError> {
    let target = Url::parse(redirect_uri).map_err(|e| RedirectError::InvalidRedirectUri {
        uri: redirect_uri.to_owned(),
        reason: e.to_string(),
    })?;
    let mut url = Url::parse(authorization_url).map_err(|e| RedirectError::InvalidUrl {
        url: authorization_url.to_owned(),
        reason: format!("the authorization URL does not parse: {e}"),
    })?;
    let deadline = tokio::time::Instant::now() + timeout;

    let client = crate::http::client_builder()
        .map_err(RedirectError::Client)?
        .cookie_store(true)
        .referer(false)
        .build()
        .map_err(|e| RedirectError::Client(crate::error::error_chain(&e)))?;

    let mut redirects = 0;
    loop {
        check_follow_url(&url)?;
        let send = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send();
        let response = match tokio::time::timeout_at(deadline, send).await {
            Err(_) => return Err(RedirectError::Timeout { after: timeout, url: url.to_string() }),
            Ok(Err(e)) => {
                return Err(RedirectError::Request {
                    url: url.to_string(),
                    message: crate::error::error_chain(&e),
                })
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if status.is_redirection() {
            let bad = |reason: &str| RedirectError::BadLocation {
                status: status.as_u16(),
                url: url.to_string(),
                reason: reason.to_owned(),
            };
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .ok_or_else(|| bad("it is missing"))?
                .to_str()
                .map_err(|_| bad("it is not ASCII text"))?;
            let next = url
                .join(location)
                .map_err(|e| bad(&format!("`{location}` does not resolve: {e}")))?;
            if is_redirect_target(&next, &target) {
                return Ok(next.to_string());
            }
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(RedirectError::TooManyRedirects {
                    max: MAX_REDIRECTS,
                    url: next.to_string(),
                });
            }
            url = next;
        } else if status.is_success() || status.is_informational() {
            return Err(RedirectError::InteractionRequired { url: url.to_string() });
        } else {
            return Err(RedirectError::HttpStatus {
                status: status.as_u16(),
                url: url.to_string(),
            });
        }
    }
}

/// `https` anywhere, plain `http` only on loopback.
fn check_follow_url(url: &Url) -> Result<(), RedirectError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(url) => Ok(()),
        "http" => Err(RedirectError::InsecureUrl { url: url.to_string() }),
        other => Err(RedirectError::InvalidUrl {
            url: url.to_string(),
            reason: format!(
                "follow mode only requests http(s) URLs, not `{other}:`, and this is not the \
                 redirect URI"
            ),
        }),
    }
}

/// Same scheme, host, port (defaults filled in) and path.
fn is_redirect_target(location: &Url, redirect_uri: &Url) -> bool {
    location.scheme() == redirect_uri.scheme()
        && location.host_str() == redirect_uri.host_str()
        && location.port_or_known_default() == redirect_uri.port_or_known_default()
        && location.path() == redirect_uri.path()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_target_compares_parsed() {
        let t = Url::parse("http://localhost:8000/cb").unwrap();
        assert!(is_redirect_target(&Url::parse("http://LOCALHOST:8000/cb?code=x").unwrap(), &t));
        assert!(!is_redirect_target(&Url::parse("http://localhost:8001/cb?code=x").unwrap(), &t));
        assert!(!is_redirect_target(&Url::parse("http://localhost:8000/cb2").unwrap(), &t));
        let t = Url::parse("https://app.example/cb").unwrap();
        assert!(is_redirect_target(&Url::parse("https://app.example:443/cb#code=x").unwrap(), &t));
    }
}
