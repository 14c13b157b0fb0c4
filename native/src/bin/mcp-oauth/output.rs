//! What the commands print: tables on stdout, or JSON with `--json`.

pub(crate) fn print_headless(
    url: &str,
    tokens: Option<&mcp_oauth::core::token::TokenSet>,
    json: bool,
) {
    let expires = tokens.and_then(|t| t.expires_at).map(|t| t.secs());
    let scope = tokens.and_then(|t| t.scope.clone());
    if json {
        println!(
            "{}",
            serde_json::json!({ "server": url, "authorized": tokens.is_some(), "expires_at": expires, "scope": scope })
        );
        return;
    }
    println!("{url}  authorized (headless grant; the token is not stored)");
    if let Some(t) = expires {
        println!("  access token {}", expiry(t, false));
    }
    if let Some(scope) = scope {
        println!("  scope: {scope}");
    }
}

pub(crate) fn print_tools(tools: &[rmcp::model::Tool], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(tools).unwrap_or_default());
        return;
    }
    let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    println!("{:width$}  DESCRIPTION", "NAME");
    for t in tools {
        let desc = t.description.as_deref().unwrap_or("").lines().next().unwrap_or("");
        println!("{:width$}  {desc}", t.name);
    }
}

pub(crate) fn print_status(s: &mcp_oauth::Status, json: bool) {
    if json {
        let v = serde_json::json!({
            "server": s.server, "user": s.user, "issuer": s.issuer, "authorized": s.authorized,
            "expires_at": s.expires_at.map(|t| t.secs()), "refreshable": s.refreshable, "scope": s.scope,
        });
        println!("{v}");
        return;
    }
    let state = if s.authorized {
        "authorized"
    } else if s.refreshable {
        "expired (refreshable)"
    } else {
        "not authorized"
    };
    println!("{}  user={}  {state}", s.server, s.user);
    if let Some(i) = &s.issuer {
        println!("  issuer: {i}");
    }
    if let Some(t) = s.expires_at {
        println!("  access token {}", expiry(t.secs(), s.refreshable));
    }
    if let Some(scope) = &s.scope {
        println!("  scope: {scope}");
    }
}

/// "expires in N s", or "expired N s ago" (with "(refreshable)" when a refresh token is held).
fn expiry(expires_at: u64, refreshable: bool) -> String {
    let left = i64::try_from(expires_at).unwrap_or(i64::MAX).saturating_sub(unix_now());
    if left > 0 {
        format!("expires in {left} s")
    } else if refreshable {
        format!("expired {} s ago (refreshable)", -left)
    } else {
        format!("expired {} s ago", -left)
    }
}

/// Seconds since the Unix epoch, for "expires in" lines.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
