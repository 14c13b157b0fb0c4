//! One list of error codes for every host: the codes the native adapter, the wasm binding, its
//! JavaScript and the npm package's types use are read from their sources here and checked
//! against `mcp_oauth_core::error::{CORE_CODES, HOST_CODES}`, both ways.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mcp_oauth_core::error::{is_known_code, CORE_CODES, HOST_CODES};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files under `dir` (recursively) whose name ends with `ext`.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path, ext));
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The quoted snake_case literals (`quote` is `"` or `'`) in `text`.
fn literals(text: &str, quote: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut parts = text.split(quote);
    parts.next();
    while let Some(inside) = parts.next() {
        if !inside.is_empty()
            && inside.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            out.push(inside.to_owned());
        }
        parts.next();
    }
    out
}

/// The text from `start` to the first `end` after it, for each occurrence of `start`.
fn sections<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(start) {
        let after = &rest[i + start.len()..];
        let j = after.find(end).unwrap_or(after.len());
        out.push(&after[..j]);
        rest = &after[j..];
    }
    out
}

/// Codes returned by every `fn code(&self) -> &'static str` in the Rust files under `dir`.
fn rust_codes(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in files(dir, ".rs") {
        let text = read(&path);
        for body in sections(&text, "fn code(&self) -> &'static str {", "\n    }\n") {
            out.extend(literals(body, '"'));
        }
    }
    out
}

fn binding_codes() -> BTreeSet<String> {
    let text = read(&repo().join("wasm/src/error.rs"));
    let list = sections(&text, "pub const BINDING_CODES: &[&str] = &[", "];");
    assert_eq!(list.len(), 1, "BINDING_CODES not found in wasm/src/error.rs");
    literals(list[0], '"').into_iter().collect()
}

/// Codes of `makeError('…'` in the binding's JavaScript.
fn js_codes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in files(&repo().join("pkg/src"), ".js") {
        for call in sections(&read(&path), "makeError(", ",") {
            if call == "code" {
                continue; // the definition: `export function makeError(code, message, fields)`
            }
            let code = literals(call, '\'');
            assert_eq!(code.len(), 1, "{}: makeError({call}: not a literal code", path.display());
            out.extend(code);
        }
    }
    assert!(!out.is_empty(), "no makeError calls found in pkg/src");
    out
}

fn dts_codes() -> BTreeSet<String> {
    let text = read(&repo().join("pkg/index.d.ts"));
    let union = sections(&text, "export type McpOAuthErrorCode =", ";");
    assert_eq!(union.len(), 1, "McpOAuthErrorCode not found in pkg/index.d.ts");
    literals(union[0], '\'').into_iter().collect()
}

fn unknown(codes: &BTreeSet<String>) -> Vec<&String> {
    codes.iter().filter(|c| !is_known_code(c)).collect()
}

#[test]
fn every_native_code_is_listed() {
    let native = rust_codes(&repo().join("native/src"));
    assert!(native.contains("egress_denied") && native.contains("storage_failed"));
    assert_eq!(unknown(&native), Vec::<&String>::new(), "native codes missing from the list");
}

#[test]
fn every_javascript_code_is_listed() {
    let binding = binding_codes();
    assert_eq!(unknown(&binding), Vec::<&String>::new(), "BINDING_CODES outside the list");
    let js = js_codes();
    assert_eq!(unknown(&js), Vec::<&String>::new(), "pkg/src codes missing from the list");
    // JS reports either a binding code or, for a condition the core names, the core's code.
    let stray: Vec<&String> =
        js.iter().filter(|c| !binding.contains(*c) && !CORE_CODES.contains(&c.as_str())).collect();
    assert!(stray.is_empty(), "pkg/src codes neither in BINDING_CODES nor core: {stray:?}");
}

/// The package's `McpOAuthErrorCode` is the core's codes plus the binding's, nothing else.
#[test]
fn typescript_code_union_matches_the_list() {
    let mut want: BTreeSet<String> = CORE_CODES.iter().map(|c| (*c).to_owned()).collect();
    want.extend(binding_codes());
    assert_eq!(dts_codes(), want);
}

/// The union as generated from the lists: the core's codes in their order, then the binding's
/// that the core does not name.
fn rendered_union() -> String {
    let text = read(&repo().join("wasm/src/error.rs"));
    let list = sections(&text, "pub const BINDING_CODES: &[&str] = &[", "];");
    let mut codes: Vec<String> = CORE_CODES.iter().map(|c| (*c).to_owned()).collect();
    for code in literals(list[0], '"') {
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let lines: Vec<String> = codes.iter().map(|c| format!("  | '{c}'")).collect();
    format!("export type McpOAuthErrorCode =\n{};", lines.join("\n"))
}

/// `McpOAuthErrorCode` in pkg/index.d.ts is generated from the Rust lists (CORE_CODES here,
/// BINDING_CODES in wasm/src/error.rs), not kept by hand: this test fails when it is stale, and
/// `MCP_OAUTH_UPDATE_CODES=1 cargo test -p mcp-oauth-core --test error_codes` writes it.
#[test]
fn typescript_code_union_is_generated() {
    let path = repo().join("pkg/index.d.ts");
    let text = read(&path);
    let start = text.find("export type McpOAuthErrorCode =").expect("the union");
    let end = start + text[start..].find(';').expect("its end") + 1;
    let want = rendered_union();
    if std::env::var_os("MCP_OAUTH_UPDATE_CODES").is_some() {
        let updated = format!("{}{}{}", &text[..start], want, &text[end..]);
        std::fs::write(&path, updated).expect("write pkg/index.d.ts");
        return;
    }
    assert!(
        text[start..end] == want,
        "pkg/index.d.ts McpOAuthErrorCode is stale: run MCP_OAUTH_UPDATE_CODES=1 cargo test -p \
         mcp-oauth-core --test error_codes"
    );
}

/// Every host code is used by some host: the list holds no stale names.
#[test]
fn every_host_code_is_used() {
    let mut used = rust_codes(&repo().join("native/src"));
    used.extend(binding_codes());
    let stale: Vec<&&str> = HOST_CODES.iter().filter(|c| !used.contains(**c)).collect();
    assert!(stale.is_empty(), "HOST_CODES entries no host reports: {stale:?}");
}

/// The drift issue 11 names: the JS host timed out with its own code.
#[test]
fn javascript_timeout_uses_the_core_code() {
    let js = js_codes();
    assert!(js.contains("authorization_timed_out"));
    assert!(!js.contains("authorization_timeout"));
}
