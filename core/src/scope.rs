//! Which scopes to request (MCP 2026-07-28 "Scope Selection Strategy"; RFC 6749 §3.3) and the
//! union for step-up authorization (MCP "Step-Up Authorization Flow"; RFC 6750 §3.1
//! `insufficient_scope`).

use crate::error::FlowError;

/// The `offline_access` scope (OpenID Connect Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Splits a space-delimited scope string (RFC 6749 §3.3) into its tokens.
pub fn split(scope: &str) -> impl Iterator<Item = &str> {
    scope.split(' ').filter(|s| !s.is_empty())
}

/// Joins scope tokens, dropping duplicates and keeping the first occurrence's order.
pub fn join_unique<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Option<String> {
    // A plain loop: collecting from the callers' iterator adapters costs wasm size per caller.
    let mut list = Vec::new();
    for t in tokens {
        if !t.is_empty() {
            list.push(t);
        }
    }
    join_unique_of(&list)
}

/// The non-generic part of [`join_unique`] (one copy in the wasm build).
fn join_unique_of(tokens: &[&str]) -> Option<String> {
    // O(n log n): scopes come from challenges and metadata, so their number is the server's.
    let repeats = crate::json::repeats(tokens.len(), &|i| tokens[i]);
    let mut out = String::new();
    for (t, _) in tokens.iter().zip(&repeats).filter(|(_, r)| !**r) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    (!out.is_empty()).then_some(out)
}

/// The `scope` value of configured scope tokens (a YAML list, a CLI flag): each must be an
/// RFC 6749 §3.3 scope-token (`1*( %x21 / %x23-5B / %x5D-7E )`); duplicates are dropped, the
/// first occurrence's order kept. `None` for an empty list.
pub fn from_list<S: AsRef<str>>(tokens: &[S]) -> Result<Option<String>, FlowError> {
    let mut list = Vec::with_capacity(tokens.len());
    for t in tokens {
        let t = t.as_ref();
        if t.is_empty() || !t.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)) {
            return Err(FlowError::InvalidScope { token: t.to_owned() });
        }
        list.push(t);
    }
    Ok(join_unique_of(&list))
}

/// Chooses the `scope` of an authorization request:
/// 1. the scope of the `WWW-Authenticate` challenge, when present;
/// 2. else every scope in the protected-resource metadata's `scopes_supported`;
/// 3. else no `scope` parameter at all.
///
/// `offline_access` is added when `want_offline` is set, a scope is being requested, and the
/// authorization server lists `offline_access` in its `scopes_supported` (MCP: "MAY ... only if
/// the authorization server advertises it"). Configured scopes, when given, replace steps 1–2.
pub fn select(
    configured: Option<&str>,
    challenge: Option<&str>,
    resource_scopes: Option<&[String]>,
    server_scopes: Option<&[String]>,
    want_offline: bool,
) -> Option<String> {
    let base: Vec<&str> = if let Some(c) = configured.filter(|c| !c.trim().is_empty()) {
        split(c).collect()
    } else if let Some(c) = challenge.filter(|c| !c.trim().is_empty()) {
        split(c).collect()
    } else if let Some(list) = resource_scopes.filter(|l| !l.is_empty()) {
        list.iter().map(String::as_str).collect()
    } else {
        return None;
    };
    let offline =
        want_offline && server_scopes.is_some_and(|s| s.iter().any(|x| x == OFFLINE_ACCESS));
    join_unique(base.into_iter().chain(offline.then_some(OFFLINE_ACCESS)))
}

/// The scope to request on step-up: the union of what was requested before, what was granted,
/// and what the `insufficient_scope` challenge asks for.
pub fn step_up(
    requested: Option<&str>,
    granted: Option<&str>,
    challenged: Option<&str>,
) -> Option<String> {
    join_unique(requested.into_iter().chain(granted).chain(challenged).flat_map(split))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_scopes_rfc6749_section3_3() {
        assert_eq!(from_list(&["mcp:read", "a", "mcp:read"]), Ok(Some("mcp:read a".to_owned())));
        assert_eq!(from_list::<&str>(&[]), Ok(None));
        for bad in ["", "two words", "quo\"te", "back\\slash", "caf\u{e9}", "tab\t"] {
            assert_eq!(
                from_list(&["ok", bad]),
                Err(FlowError::InvalidScope { token: bad.to_owned() }),
                "{bad:?}"
            );
        }
        let e = crate::Error::from(FlowError::InvalidScope { token: "a b".into() });
        assert_eq!(e.code(), "scope_invalid");
        assert!(e.to_string().contains("`a b`"), "{e}");
    }

    #[test]
    fn join_unique_keeps_first_occurrences_in_order() {
        assert_eq!(join_unique(["b", "a", "", "b", "c", "a"]).as_deref(), Some("b a c"));
        assert_eq!(join_unique([""]), None);
        let many: Vec<String> = (0..10_000).map(|i| format!("s{}", i % 5_000)).collect();
        let joined = join_unique(many.iter().map(String::as_str)).unwrap();
        assert_eq!(joined.split(' ').count(), 5_000);
        assert!(joined.starts_with("s0 s1 s2 "));
    }

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn priority_challenge_then_prm_then_omit() {
        let prm = v(&["files:read", "files:write"]);
        assert_eq!(select(None, Some("a b"), Some(&prm), None, true).as_deref(), Some("a b"));
        assert_eq!(
            select(None, None, Some(&prm), None, true).as_deref(),
            Some("files:read files:write")
        );
        assert_eq!(select(None, None, None, None, true), None);
        assert_eq!(select(None, Some("  "), Some(&[]), None, true), None);
        assert_eq!(select(Some("x"), Some("a"), Some(&prm), None, true).as_deref(), Some("x"));
    }

    #[test]
    fn offline_access_only_when_listed_by_the_server() {
        let as_with = v(&["openid", "offline_access"]);
        let as_without = v(&["openid"]);
        assert_eq!(
            select(None, Some("a"), None, Some(&as_with), true).as_deref(),
            Some("a offline_access")
        );
        assert_eq!(select(None, Some("a"), None, Some(&as_without), true).as_deref(), Some("a"));
        assert_eq!(select(None, Some("a"), None, None, true).as_deref(), Some("a"));
        assert_eq!(select(None, Some("a"), None, Some(&as_with), false).as_deref(), Some("a"));
        assert_eq!(
            select(None, None, None, Some(&as_with), true),
            None,
            "never offline_access alone"
        );
        assert_eq!(
            select(None, Some("a offline_access"), None, Some(&as_with), true).as_deref(),
            Some("a offline_access")
        );
    }

    #[test]
    fn step_up_is_a_union() {
        assert_eq!(step_up(Some("a b"), Some("b c"), Some("d a")).as_deref(), Some("a b c d"));
        assert_eq!(step_up(None, None, Some("x")).as_deref(), Some("x"));
        assert_eq!(step_up(None, None, None), None);
    }
}
