//! `--ignore-tool PATTERN`: tools the host does not see. A pattern is a tool name where `*`
//! stands for any run of characters (`delete_*`, `*_admin`, `*`); matching is exact otherwise
//! (case-sensitive, as tool names are).

use serde_json::Value;

/// The tools hidden from the host.
#[derive(Clone, Debug, Default)]
pub struct ToolFilter {
    patterns: Vec<String>,
}

impl ToolFilter {
    /// A filter hiding the tools any of `patterns` matches.
    pub fn new(patterns: impl IntoIterator<Item = String>) -> ToolFilter {
        ToolFilter { patterns: patterns.into_iter().collect() }
    }

    /// Whether tool `name` is hidden.
    pub fn hides(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| glob(p, name))
    }

    /// Whether `m` is a `tools/call` request of a hidden tool.
    pub(super) fn refuses_call(&self, m: &Value) -> bool {
        m.get("method").and_then(Value::as_str) == Some("tools/call")
            && m.pointer("/params/name").and_then(Value::as_str).is_some_and(|n| self.hides(n))
    }

    /// Removes the hidden tools from a `tools/list` result's `tools`; whether any was removed.
    pub(super) fn filter_list(&self, tools: &mut Value) -> bool {
        let Value::Array(list) = tools else { return false };
        let before = list.len();
        list.retain(|t| !t.get("name").and_then(Value::as_str).is_some_and(|n| self.hides(n)));
        list.len() != before
    }
}

/// `*` matches any run of characters; linear in the input for each `*`-separated part.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let f = ToolFilter::new(["delete_*".to_owned(), "*_admin".to_owned(), "echo".to_owned()]);
        assert!(f.hides("delete_repo") && f.hides("delete_") && f.hides("site_admin"));
        assert!(f.hides("echo"));
        assert!(!f.hides("echo2") && !f.hides("add") && !f.hides("undelete_repo"));
        assert!(glob("a*b*c", "axxbyyc") && !glob("a*b*c", "acb") && !glob("ab*ba", "aba"));
        assert!(glob("*", "") && glob("**", "x"));
    }

    #[test]
    fn lists_and_calls() {
        let f = ToolFilter::new(["add".to_owned()]);
        let mut tools = serde_json::json!([{ "name": "echo" }, { "name": "add" }, { "x": 1 }]);
        assert!(f.filter_list(&mut tools));
        assert_eq!(tools, serde_json::json!([{ "name": "echo" }, { "x": 1 }]));
        assert!(!f.filter_list(&mut tools));
        let call = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}});
        assert!(f.refuses_call(&call));
        let other = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}});
        assert!(!f.refuses_call(&other));
    }
}
